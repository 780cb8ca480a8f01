import { isDType } from "../dtype.js";
import { type ConcreteShape, isValidDim, type Shape, ShapeError, shapeToString, sizeOf } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of a `constant` node: its values, row-major. */
export interface ConstantAttrs {
  /** Concrete shape. */
  readonly shape: ConcreteShape;
  /** Row-major values (length = product of shape). */
  readonly values: readonly number[];
  /** Element type. */
  readonly dtype: "float32" | "float64";
}

/** A constant tensor embedded in the graph (computed once per plan). */
export const constant: OpDef<ConstantAttrs> = {
  name: "constant",
  doc: "A constant tensor stored in the graph.",
  arity: 0,
  kind: "static",
  attrs: (raw) => {
    if (!Array.isArray(raw.shape) || !raw.shape.every((d) => typeof d === "number" && isValidDim(d))) {
      throw new ShapeError(`constant: invalid shape ${JSON.stringify(raw.shape)}`);
    }
    if (!isDType(raw.dtype)) throw new Error(`constant: invalid dtype ${JSON.stringify(raw.dtype)}`);
    const values = Array.from(raw.values as ArrayLike<number>);
    const badValue = values.findIndex((v) => typeof v !== "number");
    if (badValue >= 0) {
      throw new Error(`constant: values[${badValue}] is ${JSON.stringify(values[badValue])}, not a number`);
    }
    if (values.length !== sizeOf(raw.shape)) {
      throw new ShapeError(
        `constant: ${values.length} values for shape ${shapeToString(raw.shape)} (needs ${sizeOf(raw.shape)})`,
      );
    }
    return { shape: [...raw.shape], values, dtype: raw.dtype };
  },
  shape: (_inputs, attrs) => ({ shape: attrs.shape, dtype: attrs.dtype }),
  kernel: (ctx) => (_ins, out) => {
    const v = ctx.attrs.values;
    for (let i = 0; i < v.length; i++) out[i] = v[i]!;
  },
};

/** Attributes of a `fill` node. */
export interface FillAttrs {
  /** The value of every element. */
  readonly value: number;
  /** Shape (symbolic dims allowed). */
  readonly shape: Shape;
  /** Element type. */
  readonly dtype: "float32" | "float64";
}

/** A tensor with every element equal to `value` (computed once per plan). */
export const fill: OpDef<FillAttrs> = {
  name: "fill",
  doc: "A tensor filled with one value; its shape may be symbolic.",
  arity: 0,
  kind: "static",
  attrs: (raw) => {
    if (typeof raw.value !== "number")
      throw new Error(`fill: 'value' must be a number, got ${JSON.stringify(raw.value)}`);
    if (!Array.isArray(raw.shape) || !raw.shape.every(isValidDim)) {
      throw new ShapeError(`fill: invalid shape ${JSON.stringify(raw.shape)}`);
    }
    if (!isDType(raw.dtype)) throw new Error(`fill: invalid dtype ${JSON.stringify(raw.dtype)}`);
    return { value: raw.value, shape: [...raw.shape], dtype: raw.dtype };
  },
  shape: (_inputs, attrs) => ({ shape: attrs.shape, dtype: attrs.dtype }),
  kernel: (ctx) => (_ins, out) => {
    out.fill(ctx.attrs.value);
  },
};
