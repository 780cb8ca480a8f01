import { type Dim, ShapeError, shapeToString, sizeOf, stridesOf } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of `slice`: a half-open range per axis. */
export interface SliceAttrs {
  /** Start index per axis (0 when omitted). */
  readonly begin: readonly number[];
  /** End index per axis, exclusive; `null` means the end of the axis. */
  readonly end: readonly (number | null)[];
}

/** Takes the sub-tensor `x[begin0:end0, begin1:end1, ...]` (non-negative indices, step 1). */
export const slice: OpDef<SliceAttrs> = {
  name: "slice",
  doc: "Sub-tensor over half-open ranges per axis.",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => {
    const ok = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
    if (!Array.isArray(raw.begin) || !raw.begin.every(ok))
      throw new Error(`slice: invalid 'begin' ${JSON.stringify(raw.begin)}`);
    if (!Array.isArray(raw.end) || !raw.end.every((v) => v === null || ok(v))) {
      throw new Error(`slice: invalid 'end' ${JSON.stringify(raw.end)}`);
    }
    return { begin: [...raw.begin], end: [...raw.end] };
  },
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    const rank = x.shape.length;
    if (attrs.begin.length > rank || attrs.end.length > rank) {
      throw new ShapeError(
        `slice: ranges for ${Math.max(attrs.begin.length, attrs.end.length)} axes on ${shapeToString(x.shape)}`,
      );
    }
    const shape: Dim[] = [];
    for (let d = 0; d < rank; d++) {
      const dim = x.shape[d]!;
      const b = attrs.begin[d] ?? 0;
      const e = attrs.end[d] ?? null;
      if (typeof dim === "string") {
        if (b !== 0 || e !== null)
          throw new ShapeError(`slice: axis ${d} has symbolic size '${dim}' and can only be taken whole`);
        shape.push(dim);
        continue;
      }
      const end = e ?? dim;
      if (b > end || end > dim) {
        throw new ShapeError(
          `slice: range ${b}:${end} out of bounds for axis ${d} of ${shapeToString(x.shape)}`,
        );
      }
      shape.push(end - b);
    }
    return { shape, dtype: x.dtype };
  },
  kernel: (ctx) => {
    const inShape = ctx.inShapes[0]!;
    const outShape = ctx.outShape;
    const rank = inShape.length;
    const inStrides = stridesOf(inShape);
    let base = 0;
    for (let d = 0; d < rank; d++) base += (ctx.attrs.begin[d] ?? 0) * inStrides[d]!;
    // copy contiguous rows of the innermost dimension
    const inner = rank === 0 ? 1 : outShape[rank - 1]!;
    const rows = inner === 0 ? 0 : sizeOf(outShape) / inner;
    const rowStarts = new Int32Array(rows);
    const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
    for (let r = 0; r < rows; r++) {
      let off = base;
      for (let d = 0; d < rank - 1; d++) off += idx[d]! * inStrides[d]!;
      rowStarts[r] = off;
      for (let d = rank - 2; d >= 0; d--) {
        idx[d]!++;
        if (idx[d]! < outShape[d]!) break;
        idx[d] = 0;
      }
    }
    return (ins, out) => {
      const x = ins[0]!;
      for (let r = 0, o = 0; r < rows; r++) {
        const s = rowStarts[r]!;
        for (let j = 0; j < inner; j++, o++) out[o] = x[s + j]!;
      }
    };
  },
};
