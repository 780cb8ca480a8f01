/**
 * WebAssembly SIMD loops for float32 elementwise expressions (single ops and fused groups) built
 * from the arithmetic ops that have direct SIMD instructions: neg, abs, sqrt, square, relu, add,
 * sub, mul, div, maximum, minimum, the comparisons, where, leakyRelu and clip (with JavaScript's
 * NaN and signed-zero results), and the special functions `erf`, `gelu` (exact) and `geluTanh`
 * with `exp` in the same group (gelu's backward is `erf` and `exp` fused).
 *
 * The special functions are float32x4 code emitted inline: `exp` is Cephes' expf (k = nearest
 * (x·log2 e), r = x - k·C1 - k·C2 with C1 exact in 9 bits, a degree-6 polynomial, 2^k as an add to
 * the exponent bits and one multiplication, so overflow gives +Inf and underflow rounds through the
 * subnormals to 0; NaN stays NaN); `erfc(z)` is `special.ts`' form `t · exp(-z² + P)` with
 * `t = 2 / (2 + z)` (corrected for the rounding of `2 + z`) and `P` the Clenshaw sum of `CHEB_F32`,
 * where `z²` is split into an exact high part and a low part and folded into `exp`'s range
 * reduction (a rounded `z²` near 80 would cost 2^-24·z² relative, tens of ulps); `erf` is the
 * `TAYLOR_F32` polynomial for |x| < 0.5 and `±(1 - erfc(|x|))` beyond; `gelu = 0.5·x·erfc(-x/√2)`
 * (`x²/2` split the same way, so negative inputs keep their relative accuracy); `geluTanh` is
 * `x / (1 + e)` (x >= 0) or `x·e / (1 + e)` with `e = exp(-2|u|)`, equal to `0.5·x·(1 + tanh u)`
 * without its cancellation, the exponent formed and reduced in float64 (both halves promoted).
 * Measured over [-10, 10] and the extremes against the float64 functions rounded to float32
 * (`test/simd-special.test.ts`): erf within 2 ulps, gelu within 4, geluTanh within 2. The scalar
 * tail runs the same vector code on a splatted value, so an element's result does not depend on
 * its position.
 *
 * `exp` alone, and groups with other transcendental ops (log, tanh, sigmoid, pow, softplus, …),
 * keep the generated JavaScript loop: its float64 arithmetic rounds once, and existing results
 * (softmax, sigmoid, tanh in trained presets) stay bit for bit what they were. Each distinct
 * expression and access pattern is compiled once into a tiny module on the arena's memory.
 * @module
 */
import { CHEB_F32, TAYLOR_F32 } from "../ops/special.js";
import type { Kernel } from "../ops/types.js";
import { wasmBackend } from "./memory.js";
import { assembleModule, F32, FunctionBuilder, I32, uleb, V128 } from "./wasm-emit.js";

/** An elementwise expression: an op applied to sub-expressions or leaf indices. */
export interface ExprTree {
  /** Op name from the op table. */
  readonly op: string;
  /** Children: sub-expressions, or the index of a leaf (kernel input). */
  readonly kids: readonly (ExprTree | number)[];
}

/**
 * How a leaf is read: `full` (same shape as the output), `scalar`, `suffix` (row-tiled), `rows`
 * (column-broadcast), `planes:<mid>` (one value per row, cycling through `mid` values).
 */
export type LeafMode = "full" | "scalar" | "suffix" | "rows" | `planes:${number}`;

/** True for leaves read once per row (splatted): `rows` and `planes:<mid>`. */
function perRow(mode: LeafMode): boolean {
  return mode === "rows" || mode.startsWith("planes:");
}

const VEC: Record<string, number> = {
  add: 228,
  sub: 229,
  mul: 230,
  div: 231,
  minimum: 232,
  maximum: 233,
  equal: 65,
  greater: 68,
  less: 67,
  greaterEqual: 70,
  lessEqual: 69,
};
const SCAL: Record<string, number> = {
  add: 0x92,
  sub: 0x93,
  mul: 0x94,
  div: 0x95,
  minimum: 0x96,
  maximum: 0x97,
  equal: 0x5b,
  greater: 0x5e,
  less: 0x5d,
  greaterEqual: 0x60,
  lessEqual: 0x5f,
};
const COMPARISONS = new Set(["equal", "greater", "less", "greaterEqual", "lessEqual"]);
const SUPPORTED = new Set([
  ...Object.keys(VEC),
  "neg",
  "abs",
  "sqrt",
  "square",
  "relu",
  "where",
  "leakyRelu",
  "clip",
]);

