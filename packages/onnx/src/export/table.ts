/**
 * The export table: one emitter per op of core's op table, typed exhaustively over `OpName`, so
 * a new op without an ONNX mapping fails type checking. Find an op's mapping in the file named
 * by its family: ops/basic.ts (direct counterparts), ops/nn.ts (convolution, pooling),
 * ops/special.ts (activations, random numbers, indexing, layer normalisation).
 * @module
 */
import type { OpName } from "@gradgraph/core";
import { BASIC_EMITTERS } from "./ops/basic.js";
import { NN_EMITTERS } from "./ops/nn.js";
import { SPECIAL_EMITTERS } from "./ops/special.js";
import type { Emitter } from "./ops/types.js";

/** Every op's emitter. */
export const EMITTERS: { readonly [K in OpName]: Emitter<K> } = {
  ...BASIC_EMITTERS,
  ...NN_EMITTERS,
  ...SPECIAL_EMITTERS,
};
