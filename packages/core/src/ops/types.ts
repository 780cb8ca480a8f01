/**
 * The contract every op fulfils: attribute validation, a shape rule and kernels; and the
 * contract of derivative rules (VJP and JVP), written with builder ops. Built-in ops keep their
 * rules in the autograd package's exhaustively typed tables; user ops (see `defineOp`) carry
 * theirs in their definition. Both use the argument types declared here.
 * @module
 */
import type { GraphBuilder, Value } from "../builder.js";
import type { DType, FloatArray } from "../dtype.js";
import type { GraphNode } from "../graph.js";
import type { ConcreteShape, Shape } from "../shape.js";

/** Shape and dtype of a value flowing along a graph edge. */
export interface TypeInfo {
  /** Possibly symbolic shape. */
  readonly shape: Shape;
  /** Element type. */
  readonly dtype: DType;
}

/**
 * A kernel: reads its inputs and writes the whole output. It must not allocate, and it may
 * assume its output does not alias any input.
 */
export type Kernel = (inputs: readonly FloatArray[], out: FloatArray) => void;

/** Everything a kernel factory knows when a plan is compiled. */
export interface KernelContext<A> {
  /** The op's attributes. */
  readonly attrs: A;
  /** Concrete shapes of the inputs. */
  readonly inShapes: readonly ConcreteShape[];
  /** Concrete shape of the output. */
  readonly outShape: ConcreteShape;
  /** Output dtype (inputs share it unless the op says otherwise). */
  readonly dtype: DType;
}

/** How many inputs an op takes. */
export type Arity = 0 | 1 | 2 | 3 | "variadic";

/**
 * What the executor does with a node of this op:
 * - `kernel`: run its kernel each step;
 * - `source`: inputs and params (bound to buffers, no kernel);
 * - `alias`: the output shares the first input's storage (reshape, stopGradient);
 * - `static`: computed once when a plan is built (constants, fills).
 */
export type OpKind = "kernel" | "source" | "alias" | "static";

/** The definition of one op: everything core needs to build, check and run it. */
export interface OpDef<A> {
  /** The op's name, equal to its key in the op table. */
  readonly name: string;
  /** One line of documentation. */
  readonly doc: string;
  /** Number of inputs. */
  readonly arity: Arity;
  /** Execution kind; see {@link OpKind}. */
  readonly kind: OpKind;
  /** True for elementwise ops whose kernel can be fused (a `scalar` expression is then given). */
  readonly elementwise?: ElementwiseSpec;
  /** Validates and normalises user-given attributes (throws an Error naming the bad field). */
  readonly attrs: (raw: A) => A;
  /** Output shape and dtype from the inputs' (throws a ShapeError describing the mismatch). */
  readonly shape: (inputs: readonly TypeInfo[], attrs: A) => TypeInfo;
  /** Builds the kernel for concrete shapes. Source ops have none. */
  readonly kernel: ((ctx: KernelContext<A>) => Kernel) | null;
}

/** Elementwise ops describe their arithmetic once, as JavaScript expression text and as a function. */
export interface ElementwiseSpec {
  /** JavaScript expression computing one element from argument expressions (e.g. `Math.exp(${a})`). */
  readonly expr: (...args: string[]) => string;
  /** The same arithmetic as a plain function (used by reference evaluation and tests). */
  readonly fn: (...args: number[]) => number;
}

/** Ops without attributes use this type. */
export type NoAttrs = Record<string, never>;

/** Attribute validator for ops without attributes. */
export function noAttrs(raw: NoAttrs): NoAttrs {
  if (raw && Object.keys(raw).length > 0) throw new Error(`unexpected attributes ${JSON.stringify(raw)}`);
  return {};
}

/**
 * Attributes of a user-defined op as they are stored in a graph node: plain JSON data (objects,
 * arrays, strings, finite numbers, booleans, null).
 */
export type CustomAttrs = Readonly<Record<string, unknown>>;

/** What a VJP (vector-Jacobian product) rule receives; `A` is the op's attribute type. */
export interface VjpRuleArgs<A> {
  /** Builder to emit gradient nodes with (rules use ordinary ops, so gradients are differentiable). */
  readonly b: GraphBuilder;
  /** The forward node. */
  readonly node: GraphNode;
  /** Attributes of the forward node. */
  readonly attrs: A;
  /** The forward node's inputs, as values. */
  readonly x: readonly Value[];
  /** The forward node's output. */
  readonly y: Value;
  /** The cotangent flowing into the output (same shape as `y`). */
  readonly g: Value;
  /** `needs[k]` is false when input k's gradient is not wanted (the rule may skip it). */
  readonly needs: readonly boolean[];
}

/**
 * A VJP rule: one gradient per input (or `null` for none), built with ordinary ops on `b`. A
 * gradient may have the broadcast output shape; the reverse-mode walker sums it back to the
 * input's shape in one place.
 */
export type VjpRuleFn<A> = (args: VjpRuleArgs<A>) => readonly (Value | null)[];

/** What a JVP (Jacobian-vector product) rule receives; `A` is the op's attribute type. */
export interface JvpRuleArgs<A> {
  /** Builder to emit tangent nodes with. */
  readonly b: GraphBuilder;
  /** The forward node. */
  readonly node: GraphNode;
  /** Attributes of the forward node. */
  readonly attrs: A;
  /** The forward node's inputs, as values. */
  readonly x: readonly Value[];
  /** The forward node's output. */
  readonly y: Value;
  /** The tangent of each input (its shape), or `null` where it is zero. At least one is not `null`. */
  readonly t: readonly (Value | null)[];
}

/**
 * A JVP rule: the tangent of the output (or `null` for zero), built with ordinary ops on `b`. It
 * may have any shape that broadcasts to `y`'s; the forward-mode walker broadcasts it.
 */
export type JvpRuleFn<A> = (args: JvpRuleArgs<A>) => Value | null;
