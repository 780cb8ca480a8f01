/**
 * Preset `"vit-mnist"`: a small vision transformer on MNIST. Each 28x28 image is cut into 16
 * patches of 7x7 pixels in the graph, each patch embedded linearly to the model width, a learned
 * position embedding added (and a learned class token put in front with `pool: "cls"`), a few
 * pre-norm transformer encoder blocks, a final layer norm, the tokens pooled (class token or mean)
 * and a dense softmax head; trained with AdamW and a warm-up + cosine learning-rate schedule on the
 * 50,000 / 10,000 / 10,000 split.
 * @module
 */
import { GraphBuilder, ShapeError, Tensor, type Value } from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { init, withFans } from "../init.js";
import { dense } from "../layers.js";
import { softmaxCrossEntropy } from "../losses.js";
import { type GradientStep, Model } from "../model.js";
import { adam, type cosineDecay } from "../optim/index.js";
import { layerNorm, transformerEncoderBlockLayer } from "../sequence.js";
import {
  batchesPerEpoch,
  checkInt,
  checkMiniBatchHyper,
  checkOneOf,
  checkPositive,
  checkShift,
  finishValidatedRun,
  flooredCosine,
  now,
  predictClasses,
  RunLog,
  resolveHyper,
  runBase,
  standardizeMnist,
  type TestResult,
  trainWithValidation,
} from "./common.js";
import { randomShifts } from "./lenet.js";
import type { ClassPredictions, Preset, PresetHooks, PresetRunBase, TrainedModel } from "./types.js";

/** How {@link vitMnist} pools the tokens into one vector per image. */
export type VitPool = "mean" | "cls";

/** Every {@link VitPool}, default first. */
export const VIT_POOLS: readonly VitPool[] = Object.freeze(["mean", "cls"]);

/** The MLP activations of {@link vitMnist}: GELU in its tanh form or exact (with `erf`). */
export type VitActivation = "gelu-tanh" | "gelu";

/** Every {@link VitActivation}, default first. */
export const VIT_ACTIVATIONS: readonly VitActivation[] = Object.freeze(["gelu", "gelu-tanh"]);

/** Hyperparameters of {@link vitMnist}. */
export interface VitHyper {
  /** Model width `D`: every token is a `D`-vector (default 64). */
  width: number;
  /** Attention heads per block; must divide `width` (default 4). */
  heads: number;
  /** Transformer encoder blocks (default 3). */
  depth: number;
  /** Hidden width of each block's GELU MLP (default 128). */
  mlpDim: number;
  /**
   * The MLP's activation: `"gelu"` (default), the exact `x·Φ(x)` (with `erf`) as in the ViT paper;
   * `"gelu-tanh"`: GELU's tanh approximation `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, as in
   * GPT-2 and BERT's original code. In float32 both run as WebAssembly SIMD forward; the exact
   * form's gradient does too, the tanh form's is a JavaScript loop, so a step of the exact form
   * took 5% less time (59 vs 62 ms for a batch of 128).
   */
  activation: VitActivation;
  /**
   * `"mean"` (default): the head reads the mean of the 16 patch tokens; `"cls"`: a learned class
   * token is put in front of the patches (17 tokens) and the head reads it.
   */
  pool: VitPool;
  /** Epochs (default 8). */
  epochs: number;
  /** Mini-batch size (default 128). */
  batchSize: number;
  /** AdamW's peak learning rate (default 0.002). */
  lr: number;
  /**
   * Steps of linear warm-up to `lr` (default 200), after which the rate falls to 0 along half a
   * cosine over the rest of the run.
   */
  warmupSteps: number;
  /** AdamW's decoupled weight decay, applied to every param (default 0.01; 0: plain Adam). */
  weightDecay: number;
  /**
   * Data augmentation: every training image of every batch is moved by a random whole number of
   * pixels from `-shift` to `shift`, down and right independently (default 1; 0: none).
   */
  shift: number;
  /** Seed of the initial weights, of the per-epoch shuffles and of the shifts (default 0). */
  seed: number;
}

/** Data of {@link vitMnist}: `loadMnist({ split: "train-validation-test" })`. */
export interface VitData {
  /** Training images (the first 50,000 of the training file), `[n, 784]` in [0, 1]. */
  readonly train: LabeledData;
  /** Validation images (the last 10,000 of the training file), evaluated after every epoch. */
  readonly validation: LabeledData;
  /** The 10,000 test images, evaluated at the end. */
  readonly test: LabeledData;
}

