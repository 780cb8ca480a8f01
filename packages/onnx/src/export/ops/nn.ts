/**
 * Emitters for convolutions and pooling, and their gradient ops (ONNX composites).
 * @module
 */
import type { ExportContext } from "../context.js";
import type { Emitters } from "./types.js";

type NnOp =
  | "conv2d"
  | "conv2dTranspose"
  | "conv2dBackpropFilter"
  | "maxPool2d"
  | "maxPool2dBackprop"
  | "maxPool2dGather"
  | "avgPool2d"
  | "avgPool2dBackprop";

function todo(ctx: ExportContext): string {
  throw new Error(`not mapped yet (${ctx.graph.nodes.length})`);
}

/** Emitters of convolution and pooling ops. */
export const NN_EMITTERS: Emitters<NnOp> = {
  conv2d: todo,
  conv2dTranspose: todo,
  conv2dBackpropFilter: todo,
  maxPool2d: todo,
  maxPool2dBackprop: todo,
  maxPool2dGather: todo,
  avgPool2d: todo,
  avgPool2dBackprop: todo,
};
