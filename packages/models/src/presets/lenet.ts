/**
 * Preset `"lenet-mnist"`: a LeNet-5-style convolutional network on MNIST (two 5x5 convolutions with
 * max pooling, then three dense layers), or with `arch: "bn"` a small modern CNN (3x3
 * convolutions with batch normalisation, dropout), trained with Adam and a cosine learning-rate
 * schedule on the 50,000 / 10,000 / 10,000 split.
 * @module
 */
import {
  type FloatArray,
  GraphBuilder,
  type Init,
  Rng,
  ShapeError,
  type Tensor,
  type Value,
} from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { batchNorm, conv2d, dropout, flatten, maxPool2d } from "../cnn.js";
import { init } from "../init.js";
import { dense } from "../layers.js";
import { softmaxCrossEntropy } from "../losses.js";
import { type GradientStep, Model } from "../model.js";
import { adam, type cosineDecay } from "../optim/index.js";
import {
  batchesPerEpoch,
  checkMiniBatchHyper,
  checkOneOf,
  checkShift,
  finishValidatedRun,
  flooredCosine,
  now,
  RunLog,
  resolveHyper,
  runBase,
  standardizeMnist,
  trainWithValidation,
} from "./common.js";
import type { ClassPredictions, Preset, PresetHooks, PresetRunBase, TrainedModel } from "./types.js";

/** The architectures of {@link lenetMnist}. */
export type LenetArch = "lenet5" | "bn";

/** Every {@link LenetArch}, default first. */
export const LENET_ARCHS: readonly LenetArch[] = Object.freeze(["lenet5", "bn"]);

/** Learning-rate schedules of {@link lenetMnist}. */
export type LenetSchedule = "cosine" | "constant";

/** Every {@link LenetSchedule}, default first. */
export const LENET_SCHEDULES: readonly LenetSchedule[] = Object.freeze(["cosine", "constant"]);

/** Hyperparameters of {@link lenetMnist}. */
export interface LenetHyper {
  /**
   * `"lenet5"` (default): LeNet-5's layout with ReLU and max pooling, conv 6@5x5 ("same") - pool -
   * conv 16@5x5 - pool - dense 120 - dense 84 - dense 10; `"bn"`: three 3x3 convolutions of 8, 16
   * and 32 filters, each followed by batch norm and ReLU, the first two by max pooling, then
   * dropout 0.25 - dense 10.
   */
  arch: LenetArch;
  /** Epochs (default 10). */
  epochs: number;
  /** Mini-batch size (default 64). */
  batchSize: number;
  /** Adam's peak learning rate (default 0.002). */
  lr: number;
  /**
   * `"cosine"` (default): the learning rate falls from `lr` to 0 along half a cosine over all the
   * steps of the run, `lr·(1 + cos(π·t/T))/2` at step `t` of `T`; `"constant"`: `lr` throughout.
   */
  schedule: LenetSchedule;
  /**
   * Data augmentation: every training image of every batch is moved by a random whole number of
   * pixels from `-shift` to `shift`, down and right independently (pixels moved in are 0), as
   * LeNet-5 was trained on distorted digits; 0 trains on the images as they are (default 2).
   */
  shift: number;
  /**
   * Seed of the initial weights, of the per-epoch shuffles, of the shifts and of the dropout masks
   * (default 0).
   */
  seed: number;
}

/** Data of {@link lenetMnist}: `loadMnist({ split: "train-validation-test" })`. */
export interface LenetData {
  /** Training images (the first 50,000 of the training file), `[n, 784]` in [0, 1]. */
  readonly train: LabeledData;
  /** Validation images (the last 10,000 of the training file), evaluated after every epoch. */
  readonly validation: LabeledData;
  /** The 10,000 test images, evaluated at the end. */
  readonly test: LabeledData;
}

/** The first convolution layer of a trained {@link lenetMnist} network. */
export interface LenetFilters {
  /** Name of the layer (its weights are the param `<layer>/W`). */
  readonly layer: string;
  /** A copy of its weights, `[filters, 1, kh, kw]`. */
  readonly weights: Tensor;
}

