/** printPlan of a gradient graph: the backward pass fused, its buffers reused. */
import { compile, GraphBuilder, ParamStore, printPlan, wasmBackend } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { grad } from "../src/index.js";

describe("printPlan of a training step", () => {
  test.skipIf(!wasmBackend())("MLP loss and gradients: fused backward loops, SIMD products", () => {
    const g = new GraphBuilder();
    const x = g.input("x", ["N", 4]);
    const y = g.input("y", ["N", 3]);
    const W1 = g.param("W1", [4, 8], { init: { kind: "glorotUniform" } });
    const b1 = g.param("b1", [8]);
    const W2 = g.param("W2", [8, 3], { init: { kind: "glorotUniform" } });
    const h = x.matmul(W1).add(b1).tanh();
    const loss = g.neg(h.matmul(W2).logSoftmax().mul(y).sum()).mul(1 / 16);
    g.output("loss", loss);
    const train = grad(g.build(), "loss", ["W1", "b1", "W2"]);
    const plan = compile(train, { params: ParamStore.init(train, 0) }).plan({ x: [16, 4], y: [16, 3] });
    expect(printPlan(plan)).toMatchInlineSnapshot(`
      "plan (N=16): 16 steps, 6 nodes fused, 7 folded
      inputs
        x: %0 f32[16,4] -> b0
        y: %1 f32[16,3] -> b7
      params
        W1: %2 f32[4,8] -> b1 (in place)
        b1: %3 f32[8] -> b3 (in place)
        W2: %4 f32[8,3] -> b5 (in place)
      folded (computed once, at build time)
        %13 = fill() 0.0625 : f32[] -> b9
        %15 = fill() 1 : f32[] -> b11
        %16 = mul(%15, %13) : f32[] -> b12
        %17 = neg(%16) : f32[] -> b13
        %18 = reshape(%17) {shape=[1,1]} : f32[1,1] -> b14
        %19 = broadcastTo(%18) {shape=["N",3]} : f32[16,3] -> b15
        %28 = fill() 1 : f32[] -> b18
      steps
          1  %5 = matmul(%0, %2) {transA=false, transB=false} : f32[16,8] -> b2  [wasm-simd gemm 16x8x4]
          2  %7 = tanh(add(%5, %3)) : f32[16,8] -> b4  [js]  fuses %6 %7
          3  %8 = matmul(%7, %4) {transA=false, transB=false} : f32[16,3] -> b2  [wasm-simd gemm 16x3x8]
          4  %9 = logSoftmax(%8) {axis=-1} : f32[16,3] -> b6  [js]
          5  %10 = mul(%9, %1) : f32[16,3] -> b2  [wasm-simd]
          6  %11 = sum(%10) {axes=null, keepdims=false} : f32[] -> b8  [js]
          7  %14 = mul(neg(%11), %13) : f32[] -> b10  [wasm-simd]  fuses %12 %14
          8  %20 = mul(%19, %1) : f32[16,3] -> b2  [wasm-simd]
          9  %22 = sum(%20) {axes=[-1], keepdims=true} : f32[16,1] -> b16  [js]
         10  %24 = sub(%20, mul(exp(%9), %22)) : f32[16,3] -> b17  [js]  fuses %21 %23 %24
         11  %25 = matmul(%24, %4) {transA=false, transB=true} : f32[16,8] -> b2  [wasm-simd gemm 16x8x3]
         12  %30 = mul(%25, sub(%28, square(%7))) : f32[16,8] -> b19  [wasm-simd]  fuses %27 %29 %30
         13  %33 = matmul(%0, %30) {transA=true, transB=false} : f32[4,8] -> b20  [wasm-simd gemm 4x8x16]
         14  %31 = sum(%30) {axes=[0], keepdims=true} : f32[1,8] -> b16  [wasm-simd]
         15  %32 = reshape(%31) {shape=[8]} : f32[8] -> b21  [js]
         16  %26 = matmul(%7, %24) {transA=true, transB=false} : f32[8,3] -> b22  [wasm-simd gemm 8x3x16]
      outputs
        loss = %14 -> b10
        grad:W1 = %33 -> b20
        grad:b1 = %32 -> b21
        grad:W2 = %26 -> b22
      buffers
        b0 input f32 x64: %0
        b1 param f32 x32: %2
        b2 pool f32 x128: %5 %8 %10 %20 %25
        b3 param f32 x8: %3
        b4 pool f32 x128: %7
        b5 param f32 x24: %4
        b6 pool f32 x48: %9
        b7 input f32 x48: %1
        b8 pool f32 x1: %11
        b9 folded f32 x1: %13
        b10 output f32 x1: %14
        b11 folded f32 x1: %15
        b12 folded f32 x1: %16
        b13 folded f32 x1: %17
        b14 folded f32 x1: %18
        b15 folded f32 x48: %19
        b16 pool f32 x16: %22 %31
        b17 pool f32 x48: %24
        b18 folded f32 x1: %28
        b19 pool f32 x128: %30
        b20 output f32 x32: %33
        b21 output f32 x8: %32
        b22 output f32 x24: %26
      memory: 7 pooled buffers, 497 elements for 777 without reuse"
    `);
  });
});
