/**
 * Layers: functions that emit graph nodes through a {@link GraphBuilder}. They return ordinary
 * {@link Value}s, so they mix freely with raw builder ops to make any architecture.
 *
 * Two data conventions are supported:
 * - `"row"` (default): activations are `[batch, features]` and a dense layer computes `x·W + b`
 *   (PyImageSearch, the moons tutorial, Ng's ex4, the MNIST-IDX tutorial);
 * - `"column"`: activations are `[features, batch]` and a dense layer computes `W·a + b`
 *   with `W` of shape `[out, in]` and `b` of shape `[out, 1]` (Nielsen's `network.py`).
 *
 * The weight layout is independent of the convention (`weightLayout`): `"in-out"` stores `W` as
 * `[in, out]`, `"out-in"` as `[out, in]`; transposes are done by matmul flags, never materialised.
 * @module
 */
import {
  type DType,
  type GraphBuilder,
  type Init,
  ShapeError,
  shapesEqual,
  shapeToString,
  type Value,
} from "@gradgraph/core";
import { init, withFans } from "./init.js";

/** The activation functions layers know by name. */
export type ActivationName = "identity" | "sigmoid" | "tanh" | "relu" | "softmax";

/** Every {@link ActivationName}, in a stable order. */
export const ACTIVATIONS: readonly ActivationName[] = ["identity", "sigmoid", "tanh", "relu", "softmax"];

/**
 * An activation of your own: a function of the pre-activation that keeps its shape. A unary user
 * op's handle (`defineOp({ arity: 1, ... })`) is one, so `dense(b, x, 16, { activation: softplus })`
 * puts a user op in a layer.
 */
export type ActivationFn = (b: GraphBuilder, x: Value) => Value;

/** An activation by name, or a function (e.g. a user op's handle). */
export type Activation = ActivationName | ActivationFn;

/** Where activations keep their features: `[batch, features]` (`"row"`) or `[features, batch]` (`"column"`). */
export type Convention = "row" | "column";

/** How a weight matrix is stored: `[in, out]` or `[out, in]`. */
export type WeightLayout = "in-out" | "out-in";

/**
 * How a dense layer gets its bias:
 * - `true`: a separate bias parameter (`[out]` in the row convention, `[out, 1]` in the column one);
 * - `false`: no bias;
 * - `"ones-first"` / `"ones-last"`: the bias is folded into `W` as an extra input row/column, and the
 *   layer prepends/appends a constant column of ones to its input (Ng's ex4 keeps the bias as the
 *   first column of `Theta [out, in+1]`).
 */
export type BiasMode = boolean | "ones-first" | "ones-last";

/** Options of {@link activation}. */
export interface ActivationOptions {
  /** Axis softmax normalises over (default: the last axis). Other activations ignore it. */
  axis?: number;
  /** Name given to the node. */
  name?: string;
}

/**
 * Applies an activation. `"identity"` returns `x` itself (no node); `"softmax"` normalises over
 * `options.axis` (default last; use 0 for the column convention); a function (e.g. a user op's
 * handle) is called as `kind(b, x)` and must keep `x`'s shape.
 */
export function activation(
  b: GraphBuilder,
  x: Value,
  kind: Activation,
  options: ActivationOptions = {},
): Value {
  let y: Value;
  if (typeof kind === "function") {
    y = kind(b, x);
    if (!shapesEqual(y.shape, x.shape)) {
      throw new ShapeError(
        `activation '${kind.name || "<function>"}' changed the shape ${shapeToString(x.shape)} to ${shapeToString(y.shape)}; an activation must keep its input's shape`,
      );
    }
    return options.name === undefined ? y : y.named(options.name);
  }
  switch (kind) {
    case "identity":
      return x;
    case "sigmoid":
      y = b.sigmoid(x);
      break;
    case "tanh":
      y = b.tanh(x);
      break;
    case "relu":
      y = b.relu(x);
      break;
    case "softmax":
      y = b.softmax(x, options.axis ?? -1);
      break;
    default: {
      const never: never = kind;
      throw new Error(`unknown activation '${String(never)}' (known: ${ACTIVATIONS.join(", ")})`);
    }
  }
  return options.name === undefined ? y : y.named(options.name);
}

