/**
 * Which implementation a kernel step gets: a JavaScript loop or a WebAssembly SIMD kernel (and,
 * for large matrix products, the worker pool). This mirrors the choices the kernel factories make
 * (`ops/elementwise.ts` with `backend/elementwise-wasm.ts`, `ops/matmul.ts`, `ops/reduce.ts`)
 * so a printed plan can say what runs; `test/compile/kernel-choice.test.ts` pins each rule.
 * Elementwise kernels and fused groups go SIMD by `simdSupported`, the factory's own rule: all
 * ops arithmetic, or `erf` / `gelu` / `geluTanh` present and every other op arithmetic or `exp`.
 * @module
 */
import { simdSupported } from "../backend/elementwise-wasm.js";
import { wasmBackend } from "../backend/memory.js";
import type { DType } from "../dtype.js";
import type { GraphNode } from "../graph.js";
import { accessModeOf } from "../ops/elementwise.js";
import { opDef } from "../ops/index.js";
import { type MatmulAttrs, stacksBatchRows } from "../ops/matmul.js";
import type { ReduceAttrs } from "../ops/reduce.js";
import { normalizeAxes } from "../ops/util.js";
import { type ConcreteShape, sizeOf } from "../shape.js";
import type { FusedGroup, KernelChoice } from "./form.js";

const JS: KernelChoice = { impl: "js" };
const SIMD: KernelChoice = { impl: "wasm-simd" };

/** The loop modes of an elementwise kernel's inputs, as `elementwiseKernel` picks them. */
export function elementwiseModes(inShapes: readonly ConcreteShape[], outShape: ConcreteShape): string[] {
  const n = sizeOf(outShape);
  let m = 0;
  return inShapes.map((s) => {
    const mode = accessModeOf(s, outShape);
    if (mode !== "suffix" && mode !== "rows") return mode;
    // all row-structured inputs must agree on the row length, else they fall back to index maps
    const rowLength = mode === "suffix" ? sizeOf(s) : n / sizeOf(s);
    if (m === 0) m = rowLength;
    else if (rowLength !== m) return "map";
    return mode;
  });
}

/** The implementation of the kernel computing `node` (or the group rooted at it) for these shapes. */
export function kernelChoice(
  node: GraphNode,
  group: FusedGroup | null,
  inShapes: readonly ConcreteShape[],
  outShape: ConcreteShape,
  dtype: DType,
): KernelChoice {
  if (!wasmBackend() || dtype !== "float32") return JS;
  if (group || opDef(node.op).elementwise) {
    const tree = group ? group.tree : { op: node.op, kids: inShapes.map((_, k) => k) };
    const modes = elementwiseModes(inShapes, outShape);
    return simdSupported(tree) && modes.length <= 8 && !modes.includes("map") ? SIMD : JS;
  }
  if (node.op === "matmul") {
    const { transA, transB } = node.attrs as MatmulAttrs;
    const [as, bs] = [inShapes[0]!, inShapes[1]!];
    const K = transA ? as[as.length - 2]! : as[as.length - 1]!;
    const N = transB ? bs[bs.length - 2]! : bs[bs.length - 1]!;
    const stacked = stacksBatchRows(as, bs, transA);
    const M = stacked ? sizeOf(as) / K : transA ? as[as.length - 1]! : as[as.length - 2]!;
    if ((transA && transB) || M * N * K === 0) return JS;
    return { impl: "wasm-simd", gemm: { M, N, K, batches: stacked ? 1 : sizeOf(outShape.slice(0, -2)) } };
  }
  if (node.op === "sum" || node.op === "mean") {
    // column sums through the SIMD axpy: contiguous axes with at least 8 elements after them
    const inShape = inShapes[0]!;
    const axes = normalizeAxes(node.op, (node.attrs as ReduceAttrs).axes, inShape.length);
    if (axes.length === 0 || !axes.every((a, i) => i === 0 || a === axes[i - 1]! + 1)) return JS;
    return sizeOf(inShape.slice(axes[axes.length - 1]! + 1)) >= 8 ? SIMD : JS;
  }
  return JS;
}
