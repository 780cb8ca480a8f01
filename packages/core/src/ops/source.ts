import { isDType } from "../dtype.js";
import { isValidDim, type Shape, ShapeError, shapeToString } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of `input` and `param` nodes. */
export interface SourceAttrs {
  /** The name users feed (inputs) or bind (params) the value by. */
  readonly name: string;
  /** Declared shape (params: concrete; inputs may use symbolic dims). */
  readonly shape: Shape;
  /** Declared dtype. */
  readonly dtype: "float32" | "float64";
}

function sourceAttrs(op: string, raw: SourceAttrs): SourceAttrs {
  if (typeof raw.name !== "string" || raw.name.length === 0)
    throw new Error(`${op}: 'name' must be a non-empty string`);
  if (!Array.isArray(raw.shape) || !raw.shape.every(isValidDim)) {
    throw new ShapeError(`${op} '${raw.name}': invalid shape ${JSON.stringify(raw.shape)}`);
  }
  if (!isDType(raw.dtype)) throw new Error(`${op} '${raw.name}': invalid dtype ${JSON.stringify(raw.dtype)}`);
  return { name: raw.name, shape: [...raw.shape], dtype: raw.dtype };
}

/** A named value fed at run time; its shape may contain symbolic dims such as a batch size. */
export const input: OpDef<SourceAttrs> = {
  name: "input",
  doc: "A named value fed at run time (symbolic dims allowed).",
  arity: 0,
  kind: "source",
  attrs: (raw) => sourceAttrs("input", raw),
  shape: (_inputs, attrs) => ({ shape: attrs.shape, dtype: attrs.dtype }),
  kernel: null,
};

/** A named trainable parameter, bound by name to a buffer that optimizers update in place. */
export const param: OpDef<SourceAttrs> = {
  name: "param",
  doc: "A named trainable parameter bound to an updatable buffer.",
  arity: 0,
  kind: "source",
  attrs: (raw) => {
    const a = sourceAttrs("param", raw);
    if (!a.shape.every((d) => typeof d === "number")) {
      throw new ShapeError(`param '${a.name}': shape ${shapeToString(a.shape)} must be concrete`);
    }
    return a;
  },
  shape: (_inputs, attrs) => ({ shape: attrs.shape, dtype: attrs.dtype }),
  kernel: null,
};