/** Options of {@link appendOnes}. */
export interface AppendOnesOptions {
  /** Put the ones before (`"first"`, Ng) or after (`"last"`, PyImageSearch, the default) the features. */
  position?: "first" | "last";
  /** The feature axis (default: the last axis; use 0 for the column convention). */
  axis?: number;
}

/**
 * The bias trick: adds a constant column of ones along the feature axis, so a following bias-free
 * dense layer learns the bias as one more weight row. `[N, F] -> [N, F+1]` (or `[F+1, N]` with
 * `axis: 0`). The batch dimension may be symbolic.
 */
export function appendOnes(b: GraphBuilder, x: Value, options: AppendOnesOptions = {}): Value {
  if (x.rank < 1)
    throw new ShapeError(`appendOnes: needs a value of rank >= 1, got ${shapeToString(x.shape)}`);
  const axis = normAxis(options.axis ?? -1, x.rank, "appendOnes");
  const shape = x.shape.map((d, i) => (i === axis ? 1 : d));
  const ones = b.fill(1, shape, x.dtype);
  const parts = (options.position ?? "last") === "first" ? [ones, x] : [x, ones];
  return b.concat(parts, axis);
}

/** Options of {@link dense} and {@link denseLayer}. */
export interface DenseOptions {
  /**
   * Layer name: prefixes its param names (`<name>/W`, `<name>/b`) and the scope of its nodes, so shape
   * errors name the layer. Default: `dense1`, `dense2`, ... (unique per builder).
   */
  name?: string;
  /** Activation applied to `z` (default `"identity"`): a name or a function such as a user op's handle. */
  activation?: Activation;
  /** Weight initialiser (default `init.glorotUniform()`); unset fans are filled with the layer's. */
  weightInit?: Init;
  /** Bias initialiser (default `init.zeros()`). */
  biasInit?: Init;
  /** Bias handling (default `true`: a separate bias param); see {@link BiasMode}. */
  bias?: BiasMode;
  /** Data convention (default `"row"`); see the module documentation. */
  convention?: Convention;
  /** Weight storage (default `"in-out"` for the row convention, `"out-in"` for the column one). */
  weightLayout?: WeightLayout;
  /** Fan-in given to fan-dependent initialisers (default: the input width, without a ones column). */
  fanIn?: number;
  /** Fan-out given to fan-dependent initialisers (default: `units`). */
  fanOut?: number;
  /** Expected input width; a mismatch throws a ShapeError naming the layer. */
  inputSize?: number;
  /** Name of the weight param (default `<name>/W`). */
  weightName?: string;
  /** Name of the bias param (default `<name>/b`). */
  biasName?: string;
  /** Param dtype (default: the input's). */
  dtype?: DType;
}

/** What {@link denseLayer} made. */
export interface DenseLayer {
  /** The layer's name. */
  readonly name: string;
  /** The activation output. */
  readonly output: Value;
  /** The pre-activation `z`. */
  readonly z: Value;
  /** The weight param (including the folded bias row/column for `"ones-*"` bias modes). */
  readonly weight: Value;
  /** The separate bias param, or null. */
  readonly bias: Value | null;
  /** Param names: `weight` and, when present, `bias`. */
  readonly params: { readonly weight: string; readonly bias: string | null };
  /**
   * For `"ones-*"` bias modes: where the folded bias sits in `weight` (axis and index), so that
   * regularisers can leave it out; null otherwise.
   */
  readonly foldedBias: { readonly axis: number; readonly index: number } | null;
}

const layerRegistry = new WeakMap<GraphBuilder, DenseLayer[]>();
const nameCounters = new WeakMap<GraphBuilder, Map<string, number>>();

