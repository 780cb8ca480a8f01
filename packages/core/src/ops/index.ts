/**
 * The op table: one module per op, one line per op here. Its keys define {@link OpName};
 * the autograd package keys its VJP table by the same names, so a new op without a gradient
 * rule fails type checking.
 *
 * User ops ({@link defineOp}) live beside the table in a run-time registry; {@link opDef} finds
 * both kinds, so the compiler and the builder need not tell them apart. Code that indexes a
 * table typed over {@link OpName} by a node's op first checks {@link isOpName}.
 * @module
 */

import { GraphError } from "../graph.js";
import { abs } from "./abs.js";
import { erf, expm1, gelu, geluTanh, log1p, silu, softplus } from "./activations.js";
import { add } from "./add.js";
import { argmax } from "./argmax.js";
import { broadcastTo } from "./broadcastTo.js";
import { concat } from "./concat.js";
import { constant, fill } from "./constant.js";
import { conv2d, conv2dBackpropFilter, conv2dTranspose } from "./conv2d.js";
import { customGradient } from "./customGradient.js";
import { div } from "./div.js";
import { equal } from "./equal.js";
import { exp } from "./exp.js";
import { gather, scatterAdd } from "./gather.js";
import { greater } from "./greater.js";
import { greaterEqual } from "./greaterEqual.js";
import { layerNorm, layerNormBackward } from "./layerNorm.js";
import { less } from "./less.js";
import { lessEqual } from "./lessEqual.js";
import { log } from "./log.js";
import { logSumExp } from "./logSumExp.js";
import { matmul } from "./matmul.js";
import { max } from "./max.js";
import { maximum } from "./maximum.js";
import { mean } from "./mean.js";
import { minimum } from "./minimum.js";
import { mul } from "./mul.js";
import { neg } from "./neg.js";
import { oneHot } from "./oneHot.js";
import { pad } from "./pad.js";
import { clip, elu, leakyRelu } from "./parametricUnary.js";
import { avgPool2d, avgPool2dBackprop, maxPool2d, maxPool2dBackprop, maxPool2dGather } from "./pool2d.js";
import { pow } from "./pow.js";
import { randomUniform } from "./randomUniform.js";
import { type CustomOpDef, type CustomOpName, customOpDef, isCustomOpName } from "./registry.js";
import { relu } from "./relu.js";
import { reshape } from "./reshape.js";
import { sigmoid } from "./sigmoid.js";
import { sign } from "./sign.js";
import { slice } from "./slice.js";
import { logSoftmax, softmax } from "./softmax.js";
import { input, param } from "./source.js";
import { sqrt } from "./sqrt.js";
import { square } from "./square.js";
import { stopGradient } from "./stopGradient.js";
import { sub } from "./sub.js";
import { sum } from "./sum.js";
import { tanh } from "./tanh.js";
import { transpose } from "./transpose.js";
import type { CustomAttrs, OpDef } from "./types.js";
import { where } from "./where.js";

/** Every op gradgraph knows, keyed by name. */
export const OPS = {
  input,
  param,
  constant,
  fill,
  neg,
  exp,
  log,
  tanh,
  sigmoid,
  relu,
  square,
  sqrt,
  abs,
  sign,
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  minimum,
  greater,
  greaterEqual,
  less,
  lessEqual,
  equal,
  where,
  matmul,
  transpose,
  reshape,
  broadcastTo,
  concat,
  slice,
  pad,
  sum,
  mean,
  max,
  softmax,
  logSoftmax,
  logSumExp,
  conv2d,
  conv2dTranspose,
  conv2dBackpropFilter,
  maxPool2d,
  maxPool2dBackprop,
  maxPool2dGather,
  avgPool2d,
  avgPool2dBackprop,
  randomUniform,
  stopGradient,
  customGradient,
  softplus,
  log1p,
  expm1,
  silu,
  erf,
  gelu,
  geluTanh,
  leakyRelu,
  elu,
  clip,
  oneHot,
  argmax,
  gather,
  scatterAdd,
  layerNorm,
  layerNormBackward,
} as const;

