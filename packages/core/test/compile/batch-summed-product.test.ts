/**
 * The fuse pass's batch-summed products: `sum(matmul(A, B, {transA}), batch axes)` (the weight
 * gradient of `x [N, T, D] · W`) runs as one product of the stacked matrices.
 */
import { compile, type Graph, GraphBuilder, printPlan, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { stages } from "./stages.js";

function rand(shape: readonly number[], seed: number, dtype: "float32" | "float64"): Tensor {
  const t = Tensor.zeros(shape, dtype);
  new Rng(seed).fillUniform(t.data, -1, 1);
  return t;
}

/** y = sum over `axes` of matmul(a, b, {transA}). */
function summed(
  dtype: "float32" | "float64",
  as: number[],
  bs: number[],
  axes: number[],
  keepdims: boolean,
  transA = true,
): Graph {
  const g = new GraphBuilder({ dtype });
  const p = g.matmul(g.input("a", as), g.input("b", bs), { transA });
  g.output("y", g.sum(p, axes, keepdims));
  return g.build();
}

/** Σ over batches of A_bᵀ·B_b in float64, A [nb, K, M], B [nb, K, N] flattened. */
function reference(a: Tensor, b: Tensor, nb: number, K: number, M: number, N: number): number[] {
  const out = new Array<number>(M * N).fill(0);
  for (let t = 0; t < nb; t++)
    for (let k = 0; k < K; k++)
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++)
          out[i * N + j]! += a.data[(t * K + k) * M + i]! * b.data[(t * K + k) * N + j]!;
  return out;
}

describe("batch-summed products", () => {
  test.each([
    [[32, 16, 64], [32, 16, 256], [0], true],
    [[2, 3, 5, 7], [2, 3, 5, 4], [0, 1], false],
    [[4, 1, 3], [4, 1, 9], [-3], true],
  ] as const)(
    "A %j, B %j summed over %j: fused, one product, the sums of the batches",
    (as, bs, axes, keep) => {
      for (const dtype of ["float64", "float32"] as const) {
        const graph = summed(dtype, [...as], [...bs], [...axes], keep);
        const { fused, scheduled } = stages(graph, { a: [...as], b: [...bs] });
        expect(fused.products.size).toBe(1);
        const [sumId, mmId] = [...fused.products][0]!;
        expect(fused.fusedInto[mmId]).toBe(sumId);
        const step = scheduled.steps.find((s) => s.node === sumId)!;
        expect(step.reads).toEqual(graph.nodes[mmId]!.inputs);
        expect(scheduled.steps.some((s) => s.node === mmId)).toBe(false);

        const [K, M] = as.slice(-2) as [number, number];
        const N = bs[bs.length - 1]!;
        const nb = as.slice(0, -2).reduce((p: number, d: number) => p * d, 1);
        const a = rand(as, 1, dtype);
        const b = rand(bs, 2, dtype);
        const c = compile(graph);
        const got = Array.from(c.run({ a, b }).y!.data);
        const want = reference(a, b, nb, K, M, N);
        const tol = dtype === "float64" ? 1e-12 : 2e-5;
        for (const [i, v] of got.entries())
          expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(tol * Math.sqrt(nb * K));
        // unfused: the same values up to rounding
        const plain = Array.from(compile(graph, { fuse: false }).run({ a, b }).y!.data);
        for (const [i, v] of plain.entries())
          expect(Math.abs(v - got[i]!)).toBeLessThanOrEqual(tol * Math.sqrt(nb * K));
        const printed = printPlan(c.plan({ a: [...as], b: [...bs] }));
        expect(printed).toContain(`fuses %${mmId}`);
        if (dtype === "float32" && printed.includes("wasm-simd gemm"))
          expect(printed).toContain(`gemm ${M}x${N}x${nb * K}]`);
      }
    },
  );

  test("not fused: a partial batch sum, a broadcast operand, no transA, a product used twice", () => {
    const cases: [Graph, Record<string, number[]>][] = [
      [summed("float64", [2, 3, 5, 7], [2, 3, 5, 4], [0], false), { a: [2, 3, 5, 7], b: [2, 3, 5, 4] }],
      [summed("float64", [2, 5, 7], [1, 5, 4], [0], false), { a: [2, 5, 7], b: [1, 5, 4] }],
      [summed("float64", [2, 7, 5], [2, 5, 4], [0], false, false), { a: [2, 7, 5], b: [2, 5, 4] }],
    ];
    const g = new GraphBuilder({ dtype: "float64" });
    const p = g.matmul(g.input("a", [2, 5, 7]), g.input("b", [2, 5, 4]), { transA: true });
    g.output("y", g.sum(p, [0]));
    g.output("p", p);
    cases.push([g.build(), { a: [2, 5, 7], b: [2, 5, 4] }]);
    for (const [graph, shapes] of cases) expect(stages(graph, shapes).fused.products.size).toBe(0);
  });
});
