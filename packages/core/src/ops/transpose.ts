import { type ConcreteShape, ShapeError, shapeToString, sizeOf, stridesOf } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of `transpose`. */
export interface TransposeAttrs {
  /** Output axis i takes input axis perm[i]; `null` reverses the axes. */
  readonly perm: readonly number[] | null;
}

function fullPerm(perm: readonly number[] | null, rank: number): number[] {
  return perm ? [...perm] : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/** Permutes axes (a copy; matmul takes transpose flags instead so backward needs no copy). */
export const transpose: OpDef<TransposeAttrs> = {
  name: "transpose",
  doc: "Permutes axes: output axis i is input axis perm[i].",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => {
    const perm = raw.perm ?? null;
    if (perm !== null && (!Array.isArray(perm) || !perm.every((p) => Number.isInteger(p)))) {
      throw new Error(`transpose: 'perm' must be an array of integers, got ${JSON.stringify(perm)}`);
    }
    return { perm: perm === null ? null : [...perm] };
  },
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    const perm = fullPerm(attrs.perm, x.shape.length);
    const seen = new Set(perm);
    if (
      perm.length !== x.shape.length ||
      seen.size !== perm.length ||
      perm.some((p) => p < 0 || p >= perm.length)
    ) {
      throw new ShapeError(
        `transpose: perm ${JSON.stringify(perm)} is not a permutation of the axes of ${shapeToString(x.shape)}`,
      );
    }
    return { shape: perm.map((p) => x.shape[p]!), dtype: x.dtype };
  },
  kernel: (ctx) => {
    const inShape = ctx.inShapes[0]! as ConcreteShape;
    const rank = inShape.length;
    const perm = fullPerm(ctx.attrs.perm, rank);
    const inStrides = stridesOf(inShape);
    const outShape = ctx.outShape;
    const n = sizeOf(outShape);
    if (rank === 2 && perm[0] === 1) {
      const rows = inShape[0]!;
      const cols = inShape[1]!;
      return (ins, out) => {
        const x = ins[0]!;
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
      };
    }
    const map = new Int32Array(n);
    const idx = new Array<number>(rank).fill(0);
    const step = perm.map((p) => inStrides[p]!);
    let off = 0;
    for (let i = 0; i < n; i++) {
      map[i] = off;
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]!++;
        off += step[d]!;
        if (idx[d]! < outShape[d]!) break;
        off -= step[d]! * outShape[d]!;
        idx[d] = 0;
      }
    }
    return (ins, out) => {
      const x = ins[0]!;
      for (let i = 0; i < n; i++) out[i] = x[map[i]!]!;
    };
  },
};
