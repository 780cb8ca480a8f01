/**
 * A pool of worker threads sharing the WebAssembly arena, used to split large matrix products
 * by rows across cores. Browser-safe: workers are made by an injected factory (Node's
 * `worker_threads` in `@gradgraph/core/node`, Web Workers in a cross-origin-isolated page).
 *
 * Why results never depend on the threads: a product is cut into row chunks whose boundaries
 * are multiples of the micro-kernel's 4-row tile (or, for products with fewer than 16 rows, into
 * column chunks on its 8-column tile), and every output element is summed over k in the same
 * order whichever thread computes it. So the chunks may be computed by anyone —
 * the calling thread, a worker that started late, or the calling thread again after a worker
 * died — and C is bit-identical to a single-threaded product.
 *
 * Dispatch is synchronous and work is *claimed*, never assigned: the calling thread publishes a
 * job (parameters plus a claim counter tagged with the job's sequence number), wakes the
 * workers, then claims and computes chunks itself like any worker. A worker claims a chunk with
 * a compare-and-swap on the tagged counter, so a worker that is still starting, asleep, or looking
 * at an older job can never take or half-do work it was not given. The caller then waits until
 * every chunk is marked done; a chunk whose worker died (it reports that itself when a kernel
 * throws) or stopped answering for {@link ThreadPoolOptions.workerTimeoutMs} is recomputed on the
 * calling thread, the worker is retired and terminated, and a warning says so.
 * @module
 */
import { GEMM_WORKSPACE_BYTES } from "./gemm-wasm.js";
import { type GemmKernel, gemmKernel, type WasmKernels, wasmBackend } from "./memory.js";

/** The part of a Worker the pool uses. */
export interface WorkerLike {
  /** Sends the init message. */
  postMessage(message: unknown): void;
  /** Stops the worker. */
  terminate(): unknown;
}

/** What the pool tells a {@link WorkerFactory} about the worker it asks for. */
export interface WorkerEvents {
  /** The worker's slot in the pool (0-based). */
  readonly slot: number;
  /**
   * Call when the worker exits or reports an uncaught error on its own: the pool stops counting
   * on it, recomputes any rows it held, and warns once. Calls after the pool stopped are ignored.
   */
  exited(reason: string): void;
}

/**
 * Creates a worker running `source` (JavaScript text). Wire the worker's error/exit events to
 * `events.exited` so a worker that dies between products is noticed at once (without it, only
 * {@link ThreadPoolOptions.workerTimeoutMs} notices a worker that dies holding rows).
 */
export type WorkerFactory = (source: string, events: WorkerEvents) => WorkerLike;

/** Options of {@link startThreadPool}. */
export interface ThreadPoolOptions {
  /** Whether the calling thread may block in `Atomics.wait` (Node: yes; a browser main thread: no). */
  canBlock?: boolean;
  /** Smallest product M·N·K worth splitting (default 2^21 multiply-adds). */
  minWork?: number;
  /**
   * How long the calling thread waits for a chunk a worker has claimed before it treats the
   * worker as dead, recomputes the chunk itself and terminates the worker (default 10,000 ms).
   */
  workerTimeoutMs?: number;
  /** Receives the pool's warnings (a worker died or was retired). Default: `console.warn`. */
  onWarning?: (message: string) => void;
}

// Control block layout (Int32 words in the shared arena).
const SEQ = 0; // job sequence number; workers sleep on it
const QUIT = 1; // non-zero: workers exit
const CLAIM = 2; // (job tag << 8) | next unclaimed chunk
const FINISHED = 3; // chunks done in the current job (wake-up word for the caller)
const FAULT = 4; // test hook: (slot + 1) << 4 | kind, see injectWorkerFault
const P = 8; // job parameters: op, a, b, c, M, N, K, lda, ldb, ldc, rows (or columns) per chunk, chunks, split
const P_WORDS = 13;
const STATE = P + P_WORDS; // per worker: 0 starting, 1 serving, 2 dead, 3 retired
/** The most worker threads a pool runs (the calling thread computes too). @internal */
export const MAX_WORKERS = 15;
const MAX_CHUNKS = 255;
const DONE = STATE + MAX_WORKERS; // per chunk: tag of the job whose chunk is done
const OWNER = DONE + MAX_CHUNKS; // per chunk: claiming worker's slot + 1 (0: the caller)
const CTL_INTS = OWNER + MAX_CHUNKS;
const TAG_MASK = 0x7fffff;
const STARTING = 0;
const SERVING = 1;
const DEAD = 2;
const RETIRED = 3;
/** Polls of the control word before a thread sleeps (roughly 100-200 µs). */
const SPIN = 20000;

