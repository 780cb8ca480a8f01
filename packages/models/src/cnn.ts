/**
 * Convolutional layers: {@link conv2d}, {@link conv2dTranspose}, {@link maxPool2d},
 * {@link avgPool2d}, {@link globalAvgPool}, {@link flatten}, {@link batchNorm} and {@link dropout}.
 * Like the dense layers they emit ordinary graph nodes and return {@link Value}s.
 *
 * Images are NCHW: `[batch, channels, height, width]`; the batch dim may be symbolic (`"N"`).
 * Layers with params name them `<name>/W`, `<name>/b` (`<name>/gamma`, ... for batch
 * normalisation); unnamed layers get `conv1`, `conv2`, ... (unique per builder, see
 * {@link uniqueName}), and every node a layer makes lives in the scope of its name, so a shape
 * error names the layer.
 *
 * {@link batchNorm} and {@link dropout} act differently while training: they read the training
 * flag and the random key of `./modes.ts` ({@link trainingFlag}, {@link randomKey}), which
 * {@link Model} sets.
 * @module
 */
import {
  type DType,
  type GraphBuilder,
  type Init,
  type PaddingSpec,
  type Pair,
  ShapeError,
  shapeToString,
  type Value,
} from "@gradgraph/core";
import { init, withFans } from "./init.js";
import { type Activation, activation, uniqueName } from "./layers.js";
import { randomKey, stateUpdate, trainingFlag } from "./modes.js";

/** Options of {@link conv2d}. */
export interface Conv2dLayerOptions {
  /**
   * Layer name: prefixes its params (`<name>/W`, `<name>/b`) and scopes its nodes. Default
   * `conv1`, `conv2`, ... (unique per builder).
   */
  name?: string;
  /** Window step, one number or `[h, w]` (default 1). */
  strides?: number | Pair;
  /**
   * `"valid"` (default: no padding), `"same"` (output `ceil(H / stride)`, the odd padding pixel
   * after, as TensorFlow), one number, `[h, w]` or `[top, bottom, left, right]`.
   */
  padding?: PaddingSpec;
  /** Spacing of the kernel taps, one number or `[h, w]` (default 1). */
  dilations?: number | Pair;
  /** Channel groups (default 1); input channels and filters must both be multiples of it. */
  groups?: number;
  /** Activation applied after the bias (default `"identity"`). */
  activation?: Activation;
  /** Whether to add a bias per filter (default true). */
  bias?: boolean;
  /**
   * Weight initialiser (default `init.glorotUniform()`). Unset fans are filled in as Keras and
   * PyTorch count them: fanIn = input channels per group × kh × kw, fanOut = filters × kh × kw.
   */
  weightInit?: Init;
  /** Bias initialiser (default `init.zeros()`). */
  biasInit?: Init;
  /** Param dtype (default: the input's). */
  dtype?: DType;
}

/** Options of {@link conv2dTranspose}. */
export interface Conv2dTransposeLayerOptions extends Conv2dLayerOptions {
  /** Extra rows/columns after the output, to pick among the sizes a stride allows (default 0). */
  outputPadding?: number | Pair;
  /** The output `[height, width]` outright (overrides `outputPadding`). */
  outputSize?: Pair;
}

/** Options of {@link maxPool2d} and {@link avgPool2d}. */
export interface PoolLayerOptions {
  /** Layer name, scoping its node (default `maxPool1`, `avgPool1`, ...). */
  name?: string;
  /** Window step (default: the window size). */
  strides?: number | Pair;
  /** `"valid"` (default), `"same"`, a number, `[h, w]` or `[top, bottom, left, right]`. */
  padding?: PaddingSpec;
}

/** Options of {@link globalAvgPool} and {@link flatten}. */
export interface ShapeLayerOptions {
  /** Layer name, scoping its nodes. */
  name?: string;
}

/** Options of {@link batchNorm}. */
export interface BatchNormOptions {
  /**
   * Layer name: prefixes its params (`<name>/gamma`, `<name>/beta`, `<name>/runningMean`,
   * `<name>/runningVar`) and scopes its nodes. Default `batchNorm1`, ... (unique per builder).
   */
  name?: string;
  /** The feature (channel) axis, normalised on its own (default 1: NCHW channels, or `[N, F]` features). */
  axis?: number;
  /**
   * Weight of the batch in the running statistics, PyTorch's convention (default 0.1):
   * `running = (1 - momentum)·running + momentum·batch`. (Keras' `momentum` is one minus this.)
   */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  epsilon?: number;
  /** Learn a scale `gamma` per feature (default true). */
  scale?: boolean;
  /** Learn a shift `beta` per feature (default true). */
  center?: boolean;
  /** Param dtype (default: the input's). */
  dtype?: DType;
}

