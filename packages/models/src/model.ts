/**
 * {@link Model}: a graph with a predictions output and a scalar loss output, its parameters, and
 * the compiled plans that run it. The training graph (loss plus `grad:<param>` outputs) is made once
 * by autograd; plans are compiled lazily per batch size and then reused, so a training step fills
 * the plan's input buffers in place, runs it and lets the optimizer update the params in place.
 * Evaluation and prediction run in chunks of {@link DEFAULT_CHUNK_ROWS} rows by default, and keep
 * their plans in a small bounded cache ({@link PLAN_CACHE_SIZE}), so their memory stays bounded.
 *
 * Data given to a model is always sample-major (`x [n, ...features]`, one row per sample, as the
 * datasets package returns it), whatever the graph's convention: for a column-convention graph
 * (`x [features, N]`) the rows are transposed while they are copied into the plan.
 *
 * Training and evaluation modes (see `./modes.ts`). When the graph has the scalar input
 * `"mode:training"` ({@link TRAINING_INPUT}), the training graph is made from the graph with that
 * input fixed to 1 and the evaluation and prediction graphs from the graph with it fixed to 0
 * (core's `specializeInputs`), so batch normalisation uses batch statistics only while training and
 * dropout is off in evaluation, and neither compiled graph computes the other mode's branch. When
 * the graph has `"mode:key"` ({@link KEY_INPUT}), every training run is fed a new random key
 * (see {@link Model.trainingSteps}); evaluation feeds 0. Outputs `update:<param>`
 * ({@link stateUpdate}) hold new values of state params (batch normalisation's running
 * statistics), copied into {@link Model.params} after every training step by
 * {@link Model.runTrainingStep}; state params are not trained by the optimizer.
 * @module
 */
import { grad, gradName } from "@gradgraph/autograd";
import {
  type CompiledGraph,
  type ConcreteShape,
  compile,
  type DType,
  type FloatArray,
  type Graph,
  GraphBuilder,
  GraphError,
  type GraphNode,
  type NodeId,
  ParamStore,
  type Plan,
  type Shape,
  ShapeError,
  shapesEqual,
  shapeToString,
  specializeInputs,
  Tensor,
  Value,
} from "@gradgraph/core";
import {
  argmaxStrided,
  type Features,
  gatherLabels,
  gatherRows,
  isSingleTargets,
  isTensor,
  type TargetData,
  type Targets,
  targetCount,
} from "./gather.js";
import type { Convention } from "./layers.js";
import type { Reduction } from "./losses.js";
import { KEY_INPUT, TRAINING_INPUT, UPDATE_PREFIX } from "./modes.js";

/**
 * What a training step needs from an optimizer: an in-place update of `params` from `grads` keyed by
 * param name. Every optimizer of this package (`sgd`, `momentum`, `adam`) fits.
 */
export interface GradientStep {
  /** Updates `params` in place. */
  step(params: ParamStore, grads: Record<string, Tensor>): void;
}

/** Options of the {@link Model} constructor. */
export interface ModelOptions {
  /**
   * Name of the feature input (default `"x"`), or the names of several feature inputs: data is then
   * given as tensors keyed by input name (see {@link Features}); the first is {@link Model.input}.
   */
  input?: string | readonly string[];
  /**
   * Name of the target input (default `"y"`), or the names of several target inputs (targets keyed
   * by name, see {@link TargetData}); the first is {@link Model.target}. With several targets the
   * graph combines their losses into its one scalar loss output (e.g. a weighted sum, as Keras'
   * `loss_weights`).
   */
  target?: string | readonly string[];
  /**
   * Name of the predictions output (default `"predictions"`), or the names of several prediction
   * outputs (see {@link Model.predictOutputs}); the first is {@link Model.predictions}, the one
   * {@link Model.predict} returns and metrics such as `"accuracy"` compare with the first target.
   */
  predictions?: string | readonly string[];
  /** Name of the scalar loss output (default `"loss"`). */
  loss?: string;
  /** Parameter values (default: drawn from the graph's initialisers with `seed`). Used in place. */
  params?: ParamStore;
  /**
   * Seed of the parameter initialisation when `params` is not given, and of the random keys fed
   * to the graph's `"mode:key"` input while training (default 0; see {@link Model.trainingSteps}).
   */
  seed?: number;
  /**
   * Names of the params to train (default: every param of the graph except the state params, those
   * with an `update:<param>` output; naming one of those is an error).
   */
  trainable?: readonly string[];
  /** Data convention of the graph (default: detected from where the input's symbolic batch dim is). */
  convention?: Convention;
  /**
   * How the loss output reduces over the batch (default `"mean"`). Used only to combine the losses of
   * several chunks (evaluation with a `batchSize`, per-epoch training loss): chunk losses are averaged
   * weighted by chunk size for `"mean"` and added for `"sum"`.
   */
  lossReduction?: Reduction;
  /** Compile plans with NaN/Inf checks after every step (slow; for debugging). */
  checkNumerics?: boolean;
}

/** What the function given to {@link Model.define} returns. */
export interface ModelParts {
  /** The feature input (its name becomes the model's `input`), or several (see {@link ModelOptions.input}). */
  input: Value | readonly Value[];
  /** The target input, or several (see {@link ModelOptions.target}). */
  target: Value | readonly Value[];
  /**
   * The predictions (output `"predictions"`), or several prediction outputs keyed by output name,
   * the first being the model's {@link Model.predictions}.
   */
  predictions: Value | Readonly<Record<string, Value>>;
  /** The scalar loss. */
  loss: Value;
}

/** Options of {@link Model.define}: model options plus the builder's dtype. */
export interface DefineOptions extends Omit<ModelOptions, "input" | "target" | "predictions" | "loss"> {
  /** Element type of the graph (default float32). */
  dtype?: DType;
}

/** A compiled training plan for one batch size, with direct handles on its buffers. */
export interface TrainingPlan {
  /** Rows per batch this plan runs. */
  readonly batchSize: number;
  /** The plan itself. */
  readonly plan: Plan;
  /** The plan's (first) feature input buffer (fill in place, in the graph's convention). */
  readonly x: Tensor;
  /** The plan's (first) target input buffer. */
  readonly y: Tensor;
  /** Every feature input buffer by input name (see {@link Model.inputs}). */
  readonly xs: Readonly<Record<string, Tensor>>;
  /** Every target input buffer by name (see {@link Model.targets}). */
  readonly ys: Readonly<Record<string, Tensor>>;
  /** The loss output (a scalar, overwritten by each run). */
  readonly loss: Tensor;
  /** The (first) predictions output (overwritten by each run). */
  readonly predictions: Tensor;
  /** Every prediction output by name (see {@link Model.outputs}). */
  readonly outputs: Readonly<Record<string, Tensor>>;
  /** Gradient outputs keyed by param name (the same tensors every run). */
  readonly grads: Record<string, Tensor>;
  /**
   * The `update:<param>` outputs keyed by state param name (see {@link Model.stateParams}): the
   * params' new values after a run, which {@link Model.runTrainingStep} copies into the params.
   */
  readonly updates: Record<string, Tensor>;
  /** The plan's `"mode:key"` input (set by {@link Model.runTrainingStep}), or null when the graph has none. */
  readonly key: Tensor | null;
}

/**
 * What {@link Model.runTrainingStep} calls during a step. `beforeUpdate` sees the run's outputs
 * (`tp.loss`, `tp.predictions`, `tp.grads`) before anything changes, e.g. to refuse a non-finite
 * loss or to save a checkpoint; when it returns false nothing is updated. (An object with a
 * method rather than a bare function, and the loss read from `tp.loss` rather than passed as a
 * number: that is what kept the per-sample `fit` loop free of allocations in V8.)
 */