/**
 * The worker's program: instantiate the kernels on the shared memory, then serve jobs. `serve`
 * is the same claim loop the calling thread runs (see {@link claimAndRun}); keep the two in step.
 */
const WORKER_SOURCE = `"use strict";
const init = (msg) => {
  const inst = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } });
  const k = [inst.exports.gemm_nn, inst.exports.gemm_tn, inst.exports.gemm_nt];
  const ctl = new Int32Array(msg.memory.buffer, msg.ctl, ${CTL_INTS});
  const me = msg.slot + 1;
  const die = () => {
    Atomics.store(ctl, ${FAULT}, 0);
    if (typeof process === "object") process.exit(1);
    self.close();
    for (;;) Atomics.wait(ctl, ${QUIT}, 0);
  };
  const serve = (tag) => {
    const fault = Atomics.load(ctl, ${FAULT});
    if (fault >> 4 === me && (fault & 15) === 3) die();
    for (;;) {
      if (Atomics.load(ctl, ${STATE} + msg.slot) !== ${SERVING}) return;
      const v = Atomics.load(ctl, ${CLAIM});
      if (v >>> 8 !== tag) return;
      const i = v & 255;
      if (i >= ctl[${P + 11}]) return;
      if (Atomics.compareExchange(ctl, ${CLAIM}, v, v + 1) !== v) continue;
      Atomics.store(ctl, ${OWNER} + i, me);
      const fault = Atomics.load(ctl, ${FAULT});
      if (fault >> 4 === me && (fault & 15) === 2) die();
      const op = ctl[${P}], lda = ctl[${P + 7}], ldb = ctl[${P + 8}], ldc = ctl[${P + 9}];
      let a = ctl[${P + 1}], b = ctl[${P + 2}], c = ctl[${P + 3}], M = ctl[${P + 4}], N = ctl[${P + 5}];
      if (ctl[${P + 12}] === 0) {
        const r0 = i * ctl[${P + 10}];
        M = Math.min(M - r0, ctl[${P + 10}]);
        a += op === 1 ? r0 * 4 : r0 * lda * 4;
        c += r0 * ldc * 4;
      } else {
        const j0 = i * ctl[${P + 10}];
        N = Math.min(N - j0, ctl[${P + 10}]);
        b += op === 2 ? j0 * ldb * 4 : j0 * 4;
        c += j0 * 4;
      }
      try {
        if (fault >> 4 === me && (fault & 15) === 1) {
          Atomics.store(ctl, ${FAULT}, 0);
          throw new Error("injected worker fault");
        }
        k[op](a, b, c, M, N, ctl[${P + 6}], lda, ldb, ldc, msg.ws);
      } catch (e) {
        Atomics.store(ctl, ${STATE} + msg.slot, ${DEAD});
        Atomics.add(ctl, ${FINISHED}, 1);
        Atomics.notify(ctl, ${FINISHED});
        throw e;
      }
      Atomics.store(ctl, ${DONE} + i, tag);
      Atomics.add(ctl, ${FINISHED}, 1);
      Atomics.notify(ctl, ${FINISHED});
    }
  };
  Atomics.store(ctl, ${STATE} + msg.slot, ${SERVING});
  let seen = Atomics.load(ctl, ${SEQ});
  // a job may already be running: join it (the tagged claim makes that safe)
  serve(seen & ${TAG_MASK});
  for (;;) {
    // spin briefly before sleeping: jobs come in bursts (several products per training step)
    // and waking a sleeping thread costs far more than a short spin
    for (let s = 0; s < ${SPIN} && Atomics.load(ctl, ${SEQ}) === seen; s++);
    Atomics.wait(ctl, ${SEQ}, seen);
    if (Atomics.load(ctl, ${QUIT}) !== 0 || Atomics.load(ctl, ${STATE} + msg.slot) !== ${SERVING}) return;
    const seq = Atomics.load(ctl, ${SEQ});
    if (seq === seen) continue;
    seen = seq;
    serve(seq & ${TAG_MASK});
  }
};
if (typeof require === "function") require("node:worker_threads").parentPort.once("message", init);
else self.onmessage = (e) => init(e.data);
`;

