import type { FloatArray } from "../dtype.js";
import { normalizeAxis, ShapeError } from "../shape.js";
import { specialize } from "../specialize.js";
import type { OpDef } from "./types.js";
import { axisBlocks, intAttr } from "./util.js";

/** Attributes of softmax and logSoftmax. */
export interface SoftmaxAttrs {
  /** The axis normalised over (default -1). */
  readonly axis: number;
}

const loop = function softmaxLoop(
  x: FloatArray,
  out: FloatArray,
  outer: number,
  n: number,
  inner: number,
  log: number,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let m = Number.NEGATIVE_INFINITY;
      for (let r = 0; r < n; r++) {
        const v = x[base + r * inner]!;
        if (v > m) m = v;
      }
      if (m === Number.NEGATIVE_INFINITY || m === Number.POSITIVE_INFINITY) m = 0;
      let s = 0;
      for (let r = 0; r < n; r++) {
        const e = Math.exp(x[base + r * inner]! - m);
        if (log === 0) out[base + r * inner] = e;
        s += e;
      }
      if (log === 0) {
        const inv = 1 / s;
        for (let r = 0; r < n; r++) out[base + r * inner] *= inv;
      } else {
        const lse = Math.log(s) + m;
        for (let r = 0; r < n; r++) out[base + r * inner] = x[base + r * inner]! - lse;
      }
    }
  }
};
const loopK = specialize(loop);

function define(name: "softmax" | "logSoftmax", doc: string): OpDef<SoftmaxAttrs> {
  return {
    name,
    doc,
    arity: 1,
    kind: "kernel",
    attrs: (raw) => ({ axis: raw.axis === undefined ? -1 : intAttr(name, "axis", raw.axis) }),
    shape: (inputs, attrs) => {
      const x = inputs[0]!;
      try {
        normalizeAxis(attrs.axis, x.shape.length);
      } catch {
        throw new ShapeError(`${name}: axis ${attrs.axis} is out of range for rank ${x.shape.length}`);
      }
      return x;
    },
    kernel: (ctx) => {
      const s = ctx.inShapes[0]!;
      const [outer, n, inner] = axisBlocks(s, ctx.attrs.axis);
      const f = loopK[ctx.dtype];
      const log = name === "logSoftmax" ? 1 : 0;
      return (ins, out) => f(ins[0]!, out, outer, n, inner, log);
    },
  };
}

/** Numerically stable softmax along one axis. */
export const softmax = define("softmax", "Numerically stable softmax along an axis.");
/** Numerically stable log-softmax along one axis. */
export const logSoftmax = define("logSoftmax", "Numerically stable log-softmax along an axis.");
