/**
 * The fused layer-normalisation kernels of the `layerNorm` op and of its input gradient
 * `layerNormBackward`. Both take one pass over each row (the elements along the normalised axis)
 * for the mean and a second for the biased variance of the centred values (two passes, so a large
 * common offset does not cancel the variance away as `E[x²] - E[x]²` would); the forward kernel
 * then writes the normalised, scaled and shifted output, the backward one sums the cotangent and
 * its product with `xhat`, then writes the input gradient. Sums run in float64 (JavaScript
 * numbers) whatever the dtype, in a fixed order (interleaved partial sums along a contiguous row,
 * ascending along a strided one), so a result depends only on the shape, never on how rows are
 * scheduled.
 * @module
 */
import type { DType, FloatArray } from "../dtype.js";
import { specialize } from "../specialize.js";
import { wasmBackend } from "./memory.js";

/**
 * Both loops and the row statistics they share, in one self-contained factory so that
 * {@link specialize} gives each dtype its own copy of the helpers too (each stays monomorphic and
 * small enough to inline into its caller).
 */
const loops = function layerNormLoops() {
  // methods, not nested function declarations or arrows: transpilers that keep names wrap the
  // latter in a helper call the recompiled copy could not see
  const lib = {
    /**
     * The mean of the contiguous row `x[base, base + n)`: four interleaved partial sums (independent
     * add chains instead of one long one) over the first `n4` elements, the tail added to the first,
     * combined as `(s0 + s1) + (s2 + s3)`.
     */
    rowMean(x: FloatArray, base: number, n: number, n4: number, invN: number): number {
      const end4 = base + n4;
      const end = base + n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let p = base;
      for (; p < end4; p += 4) {
        s0 += x[p]!;
        s1 += x[p + 1]!;
        s2 += x[p + 2]!;
        s3 += x[p + 3]!;
      }
      for (; p < end; p++) s0 += x[p]!;
      return (s0 + s1 + (s2 + s3)) * invN;
    },

    /**
     * `1 / sqrt(var + eps)` of the contiguous row `x[base, base + n)` with mean `m`, the biased
     * variance of `x - m` summed as in `rowMean`.
     */
    rowRstd(
      x: FloatArray,
      base: number,
      n: number,
      n4: number,
      m: number,
      invN: number,
      eps: number,
    ): number {
      const end4 = base + n4;
      const end = base + n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let p = base;
      for (; p < end4; p += 4) {
        const d0 = x[p]! - m;
        const d1 = x[p + 1]! - m;
        const d2 = x[p + 2]! - m;
        const d3 = x[p + 3]! - m;
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
      }
      for (; p < end; p++) {
        const d = x[p]! - m;
        s0 += d * d;
      }
      return 1 / Math.sqrt((s0 + s1 + (s2 + s3)) * invN + eps);
    },
    /**
     * For the block of `x` at `base` viewed as `[n, inner]`: `mean[i]` and `rstd[i]` (`1 / sqrt(var
     * + eps)`, the biased variance of the centred values) of each of its `inner` strided rows,
     * summed in ascending order.
     */
    blockStats(
      x: FloatArray,
      base: number,
      n: number,
      inner: number,
      invN: number,
      eps: number,
      mean: Float64Array,
      rstd: Float64Array,
    ): void {
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
          const v = x[p + i]! - mean[i]!;
          rstd[i] += v * v;
        }
      }
      for (let i = 0; i < inner; i++) rstd[i] = 1 / Math.sqrt(rstd[i]! * invN + eps);
    },

    /**
     * `out = (x - mean) / sqrt(var + eps) * gamma + beta` along the middle axis of `x` viewed as
     * `[outer, n, inner]`; `gamma` and `beta` hold `n` values. `mean` and `rstd` are scratch arrays
     * of `inner` entries (used when `inner > 1`, where the `inner` rows of a block are walked
     * together so every read is contiguous).
     */
    forward(
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
        const n4 = n - (n % 4);
        for (let o = 0; o < outer; o++) {
          const base = o * n;
          const m = lib.rowMean(x, base, n, n4, invN);
          const k = lib.rowRstd(x, base, n, n4, m, invN, eps);
          for (let r = 0; r < n; r++) out[base + r] = (x[base + r]! - m) * k * gamma[r]! + beta[r]!;
        }
        return;
      }
      for (let o = 0; o < outer; o++) {
        const base = o * n * inner;
        lib.blockStats(x, base, n, inner, invN, eps, mean, rstd);
        for (let r = 0; r < n; r++) {
          const p = base + r * inner;
          const g = gamma[r]!;
          const bt = beta[r]!;
          for (let i = 0; i < inner; i++) out[p + i] = (x[p + i]! - mean[i]!) * rstd[i]! * g + bt;
        }
      }
    },

    /**
     * `out = rstd * (d - mean(d) - xhat * mean(d * xhat))` along the middle axis of
     * `[outer, n, inner]` (`xhat` and `rstd` recomputed from `x` as in the forward loop). `mean`,
     * `rstd`, `sd` and `sdx` are scratch arrays of `inner` entries (used when `inner > 1`).
     */
    backward(
      x: FloatArray,
      d: FloatArray,
      out: FloatArray,
      outer: number,
      n: number,
      inner: number,
      eps: number,
      mean: Float64Array,
      rstd: Float64Array,
      sd: Float64Array,
      sdx: Float64Array,
    ): void {
      const invN = 1 / n;
      if (inner === 1) {
        // four interleaved partial sums per total, as in rowMean
        const n4 = n - (n % 4);
        for (let o = 0; o < outer; o++) {
          const base = o * n;
          const end4 = base + n4;
          const end = base + n;
          const m = lib.rowMean(x, base, n, n4, invN);
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          let c0 = 0;
          let c1 = 0;
          let c2 = 0;
          let c3 = 0;
          let p = base;
          for (; p < end4; p += 4) {
            const v0 = x[p]! - m;
            const v1 = x[p + 1]! - m;
            const v2 = x[p + 2]! - m;
            const v3 = x[p + 3]! - m;
            const d0 = d[p]!;
            const d1 = d[p + 1]!;
            const d2 = d[p + 2]!;
            const d3 = d[p + 3]!;
            s0 += v0 * v0;
            s1 += v1 * v1;
            s2 += v2 * v2;
            s3 += v3 * v3;
            a0 += d0;
            a1 += d1;
            a2 += d2;
            a3 += d3;
            c0 += d0 * v0;
            c1 += d1 * v1;
            c2 += d2 * v2;
            c3 += d3 * v3;
          }
          for (; p < end; p++) {
            const v = x[p]! - m;
            s0 += v * v;
            a0 += d[p]!;
            c0 += d[p]! * v;
          }
          const k = 1 / Math.sqrt((s0 + s1 + (s2 + s3)) * invN + eps);
          const a = (a0 + a1 + (a2 + a3)) * invN;
          // k * mean(d * xhat) * k = k³ mean(d (x - m)), the coefficient of (x - m)
          const c = (c0 + c1 + (c2 + c3)) * invN * k * k * k;
          for (p = base; p < end; p++) out[p] = k * (d[p]! - a) - (x[p]! - m) * c;
        }
        return;
      }
      for (let o = 0; o < outer; o++) {
        const base = o * n * inner;
        lib.blockStats(x, base, n, inner, invN, eps, mean, rstd);
        for (let i = 0; i < inner; i++) {
          sd[i] = 0;
          sdx[i] = 0;
        }
        for (let r = 0; r < n; r++) {
          const p = base + r * inner;
          for (let i = 0; i < inner; i++) {
            const dv = d[p + i]!;
            sd[i] += dv;
            sdx[i] += dv * (x[p + i]! - mean[i]!) * rstd[i]!;
          }
        }
        for (let i = 0; i < inner; i++) {
          sd[i] *= invN;
          sdx[i] *= invN;
        }
        for (let r = 0; r < n; r++) {
          const p = base + r * inner;
          for (let i = 0; i < inner; i++) {
            const k = rstd[i]!;
            out[p + i] = k * (d[p + i]! - sd[i]! - (x[p + i]! - mean[i]!) * k * sdx[i]!);
          }
        }
      }
    },
  };
  return lib;
};
/** The loops of each dtype, each copy with its own helpers. */
const loopsK = specialize(loops);
const dtypeLoops = { float32: loopsK.float32(), float64: loopsK.float64() };

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
  const f = dtypeLoops[dtype].forward;
  const mean = new Float64Array(inner > 1 ? inner : 0);
  const rstd = new Float64Array(inner > 1 ? inner : 0);
  const be = dtype === "float32" && inner === 1 ? wasmBackend() : null;
  if (be) {
    // the same bits through WebAssembly SIMD when every array lives in the arena
    const k = be.kernels;
    return (ins, out) => {
      const [x, g, b] = [ins[0]!, ins[1]!, ins[2]!];
      if (be.owns(x) && be.owns(g) && be.owns(b) && be.owns(out))
        k.layernorm_f32(x.byteOffset, g.byteOffset, b.byteOffset, out.byteOffset, outer, n, eps);
      else f(x, g, b, out, outer, n, inner, eps, mean, rstd);
    };
  }
  return (ins, out) => f(ins[0]!, ins[1]!, ins[2]!, out, outer, n, inner, eps, mean, rstd);
}