interface Pool {
  workers: WorkerLike[];
  /** Each worker's packing workspace (see gemm-wasm.ts). */
  workspaces: Float32Array[];
  stopped: boolean;
  ctl: Int32Array;
  canBlock: boolean;
  minWork: number;
  workerTimeoutMs: number;
  warn: (message: string) => void;
}

let pool: Pool | null = null;

/**
 * Starts `count` workers (at most 15) sharing the arena. Returns false when the WebAssembly
 * backend is unavailable or its memory is not shared (no `SharedArrayBuffer`: a browser page
 * without cross-origin isolation), where products run on the calling thread only. Calling it
 * again replaces the previous pool. Products may be computed straight away: workers join in as
 * they start, and results do not depend on when they do.
 */
export function startThreadPool(
  factory: WorkerFactory,
  count: number,
  options: ThreadPoolOptions = {},
): boolean {
  const be = wasmBackend();
  if (!be?.shared) return false;
  stopThreadPool();
  const n = Math.max(0, Math.min(MAX_WORKERS, Math.floor(count)));
  if (n === 0) return true;
  const block = be.alloc("float32", CTL_INTS);
  const ctl = new Int32Array(block.buffer, block.byteOffset, CTL_INTS);
  const workers: WorkerLike[] = [];
  const workspaces: Float32Array[] = [];
  const p: Pool = {
    workers,
    workspaces,
    stopped: false,
    ctl,
    canBlock: options.canBlock ?? false,
    minWork: options.minWork ?? 2 ** 21,
    workerTimeoutMs: options.workerTimeoutMs ?? 10_000,
    warn: options.onWarning ?? ((m) => console.warn(m)),
  };
  for (let slot = 0; slot < n; slot++) {
    const worker = factory(WORKER_SOURCE, { slot, exited: (reason) => workerExited(p, slot, reason) });
    const ws = be.alloc("float32", GEMM_WORKSPACE_BYTES / 4) as Float32Array;
    workspaces.push(ws);
    worker.postMessage({
      memory: be.memory,
      module: be.module,
      ctl: ctl.byteOffset,
      slot,
      ws: ws.byteOffset,
    });
    workers.push(worker);
  }
  pool = p;
  return true;
}

/** Stops the pool's workers (matrix products then run on the calling thread only). */
export function stopThreadPool(): void {
  if (!pool) return;
  const { ctl, workers } = pool;
  pool.stopped = true;
  Atomics.store(ctl, QUIT, 1);
  Atomics.add(ctl, SEQ, 1);
  Atomics.notify(ctl, SEQ);
  for (const w of workers) w.terminate();
  // a retired worker may still be inside a kernel writing its workspace: never reuse that memory
  const be = wasmBackend();
  pool.workspaces.forEach((ws, slot) => {
    if (Atomics.load(ctl, STATE + slot) !== RETIRED) be?.free(ws);
  });
  pool = null;
}

/** Number of worker threads currently serving (0 without a pool; workers still starting, dead or retired are not counted). */
export function threadCount(): number {
  if (!pool) return 0;
  let n = 0;
  for (let w = 0; w < pool.workers.length; w++) if (Atomics.load(pool.ctl, STATE + w) === SERVING) n++;
  return n;
}

/**
 * The smallest product (M·N·K) the pool splits across threads, or null without a pool or live
 * workers (used by `printPlan` to say which products run threaded). @internal
 */
export function threadMinWork(): number | null {
  return pool && !pool.stopped && liveWorkers(pool) > 0 ? pool.minWork : null;
}

/** Workers neither dead nor retired (serving or still starting). */
function liveWorkers(p: Pool): number {
  let n = 0;
  for (let w = 0; w < p.workers.length; w++) if (Atomics.load(p.ctl, STATE + w) <= SERVING) n++;
  return n;
}