/** What {@link lenetMnist}'s `run` returns. */
export interface LenetResult extends PresetRunBase<LenetHyper>, TrainedModel {
  /**
   * Accuracy on the training batches of the last epoch, counted while training (with dropout on
   * and batch statistics for `"bn"`), or NaN when no epoch ran.
   */
  readonly trainAccuracy: number;
  /** Validation accuracy of the final weights. */
  readonly validationAccuracy: number;
  /** Test predictions, accuracy and mean cross-entropy. */
  readonly test: ClassPredictions & { readonly accuracy: number; readonly loss: number };
  /** The learned filters of the first convolution layer. */
  readonly filters: LenetFilters;
}

const NAME = "lenet-mnist";

/** Name of the graph output holding the first convolution layer's activations, `[N, C, H, W]`. */
export const LENET_FEATURES_OUTPUT = "features";

/** Name of the first convolution layer (its weights are `conv1/W`). */
const FIRST_CONV = "conv1";

/**
 * Rows per evaluation and prediction chunk: a plan for 250 rows of LeNet-5 adds about 12 MB to
 * the process, one for 1,000 rows (`Model.evaluate`'s default) about 50 MB, and both run as fast.
 */
const EVAL_ROWS = 250;

const DEFAULTS: Readonly<LenetHyper> = Object.freeze({
  arch: "lenet5",
  epochs: 10,
  batchSize: 64,
  lr: 0.002,
  schedule: "cosine",
  shift: 2,
  seed: 0,
});

function resolve(overrides?: Partial<LenetHyper>): LenetHyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  checkOneOf(NAME, "arch", h.arch, LENET_ARCHS);
  checkOneOf(NAME, "schedule", h.schedule, LENET_SCHEDULES);
  checkMiniBatchHyper(NAME, h);
  checkShift(NAME, h.shift);
  return h;
}

/** He-normal weights `N(0, 2/fanIn)` (the layers fill in the fan), for layers followed by a ReLU. */
function he(): Init {
  return init.heNormal();
}

/**
 * The network body: standardised `[N, 1, 28, 28]` images in, logits `[N, 10]` and the first
 * convolution layer's activations out.
 */
function body(b: GraphBuilder, images: Value, arch: LenetArch): { logits: Value; features: Value } {
  if (arch === "lenet5") {
    // LeNet-5 (LeCun et al., 1998) with ReLU and max pooling: C1 6@28x28 (the 32x32 input of the
    // paper is our 28x28 with "same" padding), S2 6@14x14, C3 16@10x10, S4 16@5x5, F5 120, F6 84
    const c1 = conv2d(b, images, 6, 5, {
      name: FIRST_CONV,
      padding: "same",
      activation: "relu",
      weightInit: he(),
    });
    let h = maxPool2d(b, c1, 2, { name: "pool1" });
    h = conv2d(b, h, 16, 5, { name: "conv2", activation: "relu", weightInit: he() });
    h = maxPool2d(b, h, 2, { name: "pool2" });
    h = flatten(b, h, { name: "flatten" });
    h = dense(b, h, 120, { name: "fc1", activation: "relu", weightInit: he() });
    h = dense(b, h, 84, { name: "fc2", activation: "relu", weightInit: he() });
    return { logits: dense(b, h, 10, { name: "out" }), features: c1 };
  }
  // three conv - batch norm - relu blocks (no conv bias: batch norm's beta takes its place), the
  // first two pooled, then dropout and one dense layer
  const block = (x: Value, filters: number, i: number): Value =>
    b.relu(
      batchNorm(
        b,
        conv2d(b, x, filters, 3, { name: `conv${i}`, padding: "same", bias: false, weightInit: he() }),
        { name: `bn${i}` },
      ),
    );
  const c1 = block(images, 8, 1); // [N, 8, 28, 28]
  let h = maxPool2d(b, c1, 2, { name: "pool1" });
  h = maxPool2d(b, block(h, 16, 2), 2, { name: "pool2" }); // [N, 16, 7, 7]
  h = flatten(b, block(h, 32, 3), { name: "flatten" }); // [N, 32 * 7 * 7]
  h = dropout(b, h, 0.25, { name: "dropout" });
  return { logits: dense(b, h, 10, { name: "out" }), features: c1 };
}

