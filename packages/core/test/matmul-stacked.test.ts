/**
 * A batched product with a shared right operand (`x [B, T, K] · W [K, N]`) runs as one product of
 * the stacked rows (`stacksBatchRows`): the same bits as one product per batch.
 */
import { compile, GraphBuilder, printPlan, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

function run(
  dtype: "float32" | "float64",
  batch: number[],
  T: number,
  K: number,
  N: number,
  transB: boolean,
) {
  const rng = new Rng(batch.length * 1000 + T * 31 + K * 7 + N);
  const x = Tensor.zeros([...batch, T, K], dtype);
  const w = Tensor.zeros(transB ? [N, K] : [K, N], dtype);
  rng.fillUniform(x.data, -1, 1);
  rng.fillUniform(w.data, -1, 1);
  const whole = (() => {
    const b = new GraphBuilder({ dtype });
    b.output("y", b.matmul(b.input("x", x.shape), b.input("w", w.shape), { transB }));
    const c = compile(b.build());
    const plan = c.plan({ x: x.shape, w: w.shape });
    return { y: c.run({ x, w }).y!, printed: printPlan(plan) };
  })();
  // one product per batch, on [T, K] slices
  const b = new GraphBuilder({ dtype });
  const one = compile(
    (() => {
      b.output("y", b.matmul(b.input("x", [T, K]), b.input("w", w.shape), { transB }));
      return b.build();
    })(),
  );
  const nb = batch.reduce((p, d) => p * d, 1);
  const expected = new Float64Array(nb * T * N);
  for (let t = 0; t < nb; t++) {
    const xs = Tensor.from(Array.from(x.data.subarray(t * T * K, (t + 1) * T * K)), { dtype }).reshape([
      T,
      K,
    ]);
    expected.set(one.run({ x: xs, w }).y!.data, t * T * N);
  }
  return { got: Array.from(whole.y.data), expected: Array.from(expected), printed: whole.printed };
}

describe("matmul with a shared right operand", () => {
  for (const dtype of ["float32", "float64"] as const) {
    test.each([
      [[32], 16, 64, 256, false],
      [[4, 3], 5, 7, 9, false],
      [[3], 17, 33, 65, true],
      [[2], 1, 3, 130, false],
    ] as const)(
      `${dtype}: batch %j, T %i, K %i, N %i, transB %s: the bits of one product per batch`,
      (batch, T, K, N, tB) => {
        const { got, expected } = run(dtype, [...batch], T, K, N, tB);
        expect(got).toEqual(expected);
      },
    );
  }

  test("the plan shows one product of the stacked rows", () => {
    const { printed } = run("float32", [32], 16, 64, 256, false);
    if (printed.includes("wasm-simd gemm")) expect(printed).toMatch(/gemm 512x256x64\b(?! x)/);
  });
});