/**
 * The kernel of `layerNormBackward`: inputs `[x, d]` of one shape viewed as `[outer, n, inner]`,
 * output `rstd * (d - mean(d) - xhat * mean(d * xhat))` along `n` (the input cotangent of
 * `layerNorm` for `d = g * gamma`). Scratch is allocated here, once per plan.
 */
export function layerNormBackwardKernel(
  dtype: DType,
  outer: number,
  n: number,
  inner: number,
  eps: number,
): (ins: readonly FloatArray[], out: FloatArray) => void {
  const f = dtypeLoops[dtype].backward;
  const len = inner > 1 ? inner : 0;
  const s = [0, 1, 2, 3].map(() => new Float64Array(len)) as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const be = dtype === "float32" && inner === 1 ? wasmBackend() : null;
  if (be) {
    const k = be.kernels;
    return (ins, out) => {
      const [x, d] = [ins[0]!, ins[1]!];
      if (be.owns(x) && be.owns(d) && be.owns(out))
        k.layernorm_back_f32(x.byteOffset, d.byteOffset, out.byteOffset, outer, n, eps);
      else f(x, d, out, outer, n, inner, eps, s[0], s[1], s[2], s[3]);
    };
  }
  return (ins, out) => f(ins[0]!, ins[1]!, out, outer, n, inner, eps, s[0], s[1], s[2], s[3]);
}
