/**
 * Vector helpers for optimizers and training loops, using the WebAssembly SIMD kernels when both
 * arrays are float32 in the arena, and monomorphic JS loops otherwise.
 * @module
 */
import type { FloatArray } from "../dtype.js";
import { specialize } from "../specialize.js";
import { wasmBackend } from "./memory.js";

const axpyJs = specialize(function axpyLoop(y: FloatArray, x: FloatArray, alpha: number): void {
  for (let i = 0; i < y.length; i++) y[i] = y[i]! + alpha * x[i]!;
});

/**
 * `y += alpha·x` in place (an SGD step is `axpy(param, grad, -lr)`). Lengths must match.
 * Allocates nothing.
 */
export function axpy(y: FloatArray, x: FloatArray, alpha: number): void {
  if (y.length !== x.length) throw new RangeError(`axpy: lengths ${y.length} and ${x.length} differ`);
  const be = wasmBackend();
  if (be && y instanceof Float32Array && x instanceof Float32Array && be.owns(y) && be.owns(x)) {
    be.kernels.axpy_f32(y.byteOffset, x.byteOffset, y.length, alpha);
    return;
  }
  if (y instanceof Float32Array) axpyJs.float32(y, x, alpha);
  else axpyJs.float64(y, x, alpha);
}
