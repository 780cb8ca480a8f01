/**
 * Preset `"rnn-mnist"`: a recurrent network (GRU by default, or LSTM) that reads each MNIST image
 * as a sequence of 28 rows of 28 pixels and classifies it from its last hidden state, trained with
 * Adam, a cosine learning-rate schedule and gradient clipping by global norm on the
 * 50,000 / 10,000 / 10,000 split.
 * @module
 */
import { GraphBuilder, ShapeError, type Tensor, type Value } from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { dense } from "../layers.js";
import { softmaxCrossEntropy } from "../losses.js";
import { type GradientStep, Model } from "../model.js";
import { adam, type cosineDecay } from "../optim/index.js";
import { gru, lstm } from "../recurrent.js";
import {
  batchesPerEpoch,
  checkInt,
  checkMiniBatchHyper,
  checkOneOf,
  checkPositive,
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

/** The recurrent cells of {@link rnnMnist}. */
export type RnnCell = "gru" | "lstm";

/** Every {@link RnnCell}, default first. */
export const RNN_CELLS: readonly RnnCell[] = Object.freeze(["gru", "lstm"]);

/** Learning-rate schedules of {@link rnnMnist}. */
export type RnnSchedule = "cosine" | "constant";

/** Every {@link RnnSchedule}, default first. */
export const RNN_SCHEDULES: readonly RnnSchedule[] = Object.freeze(["cosine", "constant"]);

/** Rows of an MNIST image: the sequence length. */
const ROWS = 28;
/** Pixels per row: the features of one step. */
const COLS = 28;
/** Classes. */
const CLASSES = 10;

/** Hyperparameters of {@link rnnMnist}. */
export interface RnnHyper {
  /** The recurrent cell: `"gru"` (default) or `"lstm"`. */
  cell: RnnCell;
  /** Units of the recurrent layer (its hidden state size; default 128). */
  hidden: number;
  /** Epochs (default 3). */
  epochs: number;
  /** Mini-batch size (default 128). */
  batchSize: number;
  /** Adam's peak learning rate (default 0.003). */
  lr: number;
  /**
   * `"cosine"` (default): the learning rate falls from `lr` to 0 along half a cosine over all the
   * steps of the run, `lr·(1 + cos(π·t/T))/2` at step `t` of `T`; `"constant"`: `lr` throughout.
   */
  schedule: RnnSchedule;
  /**
   * Clip the gradients by global norm: when the L2 norm of all the step's gradients exceeds this,
   * scale them down to it (default 1; 0: no clipping).
   */
  clipNorm: number;
  /** Seed of the initial weights and of the per-epoch shuffles (default 0). */
  seed: number;
}

/** Data of {@link rnnMnist}: `loadMnist({ split: "train-validation-test" })`. */
export interface RnnData {
  /** Training images (the first 50,000 of the training file), `[n, 784]` in [0, 1]. */
  readonly train: LabeledData;
  /** Validation images (the last 10,000 of the training file), evaluated after every epoch. */
  readonly validation: LabeledData;
  /** The 10,000 test images, evaluated at the end. */
  readonly test: LabeledData;
}

/** What {@link rnnMnist}'s `run` returns. */
export interface RnnResult extends PresetRunBase<RnnHyper>, TrainedModel {
  /** Accuracy on the training batches of the last epoch, counted while training, or NaN when no epoch ran. */
  readonly trainAccuracy: number;
  /** Validation accuracy of the final weights. */
  readonly validationAccuracy: number;
  /** Test predictions, accuracy and mean cross-entropy. */
  readonly test: ClassPredictions & { readonly accuracy: number; readonly loss: number };
}

const NAME = "rnn-mnist";

/** Name of the recurrent layer (its params are `rnn/Wx`, `rnn/Wh`, `rnn/b`). */
const LAYER = "rnn";

/** Name of the dense output layer (its params are `out/W [units, 10]` and `out/b [10]`). */
const HEAD = "out";

/** Rows per evaluation and prediction chunk. */
const EVAL_ROWS = 500;

const DEFAULTS: Readonly<RnnHyper> = Object.freeze({
  cell: "gru",
  hidden: 128,
  epochs: 3,
  batchSize: 128,
  lr: 0.003,
  schedule: "cosine",
  clipNorm: 1,
  seed: 0,
});

function resolve(overrides?: Partial<RnnHyper>): RnnHyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  checkOneOf(NAME, "cell", h.cell, RNN_CELLS);
  checkOneOf(NAME, "schedule", h.schedule, RNN_SCHEDULES);
  checkInt(NAME, "hidden", h.hidden);
  checkMiniBatchHyper(NAME, h);
  checkPositive(NAME, "clipNorm", h.clipNorm, true);
  return h;
}