export interface TrainingStepHooks {
  /** Called after the run, before the update; false skips the update. */
  beforeUpdate(tp: TrainingPlan): boolean;
}

/** A compiled inference plan for one batch size. */
export interface ForwardPlan {
  /** Rows per batch. */
  readonly batchSize: number;
  /** The plan. */
  readonly plan: Plan;
  /** (First) feature input buffer. */
  readonly x: Tensor;
  /** (First) target input buffer (null for predictions-only plans). */
  readonly y: Tensor | null;
  /** Every feature input buffer by input name. */
  readonly xs: Readonly<Record<string, Tensor>>;
  /** Every target input buffer by name (empty for predictions-only plans). */
  readonly ys: Readonly<Record<string, Tensor>>;
  /** Loss output (null for predictions-only plans). */
  readonly loss: Tensor | null;
  /** (First) predictions output. */
  readonly predictions: Tensor;
  /** Every prediction output by name. */
  readonly outputs: Readonly<Record<string, Tensor>>;
}

/**
 * A metric computed on whole-set predictions (sample-major `[n, ...]`) against the targets (a target
 * tensor or class labels).
 */
export interface Metric {
  /** Key of the metric in result logs. */
  readonly name: string;
  /** Computes the metric. */
  compute(predictions: Tensor, targets: Targets): number;
}

/**
 * A metric by name or definition. `"accuracy"` compares the argmax of each prediction row with the
 * argmax of the one-hot target row or with the label (single-output models: both thresholded at 0.5).
 */
export type MetricLike = "accuracy" | Metric;

/**
 * Rows per chunk of {@link Model.evaluate} and {@link Model.predict} when no `batchSize` is given
 * and chunks give the one-plan results (see {@link EvaluateOptions.batchSize}). Evaluating in
 * chunks bounds the memory of the plans (a plan holds a copy of its input rows: all 50,000 MNIST
 * training rows at once took a 157 MB input buffer), and is no slower: on MNIST-sized nets chunks
 * of 500-1,000 rows ran up to 20% faster than one plan for all 50,000 rows, whose buffers do not
 * stay in cache.
 */
export const DEFAULT_CHUNK_ROWS = 1000;

/**
 * Evaluation and prediction plans a model keeps (each kind apart): at most this many, least
 * recently used dropped first (see {@link PLAN_CACHE_ROWS}).
 */
export const PLAN_CACHE_SIZE = 4;

/**
 * Rows the cached evaluation (or prediction) plans of a model may hold together. Beyond it the
 * least recently used plans are dropped, except the two most recent (a chunk size and the last,
 * smaller chunk of the same call). A dropped plan is disposed: its WebAssembly buffers go back to
 * the arena, to be reused by the next plans.
 */
export const PLAN_CACHE_ROWS = 8 * DEFAULT_CHUNK_ROWS;

/** Options of {@link Model.evaluate}. */
export interface EvaluateOptions {
  /**
   * Rows per chunk: each chunk runs through a plan compiled (and cached) for that many rows; the
   * loss and metrics are combined over the chunks as {@link ModelOptions.lossReduction} says.
   *
   * Default: {@link DEFAULT_CHUNK_ROWS} (1,000) rows, so the memory a plan takes stays bounded
   * whatever the data size, whenever the graph shows that chunks give the one-plan results: the
   * predictions treat every sample on its own, and the loss is a sum or mean over the samples
   * (matching `lossReduction`; a penalty on the params may be added to a mean). The predictions
   * and accuracy are then the same bits, the loss the same up to the order of the additions.
   * Otherwise (e.g. a penalty added to a summed loss, which would count once per chunk) the default
   * is all rows in one plan. An explicit `batchSize` is always used as given.
   */
  batchSize?: number;
  /** Metrics to compute besides the loss. */
  metrics?: readonly MetricLike[];
}

/** Options of {@link Model.predict}. */
export interface PredictOptions {
  /**
   * Rows per chunk, as {@link EvaluateOptions.batchSize}: default {@link DEFAULT_CHUNK_ROWS}
   * (1,000), so the memory taken by the plan is bounded whatever the data size, unless the
   * predictions of a sample depend on the other samples run with it (then all rows at once).
   */
  batchSize?: number;
}

/** Loss and metrics by name (`loss` always present). */
export type EvaluateResult = { loss: number } & Record<string, number>;

/**
 * The full-batch loss as a function of one flat parameter vector, for batch optimizers such as
 * `minimize` (L-BFGS, conjugate gradient). The vector holds the trainable params in
 * {@link Model.trainable} order, each row-major.
 *
 * With training-mode layers (see {@link Model.lossAndGrad}): every call of `fun` runs the training
 * graph with one random key, fixed when the object was made, so the function is deterministic, as
 * line searches need; and it copies the state updates (running statistics) into the params, as
 * PyTorch's L-BFGS closure does (the training-mode loss does not read them).
 */
export interface LossAndGrad {
  /** Number of scalars in the flat vector. */
  readonly size: number;
  /** Sets the params from `theta`, writes the gradient into `grad` and returns the loss. */
  readonly fun: (theta: Float64Array, grad: Float64Array) => number;
  /** The current params as a flat vector (into `out` when given). */
  getParams(out?: Float64Array): Float64Array;
  /** Copies a flat vector into the params (in place). */
  setParams(theta: Float64Array): void;
}

interface IoInfo {
  /** declared shape */
  shape: Shape;
  /** per-sample element count */
  size: number;
  /** per-sample shape (sample-major) */
  sample: number[];
}

function perSample(name: string, shape: Shape, convention: Convention): IoInfo {
  const rest = convention === "row" ? shape.slice(1) : shape.slice(0, -1);
  if (shape.length < 1 || (convention === "column" && shape.length !== 2)) {
    throw new ShapeError(
      `model: '${name}' has shape ${shapeToString(shape)}, which does not fit the ${convention} convention`,
    );
  }
  for (const d of rest) {
    if (typeof d !== "number") {
      throw new ShapeError(
        `model: '${name}' has shape ${shapeToString(shape)}; only the batch dimension may be symbolic`,
      );
    }
  }
  const sample = rest as number[];
  return { shape, size: sample.reduce((p, d) => p * d, 1), sample };
}

function detectConvention(shape: Shape): Convention {
  if (shape.length === 2 && typeof shape[0] === "number" && typeof shape[1] === "string") return "column";
  return "row";
}

/**
 * Counts correct class predictions in one batch. `pred` holds `count` predictions of `P` values,
 * `target` `count` targets of `T` values (one-hot when `T === P > 1`, a class index when `T === 1`),
 * both in the given convention.
 */
export function countCorrect(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  count: number,
  P: number,
  T: number,
  column: boolean,
): number {
  let correct = 0;
  for (let i = 0; i < count; i++) {
    const po = column ? i : i * P;
    const to = column ? i : i * T;
    const ps = column ? count : 1;
    let p: number;
    let t: number;
    if (P === 1) {
      p = pred[po]! > 0.5 ? 1 : 0;
      t = T === 1 ? (target[to]! > 0.5 ? 1 : 0) : argmaxStrided(target, to, T, ps);
    } else {
      p = argmaxStrided(pred, po, P, ps);
      t = T === 1 ? target[to]! : argmaxStrided(target, to, T, ps);
    }
    if (p === t) correct++;
  }
  return correct;
}

/** Ops that act on each element (or broadcast pair of elements) alone. */
const PER_ELEMENT = new Set<string>(
  (
    "neg exp log tanh sigmoid relu square sqrt abs sign add sub mul div pow maximum minimum " +
    "greater greaterEqual less lessEqual equal where stopGradient broadcastTo"
  ).split(" "),
);

