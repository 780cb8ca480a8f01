/**
 * `gather` (numpy's `take` along an axis) and its adjoint `scatterAdd`. Indices are
 * integer-valued floats (exact up to 2^24 in float32, 2^53 in float64), in any dtype; an index
 * that is not an integer in `[0, n)` stops the run with a RangeError naming the op, the index and
 * the range.
 * @module
 */
import type { FloatArray } from "../dtype.js";
import {
  type Dim,
  isValidDim,
  normalizeAxis,
  type Shape,
  ShapeError,
  shapeToString,
  sizeOf,
} from "../shape.js";
import type { OpDef } from "./types.js";
import { axisBlocks, intAttr } from "./util.js";

/** Attributes of `gather`. */
export interface GatherAttrs {
  /** The axis of `x` indexed (negative counts from the end). */
  readonly axis: number;
}

/** Attributes of `scatterAdd`. */
export interface ScatterAddAttrs {
  /** The axis of the output indexed (negative counts from the end). */
  readonly axis: number;
  /** Shape of the output (the shape of the gathered-from tensor). */
  readonly shape: readonly Dim[];
}

function axisOf(op: string, axis: number, rank: number): number {
  try {
    return normalizeAxis(axis, rank);
  } catch {
    throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
}

/** `shape[:axis] + indices + shape[axis+1:]`: the shape of a gather's output. */
function gatheredShape(shape: Shape, axis: number, indices: Shape): Dim[] {
  return [...shape.slice(0, axis), ...indices, ...shape.slice(axis + 1)];
}

/** Reads index `k` of `idx` and checks it is an integer in `[0, n)`. */
function checkedIndex(op: string, idx: FloatArray, k: number, n: number): number {
  const j = idx[k]!;
  if (!Number.isInteger(j) || j < 0 || j >= n)
    throw new RangeError(`${op}: index ${j} at position ${k} of the indices is not an integer in [0, ${n})`);
  return j;
}

/**
 * Takes slices of `x` along `axis` at integer-valued `indices`: the output has shape
 * `x.shape[:axis] + indices.shape + x.shape[axis+1:]` and `x`'s dtype. Gradient: `scatterAdd`
 * for `x` (repeated indices accumulate), zero for the indices.
 */
export const gather: OpDef<GatherAttrs> = {
  name: "gather",
  doc: "Slices of x along an axis at integer-valued indices (numpy take).",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => ({ axis: intAttr("gather", "axis", raw?.axis ?? 0) }),
  shape: (inputs, attrs) => {
    const [x, idx] = [inputs[0]!, inputs[1]!];
    const a = axisOf("gather", attrs.axis, x.shape.length);
    return { shape: gatheredShape(x.shape, a, idx.shape), dtype: x.dtype };
  },
  kernel: (ctx) => {
    const shape = ctx.inShapes[0]!;
    const [outer, n, inner] = axisBlocks(shape, ctx.attrs.axis);
    const count = sizeOf(ctx.inShapes[1]!);
    return (ins, out) => {
      const x = ins[0]!;
      const idx = ins[1]!;
      for (let k = 0; k < count; k++) checkedIndex("gather", idx, k, n);
      for (let o = 0, p = 0; o < outer; o++) {
        for (let k = 0; k < count; k++) {
          const s = (o * n + idx[k]!) * inner;
          for (let i = 0; i < inner; i++, p++) out[p] = x[s + i]!;
        }
      }
    };
  },
};

/**
 * The adjoint of `gather`: a zero tensor of `shape` to which each slice of `updates` is added at
 * its index along `axis` (repeated indices accumulate). `updates` has shape
 * `shape[:axis] + indices.shape + shape[axis+1:]`. Gradient: `gather` of the cotangent for the
 * updates, zero for the indices.
 */
export const scatterAdd: OpDef<ScatterAddAttrs> = {
  name: "scatterAdd",
  doc: "Adds slices of updates into zeros of a shape at integer-valued indices along an axis.",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => {
    if (!Array.isArray(raw?.shape) || !raw.shape.every(isValidDim))
      throw new Error(`scatterAdd: invalid 'shape' ${JSON.stringify(raw?.shape)}`);
    return { axis: intAttr("scatterAdd", "axis", raw.axis ?? 0), shape: [...raw.shape] };
  },
  shape: (inputs, attrs) => {
    const [idx, upd] = [inputs[0]!, inputs[1]!];
    const a = axisOf("scatterAdd", attrs.axis, attrs.shape.length);
    const want = gatheredShape(attrs.shape, a, idx.shape);
    const ok =
      want.length === upd.shape.length &&
      want.every((d, i) => {
        const u = upd.shape[i]!;
        return typeof d !== "number" || typeof u !== "number" ? true : d === u;
      });
    if (!ok)
      throw new ShapeError(
        `scatterAdd: updates ${shapeToString(upd.shape)} do not match ${shapeToString(want)} (output ${shapeToString(attrs.shape)}, indices ${shapeToString(idx.shape)}, axis ${a})`,
      );
    return { shape: [...attrs.shape], dtype: upd.dtype };
  },
  kernel: (ctx) => {
    const shape = ctx.outShape;
    const [outer, n, inner] = axisBlocks(shape, ctx.attrs.axis);
    const count = sizeOf(ctx.inShapes[0]!);
    return (ins, out) => {
      const idx = ins[0]!;
      const upd = ins[1]!;
      for (let k = 0; k < count; k++) checkedIndex("scatterAdd", idx, k, n);
      out.fill(0);
      for (let o = 0, p = 0; o < outer; o++) {
        for (let k = 0; k < count; k++) {
          const s = (o * n + idx[k]!) * inner;
          for (let i = 0; i < inner; i++, p++) out[s + i] += upd[p]!;
        }
      }
    };
  },
};
