/**
 * `randomUniform(key)`: uniform random numbers in [0, 1) generated inside a plan, e.g. for a
 * dropout mask. Counter-based: element `i` is a hash of `(key, salt, i)`, so the same key gives
 * the same tensor on every run, engine and thread count, and a new key (a training loop feeds
 * the step number) gives a fresh one. Values are multiples of 2^-24, exact in float32.
 * @module
 */
import { isDType } from "../dtype.js";
import { isValidDim, type Shape, ShapeError, shapeToString, sizeOf } from "../shape.js";
import type { OpDef } from "./types.js";

/** Attributes of `randomUniform`. */
export interface RandomUniformAttrs {
  /** Output shape (symbolic dims allowed, e.g. the batch). */
  readonly shape: Shape;
  /** Distinguishes the streams of several random nodes fed the same key (any 32-bit integer). */
  readonly salt: number;
  /** Output element type. */
  readonly dtype: "float32" | "float64";
}

/** The murmur3 finaliser: a fast 32-bit integer hash with full avalanche. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The `i`-th value of the stream `(key, salt)`: a multiple of 2^-24 in [0, 1). Exported so tests
 * and reference code can reproduce a plan's random numbers.
 */
export function uniformAt(key: number, salt: number, i: number): number {
  const k = fmix32((Math.imul(key | 0, 0x9e3779b1) ^ fmix32(salt | 0)) >>> 0);
  return (fmix32((k + Math.imul(i, 0x27d4eb2f)) ^ k) >>> 8) * 2 ** -24;
}

/** Uniform random numbers in [0, 1) from a scalar key input; see the module documentation. */
export const randomUniform: OpDef<RandomUniformAttrs> = {
  name: "randomUniform",
  doc: "Uniform random numbers in [0, 1), a counter-based hash of (key input, salt, index).",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => {
    if (!Array.isArray(raw.shape) || !raw.shape.every(isValidDim))
      throw new ShapeError(`randomUniform: invalid shape ${JSON.stringify(raw.shape)}`);
    const salt = raw.salt ?? 0;
    if (typeof salt !== "number" || !Number.isInteger(salt))
      throw new Error(`randomUniform: attribute 'salt' must be an integer, got ${JSON.stringify(salt)}`);
    if (!isDType(raw.dtype)) throw new Error(`randomUniform: invalid dtype ${JSON.stringify(raw.dtype)}`);
    return { shape: [...raw.shape], salt: salt | 0, dtype: raw.dtype };
  },
  shape: (inputs, attrs) => {
    const key = inputs[0]!;
    if (!key.shape.every((d) => d === 1))
      throw new ShapeError(`randomUniform: the key must be a scalar, got ${shapeToString(key.shape)}`);
    return { shape: attrs.shape, dtype: attrs.dtype };
  },
  kernel: (ctx) => {
    const n = sizeOf(ctx.outShape);
    const salt = ctx.attrs.salt;
    return (ins, out) => {
      const key = Math.round(ins[0]![0]!);
      const k = fmix32((Math.imul(key | 0, 0x9e3779b1) ^ fmix32(salt)) >>> 0);
      for (let i = 0; i < n; i++) out[i] = (fmix32((k + Math.imul(i, 0x27d4eb2f)) ^ k) >>> 8) * 2 ** -24;
    };
  },
};