/** The name of an op in the table (a built-in op). */
export type OpName = keyof typeof OPS;

/** The name of any op a graph node may hold: a built-in op or a registered user op. */
export type AnyOpName = OpName | CustomOpName;

/** The attribute type of op `K`. */
export type AttrsOf<K extends OpName> = (typeof OPS)[K] extends OpDef<infer A> ? A : never;

/** The attribute type of a node of op `K`: a built-in op's attributes, or a user op's JSON attributes. */
export type NodeAttrs<K extends AnyOpName> = K extends OpName ? AttrsOf<K> : CustomAttrs;

/** All built-in op names, in table order (user ops: {@link customOpNames}). */
export const OP_NAMES = Object.keys(OPS) as OpName[];

/** Returns true when `name` is an op in the built-in table. */
export function isOpName(name: unknown): name is OpName {
  return typeof name === "string" && Object.hasOwn(OPS, name);
}

/** Returns true when `name` is a built-in op or a registered user op. */
export function isKnownOp(name: unknown): name is AnyOpName {
  return isOpName(name) || isCustomOpName(name);
}

/**
 * The definition of op `name`: a built-in op's, or a registered user op's. Throws a GraphError
 * for a name that is neither.
 */
export function opDef<K extends OpName>(name: K): OpDef<AttrsOf<K>>;
export function opDef(name: string): OpDef<unknown>;
export function opDef(name: string): OpDef<unknown> {
  if (isOpName(name)) return OPS[name] as unknown as OpDef<unknown>;
  const def = customOpDef(name);
  if (def) return def as OpDef<unknown>;
  throw new GraphError(`unknown op '${name}': neither a built-in op nor registered with defineOp`);
}

/** The user-op definition of `name`, or undefined for a built-in or unknown name. */
export function userOpDef(name: string): CustomOpDef<CustomAttrs> | undefined {
  return isOpName(name) ? undefined : customOpDef(name);
}

export { GELU_TANH_C } from "./activations.js";
export type { ArgmaxAttrs } from "./argmax.js";
export type { BroadcastToAttrs } from "./broadcastTo.js";
export type { ConcatAttrs } from "./concat.js";
export type { ConstantAttrs, FillAttrs } from "./constant.js";
export type { ConvAttrs, Padding4, PaddingSpec, Pair } from "./conv-geometry.js";
export { resolvePadding } from "./conv-geometry.js";
export type { Conv2dBackpropFilterAttrs, Conv2dTransposeAttrs } from "./conv2d.js";
export type { CustomGradientAttrs } from "./customGradient.js";
export type { GatherAttrs, ScatterAddAttrs } from "./gather.js";
export { type LayerNormAttrs, layerNormParamShape } from "./layerNorm.js";
export type { MatmulAttrs } from "./matmul.js";
export type { OneHotAttrs } from "./oneHot.js";
export type { PadAttrs } from "./pad.js";
export type { AvgPool2dBackpropAttrs, Pool2dAttrs } from "./pool2d.js";
export { type RandomUniformAttrs, uniformAt } from "./randomUniform.js";
export type { ReduceAttrs } from "./reduce.js";
export {
  type CustomOpDef,
  type CustomOpName,
  customOpDef,
  customOpNames,
  isCustomOpName,
  undefineOp,
} from "./registry.js";
export type { ReshapeAttrs } from "./reshape.js";
export type { SliceAttrs } from "./slice.js";
export type { SoftmaxAttrs } from "./softmax.js";
export type { SourceAttrs } from "./source.js";
export { ERF_TAYLOR, ERFC_CHEBYSHEV, erfcScalar, erfScalar } from "./special.js";
export type { TransposeAttrs } from "./transpose.js";
export type {
  Arity,
  CustomAttrs,
  ElementwiseSpec,
  JvpRuleArgs,
  JvpRuleFn,
  Kernel,
  KernelContext,
  NoAttrs,
  OpDef,
  OpKind,
  TypeInfo,
  VjpRuleArgs,
  VjpRuleFn,
} from "./types.js";