/** The float32 special functions with a SIMD lowering (a group containing one goes SIMD). */
const SPECIAL = new Set(["erf", "gelu", "geluTanh"]);

/**
 * True when every op of the tree has a SIMD lowering: all ops are arithmetic (`neg` … `clip`), or
 * the tree contains `erf`, `gelu` or `geluTanh` and every other op is arithmetic or `exp`. A group
 * with `exp` but none of those three (softmax parts, sigmoid-like expressions) keeps the JavaScript
 * loop, whose float64 arithmetic rounds once.
 */
export function simdSupported(tree: ExprTree): boolean {
  const stack: (ExprTree | number)[] = [tree];
  let special = false;
  let exp = false;
  while (stack.length) {
    const t = stack.pop()!;
    if (typeof t === "number") continue;
    if (SPECIAL.has(t.op)) special = true;
    else if (t.op === "exp") exp = true;
    else if (!SUPPORTED.has(t.op)) return false;
    stack.push(...t.kids);
  }
  return special || !exp;
}

const ONE = [...new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer)];

function vconst(f: FunctionBuilder, bytes: number[]): void {
  f.op(0xfd, 0x0c, ...bytes);
}

let temps = 0;

// ---------------------------------------------------------------------------------------------
// float32x4 special functions (exp, erfc, erf, gelu, geluTanh), emitted inline
// ---------------------------------------------------------------------------------------------

/** SIMD opcodes (after the 0xfd prefix) used by the special functions. */
const V = {
  f32x4Splat: 0x13,
  f32x4Extract: 0x1f,
  and: 0x4e,
  or: 0x50,
  bitselect: 0x52,
  f32x4Lt: 0x43,
  f32x4Gt: 0x44,
  f32x4Ge: 0x46,
  f32x4Demote: 0x5e,
  f64x2Promote: 0x5f,
  f32x4Nearest: 0x6a,
  f64x2Nearest: 0x94,
  i32x4Shl: 0xab,
  i32x4ShrS: 0xac,
  i32x4Add: 0xae,
  i32x4Sub: 0xb1,
  f32x4Abs: 0xe0,
  f32x4Neg: 0xe1,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  f64x2Add: 0xf0,
  f64x2Sub: 0xf1,
  f64x2Mul: 0xf2,
  f64x2Max: 0xf5,
  i32x4TruncSatF32: 0xf8,
  i32x4TruncSatF64Zero: 0xfc,
} as const;

/** One SIMD instruction. */
function v(f: FunctionBuilder, code: number): void {
  f.op(0xfd, ...uleb(code));
}

/** Pushes a float32x4 constant with `x` in every lane (float32-rounded). */
function f4(f: FunctionBuilder, x: number): void {
  vconst(f, [...new Uint8Array(new Float32Array([x, x, x, x]).buffer)]);
}

/** Pushes a float64x2 constant with `x` in both lanes. */
function d2(f: FunctionBuilder, x: number): void {
  vconst(f, [...new Uint8Array(new Float64Array([x, x]).buffer)]);
}

/** Pushes an i32x4 constant with `x` in every lane. */
function i4(f: FunctionBuilder, x: number): void {
  vconst(f, [...new Uint8Array(new Int32Array([x, x, x, x]).buffer)]);
}

/** A fresh v128 local. */
function vlocal(f: FunctionBuilder): string {
  const name = `v${temps++}`;
  f.local(name, V128);
  return name;
}

/** Pops the top of the stack into a fresh v128 local and returns its name. */
function save(f: FunctionBuilder): string {
  const name = vlocal(f);
  f.set(name);
  return name;
}