/** The images `x [N, 784]` standardised and reshaped to `[N, 28, 28]`: 28 steps of one row each. */
function rowSequence(b: GraphBuilder, x: Value): Value {
  return b.reshape(standardizeMnist(b, x), ["N", ROWS, COLS]);
}

/**
 * The graph: `x [N, 784]` pixels in [0, 1], standardised with MNIST's mean and deviation and
 * reshaped to `[N, 28, 28]` (28 steps of one row of 28 pixels), a GRU or LSTM layer unrolled over
 * the rows from a zero state, and a dense layer from its last hidden state to the 10 logits;
 * outputs the softmax `predictions` and the mean softmax cross-entropy `loss`.
 */
function build(overrides?: Partial<RnnHyper>): Model {
  const h = resolve(overrides);
  const b = new GraphBuilder();
  const x = b.input("x", ["N", ROWS * COLS]);
  const y = b.input("y", ["N", CLASSES]);
  const last = (h.cell === "gru" ? gru : lstm)(b, rowSequence(b, x), h.hidden, { name: LAYER });
  const logits = dense(b, last, CLASSES, { name: HEAD });
  b.output("predictions", b.softmax(logits));
  b.output("loss", softmaxCrossEntropy(b, logits, y));
  return new Model(b.build(), { seed: h.seed });
}

/**
 * What a trained {@link rnnMnist} network would answer after reading only the first rows of each
 * image: for the images `x [n, 784]`, a `[n, 28, 10]` tensor whose `[i, t, :]` is the softmax of the
 * output layer applied to the hidden state after row `t + 1` (so `[i, 27, :]` is the network's
 * prediction). Computed in evaluation mode with the model's current params, by a second graph that
 * keeps every hidden state (the cell and the units are read from the params).
 * @throws ShapeError when the model's params are not those of an {@link rnnMnist} network.
 */
export function rnnRowProbabilities(model: Model, x: Tensor): Tensor {
  const params = model.params;
  const fail = (what: string) =>
    new ShapeError(`rnnRowProbabilities: the model is not an rnn-mnist network (${what})`);
  for (const p of [`${LAYER}/Wx`, `${LAYER}/Wh`, `${LAYER}/b`, `${HEAD}/W`, `${HEAD}/b`])
    if (!params.has(p)) throw fail(`it has no param '${p}'`);
  const [units, width] = params.get(`${LAYER}/Wh`).shape as [number, number];
  const cell: RnnCell | null = width === 3 * units ? "gru" : width === 4 * units ? "lstm" : null;
  if (cell === null) throw fail(`'${LAYER}/Wh' is [${units}, ${width}], neither a GRU's nor an LSTM's`);
  const b = new GraphBuilder();
  const x0 = b.input("x", ["N", ROWS * COLS]);
  const y = b.input("y", ["N", CLASSES]);
  const states = (cell === "gru" ? gru : lstm)(b, rowSequence(b, x0), units, {
    name: LAYER,
    returnSequences: true,
  });
  const w = b.param(`${HEAD}/W`, [units, CLASSES]);
  const bias = b.param(`${HEAD}/b`, [CLASSES]);
  const probabilities: Value[] = [];
  let logits: Value | null = null;
  for (let t = 0; t < ROWS; t++) {
    const state = b.reshape(b.slice(states, [0, t, 0], [null, t + 1, null]), ["N", units]);
    logits = b.add(b.matmul(state, w), bias);
    probabilities.push(b.reshape(b.softmax(logits), ["N", 1, CLASSES]));
  }
  b.output("predictions", b.concat(probabilities, 1));
  b.output("loss", softmaxCrossEntropy(b, logits!, y));
  return new Model(b.build(), { params }).predict(x, { batchSize: EVAL_ROWS });
}