/** Marks worker `slot` as gone (see {@link WorkerEvents.exited}); its claimed rows get recomputed. */
function workerExited(p: Pool, slot: number, reason: string): void {
  if (p.stopped) return;
  const prev = Atomics.compareExchange(p.ctl, STATE + slot, STARTING, DEAD);
  if (prev === SERVING) Atomics.compareExchange(p.ctl, STATE + slot, SERVING, DEAD);
  if (prev === STARTING || prev === SERVING)
    p.warn(
      `gradgraph: worker thread ${slot} stopped (${reason}); its share of matrix products now runs on the other threads`,
    );
}

/**
 * Test hook: makes worker `slot` fail once — `"throw"`: its kernel call throws on the next chunk
 * it claims (it reports its own death); `"exit"`: it ends silently holding the next chunk it
 * claims (only the time-out notices); `"exit-idle"`: it ends when next woken, before claiming
 * anything (its exit event notices). @internal
 */
export function injectWorkerFault(slot: number, kind: "throw" | "exit" | "exit-idle" | null): void {
  if (!pool) return;
  const code = kind === null ? 0 : kind === "throw" ? 1 : kind === "exit" ? 2 : 3;
  Atomics.store(pool.ctl, FAULT, kind === null ? 0 : ((slot + 1) << 4) | code);
}

/** Test hook: the number of workers marked dead or retired. @internal */
export function lostWorkers(): number {
  return pool ? pool.workers.length - liveWorkers(pool) : 0;
}

/**
 * Computes chunk `i` of the current job on the calling thread: a block of rows (split 0) or, for
 * products with few rows, a block of columns (split 1). Either way each element of C is summed
 * by the same kernel over the same ascending k, so the split never changes a bit.
 */
function runChunk(fn: GemmKernel, ctl: Int32Array, i: number, ws: number): void {
  const op = ctl[P]!;
  const lda = ctl[P + 7]!;
  const ldb = ctl[P + 8]!;
  const ldc = ctl[P + 9]!;
  let a = ctl[P + 1]!;
  let b = ctl[P + 2]!;
  let c = ctl[P + 3]!;
  let M = ctl[P + 4]!;
  let N = ctl[P + 5]!;
  const per = ctl[P + 10]!;
  if (ctl[P + 12] === 0) {
    const r0 = i * per;
    M = Math.min(M - r0, per);
    a += op === 1 ? r0 * 4 : r0 * lda * 4;
    c += r0 * ldc * 4;
  } else {
    const j0 = i * per;
    N = Math.min(N - j0, per);
    b += op === 2 ? j0 * ldb * 4 : j0 * 4;
    c += j0 * 4;
  }
  fn(a, b, c, M, N, ctl[P + 6]!, lda, ldb, ldc, ws);
}

/** The caller's side of the claim loop (the worker's is in WORKER_SOURCE). */
function claimAndRun(fn: GemmKernel, ctl: Int32Array, tag: number, chunks: number, ws: number): void {
  for (;;) {
    const v = Atomics.load(ctl, CLAIM);
    const i = v & 255;
    if (i >= chunks) return;
    if (Atomics.compareExchange(ctl, CLAIM, v, v + 1) !== v) continue;
    Atomics.store(ctl, OWNER + i, 0);
    runChunk(fn, ctl, i, ws);
    Atomics.store(ctl, DONE + i, tag);
    Atomics.add(ctl, FINISHED, 1);
  }
}

/**
 * C = op(A)·op(B) in float32 through the WebAssembly kernels, split by rows across the pool when
 * the product is large enough. `op` 0 is A·B (A [M,lda]), 1 is Aᵀ·B (A stored [K,lda]), 2 is
 * A·Bᵀ (B stored [N,ldb]). `ws` is the calling thread's packing workspace. The result is
 * bit-identical to the single-threaded kernel's.
 */