/**
 * Pushes each operand (a local's name, or a number as a float32x4 constant in every lane), then
 * applies the SIMD instruction `code`: `vop(f, V.f32x4Mul, "a", 2)` pushes `a · 2`; with fewer
 * operands the instruction also takes what is already on the stack.
 */
function vop(f: FunctionBuilder, code: number, ...operands: readonly (string | number)[]): void {
  for (const o of operands) {
    if (typeof o === "string") f.get(o);
    else f4(f, o);
  }
  v(f, code);
}

/** {@link vop}, then pops the result into a fresh v128 local and returns its name. */
function vsave(f: FunctionBuilder, code: number, ...operands: readonly (string | number)[]): string {
  vop(f, code, ...operands);
  return save(f);
}

/** Of the two values on the stack, keeps the first where `x code 0` holds, else the second. */
function selectBySign(f: FunctionBuilder, x: string, code: number): void {
  f.get(x);
  f.v128Zero();
  v(f, code);
  v(f, V.bitselect);
}

/** log2(e) and ln 2 split as in Cephes' expf: C1 has 9 significant bits, so k·C1 is exact. */
const LOG2E = Math.LOG2E;
const LN2_HI = 0.693359375;
const LN2_LO = -2.1219444e-4;

/** Cephes' expf polynomial: exp(r) ≈ 1 + r + r²·P(r) for |r| ≤ ln2/2 (within 1 ulp in float32). */
const EXP_POLY = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
];

/**
 * Pushes `2^k · exp(r)` for a reduced argument `r` (float32x4 local, |r| ≲ 0.36) and integer
 * `k` (i32x4 local, -252 ≤ k ≤ 128): the polynomial, then `2^k` in two factors, `2^(k>>1)` added
 * to the exponent bits (the polynomial is in [0.7, 1.42], so the sum stays a normal number) and
 * `2^(k - (k>>1))` as a multiplication, so overflow gives +Inf and underflow rounds once into the
 * subnormal range (then to 0). NaN in `r` stays NaN (its `k` is 0).
 */
function expFinish(f: FunctionBuilder, r: string, k: string): void {
  f4(f, EXP_POLY[0]!);
  for (let i = 1; i < EXP_POLY.length; i++) {
    vop(f, V.f32x4Mul, r);
    vop(f, V.f32x4Add, EXP_POLY[i]!);
  }
  vop(f, V.f32x4Mul, r, r);
  v(f, V.f32x4Mul);
  vop(f, V.f32x4Add, r);
  vop(f, V.f32x4Add, 1);
  const k1 = vlocal(f);
  f.get(k).i32(1);
  v(f, V.i32x4ShrS);
  f.op(0x22, ...uleb(f.local(k1, V128))); // local.tee
  f.i32(23);
  v(f, V.i32x4Shl);
  v(f, V.i32x4Add);
  f.get(k).get(k1);
  v(f, V.i32x4Sub);
  i4(f, 127);
  v(f, V.i32x4Add);
  f.i32(23);
  v(f, V.i32x4Shl);
  v(f, V.f32x4Mul);
}

/**
 * Pushes `exp(hi + mid + lo)` in float32x4, each part pushed by its callback: `hi` exact and
 * possibly large (|hi + mid| ≤ 174), `mid` of order 1 and `lo` small. The range reduction
 * `r = (hi - k·C1) + mid + (lo - k·C2)` loses nothing to the size of `hi`: `k·C1` is exact and
 * `hi - k·C1` is exact by Sterbenz's lemma, so the error is that of `r`'s few roundings, not
 * `|hi|·2^-24` (the arguments of `erfc`'s `exp(-z² + P)` are near -100 where it matters).
 */
function expParts(
  f: FunctionBuilder,
  hi: () => void,
  mid: (() => void) | null,
  lo: (() => void) | null,
): void {
  hi();
  if (mid) {
    mid();
    v(f, V.f32x4Add);
  }
  vop(f, V.f32x4Mul, LOG2E);
  const kf = vsave(f, V.f32x4Nearest);
  hi();
  vop(f, V.f32x4Mul, kf, LN2_HI);
  v(f, V.f32x4Sub);
  if (mid) {
    mid();
    v(f, V.f32x4Add);
  }
  if (lo) lo();
  else f.v128Zero();
  vop(f, V.f32x4Mul, kf, LN2_LO);
  v(f, V.f32x4Sub);
  const r = vsave(f, V.f32x4Add);
  const k = vsave(f, V.i32x4TruncSatF32, kf);
  expFinish(f, r, k);
}

