/**
 * The contract of a JVP (Jacobian-vector product) rule.
 * @module
 */
import type { AttrsOf, GraphBuilder, GraphNode, JvpRuleArgs, OpName, Value } from "@gradgraph/core";

/** What a JVP rule receives. */
export interface JvpArgs<K extends OpName> {
  /** Builder to emit tangent nodes with (rules use ordinary ops, so tangents are differentiable). */
  readonly b: GraphBuilder;
  /** The forward node. */
  readonly node: GraphNode<K>;
  /** Attributes of the forward node. */
  readonly attrs: AttrsOf<K>;
  /** The forward node's inputs, as values. */
  readonly x: readonly Value[];
  /** The forward node's output. */
  readonly y: Value;
  /**
   * The tangent of each input (same shape as that input), or `null` when it is zero (the input
   * does not depend on any `wrt`). At least one entry is not `null` when a rule is called.
   */
  readonly t: readonly (Value | null)[];
}

/**
 * A JVP rule: returns the tangent of the output, or `null` for a zero tangent. The result may
 * have any shape that broadcasts to `y`'s; the walker broadcasts it to `y`'s shape in one place.
 */
export type JvpFn<K extends OpName> = (args: JvpArgs<K>) => Value | null;

/**
 * An entry of the JVP table: a rule, `"leaf"` for sources (inputs, params, constants, fills), or
 * `"zero"` for ops whose derivative is zero everywhere it exists (comparisons, sign, stopGradient).
 */
export type JvpRule<K extends OpName> = JvpFn<K> | "leaf" | "zero";

/** The JVP table type: one entry per op, checked exhaustively by the compiler. */
export type JvpTable = { readonly [K in OpName]: JvpRule<K> };

/**
 * What a rule in {@link JvpRules} is given under a user op's name: `b`, `x`, `y` and `t` are
 * typed; `attrs` and `node` are `never` unless the rule annotates its argument (write
 * `(args: JvpRuleArgs<MyAttrs>) => ...`, or pass a rule typed `JvpRuleFn<MyAttrs>`).
 */
export type JvpOverrideArgs = Omit<JvpRuleArgs<never>, "node"> & { readonly node: GraphNode<never> };

/**
 * JVP rule overrides by op name, as `jvp`'s `rules` (and gradcheck's `jvpRules`) take them: a
 * built-in op's key is typed with its table entry, and any other key is a user op's name whose own
 * JVP rule is replaced. A user op's rule may be any `JvpRuleFn<A>` or `"zero"`.
 */
export type JvpRules = Partial<JvpTable> & {
  readonly [op: string]: ((args: JvpOverrideArgs) => Value | null) | "leaf" | "zero" | undefined;
};
