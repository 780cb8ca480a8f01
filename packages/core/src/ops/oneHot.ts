import { ShapeError } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of `oneHot`. */
export interface OneHotAttrs {
  /** Number of classes: the length of the new last axis (a positive integer). */
  readonly depth: number;
}

/**
 * One-hot encoding: integer-valued float indices `[...]` give `[..., depth]` with a 1 at each
 * index and 0 elsewhere, in the indices' dtype. An index that is not an integer in `[0, depth)`
 * (negative, too large, fractional or NaN) gives an all-zero row, so `-1` can mark padding.
 * Its gradient with respect to the indices is zero.
 */
export const oneHot: OpDef<OneHotAttrs> = {
  name: "oneHot",
  doc: "One-hot encoding of integer-valued indices along a new last axis of length depth.",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => {
    const d = raw?.depth;
    if (typeof d !== "number" || !Number.isInteger(d) || d < 1)
      throw new Error(`oneHot: 'depth' must be a positive integer, got ${JSON.stringify(d)}`);
    return { depth: d };
  },
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    if (!Number.isInteger(attrs.depth) || attrs.depth < 1)
      throw new ShapeError(`oneHot: depth ${attrs.depth} is not a positive integer`);
    return { shape: [...x.shape, attrs.depth], dtype: x.dtype };
  },
  kernel: (ctx) => {
    const depth = ctx.attrs.depth;
    return (ins, out) => {
      const idx = ins[0]!;
      out.fill(0);
      for (let i = 0, n = idx.length; i < n; i++) {
        const k = idx[i]!;
        if (Number.isInteger(k) && k >= 0 && k < depth) out[i * depth + k] = 1;
      }
    };
  },
};
