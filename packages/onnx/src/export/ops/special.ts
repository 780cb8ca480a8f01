/**
 * Emitters for activations and special functions, random numbers, indexing ops and layer
 * normalisation (mostly ONNX composites, written for accuracy).
 *
 * - `log1p` and `expm1` use Kahan's forms (`u = 1 + x`, `log1p = log(u) · (x / (u - 1))`;
 *   `u = exp(x)`, `expm1 = (u - 1) · (x / log(u))`), accurate to a few ulps near 0 where the
 *   naive `Log(1 + x)` and `Exp(x) - 1` lose every digit; `softplus` is
 *   `max(x, 0) + log1p(exp(-|x|))` (stable for large `|x|`, and runnable in float64, which
 *   ONNX Runtime's `Softplus` is not); `elu` uses the same `expm1`.
 * - `erf` and `gelu`: float32 graphs use the standard `Erf` op, gelu as
 *   `0.5 · x · (1 + Erf(x / √2))` (the pattern ONNX Runtime fuses). `1 + Erf` cancels for
 *   negative `x`: measured in ONNX Runtime 1.30 against gradgraph, the relative error is 1e-6
 *   above x = -2, 4e-6 above -2.5, 2e-5 above -3 and reaches 1 near -6, while the absolute error
 *   stays below 8.3e-8 there. ONNX Runtime has no float64 `Erf`, so float64 graphs get
 *   gradgraph's own algorithm as a composite of float64 Mul/Add/Exp/Where nodes: Clenshaw's sum
 *   of the Chebyshev series of `erfc` ({@link ERFC_CHEBYSHEV}), the Taylor series of `erf` below
 *   0.5 ({@link ERF_TAYLOR}), and gelu as `0.5 · x · erfc(-x / √2)`, relative accuracy for
 *   negative `x` included (118 nodes for erf, 87 for gelu; within 5e-16 of gradgraph). float32
 *   `geluTanh` is `x / (1 + exp(-2u))` (the same function as `0.5 · x · (1 + tanh(u))` without
 *   its cancellation), float64 `geluTanh` gradgraph's own formula.
 * - `randomUniform` repeats gradgraph's counter-based hash bit for bit in uint32 arithmetic
 *   (`BitwiseXor` makes it opset 18); the key is rounded as `Math.round` does and wrapped to
 *   32 bits as `key | 0` does.
 * - `oneHot` compares the indices with a constant `[0, 1, …, depth - 1]` (ONNX `OneHot` wraps
 *   negative indices and has no float kernel in ONNX Runtime); `gather` and `scatterAdd` cast their float indices to int64
 *   (a fractional index truncates and a negative one counts from the end in ONNX, where gradgraph
 *   stops with an error).
 * - `layerNorm` is `LayerNormalization` for float32 over the last axis (ONNX normalises every
 *   axis from `axis` to the end, and its `epsilon` is a float32 attribute), otherwise a two-pass
 *   ReduceMean composite over the one axis; `layerNormBackward` is always a composite.
 *
 * Every mapping here runs in ONNX Runtime's CPU provider in float32 and float64.
 * @module
 */
import {
  type DType,
  ERF_TAYLOR,
  ERFC_CHEBYSHEV,
  GELU_TANH_C,
  type GraphNode,
  normalizeAxis,
} from "@gradgraph/core";
import { TensorProto_DataType } from "../../gen/onnx_pb.js";
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

const U32 = TensorProto_DataType.UINT32;

/** The float dtype of input `input` of `node`. */
const dtypeOf = (ctx: ExportContext, node: GraphNode, input = 0): DType =>
  ctx.node(node.inputs[input]!).dtype;

/** `log1p(x)` by Kahan's trick; `x` may be `+inf` unless `finite` says it cannot be. */
function log1p(ctx: ExportContext, x: string, dtype: DType, finite = false): string {
  const one = ctx.scalar(1, dtype);
  const u = ctx.op("Add", [x, one]);
  // log(u) / (u - 1) varies slowly, so the rounding of u cancels; x / (u - 1) is near 1 (no overflow)
  const q = ctx.op("Mul", [ctx.op("Log", [u]), ctx.op("Div", [x, ctx.op("Sub", [u, one])])]);
  const r = ctx.op("Where", [ctx.op("Equal", [u, one]), x, q]);
  return finite ? r : ctx.op("Where", [ctx.op("IsInf", [x], { detect_negative: 0 }), x, r]);
}