/** Pushes `exp(x)` for a float32x4 local: x clamped to [-104, 88.8] (NaN stays NaN), then `expParts`. */
function expVec(f: FunctionBuilder, x: string): void {
  vop(f, V.f32x4Min, x, 88.8);
  const c = vsave(f, V.f32x4Max, -104);
  expParts(f, () => f.get(c), null, null);
}

/**
 * Pushes `exp(a)` where `a = -|x|·(c1 + c3·x²)` is formed in float64 (both halves of `x` promoted),
 * reduced there (`k = nearest(a·log2 e)`, `r = a - k·ln 2`) and `r`, `k` narrowed to float32x4 and
 * i32x4 for `expFinish`; used by geluTanh, whose exponent `2·√(2/π)·(x + 0.044715 x³)` is
 * as large as 104 where its result still matters.
 */
function expCubicF64(f: FunctionBuilder, ax: string, c1: number, c3: number): void {
  const halves: { r: string; k: string }[] = [];
  for (const half of [0, 1]) {
    f.get(ax);
    if (half === 1) {
      f.get(ax);
      f.shuffle32([2, 3, 0, 1]);
    }
    v(f, V.f64x2Promote);
    const h = save(f);
    f.get(h);
    d2(f, c1);
    f.get(h).get(h);
    v(f, V.f64x2Mul);
    d2(f, c3);
    v(f, V.f64x2Mul);
    v(f, V.f64x2Add);
    v(f, V.f64x2Mul);
    d2(f, -104);
    v(f, V.f64x2Max);
    const a = save(f);
    f.get(a);
    d2(f, LOG2E);
    v(f, V.f64x2Mul);
    v(f, V.f64x2Nearest);
    const kf = save(f);
    f.get(a).get(kf);
    d2(f, Math.LN2);
    v(f, V.f64x2Mul);
    v(f, V.f64x2Sub);
    v(f, V.f32x4Demote);
    const r = save(f);
    f.get(kf);
    v(f, V.i32x4TruncSatF64Zero);
    halves.push({ r, k: save(f) });
  }
  f.get(halves[0]!.r).get(halves[1]!.r);
  f.shuffle32([0, 1, 4, 5]);
  const r = save(f);
  f.get(halves[0]!.k).get(halves[1]!.k);
  f.shuffle32([0, 1, 4, 5]);
  const k = save(f);
  expFinish(f, r, k);
}

/** Float32 bits mask keeping the 12 leading significant bits (so a square of it is exact). */
const HIGH12 = 0xfffff000 | 0;

/**
 * Pushes `erfc(z)` for `z >= 0` (float32x4 local, at most 11; NaN gives NaN) given `z²` as
 * `sqh + sql` with `sqh` exact: `t = 2 / (2 + z)`, `P` the Clenshaw sum of `CHEB_F32` in `2t - 1`,
 * `r = t · exp(-sqh + P - sql)` (the form of `special.ts`, in float32 arithmetic).
 */
