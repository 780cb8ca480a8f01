/**
 * `@gradgraph/core/node`: Node-only helpers. {@link enableThreads} starts a `worker_threads`
 * pool so large matrix products use every core.
 * @packageDocumentation
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { startThreadPool, stopThreadPool, threadCount } from "./backend/threads.js";

/**
 * Starts `workers` worker threads (default: one per core beyond the calling thread) that share
 * the WebAssembly arena and take rows of large matrix products. Workers do not keep the process
 * alive. Returns the number of workers started (0 when WebAssembly is unavailable).
 */
export function enableThreads(
  workers: number = availableParallelism() - 1,
  options: { minWork?: number } = {},
): number {
  const ok = startThreadPool(
    (source) => {
      const w = new Worker(source, { eval: true });
      w.unref();
      return w;
    },
    workers,
    { canBlock: true, ...options },
  );
  return ok ? Math.max(0, Math.min(15, Math.floor(workers))) : 0;
}

/** Stops the worker threads started by {@link enableThreads}. */
export function disableThreads(): void {
  stopThreadPool();
}

export { threadCount };
