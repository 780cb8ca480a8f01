/**
 * The contract of a VJP (vector-Jacobian product) rule. The argument types come from core
 * (`VjpRuleArgs`), which user ops' rules use too; here they are keyed by op name.
 * @module
 */
import type { AnyOpName, GraphNode, NodeAttrs, OpName, Value, VjpRuleArgs } from "@gradgraph/core";

/** What the VJP rule of op `K` receives: core's `VjpRuleArgs` with `K`'s node and attributes. */
export interface VjpArgs<K extends AnyOpName> extends VjpRuleArgs<NodeAttrs<K>> {
  /** The forward node. */
  readonly node: GraphNode<K>;
}

/**
 * A VJP rule: returns one gradient per input (or `null` for none). A gradient may have the
 * broadcast output shape; the walker sums it back to the input's shape in one place.
 */
export type VjpFn<K extends AnyOpName> = (args: VjpArgs<K>) => readonly (Value | null)[];

/**
 * An entry of the VJP table: a rule, `"leaf"` for sources (inputs, params, constants), or
 * `"zero"` for ops whose gradient is zero everywhere it exists (comparisons, sign, stopGradient).
 */
export type VjpRule<K extends AnyOpName> = VjpFn<K> | "leaf" | "zero";

/** The VJP table type: one entry per built-in op, checked exhaustively by the compiler. */
export type VjpTable = { readonly [K in OpName]: VjpRule<K> };

/**
 * What a rule in {@link VjpRules} is given under a user op's name: `b`, `x`, `y`, `g` and `needs`
 * are typed; `attrs` and `node` are `never` unless the rule annotates its argument (write
 * `(args: VjpRuleArgs<MyAttrs>) => ...`, or pass a rule typed `VjpRuleFn<MyAttrs>`).
 */
export type VjpOverrideArgs = Omit<VjpRuleArgs<never>, "node"> & { readonly node: GraphNode<never> };

/**
 * VJP rule overrides by op name, as `grad`'s `rules` (and gradcheck's) take them: a built-in op's
 * key is typed with its table entry, and any other key is a user op's name (`defineOp`) whose own
 * rule is replaced, so a candidate rule can be tried without redefining the op. A user op's rule
 * may be any `VjpRuleFn<A>` or `"zero"`.
 * @example
 * grad(graph, "loss", ["x"], { rules: { tanh: myTanhRule, [softplus.name]: ({ b, g, x }) => [b.mul(g, b.sigmoid(x[0]!))] } });
 */
export type VjpRules = Partial<VjpTable> & {
  readonly [op: string]: ((args: VjpOverrideArgs) => readonly (Value | null)[]) | "leaf" | "zero" | undefined;
};