/** Options of {@link dropout}. */
export interface DropoutOptions {
  /** Layer name, scoping its nodes (default `dropout1`, ...). */
  name?: string;
}

function pair(v: number | Pair, what: string, fail: (m: string) => Error): Pair {
  const p: Pair = typeof v === "number" ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1))
    throw fail(`${what} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return p;
}

/** True when `b` already has an input, param or output named `name`. */
function taken(b: GraphBuilder, name: string): boolean {
  try {
    b.ref(name);
    return true;
  } catch {
    return false;
  }
}

/** A default layer name whose param names (`<name>/<suffix>`) are free on `b`. */
function layerName(b: GraphBuilder, base: string, paramSuffixes: readonly string[]): string {
  for (;;) {
    const name = uniqueName(b, base);
    if (!paramSuffixes.some((s) => taken(b, `${name}/${s}`))) return name;
  }
}

/** `[N, C, H, W]` with a concrete channel count, or a ShapeError from `fail`. */
function channelsOf(x: Value, fail: (m: string) => Error): number {
  if (x.rank !== 4) throw fail(`expects an NCHW image batch [N, C, H, W], got ${shapeToString(x.shape)}`);
  const c = x.shape[1]!;
  if (typeof c !== "number") throw fail(`the channel axis of ${shapeToString(x.shape)} is symbolic ('${c}')`);
  return c;
}

function checkGroups(groups: number, inC: number, filters: number, fail: (m: string) => Error): void {
  if (!Number.isInteger(groups) || groups < 1) throw fail(`groups must be a positive integer, got ${groups}`);
  if (inC % groups !== 0) throw fail(`${inC} input channels are not a multiple of groups = ${groups}`);
  if (filters % groups !== 0) throw fail(`${filters} filters are not a multiple of groups = ${groups}`);
}

function checkFilters(filters: number, fail: (m: string) => Error): void {
  if (!Number.isInteger(filters) || filters < 1)
    throw fail(`filters must be a positive integer, got ${filters}`);
}

/** Adds the bias `[filters]` as `[1, filters, 1, 1]` and applies the activation, in the layer's scope. */
function finish(
  b: GraphBuilder,
  name: string,
  z: Value,
  bias: Value | null,
  filters: number,
  act: Activation | undefined,
): Value {
  return b.scope(name, () => {
    let y = bias ? b.add(z, b.reshape(bias, [1, filters, 1, 1])) : z;
    y = y.named("z");
    return activation(b, y, act ?? "identity");
  });
}

/**
 * A 2-D convolution layer: `x [N, C, H, W] -> activation(conv(x, W) + b) [N, filters, Ho, Wo]`,
 * with weights `<name>/W [filters, C/groups, kh, kw]` and bias `<name>/b [filters]` (added as
 * `[1, filters, 1, 1]`). The output size follows `padding` (`"valid"`: `H - kh + 1` at stride 1;
 * `"same"`: `ceil(H / stride)`). See {@link Conv2dLayerOptions}.
 * @example
 * let h = conv2d(b, x, 6, 5, { padding: "same", activation: "relu" }); // [N, 6, 28, 28]
 * h = maxPool2d(b, h, 2);                                              // [N, 6, 14, 14]
 */
export function conv2d(
  b: GraphBuilder,
  x: Value,
  filters: number,
  kernelSize: number | Pair,
  options: Conv2dLayerOptions = {},
): Value {
  const { name, W, bias, groups } = convParams(b, x, filters, kernelSize, options, "conv2d");
  const z = b.scope(name, () =>
    b.conv2d(x, W, {
      ...(options.strides !== undefined ? { strides: options.strides } : {}),
      ...(options.padding !== undefined ? { padding: options.padding } : {}),
      ...(options.dilations !== undefined ? { dilations: options.dilations } : {}),
      groups,
    }),
  );
  return finish(b, name, z, bias, filters, options.activation);
}

/**
 * The checks and params both convolution layers share. `conv2d` weights are
 * `[filters, C/groups, kh, kw]` with fans `C/groups·kh·kw` in, `filters·kh·kw` out; `conv2dTranspose`
 * weights are `[C, filters/groups, kh, kw]` (PyTorch's layout) with fans read from that layout.
 */
function convParams(
  b: GraphBuilder,
  x: Value,
  filters: number,
  kernelSize: number | Pair,
  options: Conv2dLayerOptions,
  layer: "conv2d" | "conv2dTranspose",
): { name: string; W: Value; bias: Value | null; groups: number } {
  const withBias = options.bias ?? true;
  const base = layer === "conv2d" ? "conv" : "convTranspose";
  const name = options.name ?? layerName(b, base, withBias ? ["W", "b"] : ["W"]);
  const fail = (m: string) => new ShapeError(`${layer} '${name}': ${m}`);
  checkFilters(filters, fail);
  const [kh, kw] = pair(kernelSize, "kernelSize", fail);
  const inC = channelsOf(x, fail);
  const groups = options.groups ?? 1;
  checkGroups(groups, inC, filters, fail);
  const dtype = options.dtype ?? x.dtype;
  const field = kh * kw;
  const [shape, fanIn, fanOut] =
    layer === "conv2d"
      ? [[filters, inC / groups, kh, kw], (inC / groups) * field, filters * field]
      : [[inC, filters / groups, kh, kw], (filters / groups) * field, inC * field];
  const wInit = withFans(options.weightInit ?? init.glorotUniform(), fanIn, fanOut);
  const W = b.param(`${name}/W`, shape, { init: wInit, dtype });
  const bias = withBias
    ? b.param(`${name}/b`, [filters], { init: options.biasInit ?? init.zeros(), dtype })
    : null;
  return { name, W, bias, groups };
}

/**
 * A transposed 2-D convolution layer ("deconvolution", e.g. to upsample in a decoder):
 * `x [N, C, Hi, Wi] -> activation(convT(x, W) + b) [N, filters, H, W]` with
 * `H = (Hi - 1)·stride - padTop - padBottom + dilation·(kh - 1) + 1 + outputPadding`
 * (`padding: "same"` gives `Hi·stride`). Weights `<name>/W [C, filters/groups, kh, kw]` (PyTorch's
 * `ConvTranspose2d` layout), bias `<name>/b [filters]`. Unset fans of the weight initialiser are
 * read from that layout as PyTorch does: fanIn = filters/groups × kh × kw, fanOut = C × kh × kw
 * (Keras' counts for one group).
 * @example
 * const up = conv2dTranspose(b, h, 16, 2, { strides: 2 }); // [N, C, 7, 7] -> [N, 16, 14, 14]
 */
export function conv2dTranspose(
  b: GraphBuilder,
  x: Value,
  filters: number,
  kernelSize: number | Pair,
  options: Conv2dTransposeLayerOptions = {},
): Value {
  const { name, W, bias, groups } = convParams(b, x, filters, kernelSize, options, "conv2dTranspose");
  const z = b.scope(name, () =>
    b.conv2dTranspose(x, W, {
      ...(options.strides !== undefined ? { strides: options.strides } : {}),
      ...(options.padding !== undefined ? { padding: options.padding } : {}),
      ...(options.dilations !== undefined ? { dilations: options.dilations } : {}),
      ...(options.outputPadding !== undefined ? { outputPadding: options.outputPadding } : {}),
      ...(options.outputSize !== undefined ? { outputSize: options.outputSize } : {}),
      groups,
    }),
  );
  return finish(b, name, z, bias, filters, options.activation);
}

function pool(
  kind: "maxPool2d" | "avgPool2d",
  b: GraphBuilder,
  x: Value,
  poolSize: number | Pair,
  options: PoolLayerOptions,
): Value {
  const name = options.name ?? uniqueName(b, kind === "maxPool2d" ? "maxPool" : "avgPool");
  const fail = (m: string) => new ShapeError(`${kind} '${name}': ${m}`);
  const size = pair(poolSize, "poolSize", fail);
  if (options.strides !== undefined) pair(options.strides, "strides", fail);
  channelsOf(x, fail);
  const opts = {
    ...(options.strides !== undefined ? { strides: options.strides } : {}),
    ...(options.padding !== undefined ? { padding: options.padding } : {}),
  };
  return b.scope(name, () =>
    kind === "maxPool2d" ? b.maxPool2d(x, size, opts) : b.avgPool2d(x, size, opts),
  );
}

/**
 * Max pooling over `poolSize` windows (strides default to the window): `[N, C, H, W] ->
 * [N, C, Ho, Wo]`. Padded pixels never win; ties go to the first maximum of a window.
 */
export function maxPool2d(
  b: GraphBuilder,
  x: Value,
  poolSize: number | Pair,
  options: PoolLayerOptions = {},
): Value {
  return pool("maxPool2d", b, x, poolSize, options);
}

/**
 * Average pooling over `poolSize` windows (strides default to the window): `[N, C, H, W] ->
 * [N, C, Ho, Wo]`. Padded pixels are not counted in a window's mean.
 */
export function avgPool2d(
  b: GraphBuilder,
  x: Value,
  poolSize: number | Pair,
  options: PoolLayerOptions = {},
): Value {
  return pool("avgPool2d", b, x, poolSize, options);
}

/** Global average pooling: the mean over height and width, `[N, C, H, W] -> [N, C]`. */
export function globalAvgPool(b: GraphBuilder, x: Value, options: ShapeLayerOptions = {}): Value {
  const name = options.name ?? uniqueName(b, "globalAvgPool");
  channelsOf(x, (m) => new ShapeError(`globalAvgPool '${name}': ${m}`));
  return b.scope(name, () => b.mean(x, [2, 3]));
}

/**
 * Flattens every axis after the first: `[N, d1, d2, ...] -> [N, d1·d2·...]` (a rank-1 `[N]`
 * becomes `[N, 1]`). The batch dim may be symbolic; the others must be concrete. No data moves
 * (a reshape of NCHW data keeps each sample's values in channel, row, column order).
 */
export function flatten(b: GraphBuilder, x: Value, options: ShapeLayerOptions = {}): Value {
  const name = options.name ?? uniqueName(b, "flatten");
  if (x.rank < 1) throw new ShapeError(`flatten '${name}': needs a batch axis, got a scalar`);
  let size = 1;
  for (const d of x.shape.slice(1)) {
    if (typeof d !== "number")
      throw new ShapeError(
        `flatten '${name}': only the batch dim may be symbolic, got ${shapeToString(x.shape)}`,
      );
    size *= d;
  }
  return b.scope(name, () => b.reshape(x, [x.shape[0]!, size]));
}

/**
 * Batch normalisation (Ioffe & Szegedy) of feature axis `axis`: every feature is normalised over
 * all the other axes (the batch, and height and width for images), then scaled by `gamma` and
 * shifted by `beta`. Works for `[N, C, H, W]` and `[N, F]` (default `axis` 1).
 *
 * - Training: `y = (x - mean)·gamma/sqrt(var + epsilon) + beta` with the batch mean and biased
 *   batch variance, and the running statistics move towards the batch's (PyTorch's rules):
 *   `runningMean = (1 - momentum)·runningMean + momentum·mean`, and likewise `runningVar` with the
 *   unbiased variance `var·n/(n - 1)` (`n` values per feature; `var` itself when `n` is 1).
 * - Evaluation: the same with the running statistics, computed as `x·s + t` with
 *   `s = gamma/sqrt(runningVar + epsilon)` and `t = beta - runningMean·s` per feature.
 *
 * Params: `<name>/gamma` (ones) and `<name>/beta` (zeros), trained; `<name>/runningMean` (zeros)
 * and `<name>/runningVar` (ones), state updated through {@link stateUpdate} after every training
 * step by {@link Model}, and saved with the model. The output is
 * `where(trainingFlag, training, evaluation)`; the Model's compiled graphs keep one branch each.
 * @example
 * let h = conv2d(b, x, 16, 3, { padding: "same", bias: false });
 * h = b.relu(batchNorm(b, h));
 */
export function batchNorm(b: GraphBuilder, x: Value, options: BatchNormOptions = {}): Value {
  const scale = options.scale ?? true;
  const center = options.center ?? true;
  const suffixes = ["runningMean", "runningVar", ...(scale ? ["gamma"] : []), ...(center ? ["beta"] : [])];
  const name = options.name ?? layerName(b, "batchNorm", suffixes);
  const fail = (m: string) => new ShapeError(`batchNorm '${name}': ${m}`);
  const momentum = options.momentum ?? 0.1;
  const epsilon = options.epsilon ?? 1e-5;
  if (!(momentum >= 0 && momentum <= 1))
    throw new RangeError(`batchNorm '${name}': momentum must be in [0, 1], got ${momentum}`);
  if (!(epsilon >= 0 && Number.isFinite(epsilon)))
    throw new RangeError(`batchNorm '${name}': epsilon must be a finite number >= 0, got ${epsilon}`);
  if (x.rank < 2)
    throw fail(`expects a batch of at least rank 2 ([N, F] or [N, C, H, W]), got ${shapeToString(x.shape)}`);
  const rawAxis = options.axis ?? 1;
  const axis = rawAxis < 0 ? rawAxis + x.rank : rawAxis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.rank)
    throw fail(`axis ${rawAxis} is out of range for input ${shapeToString(x.shape)}`);
  const features = x.shape[axis]!;
  if (typeof features !== "number")
    throw fail(`the feature axis ${axis} of ${shapeToString(x.shape)} is symbolic ('${features}')`);
  const dtype = options.dtype ?? x.dtype;
  const gamma = scale ? b.param(`${name}/gamma`, [features], { init: init.ones(), dtype }) : null;
  const beta = center ? b.param(`${name}/beta`, [features], { init: init.zeros(), dtype }) : null;
  const runMean = b.param(`${name}/runningMean`, [features], { init: init.zeros(), dtype });
  const runVar = b.param(`${name}/runningVar`, [features], { init: init.ones(), dtype });
  const training = trainingFlag(b);
  return b.scope(name, () => {
    const bshape = x.shape.map((d, i) => (i === axis ? d : 1));
    const axes = x.shape.map((_, i) => i).filter((i) => i !== axis);
    const perFeature = (v: Value) => b.reshape(v, bshape);
    const g = gamma ? perFeature(gamma) : null;
    const bt = beta ? perFeature(beta) : null;
    // training: batch statistics
    const mean = b.mean(x, axes, true).named("batchMean");
    const centred = b.sub(x, mean);
    const variance = b.mean(b.square(centred), axes, true).named("batchVar");
    const inv = b.div(1, b.sqrt(b.add(variance, epsilon)));
    let train = b.mul(centred, g ? b.mul(g, inv) : inv);
    if (bt) train = b.add(train, bt);
    // evaluation: running statistics, folded into one scale and shift per feature
    const sEval = g
      ? b.div(g, b.sqrt(b.add(perFeature(runVar), epsilon)))
      : b.div(1, b.sqrt(b.add(perFeature(runVar), epsilon)));
    const tEval = b.sub(bt ?? 0, b.mul(perFeature(runMean), sEval));
    const evalOut = b.add(b.mul(x, sEval), tEval);
    const out = b.where(training, train, evalOut).named("output");
    // running statistics
    const n = countOf(b, x, axes);
    const unbiased = b.mul(variance, b.div(n, b.maximum(b.sub(n, 1), 1)));
    const flat = (v: Value) => b.reshape(v, [features]);
    const moved = (running: Value, batch: Value) =>
      b.add(b.mul(running, 1 - momentum), b.mul(flat(batch), momentum));
    stateUpdate(b, `${name}/runningMean`, moved(runMean, mean));
    stateUpdate(b, `${name}/runningVar`, moved(runVar, unbiased));
    return out;
  });
}

/** The number of elements along `axes` of `x`, a number or (for symbolic dims) a scalar value. */
function countOf(b: GraphBuilder, x: Value, axes: readonly number[]): Value | number {
  let known = 1;
  let v: Value | null = null;
  for (const a of axes) {
    const d = x.shape[a]!;
    if (typeof d === "number") known *= d;
    else {
      // computed from constants only: evaluated once when a plan is built
      const size = b.sum(b.fill(1, [d], x.dtype));
      v = v ? b.mul(v, size) : size;
    }
  }
  return v ? b.mul(v, known) : known;
}

const dropoutSalts = new WeakMap<GraphBuilder, number>();

/** The next random-node salt on `b`: past every `randomUniform` salt already in the graph. */
function nextSalt(b: GraphBuilder): number {
  let next = dropoutSalts.get(b);
  if (next === undefined) {
    next = 1;
    for (let id = 0; id < b.size; id++) {
      const n = b.nodeOf(id);
      if (n.op === "randomUniform") next = Math.max(next, (n.attrs as { salt: number }).salt + 1);
    }
  }
  dropoutSalts.set(b, next + 1);
  return next;
}

/**
 * Inverted dropout: while training every element is zeroed with probability `rate` and the
 * others scaled by `1/(1 - rate)`, `y = x·(u >= rate)/(1 - rate)` with `u` uniform in [0, 1) drawn
 * from the step's random key ({@link randomKey}; a salt of its own per dropout layer, so layers
 * draw independent masks); in evaluation `y = x`. `rate` 0 returns `x` itself. The expected value
 * of `y` is `x` in both modes.
 * @throws RangeError when `rate` is not in [0, 1).
 */
export function dropout(b: GraphBuilder, x: Value, rate: number, options: DropoutOptions = {}): Value {
  const name = options.name ?? uniqueName(b, "dropout");
  if (!(typeof rate === "number" && rate >= 0 && rate < 1))
    throw new RangeError(`dropout '${name}': rate must be in [0, 1), got ${rate}`);
  if (rate === 0) return x;
  const training = trainingFlag(b);
  const key = randomKey(b);
  const salt = nextSalt(b);
  return b.scope(name, () => {
    const u = b.randomUniform(key, x.shape, salt, x.dtype).named("u");
    const kept = b.div(b.mul(x, b.greaterEqual(u, rate)), 1 - rate);
    return b.where(training, kept, x).named("output");
  });
}
