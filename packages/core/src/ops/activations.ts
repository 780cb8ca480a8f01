/**
 * Smooth elementwise activations and special functions: `softplus`, `log1p`, `expm1`, `silu`,
 * `gelu` (exact, with `erf`), `geluTanh` (the tanh approximation) and `erf`. All are fusable
 * JavaScript loops (float64 arithmetic, one rounding at the store). In float32, a kernel or fused
 * group containing `erf`, `gelu` or `geluTanh` (with arithmetic ops and `exp`, e.g. gelu's backward)
 * runs as WebAssembly SIMD instead, within 2-4 float32 ulps of these functions (see
 * `backend/elementwise-wasm.ts`); `exp` on its own and the other activations stay JavaScript, so
 * their results are unchanged. An expression that reads its argument more
 * than once binds it first (`((v) => …)(x)`), so fused groups do not repeat sub-expressions.
 * @module
 */
import { unaryOp } from "./elementwise.js";
import { erfcScalar, erfScalar } from "./special.js";

/** `((v) => body)(x)`: binds the argument once inside generated code. */
const bind = (x: string, body: string) => `((v) => ${body})(${x})`;

/** Elementwise `log(1 + exp(x))`, computed stably as `max(x, 0) + log1p(exp(-|x|))`. */
export const softplus = unaryOp("softplus", "Elementwise log(1 + exp(x)), computed stably.", {
  expr: (x) => bind(x, "Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)))"),
  fn: (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))),
});

/** Elementwise `log(1 + x)`, accurate for small `x`. */
export const log1p = unaryOp("log1p", "Elementwise log(1 + x), accurate for small x.", {
  expr: (x) => `Math.log1p(${x})`,
  fn: Math.log1p,
});

/** Elementwise `exp(x) - 1`, accurate for small `x`. */
export const expm1 = unaryOp("expm1", "Elementwise exp(x) - 1, accurate for small x.", {
  expr: (x) => `Math.expm1(${x})`,
  fn: Math.expm1,
});

/** Elementwise SiLU (swish) `x · sigmoid(x)`, computed as `x / (1 + exp(-x))`. */
export const silu = unaryOp("silu", "Elementwise SiLU (swish) x * sigmoid(x).", {
  expr: (x) => bind(x, "v / (1 + Math.exp(-v))"),
  fn: (v) => v / (1 + Math.exp(-v)),
});

/** Elementwise error function `2/√π ∫₀ˣ exp(-t²) dt` (within 1e-13 relative in float64). */
export const erf = unaryOp("erf", "Elementwise error function.", {
  expr: (x) => `__gg_erf(${x})`,
  fn: erfScalar,
});

/**
 * Elementwise exact GELU `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`, computed as
 * `0.5 · x · erfc(-x / √2)` so that it keeps its relative accuracy for negative `x`.
 */
export const gelu = unaryOp("gelu", "Elementwise exact GELU 0.5 * x * (1 + erf(x / sqrt(2))).", {
  expr: (x) => bind(x, "0.5 * v * __gg_erfc(-v * Math.SQRT1_2)"),
  fn: (v) => 0.5 * v * erfcScalar(-v * Math.SQRT1_2),
});

/** `√(2/π)`, the constant of the tanh form of GELU. */
export const GELU_TANH_C = 0.7978845608028654;

/** Elementwise GELU, tanh approximation `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`. */
export const geluTanh = unaryOp(
  "geluTanh",
  "Elementwise GELU, tanh approximation 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).",
  {
    expr: (x) => bind(x, `0.5 * v * (1 + Math.tanh(${GELU_TANH_C} * (v + 0.044715 * v * v * v)))`),
    fn: (v) => 0.5 * v * (1 + Math.tanh(GELU_TANH_C * (v + 0.044715 * v * v * v))),
  },
);
