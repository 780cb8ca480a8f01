/**
 * The WebAssembly arena: one linear memory that holds plan buffers and parameters so SIMD
 * kernels (and worker threads) can read them without copies.
 *
 * Where `SharedArrayBuffer` exists (Node; a cross-origin isolated page) the memory is a *shared*
 * WebAssembly.Memory: growing it never detaches existing typed-array views, so buffers handed out
 * earlier stay valid, and worker threads can use it. Without `SharedArrayBuffer` (a browser page
 * served without COOP/COEP headers) the same kernels run on an ordinary, non-shared memory on
 * one thread. Growing a non-shared memory would detach its buffer and every typed-array view of
 * it (parameters, plan buffers, tensors), so that memory never grows: it is reserved up front
 * (1 GiB of address space, or less where the runtime refuses that; pages are committed by the
 * operating system only when touched) and an allocation beyond it is an AllocationError.
 * Results are bit-identical either way: the kernels are the same. Only where WebAssembly SIMD
 * itself is unavailable does {@link wasmBackend} return null (with one console warning) and core
 * run its pure-JS kernels on ordinary typed arrays.
 * @module
 */
import { AllocationError, type DType, type FloatArray, formatBytes } from "../dtype.js";
import { emitAxpy } from "./axpy-wasm.js";
import { emitAdd2d, emitCopy2d, emitZero } from "./copy-wasm.js";
import { emitGemmFunctions, GEMM_WORKSPACE_BYTES } from "./gemm-wasm.js";
import { emitLayerNorm, emitLayerNormBackward } from "./layerNorm-wasm.js";
import { emitMaxPool2x2, emitMaxPool2x2Backprop } from "./pool-wasm.js";
import { assembleModule, FunctionBuilder, V128 } from "./wasm-emit.js";

const PAGE = 65536;
const MAX_PAGES = 32768; // 2 GiB of address space reserved, committed as it grows
/** Reservation of a non-shared memory (1 GiB), halved down to 64 MiB when refused. */
const UNSHARED_PAGES = 16384;
const MIN_UNSHARED_PAGES = 1024;
const ALIGN = 64;

/**
 * A float32 matrix product `(a, b, c, M, N, K, lda, ldb, ldc, ws)` over byte addresses in the
 * arena, with row strides lda, ldb, ldc (elements) and a per-thread packing workspace `ws` of
 * `GEMM_WORKSPACE_BYTES` bytes (see `src/backend/gemm-wasm.ts`).
 */
export type GemmKernel = (
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
) => void;

/** The product kernel of `op`: 0 is A·B, 1 is Aᵀ·B, 2 is A·Bᵀ. */
export function gemmKernel(k: WasmKernels, op: 0 | 1 | 2): GemmKernel {
  return op === 0 ? k.gemm_nn : op === 1 ? k.gemm_tn : k.gemm_nt;
}

/** Exported kernel functions of the generated module (byte addresses into the arena). */
export interface WasmKernels {
  /** C[M,N] = A[M,K]·B[K,N]. */
  gemm_nn: GemmKernel;
  /** C[M,N] = Aᵀ·B with A stored [K,lda]. */
  gemm_tn: GemmKernel;
  /** C[M,N] = A·Bᵀ with B stored [N,ldb]. */
  gemm_nt: GemmKernel;
  /** y[i] += alpha·x[i] for n float32 elements at byte addresses y and x. */
  axpy_f32(y: number, x: number, n: number, alpha: number): void;
  /** `rows` runs of `cols` floats from `src` to `dst` (byte addresses; row strides in floats). */
  copy2d_f32(
    dst: number,
    dstStride: number,
    src: number,
    srcStride: number,
    rows: number,
    cols: number,
  ): void;
  /** `dst += src` over `rows` runs of `cols` floats (byte addresses; row strides in floats). */
  add2d_f32(dst: number, dstStride: number, src: number, srcStride: number, rows: number, cols: number): void;
  /** 2x2 / stride-2 max pooling of `rows` pairs of input rows `2·wo` wide (see pool-wasm.ts). */
  maxpool2x2_f32(x: number, out: number, rows: number, wo: number): void;
  /** Its gradient: each window's cotangent at its first maximum, zeros elsewhere. */
  maxpool2x2_back_f32(x: number, g: number, dx: number, rows: number, wo: number): void;
  /** Sets `n` floats at byte address `dst` to zero. */
  zero_f32(dst: number, n: number): void;
  /** Layer norm of `rows` contiguous rows of `n` floats (see layerNorm-wasm.ts). */
  layernorm_f32(
    x: number,
    gamma: number,
    beta: number,
    out: number,
    rows: number,
    n: number,
    eps: number,
  ): void;
  /** Its input gradient for the cotangent-times-gain `d` (see layerNorm-wasm.ts). */
  layernorm_back_f32(x: number, d: number, out: number, rows: number, n: number, eps: number): void;
}