function erfcCore(f: FunctionBuilder, z: string, sqh: string, sql: string): void {
  const s = vsave(f, V.f32x4Add, 2, z);
  const t = vsave(f, V.f32x4Div, 2, s);
  vop(f, V.f32x4Add, t, t);
  const u = vsave(f, V.f32x4Sub, 1);
  // the rounding error of s = 2 + z (TwoSum), to correct the factor t: 2 / (s + e) ≈ t - t²·e/2
  const bb = vsave(f, V.f32x4Sub, s, 2);
  f4(f, 2);
  vop(f, V.f32x4Sub, s, bb);
  v(f, V.f32x4Sub);
  vop(f, V.f32x4Sub, z, bb);
  const e = vsave(f, V.f32x4Add);
  f.get(t);
  vop(f, V.f32x4Mul, t, t);
  vop(f, V.f32x4Mul, e, 0.5);
  v(f, V.f32x4Mul);
  const tc = vsave(f, V.f32x4Sub);
  const u2 = vsave(f, V.f32x4Add, u, u);
  const c = CHEB_F32;
  // Clenshaw: d_j = u2·d_{j+1} - d_{j+2} + c_j, two locals alternating as d and dd
  let d = vlocal(f);
  let dd = vlocal(f);
  f4(f, c[c.length - 1]!);
  f.set(d);
  f.v128Zero().set(dd);
  for (let j = c.length - 2; j >= 1; j--) {
    vop(f, V.f32x4Mul, u2, d);
    vop(f, V.f32x4Sub, dd);
    vop(f, V.f32x4Add, c[j]!);
    f.set(dd);
    [d, dd] = [dd, d];
  }
  vop(f, V.f32x4Mul, u, d);
  vop(f, V.f32x4Sub, dd);
  const p = vsave(f, V.f32x4Add, c[0]!);
  f.get(tc);
  expParts(
    f,
    () => vop(f, V.f32x4Neg, sqh),
    () => f.get(p),
    () => vop(f, V.f32x4Neg, sql),
  );
  v(f, V.f32x4Mul);
}

/**
 * Splits a float32x4 local `w >= 0` (finite) into `w² = hi + lo` scaled by `scale` (1 or 0.5,
 * exact): `wh` is `w` with its 12 leading significant bits, `hi = wh²` (exact), `lo = (w - wh)(w + wh)`.
 */
function squareSplit(f: FunctionBuilder, w: string, scale: number): { hi: string; lo: string } {
  const scaled = () => {
    if (scale !== 1) vop(f, V.f32x4Mul, scale);
  };
  f.get(w);
  i4(f, HIGH12);
  const wh = vsave(f, V.and);
  vop(f, V.f32x4Mul, wh, wh);
  scaled();
  const hi = save(f);
  vop(f, V.f32x4Sub, w, wh);
  vop(f, V.f32x4Add, w, wh);
  v(f, V.f32x4Mul);
  scaled();
  return { hi, lo: save(f) };
}

/** Pushes `erf(x)` for a float32x4 local: the `TAYLOR_F32` polynomial for |x| < 0.5, `±(1 - erfc(|x|))` beyond. */
function erfVec(f: FunctionBuilder, x: string): void {
  const ax = vsave(f, V.f32x4Abs, x);
  const z = vsave(f, V.f32x4Min, ax, 11);
  const { hi, lo } = squareSplit(f, z, 1);
  // large: (1 - erfc(z)) with x's sign (1 - erfc >= 0, so or-ing the sign bit in copies it)
  f4(f, 1);
  erfcCore(f, z, hi, lo);
  v(f, V.f32x4Sub);
  f.get(x);
  i4(f, -0x80000000);
  v(f, V.and);
  const big = vsave(f, V.or);
  // small: x · T(x²)
  f.get(x);
  const x2 = vsave(f, V.f32x4Mul, x, x);
  const c = TAYLOR_F32;
  f4(f, c[c.length - 1]!);
  for (let n = c.length - 2; n >= 0; n--) {
    vop(f, V.f32x4Mul, x2);
    vop(f, V.f32x4Add, c[n]!);
  }
  v(f, V.f32x4Mul);
  f.get(big);
  vop(f, V.f32x4Lt, ax, 0.5);
  v(f, V.bitselect);
}

/** Pushes exact `gelu(x) = 0.5 · x · erfc(-x/√2)` for a float32x4 local, with `x²/2` split exactly. */
function geluVec(f: FunctionBuilder, x: string): void {
  const ax = vsave(f, V.f32x4Abs, x);
  vop(f, V.f32x4Mul, ax, Math.SQRT1_2);
  const z = vsave(f, V.f32x4Min, 11);
  const xc = vsave(f, V.f32x4Min, ax, 15.5);
  const { hi, lo } = squareSplit(f, xc, 0.5);
  vop(f, V.f32x4Mul, x, 0.5);
  erfcCore(f, z, hi, lo);
  const r = save(f);
  // erfc(-x/√2) = x > 0 ? 2 - r : r
  vop(f, V.f32x4Sub, 2, r);
  f.get(r);
  selectBySign(f, x, V.f32x4Gt);
  v(f, V.f32x4Mul);
}

