/**
 * Emitters for activations and special functions, random numbers, indexing ops and layer
 * normalisation (mostly ONNX composites, written for accuracy).
 * @module
 */
import type { ExportContext } from "../context.js";
import type { Emitters } from "./types.js";

type SpecialOp =
  | "randomUniform"
  | "softplus"
  | "log1p"
  | "expm1"
  | "silu"
  | "erf"
  | "gelu"
  | "geluTanh"
  | "leakyRelu"
  | "elu"
  | "clip"
  | "oneHot"
  | "gather"
  | "scatterAdd"
  | "layerNorm"
  | "layerNormBackward";

function todo(ctx: ExportContext): string {
  throw new Error(`not mapped yet (${ctx.graph.nodes.length})`);
}

/** Emitters of activations, random numbers, indexing and layer normalisation. */
export const SPECIAL_EMITTERS: Emitters<SpecialOp> = {
  randomUniform: todo,
  softplus: todo,
  log1p: todo,
  expm1: todo,
  silu: todo,
  erf: todo,
  gelu: todo,
  geluTanh: todo,
  leakyRelu: todo,
  elu: todo,
  clip: todo,
  oneHot: todo,
  gather: todo,
  scatterAdd: todo,
  layerNorm: todo,
  layerNormBackward: todo,
};