/** `expm1(x)` by Kahan's trick (`-1` where `exp(x) - 1` rounds to -1, `+inf` where `exp` overflows). */
function expm1(ctx: ExportContext, x: string, dtype: DType): string {
  const one = ctx.scalar(1, dtype);
  const minusOne = ctx.scalar(-1, dtype);
  const u = ctx.op("Exp", [x]);
  const um1 = ctx.op("Sub", [u, one]);
  const q = ctx.op("Mul", [um1, ctx.op("Div", [x, ctx.op("Log", [u])])]);
  let r = ctx.op("Where", [ctx.op("Equal", [um1, minusOne]), minusOne, q]);
  r = ctx.op("Where", [ctx.op("Equal", [u, one]), x, r]);
  return ctx.op("Where", [ctx.op("IsInf", [u], { detect_negative: 0 }), u, r]);
}

/**
 * `erfc(z)` for `z = |y| >= 0` as gradgraph's float64 kernel computes it: `t · exp(-z² + P(t))`,
 * `t = 2 / (2 + z)`, `P` the Chebyshev series summed by Clenshaw's recurrence (float64 nodes).
 */
function erfcPositive(ctx: ExportContext, z: string): string {
  const f = (v: number) => ctx.scalar(v, "float64");
  const c = ERFC_CHEBYSHEV;
  const t = ctx.op("Div", [f(2), ctx.op("Add", [f(2), z])]);
  const u2 = ctx.op("Mul", [f(2), ctx.op("Sub", [ctx.op("Mul", [f(2), t]), f(1)])]);
  // d = u2·d - dd + c[j] for j = n-1 … 1, starting from d = dd = 0 (the first steps are constants)
  let d = f(c[c.length - 1]!);
  let dd: string | null = null;
  for (let j = c.length - 2; j >= 1; j--) {
    let s = ctx.op("Mul", [u2, d]);
    if (dd !== null) s = ctx.op("Sub", [s, dd]);
    dd = d;
    d = ctx.op("Add", [s, f(c[j]!)]);
  }
  const p = ctx.op("Add", [ctx.op("Sub", [ctx.op("Mul", [ctx.op("Mul", [u2, f(0.5)]), d]), dd!]), f(c[0]!)]);
  const e = ctx.op("Add", [ctx.op("Mul", [ctx.op("Neg", [z]), z]), p]);
  return ctx.op("Mul", [t, ctx.op("Exp", [e])]);
}

/** `erfc(y)` in float64 (`2 - erfc(|y|)` for negative `y`). */
function erfcF64(ctx: ExportContext, y: string): string {
  const r = erfcPositive(ctx, ctx.op("Abs", [y]));
  const neg = ctx.op("Less", [y, ctx.scalar(0, "float64")]);
  return ctx.op("Where", [neg, ctx.op("Sub", [ctx.scalar(2, "float64"), r]), r]);
}

/** `erf(x)` in float64: the Taylor series below `|x| = 0.5`, `±(1 - erfc(|x|))` beyond. */
function erfF64(ctx: ExportContext, x: string): string {
  const f = (v: number) => ctx.scalar(v, "float64");
  const x2 = ctx.op("Mul", [x, x]);
  let h = f(ERF_TAYLOR[ERF_TAYLOR.length - 1]!);
  for (let n = ERF_TAYLOR.length - 2; n >= 0; n--)
    h = ctx.op("Add", [ctx.op("Mul", [h, x2]), f(ERF_TAYLOR[n]!)]);
  const taylor = ctx.op("Mul", [x, h]);
  const z = ctx.op("Abs", [x]);
  const r = erfcPositive(ctx, z);
  const tail = ctx.op("Where", [
    ctx.op("Less", [x, f(0)]),
    ctx.op("Sub", [r, f(1)]),
    ctx.op("Sub", [f(1), r]),
  ]);
  return ctx.op("Where", [ctx.op("Less", [z, f(0.5)]), taylor, tail]);
}

