/**
 * Parameter initialisers, as plain data (so they serialise with the graph), and the function
 * that draws them from a seeded {@link Rng}.
 * @module
 */
import { allocArray, type DType } from "./dtype.js";
import type { Rng } from "./rng.js";
import { type ConcreteShape, sizeOf, stridesOf } from "./shape.js";
import { Tensor } from "./tensor.js";

/**
 * How to initialise a parameter. `fanIn`/`fanOut` default to `shape[0]`/`shape[1]` for a 2-D
 * weight stored as [in, out] (layers using the column-vector convention set them explicitly), and
 * to `shape[1]·kh·kw`/`shape[0]·kh·kw` for a rank-4 convolution weight `[out, in, kh, kw]`
 * (the receptive field times the channels, as PyTorch and Keras count them).
 */
export type Init =
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }
  | { readonly kind: "constant"; readonly value: number }
  | { readonly kind: "normal"; readonly mean?: number; readonly std?: number }
  | { readonly kind: "uniform"; readonly low: number; readonly high: number }
  /** N(0,1) / sqrt(fanIn): Nielsen's improved and PyImageSearch's initialisation. */
  | { readonly kind: "scaledNormal"; readonly fanIn?: number }
  /** Uniform in ±sqrt(6 / (fanIn + fanOut)) (Glorot/Xavier; Ng's ex4 epsilon_init). */
  | { readonly kind: "glorotUniform"; readonly fanIn?: number; readonly fanOut?: number }
  /** N(0, 2 / fanIn) (He/Kaiming normal, for ReLU layers; a plain normal, as PyTorch's `kaiming_normal_`). */
  | { readonly kind: "heNormal"; readonly fanIn?: number }
  /** Uniform in ±sqrt(6 / fanIn) (He/Kaiming uniform: variance 2 / fanIn). */
  | { readonly kind: "heUniform"; readonly fanIn?: number }
  /** Andrew Ng's deterministic debug weights: reshape(sin(1..n), shape) / 10, column-major. */
  | { readonly kind: "debugSin" }
  /** Explicit row-major values. */
  | { readonly kind: "values"; readonly values: readonly number[] };

/** The fields of each initialiser kind besides `kind` (all numbers); a trailing `?` marks an optional one. */
const INIT_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  ["zeros", []],
  ["ones", []],
  ["constant", ["value"]],
  ["normal", ["mean?", "std?"]],
  ["uniform", ["low", "high"]],
  ["scaledNormal", ["fanIn?"]],
  ["glorotUniform", ["fanIn?", "fanOut?"]],
  ["heNormal", ["fanIn?"]],
  ["heUniform", ["fanIn?"]],
  ["debugSin", []],
  ["values", ["values"]],
]);

function describeValue(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (v === null || v === undefined || typeof v === "boolean") return String(v);
  return Array.isArray(v) ? "an array" : `a ${typeof v}`;
}

/**
 * Validates an initialiser and returns a copy that holds only its known fields. Throws an `Error`
 * naming the problem: an unknown kind, an unexpected field, a missing or non-number field, or (when
 * `size` is given) a `values` list whose length is not the param's `size` elements. Non-finite
 * numbers are allowed. `decode` turns each stored field value into a number (the default accepts
 * numbers only); graph parsing passes one that also reads the string encoding of non-finite values.
 */