/** The arena plus the kernels instantiated on it. */
export interface WasmBackend {
  /** The linear memory (shared where `SharedArrayBuffer` exists). */
  readonly memory: WebAssembly.Memory;
  /**
   * True when {@link WasmBackend.memory} is shared (worker threads can use it and it grows up to
   * 2 GiB); false when it is an ordinary memory reserved up front that never grows (one thread).
   */
  readonly shared: boolean;
  /** The generated kernels. */
  readonly kernels: WasmKernels;
  /** The compiled module (worker threads instantiate it on the same memory). */
  readonly module: WebAssembly.Module;
  /** Allocates a zeroed float array inside the arena. */
  alloc(dtype: DType, length: number): FloatArray;
  /** Returns an array obtained from {@link WasmBackend.alloc} to the free list. */
  free(array: FloatArray): void;
  /** True when `array` lives in the arena. */
  owns(array: FloatArray): boolean;
  /** Bytes currently handed out. */
  readonly bytesInUse: number;
  /** True when the kernels use relaxed-SIMD fused multiply-adds (see {@link relaxedSimdSupported}). */
  readonly fma: boolean;
  /**
   * The calling thread's packing workspace for the matrix kernels (a byte address), allocated on
   * first use. Worker threads get their own.
   */
  gemmWorkspace(): number;
}

interface Block {
  start: number;
  size: number;
}

class Arena implements WasmBackend {
  readonly kernels: WasmKernels;
  private readonly buffers = new Set<ArrayBufferLike>();
  private free_: Block[] = [];
  private top = 0;
  private used = 0;
  private readonly sizes = new Map<number, number>();

  private workspace = 0;

  constructor(
    readonly memory: WebAssembly.Memory,
    readonly module: WebAssembly.Module,
    instance: WebAssembly.Instance,
    readonly fma: boolean,
    readonly shared: boolean,
  ) {
    this.kernels = instance.exports as unknown as WasmKernels;
    this.buffers.add(memory.buffer);
    this.top = ALIGN; // keep address 0 unused
  }

  get bytesInUse(): number {
    return this.used;
  }

  gemmWorkspace(): number {
    if (this.workspace === 0) this.workspace = this.alloc("float32", GEMM_WORKSPACE_BYTES / 4).byteOffset;
    return this.workspace;
  }

  private reserve(bytes: number): number {
    // first fit in the free list
    for (let i = 0; i < this.free_.length; i++) {
      const blk = this.free_[i]!;
      if (blk.size >= bytes) {
        const start = blk.start;
        if (blk.size === bytes) this.free_.splice(i, 1);
        else {
          blk.start += bytes;
          blk.size -= bytes;
        }
        return start;
      }
    }
    const start = this.top;
    const end = start + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have && !this.shared)
      // growing would detach the buffer under every view handed out so far
      throw new AllocationError(
        "float32",
        bytes / 4,
        `the WebAssembly arena holds at most ${formatBytes(have)} without SharedArrayBuffer (its memory cannot grow without invalidating the arrays in it) and ${formatBytes(this.used)} are in use; serve the page cross-origin isolated (COOP/COEP headers) for a growable shared memory`,
      );
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      const limit = `the WebAssembly arena holds at most ${formatBytes(MAX_PAGES * PAGE)} and ${formatBytes(this.used)} are in use`;
      if (have / PAGE + pages > MAX_PAGES) throw new AllocationError("float32", bytes / 4, limit);
      try {
        this.memory.grow(Math.max(pages, Math.min(256, MAX_PAGES - have / PAGE)));
      } catch (e) {
        throw new AllocationError("float32", bytes / 4, `${limit} (${e instanceof Error ? e.message : e})`);
      }
      this.buffers.add(this.memory.buffer);
    }
    this.top = end;
    return start;
  }

  alloc(dtype: DType, length: number): FloatArray {
    const bpe = dtype === "float32" ? 4 : 8;
    const bytes = Math.max(ALIGN, Math.ceil((length * bpe) / ALIGN) * ALIGN);
    let start: number;
    try {
      start = this.reserve(bytes);
    } catch (e) {
      throw e instanceof AllocationError ? new AllocationError(dtype, length, e.reason) : e;
    }
    this.sizes.set(start, bytes);
    this.used += bytes;
    const buf = this.memory.buffer;
    const arr =
      dtype === "float32" ? new Float32Array(buf, start, length) : new Float64Array(buf, start, length);
    arr.fill(0);
    return arr;
  }

  free(array: FloatArray): void {
    const start = array.byteOffset;
    const bytes = this.sizes.get(start);
    if (bytes === undefined || !this.owns(array)) return;
    this.sizes.delete(start);
    this.used -= bytes;
    // insert in address order (binary search) and coalesce with the neighbours only: sorting and
    // rebuilding the whole list on every free made freeing n blocks quadratic
    const list = this.free_;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    let at = lo;
    const prev = list[at - 1];
    if (prev && prev.start + prev.size === start) {
      prev.size += bytes;
      at -= 1;
    } else list.splice(at, 0, { start, size: bytes });
    const blk = list[at]!;
    const next = list[at + 1];
    if (next && blk.start + blk.size === next.start) {
      blk.size += next.size;
      list.splice(at + 1, 1);
    }
    const tail = list[list.length - 1];
    if (tail && tail.start + tail.size === this.top) {
      this.top = tail.start;
      list.pop();
    }
  }

  owns(array: FloatArray): boolean {
    return this.buffers.has(array.buffer);
  }
}