/** What {@link vitMnist}'s `run` returns. */
export interface VitResult extends PresetRunBase<VitHyper>, TrainedModel {
  /** Accuracy on the training batches of the last epoch, counted while training, or NaN when no epoch ran. */
  readonly trainAccuracy: number;
  /** Validation accuracy of the final weights. */
  readonly validationAccuracy: number;
  /**
   * Test predictions, accuracy and mean cross-entropy (of the predicted probabilities, from the
   * same single pass over the test set).
   */
  readonly test: ClassPredictions & { readonly accuracy: number; readonly loss: number };
}

/** The last block's attention for some images, from {@link vitAttention}. */
export interface VitAttention {
  /** The attention weights of the last block, `[n, heads, T, T]` (`T` = 16, or 17 with a class token first). */
  readonly weights: Tensor;
  /**
   * How much the pooled representation attends to each patch, `[n, heads, 16]` in patch order
   * (row-major over the 4x4 grid; each row sums to 1): with `pool: "cls"` the class token's
   * attention to the 16 patches renormalised to sum to 1 (without its attention to itself); with
   * `"mean"` the mean over the 16 queries of their attention to each patch.
   */
  readonly patches: Tensor;
}

const NAME = "vit-mnist";

/** Name of the graph output holding the last block's attention weights, `[N, heads, T, T]`. */
export const VIT_ATTENTION_OUTPUT = "attention";

/** Side of a patch in pixels (7x7 patches). */
export const VIT_PATCH = 7;

/** Patches per image side (28 / 7 = 4: a 4x4 grid of 16 patches). */
export const VIT_GRID = 4;

const PATCHES = VIT_GRID * VIT_GRID;

/** Rows per evaluation and prediction chunk. */
const EVAL_ROWS = 500;

const DEFAULTS: Readonly<VitHyper> = Object.freeze({
  width: 64,
  heads: 4,
  depth: 3,
  mlpDim: 128,
  activation: "gelu",
  pool: "mean",
  epochs: 8,
  batchSize: 128,
  lr: 0.002,
  warmupSteps: 200,
  weightDecay: 0.01,
  shift: 1,
  seed: 0,
});

function resolve(overrides?: Partial<VitHyper>): VitHyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  checkOneOf(NAME, "pool", h.pool, VIT_POOLS);
  checkOneOf(NAME, "activation", h.activation, VIT_ACTIVATIONS);
  checkInt(NAME, "width", h.width);
  checkInt(NAME, "heads", h.heads);
  if (h.width % h.heads !== 0)
    throw new RangeError(`preset '${NAME}': heads (${h.heads}) must divide width (${h.width})`);
  checkInt(NAME, "depth", h.depth);
  checkInt(NAME, "mlpDim", h.mlpDim);
  checkMiniBatchHyper(NAME, h);
  checkInt(NAME, "warmupSteps", h.warmupSteps, 0);
  checkPositive(NAME, "weightDecay", h.weightDecay, true);
  checkShift(NAME, h.shift);
  return h;
}

/**
 * Cuts images `x [N, 784]` (28x28, row-major) into their 16 patches of 7x7 pixels, `[N, 16, 49]`,
 * in the graph: patch `4·i + j` holds rows `7i..7i+6` and columns `7j..7j+6`, row-major. Built as
 * a reshape to `[N, 4, 7, 4, 7]` (grid row, pixel row, grid column, pixel column), a transpose
 * to `[N, 4, 4, 7, 7]` and a reshape to `[N, 16, 49]`. `N` may be symbolic.
 * @throws ShapeError when `x` is not `[N, 784]`.
 */
export function vitPatchify(b: GraphBuilder, x: Value): Value {
  if (x.rank !== 2 || x.shape[1] !== 784)
    throw new ShapeError(`vitPatchify: expects images [N, 784], got [${x.shape.join(", ")}]`);
  const N = x.shape[0]!;
  const g = VIT_GRID;
  const p = VIT_PATCH;
  const grid = b.transpose(b.reshape(x, [N, g, p, g, p]), [0, 1, 3, 2, 4]);
  return b.reshape(grid, [N, PATCHES, p * p]);
}

/**
 * The graph: `x [N, 784]` pixels in [0, 1], standardised, cut into patches, embedded, the encoder
 * blocks, a final layer norm, pooling and the head; outputs the softmax `predictions`, the mean
 * softmax cross-entropy `loss` and the last block's attention weights ({@link VIT_ATTENTION_OUTPUT}).
 */
