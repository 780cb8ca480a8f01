/**
 * Shared machinery of the reduction ops (sum, mean, max, logSumExp).
 * @module
 */
import { wasmBackend } from "../backend/memory.js";
import type { FloatArray } from "../dtype.js";
import { type ConcreteShape, ShapeError, shapeToString, sizeOf } from "../shape.js";
import { specialize } from "../specialize.js";
import type { Kernel, OpDef, TypeInfo } from "./types.js";
import { boolAttr, normalizeAxes, reducedShape } from "./util.js";

/** Attributes of reductions. */
export interface ReduceAttrs {
  /** Axes to reduce (negative counts from the end); `null` reduces all of them. */
  readonly axes: readonly number[] | null;
  /** Keep reduced axes as size 1. */
  readonly keepdims: boolean;
}

/** How a reduction walks its input. */
export type ReduceKind = "sum" | "mean" | "max" | "logSumExp";

/** Validates reduction attributes. */
export function reduceAttrs(op: string, raw: Partial<ReduceAttrs>): ReduceAttrs {
  const axes = raw.axes ?? null;
  if (axes !== null && (!Array.isArray(axes) || !axes.every((a) => Number.isInteger(a)))) {
    throw new Error(`${op}: 'axes' must be an array of integers or null, got ${JSON.stringify(axes)}`);
  }
  return { axes: axes === null ? null : [...axes], keepdims: boolAttr(op, "keepdims", raw.keepdims, false) };
}

/** Shape rule of reductions. */
export function reduceShape(op: string, inputs: readonly TypeInfo[], attrs: ReduceAttrs): TypeInfo {
  const x = inputs[0]!;
  const axes = normalizeAxes(op, attrs.axes, x.shape.length);
  if (op === "logSumExp" && !axes.every((a, i) => i === 0 || a === axes[i - 1]! + 1)) {
    throw new ShapeError(
      `axes ${JSON.stringify(axes)} of ${shapeToString(x.shape)} are not contiguous (logSumExp reduces a contiguous block; transpose first)`,
    );
  }
  return { shape: reducedShape(x.shape, axes, attrs.keepdims), dtype: x.dtype };
}

/* Self-contained loops (specialised per dtype; no outside references). */
const contiguous = function contiguousReduce(
  x: FloatArray,
  out: FloatArray,
  outer: number,
  red: number,
  inner: number,
  kind: number,
): void {
  // kind: 0 sum, 1 mean, 2 max, 3 logSumExp
  for (let o = 0; o < outer; o++) {
    const ob = o * inner;
    const xb = o * red * inner;
    if (inner === 1) {
      if (kind <= 1) {
        let acc = 0;
        for (let r = 0; r < red; r++) acc += x[xb + r]!;
        out[ob] = kind === 1 ? acc / red : acc;
      } else {
        let m = Number.NEGATIVE_INFINITY;
        for (let r = 0; r < red; r++) {
          const v = x[xb + r]!;
          if (v > m || Number.isNaN(v)) m = v;
        }
        if (kind === 2) out[ob] = m;
        else {
          const shift =
            m === Number.NEGATIVE_INFINITY || Number.isNaN(m) || m === Number.POSITIVE_INFINITY ? 0 : m;
          let s = 0;
          for (let r = 0; r < red; r++) s += Math.exp(x[xb + r]! - shift);
          out[ob] = Math.log(s) + shift;
        }
      }
      continue;
    }
    if (kind <= 1) {
      for (let i = 0; i < inner; i++) out[ob + i] = 0;
      for (let r = 0; r < red; r++) {
        const xr = xb + r * inner;
        for (let i = 0; i < inner; i++) out[ob + i] += x[xr + i]!;
      }
      if (kind === 1) for (let i = 0; i < inner; i++) out[ob + i] /= red;
    } else {
      for (let i = 0; i < inner; i++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let r = 0; r < red; r++) {
          const v = x[xb + r * inner + i]!;
          if (v > m || Number.isNaN(v)) m = v;
        }
        if (kind === 2) out[ob + i] = m;
        else {
          const shift =
            m === Number.NEGATIVE_INFINITY || Number.isNaN(m) || m === Number.POSITIVE_INFINITY ? 0 : m;
          let s = 0;
          for (let r = 0; r < red; r++) s += Math.exp(x[xb + r * inner + i]! - shift);
          out[ob + i] = Math.log(s) + shift;
        }
      }
    }
  }
};

const mapped = function mappedReduce(
  x: FloatArray,
  out: FloatArray,
  map: Int32Array,
  count: number,
  kind: number,
): void {
  const n = x.length;
  if (kind <= 1) {
    out.fill(0);
    for (let i = 0; i < n; i++) out[map[i]!] += x[i]!;
    if (kind === 1) for (let i = 0; i < out.length; i++) out[i] /= count;
  } else {
    out.fill(Number.NEGATIVE_INFINITY);
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const k = map[i]!;
      if (v > out[k]! || Number.isNaN(v)) out[k] = v;
    }
  }
};