/**
 * Ops that never mix samples as long as their output keeps the batch dim as one axis of its own:
 * the shape rules of core make a slice, pad or concat leave a symbolic axis whole, a reduction
 * that reduced the batch axis would drop it, and a matmul contracting it (or making a samples ×
 * samples matrix) would not have it exactly once.
 */
const AXIS_KEEPING = new Set<string>(
  "input fill constant matmul transpose slice pad concat sum mean max logSumExp".split(" "),
);

/**
 * NCHW image ops (convolutions, pooling) that treat every sample on its own when the batch dim is
 * the first axis of their output (their image input's batch axis); their weights have concrete
 * shapes, and weights computed from the batch would fail the cone check (a reduction over the
 * batch has no batch axis).
 */
const IMAGE_OPS = new Set<string>("conv2d conv2dTranspose maxPool2d avgPool2d".split(" "));

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** The axis of `shape` that is `batchDim`, or -1 when there is none or another symbolic dim. */
function batchAxisOf(shape: Shape, batchDim: string): number {
  let axis = -1;
  for (let d = 0; d < shape.length; d++) {
    const v = shape[d]!;
    if (typeof v !== "string") continue;
    if (v !== batchDim || axis >= 0) return -1;
    axis = d;
  }
  return axis;
}

/**
 * Whether running the graph on chunks of rows gives what one plan for all rows gives: the
 * predictions, and (with `loss`) the loss once the chunk losses are combined as `reduction` says.
 *
 * It is proved on the graph, conservatively: every value that depends on the batch (its shape
 * has a symbolic dim, or it is computed from one that does) must be per sample (the batch dim once,
 * made by an op that does not mix samples), and the loss must be a sum (or mean, as `reduction`
 * says) over the samples of per-sample values, scaled by batch-free values. A penalty on the params
 * added to a mean loss is fine (it is the same in every chunk); added to a summed loss, or a loss
 * divided by the batch size computed in the graph (Ng's `1/m` from `sum(fill(1, [m]))`), it is not.
 */
function chunksExact(
  graph: Graph,
  batchDim: string,
  roots: readonly NodeId[],
  loss: NodeId | null,
  reduction: Reduction,
): boolean {
  const nodes = graph.nodes;
  // batch-dependent: a symbolic dim in the shape, or an input that is (nodes are in topological order)
  const dep = new Uint8Array(nodes.length);
  for (const n of nodes) {
    let d = n.shape.some((v) => typeof v === "string");
    for (const i of n.inputs) if (dep[i]) d = true;
    if (d) dep[n.id] = 1;
  }
  const seen = new Uint8Array(nodes.length);
  /** Every batch-dependent node of the cone of `from` is per sample. */
  const perSampleCone = (from: NodeId): boolean => {
    const stack = [from];
    while (stack.length) {
      const id = stack.pop()!;
      if (seen[id] || !dep[id]) continue;
      seen[id] = 1;
      if (!perSampleNode(nodes[id]!)) return false;
      stack.push(...nodes[id]!.inputs);
    }
    return true;
  };
  const perSampleNode = (n: GraphNode): boolean => {
    const axis = batchAxisOf(n.shape, batchDim);
    if (axis < 0) return false;
    if (PER_ELEMENT.has(n.op) || AXIS_KEEPING.has(n.op)) return true;
    if (IMAGE_OPS.has(n.op)) return axis === 0 && batchAxisOf(nodes[n.inputs[0]!]!.shape, batchDim) === 0;
    if (n.op === "softmax" || n.op === "logSoftmax") {
      return normAxis((n.attrs as { axis: number }).axis, n.shape.length) !== axis;
    }
    if (n.op === "reshape") {
      // row-major: samples stay contiguous blocks when only size-1 dims come before the batch dim
      const before = (s: Shape, a: number) => s.slice(0, a).every((d) => d === 1);
      const x = nodes[n.inputs[0]!]!.shape;
      const xa = batchAxisOf(x, batchDim);
      return xa >= 0 && before(x, xa) && before(n.shape, axis);
    }
    return false;
  };
  for (const r of roots) if (dep[r] && !perSampleCone(r)) return false;
  if (loss === null) return true;
  type Kind = "sum" | "mean" | "free" | null;
  const kindOf = (id: NodeId): Kind => {
    if (!dep[id]) return "free";
    const n = nodes[id]!;
    const ins = n.inputs;
    switch (n.op) {
      case "sum":
      case "mean": {
        const x = nodes[ins[0]!]!;
        const xa = batchAxisOf(x.shape, batchDim);
        if (xa < 0) {
          // a reduction of an aggregate over the batch: linear, keeps its kind
          const k = kindOf(x.id);
          return k === "sum" || k === "mean" ? k : null;
        }
        const axes = (n.attrs as { axes: readonly number[] | null }).axes;
        const reducesBatch = axes === null || axes.some((a) => normAxis(a, x.shape.length) === xa);
        return reducesBatch && perSampleCone(x.id) ? (n.op as "sum" | "mean") : null;
      }
      case "neg":
      case "stopGradient":
      case "reshape":
        return batchAxisOf(n.shape, batchDim) < 0 && n.shape.every((d) => d === 1) ? kindOf(ins[0]!) : null;
      case "mul":
      case "div": {
        const a = kindOf(ins[0]!);
        const b = kindOf(ins[1]!);
        if (b === "free") return a;
        return n.op === "mul" && a === "free" ? b : null;
      }
      case "add":
      case "sub": {
        const a = kindOf(ins[0]!);
        const b = kindOf(ins[1]!);
        if (a === null || b === null) return null;
        if (a === b) return a;
        // a batch-free term is the same in every chunk: the weighted mean of the chunks keeps it once
        return (a === "mean" && b === "free") || (a === "free" && b === "mean") ? "mean" : null;
      }
      default:
        return null;
    }
  };
  const k = kindOf(loss);
  return k === reduction || (k === "free" && reduction === "mean");
}

/** The names an option gives (one or several, default `fallback`), checked to be non-empty strings. */
function nameList(v: string | readonly string[] | undefined, fallback: string, what: string): string[] {
  const list = v === undefined ? [fallback] : typeof v === "string" ? [v] : [...v];
  if (list.length === 0) throw new GraphError(`model: the '${what}' option names nothing`);
  for (const n of list) {
    if (typeof n !== "string" || n === "")
      throw new GraphError(`model: the '${what}' option must name graph nodes, got ${JSON.stringify(n)}`);
  }
  return list;
}

/** Whether `v` is a builder value (rather than values keyed by name). */
function isValue(v: Value | Readonly<Record<string, Value>>): v is Value {
  return v instanceof Value;
}

