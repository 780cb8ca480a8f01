/**
 * Errors raised by compiled plans: wrong feeds, and non-finite values under `checkNumerics`.
 * @module
 */
import { describeNode, type GraphNode } from "../graph.js";

/** Error raised for wrong, missing or unknown feeds. */
export class FeedError extends Error {
  override name = "FeedError";
}

/** Error raised by the numerics check: names the first node that produced NaN or Inf. */
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