/** The murmur3 finaliser on a uint32 tensor (wrapping Mul, BitShift, BitwiseXor). */
function fmix32Nodes(ctx: ExportContext, h: string): string {
  const u = (v: number) => ctx.typed([v >>> 0], U32);
  const shiftXor = (v: string, s: number) =>
    ctx.op("BitwiseXor", [v, ctx.op("BitShift", [v, u(s)], { direction: "RIGHT" })]);
  h = ctx.op("Mul", [shiftXor(h, 16), u(0x85ebca6b)]);
  h = ctx.op("Mul", [shiftXor(h, 13), u(0xc2b2ae35)]);
  return shiftXor(h, 16);
}

/** The murmur3 finaliser on a number (for the salt, a constant). */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The key as gradgraph reads it, `Math.round(key) | 0`, as a uint32: rounded half up
 * (`floor(x)`, plus 1 when the exact fraction `x - floor(x)` is at least 0.5), reduced modulo 2^32
 * exactly in float64 (`r - floor(r / 2^32) · 2^32`), NaN and infinities to 0.
 */
function keyToUint32(ctx: ExportContext, key: string, dtype: DType): string {
  // in float64 (exact for a float32 key too): r mod 2^32 can need 32 significant bits
  const k = dtype === "float64" ? key : ctx.cast(key, TensorProto_DataType.DOUBLE);
  const f = (v: number) => ctx.scalar(v, "float64");
  const fl = ctx.op("Floor", [k]);
  const up = ctx.op("GreaterOrEqual", [ctx.op("Sub", [k, fl]), f(0.5)]);
  const r = ctx.op("Where", [up, ctx.op("Add", [fl, f(1)]), fl]);
  const wraps = ctx.op("Mul", [ctx.op("Floor", [ctx.op("Mul", [r, f(2 ** -32)])]), f(2 ** 32)]);
  const m = ctx.op("Sub", [r, wraps]);
  const finite = ctx.op("Where", [ctx.op("Equal", [m, m]), m, f(0)]);
  return ctx.cast(finite, U32);
}

/** `(x - mean) · rstd` pieces along `axis` (two passes, keepdims): the centred values and `rstd`. */
function centredAndRstd(
  ctx: ExportContext,
  x: string,
  axis: number,
  epsilon: number,
  dtype: DType,
): { xc: string; rstd: string } {
  const axes = ctx.int64([axis]);
  const mean = ctx.op("ReduceMean", [x, axes], { keepdims: 1 });
  const xc = ctx.op("Sub", [x, mean]);
  const variance = ctx.op("ReduceMean", [ctx.op("Mul", [xc, xc]), axes], { keepdims: 1 });
  const sd = ctx.op("Sqrt", [ctx.op("Add", [variance, ctx.scalar(epsilon, dtype)])]);
  return { xc, rstd: ctx.op("Div", [ctx.scalar(1, dtype), sd]) };
}