/**
 * The graph: `x [N, 784]` pixels in [0, 1], reshaped to `[N, 1, 28, 28]` and standardised with
 * MNIST's mean and deviation, then the architecture's layers; outputs the softmax `predictions`,
 * the mean softmax cross-entropy `loss` and the first convolution layer's activations
 * ({@link LENET_FEATURES_OUTPUT}).
 */
function build(overrides?: Partial<LenetHyper>): Model {
  const h = resolve(overrides);
  const b = new GraphBuilder();
  const x = b.input("x", ["N", 784]);
  const y = b.input("y", ["N", 10]);
  const images = standardizeMnist(b, b.reshape(x, ["N", 1, 28, 28]));
  const { logits, features } = body(b, images, h.arch);
  b.output("predictions", b.softmax(logits));
  b.output("loss", softmaxCrossEntropy(b, logits, y));
  b.output(LENET_FEATURES_OUTPUT, features);
  return new Model(b.build(), { seed: h.seed });
}

/**
 * The first convolution layer's activations (after its ReLU; for `"bn"` after batch norm and ReLU,
 * with the running statistics) for the images `x [n, 784]`: a `[n, C, H, W]` tensor, computed in
 * evaluation mode with the model's current params.
 * @throws ShapeError when the model's graph has no {@link LENET_FEATURES_OUTPUT} output (it was not
 * built by {@link lenetMnist}).
 */
export function lenetFeatureMaps(model: Model, x: Tensor): Tensor {
  if (!Object.hasOwn(model.graph.outputs, LENET_FEATURES_OUTPUT)) {
    throw new ShapeError(
      `lenetFeatureMaps: the model's graph has no '${LENET_FEATURES_OUTPUT}' output (outputs: ${Object.keys(model.graph.outputs).join(", ")})`,
    );
  }
  // a second view of the same graph and params whose predictions are the feature maps
  const view = new Model(model.graph, {
    input: model.input,
    target: model.target,
    loss: model.loss,
    predictions: LENET_FEATURES_OUTPUT,
    params: model.params,
  });
  return view.predict(x, { batchSize: EVAL_ROWS });
}

/**
 * Writes the `height x width` image `src` into `dst` moved down by `dy` rows and right by `dx`
 * columns (negative: up, left); the pixels moved in from outside are 0. `src` and `dst` are
 * row-major and must not overlap.
 * @throws RangeError when either holds fewer than `height * width` values.
 */
export function translateImage(
  src: ArrayLike<number>,
  dst: FloatArray,
  height: number,
  width: number,
  dy: number,
  dx: number,
): void {
  const size = height * width;
  if (src.length < size || dst.length < size)
    throw new RangeError(
      `translateImage: a ${height}x${width} image needs ${size} values, got ${src.length} in and ${dst.length} out`,
    );
  for (let r = 0; r < height; r++) {
    const sr = r - dy;
    const row = r * width;
    if (sr < 0 || sr >= height) {
      dst.fill(0, row, row + width);
      continue;
    }
    for (let c = 0; c < width; c++) {
      const sc = c - dx;
      dst[row + c] = sc >= 0 && sc < width ? src[sr * width + sc]! : 0;
    }
  }
}

/**
 * The augmentation of `"lenet-mnist"` and `"vit-mnist"`: each image of a batch (`[count, 784]`
 * rows) moved by its own random shift, drawn from a generator seeded with `seed`. Undefined when
 * `maxShift` is 0.
 */
export function randomShifts(
  maxShift: number,
  seed: number,
): ((x: Tensor, count: number) => void) | undefined {
  if (maxShift === 0) return undefined;
  const rng = new Rng(seed);
  const scratch = new Float64Array(784);
  const choices = 2 * maxShift + 1;
  return (x, count) => {
    const data = x.data;
    for (let i = 0; i < count; i++) {
      const dy = rng.int(choices) - maxShift;
      const dx = rng.int(choices) - maxShift;
      if (dy === 0 && dx === 0) continue;
      const image = data.subarray(i * 784, (i + 1) * 784);
      scratch.set(image);
      translateImage(scratch, image, 28, 28, dy, dx);
    }
  };
}

