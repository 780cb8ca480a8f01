/**
 * Per-dtype specialisation of kernels.
 *
 * JavaScript engines optimise a function for the array types it has seen; one loop fed both
 * Float32Array and Float64Array becomes polymorphic and slower. {@link specialize} makes an
 * independent copy of a self-contained function for each dtype (recompiled from its source),
 * so every kernel instance only ever sees one array type. Where code generation is forbidden
 * (a strict Content-Security-Policy), it falls back to the original function.
 * @module
 */
import type { DType } from "./dtype.js";

let codegenAllowed: boolean | null = null;

/** Returns true when `new Function` works in this runtime (false under a strict CSP). */
export function canGenerateCode(): boolean {
  if (codegenAllowed === null) {
    try {
      codegenAllowed = new Function("return 1")() === 1;
    } catch {
      codegenAllowed = false;
    }
  }
  return codegenAllowed;
}

/**
 * Compiles `body` (the text of a function expression) into a function. Falls back to `fallback`
 * when code generation is unavailable.
 */
export function generateFunction<F>(source: string, fallback: () => F): F {
  if (!canGenerateCode()) return fallback();
  return new Function(`"use strict"; return (${source});`)() as F;
}

const cache = new WeakMap<object, Record<DType, unknown>>();

/**
 * Returns one independent copy of `fn` per dtype. `fn` must be a self-contained function
 * expression: it may not refer to variables outside its own body (imports, closures).
 */
export function specialize<F extends (...args: never[]) => unknown>(fn: F): Record<DType, F> {
  const hit = cache.get(fn);
  if (hit) return hit as Record<DType, F>;
  const src = fn.toString();
  const copies: Record<DType, F> = {
    float32: generateFunction<F>(src, () => fn),
    float64: generateFunction<F>(src, () => fn),
  };
  cache.set(fn, copies);
  return copies;
}
