/**
 * Declaring graphs in code.
 *
 * A {@link GraphBuilder} hands out {@link Value} handles; every op call infers the output shape
 * at once and throws a {@link ShapeError} naming the op, the node and the input shapes when they
 * do not fit. `build()` commits all new nodes in one immer `produce`, so building n nodes is
 * linear, and the result shares every node of the graph it extended.
 * @module
 */
import { freeze, produce } from "immer";
import type { DType } from "./dtype.js";
import {
  describeNode,
  emptyGraph,
  type Graph,
  GraphError,
  type GraphNode,
  type NodeId,
  type ParamSpec,
} from "./graph.js";
import { checkInit, type Init } from "./init.js";
import { nameTable } from "./names.js";
import { type Padding4, type PaddingSpec, type Pair, resolvePadding } from "./ops/conv-geometry.js";
import type { CustomArity, CustomOp } from "./ops/define.js";
import { type AttrsOf, isOpName, type OpName, opDef, userOpDef } from "./ops/index.js";
import { jsonAttrs } from "./ops/jsonAttrs.js";
import type { LayerNormAttrs } from "./ops/layerNorm.js";
import type { OpDef } from "./ops/types.js";
import { type ConcreteShape, type Dim, type Shape, ShapeError, shapeToString, sizeOf } from "./shape.js";
import { Tensor } from "./tensor.js";

/** Something usable where an op expects an input: a graph value or a plain number (a scalar constant). */
export type ValueLike = Value | number;

/** Options of {@link GraphBuilder.param}. */
export interface ParamOptions {
  /** Initialiser (default: zeros). */
  init?: Init;
  /** Element type (default: the builder's). */
  dtype?: DType;
}

/** Options of {@link GraphBuilder.conv2d}. */
export interface Conv2dOptions {
  /** Window step, one number or `[h, w]` (default 1). */
  strides?: number | Pair;
  /** `"valid"` (default), `"same"`, a number, `[h, w]` or `[top, bottom, left, right]`. */
  padding?: PaddingSpec;
  /** Spacing of the kernel taps, one number or `[h, w]` (default 1). */
  dilations?: number | Pair;
  /** Channel groups (default 1; the channel count for a depthwise convolution). */
  groups?: number;
}

/** Options of {@link GraphBuilder.conv2dTranspose}. */
export interface Conv2dTransposeOptions extends Conv2dOptions {
  /** Extra rows/columns added after the output (to pick among the sizes a stride allows; default 0). */
  outputPadding?: number | Pair;
  /** The output `[height, width]` outright (overrides `outputPadding`). */
  outputSize?: Pair;
}

/** Options of {@link GraphBuilder.maxPool2d} and {@link GraphBuilder.avgPool2d}. */
export interface Pool2dOptions {
  /** Window step (default: the window size). */
  strides?: number | Pair;
  /** `"valid"` (default), `"same"`, a number, `[h, w]` or `[top, bottom, left, right]`. */
  padding?: PaddingSpec;
}

