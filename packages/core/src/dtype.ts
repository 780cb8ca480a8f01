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
  try {
    return (dtype === "float32" ? new Float32Array(length) : new Float64Array(length)) as ArrayFor<D>;
  } catch (e) {
    if (e instanceof RangeError) throw new AllocationError(dtype, length, e.message);
    throw e;
  }
}

/**
 * A buffer could not be allocated (too large for the WebAssembly arena or the JS heap). It carries
 * the requested `dtype` and `length` and the `reason`; the compiler rethrows it with the node that
 * needed the buffer named in the message, so a plan too large for memory says which node to shrink.
 *
 * @example
 * ```ts
 * import { AllocationError, Tensor } from "@gradgraph/core";
 *
 * try {
 *   Tensor.zeros([2 ** 20, 2 ** 20]); // 2^40 elements
 * } catch (e) {
 *   if (e instanceof AllocationError) console.log(e.message);
 *   // cannot allocate 1099511627776 float32 elements (4.0 TiB): ...
 * }
 * ```
 */
export class AllocationError extends RangeError {
  /**
   * @param dtype - element type requested
   * @param length - elements requested
   * @param reason - why it failed (the limit, or the engine's message)
   * @param what - what needed the buffer (e.g. a node), when known
   */
  constructor(
    readonly dtype: DType,
    readonly length: number,
    readonly reason: string,
    readonly what?: string,
  ) {
    const bytes = length * (dtype === "float32" ? 4 : 8);
    super(
      `${what ? `${what}: ` : ""}cannot allocate ${length} ${dtype} elements (${formatBytes(bytes)}): ${reason}`,
    );
    this.name = "AllocationError";
  }
}

/** Bytes as a short human-readable figure (binary units). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Returns the dtype of a typed array. */
export function dtypeOfArray(a: FloatArray): DType {
  return a instanceof Float32Array ? "float32" : "float64";
}
