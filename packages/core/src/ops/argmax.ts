import { normalizeAxis, ShapeError } from "../shape.js";
import type { OpDef } from "./types.js";
import { axisBlocks, boolAttr, intAttr } from "./util.js";

/** Attributes of `argmax`. */
export interface ArgmaxAttrs {
  /** The axis searched (negative counts from the end). */
  readonly axis: number;
  /** Keep the searched axis with length 1 (default false). */
  readonly keepdims: boolean;
}

/**
 * Index of the largest element along `axis`, as a float of the input's dtype. Ties go to the
 * first (lowest) index; a NaN counts as the largest (the first NaN wins, as in numpy). Its
 * gradient is zero.
 */
export const argmax: OpDef<ArgmaxAttrs> = {
  name: "argmax",
  doc: "Index of the largest element along an axis (ties: the first); zero gradient.",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => ({
    axis: intAttr("argmax", "axis", raw?.axis ?? -1),
    keepdims: boolAttr("argmax", "keepdims", raw?.keepdims, false),
  }),
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    let a: number;
    try {
      a = normalizeAxis(attrs.axis, x.shape.length);
    } catch {
      throw new ShapeError(`argmax: axis ${attrs.axis} is out of range for rank ${x.shape.length}`);
    }
    if (x.shape[a] === 0) throw new ShapeError(`argmax: axis ${a} is empty`);
    const shape = attrs.keepdims
      ? x.shape.map((d, i) => (i === a ? 1 : d))
      : x.shape.filter((_, i) => i !== a);
    return { shape, dtype: x.dtype };
  },
  kernel: (ctx) => {
    const shape = ctx.inShapes[0]!;
    const a = normalizeAxis(ctx.attrs.axis, shape.length);
    const [outer, n, inner] = axisBlocks(shape, a);
    if (n === 0) throw new ShapeError(`argmax: axis ${a} of the input is empty`);
    return (ins, out) => {
      const x = ins[0]!;
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * n * inner + i;
          let best = x[base]!;
          let at = 0;
          for (let r = 1; r < n && !Number.isNaN(best); r++) {
            const v = x[base + r * inner]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = r;
            }
          }
          out[o * inner + i] = at;
        }
      }
    };
  },
};
