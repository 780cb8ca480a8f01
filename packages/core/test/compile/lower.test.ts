/** Pass 8, lower to kernels. */
import { GraphBuilder, wasmBackend } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { Allocator, allocateBuffers } from "../../src/compile/allocate.js";
import { lowerToKernels } from "../../src/compile/lower.js";
import { compilePlanForm } from "../../src/compile/pipeline.js";
import { stages } from "./stages.js";

describe("lower", () => {
  test("one closure per kernel step; folded values computed once, here", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [3]);
    const c = g.constant([1, 2, 3]).mul(2); // folded
    g.output("y", x.add(c).exp());
    const allocator = new Allocator();
    const f = lowerToKernels(allocateBuffers(stages(g.build(), { x: [3] }).scheduled, allocator));
    expect(f.kernelSteps).toBe(1);
    expect(f.run).toHaveLength(1);
    expect(Array.from(f.arrays[c.id]!)).toEqual([2, 4, 6]);
    f.inputs.x!.data.set([0, 1, 2]);
    for (const step of f.run) step();
    expect(Array.from(f.outputs.y!.data)).toEqual([2, 5, 8].map(Math.exp));
    // by step: the input, the folded constant, fill and mul, then add+exp as one loop
    expect(f.kernels.map((k) => k?.impl ?? null)).toEqual([null, "js", "js", "js", "js"]);
    allocator.release();
  });

  test.skipIf(!wasmBackend())("float32 steps say which kernels are WebAssembly SIMD", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [8, 16]);
    const W = g.input("W", [16, 16]);
    const h = x.matmul(W).relu(); // #2 SIMD gemm, #3 SIMD loop
    g.output("y", h.tanh().sum(0)); // #4 tanh: JS loop, #5 column sums: SIMD axpy
    g.output("z", h.sum(1)); // row sums: JS
    const f = compilePlanForm(g.build(), { x: [8, 16], W: [16, 16] }, {});
    const byNode = Object.fromEntries(
      f.steps.filter((s) => f.kernels[s.index]).map((s) => [s.node, f.kernels[s.index]!]),
    );
    expect(byNode).toEqual({
      2: { impl: "wasm-simd", gemm: { M: 8, N: 16, K: 16, batches: 1 } },
      3: { impl: "wasm-simd" },
      4: { impl: "js" },
      5: { impl: "wasm-simd" },
      6: { impl: "js" },
    });
  });
});