/**
 * Pushes `geluTanh(x) = 0.5 · x · (1 + tanh(u))`, `u = √(2/π)(x + 0.044715 x³)`, as the equal
 * `x / (1 + e)` for x >= 0 and `x · e / (1 + e)` below, with `e = exp(-2|u|)` in (0, 1]: no
 * cancellation near 0 or for negative x (where `1 + tanh(u)` would cancel), no overflow.
 */
function geluTanhVec(f: FunctionBuilder, x: string): void {
  const ax = vsave(f, V.f32x4Abs, x);
  const c = -2 * 0.7978845608028654; // -2·√(2/π), activations.ts' GELU_TANH_C
  expCubicF64(f, ax, c, c * 0.044715);
  const e = save(f);
  f.get(x);
  vop(f, V.f32x4Mul, x, e);
  selectBySign(f, x, V.f32x4Ge);
  vop(f, V.f32x4Add, 1, e);
  v(f, V.f32x4Div);
}

/** Emits a special function of the float32x4 local `x` (`exp`, `erf`, `gelu` or `geluTanh`). */
function emitSpecial(f: FunctionBuilder, op: string, x: string): void {
  if (op === "exp") expVec(f, x);
  else if (op === "erf") erfVec(f, x);
  else if (op === "gelu") geluVec(f, x);
  else geluTanhVec(f, x);
}

/** Emits the expression; `leaf(k)` pushes leaf k (a v128 or an f32 by `vector`). */
function emit(f: FunctionBuilder, t: ExprTree | number, vector: boolean, leaf: (k: number) => void): void {
  if (typeof t === "number") {
    leaf(t);
    return;
  }
  const ty = vector ? V128 : F32;
  const kid = (i: number) => emit(f, t.kids[i]!, vector, leaf);
  const simd = (code: number) => f.op(0xfd, ...(code > 127 ? [(code & 0x7f) | 0x80, code >> 7] : [code]));
  const zero = () => (vector ? f.v128Zero() : f.f32Const(0));
  const tmp = () => f.local(`t${temps++}`, ty);
  const toOne = () => {
    // comparison result -> 1.0 / 0.0
    if (vector) {
      vconst(f, ONE);
      f.op(0xfd, 0x4e); // v128.and
    } else f.op(0xb3); // f32.convert_i32_u
  };
  switch (t.op) {
    case "exp":
    case "erf":
    case "gelu":
    case "geluTanh": {
      // the scalar tail runs the vector code on a splatted value and keeps lane 0, so an
      // element's result does not depend on whether it falls in the tail
      kid(0);
      if (!vector) v(f, V.f32x4Splat);
      const x = save(f);
      emitSpecial(f, t.op, x);
      if (!vector) f.op(0xfd, V.f32x4Extract, 0);
      return;
    }
    case "neg":
      kid(0);
      if (vector) simd(225);
      else f.op(0x8c);
      return;
    case "abs":
      kid(0);
      if (vector) simd(224);
      else f.op(0x8b);
      return;
    case "sqrt":
      kid(0);
      if (vector) simd(227);
      else f.op(0x91);
      return;
    case "square": {
      const l = tmp();
      kid(0);
      f.op(0x22, ...uleb(l)); // local.tee
      f.op(0x20, ...uleb(l));
      if (vector) simd(230);
      else f.op(0x94);
      return;
    }
    case "relu":
      kid(0);
      zero();
      if (vector) simd(233);
      else f.op(0x97);
      return;
    case "leakyRelu": {
      // x > 0 ? x : s * x as bitselect(x, s * x, x > 0) / select(x, s * x, x > 0); the product of
      // two float32 values rounds once either way, as in the JavaScript loop
      const l = tmp();
      kid(0);
      f.op(0x21, ...uleb(l)); // local.set
      f.op(0x20, ...uleb(l));
      kid(1);
      f.op(0x20, ...uleb(l));
      if (vector) simd(230);
      else f.op(0x94);
      f.op(0x20, ...uleb(l));
      zero();
      if (vector) {
        simd(68); // f32x4.gt
        f.op(0xfd, 0x52); // v128.bitselect
      } else {
        f.op(0x5e); // f32.gt
        f.op(0x1b); // select
      }
      return;
    }
    case "clip":
      // minimum(maximum(x, lo), hi): NaN-propagating, -0 < +0, as Math.min / Math.max
      kid(0);
      kid(1);
      if (vector) simd(VEC.maximum!);
      else f.op(SCAL.maximum!);
      kid(2);
      if (vector) simd(VEC.minimum!);
      else f.op(SCAL.minimum!);
      return;
    case "where": {
      // bitselect(a, b, c != 0) / select(a, b, c != 0)
      kid(1);
      kid(2);
      kid(0);
      zero();
      if (vector) {
        simd(66); // f32x4.ne
        f.op(0xfd, 0x52); // v128.bitselect
      } else {
        f.op(0x5c); // f32.ne
        f.op(0x1b); // select
      }
      return;
    }
    default: {
      kid(0);
      kid(1);
      if (vector) simd(VEC[t.op]!);
      else f.op(SCAL[t.op]!);
      if (COMPARISONS.has(t.op)) toOne();
    }
  }
}

