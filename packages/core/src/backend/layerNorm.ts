/**
 * The fused layer-normalisation kernel used by the `layerNorm` op: one pass over each row (the
 * elements along the normalised axis) for the mean, a second for the biased variance of the
 * centred values (two passes, so a large common offset does not cancel the variance away as
 * `E[x²] - E[x]²` would), then the normalised, scaled and shifted output. Sums run in float64
 * (JavaScript numbers) in ascending row order whatever the dtype, so float32 and float64 results
 * differ only by the final rounding, and the result never depends on how rows are scheduled.
 * @module
 */
import type { DType, FloatArray } from "../dtype.js";
import { specialize } from "../specialize.js";

/**
 * `out = (x - mean) / sqrt(var + eps) * gamma + beta` along the middle axis of `x` viewed as
 * `[outer, n, inner]`; `gamma` and `beta` hold `n` values. `mean` and `rstd` are scratch arrays
 * of `inner` entries (used when `inner > 1`, where the `inner` rows of a block are walked
 * together so every read is contiguous).
 */
const loop = function layerNormLoop(
  x: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  out: FloatArray,
  outer: number,
  n: number,
  inner: number,
  eps: number,
  mean: Float64Array,
  rstd: Float64Array,
): void {
  const invN = 1 / n;
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      const base = o * n;
      let s = 0;
      for (let r = 0; r < n; r++) s += x[base + r]!;
      const m = s * invN;
      let q = 0;
      for (let r = 0; r < n; r++) {
        const d = x[base + r]! - m;
        q += d * d;
      }
      const k = 1 / Math.sqrt(q * invN + eps);
      for (let r = 0; r < n; r++) out[base + r] = (x[base + r]! - m) * k * gamma[r]! + beta[r]!;
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let i = 0; i < inner; i++) mean[i] = 0;
    for (let r = 0; r < n; r++) {
      const p = base + r * inner;
      for (let i = 0; i < inner; i++) mean[i] += x[p + i]!;
    }
    for (let i = 0; i < inner; i++) {
      mean[i] *= invN;
      rstd[i] = 0;
    }
    for (let r = 0; r < n; r++) {
      const p = base + r * inner;
      for (let i = 0; i < inner; i++) {
        const d = x[p + i]! - mean[i]!;
        rstd[i] += d * d;
      }
    }
    for (let i = 0; i < inner; i++) rstd[i] = 1 / Math.sqrt(rstd[i]! * invN + eps);
    for (let r = 0; r < n; r++) {
      const p = base + r * inner;
      const g = gamma[r]!;
      const bt = beta[r]!;
      for (let i = 0; i < inner; i++) out[p + i] = (x[p + i]! - mean[i]!) * rstd[i]! * g + bt;
    }
  }
};
const loopK = specialize(loop);

/**
 * A layer-norm kernel for `x` viewed as `[outer, n, inner]` (normalised over `n`), inputs
 * `[x, gamma, beta]` with `n` gains and biases each. The scratch it needs is allocated here, once
 * per plan, not per run.
 */
export function layerNormKernel(
  dtype: DType,
  outer: number,
  n: number,
  inner: number,
  eps: number,
): (ins: readonly FloatArray[], out: FloatArray) => void {
  const f = loopK[dtype];
  const mean = new Float64Array(inner > 1 ? inner : 0);
  const rstd = new Float64Array(inner > 1 ? inner : 0);
  return (ins, out) => f(ins[0]!, ins[1]!, ins[2]!, out, outer, n, inner, eps, mean, rstd);
}
