import { type Dim, normalizeAxis, ShapeError, shapeToString, sizeOf } from "../shape.js";
import type { OpDef } from "./types.js";
import { intAttr, sameDType } from "./util.js";

/** Attributes of `concat`. */
export interface ConcatAttrs {
  /** The axis to join along (negative counts from the end). */
  readonly axis: number;
}

/** Joins inputs along one axis; all other dims must match. */
export const concat: OpDef<ConcatAttrs> = {
  name: "concat",
  doc: "Joins inputs along an axis.",
  arity: "variadic",
  kind: "kernel",
  attrs: (raw) => ({ axis: intAttr("concat", "axis", raw.axis) }),
  shape: (inputs, attrs) => {
    if (inputs.length === 0) throw new ShapeError("concat: needs at least one input");
    const dtype = sameDType("concat", inputs);
    const first = inputs[0]!.shape;
    const rank = first.length;
    let axis: number;
    try {
      axis = normalizeAxis(attrs.axis, rank);
    } catch {
      throw new ShapeError(`concat: axis ${attrs.axis} is out of range for rank ${rank}`);
    }
    let total = 0;
    for (const t of inputs) {
      const bad = () =>
        new ShapeError(
          `concat: shapes ${inputs.map((i) => shapeToString(i.shape)).join(", ")} differ off axis ${axis}`,
        );
      if (t.shape.length !== rank) throw bad();
      for (let d = 0; d < rank; d++) if (d !== axis && t.shape[d] !== first[d]) throw bad();
      const a = t.shape[axis]!;
      if (typeof a !== "number") throw new ShapeError(`concat: axis ${axis} has symbolic size '${a}'`);
      total += a;
    }
    const shape: Dim[] = [...first];
    shape[axis] = total;
    return { shape, dtype };
  },
  kernel: (ctx) => {
    const rank = ctx.outShape.length;
    const axis = normalizeAxis(ctx.attrs.axis, rank);
    const outer = sizeOf(ctx.outShape.slice(0, axis));
    const inner = sizeOf(ctx.outShape.slice(axis + 1));
    const widths = ctx.inShapes.map((s) => s[axis]! * inner);
    const rowOut = ctx.outShape[axis]! * inner;
    return (ins, out) => {
      let col = 0;
      for (let k = 0; k < ins.length; k++) {
        const x = ins[k]!;
        const w = widths[k]!;
        for (let o = 0; o < outer; o++) {
          const src = o * w;
          const dst = o * rowOut + col;
          for (let j = 0; j < w; j++) out[dst + j] = x[src + j]!;
        }
        col += w;
      }
    };
  },
};
