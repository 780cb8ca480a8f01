/** printPlan: steps, fused groups, buffers and their reuse, kernels. */
import {
  compile,
  type Graph,
  GraphBuilder,
  ParamStore,
  printPlan,
  setWasmEnabled,
  stopThreadPool,
  wasmBackend,
} from "@gradgraph/core";
import { enableThreads } from "@gradgraph/core/node";
import { afterEach, describe, expect, test } from "vitest";

afterEach(() => setWasmEnabled(true));

/** A 4-8-3 MLP: sigmoid hidden layer, softmax output. */
function mlp(): Graph {
  const g = new GraphBuilder();
  const x = g.input("x", ["N", 4]);
  const W1 = g.param("W1", [4, 8], { init: { kind: "glorotUniform" } });
  const b1 = g.param("b1", [8]);
  const W2 = g.param("W2", [8, 3], { init: { kind: "glorotUniform" } });
  const h = x.matmul(W1).add(b1).sigmoid();
  g.output("probs", h.matmul(W2).softmax());
  return g.build();
}

describe("printPlan", () => {
  test.skipIf(!wasmBackend())("an MLP forward pass (WebAssembly SIMD available)", () => {
    const graph = mlp();
    const plan = compile(graph, { params: ParamStore.init(graph, 0) }).plan({ x: [16, 4] });
    expect(printPlan(plan)).toMatchInlineSnapshot(`
      "plan (N=16): 4 steps, 1 node fused, 0 folded
      inputs
        x: %0 f32[16,4] -> b0
      params
        W1: %1 f32[4,8] -> b1 (in place)
        b1: %2 f32[8] -> b3 (in place)
        W2: %3 f32[8,3] -> b5 (in place)
      steps
          1  %4 = matmul(%0, %1) {transA=false, transB=false} : f32[16,8] -> b2  [wasm-simd gemm 16x8x4]
          2  %6 = sigmoid(add(%4, %2)) : f32[16,8] -> b4  [js]  fuses %5 %6
          3  %7 = matmul(%6, %3) {transA=false, transB=false} : f32[16,3] -> b2  [wasm-simd gemm 16x3x8]
          4  %8 = softmax(%7) {axis=-1} : f32[16,3] -> b6  [js]
      outputs
        probs = %8 -> b6
      buffers
        b0 input f32 x64: %0
        b1 param f32 x32: %1
        b2 pool f32 x128: %4 %7
        b3 param f32 x8: %2
        b4 pool f32 x128: %6
        b5 param f32 x24: %3
        b6 output f32 x48: %8
      memory: 2 pooled buffers, 256 elements for 304 without reuse"
    `);
  });

  test("the same MLP with pure-JS kernels", () => {
    setWasmEnabled(false);
    const graph = mlp();
    const plan = compile(graph, { params: ParamStore.init(graph, 0) }).plan({ x: [16, 4] });
    expect(printPlan(plan)).toMatchInlineSnapshot(`
      "plan (N=16): 4 steps, 1 node fused, 0 folded
      inputs
        x: %0 f32[16,4] -> b0
      params
        W1: %1 f32[4,8] -> b1 (in place)
        b1: %2 f32[8] -> b3 (in place)
        W2: %3 f32[8,3] -> b5 (in place)
      steps
          1  %4 = matmul(%0, %1) {transA=false, transB=false} : f32[16,8] -> b2  [js]
          2  %6 = sigmoid(add(%4, %2)) : f32[16,8] -> b4  [js]  fuses %5 %6
          3  %7 = matmul(%6, %3) {transA=false, transB=false} : f32[16,3] -> b2  [js]
          4  %8 = softmax(%7) {axis=-1} : f32[16,3] -> b6  [js]
      outputs
        probs = %8 -> b6
      buffers
        b0 input f32 x64: %0
        b1 param f32 x32: %1
        b2 pool f32 x128: %4 %7
        b3 param f32 x8: %2
        b4 pool f32 x128: %6
        b5 param f32 x24: %3
        b6 output f32 x48: %8
      memory: 2 pooled buffers, 256 elements for 304 without reuse"
    `);
  });

  test("constant folding, symbolic dims, aliases and buffer reuse", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", ["B", 3]);
    const scale = g.constant([1, 2, 3]).mul(0.5).exp(); // folded: constant, fill, mul, exp
    const rows = x.reshape(["B", 3, 1]).sum(1); // [B,1], through a view
    const centred = x.sub(rows.div(g.fill(3, [])));
    const y = centred.mul(centred).mul(scale).tanh(); // x*x*scale fused into tanh
    g.output("y", y);
    g.output("m", y.stopGradient().max(1).neg()); // a view, then a reused buffer
    const plan = compile(g.build()).plan({ x: [2, 3] });
    expect(printPlan(plan)).toMatchInlineSnapshot(`
      "plan (B=2): 6 steps, 2 nodes fused, 5 folded
      inputs
        x: %0 f64[2,3] -> b0
      folded (computed once, at build time)
        %7 = fill() 3 : f64[] -> b2
        %1 = constant() [1, 2, 3] : f64[3] -> b5
        %2 = fill() 0.5 : f64[] -> b6
        %3 = mul(%1, %2) : f64[3] -> b7
        %4 = exp(%3) : f64[3] -> b8
      steps
             %5 = reshape(%0) {shape=["B",3,1]} : f64[2,3,1] -> b0 (view)
          1  %6 = sum(%5) {axes=[1], keepdims=false} : f64[2,1] -> b1  [js]
          2  %8 = div(%6, %7) : f64[2,1] -> b3  [js]
          3  %9 = sub(%0, %8) : f64[2,3] -> b4  [js]
          4  %12 = tanh(mul(mul(%9, %9), %4)) : f64[2,3] -> b9  [js]  fuses %10 %11 %12
             %13 = stopGradient(%12) : f64[2,3] -> b9 (view)
          5  %14 = max(%13) {axes=[1], keepdims=false} : f64[2] -> b3  [js]
          6  %15 = neg(%14) : f64[2] -> b10  [js]
      outputs
        y = %12 -> b9
        m = %15 -> b10
      buffers
        b0 input f64 x6: %0 %5
        b1 pool f64 x2: %6
        b2 folded f64 x1: %7
        b3 pool f64 x2: %8 %14
        b4 pool f64 x6: %9
        b5 folded f64 x3: %1
        b6 folded f64 x1: %2
        b7 folded f64 x3: %3
        b8 folded f64 x3: %4
        b9 output f64 x6: %12 %13
        b10 output f64 x2: %15
      memory: 3 pooled buffers, 10 elements for 12 without reuse"
    `);
  });

  test("maxSteps lists the first steps and counts the rest", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    let v = g.input("x", [4]);
    for (let i = 0; i < 10; i++) v = v.mul(v);
    g.output("y", v);
    const text = printPlan(compile(g.build()).plan({ x: [4] }), { maxSteps: 2 });
    expect(text).toContain("    2  %2 = mul(%1, %1) : f64[4] -> b2");
    expect(text).not.toContain("    3  ");
    expect(text).toContain("  ... 8 more steps");
  });

  test.skipIf(!wasmBackend())("large matrix products say they run threaded while a pool is on", () => {
    const g = new GraphBuilder();
    const a = g.input("a", [256, 256]);
    g.output("big", a.matmul(a));
    g.output("small", a.slice([0, 0], [8, 8]).matmul(a.slice([0, 0], [8, 8])));
    const plan = compile(g.build()).plan({ a: [256, 256] });
    expect(printPlan(plan)).toMatch(/\[wasm-simd gemm 256x256x256\]$/m);
    try {
      enableThreads(1, { minWork: 1 << 20 });
      expect(printPlan(plan)).toMatch(/\[wasm-simd gemm 256x256x256, threaded\]$/m);
      expect(printPlan(plan)).toMatch(/\[wasm-simd gemm 8x8x8\]$/m);
    } finally {
      stopThreadPool();
    }
  });
});