const contiguousK = specialize(contiguous);
const mappedK = specialize(mapped);
const KIND: Record<ReduceKind, number> = { sum: 0, mean: 1, max: 2, logSumExp: 3 };

/** Builds a reduction kernel for concrete shapes. */
export function reductionKernel(
  kind: ReduceKind,
  inShape: ConcreteShape,
  axesAttr: readonly number[] | null,
  dtype: "float32" | "float64",
): Kernel {
  const rank = inShape.length;
  const axes = normalizeAxes(kind, axesAttr, rank);
  const k = KIND[kind];
  const count = sizeOf(axes.map((a) => inShape[a]!));
  const isContiguous = axes.every((a, i) => i === 0 || a === axes[i - 1]! + 1);
  if (axes.length === 0) {
    return (ins, out) => {
      out.set(ins[0]!);
    };
  }
  if (isContiguous) {
    const first = axes[0]!;
    const last = axes[axes.length - 1]!;
    const outer = sizeOf(inShape.slice(0, first));
    const inner = sizeOf(inShape.slice(last + 1));
    const f = contiguousK[dtype];
    const be = wasmBackend();
    if (be && dtype === "float32" && k <= 1 && inner >= 8) {
      // column sums (e.g. a bias gradient over the batch): accumulate row by row with SIMD axpy
      const alpha = k === 1 ? 1 / count : 1;
      const { axpy_f32 } = be.kernels;
      return (ins, out) => {
        const x = ins[0]!;
        if (!be.owns(x) || !be.owns(out)) {
          f(x, out, outer, count, inner, k);
          return;
        }
        out.fill(0);
        for (let o = 0; o < outer; o++) {
          const op = out.byteOffset + 4 * o * inner;
          for (let r = 0; r < count; r++)
            axpy_f32(op, x.byteOffset + 4 * (o * count + r) * inner, inner, alpha);
        }
      };
    }
    return (ins, out) => f(ins[0]!, out, outer, count, inner, k);
  }
  // the kept axes form one block (e.g. a per-channel sum over [0, 2, 3] of NCHW): sum each
  // contiguous run of the trailing reduced axes, then add the runs into their output element
  const kept = inShape.map((_, d) => d).filter((d) => !axes.includes(d));
  if (k <= 1 && kept.length > 0 && kept[kept.length - 1]! - kept[0]! === kept.length - 1) {
    const outer = sizeOf(inShape.slice(0, kept[0]!));
    const mid = sizeOf(kept.map((d) => inShape[d]!));
    const inner = sizeOf(inShape.slice(kept[kept.length - 1]! + 1));
    const scale = k === 1 ? 1 / count : 1;
    return (ins, out) => {
      const x = ins[0]!;
      out.fill(0);
      for (let o = 0, b = 0; o < outer; o++) {
        for (let m = 0; m < mid; m++, b += inner) {
          let acc = 0;
          for (let i = 0; i < inner; i++) acc += x[b + i]!;
          out[m] = out[m]! + acc;
        }
      }
      if (scale !== 1) for (let m = 0; m < mid; m++) out[m] = out[m]! * scale;
    };
  }
  if (kind === "logSumExp") {
    throw new ShapeError(
      `logSumExp over non-contiguous axes ${JSON.stringify(axes)} of ${shapeToString(inShape)} is not supported; transpose first`,
    );
  }
  // general: index map from input element to output element
  const n = sizeOf(inShape);
  const map = new Int32Array(n);
  const keep = inShape.map((_, d) => !axes.includes(d));
  const outStrides = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let d = rank - 1; d >= 0; d--) {
    if (keep[d]) {
      outStrides[d] = acc;
      acc *= inShape[d]!;
    }
  }
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    map[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += outStrides[d]!;
      if (idx[d]! < inShape[d]!) break;
      off -= outStrides[d]! * inShape[d]!;
      idx[d] = 0;
    }
  }
  const f = mappedK[dtype];
  return (ins, out) => f(ins[0]!, out, map, count, k);
}

/** Defines a reduction op. */
export function reductionOp(kind: ReduceKind, doc: string): OpDef<ReduceAttrs> {
  return {
    name: kind,
    doc,
    arity: 1,
    kind: "kernel",
    attrs: (raw) => reduceAttrs(kind, raw),
    shape: (inputs, attrs) => reduceShape(kind, inputs, attrs),
    kernel: (ctx) => reductionKernel(kind, ctx.inShapes[0]!, ctx.attrs.axes, ctx.dtype),
  };
}
