import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Rng, wasmBackend } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { IN_PLACE_MAX_FLOATS, KC, MC, NC, PACK_MIN_ROWS } from "../src/backend/gemm-wasm.js";
import type { GemmKernel } from "../src/backend/memory.js";

type Variant = "nn" | "tn" | "nt";

/**
 * The kernels' contract, emulated exactly: each C element is summed over ascending k with one
 * float32 accumulator, product rounded then sum rounded (no FMA).
 */
function reference(
  v: Variant,
  a: Float32Array,
  b: Float32Array,
  M: number,
  N: number,
  K: number,
): Float32Array {
  const c = new Float32Array(M * N);
  const f = Math.fround;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = v === "tn" ? a[k * M + i]! : a[i * K + k]!;
        const bv = v === "nt" ? b[j * K + k]! : b[k * N + j]!;
        s = f(s + f(av * bv));
      }
      c[i * N + j] = s;
    }
  return c;
}

/** The entry point and every path function of a variant (`gemm_nn`, `gemm_nn_direct`, ...). */
function kernelsOf(v: Variant): [string, GemmKernel][] {
  const all = wasmBackend()!.kernels as unknown as Record<string, GemmKernel>;
  return Object.keys(all)
    .filter((name) => name === `gemm_${v}` || (name.startsWith(`gemm_${v}_`) && !name.includes("_tile")))
    .map((name) => [name, all[name]!]);
}

function product(kernel: GemmKernel, v: Variant, M: number, N: number, K: number, seed: number) {
  const be = wasmBackend()!;
  const a = be.alloc("float32", M * K) as Float32Array;
  const b = be.alloc("float32", K * N) as Float32Array;
  const c = be.alloc("float32", M * N) as Float32Array;
  const rng = new Rng(seed);
  rng.fillUniform(a, -1, 1);
  rng.fillUniform(b, -1, 1);
  c.fill(Number.NaN); // every element must be written
  const lda = v === "tn" ? M : K;
  const ldb = v === "nt" ? K : N;
  kernel(a.byteOffset, b.byteOffset, c.byteOffset, M, N, K, lda, ldb, N, be.gemmWorkspace());
  const out = { got: Float32Array.from(c), want: reference(v, a, b, M, N, K) };
  be.free(a);
  be.free(b);
  be.free(c);
  return out;
}

/** Shapes on both sides of every blocking boundary: the 4x8 tile, packing, KC, MC and NC. */
const shapes: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [4, 8, 1],
  [5, 13, 9],
  [PACK_MIN_ROWS - 1, 30, 40],
  [PACK_MIN_ROWS, 30, 40],
  [PACK_MIN_ROWS + 3, 9, KC + 1],
  [MC + 5, 19, 2 * KC + 3],
  [37, NC + 11, 5],
  [2 * MC + 1, 12, KC - 1],
];

describe.skipIf(!wasmBackend())("cache-blocked WebAssembly matrix kernels", () => {
  const fma = wasmBackend()?.fma ?? false;

  for (const v of ["nn", "tn", "nt"] as const) {
    test(`${v}: every path and blocking boundary, ${fma ? "within rounding (relaxed FMA)" : "bit-exact"} against the sequential-k reference`, () => {
      const kernels = kernelsOf(v);
      expect(kernels.length).toBeGreaterThanOrEqual(2);
      for (const [name, kernel] of kernels)
        for (const [M, N, K] of shapes) {
          const { got, want } = product(kernel, v, M, N, K, M * 7 + N * 3 + K);
          if (fma)
            for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-4);
          else expect(got, `${name} ${M}x${N}x${K}`).toEqual(want);
        }
    });
  }

  test("the entry points pick the path the sizes call for and agree with it", () => {
    // big enough for nn to pack (A and B over IN_PLACE_MAX_FLOATS), wide enough for tn to pack Aᵀ
    const [M, N, K] = [40, 1030, 1000];
    expect(M * K + K * N).toBeGreaterThan(IN_PLACE_MAX_FLOATS);
    for (const v of ["nn", "tn", "nt"] as const) {
      const { got, want } = product(kernelsOf(v)[0]![1], v, M, N, K, 11);
      if (!fma) expect(got).toEqual(want);
    }
  });

  test("with relaxed SIMD (Node's --experimental-wasm-relaxed-simd), FMA kernels agree within rounding and repeat exactly", () => {
    const script = fileURLToPath(new URL("./helpers/gemm-fma.ts", import.meta.url));
    let out: string;
    try {
      out = execFileSync(
        process.execPath,
        ["--experimental-wasm-relaxed-simd", "--conditions=@gradgraph/source", "--import", "tsx", script],
        { encoding: "utf8", timeout: 120_000 },
      );
    } catch (e) {
      // a runtime without the flag (it became default in Node 22 and may be dropped later)
      if (String((e as { stderr?: string }).stderr).includes("bad option")) return;
      throw e;
    }
    const r = JSON.parse(out.trim().split("\n").pop()!) as {
      fma: boolean;
      maxRel: number;
      repeatable: boolean;
    };
    expect(r.fma).toBe(true);
    expect(r.repeatable).toBe(true);
    expect(r.maxRel).toBeLessThan(1e-4);
  });
});
