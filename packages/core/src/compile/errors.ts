/**
 * Errors raised by compiled plans: wrong feeds, and non-finite values under `checkNumerics`.
 * @module
 */
import { describeNode, type GraphNode } from "../graph.js";

/**
 * Error raised for wrong, missing or unknown feeds when a compiled graph or plan runs: the message
 * names the input and, for a wrong shape, the shape fed and the shape declared.
 *
 * @example
 * ```ts
 * import { compile, FeedError, GraphBuilder } from "@gradgraph/core";
 *
 * const g = new GraphBuilder();
 * g.output("y", g.input("x", ["N", 2]).exp());
 * const exe = compile(g.build());
 * try {
 *   exe.run({});
 * } catch (e) {
 *   if (e instanceof FeedError) console.log(e.message); // missing feed for input 'x' (declared [N,2])
 * }
 * ```
 */
export class FeedError extends Error {
  override name = "FeedError";
}

/**
 * Error raised by the numerics check (`compile(graph, { checkNumerics: true })`): after each node
 * runs, its output is scanned, and the first node that produced NaN or an infinity is reported with
 * the element's index and value. Use it to find where a loss went non-finite; the check costs a scan
 * per node and turns fusion off, so leave it off in production.
 *
 * @example
 * ```ts
 * import { compile, GraphBuilder, NumericsError, Tensor } from "@gradgraph/core";
 *
 * const g = new GraphBuilder({ dtype: "float64" });
 * g.output("y", g.input("x", [2]).log());
 * const exe = compile(g.build(), { checkNumerics: true });
 * try {
 *   exe.run({ x: Tensor.from([1, -1]) });
 * } catch (e) {
 *   if (e instanceof NumericsError) console.log(e.node.op, e.index, e.value); // "log" 1 NaN
 * }
 * ```
 */
export class NumericsError extends Error {
  override name = "NumericsError";
  /** The offending node. */
  readonly node: GraphNode;
  /** Index of the first bad element. */
  readonly index: number;
  /** The bad value. */
  readonly value: number;
  /** @internal */
  constructor(node: GraphNode, index: number, value: number, inputs: string) {
    super(`node ${describeNode(node)} produced ${value} at element ${index}${inputs}`);
    this.node = node;
    this.index = index;
    this.value = value;
  }
}
