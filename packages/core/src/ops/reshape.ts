import { type Dim, isConcrete, type Shape, ShapeError, shapeToString, sizeOf } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of `reshape`. */
export interface ReshapeAttrs {
  /** Target shape; may contain symbols, and one -1 (inferred) when the input is concrete. */
  readonly shape: readonly Dim[];
}

function numericProduct(s: Shape): number {
  let p = 1;
  for (const d of s) if (typeof d === "number") p *= d;
  return p;
}

function symbols(s: Shape): string {
  return s
    .filter((d): d is string => typeof d === "string")
    .sort()
    .join(",");
}

/** Reinterprets the data with a new shape of the same size (no copy: the output aliases the input). */
export const reshape: OpDef<ReshapeAttrs> = {
  name: "reshape",
  doc: "Same data, new shape (no copy).",
  arity: 1,
  kind: "alias",
  attrs: (raw) => {
    if (!Array.isArray(raw.shape)) throw new Error(`reshape: 'shape' must be an array`);
    return { shape: [...raw.shape] };
  },
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    const target = [...attrs.shape];
    const infer = target.indexOf(-1);
    if (target.filter((d) => d === -1).length > 1)
      throw new ShapeError(`reshape: only one -1 allowed in ${shapeToString(target)}`);
    if (infer >= 0) {
      if (!isConcrete(x.shape) || !isConcrete(target.filter((d) => d !== -1))) {
        throw new ShapeError(
          `reshape: -1 needs concrete shapes, got ${shapeToString(x.shape)} -> ${shapeToString(target)}`,
        );
      }
      const rest = sizeOf(target.filter((d) => d !== -1) as number[]);
      const total = sizeOf(x.shape);
      if (rest === 0 || total % rest !== 0) {
        throw new ShapeError(
          `reshape: cannot reshape ${shapeToString(x.shape)} into ${shapeToString(target)}`,
        );
      }
      target[infer] = total / rest;
    }
    for (const d of target) {
      if (
        !((typeof d === "number" && Number.isInteger(d) && d >= 0) || (typeof d === "string" && d.length > 0))
      ) {
        throw new ShapeError(`reshape: invalid target dimension ${JSON.stringify(d)}`);
      }
    }
    if (numericProduct(x.shape) !== numericProduct(target) || symbols(x.shape) !== symbols(target)) {
      throw new ShapeError(
        `reshape: cannot reshape ${shapeToString(x.shape)} into ${shapeToString(target)} (sizes differ)`,
      );
    }
    return { shape: target, dtype: x.dtype };
  },
  kernel: () => (ins, out) => {
    out.set(ins[0]!);
  },
};