/**
 * A default layer name unique on `b`: `base` followed by the next number of that base's counter
 * on this builder (`dense1`, `dense2`, ...; `conv1`, ...), skipping names of dense layers already
 * built. Layer helpers (this module's and the convolutional ones) use it for unnamed layers.
 */
export function uniqueName(b: GraphBuilder, base: string): string {
  let counters = nameCounters.get(b);
  if (!counters) {
    counters = new Map();
    nameCounters.set(b, counters);
  }
  const used = new Set((layerRegistry.get(b) ?? []).map((l) => l.name));
  let k = counters.get(base) ?? 0;
  let name: string;
  do {
    k++;
    name = `${base}${k}`;
  } while (used.has(name));
  counters.set(base, k);
  return name;
}

function normAxis(axis: number, rank: number, who: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(`${who}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/**
 * A fully connected layer, returning everything it made (see {@link dense} for the usual form).
 *
 * Row convention: `x [N, in] -> activation(x·W + b) [N, units]`; column convention:
 * `x [in, N] -> activation(W·x + b) [units, N]`. With `bias: "ones-first" | "ones-last"` the
 * layer adds a ones column to its input and `W` gets one more input row/column instead of a
 * separate bias. Params are declared as `<name>/W` and `<name>/b`.
 */
export function denseLayer(b: GraphBuilder, x: Value, units: number, options: DenseOptions = {}): DenseLayer {
  const name = options.name ?? uniqueName(b, "dense");
  const convention = options.convention ?? "row";
  const layout: WeightLayout = options.weightLayout ?? (convention === "row" ? "in-out" : "out-in");
  const biasMode = options.bias ?? true;
  const fail = (msg: string) => new ShapeError(`dense '${name}': ${msg}`);
  if (!Number.isInteger(units) || units < 1) throw fail(`units must be a positive integer, got ${units}`);
  if (convention !== "row" && convention !== "column") {
    throw fail(`convention must be "row" or "column", got ${String(convention)}`);
  }
  if (x.rank !== 2) {
    throw fail(
      `expects a rank-2 input (${convention === "row" ? "[batch, features]" : "[features, batch]"}), got ${shapeToString(x.shape)}`,
    );
  }
  const featAxis = convention === "row" ? 1 : 0;
  const inF = x.shape[featAxis]!;
  if (typeof inF !== "number") {
    throw fail(
      `the feature axis ${featAxis} of input ${shapeToString(x.shape)} is symbolic ('${inF}'); with the ${convention} convention features are on axis ${featAxis}`,
    );
  }
  if (options.inputSize !== undefined && options.inputSize !== inF) {
    throw fail(`expects ${options.inputSize} input features, got input ${shapeToString(x.shape)}`);
  }
  const folded = biasMode === "ones-first" || biasMode === "ones-last";
  const inW = folded ? inF + 1 : inF;
  const wShape = layout === "in-out" ? [inW, units] : [units, inW];
  const dtype = options.dtype ?? x.dtype;
  const weightName = options.weightName ?? `${name}/W`;
  const biasName = options.biasName ?? `${name}/b`;
  const wInit = withFans(
    options.weightInit ?? init.glorotUniform(),
    options.fanIn ?? inF,
    options.fanOut ?? units,
  );
  const W = b.param(weightName, wShape, { init: wInit, dtype });
  const bias =
    biasMode === true
      ? b.param(biasName, convention === "row" ? [units] : [units, 1], {
          init: options.biasInit ?? init.zeros(),
          dtype,
        })
      : null;
  const { z, output } = b.scope(name, () => {
    const a = folded
      ? appendOnes(b, x, { position: biasMode === "ones-first" ? "first" : "last", axis: featAxis })
      : x;
    let z =
      convention === "row"
        ? b.matmul(a, W, { transB: layout === "out-in" })
        : b.matmul(W, a, { transA: layout === "in-out" });
    if (bias) z = b.add(z, bias);
    z.named("z");
    const output = activation(b, z, options.activation ?? "identity", { axis: featAxis });
    return { z, output };
  });
  const inAxis = layout === "in-out" ? 0 : 1;
  const layer: DenseLayer = {
    name,
    output,
    z,
    weight: W,
    bias,
    params: { weight: weightName, bias: bias ? biasName : null },
    foldedBias: folded ? { axis: inAxis, index: biasMode === "ones-first" ? 0 : inF } : null,
  };
  let list = layerRegistry.get(b);
  if (!list) {
    list = [];
    layerRegistry.set(b, list);
  }
  list.push(layer);
  return layer;
}

/**
 * A fully connected layer; returns its activation output. See {@link denseLayer} for the
 * conventions and {@link DenseOptions} for the options.
 * @example
 * const h = dense(b, x, 16, { activation: "tanh" });            // row: tanh(x·W + b)
 * const a = dense(b, a0, 30, { convention: "column", activation: "sigmoid" }); // Nielsen: σ(W·a + b)
 */
export function dense(b: GraphBuilder, x: Value, units: number, options: DenseOptions = {}): Value {
  return denseLayer(b, x, units, options).output;
}

/** The dense layers built so far on `b` by this package's helpers, in order. */
export function layersOf(b: GraphBuilder): readonly DenseLayer[] {
  return layerRegistry.get(b) ?? [];
}

/**
 * The weight params of `layers` (default: every dense layer built on `b`) for weight decay, with
 * biases left out: separate bias params are skipped and a folded bias row/column (`"ones-*"` modes)
 * is sliced off. Pass the result to {@link l2Penalty}.
 */
export function weightsOf(b: GraphBuilder, layers: readonly DenseLayer[] = layersOf(b)): Value[] {
  return layers.map((l) => (l.foldedBias ? withoutBias(b, l.weight, l.foldedBias) : l.weight));
}

/**
 * `w` without one row/column along `axis` at `index` (e.g. Ng's `Theta[:, 1:]` is
 * `withoutBias(b, theta, {axis: 1, index: 0})`).
 */
export function withoutBias(
  b: GraphBuilder,
  w: Value,
  where: { readonly axis: number; readonly index: number },
): Value {
  const axis = normAxis(where.axis, w.rank, "withoutBias");
  const size = w.shape[axis]!;
  if (typeof size !== "number")
    throw new ShapeError(`withoutBias: axis ${axis} of ${shapeToString(w.shape)} is symbolic`);
  const begin = w.shape.map(() => 0);
  const end: (number | null)[] = w.shape.map(() => null);
  if (where.index === 0) begin[axis] = 1;
  else if (where.index === size - 1) end[axis] = size - 1;
  else
    throw new ShapeError(
      `withoutBias: index ${where.index} is neither the first nor the last along axis ${axis}`,
    );
  return b.slice(w, begin, end);
}

/**
 * How an {@link mlp} handles biases:
 * - `"vector"` (default): a separate bias param in every layer;
 * - `"none"`: no biases at all;
 * - `"ones-per-layer"`: every layer folds its bias into `W` through a ones column on its input
 *   (Ng's ex4; ones first by default);
 * - `"ones-input"`: PyImageSearch's trick: ones are added to the network input only; every hidden
 *   layer gets one extra *learned* unit (weights `(n_in+1) x (n_out+1)`), which the next layer uses as
 *   its bias input; the last layer has `(n+1) x n_out` weights (ones last by default).
 */
export type MlpBias = "vector" | "none" | "ones-per-layer" | "ones-input";

/** Options of {@link mlp}. */
export interface MlpOptions {
  /**
   * Activation of every layer (one name), or one per layer (`sizes.length - 1` names).
   * Default `"sigmoid"` everywhere (the classic tutorials).
   */
  activation?: Activation | readonly Activation[];
  /** Activation of the last layer, overriding `activation` for it. */
  outputActivation?: Activation;
  /** Weight initialiser for every layer, or one per layer (default `init.glorotUniform()`). */
  weightInit?: Init | readonly Init[];
  /** Bias initialiser (default zeros). */
  biasInit?: Init;
  /** Bias scheme (default `"vector"`); see {@link MlpBias}. */
  bias?: MlpBias;
  /** Where `"ones-*"` bias schemes put the ones (default: first for per-layer, last for input). */
  onesPosition?: "first" | "last";
  /** Data convention (default `"row"`). */
  convention?: Convention;
  /** Weight storage of every layer (default follows the convention). */
  weightLayout?: WeightLayout;
  /** Layer names, one per layer (default `<prefix>1`, `<prefix>2`, ...). */
  names?: readonly string[];
  /** Prefix of default layer names (default `"layer"`). */
  prefix?: string;
}

function perLayer<T>(v: T | readonly T[] | undefined, n: number, what: string, fallback: T): T[] {
  if (v === undefined) return Array.from({ length: n }, () => fallback);
  if (Array.isArray(v)) {
    if (v.length !== n) throw new RangeError(`mlp: ${what} has ${v.length} entries for ${n} layers`);
    return [...(v as readonly T[])];
  }
  return Array.from({ length: n }, () => v as T);
}

/**
 * A stack of dense layers. `sizes` lists every layer width *including the input*, as the tutorials
 * write them (`[784, 30, 10]`); `sizes[0]` must match `x`'s feature count. Returns the last layer's
 * output. Use {@link layersOf} / {@link weightsOf} afterwards to reach the params.
 * @example
 * const out = mlp(b, x, [2, 16, 16, 2], { activation: ["relu", "tanh", "identity"] });
 */
export function mlp(b: GraphBuilder, x: Value, sizes: readonly number[], options: MlpOptions = {}): Value {
  const n = sizes.length - 1;
  if (n < 1)
    throw new RangeError(`mlp: needs at least two sizes (input and output), got [${sizes.join(", ")}]`);
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1)
      throw new RangeError(`mlp: sizes must be positive integers, got [${sizes.join(", ")}]`);
  }
  const convention = options.convention ?? "row";
  const featAxis = convention === "row" ? 1 : 0;
  if (x.rank !== 2 || x.shape[featAxis] !== sizes[0]) {
    throw new ShapeError(
      `mlp: sizes[0] is ${sizes[0]} but the input has shape ${shapeToString(x.shape)} (features on axis ${featAxis} for the ${convention} convention)`,
    );
  }
  const acts = perLayer<Activation>(options.activation, n, "activation", "sigmoid");
  if (options.outputActivation) acts[n - 1] = options.outputActivation;
  const inits = perLayer<Init>(options.weightInit, n, "weightInit", init.glorotUniform());
  const scheme = options.bias ?? "vector";
  const pos = options.onesPosition ?? (scheme === "ones-input" ? "last" : "first");
  const ones: BiasMode = pos === "first" ? "ones-first" : "ones-last";
  if (options.names && options.names.length !== n) {
    throw new RangeError(`mlp: names has ${options.names.length} entries for ${n} layers`);
  }
  let h = x;
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    let bias: BiasMode;
    let units = sizes[i + 1]!;
    switch (scheme) {
      case "vector":
        bias = true;
        break;
      case "none":
        bias = false;
        break;
      case "ones-per-layer":
        bias = ones;
        break;
      case "ones-input":
        bias = i === 0 ? ones : false;
        if (!last) units += 1;
        break;
      default: {
        const never: never = scheme;
        throw new RangeError(`mlp: unknown bias scheme '${String(never)}'`);
      }
    }
    const opts: DenseOptions = {
      name: options.names?.[i] ?? uniqueName(b, options.prefix ?? "layer"),
      activation: acts[i]!,
      weightInit: inits[i]!,
      bias,
      convention,
      fanIn: sizes[i]!,
      fanOut: sizes[i + 1]!,
    };
    if (options.biasInit) opts.biasInit = options.biasInit;
    if (options.weightLayout) opts.weightLayout = options.weightLayout;
    h = dense(b, h, units, opts);
  }
  return h;
}