/** A record with the given own keys (defined, not assigned: a name such as `__proto__` stays a key). */
function ownRecord<T>(entries: readonly (readonly [string, T])[]): Record<string, T> {
  const r: Record<string, T> = {};
  for (const [k, v] of entries) {
    Object.defineProperty(r, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return r;
}

/** Random keys are taken modulo 2^24, so that a float32 key input holds them exactly. */
const KEY_MODULUS = 2 ** 24;

/** `v mod 2^24` in [0, 2^24). */
function mod24(v: number): number {
  const r = v % KEY_MODULUS;
  return r < 0 ? r + KEY_MODULUS : r;
}

/** Evaluation and prediction feed the random key 0 (their graphs rarely keep it: dropout is off). */
function zeroKey(plan: Plan): void {
  if (Object.hasOwn(plan.inputs, KEY_INPUT)) plan.inputs[KEY_INPUT]!.data[0] = 0;
}

/**
 * The bounded cache of evaluation or prediction plans of one model, by batch size (see
 * {@link PLAN_CACHE_SIZE} and {@link PLAN_CACHE_ROWS}); the plans it drops are disposed.
 */
class PlanCache {
  /** Least recently used first (a hit moves a plan to the end). */
  private readonly plans = new Map<number, ForwardPlan>();
  /** Rows of the cached plans together. */
  private rows = 0;
  /** The most recently used batch size (no reordering needed when it is asked for again). */
  private last = 0;

  /** The cached plan for `batchSize` rows, now the most recently used, or undefined. */
  get(batchSize: number): ForwardPlan | undefined {
    const fp = this.plans.get(batchSize);
    if (fp !== undefined && batchSize !== this.last) {
      this.plans.delete(batchSize);
      this.plans.set(batchSize, fp);
      this.last = batchSize;
    }
    return fp;
  }

  /** Adds a plan as the most recently used; true when older plans had to be dropped (and were disposed). */
  add(fp: ForwardPlan): boolean {
    this.plans.set(fp.batchSize, fp);
    this.rows += fp.batchSize;
    this.last = fp.batchSize;
    let dropped = false;
    while (this.plans.size > 2 && (this.plans.size > PLAN_CACHE_SIZE || this.rows > PLAN_CACHE_ROWS)) {
      const [key, old] = this.plans.entries().next().value as [number, ForwardPlan];
      this.plans.delete(key);
      this.rows -= key;
      old.plan.dispose();
      dropped = true;
    }
    return dropped;
  }

  /** Batch sizes cached, least recently used first. */
  sizes(): number[] {
    return [...this.plans.keys()];
  }
}

/**
 * A trainable model: a forward graph with a predictions output and a scalar loss output, its params,
 * and plans compiled lazily per batch size and cached. Make one with {@link Model.define} (a function of
 * a builder) or `new Model(graph, options)`. The training graph is `grad(graph, "loss", trainable)`,
 * made once. Data is sample-major (`x [n, ...features]`); targets are a tensor or class labels (a
 * `Uint8Array`, one-hot encoded into the plan). Train it with {@link fit} or {@link fitFullBatch}, or
 * step by step with `trainStep`; `predict` and `evaluate` run in chunks; save it with `serializeModel`
 * (or `saveModel` from `@gradgraph/models/node`). Graphs with dropout or batch normalisation get
 * separate training and evaluation graphs.
 *
 * @example
 * ```ts
 * import { Tensor } from "@gradgraph/core";
 * import { makeMoons } from "@gradgraph/datasets";
 * import { adam, dense, fit, Model, softmaxCrossEntropy } from "@gradgraph/models";
 *
 * const model = Model.define(
 *   (b) => {
 *     const x = b.input("x", ["N", 2]);
 *     const y = b.input("y", ["N", 2]); // one-hot targets; class labels are encoded for you
 *     const h = dense(b, x, 16, { activation: "tanh" });
 *     const logits = dense(b, h, 2);
 *     return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
 *   },
 *   { seed: 1 },
 * );
 * const data = makeMoons({ nSamples: 200, noise: 0.2, seed: 0 }); // x [200, 2], y: labels
 * fit(model, data, { optimizer: adam({ lr: 0.01 }), epochs: 50, batchSize: 20 });
 * model.evaluate(data.x, data.y, { metrics: ["accuracy"] }); // { loss, accuracy }
 * model.predict(Tensor.from([[0, 0.5]], { dtype: "float32" })); // [1, 2] class probabilities
 * ```
 */
export class Model {
  /** The forward graph (predictions and loss outputs). */
  readonly graph: Graph;
  /** Parameter values, updated in place by training. */
  readonly params: ParamStore;
  /** Name of the (first) feature input. */
  readonly input: string;
  /** Name of the (first) target input. */
  readonly target: string;
  /** Name of the (first) predictions output. */
  readonly predictions: string;
  /** Names of every feature input, {@link Model.input} first. */
  readonly inputs: readonly string[];
  /** Names of every target input, {@link Model.target} first. */
  readonly targets: readonly string[];
  /** Names of every prediction output, {@link Model.predictions} first. */
  readonly outputs: readonly string[];
  /** Name of the loss output. */
  readonly loss: string;
  /** Names of the trained params, in flat-vector order. */
  readonly trainable: readonly string[];
  /** Data convention of the graph. */
  readonly convention: Convention;
  /** How the loss reduces over the batch (see {@link ModelOptions.lossReduction}). */
  readonly lossReduction: Reduction;
  /** Batch size the graph is fixed to, or null when the batch dim is symbolic. */
  readonly fixedBatch: number | null;
  /**
   * The state params: params with an `update:<param>` output (e.g. batch normalisation's running
   * statistics), overwritten with that output after every training step and never trained.
   */
  readonly stateParams: readonly string[];
  /**
   * The graph evaluation and prediction compile: the forward graph with `"mode:training"` fixed to
   * 0 (the forward graph itself when it has no such input).
   */
  readonly evaluationGraph: Graph;
  /** Shapes of the first input, target and prediction output. */
  private readonly xInfo: IoInfo;
  private readonly yInfo: IoInfo;
  private readonly pInfo: IoInfo;
  /** Shapes of every input, target and prediction output (in the order of their names). */
  private readonly xInfos: readonly IoInfo[];
  private readonly yInfos: readonly IoInfo[];
  private readonly pInfos: readonly IoInfo[];
  private readonly checkNumerics: boolean;
  private trainGraph: Graph | null = null;
  private trainExe: CompiledGraph | null = null;
  private evalExe: CompiledGraph | null = null;
  /** Compiled in the constructor (to check the predictions do not need the target), then lazily. */
  private predictExe: CompiledGraph | null;
  private readonly trainPlans = new Map<number, TrainingPlan>();
  private readonly evalPlans = new PlanCache();
  private readonly predictPlans = new PlanCache();
  /** Whether evaluation (index 0) and prediction (1) may run in chunks by default; computed on first use. */
  private readonly chunkable: [boolean | null, boolean | null] = [null, null];
  /** Training runs so far (see {@link Model.trainingSteps}). */
  private steps = 0;
  /** The seed's share of the random keys: `(seed mod 2^24)·7919 mod 2^24`. */
  private readonly keyBase: number;

  /**
   * Wraps `graph`. Checks that the named inputs, targets, predictions and loss exist, that every
   * other input of the graph is a reserved mode input, that the loss is a scalar, that all inputs
   * and targets share the batch dim and that the predictions do not need the targets.
   */
  constructor(graph: Graph, options: ModelOptions = {}) {
    this.graph = graph;
    this.inputs = nameList(options.input, "x", "input");
    this.targets = nameList(options.target, "y", "target");
    this.outputs = nameList(options.predictions, "predictions", "predictions");
    this.input = this.inputs[0]!;
    this.target = this.targets[0]!;
    this.predictions = this.outputs[0]!;
    this.loss = options.loss ?? "loss";
    this.lossReduction = options.lossReduction ?? "mean";
    this.checkNumerics = options.checkNumerics ?? false;
    const has = (table: Readonly<Record<string, unknown>>, name: string, what: string) => {
      if (!Object.hasOwn(table, name)) {
        throw new GraphError(
          `model: the graph has no ${what} named '${name}' (${what}s: ${Object.keys(table).join(", ") || "none"})`,
        );
      }
    };
    for (const name of [...this.inputs, ...this.targets]) has(graph.inputs, name, "input");
    for (const name of this.outputs) has(graph.outputs, name, "output");
    has(graph.outputs, this.loss, "output");
    const fed = new Set([...this.inputs, ...this.targets, TRAINING_INPUT, KEY_INPUT]);
    if (fed.size !== this.inputs.length + this.targets.length + 2) {
      throw new GraphError(
        `model: an input is named twice among the feature inputs (${this.inputs.join(", ")}) and targets (${this.targets.join(", ")})`,
      );
    }
    const unfed = Object.keys(graph.inputs).filter((name) => !fed.has(name));
    if (unfed.length > 0) {
      throw new GraphError(
        `model: the graph input${unfed.length > 1 ? "s" : ""} ${unfed.map((n) => `'${n}'`).join(", ")} ${unfed.length > 1 ? "are" : "is"} neither a feature input (${this.inputs.join(", ")}) nor a target (${this.targets.join(", ")}); name ${unfed.length > 1 ? "them" : "it"} in the model's 'input' or 'target' option`,
      );
    }
    const lossNode = graph.nodes[graph.outputs[this.loss]!]!;
    if (!lossNode.shape.every((d) => d === 1)) {
      throw new ShapeError(
        `model: the loss output '${this.loss}' must be a scalar, has shape ${shapeToString(lossNode.shape)}`,
      );
    }
    const xShape = graph.nodes[graph.inputs[this.input]!]!.shape;
    this.convention = options.convention ?? detectConvention(xShape);
    if (this.convention === "column" && (this.inputs.length > 1 || this.targets.length > 1)) {
      throw new GraphError(
        "model: the column convention takes one feature input and one target; use the row convention (batch first) for several",
      );
    }
    const info = (name: string, table: Readonly<Record<string, NodeId>>) =>
      perSample(name, graph.nodes[table[name]!]!.shape, this.convention);
    this.xInfos = this.inputs.map((n) => info(n, graph.inputs));
    this.yInfos = this.targets.map((n) => info(n, graph.inputs));
    this.pInfos = this.outputs.map((n) => info(n, graph.outputs));
    this.xInfo = this.xInfos[0]!;
    this.yInfo = this.yInfos[0]!;
    this.pInfo = this.pInfos[0]!;
    const batchAxis = this.convention === "row" ? 0 : 1;
    const batchDim = xShape[batchAxis]!;
    for (const [name, inf] of [
      ...this.inputs.map((n, i) => [n, this.xInfos[i]!] as const),
      ...this.targets.map((n, i) => [n, this.yInfos[i]!] as const),
    ]) {
      if (inf.shape[batchAxis] !== batchDim) {
        throw new ShapeError(
          `model: input '${name}' has shape ${shapeToString(inf.shape)}, whose batch dim is not ${String(batchDim)} (the batch dim of '${this.input}' ${shapeToString(xShape)})`,
        );
      }
    }
    this.fixedBatch = typeof batchDim === "number" ? batchDim : null;
    this.params = options.params
      ? options.params.initMissing(graph, options.seed ?? 0)
      : ParamStore.init(graph, options.seed ?? 0);
    this.keyBase = (mod24(Math.floor(options.seed ?? 0)) * 7919) % KEY_MODULUS;
    const state: string[] = [];
    for (const out of Object.keys(graph.outputs)) {
      if (!out.startsWith(UPDATE_PREFIX)) continue;
      const p = out.slice(UPDATE_PREFIX.length);
      if (!Object.hasOwn(graph.params, p)) {
        throw new GraphError(
          `model: the output '${out}' updates a param '${p}', but the graph has no param by that name`,
        );
      }
      const shape = graph.nodes[graph.outputs[out]!]!.shape;
      if (!shapesEqual(shape, graph.params[p]!.shape)) {
        throw new ShapeError(
          `model: the output '${out}' has shape ${shapeToString(shape)}, but param '${p}' has ${shapeToString(graph.params[p]!.shape)}`,
        );
      }
      state.push(p);
    }
    this.stateParams = state;
    const all = Object.keys(graph.params).filter((p) => !state.includes(p));
    this.trainable = options.trainable ? [...options.trainable] : all;
    for (const p of this.trainable) {
      has(graph.params, p, "param");
      if (state.includes(p)) {
        throw new GraphError(
          `model: param '${p}' is state updated by the output '${UPDATE_PREFIX}${p}', so it cannot also be trainable`,
        );
      }
    }
    this.evaluationGraph = Object.hasOwn(graph.inputs, TRAINING_INPUT)
      ? specializeInputs(graph, { [TRAINING_INPUT]: 0 })
      : graph;
    const predExe = this.compilePredict();
    for (const t of this.targets) {
      if (predExe.inputNames.includes(t)) {
        throw new GraphError(
          `model: the predictions output${this.outputs.length > 1 ? `s (${this.outputs.join(", ")})` : ` '${this.predictions}'`} depend${this.outputs.length > 1 ? "" : "s"} on the target input '${t}'`,
        );
      }
    }
    this.predictExe = predExe;
  }

  /**
   * Builds the graph with `fn` on a fresh builder and wraps it. `fn` returns the input, target,
   * predictions and loss values; their names become the model's.
   * @example
   * const model = Model.define((b) => {
   *   const x = b.input("x", ["N", 2]);
   *   const y = b.input("y", ["N", 2]);
   *   const logits = mlp(b, x, [2, 16, 2], { activation: "tanh", outputActivation: "identity" });
   *   return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
   * }, { seed: 1 });
   */
  static define(fn: (b: GraphBuilder) => ModelParts, options: DefineOptions = {}): Model {
    const b = new GraphBuilder(options.dtype ? { dtype: options.dtype } : {});
    const parts = fn(b);
    const nameOf = (v: Value, what: string): string => {
      const node = v.node;
      if (node.op !== "input")
        throw new GraphError(`Model.define: '${what}' must be an input value, got ${node.op}`);
      return (node.attrs as { name: string }).name;
    };
    const names = (v: Value | readonly Value[], what: string): string[] =>
      Array.isArray(v) ? (v as readonly Value[]).map((u) => nameOf(u, what)) : [nameOf(v as Value, what)];
    const input = names(parts.input, "input");
    const target = names(parts.target, "target");
    let predictions: string[];
    if (isValue(parts.predictions)) {
      b.output("predictions", parts.predictions);
      predictions = ["predictions"];
    } else {
      predictions = Object.keys(parts.predictions);
      if (predictions.length === 0) throw new GraphError("Model.define: 'predictions' names no output");
      for (const name of predictions) b.output(name, parts.predictions[name]!);
    }
    b.output("loss", parts.loss);
    const { dtype: _dtype, ...rest } = options;
    return new Model(b.build(), { ...rest, input, target, predictions, loss: "loss" });
  }

  /** Element type of the feature input. */
  get dtype(): DType {
    return this.graph.nodes[this.graph.inputs[this.input]!]!.dtype;
  }

  /**
   * Per-sample shape (sample-major) of each feature input, target and prediction output, by name.
   */
  get sampleShapesByName(): {
    readonly inputs: Readonly<Record<string, readonly number[]>>;
    readonly targets: Readonly<Record<string, readonly number[]>>;
    readonly outputs: Readonly<Record<string, readonly number[]>>;
  } {
    const by = (names: readonly string[], infos: readonly IoInfo[]) =>
      ownRecord(names.map((n, i) => [n, infos[i]!.sample] as const));
    return {
      inputs: by(this.inputs, this.xInfos),
      targets: by(this.targets, this.yInfos),
      outputs: by(this.outputs, this.pInfos),
    };
  }

  /** Per-sample shape of the (first) features, targets and predictions (sample-major). */
  get sampleShapes(): {
    readonly x: readonly number[];
    readonly y: readonly number[];
    readonly predictions: readonly number[];
  } {
    return { x: this.xInfo.sample, y: this.yInfo.sample, predictions: this.pInfo.sample };
  }

  /**
   * The training graph: the forward graph (with `"mode:training"` fixed to 1 when it has that input)
   * plus `grad:<param>` outputs for every trainable param.
   */
  get trainingGraph(): Graph {
    if (!this.trainGraph) {
      const forward = Object.hasOwn(this.graph.inputs, TRAINING_INPUT)
        ? specializeInputs(this.graph, { [TRAINING_INPUT]: 1 })
        : this.graph;
      this.trainGraph = grad(forward, this.loss, this.trainable);
    }
    return this.trainGraph;
  }

  /**
   * Training runs made so far: every {@link Model.runTrainingStep} (hence every `fit` batch and
   * every {@link Model.trainStep}) and every {@link Model.lossAndGrad} call counts one. When the
   * graph has a `"mode:key"` input, run `s` is fed the key `(seed·7919 + s) mod 2^24` (`seed` from
   * {@link ModelOptions.seed}), so two models with the same seed, params and data train bit for bit
   * the same, and every step draws new dropout masks. To resume an interrupted training with the
   * masks it would have drawn, save this count with the model (e.g. in the file's metadata) and
   * set it back on the loaded model. Rollbacks of `fit` (non-finite loss) do not rewind it.
   * @throws RangeError when set to anything but a non-negative integer.
   */
  get trainingSteps(): number {
    return this.steps;
  }
  set trainingSteps(steps: number) {
    if (!Number.isSafeInteger(steps) || steps < 0)
      throw new RangeError(`model.trainingSteps must be a non-negative integer, got ${steps}`);
    this.steps = steps;
  }

  /** The random key fed to training run `step` (see {@link Model.trainingSteps}). */
  trainingKey(step: number): number {
    return (this.keyBase + mod24(step)) % KEY_MODULUS;
  }

  /** Input shapes of a plan of `graph` for `count` rows (with the scalar random key when it has one). */
  private shapesFor(graph: Graph, count: number, withTarget: boolean): Record<string, ConcreteShape> {
    const shape = (info: IoInfo) =>
      this.convention === "row" ? [count, ...info.sample] : [...info.sample, count];
    // a name such as `__proto__` must be an own key: assigning it would set the prototype
    const entries: [string, ConcreteShape][] = this.inputs.map((n, i) => [n, shape(this.xInfos[i]!)]);
    if (withTarget)
      entries.push(...this.targets.map((n, i): [string, ConcreteShape] => [n, shape(this.yInfos[i]!)]));
    if (Object.hasOwn(graph.inputs, KEY_INPUT)) entries.push([KEY_INPUT, []]);
    return Object.fromEntries(entries);
  }

  private checkBatch(count: number): void {
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`batch size must be a positive integer, got ${count}`);
    if (this.fixedBatch !== null && count !== this.fixedBatch) {
      throw new ShapeError(`model: the graph is fixed to batches of ${this.fixedBatch}, asked for ${count}`);
    }
  }

  /** The training plan for batches of `batchSize` rows (compiled once, then cached). */
  trainingPlan(batchSize: number): TrainingPlan {
    const hit = this.trainPlans.get(batchSize);
    if (hit) return hit;
    this.checkBatch(batchSize);
    if (!this.trainExe) {
      this.trainExe = compile(this.trainingGraph, {
        outputs: [
          this.loss,
          ...this.outputs,
          ...this.trainable.map((p) => gradName(p)),
          ...this.stateParams.map((p) => `${UPDATE_PREFIX}${p}`),
        ],
        params: this.params,
        checkNumerics: this.checkNumerics,
      });
    }
    const plan = this.trainExe.plan(this.shapesFor(this.trainingGraph, batchSize, true));
    const updates: Record<string, Tensor> = {};
    for (const p of this.stateParams) {
      Object.defineProperty(updates, p, {
        value: plan.outputs[`${UPDATE_PREFIX}${p}`]!,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    const grads: Record<string, Tensor> = {};
    for (const p of this.trainable) {
      // defined, not assigned: `grads.__proto__ = g` would set the prototype. (Not Object.fromEntries:
      // with its objects, the optimizers' for-in over grads allocated in every step; see model.test.ts.)
      Object.defineProperty(grads, p, {
        value: plan.outputs[gradName(p)]!,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    const key = Object.hasOwn(plan.inputs, KEY_INPUT) ? plan.inputs[KEY_INPUT]! : null;
    const tp = { ...this.views(batchSize, plan, true), grads, updates, key } as TrainingPlan;
    this.trainPlans.set(batchSize, tp);
    return tp;
  }

  /** The named input and output tensors of a plan (`withTarget`: it also takes targets and computes the loss). */
  private views(batchSize: number, plan: Plan, withTarget: boolean): ForwardPlan {
    const pick = (names: readonly string[], table: Readonly<Record<string, Tensor>>) =>
      ownRecord(names.map((n) => [n, table[n]!] as const));
    return {
      batchSize,
      plan,
      x: plan.inputs[this.input]!,
      y: withTarget ? plan.inputs[this.target]! : null,
      xs: pick(this.inputs, plan.inputs),
      ys: withTarget ? pick(this.targets, plan.inputs) : {},
      loss: withTarget ? plan.outputs[this.loss]! : null,
      predictions: plan.outputs[this.predictions]!,
      outputs: pick(this.outputs, plan.outputs),
    };
  }

  /**
   * The plan computing loss and predictions for `batchSize` rows. Plans are cached in a small
   * bounded cache ({@link PLAN_CACHE_SIZE}, {@link PLAN_CACHE_ROWS}); a plan dropped from it is
   * disposed, so use the returned plan before asking for plans of other sizes.
   */
  evaluationPlan(batchSize: number): ForwardPlan {
    const hit = this.evalPlans.get(batchSize);
    if (hit) return hit;
    this.checkBatch(batchSize);
    if (!this.evalExe) {
      this.evalExe = compile(this.evaluationGraph, {
        outputs: [this.loss, ...this.outputs],
        params: this.params,
        checkNumerics: this.checkNumerics,
      });
    }
    const fp = this.views(
      batchSize,
      this.evalExe.plan(this.shapesFor(this.evaluationGraph, batchSize, true)),
      true,
    );
    zeroKey(fp.plan);
    // a plan evicted from the bounded cache is disposed, and its compiled graph forgets it
    this.evalPlans.add(fp);
    return fp;
  }

  /**
   * The plan computing predictions only for `batchSize` rows, cached as
   * {@link Model.evaluationPlan}'s (a plan dropped from the cache is disposed).
   */
  predictionPlan(batchSize: number): ForwardPlan {
    const hit = this.predictPlans.get(batchSize);
    if (hit) return hit;
    this.checkBatch(batchSize);
    if (!this.predictExe) this.predictExe = this.compilePredict();
    const fp = this.views(
      batchSize,
      this.predictExe.plan(this.shapesFor(this.evaluationGraph, batchSize, false)),
      false,
    );
    zeroKey(fp.plan);
    this.predictPlans.add(fp);
    return fp;
  }

  /**
   * Batch sizes of the evaluation and prediction plans the model holds, least recently used first
   * (see {@link PLAN_CACHE_SIZE}).
   */
  get cachedPlanSizes(): { readonly evaluation: readonly number[]; readonly prediction: readonly number[] } {
    return { evaluation: this.evalPlans.sizes(), prediction: this.predictPlans.sizes() };
  }

  private compilePredict(): CompiledGraph {
    return compile(this.evaluationGraph, {
      outputs: [...this.outputs],
      params: this.params,
      checkNumerics: this.checkNumerics,
    });
  }

  /**
   * The features of every input, in {@link Model.inputs} order: `x` itself for a one-input model
   * given one tensor, else `x[name]` for every input name (checked: no input missing, no other key).
   */
  private featureList(x: Features): Tensor[] {
    if (x instanceof Tensor) {
      if (this.inputs.length > 1) {
        throw new GraphError(
          `model: the model has ${this.inputs.length} feature inputs (${this.inputs.join(", ")}); give the features as tensors keyed by input name`,
        );
      }
      return [x];
    }
    return this.keyed(x, this.inputs, "feature input", (v): v is Tensor => v instanceof Tensor, "a Tensor");
  }

  /** The targets of every target input, in {@link Model.targets} order (see `featureList`). */
  private targetList(y: TargetData): Targets[] {
    if (isSingleTargets(y)) {
      if (this.targets.length > 1) {
        throw new GraphError(
          `model: the model has ${this.targets.length} targets (${this.targets.join(", ")}); give the targets keyed by target name`,
        );
      }
      return [y];
    }
    return this.keyed(
      y,
      this.targets,
      "target",
      (v): v is Targets => isSingleTargets(v as TargetData),
      "a Tensor or labels",
    );
  }

  private keyed<T>(
    data: Readonly<Record<string, unknown>>,
    names: readonly string[],
    what: string,
    ok: (v: unknown) => v is T,
    expected: string,
  ): T[] {
    if (data === null || typeof data !== "object")
      throw new TypeError(`model: ${what}s must be given keyed by name, got ${String(data)}`);
    for (const k of Object.keys(data)) {
      if (!names.includes(k)) {
        throw new GraphError(
          `model: the data has '${k}', which is not a ${what} of the model (${names.join(", ")})`,
        );
      }
    }
    return names.map((n) => {
      if (!Object.hasOwn(data, n))
        throw new GraphError(
          `model: the data has no ${what} '${n}' (given: ${Object.keys(data).join(", ") || "none"})`,
        );
      const v = data[n];
      if (!ok(v)) throw new TypeError(`model: ${what} '${n}' must be ${expected}`);
      return v;
    });
  }

  /**
   * Checks a data set against the model: every feature input and target is given (see
   * {@link Features} and {@link TargetData}), with the same number of samples and the values per
   * sample the graph takes. Returns the number of samples.
   */
  checkData(x: Features, y?: TargetData): number {
    const xs = this.featureList(x);
    let n = -1;
    for (let i = 0; i < xs.length; i++) {
      const t = xs[i]!;
      const name = this.inputs[i]!;
      const rows = t.shape[0];
      const label = this.inputs.length > 1 ? `features '${name}'` : "x";
      if (rows === undefined)
        throw new ShapeError(
          `model: ${label} must have one row per sample, got shape ${shapeToString(t.shape)}`,
        );
      if (n < 0) n = rows;
      else if (rows !== n)
        throw new ShapeError(`model: ${label} has ${rows} samples but '${this.input}' has ${n}`);
      const info = this.xInfos[i]!;
      if (rows > 0 && t.size / rows !== info.size) {
        throw new ShapeError(
          `model: ${label} has shape ${shapeToString(t.shape)} (${t.size / rows} values per sample) but input '${name}' takes ${info.size} per sample (${shapeToString(info.shape)})`,
        );
      }
    }
    if (y !== undefined) {
      const ys = this.targetList(y);
      for (let i = 0; i < ys.length; i++) {
        const t = ys[i]!;
        const name = this.targets[i]!;
        const label = this.targets.length > 1 ? `targets '${name}'` : "y";
        const ny = targetCount(t);
        if (ny !== n) throw new ShapeError(`model: x has ${n} samples but ${label} has ${ny}`);
        const info = this.yInfos[i]!;
        if (isTensor(t) && n > 0 && t.size / n !== info.size) {
          throw new ShapeError(
            `model: ${label} has shape ${shapeToString(t.shape)} but target '${name}' takes ${info.size} values per sample (${shapeToString(info.shape)})`,
          );
        }
      }
    }
    return n;
  }

  /**
   * Copies samples `indices[start..start+count)` (or rows `start..start+count` when `indices` is
   * null) of the features `x` and targets `y` into a plan's input buffers, in the graph's
   * convention. Labels are one-hot encoded when the target has more than one value per sample.
   * Allocates nothing. The data must have passed {@link Model.checkData}.
   */
  fill(
    plan: {
      readonly xs: Readonly<Record<string, Tensor>>;
      readonly ys: Readonly<Record<string, Tensor>>;
      readonly y: Tensor | null;
    },
    x: Features,
    y: TargetData | null,
    indices: Int32Array | null,
    start: number,
    count: number,
  ): void {
    const column = this.convention === "column";
    const oneX = x instanceof Tensor;
    for (let i = 0; i < this.inputs.length; i++) {
      const name = this.inputs[i]!;
      const src = oneX ? x : (x as Readonly<Record<string, Tensor>>)[name]!;
      gatherRows(src.data, this.xInfos[i]!.size, indices, start, count, plan.xs[name]!.data, column);
    }
    if (y === null || plan.y === null) return;
    const oneY = isSingleTargets(y);
    for (let i = 0; i < this.targets.length; i++) {
      const name = this.targets[i]!;
      const t = oneY ? y : (y as Readonly<Record<string, Targets>>)[name]!;
      const dst = plan.ys[name]!.data;
      const size = this.yInfos[i]!.size;
      if (isTensor(t)) gatherRows(t.data, size, indices, start, count, dst, column);
      else gatherLabels(t, size, indices, start, count, dst, column);
    }
  }

  /**
   * One optimisation step on a batch: runs the training plan for `x.shape[0]` rows, hands the
   * gradients (keyed by param name) to `optimizer.step`, and returns the batch loss (computed before
   * the update). Allocates nothing once the plan for this batch size exists. See
   * {@link Model.runTrainingStep}.
   */
  trainStep(x: Features, y: TargetData, optimizer: GradientStep): number {
    const n = this.checkData(x, y);
    const tp = this.trainingPlan(n);
    this.fill(tp, x, y, null, 0, n);
    this.runTrainingStep(tp, optimizer);
    return tp.loss.data[0]!;
  }

  /**
   * One optimisation step on a training plan whose inputs are filled (see {@link Model.fill}):
   * feeds the step's random key (when the graph has `"mode:key"`; see {@link Model.trainingSteps},
   * which this advances), runs the plan, then, unless `hooks.beforeUpdate(tp)` returns false, hands the
   * gradients to `optimizer.step` and copies the state updates (`update:<param>` outputs, e.g.
   * running statistics) into the params. Returns whether the update was made; the batch loss
   * (computed before the update) is in `tp.loss`.
   *
   * Every training loop runs its steps through this method, so none forgets the key or the state.
   * See {@link TrainingStepHooks} for `hooks`. Allocates nothing.
   * @example
   * model.fill(tp, x, y, order, start, count);
   * const applied = model.runTrainingStep(tp, optimizer, {
   *   beforeUpdate: (t) => Number.isFinite(t.loss.data[0]!),
   * });
   */
  runTrainingStep(tp: TrainingPlan, optimizer: GradientStep, hooks?: TrainingStepHooks): boolean {
    if (tp.key !== null) tp.key.data[0] = this.trainingKey(this.steps);
    this.steps++;
    tp.plan.run();
    if (hooks !== undefined && !hooks.beforeUpdate(tp)) return false;
    optimizer.step(this.params, tp.grads);
    this.commitState(tp);
    return true;
  }

  /** Copies the state updates of the last run of `tp` into the params. */
  private commitState(tp: TrainingPlan): void {
    const state = this.stateParams;
    for (let i = 0; i < state.length; i++) {
      const p = state[i]!;
      this.params.get(p).data.set(tp.updates[p]!.data);
    }
  }

  /**
   * Predictions (of the first prediction output, {@link Model.predictions}) for every sample of
   * `x`, sample-major (`[n, ...]`, also for column-convention graphs). Returns a new tensor.
   */
  predict(x: Features, options: PredictOptions = {}): Tensor {
    return this.predictEach(x, options, false)[0]!;
  }

  /**
   * The predictions of every prediction output ({@link Model.outputs}) for every sample of `x`,
   * sample-major, keyed by output name. Returns new tensors.
   */
  predictOutputs(x: Features, options: PredictOptions = {}): Record<string, Tensor> {
    const all = this.predictEach(x, options, true);
    return ownRecord(this.outputs.map((n, i) => [n, all[i]!] as const));
  }

  private predictEach(x: Features, options: PredictOptions, every: boolean): Tensor[] {
    const n = this.checkData(x);
    const count = every ? this.outputs.length : 1;
    const outs: Tensor[] = [];
    for (let k = 0; k < count; k++) {
      outs.push(Tensor.zeros([n, ...this.pInfos[k]!.sample], this.outputDType(this.outputs[k]!)));
    }
    const bs = this.chunkSize(n, options.batchSize, false);
    for (let start = 0; start < n; start += bs) {
      const rows = Math.min(bs, n - start);
      const fp = this.predictionPlan(rows);
      this.fill(fp, x, null, null, start, rows);
      fp.plan.run();
      for (let k = 0; k < count; k++) {
        this.copyPredictions(
          fp.outputs[this.outputs[k]!]!.data,
          this.pInfos[k]!.size,
          rows,
          outs[k]!.data,
          start,
        );
      }
    }
    return outs;
  }

  /**
   * Loss and metrics over a data set. The loss of several chunks is combined as
   * {@link ModelOptions.lossReduction} says (exact when the loss is a per-sample sum or mean).
   */
  evaluate(x: Features, y: TargetData, options: EvaluateOptions = {}): EvaluateResult {
    const n = this.checkData(x, y);
    if (n === 0) throw new RangeError("model.evaluate: no samples");
    const metrics = options.metrics ?? [];
    const custom = metrics.filter((m): m is Metric => typeof m !== "string");
    const wantAcc = metrics.includes("accuracy");
    const all = custom.length
      ? Tensor.zeros([n, ...this.pInfo.sample], this.outputDType(this.predictions))
      : null;
    const bs = this.chunkSize(n, options.batchSize, true);
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < n; start += bs) {
      const count = Math.min(bs, n - start);
      const fp = this.evaluationPlan(count);
      this.fill(fp, x, y, null, start, count);
      fp.plan.run();
      const l = fp.loss!.data[0]!;
      loss += this.lossReduction === "mean" ? l * count : l;
      if (wantAcc) correct += this.correctIn(fp.predictions.data, fp.y!.data, count);
      if (all) this.copyPredictions(fp.predictions.data, this.pInfo.size, count, all.data, start);
    }
    const result: EvaluateResult = { loss: this.lossReduction === "mean" ? loss / n : loss };
    for (const m of metrics) {
      if (m === "accuracy") result.accuracy = correct / n;
      else result[m.name] = m.compute(all!, this.targetList(y)[0]!);
    }
    return result;
  }

  /** Correct class predictions in one batch held in plan buffers (see {@link countCorrect}). */
  correctIn(pred: FloatArray, target: FloatArray, count: number): number {
    return countCorrect(pred, target, count, this.pInfo.size, this.yInfo.size, this.convention === "column");
  }

  /**
   * The full-batch loss and gradient over `(x, y)` as a function of a flat parameter vector (see
   * {@link LossAndGrad}); for `minimize`. One plan for all rows is compiled on first use.
   *
   * With training-mode layers: the function runs the training graph (batch statistics, dropout on)
   * with one random key for all its calls, the key of the next training step (this call counts as
   * one step of {@link Model.trainingSteps}), so it is deterministic, as line searches need. Each
   * call copies the state updates into the params (as PyTorch's L-BFGS closure updates running
   * statistics), which does not change the function: training mode does not read them.
   */
  lossAndGrad(x: Features, y: TargetData): LossAndGrad {
    const n = this.checkData(x, y);
    const tp = this.trainingPlan(n);
    const key = this.trainingKey(this.steps);
    this.steps++;
    const tensors = this.trainable.map((p) => this.params.get(p));
    const grads = this.trainable.map((p) => tp.grads[p]!);
    const size = tensors.reduce((s, t) => s + t.size, 0);
    const setParams = (theta: Float64Array): void => {
      if (theta.length !== size)
        throw new RangeError(`setParams: expected ${size} values, got ${theta.length}`);
      let o = 0;
      for (const t of tensors) {
        const d = t.data;
        for (let i = 0; i < d.length; i++) d[i] = theta[o + i]!;
        o += d.length;
      }
    };
    const getParams = (out: Float64Array = new Float64Array(size)): Float64Array => {
      let o = 0;
      for (const t of tensors) {
        out.set(t.data, o);
        o += t.size;
      }
      return out;
    };
    const fun = (theta: Float64Array, g: Float64Array): number => {
      setParams(theta);
      this.fill(tp, x, y, null, 0, n);
      if (tp.key !== null) tp.key.data[0] = key;
      tp.plan.run();
      this.commitState(tp);
      let o = 0;
      for (const t of grads) {
        g.set(t.data, o);
        o += t.size;
      }
      return tp.loss.data[0]!;
    };
    return { size, fun, getParams, setParams };
  }

  /** Number of trainable scalars. */
  get parameterCount(): number {
    return this.trainable.reduce((s, p) => s + this.params.get(p).size, 0);
  }

  private outputDType(output: string): DType {
    return this.graph.nodes[this.graph.outputs[output]!]!.dtype;
  }

  /**
   * Whether evaluation (`withLoss`) or prediction in chunks gives the results of one plan for all
   * rows (see `chunksExact`); then they default to chunks of {@link DEFAULT_CHUNK_ROWS}.
   */
  private canChunk(withLoss: boolean): boolean {
    const k = withLoss ? 0 : 1;
    let v = this.chunkable[k];
    if (v === null) {
      const g = this.evaluationGraph;
      const batchAxis = this.convention === "row" ? 0 : 1;
      // the constructor checked that every input and target has this batch dim
      const xDim = g.nodes[g.inputs[this.input]!]!.shape[batchAxis];
      v =
        typeof xDim === "string" &&
        chunksExact(
          g,
          xDim,
          this.outputs.map((o) => g.outputs[o]!),
          withLoss ? g.outputs[this.loss]! : null,
          this.lossReduction,
        );
      this.chunkable[k] = v;
    }
    return v;
  }

  private chunkSize(n: number, batchSize: number | undefined, withLoss: boolean): number {
    if (this.fixedBatch !== null) return this.fixedBatch;
    const bs = batchSize ?? (this.canChunk(withLoss) ? DEFAULT_CHUNK_ROWS : Math.max(n, 1));
    if (!Number.isInteger(bs) || bs < 1)
      throw new RangeError(`batchSize must be a positive integer, got ${bs}`);
    return Math.min(bs, Math.max(n, 1));
  }

  /**
   * Copies `count` predictions of `P` values each from a plan buffer into sample-major `out`
   * starting at row `start`.
   */
  private copyPredictions(src: FloatArray, P: number, count: number, out: FloatArray, start: number): void {
    if (this.convention === "row") {
      out.set(src.subarray(0, count * P), start * P);
    } else {
      for (let i = 0; i < count; i++)
        for (let k = 0; k < P; k++) out[(start + i) * P + k] = src[k * count + i]!;
    }
  }
}