let backend: WasmBackend | null | undefined;
let disabled = false;

let relaxed: boolean | undefined;

/**
 * True when this runtime validates relaxed SIMD (`f32x4.relaxed_madd`): Node >= 22 and current
 * browsers; Node 20 only with `--experimental-wasm-relaxed-simd`.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxed === undefined) {
    const f = new FunctionBuilder([], [V128]);
    f.v128Zero().v128Zero().v128Zero().f32x4RelaxedMadd();
    const bytes = assembleModule([{ name: "f", fn: f }], { initial: 1, maximum: 1, shared: false });
    relaxed = typeof WebAssembly !== "undefined" && WebAssembly.validate(bytes);
  }
  return relaxed;
}

/** Why the WebAssembly backend is unavailable (null while it is available or not yet tried). */
let unavailable: string | null = null;
let warned = false;

/**
 * A non-shared memory reserved up front: the largest of 1 GiB, 512 MiB, ... the runtime grants.
 * It never grows (see the module comment).
 */
function unsharedMemory(): WebAssembly.Memory {
  for (let pages = UNSHARED_PAGES; ; pages >>= 1) {
    try {
      return new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch (e) {
      if (pages <= MIN_UNSHARED_PAGES) throw e;
    }
  }
}

function create(): WasmBackend | null {
  if (typeof WebAssembly === "undefined") return fail("this runtime has no WebAssembly");
  const shared = typeof SharedArrayBuffer !== "undefined";
  try {
    const memory = shared
      ? new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true })
      : unsharedMemory();
    const fma = relaxedSimdSupported();
    const funcs = [
      { name: "axpy_f32", fn: emitAxpy() },
      { name: "copy2d_f32", fn: emitCopy2d() },
      { name: "zero_f32", fn: emitZero() },
      { name: "add2d_f32", fn: emitAdd2d() },
      { name: "maxpool2x2_f32", fn: emitMaxPool2x2() },
      { name: "maxpool2x2_back_f32", fn: emitMaxPool2x2Backprop() },
    ];
    for (const v of ["nn", "tn", "nt"] as const) funcs.push(...emitGemmFunctions(v, funcs.length, { fma }));
    funcs.push(
      { name: "layernorm_f32", fn: emitLayerNorm() },
      { name: "layernorm_back_f32", fn: emitLayerNormBackward() },
    );
    const bytes = assembleModule(funcs, { initial: 16, maximum: MAX_PAGES, shared });
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    return new Arena(memory, module, instance, fma, shared);
  } catch (e) {
    return fail(`WebAssembly SIMD is unavailable (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Records why the backend is unavailable and says so once per process (or page). */
function fail(reason: string): null {
  unavailable = reason;
  if (!warned) {
    warned = true;
    console.warn(
      `gradgraph: ${reason}; float32 kernels fall back to plain JavaScript, typically 10-20x slower`,
    );
  }
  return null;
}

/**
 * Why the WebAssembly backend is not in use, or null when it is. Tries to create it (see
 * {@link wasmBackend}). @internal
 */
export function wasmUnavailableReason(): string | null {
  if (disabled) return "the WebAssembly kernels were turned off with setWasmEnabled(false)";
  wasmBackend();
  return unavailable;
}

/**
 * The process-wide WebAssembly backend, created on first use (on a shared memory where
 * `SharedArrayBuffer` exists, else on a non-shared one), or null when this runtime lacks
 * WebAssembly SIMD (said once with `console.warn`) or it was turned off with {@link setWasmEnabled}.
 */
export function wasmBackend(): WasmBackend | null {
  if (disabled) return null;
  if (backend === undefined) backend = create();
  return backend;
}

/**
 * Turns the WebAssembly kernels on or off for plans compiled afterwards (on by default where
 * supported). Off means pure-JS kernels everywhere: useful as a reference and for debugging.
 */
export function setWasmEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/**
 * Allocates a zeroed float array where kernels run fastest: in the WebAssembly arena when it is
 * available, else on the JS heap. Parameter stores use it so plans need no copies.
 */
export function allocKernelArray(dtype: DType, length: number): FloatArray {
  const be = wasmBackend();
  if (be) return be.alloc(dtype, length);
  return dtype === "float32" ? new Float32Array(length) : new Float64Array(length);
}
