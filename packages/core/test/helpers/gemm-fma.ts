/**
 * Run by gemm.test.ts in a child Node with relaxed SIMD enabled: checks that the backend picked
 * the FMA kernels, that they agree with a float64 product within float32 rounding, and that two
 * runs give the same bits. Prints one JSON line.
 */
import { Rng, wasmBackend } from "@gradgraph/core";

const be = wasmBackend()!;
const [M, N, K] = [70, 37, 300];
let maxRel = 0;
let repeatable = true;
for (const v of ["nn", "tn", "nt"] as const) {
  const a = be.alloc("float32", M * K) as Float32Array;
  const b = be.alloc("float32", K * N) as Float32Array;
  const c = be.alloc("float32", M * N) as Float32Array;
  const rng = new Rng(5);
  rng.fillUniform(a, -1, 1);
  rng.fillUniform(b, -1, 1);
  const lda = v === "tn" ? M : K;
  const ldb = v === "nt" ? K : N;
  const run = () => {
    be.kernels[`gemm_${v}`](
      a.byteOffset,
      b.byteOffset,
      c.byteOffset,
      M,
      N,
      K,
      lda,
      ldb,
      N,
      be.gemmWorkspace(),
    );
    return Float32Array.from(c);
  };
  const first = run();
  const second = run();
  for (let i = 0; i < first.length; i++) if (!Object.is(first[i], second[i])) repeatable = false;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        const p = (v === "tn" ? a[k * M + i]! : a[i * K + k]!) * (v === "nt" ? b[j * K + k]! : b[k * N + j]!);
        s += p;
        mag += Math.abs(p);
      }
      maxRel = Math.max(maxRel, Math.abs(first[i * N + j]! - s) / mag);
    }
}
console.log(JSON.stringify({ fma: be.fma, maxRel, repeatable }));
