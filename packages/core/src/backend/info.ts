/**
 * {@link backendInfo}: which kernels run, on which memory, on how many threads, and why a
 * faster option is not in use.
 * @module
 */
import { wasmBackend, wasmUnavailableReason } from "./memory.js";
import { MAX_WORKERS, threadCount } from "./threads.js";

/** What {@link backendInfo} reports. */
export interface BackendInfo {
  /**
   * `"wasm-simd"`: float32 kernels (matrix products, convolutions, elementwise loops) run as
   * WebAssembly SIMD code on the arena; `"js"`: everything runs as plain JavaScript.
   */
  readonly backend: "wasm-simd" | "js";
  /**
   * True when the arena's memory is shared (`SharedArrayBuffer` exists): worker threads can
   * join, and it grows up to 2 GiB. False with the JS backend, or without `SharedArrayBuffer`
   * (one thread; memory reserved up front, 1 GiB or less).
   */
  readonly sharedMemory: boolean;
  /** True when the matrix kernels use relaxed-SIMD fused multiply-adds. */
  readonly relaxedSimd: boolean;
  /** Threads computing matrix products now: the calling thread plus worker threads serving. */
  readonly threads: number;
  /** The most threads this runtime allows: 16 with shared memory, else 1. */
  readonly maxThreads: number;
  /**
   * Why a faster option is unavailable, one sentence each (empty when nothing faster exists):
   * no WebAssembly SIMD, no `SharedArrayBuffer`, no worker threads started, no relaxed SIMD.
   */
  readonly limitations: readonly string[];
}

/**
 * Reports the active backend: `"wasm-simd"` or `"js"`, whether its memory is shared, how many
 * threads compute matrix products (and may), and why a faster option is unavailable. Creates the
 * WebAssembly backend if it was not created yet, so a runtime without WebAssembly SIMD gets its
 * one warning here.
 *
 * Results do not depend on any of this except the backend: the same WebAssembly kernels give
 * bit-identical results on shared or non-shared memory and on any number of threads.
 *
 * @example
 * ```ts
 * import { backendInfo } from "@gradgraph/core";
 * const info = backendInfo();
 * console.log(`${info.backend}, ${info.threads}/${info.maxThreads} threads`, info.limitations);
 * // in a page without COOP/COEP headers:
 * // wasm-simd, 1/1 threads ["SharedArrayBuffer is unavailable (...): kernels run on one thread"]
 * ```
 */
export function backendInfo(): BackendInfo {
  const be = wasmBackend();
  const limitations: string[] = [];
  if (!be) {
    limitations.push(
      `${wasmUnavailableReason() ?? "WebAssembly is unavailable"}: kernels run as plain JavaScript`,
    );
    return { backend: "js", sharedMemory: false, relaxedSimd: false, threads: 1, maxThreads: 1, limitations };
  }
  const workers = be.shared ? threadCount() : 0;
  if (!be.shared)
    limitations.push(
      "SharedArrayBuffer is unavailable (a browser page needs cross-origin isolation: COOP/COEP headers): kernels run on one thread, in at most " +
        `${Math.round(be.memory.buffer.byteLength / 2 ** 20)} MiB of WebAssembly memory`,
    );
  else if (workers === 0)
    limitations.push(
      "no worker threads are serving: start them with enableThreads() from @gradgraph/core/node, or startThreadPool() with a Web Worker factory in a cross-origin isolated page",
    );
  if (!be.fma)
    limitations.push(
      "relaxed SIMD is unsupported by this runtime (Node >= 22 and current browsers have it): matrix kernels multiply and add separately",
    );
  return {
    backend: "wasm-simd",
    sharedMemory: be.shared,
    relaxedSimd: be.fma,
    threads: 1 + workers,
    maxThreads: be.shared ? MAX_WORKERS + 1 : 1,
    limitations,
  };
}
