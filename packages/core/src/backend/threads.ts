/**
 * A pool of worker threads sharing the WebAssembly arena, used to split large matrix products
 * by rows across cores. Browser-safe: workers are made by an injected factory (Node's
 * `worker_threads` in `@gradgraph/core/node`, Web Workers in a cross-origin-isolated page).
 *
 * Dispatch is synchronous: the calling thread writes each worker's share into a control block in
 * shared memory, wakes the workers with `Atomics.notify`, computes its own share, and waits for
 * the others with `Atomics.wait` (or spins where the main thread may not block). Products smaller
 * than {@link ThreadPoolOptions.minWork} multiply-adds run on the calling thread alone.
 * @module
 */
import { type WasmKernels, wasmBackend } from "./memory.js";

/** The part of a Worker the pool uses. */
export interface WorkerLike {
  /** Sends the init message. */
  postMessage(message: unknown): void;
  /** Stops the worker. */
  terminate(): unknown;
}

/** Creates a worker running `source` (JavaScript text). */
export type WorkerFactory = (source: string) => WorkerLike;

/** Options of {@link startThreadPool}. */
export interface ThreadPoolOptions {
  /** Whether the calling thread may block in `Atomics.wait` (Node: yes; a browser main thread: no). */
  canBlock?: boolean;
  /** Smallest product M·N·K worth splitting (default 2^21 multiply-adds). */
  minWork?: number;
}

const SEQ = 0;
const DONE = 1;
const OP = 2;
const READY = 3;
const SLOT = 8;
const SLOT_INTS = 9;
const MAX_WORKERS = 15;
const CTL_INTS = SLOT + SLOT_INTS * MAX_WORKERS;
/** Polls of the control word before a thread sleeps (roughly 100-200 µs). */
const SPIN = 20000;

/** The worker's program: instantiate the kernels on the shared memory, then serve dispatches forever. */
const WORKER_SOURCE = `"use strict";
const init = (msg) => {
  const inst = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } });
  const k = [inst.exports.gemm_nn, inst.exports.gemm_tn];
  const ctl = new Int32Array(msg.memory.buffer, msg.ctl, ${CTL_INTS});
  const base = ${SLOT} + msg.slot * ${SLOT_INTS};
  let seen = Atomics.load(ctl, ${SEQ});
  Atomics.add(ctl, ${READY}, 1);
  for (;;) {
    // spin briefly before sleeping: dispatches come in bursts (several products per training
    // step) and waking a sleeping thread costs far more than a short spin
    for (let s = 0; s < ${SPIN} && Atomics.load(ctl, ${SEQ}) === seen; s++);
    Atomics.wait(ctl, ${SEQ}, seen);
    const seq = Atomics.load(ctl, ${SEQ});
    if (seq === seen) continue;
    seen = seq;
    const op = Atomics.load(ctl, ${OP});
    if (op < 0) return;
    const M = ctl[base + 3];
    if (M > 0) k[op](ctl[base], ctl[base + 1], ctl[base + 2], M, ctl[base + 4], ctl[base + 5], ctl[base + 6], ctl[base + 7], ctl[base + 8]);
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
};
if (typeof require === "function") require("node:worker_threads").parentPort.once("message", init);
else self.onmessage = (e) => init(e.data);
`;

interface Pool {
  workers: WorkerLike[];
  ctl: Int32Array;
  canBlock: boolean;
  minWork: number;
}

let pool: Pool | null = null;

/**
 * Starts `count` workers (at most 15) sharing the arena. Returns false when the WebAssembly
 * backend is unavailable. Calling it again replaces the previous pool.
 */
export function startThreadPool(
  factory: WorkerFactory,
  count: number,
  options: ThreadPoolOptions = {},
): boolean {
  const be = wasmBackend();
  if (!be) return false;
  stopThreadPool();
  const n = Math.max(0, Math.min(MAX_WORKERS, Math.floor(count)));
  if (n === 0) return true;
  const block = be.alloc("float32", CTL_INTS);
  const ctl = new Int32Array(block.buffer, block.byteOffset, CTL_INTS);
  const workers: WorkerLike[] = [];
  for (let w = 0; w < n; w++) {
    const worker = factory(WORKER_SOURCE);
    worker.postMessage({ memory: be.memory, module: be.module, ctl: ctl.byteOffset, slot: w });
    workers.push(worker);
  }
  pool = { workers, ctl, canBlock: options.canBlock ?? false, minWork: options.minWork ?? 2 ** 21 };
  return true;
}

/** Stops the pool's workers (matrix products then run on the calling thread only). */
export function stopThreadPool(): void {
  if (!pool) return;
  const { ctl, workers } = pool;
  Atomics.store(ctl, OP, -1);
  Atomics.add(ctl, SEQ, 1);
  Atomics.notify(ctl, SEQ);
  for (const w of workers) w.terminate();
  pool = null;
}

/** Number of worker threads currently serving (0 without a pool; workers still starting are not counted). */
export function threadCount(): number {
  return pool ? Math.min(pool.workers.length, Atomics.load(pool.ctl, READY)) : 0;
}

/**
 * C = op(A)·B in float32 through the WebAssembly kernels, split by rows across the pool when the
 * product is large enough. `op` 0 is A·B (A [M,lda]), 1 is A^T·B (A stored [K,lda]).
 */
export function gemmF32(
  kernels: WasmKernels,
  op: 0 | 1,
  a: number,
  b: number,
  c: number,
  M: number,
  N: number,
  K: number,
  lda: number,
  ldb: number,
  ldc: number,
): void {
  const fn = op === 0 ? kernels.gemm_nn : kernels.gemm_tn;
  const p = pool;
  if (!p || M * N * K < p.minWork || M < 16) {
    fn(a, b, c, M, N, K, lda, ldb, ldc);
    return;
  }
  const ctl = p.ctl;
  const ready = Math.min(p.workers.length, Atomics.load(ctl, READY));
  if (ready === 0) {
    fn(a, b, c, M, N, K, lda, ldb, ldc);
    return;
  }
  const parts = ready + 1;
  const chunk = Math.ceil(M / parts / 4) * 4;
  for (let w = 0; w < ready; w++) {
    const i0 = Math.min(M, (w + 1) * chunk);
    const i1 = Math.min(M, i0 + chunk);
    const base = SLOT + w * SLOT_INTS;
    ctl[base] = op === 0 ? a + i0 * lda * 4 : a + i0 * 4;
    ctl[base + 1] = b;
    ctl[base + 2] = c + i0 * ldc * 4;
    ctl[base + 3] = i1 - i0;
    ctl[base + 4] = N;
    ctl[base + 5] = K;
    ctl[base + 6] = lda;
    ctl[base + 7] = ldb;
    ctl[base + 8] = ldc;
  }
  Atomics.store(ctl, DONE, 0);
  Atomics.store(ctl, OP, op);
  Atomics.add(ctl, SEQ, 1);
  Atomics.notify(ctl, SEQ);
  fn(a, b, c, Math.min(chunk, M), N, K, lda, ldb, ldc);
  for (let spins = 0; ; spins++) {
    const done = Atomics.load(ctl, DONE);
    if (done >= ready) break;
    if (p.canBlock && spins > SPIN) Atomics.wait(ctl, DONE, done, 100);
  }
}