export function checkInit(
  init: unknown,
  size?: number,
  decode: (value: unknown, what: string) => number = (value, what) => {
    if (typeof value !== "number") throw new Error(`${what} is ${describeValue(value)}, not a number`);
    return value;
  },
): Init {
  if (typeof init !== "object" || init === null || Array.isArray(init)) {
    throw new Error(`init must be an object with a 'kind', got ${describeValue(init)}`);
  }
  const raw = init as Readonly<Record<string, unknown>>;
  const kind = Object.hasOwn(raw, "kind") ? raw.kind : undefined;
  const fields = typeof kind === "string" ? INIT_FIELDS.get(kind) : undefined;
  if (!fields) throw new Error(`unknown init kind ${describeValue(kind)}`);
  const names = fields.map((f) => f.replace("?", ""));
  for (const key of Object.keys(raw)) {
    if (key !== "kind" && !names.includes(key))
      throw new Error(`init "${kind}" has unexpected field '${key}'`);
  }
  const out: Record<string, unknown> = { kind };
  for (const [k, field] of names.entries()) {
    const required = !fields[k]!.endsWith("?");
    const v = Object.hasOwn(raw, field) ? raw[field] : undefined;
    if (v === undefined) {
      if (required) throw new Error(`init '${field}' is missing or not a number`);
      continue;
    }
    if (field !== "values") {
      out[field] = decode(v, `init '${field}'`);
      continue;
    }
    if (!Array.isArray(v)) throw new Error(`init 'values' is ${describeValue(v)}, not an array of numbers`);
    if (size !== undefined && v.length !== size) {
      throw new Error(`init 'values' has ${v.length} values, the param has ${size} elements`);
    }
    out.values = v.map((x: unknown, i: number) => decode(x, `init values[${i}]`));
  }
  return out as unknown as Init;
}

/**
 * The default fans of a weight of `shape` (see {@link Init}): a rank-4 `[out, in, kh, kw]`
 * convolution weight counts its receptive field times its channels; otherwise the last two dims
 * (or the only one).
 */
function fans(shape: ConcreteShape, fanIn?: number, fanOut?: number): [number, number] {
  if (shape.length === 4) {
    const field = shape[2]! * shape[3]!;
    return [fanIn ?? shape[1]! * field, fanOut ?? shape[0]! * field];
  }
  const inDefault = shape.length >= 2 ? shape[shape.length - 2]! : (shape[0] ?? 1);
  const outDefault = shape.length >= 2 ? shape[shape.length - 1]! : (shape[0] ?? 1);
  return [fanIn ?? inDefault, fanOut ?? outDefault];
}

/** Draws a tensor of `shape` from `init`. Deterministic given the rng state. */
export function initTensor(init: Init, shape: ConcreteShape, dtype: DType, rng: Rng): Tensor {
  const n = sizeOf(shape);
  const data = allocArray(dtype, n);
  switch (init.kind) {
    case "zeros":
      break;
    case "ones":
      data.fill(1);
      break;
    case "constant":
      data.fill(init.value);
      break;
    case "normal":
      rng.fillNormal(data, init.mean ?? 0, init.std ?? 1);
      break;
    case "uniform":
      rng.fillUniform(data, init.low, init.high);
      break;
    case "scaledNormal": {
      const [fi] = fans(shape, init.fanIn);
      rng.fillNormal(data, 0, 1 / Math.sqrt(fi));
      break;
    }
    case "glorotUniform": {
      const [fi, fo] = fans(shape, init.fanIn, init.fanOut);
      const e = Math.sqrt(6 / (fi + fo));
      rng.fillUniform(data, -e, e);
      break;
    }
    case "heNormal": {
      const [fi] = fans(shape, init.fanIn);
      rng.fillNormal(data, 0, Math.sqrt(2 / fi));
      break;
    }
    case "heUniform": {
      const [fi] = fans(shape, init.fanIn);
      const e = Math.sqrt(6 / fi);
      rng.fillUniform(data, -e, e);
      break;
    }
    case "debugSin": {
      // MATLAB: W = reshape(sin(1:numel(W)), size(W)) / 10 -- column-major fill (first dim fastest)
      const strides = stridesOf(shape);
      for (let k = 0; k < n; k++) {
        let rem = k;
        let off = 0;
        for (let d = 0; d < shape.length; d++) {
          off += (rem % shape[d]!) * strides[d]!;
          rem = Math.floor(rem / shape[d]!);
        }
        data[off] = Math.sin(k + 1) / 10;
      }
      break;
    }
    case "values": {
      if (init.values.length !== n)
        throw new RangeError(`init values: ${init.values.length} values for ${n} elements`);
      for (let i = 0; i < n; i++) data[i] = init.values[i]!;
      break;
    }
    default: {
      const never: never = init;
      throw new Error(`unknown initialiser ${JSON.stringify(never)}`);
    }
  }
  return new Tensor(shape, data);
}