/** Emitters of activations, random numbers, indexing and layer normalisation. */
export const SPECIAL_EMITTERS: Emitters<SpecialOp> = {
  randomUniform: (ctx, node, x) => {
    const { shape, salt, dtype } = node.attrs;
    const keyU = keyToUint32(ctx, x[0]!, dtypeOf(ctx, node));
    const k = fmix32Nodes(
      ctx,
      ctx.op("BitwiseXor", [
        ctx.op("Mul", [keyU, ctx.typed([0x9e3779b1], U32)]),
        ctx.typed([fmix32(salt)], U32),
      ]),
    );
    const target = ctx.shape(shape);
    const n = shape.every((d) => typeof d === "number")
      ? ctx.int64([shape.reduce<number>((p, d) => p * (d as number), 1)], true)
      : ctx.op("ReduceProd", [target], { keepdims: 0 });
    const i = ctx.cast(ctx.op("Range", [ctx.int64([0], true), n, ctx.int64([1], true)]), U32);
    const h = fmix32Nodes(
      ctx,
      ctx.op("BitwiseXor", [ctx.op("Add", [k, ctx.op("Mul", [i, ctx.typed([0x27d4eb2f], U32)])]), k]),
    );
    const top24 = ctx.op("BitShift", [h, ctx.typed([8], U32)], { direction: "RIGHT" });
    const values = ctx.op("Mul", [ctx.toFloat(top24, dtype), ctx.scalar(2 ** -24, dtype)]);
    return ctx.op("Reshape", [values, target]);
  },
  softplus: (ctx, node, x) => {
    const dt = node.dtype;
    const tail = ctx.op("Exp", [ctx.op("Neg", [ctx.op("Abs", [x[0]!])])]);
    return ctx.op("Add", [ctx.op("Max", [x[0]!, ctx.scalar(0, dt)]), log1p(ctx, tail, dt, true)]);
  },
  log1p: (ctx, node, x) => log1p(ctx, x[0]!, node.dtype),
  expm1: (ctx, node, x) => expm1(ctx, x[0]!, node.dtype),
  // x / (1 + exp(-x)), gradgraph's formula
  silu: (ctx, node, x) =>
    ctx.op("Div", [
      x[0]!,
      ctx.op("Add", [ctx.scalar(1, node.dtype), ctx.op("Exp", [ctx.op("Neg", [x[0]!])])]),
    ]),
  erf: (ctx, node, x) => (node.dtype === "float64" ? erfF64(ctx, x[0]!) : ctx.op("Erf", [x[0]!])),
  gelu: (ctx, node, x) => {
    const dt = node.dtype;
    const half = ctx.op("Mul", [ctx.scalar(0.5, dt), x[0]!]);
    const s = ctx.scalar(Math.SQRT1_2, dt);
    if (dt === "float64")
      return ctx.op("Mul", [half, erfcF64(ctx, ctx.op("Mul", [ctx.op("Neg", [x[0]!]), s]))]);
    const erf = ctx.op("Erf", [ctx.op("Mul", [x[0]!, s])]);
    return ctx.op("Mul", [half, ctx.op("Add", [ctx.scalar(1, dt), erf])]);
  },
  geluTanh: (ctx, node, x) => {
    const dt = node.dtype;
    const v = x[0]!;
    // C · (v + 0.044715 · v · v · v), in gradgraph's order
    const cube = ctx.op("Mul", [ctx.op("Mul", [ctx.op("Mul", [ctx.scalar(0.044715, dt), v]), v]), v]);
    const inner = ctx.op("Mul", [ctx.scalar(GELU_TANH_C, dt), ctx.op("Add", [v, cube])]);
    // float32: v / (1 + exp(-2 · inner)), the same function without 1 + tanh's cancellation for
    // v < 0 (ONNX Runtime's float32 Sigmoid is only accurate in absolute terms, so not v · σ(2 · inner))
    if (dt === "float32") {
      const e = ctx.op("Exp", [ctx.op("Mul", [ctx.scalar(-2, dt), inner])]);
      return ctx.op("Div", [v, ctx.op("Add", [ctx.scalar(1, dt), e])]);
    }
    // float64: 0.5 · v · (1 + tanh(inner)), as gradgraph computes it
    const half = ctx.op("Mul", [ctx.scalar(0.5, dt), v]);
    return ctx.op("Mul", [half, ctx.op("Add", [ctx.scalar(1, dt), ctx.op("Tanh", [inner])])]);
  },
  // x > 0 ? x : slope · x (the slope broadcasts either way, so PRelu's one-way rule would not do)
  leakyRelu: (ctx, node, x) =>
    ctx.op("Where", [
      ctx.op("Greater", [x[0]!, ctx.scalar(0, node.dtype)]),
      x[0]!,
      ctx.op("Mul", [x[1]!, x[0]!]),
    ]),
  // x > 0 ? x : alpha · expm1(x) (ONNX Runtime's Elu is float32 only and computes exp(x) - 1)
  elu: (ctx, node, x) =>
    ctx.op("Where", [
      ctx.op("Greater", [x[0]!, ctx.scalar(0, node.dtype)]),
      x[0]!,
      ctx.op("Mul", [x[1]!, expm1(ctx, x[0]!, node.dtype)]),
    ]),
  // ONNX Clip takes scalar bounds only; gradgraph's broadcast
  clip: (ctx, _node, x) => ctx.op("Min", [ctx.op("Max", [x[0]!, x[1]!]), x[2]!]),
  oneHot: (ctx, node, x) => {
    const { depth } = node.attrs;
    const classes = ctx.float(
      Array.from({ length: depth }, (_, k) => k),
      node.dtype,
      [depth],
    );
    const hit = ctx.op("Equal", [ctx.op("Unsqueeze", [x[0]!, ctx.int64([-1])]), classes]);
    return ctx.toFloat(hit, node.dtype);
  },
  gather: (ctx, node, x) =>
    ctx.op("Gather", [x[0]!, ctx.cast(x[1]!, TensorProto_DataType.INT64)], { axis: node.attrs.axis }),
  scatterAdd: (ctx, node, x) => {
    const { shape } = node.attrs;
    const a = normalizeAxis(node.attrs.axis, shape.length);
    const idxShape = ctx.node(node.inputs[0]!).shape;
    const pre = shape.slice(0, a);
    const post = shape.slice(a + 1);
    // the indexed axes of the updates collapse to one of length K, so ScatterElements can add
    // element by element along `a` with indices expanded to the updates' shape
    const k = idxShape.every((d) => typeof d === "number")
      ? idxShape.reduce<number>((p, d) => p * (d as number), 1)
      : -1;
    const upd = ctx.op("Reshape", [x[1]!, ctx.shape([...pre, k, ...post])]);
    const idx = ctx.op("Reshape", [
      ctx.cast(x[0]!, TensorProto_DataType.INT64),
      ctx.int64([...pre.map(() => 1), -1, ...post.map(() => 1)]),
    ]);
    const idxFull = ctx.op("Expand", [idx, ctx.op("Shape", [upd])]);
    const zeros = ctx.op("ConstantOfShape", [ctx.shape(shape)], {
      value: { tensor: ctx.constantTensor([0], node.dtype) },
    });
    return ctx.op("ScatterElements", [zeros, idxFull, upd], { axis: a, reduction: "add" });
  },
  layerNorm: (ctx, node, x) => {
    const { epsilon } = node.attrs;
    const rank = node.shape.length;
    const a = normalizeAxis(node.attrs.axis, rank);
    if (node.dtype === "float32" && a === rank - 1)
      return ctx.op("LayerNormalization", [x[0]!, x[1]!, x[2]!], { axis: -1, epsilon: { float: epsilon } });
    const { xc, rstd } = centredAndRstd(ctx, x[0]!, a, epsilon, node.dtype);
    return ctx.op("Add", [ctx.op("Mul", [ctx.op("Mul", [xc, rstd]), x[1]!]), x[2]!]);
  },
  // rstd · (d - mean(d) - xhat · mean(d · xhat)) along the axis
  layerNormBackward: (ctx, node, x) => {
    const a = normalizeAxis(node.attrs.axis, node.shape.length);
    const { xc, rstd } = centredAndRstd(ctx, x[0]!, a, node.attrs.epsilon, node.dtype);
    const d = x[1]!;
    const axes = ctx.int64([a]);
    const xhat = ctx.op("Mul", [xc, rstd]);
    const meanD = ctx.op("ReduceMean", [d, axes], { keepdims: 1 });
    const meanDx = ctx.op("ReduceMean", [ctx.op("Mul", [d, xhat]), axes], { keepdims: 1 });
    const inner = ctx.op("Sub", [ctx.op("Sub", [d, meanD]), ctx.op("Mul", [xhat, meanDx])]);
    return ctx.op("Mul", [rstd, inner]);
  },
};
