import {
  type Dim,
  isValidDim,
  ShapeError,
  shapesEqual,
  shapeToString,
  tryBroadcastShapes,
} from "../shape.js";
import { elementwiseKernel } from "./elementwise.js";
import type { OpDef } from "./types.js";

/** Attributes of `broadcastTo`. */
export interface BroadcastToAttrs {
  /** Target shape (symbolic dims allowed). */
  readonly shape: readonly Dim[];
}

const identity = { expr: (x: string) => x, fn: (x: number) => x };

/** Repeats the input along broadcast dimensions to reach `shape` (numpy rules). */
export const broadcastTo: OpDef<BroadcastToAttrs> = {
  name: "broadcastTo",
  doc: "Broadcasts the input to a target shape by numpy's rules.",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => {
    if (!Array.isArray(raw.shape) || !raw.shape.every(isValidDim)) {
      throw new ShapeError(`broadcastTo: invalid target shape ${JSON.stringify(raw.shape)}`);
    }
    return { shape: [...raw.shape] };
  },
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    const b = tryBroadcastShapes(x.shape, attrs.shape);
    if (!b || !shapesEqual(b, attrs.shape)) {
      throw new ShapeError(
        `broadcastTo: cannot broadcast ${shapeToString(x.shape)} to ${shapeToString(attrs.shape)}`,
      );
    }
    return { shape: attrs.shape, dtype: x.dtype };
  },
  kernel: (ctx) => elementwiseKernel("broadcastTo", identity, ctx),
};