/**
 * Adam with the run's learning rate (constant, or {@link cosineDecay} over the `total` steps of the
 * run floored at `lr·1e-6`) and, when `clipNorm > 0`, gradient clipping by global norm.
 */
function optimizer(h: RnnHyper, total: number): GradientStep {
  const clip = h.clipNorm > 0 ? { clipNorm: h.clipNorm } : {};
  if (h.schedule !== "cosine") return adam({ lr: h.lr, ...clip });
  return adam({ lr: flooredCosine(h.lr, total), ...clip });
}

async function run(
  data: RnnData,
  overrides?: Partial<RnnHyper>,
  hooks: PresetHooks = {},
): Promise<RnnResult> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  const model = build(h);
  const n = data.train.x.shape[0] ?? 0;
  const batches = batchesPerEpoch(n, h.batchSize);
  log.line(
    `${h.cell} ${h.hidden} over ${ROWS} rows of ${COLS} pixels: ${model.parameterCount} params; ${h.epochs} epochs of ${batches} batches of ${h.batchSize}, Adam lr ${h.lr} (${h.schedule}), ${h.clipNorm > 0 ? `gradients clipped to norm ${h.clipNorm}` : "no clipping"}`,
  );
  const outcome = await trainWithValidation(model, data, {
    preset: NAME,
    epochs: h.epochs,
    batchSize: h.batchSize,
    optimizer: optimizer(h, Math.max(h.epochs * batches, 1)),
    shuffleSeed: h.seed + 1,
    evalRows: EVAL_ROWS,
    log,
    hooks,
  });
  const final = finishValidatedRun(model, outcome.history, data, EVAL_ROWS, log);
  return { ...runBase(h, model, outcome, log, t0), ...final };
}

/**
 * A recurrent network reading MNIST row by row (preset `"rnn-mnist"`).
 *
 * The images `[n, 784]` are standardised with MNIST's pixel mean and deviation and reshaped in the
 * graph to `[n, 28, 28]`: a sequence of 28 steps, one row of 28 pixels each. A GRU (default; or an
 * LSTM with `cell: "lstm"`) of 128 units unrolled over the 28 rows from a zero state (see
 * {@link gru} and {@link lstm}), then a dense layer from the last hidden state to the 10 logits.
 * Loss: softmax cross-entropy averaged over the batch; Glorot-uniform weights, zero biases; Adam
 * with a cosine learning-rate schedule from 0.003 to 0 over the run and gradients clipped to global
 * norm 1; batches of 128 drawn from a seeded shuffle every epoch; 3 epochs on the first 50,000
 * training images, validation on the last 10,000 after every epoch, test on the 10,000 test images
 * at the end.
 */
export const rnnMnist: Preset<RnnHyper, RnnData, RnnResult> = {
  name: NAME,
  title: "GRU (or LSTM) reading MNIST as 28 rows of 28 pixels (Adam, cosine schedule, clipping)",
  credit: {
    tutorial:
      "Row-by-row MNIST, the recurrent-network tutorials' classic: a GRU (Cho et al., 2014) or an LSTM (Hochreiter & Schmidhuber, 1997) reading 28 rows of 28 pixels, trained with Adam and gradient clipping",
  },
  defaults: DEFAULTS,
  parameterDocs: {
    cell: `recurrent cell: ${RNN_CELLS.join(" or ")} (gru)`,
    hidden: "units of the recurrent layer (128)",
    epochs: "epochs (3)",
    batchSize: "mini-batch size (128)",
    lr: "Adam's peak learning rate (0.003)",
    schedule: `learning-rate schedule: ${RNN_SCHEDULES.join(" or ")} (cosine: from lr to 0 over the run)`,
    clipNorm: "clip the gradients to this global norm (1; 0: no clipping)",
    seed: "seed of the initial weights and the shuffles (0)",
  },
  build,
  run,
};
