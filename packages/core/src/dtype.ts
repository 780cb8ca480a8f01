/**
 * Element types. gradgraph computes in IEEE floats only: `float32` for fast training,
 * `float64` for reference runs and gradient checking.
 * @module
 */

/** The element type of a tensor or graph node. */
export type DType = "float32" | "float64";

/** Every supported dtype, in a stable order. */
export const DTYPES: readonly DType[] = ["float32", "float64"];

/** A typed array holding float32 or float64 elements. */
export type FloatArray = Float32Array | Float64Array;

/** Maps a dtype to the typed array that stores it. */
export type ArrayFor<D extends DType> = D extends "float32" ? Float32Array : Float64Array;

/** Returns true when `x` names a supported dtype. */
export function isDType(x: unknown): x is DType {
  return x === "float32" || x === "float64";
}

/** Allocates a zero-filled typed array of `length` elements for `dtype`. */
export function allocArray<D extends DType>(dtype: D, length: number): ArrayFor<D> {
  return (dtype === "float32" ? new Float32Array(length) : new Float64Array(length)) as ArrayFor<D>;
}

/** Returns the dtype of a typed array. */
export function dtypeOfArray(a: FloatArray): DType {
  return a instanceof Float32Array ? "float32" : "float64";
}