function emitLoop(tree: ExprTree, modes: readonly LeafMode[], nested: boolean): FunctionBuilder {
  const params: [string, number][] = [["out", I32]];
  modes.forEach((_, k) => {
    params.push([`a${k}`, I32]);
  });
  params.push(["n", I32], ["m", I32]);
  const f = new FunctionBuilder(params);
  temps = 0;
  for (const l of ["i", "j", "r", "rows", "vend", "end"]) f.local(l, I32);
  modes.forEach((mode, k) => {
    if (mode === "scalar" || perRow(mode)) {
      f.local(`sv${k}`, V128);
      f.local(`ss${k}`, F32);
    }
    if (mode.startsWith("planes:")) f.local(`q${k}`, I32);
  });
  // scalar leaves: load once
  modes.forEach((mode, k) => {
    if (mode === "scalar") {
      f.get(`a${k}`).f32Load().set(`ss${k}`);
      f.get(`ss${k}`).op(0xfd, 0x13).set(`sv${k}`);
    }
  });
  // leaf loaders: the address of element (i + j) is a_k + i + j for full leaves, a_k + j for suffix
  const leaf = (vector: boolean) => (k: number) => {
    const mode = modes[k]!;
    if (mode === "scalar" || perRow(mode)) {
      f.get(vector ? `sv${k}` : `ss${k}`);
      return;
    }
    f.get(`a${k}`);
    if (mode === "full") f.get("i").add();
    if (nested) f.get("j").add();
    if (vector) f.v128Load();
    else f.f32Load();
  };
  const body = (vector: boolean) => {
    // the output address first, then the value
    f.get("out").get("i").add();
    if (nested) f.get("j").add();
    emit(f, tree, vector, leaf(vector));
    if (vector) f.v128Store();
    else f.f32Store();
  };
  if (!nested) {
    f.get("n").i32(-4).op(0x71).i32(4).mul().set("vend");
    f.get("n").i32(4).mul().set("end");
    f.i32(0).set("i");
    f.whileLoop(
      () => f.get("vend").get("i").gtS(),
      () => {
        body(true);
        f.inc("i", 16);
      },
    );
    f.whileLoop(
      () => f.get("end").get("i").gtS(),
      () => {
        body(false);
        f.inc("i", 4);
      },
    );
    return f;
  }
  // nested: rows of length m; i is the byte offset of the row start
  f.get("m").i32(-4).op(0x71).i32(4).mul().set("vend");
  f.get("m").i32(4).mul().set("end");
  f.get("n").get("m").op(0x6d).set("rows"); // i32.div_s
  f.i32(0).set("i");
  f.i32(0).set("r");
  modes.forEach((mode, k) => {
    if (mode.startsWith("planes:")) f.i32(0).set(`q${k}`);
  });
  f.whileLoop(
    () => f.get("rows").get("r").gtS(),
    () => {
      modes.forEach((mode, k) => {
        if (mode === "rows") {
          f.get(`a${k}`).get("r").i32(4).mul().add().f32Load().set(`ss${k}`);
          f.get(`ss${k}`).op(0xfd, 0x13).set(`sv${k}`);
        } else if (mode.startsWith("planes:")) {
          // q cycles 0 .. mid-1 (byte offsets), one step per row
          f.get(`a${k}`).get(`q${k}`).add().f32Load().set(`ss${k}`);
          f.get(`ss${k}`).op(0xfd, 0x13).set(`sv${k}`);
          f.inc(`q${k}`, 4);
          f.ifElse(
            () =>
              f
                .get(`q${k}`)
                .i32(4 * Number(mode.slice(7)))
                .eq(),
            () => f.i32(0).set(`q${k}`),
          );
        }
      });
      f.i32(0).set("j");
      f.whileLoop(
        () => f.get("vend").get("j").gtS(),
        () => {
          body(true);
          f.inc("j", 16);
        },
      );
      f.whileLoop(
        () => f.get("end").get("j").gtS(),
        () => {
          body(false);
          f.inc("j", 4);
        },
      );
      f.incBy("i", "end");
      f.inc("r", 1);
    },
  );
  return f;
}

