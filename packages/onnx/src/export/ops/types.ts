/**
 * The emitter contract: how one gradgraph op becomes ONNX nodes.
 * @module
 */
import type { GraphNode, OpName } from "@gradgraph/core";
import type { ExportContext } from "../context.js";

/**
 * Emits the ONNX nodes computing `node` from its inputs' ONNX values `x` (in the node's input
 * order) and returns the ONNX value holding its output, of the node's shape and float dtype.
 */
export type Emitter<K extends OpName> = (
  ctx: ExportContext,
  node: GraphNode<K>,
  x: readonly string[],
) => string;

/** Emitters for the ops `K` (a part of the table). */
export type Emitters<K extends OpName> = { readonly [P in K]: Emitter<P> };
