import { type Dim, ShapeError, shapeToString, sizeOf, stridesOf } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of `pad`: zeros added before and after each axis. */
export interface PadAttrs {
  /** Elements added before each axis (missing entries mean 0). */
  readonly before: readonly number[];
  /** Elements added after each axis (missing entries mean 0). */
  readonly after: readonly number[];
}

/** Pads with zeros (the gradient of `slice`). */
export const pad: OpDef<PadAttrs> = {
  name: "pad",
  doc: "Pads each axis with zeros before and after.",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => {
    const ok = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
    if (!Array.isArray(raw.before) || !raw.before.every(ok))
      throw new Error(`pad: invalid 'before' ${JSON.stringify(raw.before)}`);
    if (!Array.isArray(raw.after) || !raw.after.every(ok))
      throw new Error(`pad: invalid 'after' ${JSON.stringify(raw.after)}`);
    return { before: [...raw.before], after: [...raw.after] };
  },
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    const rank = x.shape.length;
    if (attrs.before.length > rank || attrs.after.length > rank) {
      throw new ShapeError(`pad: padding for more axes than ${shapeToString(x.shape)} has`);
    }
    const shape: Dim[] = x.shape.map((d, i) => {
      const b = attrs.before[i] ?? 0;
      const a = attrs.after[i] ?? 0;
      if (typeof d === "string") {
        if (b !== 0 || a !== 0)
          throw new ShapeError(`pad: axis ${i} has symbolic size '${d}' and cannot be padded`);
        return d;
      }
      return d + b + a;
    });
    return { shape, dtype: x.dtype };
  },
  kernel: (ctx) => {
    const inShape = ctx.inShapes[0]!;
    const rank = inShape.length;
    const outStrides = stridesOf(ctx.outShape);
    let base = 0;
    for (let d = 0; d < rank; d++) base += (ctx.attrs.before[d] ?? 0) * outStrides[d]!;
    const inner = rank === 0 ? 1 : inShape[rank - 1]!;
    const rows = inner === 0 ? 0 : sizeOf(inShape) / inner;
    const rowStarts = new Int32Array(rows);
    const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
    for (let r = 0; r < rows; r++) {
      let off = base;
      for (let d = 0; d < rank - 1; d++) off += idx[d]! * outStrides[d]!;
      rowStarts[r] = off;
      for (let d = rank - 2; d >= 0; d--) {
        idx[d]!++;
        if (idx[d]! < inShape[d]!) break;
        idx[d] = 0;
      }
    }
    return (ins, out) => {
      const x = ins[0]!;
      out.fill(0);
      for (let r = 0, i = 0; r < rows; r++) {
        const s = rowStarts[r]!;
        for (let j = 0; j < inner; j++, i++) out[s + j] = x[i]!;
      }
    };
  },
};