export function gemmF32(
  kernels: WasmKernels,
  op: 0 | 1 | 2,
  a: number,
  b: number,
  c: number,
  M: number,
  N: number,
  K: number,
  lda: number,
  ldb: number,
  ldc: number,
  ws: number,
): void {
  const fn = gemmKernel(kernels, op);
  const p = pool;
  const live = p ? liveWorkers(p) : 0;
  // few rows but many columns (a convolution's channels x pixels): split the columns instead
  const byColumns = M < 16 && N >= 64;
  if (!p || live === 0 || M * N * K < p.minWork || (M < 16 && !byColumns)) {
    fn(a, b, c, M, N, K, lda, ldb, ldc, ws);
    return;
  }
  const ctl = p.ctl;
  // chunk boundaries on the 4-row (8-column) tile keep every element's summation order unchanged
  const parts = Math.min(MAX_CHUNKS, live + 1);
  const per = byColumns ? Math.ceil(N / parts / 8) * 8 : Math.ceil(M / parts / 4) * 4;
  const chunks = Math.ceil((byColumns ? N : M) / per);
  const seq = (Atomics.load(ctl, SEQ) + 1) | 0;
  const tag = seq & TAG_MASK;
  ctl[P] = op;
  ctl[P + 1] = a;
  ctl[P + 2] = b;
  ctl[P + 3] = c;
  ctl[P + 4] = M;
  ctl[P + 5] = N;
  ctl[P + 6] = K;
  ctl[P + 7] = lda;
  ctl[P + 8] = ldb;
  ctl[P + 9] = ldc;
  ctl[P + 10] = per;
  ctl[P + 11] = chunks;
  ctl[P + 12] = byColumns ? 1 : 0;
  // -1: claimed by someone not yet known (a claim and its owner mark are two steps)
  ctl.fill(-1, OWNER, OWNER + chunks);
  Atomics.store(ctl, FINISHED, 0);
  Atomics.store(ctl, CLAIM, tag << 8);
  Atomics.store(ctl, SEQ, seq);
  Atomics.notify(ctl, SEQ);
  const t0 = performance.now();
  claimAndRun(fn, ctl, tag, chunks, ws);
  awaitChunks(p, fn, tag, chunks, t0, ws);
}

/** Waits until every chunk of the job is done, recomputing those of dead or silent workers. */
function awaitChunks(p: Pool, fn: GemmKernel, tag: number, chunks: number, t0: number, ws: number): void {
  const ctl = p.ctl;
  for (let spins = 0; ; spins++) {
    const finished = Atomics.load(ctl, FINISHED);
    if (finished >= chunks && allDone(ctl, tag, chunks)) return;
    if (spins > SPIN || (spins & 1023) === 1023) {
      const late = performance.now() - t0 > p.workerTimeoutMs;
      if (recoverChunks(p, fn, tag, chunks, late, ws)) return;
    }
    if (p.canBlock && spins > SPIN) Atomics.wait(ctl, FINISHED, finished, 2);
  }
}

function allDone(ctl: Int32Array, tag: number, chunks: number): boolean {
  for (let i = 0; i < chunks; i++) if (Atomics.load(ctl, DONE + i) !== tag) return false;
  return true;
}

/**
 * Recomputes on the calling thread every unfinished chunk held by a dead worker (or, once the
 * time-out has passed, by any worker, which is then retired and terminated). Returns true when
 * all chunks are done. Recomputing writes the same values the worker would have written.
 */
function recoverChunks(
  p: Pool,
  fn: GemmKernel,
  tag: number,
  chunks: number,
  late: boolean,
  ws: number,
): boolean {
  const ctl = p.ctl;
  let pending = 0;
  for (let i = 0; i < chunks; i++) {
    if (Atomics.load(ctl, DONE + i) === tag) continue;
    const owner = Atomics.load(ctl, OWNER + i);
    const state = owner > 0 ? Atomics.load(ctl, STATE + owner - 1) : SERVING;
    if (owner !== 0 && (state >= DEAD || late)) {
      if (owner < 0)
        p.warn(
          `gradgraph: rows of a matrix product were not finished within ${p.workerTimeoutMs} ms; recomputed on the calling thread`,
        );
      else if (state < DEAD)
        retire(p, owner - 1, `held rows of a matrix product for over ${p.workerTimeoutMs} ms`);
      else
        p.warn(
          `gradgraph: worker thread ${owner - 1} died during a matrix product; its rows were recomputed on the calling thread`,
        );
      runChunk(fn, ctl, i, ws);
      Atomics.store(ctl, DONE + i, tag);
      continue;
    }
    pending++;
  }
  return pending === 0;
}

/** Takes a worker out of the pool for good and stops its thread. */
function retire(p: Pool, slot: number, why: string): void {
  Atomics.store(p.ctl, STATE + slot, RETIRED);
  p.warn(
    `gradgraph: worker thread ${slot} ${why}; it was stopped and its rows recomputed on the calling thread`,
  );
  p.workers[slot]?.terminate();
}
