/**
 * Activations with a parameter, taken as inputs (so they may be tensors, learnable or broadcast,
 * and the ops stay fusable elementwise ops): `leakyRelu(x, slope)`, `elu(x, alpha)` and
 * `clip(x, min, max)`. The builder passes numbers as scalar constants.
 * @module
 */
import { binaryOp, ternaryOp } from "./elementwise.js";

/**
 * Elementwise leaky ReLU `x > 0 ? x : slope · x` (`slope` broadcasts; the builder's default is
 * 0.01). Its derivative in `x` at 0 is `slope` (the flat side, as `relu'(0) = 0`).
 */
export const leakyRelu = binaryOp("leakyRelu", "Elementwise leaky ReLU: x > 0 ? x : slope * x.", {
  expr: (x, s) => `((v, s) => (v > 0 ? v : s * v))(${x}, ${s})`,
  fn: (v, s) => (v > 0 ? v : s * v),
});

/**
 * Elementwise ELU `x > 0 ? x : alpha · (exp(x) - 1)` (`alpha` broadcasts; the builder's default
 * is 1). Its derivative in `x` at 0 is `alpha` (the left side; both agree when `alpha = 1`).
 */
export const elu = binaryOp("elu", "Elementwise ELU: x > 0 ? x : alpha * (exp(x) - 1).", {
  expr: (x, a) => `((v, a) => (v > 0 ? v : a * Math.expm1(v)))(${x}, ${a})`,
  fn: (v, a) => (v > 0 ? v : a * Math.expm1(v)),
});

/**
 * Elementwise clip `min(max(x, lo), hi)` (bounds broadcast; where `lo > hi` the result is `hi`,
 * as in numpy). The derivative goes to exactly one argument: `x` strictly inside `(lo, hi)`,
 * `lo` for `x <= lo < hi`, `hi` where `max(x, lo) >= hi` (so `x` gets 0 at both bounds, the
 * flat side, as `relu'(0) = 0`). NaN stays NaN.
 */
export const clip = ternaryOp("clip", "Elementwise clip min(max(x, lo), hi).", {
  expr: (x, lo, hi) => `Math.min(Math.max(${x}, ${lo}), ${hi})`,
  fn: (v, lo, hi) => Math.min(Math.max(v, lo), hi),
});