function build(overrides?: Partial<VitHyper>): Model {
  const h = resolve(overrides);
  const D = h.width;
  const b = new GraphBuilder();
  const x = b.input("x", ["N", 784]);
  const y = b.input("y", ["N", 10]);
  const pixels = standardizeMnist(b, x);
  // linear patch embedding [N, 16, 49] -> [N, 16, D], as ViT's strided convolution
  const P2 = VIT_PATCH * VIT_PATCH;
  const We = b.param("embed/W", [P2, D], { init: withFans(init.glorotUniform(), P2, D) });
  const be = b.param("embed/b", [D], { init: init.zeros() });
  let tokens = b.add(b.matmul(vitPatchify(b, pixels), We), be);
  const std = init.normal({ std: 0.02 });
  tokens = b.add(tokens, b.param("pos/E", [PATCHES, D], { init: std }));
  if (h.pool === "cls") {
    const cls = b.broadcastTo(b.param("cls/E", [1, 1, D], { init: std }), ["N", 1, D]);
    tokens = b.concat([cls, tokens], 1);
  }
  let attention: Value | undefined;
  for (let i = 0; i < h.depth; i++) {
    const block = transformerEncoderBlockLayer(b, tokens, {
      name: `block${i + 1}`,
      heads: h.heads,
      mlpDim: h.mlpDim,
      norm: "pre",
      activation: h.activation === "gelu" ? "gelu" : (g, v) => g.geluTanh(v),
    });
    tokens = block.output;
    attention = block.attention.weights;
  }
  const normed = layerNorm(b, tokens, { name: "ln" });
  const pooled =
    h.pool === "cls" ? b.reshape(b.slice(normed, [0, 0, 0], [null, 1, null]), ["N", D]) : b.mean(normed, 1);
  const logits = dense(b, pooled, 10, { name: "head" });
  b.output("predictions", b.softmax(logits));
  b.output("loss", softmaxCrossEntropy(b, logits, y));
  b.output(VIT_ATTENTION_OUTPUT, attention!);
  return new Model(b.build(), { seed: h.seed });
}

/**
 * The last block's attention for the images `x [n, 784]` ({@link VitAttention}), computed in
 * evaluation mode with the model's current params.
 * @throws ShapeError when the model's graph has no {@link VIT_ATTENTION_OUTPUT} output of shape
 * `[N, heads, T, T]` with `T` 16 or 17 (it was not built by {@link vitMnist}).
 */
export function vitAttention(model: Model, x: Tensor): VitAttention {
  const out = model.graph.outputs[VIT_ATTENTION_OUTPUT];
  const shape = out === undefined ? undefined : model.graph.nodes[out]?.shape;
  const T = shape?.[2];
  if (shape === undefined || shape.length !== 4 || (T !== PATCHES && T !== PATCHES + 1) || shape[3] !== T) {
    throw new ShapeError(
      `vitAttention: the model's graph has no '${VIT_ATTENTION_OUTPUT}' output of shape [N, heads, 16 or 17, 16 or 17] (outputs: ${Object.keys(model.graph.outputs).join(", ")})`,
    );
  }
  const heads = shape[1] as number;
  const view = new Model(model.graph, {
    input: model.input,
    target: model.target,
    loss: model.loss,
    predictions: VIT_ATTENTION_OUTPUT,
    params: model.params,
  });
  const weights = view.predict(x, { batchSize: EVAL_ROWS });
  const n = weights.shape[0] as number;
  const w = weights.data;
  const patches = new Float32Array(n * heads * PATCHES);
  const first = T - PATCHES; // 1 when a class token comes first
  for (let i = 0; i < n * heads; i++) {
    const base = i * T * T;
    const row = patches.subarray(i * PATCHES, (i + 1) * PATCHES);
    if (first === 1) {
      // the class token's row, without its attention to itself, renormalised
      let s = 0;
      for (let j = 0; j < PATCHES; j++) s += w[base + 1 + j]!;
      for (let j = 0; j < PATCHES; j++) row[j] = w[base + 1 + j]! / s;
    } else {
      for (let q = 0; q < T; q++) for (let j = 0; j < PATCHES; j++) row[j]! += w[base + q * T + j]!;
      for (let j = 0; j < PATCHES; j++) row[j]! /= T;
    }
  }
  return { weights, patches: new Tensor([n, heads, PATCHES], patches) };
}

/**
 * The test figures from one pass over the test set: the accuracy and the mean cross-entropy come
 * from the predicted probabilities.
 */
function testOnePass(model: Model, test: LabeledData): TestResult {
  const predictions = predictClasses(model, test, EVAL_ROWS);
  return { ...predictions, accuracy: testAccuracy(predictions), loss: crossEntropy(predictions) };
}

/** The fraction of the predictions that are right. */
function testAccuracy(p: ClassPredictions): number {
  let right = 0;
  for (let i = 0; i < p.actual.length; i++) if (p.predicted[i] === p.actual[i]) right++;
  return p.actual.length ? right / p.actual.length : Number.NaN;
}

/** The mean of `-log(p[true class])` over the predictions (probabilities floored at 1e-30). */
function crossEntropy(p: ClassPredictions): number {
  const n = p.actual.length;
  const out = p.outputs.data;
  let s = 0;
  for (let i = 0; i < n; i++) s -= Math.log(Math.max(out[i * 10 + p.actual[i]!]!, 1e-30));
  return n ? s / n : Number.NaN;
}