/**
 * Adam with the run's learning rate: constant, or {@link cosineDecay} over the `T` steps of the run,
 * floored at `lr·1e-6` (from `lr` down to `lr·1e-6`).
 */
function scheduled(h: LenetHyper, total: number): GradientStep {
  if (h.schedule !== "cosine") return adam({ lr: h.lr });
  return adam({ lr: flooredCosine(h.lr, total) });
}

async function run(
  data: LenetData,
  overrides?: Partial<LenetHyper>,
  hooks: PresetHooks = {},
): Promise<LenetResult> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  const model = build(h);
  const n = data.train.x.shape[0] ?? 0;
  const batches = batchesPerEpoch(n, h.batchSize);
  log.line(
    `${h.arch}: ${model.parameterCount} params; ${h.epochs} epochs of ${batches} batches of ${h.batchSize}, Adam lr ${h.lr} (${h.schedule}), ${h.shift > 0 ? `random shifts of up to ${h.shift} pixels` : "no shifts"}`,
  );
  const outcome = await trainWithValidation(model, data, {
    preset: NAME,
    epochs: h.epochs,
    batchSize: h.batchSize,
    optimizer: scheduled(h, Math.max(h.epochs * batches, 1)),
    shuffleSeed: h.seed + 1,
    augment: randomShifts(h.shift, h.seed + 2),
    evalRows: EVAL_ROWS,
    log,
    hooks,
  });
  const final = finishValidatedRun(model, outcome.history, data, EVAL_ROWS, log);
  const w = model.params.get(`${FIRST_CONV}/W`);
  return {
    ...runBase(h, model, outcome, log, t0),
    ...final,
    filters: { layer: FIRST_CONV, weights: w.clone() },
  };
}

/**
 * A LeNet-5-style convolutional network on MNIST (preset `"lenet-mnist"`).
 *
 * The images `[n, 784]` are reshaped to `[n, 1, 28, 28]` in the graph and standardised with
 * MNIST's pixel mean and deviation. `arch: "lenet5"` (default) is LeNet-5's layout (LeCun et al.,
 * 1998) with ReLU and max pooling: conv 6@5x5 "same" - pool 2 - conv 16@5x5 - pool 2 - dense 120 -
 * dense 84 - dense 10 (61,706 params); `arch: "bn"` is a small modern CNN: conv 8@3x3 - batch
 * norm - ReLU - pool - conv 16@3x3 - batch norm - ReLU - pool - conv 32@3x3 - batch norm - ReLU -
 * dropout 0.25 - dense 10 (21,634 trained params). Loss: softmax cross-entropy averaged over the batch; He-normal initial weights;
 * Adam with a cosine learning-rate schedule from 0.002 to 0 over the run; batches of 64 drawn from
 * a seeded shuffle every epoch, each training image moved by a random shift of up to 2 pixels each
 * way (LeNet-5 too was trained on distorted digits; without it this network overfits: 100%
 * training accuracy, about 98.9% on validation); 10 epochs on the first 50,000 training images,
 * validation on the last 10,000 after every epoch, test on the 10,000 test images at the end. Gradients come from
 * autograd; dropout and batch normalisation train in training mode and are evaluated in
 * evaluation mode.
 */
export const lenetMnist: Preset<LenetHyper, LenetData, LenetResult> = {
  name: NAME,
  title: "LeNet-5-style CNN on MNIST (Adam, cosine schedule; or a small CNN with batch norm and dropout)",
  credit: {
    tutorial:
      'Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning Applied to Document Recognition" (1998), LeNet-5, with ReLU, max pooling and Adam',
  },
  defaults: DEFAULTS,
  parameterDocs: {
    arch: `architecture: ${LENET_ARCHS.join(" or ")} (lenet5)`,
    epochs: "epochs (10)",
    batchSize: "mini-batch size (64)",
    lr: "Adam's peak learning rate (0.002)",
    schedule: `learning-rate schedule: ${LENET_SCHEDULES.join(" or ")} (cosine: from lr to 0 over the run)`,
    shift: "random shift of each training image, up to this many pixels each way (2; 0: none)",
    seed: "seed of the initial weights, the shuffles, the shifts and the dropout masks (0)",
  },
  build,
  run,
};