type Raw = (...args: number[]) => void;
const cache = new Map<string, Raw | null>();

function treeKey(t: ExprTree | number): string {
  return typeof t === "number" ? `$${t}` : `${t.op}(${t.kids.map(treeKey).join(",")})`;
}

/**
 * A float32 SIMD kernel for `tree` with these leaf modes, or null when some op or mode has no
 * SIMD lowering (or WebAssembly is unavailable). `fallback` runs when an array is outside the arena.
 */
export function wasmElementwise(
  tree: ExprTree,
  modes: readonly string[],
  n: number,
  m: number,
  fallback: Kernel,
): Kernel | null {
  const be = wasmBackend();
  if (!be || !simdSupported(tree) || modes.some((x) => x === "map") || modes.length > 8) return null;
  const nested = m > 0;
  const key = `${treeKey(tree)}|${modes.join(",")}|${nested}`;
  let raw = cache.get(key);
  if (raw === undefined) {
    try {
      const bytes = assembleModule([{ name: "k", fn: emitLoop(tree, modes as LeafMode[], nested) }], {
        initial: 1,
        maximum: 32768,
        shared: be.shared,
      });
      const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: be.memory } });
      raw = inst.exports.k as Raw;
    } catch {
      raw = null;
    }
    cache.set(key, raw);
  }
  if (!raw) return null;
  const fn = raw;
  const k = modes.length;
  const owns = (ins: readonly Float32Array[] | readonly unknown[], out: unknown): boolean => {
    if (!(out instanceof Float32Array) || !be.owns(out)) return false;
    for (let q = 0; q < ins.length; q++) {
      const a = ins[q];
      if (!(a instanceof Float32Array) || !be.owns(a)) return false;
    }
    return true;
  };
  switch (k) {
    case 1:
      return (ins, out) => {
        if (owns(ins, out)) fn(out.byteOffset, ins[0]!.byteOffset, n, m);
        else fallback(ins, out);
      };
    case 2:
      return (ins, out) => {
        if (owns(ins, out)) fn(out.byteOffset, ins[0]!.byteOffset, ins[1]!.byteOffset, n, m);
        else fallback(ins, out);
      };
    case 3:
      return (ins, out) => {
        if (owns(ins, out))
          fn(out.byteOffset, ins[0]!.byteOffset, ins[1]!.byteOffset, ins[2]!.byteOffset, n, m);
        else fallback(ins, out);
      };
    default: {
      const args = new Array<number>(k + 3).fill(0);
      return (ins, out) => {
        if (!owns(ins, out)) {
          fallback(ins, out);
          return;
        }
        args[0] = out.byteOffset;
        for (let q = 0; q < k; q++) args[q + 1] = ins[q]!.byteOffset;
        args[k + 1] = n;
        args[k + 2] = m;
        fn(...args);
      };
    }
  }
}
