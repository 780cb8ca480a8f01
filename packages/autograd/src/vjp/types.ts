/**
 * The contract of a VJP (vector-Jacobian product) rule.
 * @module
 */
import type { AttrsOf, GraphBuilder, GraphNode, OpName, Value } from "@gradgraph/core";

/** What a VJP rule receives. */
export interface VjpArgs<K extends OpName> {
  /** Builder to emit gradient nodes with (rules use ordinary ops, so gradients are differentiable). */
  readonly b: GraphBuilder;
  /** The forward node. */
  readonly node: GraphNode<K>;
  /** Attributes of the forward node. */
  readonly attrs: AttrsOf<K>;
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
 * A VJP rule: returns one gradient per input (or `null` for none). A gradient may have the
 * broadcast output shape; the walker sums it back to the input's shape in one place.
 */
export type VjpFn<K extends OpName> = (args: VjpArgs<K>) => readonly (Value | null)[];

/**
 * An entry of the VJP table: a rule, `"leaf"` for sources (inputs, params, constants), or
 * `"zero"` for ops whose gradient is zero everywhere it exists (comparisons, sign, stopGradient).
 */
export type VjpRule<K extends OpName> = VjpFn<K> | "leaf" | "zero";

/** The VJP table type: one entry per op, checked exhaustively by the compiler. */
export type VjpTable = { readonly [K in OpName]: VjpRule<K> };