/** AdamW with linear warm-up then {@link cosineDecay} to `lr·1e-6` over the `total` steps of the run. */
function optimizer(h: VitHyper, total: number): GradientStep {
  return adam({
    lr: flooredCosine(h.lr, total, Math.min(h.warmupSteps, total - 1)),
    ...(h.weightDecay > 0 ? { weightDecay: h.weightDecay, decoupledWeightDecay: true } : {}),
  });
}

async function run(
  data: VitData,
  overrides?: Partial<VitHyper>,
  hooks: PresetHooks = {},
): Promise<VitResult> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  const model = build(h);
  const n = data.train.x.shape[0] ?? 0;
  const batches = batchesPerEpoch(n, h.batchSize);
  log.line(
    `ViT: ${PATCHES} patches of ${VIT_PATCH}x${VIT_PATCH}, width ${h.width}, ${h.depth} blocks of ${h.heads} heads, MLP ${h.mlpDim} (${h.activation}), ${h.pool} pooling; ${model.parameterCount} params; ${h.epochs} epochs of ${batches} batches of ${h.batchSize}, AdamW lr ${h.lr} (warm-up ${h.warmupSteps} steps, cosine), weight decay ${h.weightDecay}, ${h.shift > 0 ? `random shifts of up to ${h.shift} pixel${h.shift === 1 ? "" : "s"}` : "no shifts"}`,
  );
  const outcome = await trainWithValidation(model, data, {
    preset: NAME,
    epochs: h.epochs,
    batchSize: h.batchSize,
    optimizer: optimizer(h, Math.max(h.epochs * batches, 2)),
    shuffleSeed: h.seed + 1,
    augment: randomShifts(h.shift, h.seed + 2),
    evalRows: EVAL_ROWS,
    log,
    hooks,
  });
  const final = finishValidatedRun(model, outcome.history, data, EVAL_ROWS, log, testOnePass);
  return { ...runBase(h, model, outcome, log, t0), ...final };
}

/**
 * A small vision transformer on MNIST (preset `"vit-mnist"`; Dosovitskiy et al., 2020).
 *
 * The images `[n, 784]` are standardised with MNIST's pixel mean and deviation and cut into 16
 * patches of 7x7 pixels in the graph (reshape `[n, 4, 7, 4, 7]`, transpose to `[n, 4, 4, 7, 7]`,
 * reshape `[n, 16, 49]`); each patch is embedded by one dense layer `49 -> width` and a learned
 * position embedding `[16, width]` (N(0, 0.02)) is added; with `pool: "cls"` a learned class token
 * is put in front. Then `depth` pre-norm transformer encoder blocks (multi-head self-attention and
 * a GELU MLP `width -> mlpDim -> width`, each with a residual connection), a final layer norm,
 * mean pooling over the tokens (or the class token), and a dense layer to the 10 classes. Loss:
 * softmax cross-entropy averaged over the batch; AdamW with a linear warm-up and a cosine decay to
 * 0 over the run; batches drawn from a seeded shuffle every epoch, each training image moved by a
 * random shift of up to `shift` pixels each way; 50,000 training images, validation on the last
 * 10,000 of the training file after every epoch, test on the 10,000 test images at the end.
 */
export const vitMnist: Preset<VitHyper, VitData, VitResult> = {
  name: NAME,
  title: "Vision transformer on MNIST (7x7 patches, pre-norm encoder blocks, AdamW, warm-up + cosine)",
  credit: {
    tutorial:
      'A. Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale" (2020), scaled down to 7x7 patches of MNIST',
  },
  defaults: DEFAULTS,
  parameterDocs: {
    width: "model width: the size of every token vector (64)",
    heads: "attention heads per block, dividing width (4)",
    depth: "transformer encoder blocks (3)",
    mlpDim: "hidden width of each block's GELU MLP (128)",
    activation: `the MLP's activation: ${VIT_ACTIVATIONS.join(" or ")} (gelu: exact, with erf; gelu-tanh: the tanh approximation)`,
    pool: `pooling into the head: ${VIT_POOLS.join(" or ")} (mean of the patch tokens)`,
    epochs: "epochs (8)",
    batchSize: "mini-batch size (128)",
    lr: "AdamW's peak learning rate (0.002)",
    warmupSteps: "steps of linear warm-up before the cosine decay (200)",
    weightDecay: "AdamW's decoupled weight decay (0.01; 0: Adam)",
    shift: "random shift of each training image, up to this many pixels each way (1; 0: none)",
    seed: "seed of the initial weights, the shuffles and the shifts (0)",
  },
  build,
  run,
};
