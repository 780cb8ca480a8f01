/**
 * `@gradgraph/core/node`: Node-only helpers. {@link enableThreads} starts a `worker_threads`
 * pool so large matrix products use every core.
 * @packageDocumentation
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { startThreadPool, stopThreadPool, type ThreadPoolOptions, threadCount } from "./backend/threads.js";

/** Options of {@link enableThreads}: see {@link ThreadPoolOptions}. */
export type EnableThreadsOptions = Pick<ThreadPoolOptions, "minWork" | "workerTimeoutMs" | "onWarning">;

/**
 * Starts `workers` worker threads (default: one per core beyond the calling thread) that share
 * the WebAssembly arena and take rows of large matrix products. Workers do not keep the process
 * alive. Returns the number of workers started (0 when WebAssembly is unavailable).
 *
 * Products can run at once: workers join as they start, and results are bit-identical to one
 * thread whatever the start-up timing. A worker that dies is dropped with a process warning
 * (code `GRADGRAPH_THREADS`) and its rows are recomputed on the calling thread.
 */
export function enableThreads(
  workers: number = availableParallelism() - 1,
  options: EnableThreadsOptions = {},
): number {
  const ok = startThreadPool(
    (source, events) => {
      const w = new Worker(source, { eval: true });
      w.unref();
      // a worker that throws or exits is taken out of the pool (and never crashes the process)
      w.on("error", (e) => events.exited(`error: ${e instanceof Error ? e.message : String(e)}`));
      w.on("exit", (code) => events.exited(`exit code ${code}`));
      return w;
    },
    workers,
    {
      canBlock: true,
      onWarning: (message) => process.emitWarning(message, { code: "GRADGRAPH_THREADS" }),
      ...options,
    },
  );
  return ok ? Math.max(0, Math.min(15, Math.floor(workers))) : 0;
}

/** Stops the worker threads started by {@link enableThreads}. */
export function disableThreads(): void {
  stopThreadPool();
}

export { threadCount };