function pairOf(v: number | Pair | undefined, dflt: number): Pair {
  if (v === undefined) return [dflt, dflt];
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/** The concrete size of axis `axis` of a convolution weight. */
function dimOf(op: string, w: Value, axis: number): number {
  const d = w.shape[axis];
  if (w.rank !== 4 || typeof d !== "number")
    throw new ShapeError(
      `${op}: weights must be a concrete rank-4 [O, C/groups, kh, kw], got ${shapeToString(w.shape)}`,
    );
  return d;
}

/** `[H, W]` of an NCHW value. */
function hwOf(op: string, x: Value): [Dim, Dim] {
  if (x.rank !== 4)
    throw new ShapeError(`${op}: expected an NCHW image batch [N, C, H, W], got ${shapeToString(x.shape)}`);
  return [x.shape[2]!, x.shape[3]!];
}

/** Options of {@link GraphBuilder} construction. */
export interface BuilderOptions {
  /** Default dtype for inputs, params and constants (default float32). */
  dtype?: DType;
}

/**
 * A symbolic value: a handle to one node under construction, with the node's `id`, inferred `shape`
 * and `dtype`. It holds no numbers: values exist only when a compiled plan runs. Its methods add ops
 * through the builder that made it, so expressions read like math: `x.matmul(W).add(b).sigmoid()`;
 * a number argument becomes a scalar constant of the value's dtype. Ops the methods do not cover are
 * methods of the {@link GraphBuilder} (`g.concat`, `g.conv2d`, `g.op(name, inputs, attrs)`).
 *
 * @example
 * ```ts
 * import { GraphBuilder } from "@gradgraph/core";
 *
 * const g = new GraphBuilder({ dtype: "float64" });
 * const x = g.input("x", [3]);
 * const y = x.mul(2).add(1).tanh().sum(); // each call adds one node
 * console.log(y.shape); // [] (a scalar)
 * g.output("y", y);
 * ```
 */
export class Value {
  /** @internal */
  constructor(
    /** The builder that owns the node. */
    readonly builder: GraphBuilder,
    /** The node id. */
    readonly id: NodeId,
    /** The node's (possibly symbolic) shape. */
    readonly shape: Shape,
    /** The node's dtype. */
    readonly dtype: DType,
  ) {}

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }
  /** The graph node behind this value. */
  get node(): GraphNode {
    return this.builder.nodeOf(this.id);
  }
  /** Gives the node a name (shown in errors, printouts and DOT); returns this value. */
  named(name: string): Value {
    this.builder.rename(this.id, name);
    return this;
  }
  /** `this + other` (broadcasting). */
  add(other: ValueLike): Value {
    return this.builder.add(this, other);
  }
  /** `this - other` (broadcasting). */
  sub(other: ValueLike): Value {
    return this.builder.sub(this, other);
  }
  /** `this * other` (broadcasting). */
  mul(other: ValueLike): Value {
    return this.builder.mul(this, other);
  }
  /** `this / other` (broadcasting). */
  div(other: ValueLike): Value {
    return this.builder.div(this, other);
  }
  /** `this ** other` (broadcasting). */
  pow(other: ValueLike): Value {
    return this.builder.pow(this, other);
  }
  /** Elementwise maximum. */
  maximum(other: ValueLike): Value {
    return this.builder.maximum(this, other);
  }
  /** Elementwise minimum. */
  minimum(other: ValueLike): Value {
    return this.builder.minimum(this, other);
  }
  /** `-this`. */
  neg(): Value {
    return this.builder.neg(this);
  }
  /** `exp(this)`. */
  exp(): Value {
    return this.builder.exp(this);
  }
  /** `log(this)`. */
  log(): Value {
    return this.builder.log(this);
  }
  /** `tanh(this)`. */
  tanh(): Value {
    return this.builder.tanh(this);
  }
  /** `sigmoid(this)`. */
  sigmoid(): Value {
    return this.builder.sigmoid(this);
  }
  /** `relu(this)`. */
  relu(): Value {
    return this.builder.relu(this);
  }
  /** `this * this`. */
  square(): Value {
    return this.builder.square(this);
  }
  /** `sqrt(this)`. */
  sqrt(): Value {
    return this.builder.sqrt(this);
  }
  /** `abs(this)`. */
  abs(): Value {
    return this.builder.abs(this);
  }
  /** `softplus(this)`: `log(1 + exp(this))`, stable. */
  softplus(): Value {
    return this.builder.softplus(this);
  }
  /** `silu(this)`: `this * sigmoid(this)`. */
  silu(): Value {
    return this.builder.silu(this);
  }
  /** `gelu(this)`, the exact form. */
  gelu(): Value {
    return this.builder.gelu(this);
  }
  /** `erf(this)`. */
  erf(): Value {
    return this.builder.erf(this);
  }
  /** `leakyRelu(this, slope)`. */
  leakyRelu(slope: ValueLike = 0.01): Value {
    return this.builder.leakyRelu(this, slope);
  }
  /** `clip(this, min, max)`. */
  clip(min: ValueLike, max: ValueLike): Value {
    return this.builder.clip(this, min, max);
  }
  /** Matrix product with optional transposes (batched over leading axes). */
  matmul(other: Value, opts: { transA?: boolean; transB?: boolean } = {}): Value {
    return this.builder.matmul(this, other, opts);
  }
  /** Permutes axes (reverses them by default). */
  transpose(perm?: readonly number[]): Value {
    return this.builder.transpose(this, perm);
  }
  /** The transpose of a 2-D value. */
  get T(): Value {
    return this.builder.transpose(this);
  }
  /** Same data, new shape. */
  reshape(shape: readonly Dim[]): Value {
    return this.builder.reshape(this, shape);
  }
  /** Broadcasts to `shape`. */
  broadcastTo(shape: readonly Dim[]): Value {
    return this.builder.broadcastTo(this, shape);
  }
  /** Sum over `axes` (all by default). */
  sum(axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.builder.sum(this, axes, keepdims);
  }
  /** Mean over `axes` (all by default). */
  mean(axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.builder.mean(this, axes, keepdims);
  }
  /** Maximum over `axes` (all by default). */
  max(axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.builder.max(this, axes, keepdims);
  }
  /** Softmax along `axis` (default last). */
  softmax(axis = -1): Value {
    return this.builder.softmax(this, axis);
  }
  /** Log-softmax along `axis` (default last). */
  logSoftmax(axis = -1): Value {
    return this.builder.logSoftmax(this, axis);
  }
  /**
   * Layer normalisation along `axis` (default last) with gain `gamma` and bias `beta`; see
   * {@link GraphBuilder.layerNorm}.
   */
  layerNorm(gamma: Value, beta: Value, options: Partial<LayerNormAttrs> = {}): Value {
    return this.builder.layerNorm(this, gamma, beta, options);
  }
  /** log(sum(exp(x))) over `axes`. */
  logSumExp(axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.builder.logSumExp(this, axes, keepdims);
  }
  /** Identity whose gradient is zero. */
  stopGradient(): Value {
    return this.builder.stopGradient(this);
  }
  /** `this > other` as 1/0. */
  greater(other: ValueLike): Value {
    return this.builder.greater(this, other);
  }
  /** `this < other` as 1/0. */
  less(other: ValueLike): Value {
    return this.builder.less(this, other);
  }
  /** Takes `x[begin:end]` per axis. */
  slice(begin: readonly number[], end: readonly (number | null)[]): Value {
    return this.builder.slice(this, begin, end);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

function axesArg(axes: number | readonly number[] | null | undefined): number[] | null {
  if (axes === undefined || axes === null) return null;
  return typeof axes === "number" ? [axes] : [...axes];
}

/**
 * Declares a graph in code. `input` declares a value fed at run time (its shape may hold symbolic
 * dimensions such as `"N"`), `param` a trainable parameter with its initialiser, and each op method
 * (`matmul`, `add`, `softmax`, `conv2d`, ...) adds one node and returns its {@link Value}. Every node's
 * shape is inferred as it is made, so a mismatch throws a {@link ShapeError} naming the op, the node
 * and the shapes at the line that caused it. `output` names the results, and `build()` returns the
 * immutable {@link Graph} (a builder builds once; {@link GraphBuilder.extend} adds nodes to an
 * existing graph, as transforms such as `grad` do).
 *
 * @example
 * ```ts
 * import { GraphBuilder, printGraph } from "@gradgraph/core";
 *
 * const g = new GraphBuilder({ dtype: "float32" });
 * const x = g.input("x", ["N", 2]); // "N": a batch dimension bound at run time
 * const W = g.param("W", [2, 1], { init: { kind: "glorotUniform" } });
 * const b = g.param("b", [1]);
 * g.output("y", x.matmul(W).add(b).sigmoid());
 * const graph = g.build(); // a frozen Graph: plain data
 * console.log(printGraph(graph)); // %0 = input "x" : f32[N,2] ...
 * ```
 */
export class GraphBuilder {
  /** Default dtype for new inputs, params and constants. */
  readonly dtype: DType;
  private readonly base: Graph;
  private readonly pending: GraphNode[] = [];
  // Maps, not plain objects: any string (`__proto__`, `constructor`, ...) is a valid name
  private readonly newInputs = new Map<string, NodeId>();
  private readonly newParams = new Map<string, ParamSpec>();
  private readonly newOutputs = new Map<string, NodeId>();
  private readonly renamed = new Map<NodeId, string>();
  private readonly scopes: string[] = [];
  private readonly scalarCache = new Map<string, Value>();
  private built = false;
  private declaring = false;

  /** Starts a new, empty graph. */
  constructor(options: BuilderOptions = {}) {
    this.base = emptyGraph();
    this.dtype = options.dtype ?? "float32";
  }

  /** A builder that appends to an existing graph (the graph itself is not changed). */
  static extend(graph: Graph, options: BuilderOptions = {}): GraphBuilder {
    const b = new GraphBuilder(options);
    (b as unknown as { base: Graph }).base = graph;
    if (!options.dtype) {
      const first = graph.nodes.find((n) => n.op === "input" || n.op === "param");
      (b as unknown as { dtype: DType }).dtype = first?.dtype ?? "float32";
    }
    return b;
  }

  /** Number of nodes so far (base plus new). */
  get size(): number {
    return this.base.nodes.length + this.pending.length;
  }

  /** The node with id `id` (base or new). */
  nodeOf(id: NodeId): GraphNode {
    const nb = this.base.nodes.length;
    const n = id < nb ? this.base.nodes[id] : this.pending[id - nb];
    if (!n) throw new GraphError(`no node #${id}`);
    if (this.renamed.has(id)) return { ...n, name: this.renamed.get(id)! };
    return n;
  }

  /** A handle to an existing node: by id, or by output, input or param name. */
  ref(ref: NodeId | string): Value {
    let id: NodeId;
    if (typeof ref === "number") id = ref;
    else if (this.newOutputs.has(ref)) id = this.newOutputs.get(ref)!;
    else if (this.newInputs.has(ref)) id = this.newInputs.get(ref)!;
    else if (this.newParams.has(ref)) id = this.newParams.get(ref)!.node;
    else if (Object.hasOwn(this.base.outputs, ref)) id = this.base.outputs[ref]!;
    else if (Object.hasOwn(this.base.inputs, ref)) id = this.base.inputs[ref]!;
    else if (Object.hasOwn(this.base.params, ref)) id = this.base.params[ref]!.node;
    else throw new GraphError(`no output, input or param named '${ref}'`);
    const n = this.nodeOf(id);
    return new Value(this, id, n.shape, n.dtype);
  }

  /** Runs `fn` with `name` pushed on the name scope: nodes named inside get `name/...`. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** @internal sets a node's name */
  rename(id: NodeId, name: string): void {
    const full = this.scoped(name) ?? name;
    const nb = this.base.nodes.length;
    if (id >= nb) {
      const n = this.pending[id - nb]!;
      this.pending[id - nb] = { ...n, name: full };
    } else this.renamed.set(id, full);
  }

  private scoped(name: string | undefined): string | undefined {
    if (name === undefined) return undefined;
    return this.scopes.length ? `${this.scopes.join("/")}/${name}` : name;
  }

  private hasName(name: string): boolean {
    return (
      this.newInputs.has(name) ||
      this.newParams.has(name) ||
      Object.hasOwn(this.base.inputs, name) ||
      Object.hasOwn(this.base.params, name)
    );
  }

  /**
   * Adds a node of any op: a built-in op by name (its attributes typed), or a user op registered
   * with `defineOp`, by name or handle. Attributes are validated and the output shape inferred
   * now; a mismatch throws a ShapeError naming the op, the node (and its name) and the input
   * shapes. An unknown op name throws a GraphError.
   * @example
   * b.op("matmul", [x, W], { transB: true }, "logits");
   * b.op("softplus", [x]); // a user op registered under that name
   */
  op<K extends OpName>(
    op: K,
    inputs: readonly ValueLike[],
    attrs?: Partial<AttrsOf<K>>,
    name?: string,
  ): Value;
  op<A extends object, N extends CustomArity>(
    op: CustomOp<A, N>,
    inputs: readonly ValueLike[],
    attrs?: Partial<A>,
    name?: string,
  ): Value;
  op(op: string, inputs: readonly ValueLike[], attrs?: object, name?: string): Value;
  op(
    op: string | { readonly name: string },
    inputs: readonly ValueLike[],
    attrs: object = {},
    name?: string,
  ): Value {
    const opName = typeof op === "function" || (typeof op === "object" && op !== null) ? op.name : op;
    if (this.built) throw new GraphError("this builder has already built its graph; start a new one");
    if (typeof opName !== "string") throw new GraphError(`unknown op ${String(opName)}`);
    const custom = userOpDef(opName);
    if (!isOpName(opName) && !custom) {
      throw new GraphError(
        `unknown op '${opName}': neither a built-in op nor registered with defineOp (define it before building)`,
      );
    }
    if ((opName === "input" || opName === "param") && !this.declaring) {
      throw new GraphError(
        `use GraphBuilder.${opName}() to declare ${opName}s, so they are registered by name`,
      );
    }
    const def = (custom as OpDef<unknown> | undefined) ?? opDef(opName);
    const dtypeHint = inputs.find((v): v is Value => v instanceof Value)?.dtype ?? this.dtype;
    const ins = inputs.map((v) => this.lift(v, dtypeHint));
    const id = this.size;
    const fullName = this.scoped(name);
    const where = () =>
      `${opName} at node #${id}${fullName ? ` '${fullName}'` : ""}${this.scopes.length && !fullName ? ` in scope '${this.scopes.join("/")}'` : ""}`;
    const inputsDesc = () =>
      ins.length
        ? ` (inputs: ${ins.map((v) => `${describeNode(this.nodeOf(v.id))} ${shapeToString(v.shape)} ${v.dtype}`).join(", ")})`
        : "";
    if (def.arity !== "variadic" && ins.length !== def.arity) {
      throw new ShapeError(`${where()}: expects ${def.arity} inputs, got ${ins.length}`);
    }
    for (const v of ins) {
      if (v.builder !== this) throw new GraphError(`${where()}: an input belongs to a different builder`);
    }
    let normalized: unknown;
    let info: { shape: Shape; dtype: DType };
    try {
      normalized = def.attrs(attrs);
      // a user op's attributes are stored as the JSON data they serialise to
      if (custom) normalized = jsonAttrs(normalized);
      info = def.shape(
        ins.map((v) => ({ shape: v.shape, dtype: v.dtype })),
        normalized,
      );
    } catch (e) {
      const msg =
        e instanceof Error
          ? e.message.replace(new RegExp(`^${escapeRegExp(opName)}( '[^']*')?: `), "")
          : String(e);
      const err = new ShapeError(`${where()}: ${msg}${inputsDesc()}`);
      throw err;
    }
    const node: GraphNode = {
      id,
      op: opName as GraphNode["op"],
      inputs: ins.map((v) => v.id),
      attrs: normalized as GraphNode["attrs"],
      shape: [...info.shape],
      dtype: info.dtype,
      ...(fullName !== undefined ? { name: fullName } : {}),
    };
    this.pending.push(node);
    return new Value(this, id, node.shape, node.dtype);
  }

  /**
   * Adds a node of a user op (a `defineOp` handle or a registered name): the same as
   * {@link GraphBuilder.op}, with the handle's attribute type.
   * @example
   * const y = b.call(softplus, [x]);
   */
  call<A extends object, N extends CustomArity>(
    op: CustomOp<A, N> | string,
    inputs: readonly ValueLike[],
    attrs?: Partial<A>,
    name?: string,
  ): Value {
    return this.op(typeof op === "string" ? op : op.name, inputs, attrs ?? {}, name);
  }

  private lift(v: ValueLike, dtype: DType): Value {
    if (v instanceof Value) return v;
    if (typeof v === "number") return this.scalar(v, dtype);
    throw new GraphError(`expected a Value or a number, got ${String(v)}`);
  }

  // ---- sources -------------------------------------------------------------------------

  /** Declares a named input fed at run time. Dims may be symbols such as `"N"` (the batch size). */
  input(name: string, shape: Shape, dtype: DType = this.dtype): Value {
    if (this.hasName(name)) throw new GraphError(`an input or param named '${name}' already exists`);
    this.declaring = true;
    let v: Value;
    try {
      v = this.op("input", [], { name, shape: [...shape], dtype }, name);
    } finally {
      this.declaring = false;
    }
    this.newInputs.set(name, v.id);
    return v;
  }

  /**
   * Declares a trainable parameter of concrete shape, initialised as `options.init` says (zeros by
   * default). An invalid initialiser (unknown kind, a field that is not a number, `values` of the
   * wrong length) throws a GraphError here, naming the param.
   */
  param(name: string, shape: ConcreteShape, options: ParamOptions = {}): Value {
    if (this.hasName(name)) throw new GraphError(`an input or param named '${name}' already exists`);
    const dtype = options.dtype ?? this.dtype;
    let init: Init;
    try {
      const size = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0);
      init = checkInit(options.init ?? { kind: "zeros" }, size ? sizeOf(shape) : undefined);
    } catch (e) {
      throw new GraphError(`param '${name}': ${(e as Error).message}`);
    }
    this.declaring = true;
    let v: Value;
    try {
      v = this.op("param", [], { name, shape: [...shape], dtype }, name);
    } finally {
      this.declaring = false;
    }
    this.newParams.set(name, { node: v.id, shape: [...shape], dtype, init });
    return v;
  }

  /** A constant tensor (a Tensor, a nested array or a number). */
  constant(value: Tensor | number | readonly unknown[], dtype: DType = this.dtype): Value {
    const t = value instanceof Tensor ? value : Tensor.from(value as number, { dtype: "float64" });
    return this.op("constant", [], { shape: [...t.shape], values: Array.from(t.data), dtype });
  }

  /** A scalar constant; repeated values are shared within one builder. */
  scalar(value: number, dtype: DType = this.dtype): Value {
    const key = `${dtype}:${Object.is(value, -0) ? "-0" : value}`;
    const hit = this.scalarCache.get(key);
    if (hit) return hit;
    const v = this.op("fill", [], { value, shape: [], dtype });
    this.scalarCache.set(key, v);
    return v;
  }

  /** A tensor of `shape` (symbols allowed) filled with `value`. */
  fill(value: number, shape: Shape, dtype: DType = this.dtype): Value {
    return this.op("fill", [], { value, shape: [...shape], dtype });
  }

  /** Zeros of `shape`. */
  zeros(shape: Shape, dtype: DType = this.dtype): Value {
    return this.fill(0, shape, dtype);
  }

  /** Ones of `shape`. */
  ones(shape: Shape, dtype: DType = this.dtype): Value {
    return this.fill(1, shape, dtype);
  }

  // ---- elementwise ---------------------------------------------------------------------

  /** `-x` */
  neg(x: ValueLike): Value {
    return this.op("neg", [x]);
  }
  /** `exp(x)` */
  exp(x: ValueLike): Value {
    return this.op("exp", [x]);
  }
  /** `log(x)` */
  log(x: ValueLike): Value {
    return this.op("log", [x]);
  }
  /** `tanh(x)` */
  tanh(x: ValueLike): Value {
    return this.op("tanh", [x]);
  }
  /** `1 / (1 + exp(-x))` */
  sigmoid(x: ValueLike): Value {
    return this.op("sigmoid", [x]);
  }
  /** `max(x, 0)` */
  relu(x: ValueLike): Value {
    return this.op("relu", [x]);
  }
  /** `x * x` */
  square(x: ValueLike): Value {
    return this.op("square", [x]);
  }
  /** `sqrt(x)` */
  sqrt(x: ValueLike): Value {
    return this.op("sqrt", [x]);
  }
  /** `|x|` */
  abs(x: ValueLike): Value {
    return this.op("abs", [x]);
  }
  /** `sign(x)` */
  sign(x: ValueLike): Value {
    return this.op("sign", [x]);
  }
  /** `a + b` */
  add(a: ValueLike, b: ValueLike): Value {
    return this.op("add", [a, b]);
  }
  /** `a - b` */
  sub(a: ValueLike, b: ValueLike): Value {
    return this.op("sub", [a, b]);
  }
  /** `a * b` */
  mul(a: ValueLike, b: ValueLike): Value {
    return this.op("mul", [a, b]);
  }
  /** `a / b` */
  div(a: ValueLike, b: ValueLike): Value {
    return this.op("div", [a, b]);
  }
  /** `a ** b` */
  pow(a: ValueLike, b: ValueLike): Value {
    return this.op("pow", [a, b]);
  }
  /** Elementwise maximum. */
  maximum(a: ValueLike, b: ValueLike): Value {
    return this.op("maximum", [a, b]);
  }
  /** Elementwise minimum. */
  minimum(a: ValueLike, b: ValueLike): Value {
    return this.op("minimum", [a, b]);
  }
  /** `a > b` as 1/0. */
  greater(a: ValueLike, b: ValueLike): Value {
    return this.op("greater", [a, b]);
  }
  /** `a >= b` as 1/0. */
  greaterEqual(a: ValueLike, b: ValueLike): Value {
    return this.op("greaterEqual", [a, b]);
  }
  /** `a < b` as 1/0. */
  less(a: ValueLike, b: ValueLike): Value {
    return this.op("less", [a, b]);
  }
  /** `a <= b` as 1/0. */
  lessEqual(a: ValueLike, b: ValueLike): Value {
    return this.op("lessEqual", [a, b]);
  }
  /** `a == b` as 1/0. */
  equal(a: ValueLike, b: ValueLike): Value {
    return this.op("equal", [a, b]);
  }
  /** `cond != 0 ? a : b` */
  where(cond: ValueLike, a: ValueLike, b: ValueLike): Value {
    return this.op("where", [cond, a, b]);
  }

  // ---- structural ----------------------------------------------------------------------

  /** Matrix product (batched over leading axes) with transpose flags. */
  matmul(a: Value, b: Value, opts: { transA?: boolean; transB?: boolean } = {}): Value {
    return this.op("matmul", [a, b], { transA: opts.transA ?? false, transB: opts.transB ?? false });
  }
  /** Permutes axes (reverses them by default). */
  transpose(x: Value, perm?: readonly number[]): Value {
    return this.op("transpose", [x], { perm: perm ? [...perm] : null });
  }
  /** Same data, new shape (one -1 allowed for concrete shapes). */
  reshape(x: Value, shape: readonly Dim[]): Value {
    return this.op("reshape", [x], { shape: [...shape] });
  }
  /** Broadcasts `x` to `shape`. */
  broadcastTo(x: Value, shape: readonly Dim[]): Value {
    return this.op("broadcastTo", [x], { shape: [...shape] });
  }
  /** Joins values along `axis`. */
  concat(xs: readonly Value[], axis = 0): Value {
    return this.op("concat", xs, { axis });
  }
  /** `x[begin:end]` per axis (`null` end = to the end). */
  slice(x: Value, begin: readonly number[], end: readonly (number | null)[]): Value {
    return this.op("slice", [x], { begin: [...begin], end: [...end] });
  }
  /** Pads each axis with zeros: `before[i]` elements before and `after[i]` after axis i. */
  pad(x: Value, before: readonly number[], after: readonly number[]): Value {
    return this.op("pad", [x], { before: [...before], after: [...after] });
  }
  // ---- convolution and pooling (NCHW) ---------------------------------------------------

  /**
   * 2-D convolution: `x [N, C, H, W]` with weights `w [O, C/groups, kh, kw]` gives
   * `[N, O, Ho, Wo]`. Padding: `"valid"` (default), `"same"` (output `ceil(H / stride)`, the odd
   * pixel after), one number, `[h, w]`, or `[top, bottom, left, right]`.
   */
  conv2d(x: Value, w: Value, opts: Conv2dOptions = {}): Value {
    const strides = pairOf(opts.strides, 1);
    const dilations = pairOf(opts.dilations, 1);
    const kernel: Pair = [dimOf("conv2d", w, 2), dimOf("conv2d", w, 3)];
    const padding = resolvePadding("conv2d", opts.padding, hwOf("conv2d", x), kernel, strides, dilations);
    return this.op("conv2d", [x, w], { strides, padding, dilations, groups: opts.groups ?? 1 });
  }
  /**
   * Transposed convolution ("deconvolution"), the input gradient of a convolution: `x [N, O, Hi, Wi]`
   * with weights `w [O, C/groups, kh, kw]` (PyTorch's `conv_transpose2d` layout: input channels
   * first) gives `[N, C, H, W]` with `H = (Hi-1)·stride - top - bottom + dilation·(kh-1) + 1 + outputPadding`.
   * `padding` names the padding of the convolution being transposed (it crops the output).
   */
  conv2dTranspose(x: Value, w: Value, opts: Conv2dTransposeOptions = {}): Value {
    const strides = pairOf(opts.strides, 1);
    const dilations = pairOf(opts.dilations, 1);
    const kernel: Pair = [dimOf("conv2dTranspose", w, 2), dimOf("conv2dTranspose", w, 3)];
    const [hi, wi] = hwOf("conv2dTranspose", x);
    if (typeof hi !== "number" || typeof wi !== "number")
      throw new ShapeError(
        `conv2dTranspose: input ${shapeToString(x.shape)} needs concrete height and width`,
      );
    const extra = pairOf(opts.outputPadding, 0);
    let padding: Padding4;
    let outputSize: Pair;
    if (opts.padding === "same") {
      if (opts.outputPadding !== undefined)
        throw new ShapeError(
          `conv2dTranspose: outputPadding has no effect with padding "same" (the output is input·stride); give explicit padding or outputSize`,
        );
      // the output is input·stride, cropped as the matching "same" convolution pads
      outputSize = [hi * strides[0], wi * strides[1]];
      padding = resolvePadding("conv2dTranspose", "same", outputSize, kernel, strides, dilations);
    } else {
      padding = resolvePadding("conv2dTranspose", opts.padding, [hi, wi], kernel, strides, dilations);
      const size = (i: number, k: number, s: number, d: number, p: number) =>
        (i - 1) * s - p + d * (k - 1) + 1;
      outputSize = [
        size(hi, kernel[0], strides[0], dilations[0], padding[0] + padding[1]) + extra[0],
        size(wi, kernel[1], strides[1], dilations[1], padding[2] + padding[3]) + extra[1],
      ];
    }
    if (opts.outputSize) outputSize = [opts.outputSize[0], opts.outputSize[1]];
    return this.op("conv2dTranspose", [x, w], {
      strides,
      padding,
      dilations,
      groups: opts.groups ?? 1,
      outputSize,
    });
  }
  /** Max pooling over `kernelSize` windows (strides default to the window; padding never wins). */
  maxPool2d(x: Value, kernelSize: number | Pair, opts: Pool2dOptions = {}): Value {
    return this.op("maxPool2d", [x], this.poolAttrs("maxPool2d", x, kernelSize, opts));
  }
  /** Average pooling over `kernelSize` windows; padded pixels are not counted in a window's mean. */
  avgPool2d(x: Value, kernelSize: number | Pair, opts: Pool2dOptions = {}): Value {
    return this.op("avgPool2d", [x], this.poolAttrs("avgPool2d", x, kernelSize, opts));
  }
  private poolAttrs(op: string, x: Value, kernelSize: number | Pair, opts: Pool2dOptions) {
    const k = pairOf(kernelSize, 1);
    const strides = pairOf(opts.strides ?? k, 1);
    const padding = resolvePadding(op, opts.padding, hwOf(op, x), k, strides, [1, 1]);
    return { kernelSize: k, strides, padding };
  }
  /**
   * Uniform random numbers in [0, 1) of `shape`, generated in the plan from the scalar `key`
   * (same key, same numbers; feed a new key each step). `salt` separates nodes sharing a key.
   */
  randomUniform(key: Value, shape: readonly Dim[], salt = 0, dtype: DType = this.dtype): Value {
    return this.op("randomUniform", [key], { shape: [...shape], salt, dtype });
  }

  /** Sum over axes (all by default). */
  sum(x: Value, axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.op("sum", [x], { axes: axesArg(axes), keepdims });
  }
  /** Mean over axes (all by default). */
  mean(x: Value, axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.op("mean", [x], { axes: axesArg(axes), keepdims });
  }
  /** Maximum over axes (all by default). */
  max(x: Value, axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.op("max", [x], { axes: axesArg(axes), keepdims });
  }
  /** log(sum(exp(x))) over axes, computed stably. */
  logSumExp(x: Value, axes?: number | readonly number[] | null, keepdims = false): Value {
    return this.op("logSumExp", [x], { axes: axesArg(axes), keepdims });
  }
  /** Softmax along `axis`. */
  softmax(x: Value, axis = -1): Value {
    return this.op("softmax", [x], { axis });
  }
  /** Log-softmax along `axis`. */
  logSoftmax(x: Value, axis = -1): Value {
    return this.op("logSoftmax", [x], { axis });
  }
  /**
   * Layer normalisation: `(x - mean) / sqrt(var + epsilon) * gamma + beta`, the mean and the
   * biased variance taken along `axis` (default -1, the last) for every other index, as PyTorch's
   * `nn.LayerNorm` over one axis; `epsilon` defaults to 1e-5. `gamma` and `beta` have the axis'
   * size followed by a 1 for each later axis (`[n]` for the last axis; core's
   * `layerNormParamShape` computes it). One fused kernel; its gradient is written with ordinary ops, so
   * it differentiates to any order.
   */
  layerNorm(x: Value, gamma: Value, beta: Value, options: Partial<LayerNormAttrs> = {}): Value {
    return this.op("layerNorm", [x, gamma, beta], {
      axis: options.axis ?? -1,
      epsilon: options.epsilon ?? 1e-5,
    });
  }
  /** Identity whose gradient is zero. */
  stopGradient(x: Value): Value {
    return this.op("stopGradient", [x]);
  }

  // ---- activations, special functions, indexing ------------------------------------------

  /** `log(1 + exp(x))`, computed stably. */
  softplus(x: ValueLike): Value {
    return this.op("softplus", [x]);
  }
  /** `log(1 + x)`, accurate for small `x`. */
  log1p(x: ValueLike): Value {
    return this.op("log1p", [x]);
  }
  /** `exp(x) - 1`, accurate for small `x`. */
  expm1(x: ValueLike): Value {
    return this.op("expm1", [x]);
  }
  /** SiLU (swish) `x * sigmoid(x)`. */
  silu(x: ValueLike): Value {
    return this.op("silu", [x]);
  }
  /** The error function `erf(x)`. */
  erf(x: ValueLike): Value {
    return this.op("erf", [x]);
  }
  /** Exact GELU `0.5 * x * (1 + erf(x / sqrt(2)))`. */
  gelu(x: ValueLike): Value {
    return this.op("gelu", [x]);
  }
  /** GELU, tanh approximation `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))`. */
  geluTanh(x: ValueLike): Value {
    return this.op("geluTanh", [x]);
  }
  /** Leaky ReLU: `x` for `x > 0`, `slope * x` otherwise (`slope` may be a tensor, e.g. learnable). */
  leakyRelu(x: ValueLike, slope: ValueLike = 0.01): Value {
    return this.op("leakyRelu", [x, slope]);
  }
  /** ELU: `x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise (`alpha` may be a tensor). */
  elu(x: ValueLike, alpha: ValueLike = 1): Value {
    return this.op("elu", [x, alpha]);
  }
  /**
   * Clips to `[min, max]` (bounds may be tensors; where `min > max` the result is `max`). The
   * gradient reaches `x` strictly inside, a bound at and beyond it.
   */
  clip(x: ValueLike, min: ValueLike, max: ValueLike): Value {
    return this.op("clip", [x, min, max]);
  }
  /**
   * One-hot encoding of integer-valued `indices` along a new last axis of length `depth` (an
   * index outside `[0, depth)` gives a zero row).
   */
  oneHot(indices: ValueLike, depth: number): Value {
    return this.op("oneHot", [indices], { depth });
  }
  /** Index of the largest element along `axis` (ties: the first), as a float. */
  argmax(x: Value, axis = -1, keepdims = false): Value {
    return this.op("argmax", [x], { axis, keepdims });
  }
  /** Slices of `x` along `axis` at integer-valued `indices` (numpy `take`). */
  gather(x: Value, indices: Value, axis = 0): Value {
    return this.op("gather", [x, indices], { axis });
  }
  /**
   * Zeros of `shape` with the slices of `updates` added at integer-valued `indices` along `axis`
   * (the adjoint of {@link GraphBuilder.gather}; repeated indices accumulate).
   */
  scatterAdd(indices: Value, updates: Value, axis: number, shape: readonly Dim[]): Value {
    return this.op("scatterAdd", [indices, updates], { axis, shape: [...shape] });
  }

  // ---- outputs and build ---------------------------------------------------------------

  /** Marks `v` as a named output. Returns `v`. */
  output(name: string, v: Value): Value {
    if (v.builder !== this) throw new GraphError(`output '${name}': value belongs to a different builder`);
    if (this.newOutputs.has(name) || Object.hasOwn(this.base.outputs, name)) {
      throw new GraphError(`an output named '${name}' already exists`);
    }
    this.newOutputs.set(name, v.id);
    return v;
  }

  /** Commits all new nodes and names into a new immutable graph (one immer `produce`). */
  build(): Graph {
    if (this.built) throw new GraphError("build() was already called on this builder");
    this.built = true;
    const pending = this.pending;
    // The node list is assembled outside the draft and frozen here: pushing a million nodes through
    // immer's proxy and letting it walk them to freeze them took seconds (7.8 s for 1M nodes).
    const nodes = this.base.nodes.concat(pending);
    for (const n of pending) freeze(n, true);
    for (const [id, name] of this.renamed) nodes[id] = freeze({ ...nodes[id]!, name }, true);
    Object.freeze(nodes);
    return produce(this.base, (draft) => {
      if (pending.length || this.renamed.size) (draft as { nodes: readonly GraphNode[] }).nodes = nodes;
      // fresh prototype-less tables (assigning `__proto__` on a plain object would set its prototype)
      const base = this.base;
      if (this.newInputs.size) draft.inputs = nameTable([...Object.entries(base.inputs), ...this.newInputs]);
      if (this.newParams.size) {
        (draft as { params: Graph["params"] }).params = nameTable([
          ...Object.entries(base.params),
          ...this.newParams,
        ]);
      }
      if (this.newOutputs.size)
        draft.outputs = nameTable([...Object.entries(base.outputs), ...this.newOutputs]);
    });
  }
}
