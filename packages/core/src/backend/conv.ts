/**
 * Convolution kernels (NCHW), used by the `conv2d`, `conv2dTranspose` and `conv2dBackpropFilter`
 * ops.
 *
 * - The reference kernels are direct loops over any float array (float64, and float32 where the
 *   WebAssembly arena is unavailable).
 * - The float32 fast path lowers each image and group to a matrix product through the
 *   WebAssembly SIMD GEMM (see gemm-wasm.ts), with an im2col buffer in the arena:
 *   - forward: `out_n[g] [Og, P] = W_g [Og, Kg] · col_n [Kg, P]` (written straight into NCHW);
 *   - input gradient: `dcol [Kg, P] = W_gᵀ · dy_n[g]`, then col2im adds the patches back;
 *   Stride-1 convolutions use the padded-image grid instead (see {@link Grid}): im2col and col2im
 *   become whole-row `memory.copy` and vector adds.
 *   - filter gradient: `dW_g += dy_n[g] [Og, P] · colT_n [P, Kg]`, image by image in order.
 *   Here `Kg = C/groups · kh · kw` and `P = Ho · Wo`. Every product sums over `k` in ascending
 *   order, so results do not depend on threads.
 * @module
 */
import type { FloatArray } from "../dtype.js";
import type { ConvGeometry } from "../ops/conv-geometry.js";
import { gemmKernel, type WasmBackend, type WasmKernels, wasmBackend } from "./memory.js";

// ---- reference kernels (any dtype) -------------------------------------------------------

/**
 * The direct loops of all three passes: every (image, output channel, output pixel, tap) meets
 * one input pixel `x[xi]` and one weight `w[wi]`; `pass` says what is done there. Forward sums
 * `x·w` into the output pixel; the input gradient adds `dy·w` onto `dx[xi]`; the filter gradient
 * adds `dy·x` onto `dw[wi]`. `a` is x (forward, filter) or dy (input); `b` is w (forward, input)
 * or dy (filter).
 */
function convRef(pass: 0 | 1 | 2, a: FloatArray, b: FloatArray, out: FloatArray, g: ConvGeometry): void {
  const { N, C, H, W, O, kh, kw, Ho, Wo, sh, sw, dh, dw, pt, pl, groups } = g;
  const Cg = C / groups;
  const Og = O / groups;
  if (pass !== 0) out.fill(0);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let oc = 0; oc < O; oc++) {
      const c0 = Math.floor(oc / Og) * Cg;
      for (let oh = 0; oh < Ho; oh++) {
        for (let ow = 0; ow < Wo; ow++, o++) {
          // the output pixel's cotangent (input and filter passes)
          const gv = pass === 1 ? a[o]! : pass === 2 ? b[o]! : 0;
          let s = 0;
          for (let c = 0; c < Cg; c++) {
            const xb = (n * C + c0 + c) * H;
            const wb = (oc * Cg + c) * kh;
            for (let ki = 0; ki < kh; ki++) {
              const ih = oh * sh - pt + ki * dh;
              if (ih < 0 || ih >= H) continue;
              const xr = (xb + ih) * W;
              const wr = (wb + ki) * kw;
              for (let kj = 0; kj < kw; kj++) {
                const iw = ow * sw - pl + kj * dw;
                if (iw < 0 || iw >= W) continue;
                const xi = xr + iw;
                const wi = wr + kj;
                if (pass === 0) s += a[xi]! * b[wi]!;
                else if (pass === 1) out[xi] = out[xi]! + gv * b[wi]!;
                else out[wi] = out[wi]! + gv * a[xi]!;
              }
            }
          }
          if (pass === 0) out[o] = s;
        }
      }
    }
  }
}

/** `out [N,O,Ho,Wo] = conv(x [N,C,H,W], w [O,C/g,kh,kw])`, direct loops. */
export function convForwardRef(x: FloatArray, w: FloatArray, out: FloatArray, g: ConvGeometry): void {
  convRef(0, x, w, out, g);
}

/** `dx [N,C,H,W]` from `dy [N,O,Ho,Wo]` and `w` (the transposed convolution), direct loops. */
export function convBackpropInputRef(dy: FloatArray, w: FloatArray, dx: FloatArray, g: ConvGeometry): void {
  convRef(1, dy, w, dx, g);
}

/** `dw [O,C/g,kh,kw]` from `x [N,C,H,W]` and `dy [N,O,Ho,Wo]`, direct loops. */
export function convBackpropFilterRef(
  x: FloatArray,
  dy: FloatArray,
  dwOut: FloatArray,
  g: ConvGeometry,
): void {
  convRef(2, x, dy, dwOut, g);
}

// ---- im2col / col2im ---------------------------------------------------------------------

/** The range `[lo, hi)` of output positions whose input index `o·s + base` lies in `[0, size)`. */
function inRange(base: number, s: number, size: number, count: number): [number, number] {
  const lo = base >= 0 ? 0 : Math.min(count, Math.ceil(-base / s));
  const hi = Math.max(lo, Math.min(count, Math.floor((size - 1 - base) / s) + 1));
  return [lo, hi];
}

/**
 * im2col and its adjoint col2im (for strides other than 1; stride 1 uses the grid paths).
 * `col [Kg, P]` row `(c, ki, kj)` holds the pixels of image channels `c0 .. c0+Cg` (at `img[xo]`)
 * that tap meets at each output position, zero where it falls in the padding. `toCol` copies them
 * from `img` into `col`; otherwise each row of `col` is added back onto the pixels it came from.
 */
function patches(
  toCol: boolean,
  img: Float32Array,
  xo: number,
  col: Float32Array,
  g: ConvGeometry,
  c0: number,
  Cg: number,
): void {
  const { H, W, kh, kw, Ho, Wo, sh, sw, dh, dw, pt, pl } = g;
  const P = Ho * Wo;
  let row = 0;
  for (let c = 0; c < Cg; c++) {
    const plane = xo + (c0 + c) * H * W;
    for (let ki = 0; ki < kh; ki++) {
      const [ohLo, ohHi] = inRange(ki * dh - pt, sh, H, Ho);
      for (let kj = 0; kj < kw; kj++, row += P) {
        const iw0 = kj * dw - pl;
        const [owLo, owHi] = inRange(iw0, sw, W, Wo);
        if (toCol) col.fill(0, row, row + P);
        for (let oh = ohLo; oh < ohHi; oh++) {
          const r = row + oh * Wo;
          const p = plane + (oh * sh + ki * dh - pt) * W + iw0;
          if (toCol) for (let ow = owLo; ow < owHi; ow++) col[r + ow] = img[p + ow * sw]!;
          else for (let ow = owLo; ow < owHi; ow++) img[p + ow * sw] = img[p + ow * sw]! + col[r + ow]!;
        }
      }
    }
  }
}

/** colT [P, Kg] for image `n`: im2col's transpose, one patch per row. */
function im2colT(
  x: Float32Array,
  xo: number,
  col: Float32Array,
  g: ConvGeometry,
  c0: number,
  Cg: number,
): void {
  const { H, W, kh, kw, Ho, Wo, sh, sw, dh, dw, pt, pl } = g;
  let d = 0;
  for (let oh = 0; oh < Ho; oh++) {
    for (let ow = 0; ow < Wo; ow++) {
      const ih0 = oh * sh - pt;
      const iw0 = ow * sw - pl;
      for (let c = 0; c < Cg; c++) {
        const plane = xo + (c0 + c) * H * W;
        for (let ki = 0; ki < kh; ki++) {
          const ih = ih0 + ki * dh;
          if (ih < 0 || ih >= H) {
            for (let kj = 0; kj < kw; kj++) col[d++] = 0;
            continue;
          }
          const r = plane + ih * W;
          for (let kj = 0; kj < kw; kj++) {
            const iw = iw0 + kj * dw;
            col[d++] = iw >= 0 && iw < W ? x[r + iw]! : 0;
          }
        }
      }
    }
  }
}

/**
 * The convolution products run on the calling thread, never split across the worker pool:
 * their operands are written by im2col just before (and read by the copy-out just after), so a
 * worker would first pull megabytes of freshly written cache lines from the other core. Measured
 * on the 2-core machine, splitting LeNet's second convolution made it 2.8x slower (1.2 ms to
 * 3.3 ms per batch of 64), although the same product alone splits 1.8x faster.
 */
function gemm(
  k: WasmKernels,
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
  gemmKernel(k, op)(a, b, c, M, N, K, lda, ldb, ldc, ws);
}

// ---- float32 fast path -------------------------------------------------------------------

/** One growing scratch block in the arena for im2col buffers (kernels run one at a time per thread). */
let scratch: Float32Array | null = null;
let scratchOwner: WasmBackend | null = null;

function scratchOf(be: WasmBackend, floats: number): Float32Array {
  if (scratch && scratchOwner === be && scratch.length >= floats) return scratch;
  if (scratch && scratchOwner === be) be.free(scratch);
  scratch = be.alloc("float32", Math.max(floats, 1024)) as Float32Array;
  scratchOwner = be;
  return scratch;
}

/** Floats of scratch a chunk of images may use (im2col columns for several images at once). */
const CHUNK_FLOATS = 1 << 19;

/**
 * Stride-1 convolutions work from the zero-padded image (`Hp x Wp`, the grid): tap `(c, ki, kj)`
 * reads output row `oh` from the contiguous run `c·Hp·Wp + (oh + ki·dh)·Wp + kj·dw` of length `Wo`,
 * so im2col is one strided block copy per tap (`copy2d_f32`, `memory.copy` per run) and col2im one
 * strided block add per tap (`add2d_f32`). No bounds tests, no element-by-element JavaScript.
 */
interface Grid {
  readonly Hp: number;
  readonly Wp: number;
  /** Padded image plane `Hp·Wp`, and one image's padded group (`Cg` planes). */
  readonly plane: number;
  readonly image: number;
}

function gridOf(g: ConvGeometry, Cg: number): Grid | null {
  if (g.sh !== 1 || g.sw !== 1) return null;
  const Hp = g.Ho + (g.kh - 1) * g.dh;
  const Wp = g.Wo + (g.kw - 1) * g.dw;
  // stride 1: Hp = H + top + bottom exactly; a negative bottom/right padding is not a grid
  if (Hp < g.H + g.pt || Wp < g.W + g.pl) return null;
  const plane = Hp * Wp;
  return { Hp, Wp, plane, image: Cg * plane };
}

/** Writes image channels `c0 .. c0+Cg` (at float index `xo` of the arena) zero-padded onto the grid at `dst`. */
function padImage(
  k: WasmKernels,
  xo: number,
  dst: number,
  g: ConvGeometry,
  gr: Grid,
  c0: number,
  Cg: number,
): void {
  const { H, W, pt, pl } = g;
  k.zero_f32(dst << 2, gr.image);
  for (let c = 0; c < Cg; c++)
    k.copy2d_f32((dst + c * gr.plane + pt * gr.Wp + pl) << 2, gr.Wp, (xo + (c0 + c) * H * W) << 2, W, H, W);
}

/** im2col from the grid: row `(c, ki, kj)` of `col` (row pitch `ld`, this image at column 0) gets `Ho` runs of `Wo`. */
function gridIm2col(
  k: WasmKernels,
  xp: number,
  col: number,
  ld: number,
  g: ConvGeometry,
  gr: Grid,
  Cg: number,
): void {
  const { kh, kw, dh, dw, Ho, Wo } = g;
  let row = col;
  for (let c = 0; c < Cg; c++)
    for (let ki = 0; ki < kh; ki++)
      for (let kj = 0; kj < kw; kj++, row += ld)
        k.copy2d_f32(row << 2, Wo, (xp + c * gr.plane + ki * dh * gr.Wp + kj * dw) << 2, gr.Wp, Ho, Wo);
}

/** col2im onto the grid: each row of `dcol` is added back onto the runs it was read from. */
function gridCol2im(
  k: WasmKernels,
  dcol: number,
  ld: number,
  xp: number,
  g: ConvGeometry,
  gr: Grid,
  Cg: number,
): void {
  const { kh, kw, dh, dw, Ho, Wo } = g;
  let row = dcol;
  for (let c = 0; c < Cg; c++)
    for (let ki = 0; ki < kh; ki++)
      for (let kj = 0; kj < kw; kj++, row += ld)
        k.add2d_f32((xp + c * gr.plane + ki * dh * gr.Wp + kj * dw) << 2, gr.Wp, row << 2, Wo, Ho, Wo);
}

/** Images per chunk so that `perImage` floats each fit the chunk budget (at least one). */
function chunkOf(N: number, perImage: number): number {
  return Math.max(1, Math.min(N, Math.floor(CHUNK_FLOATS / perImage)));
}

/** The sizes every grid pass shares. */
function sizes(g: ConvGeometry) {
  const Cg = g.C / g.groups;
  const Og = g.O / g.groups;
  return { Cg, Og, Kg: Cg * g.kh * g.kw, P: g.Ho * g.Wo };
}

/**
 * The scratch layout every grid pass uses (float indices into the arena): one padded image `xp`,
 * a `[Kg, ld]` block (im2col columns), an `[Og, ld]` block (outputs or output gradients), then
 * `tail` more floats; `ld = cn·P` for chunks of `cn` images.
 */
function gridScratch(be: WasmBackend, g: ConvGeometry, gr: Grid, tail: number) {
  const { Og, Kg, P } = sizes(g);
  const cn = chunkOf(g.N, (Kg + Og) * P);
  const ld = cn * P;
  const sc = scratchOf(be, gr.image + (Kg + Og) * ld + tail);
  const xp = sc.byteOffset >> 2;
  const kBlock = xp + gr.image;
  const oBlock = kBlock + Kg * ld;
  return { sc, cn, ld, xp, kBlock, oBlock, tail: oBlock + Og * ld };
}

/**
 * Forward convolution on the grid: per chunk of `m` images and group, `col [Kg, m·P]` from the
 * padded images, `tmp [Og, m·P] = W_g · col`, then each image's `[Og, P]` block goes to `out`.
 */
function gridForward(
  be: WasmBackend,
  x: Float32Array,
  out: Float32Array,
  g: ConvGeometry,
  gr: Grid,
  wAddr: number,
): void {
  const { N, C, H, W, O, groups } = g;
  const { Cg, Og, Kg, P } = sizes(g);
  const { cn, ld, xp, kBlock: col, oBlock: tmp } = gridScratch(be, g, gr, 0);
  const k = be.kernels;
  const x0 = x.byteOffset >> 2;
  const out0 = out.byteOffset >> 2;
  const ws = be.gemmWorkspace();
  for (let n0 = 0; n0 < N; n0 += cn) {
    const m = Math.min(cn, N - n0);
    for (let gi = 0; gi < groups; gi++) {
      for (let j = 0; j < m; j++) {
        padImage(k, x0 + (n0 + j) * C * H * W, xp, g, gr, gi * Cg, Cg);
        gridIm2col(k, xp, col + j * P, ld, g, gr, Cg);
      }
      gemm(k, 0, wAddr + 4 * gi * Og * Kg, col << 2, tmp << 2, Og, m * P, Kg, Kg, ld, ld, ws);
      for (let j = 0; j < m; j++)
        k.copy2d_f32((out0 + ((n0 + j) * O + gi * Og) * P) << 2, P, (tmp + j * P) << 2, ld, Og, P);
    }
  }
}

/** `dyc [Og, m·P]`: the chunk's output gradient of group `gi`, images side by side. */
function gatherDy(
  k: WasmKernels,
  dy0: number,
  dyc: number,
  ld: number,
  g: ConvGeometry,
  n0: number,
  m: number,
  gi: number,
): void {
  const { Og, P } = sizes(g);
  for (let j = 0; j < m; j++)
    k.copy2d_f32((dyc + j * P) << 2, ld, (dy0 + ((n0 + j) * g.O + gi * Og) * P) << 2, P, Og, P);
}

/**
 * Filter gradient on the grid: per chunk, `dWᵀ [Kg, Og] = col · dycᵀ`; the chunks' products are
 * added in order.
 */
function gridFilter(
  be: WasmBackend,
  x: Float32Array,
  dy: Float32Array,
  dwOut: Float32Array,
  g: ConvGeometry,
  gr: Grid,
): void {
  const { N, C, H, W, groups } = g;
  const { Cg, Og, Kg, P } = sizes(g);
  const { sc, cn, ld, xp, kBlock: col, oBlock: dyc, tail: part } = gridScratch(be, g, gr, Kg * Og);
  const k = be.kernels;
  const x0 = x.byteOffset >> 2;
  const dy0 = dy.byteOffset >> 2;
  const ws = be.gemmWorkspace();
  dwOut.fill(0);
  for (let n0 = 0; n0 < N; n0 += cn) {
    const m = Math.min(cn, N - n0);
    for (let gi = 0; gi < groups; gi++) {
      for (let j = 0; j < m; j++) {
        padImage(k, x0 + (n0 + j) * C * H * W, xp, g, gr, gi * Cg, Cg);
        gridIm2col(k, xp, col + j * P, ld, g, gr, Cg);
      }
      gatherDy(k, dy0, dyc, ld, g, n0, m, gi);
      gemm(k, 2, col << 2, dyc << 2, part << 2, Kg, Og, m * P, ld, ld, Og, ws);
      const base = gi * Og * Kg;
      const pt = part - xp;
      for (let q = 0; q < Kg; q++)
        for (let o = 0; o < Og; o++)
          dwOut[base + o * Kg + q] = dwOut[base + o * Kg + q]! + sc[pt + q * Og + o]!;
    }
  }
}

/**
 * Input gradient on the grid: per chunk, `dcol [Kg, m·P] = W_gᵀ · dyc`, then col2im adds each row
 * back onto the padded image and the image's interior is copied out. Each pixel sums its taps in
 * `(c, ki, kj)` order.
 */
function gridInput(
  be: WasmBackend,
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
  gr: Grid,
): void {
  const { N, C, H, W, pt, pl, groups } = g;
  const { Cg, Og, Kg, P } = sizes(g);
  const { cn, ld, xp, kBlock: dcol, oBlock: dyc } = gridScratch(be, g, gr, 0);
  const k = be.kernels;
  const dy0 = dy.byteOffset >> 2;
  const dx0 = dx.byteOffset >> 2;
  const ws = be.gemmWorkspace();
  for (let n0 = 0; n0 < N; n0 += cn) {
    const m = Math.min(cn, N - n0);
    for (let gi = 0; gi < groups; gi++) {
      gatherDy(k, dy0, dyc, ld, g, n0, m, gi);
      gemm(k, 1, w.byteOffset + 4 * gi * Og * Kg, dyc << 2, dcol << 2, Kg, m * P, Og, Kg, ld, ld, ws);
      for (let j = 0; j < m; j++) {
        k.zero_f32(xp << 2, gr.image);
        gridCol2im(k, dcol + j * P, ld, xp, g, gr, Cg);
        for (let c = 0; c < Cg; c++)
          k.copy2d_f32(
            (dx0 + ((n0 + j) * C + gi * Cg + c) * H * W) << 2,
            W,
            (xp + c * gr.plane + pt * gr.Wp + pl) << 2,
            gr.Wp,
            H,
            W,
          );
      }
    }
  }
}

let gridPaths = true;

/**
 * Turns the stride-1 grid paths on or off for plans compiled afterwards (tests and benchmarks
 * compare them with the im2col paths). @internal
 */
export function setConvGridPaths(on: boolean): void {
  gridPaths = on;
}

/** Which computation a {@link convF32} call does. */
export type ConvPass = "forward" | "input" | "filter";

/**
 * The float32 WebAssembly convolution for `pass`, or null when the arena is unavailable. The
 * returned function falls back to the reference loops when an operand lives outside the arena.
 * Operands: forward `(x, w) -> out`; input `(dy, w) -> dx`; filter `(x, dy) -> dw`.
 */
export function convF32(
  pass: ConvPass,
  g: ConvGeometry,
): ((a: FloatArray, b: FloatArray, out: FloatArray) => void) | null {
  const be = wasmBackend();
  if (!be) return null;
  const { N, C, H, W, O, kh, kw, Ho, Wo, groups } = g;
  const Cg = C / groups;
  const Og = O / groups;
  const Kg = Cg * kh * kw;
  const P = Ho * Wo;
  if (N * C * O * P === 0) return null;
  const ref =
    pass === "forward" ? convForwardRef : pass === "input" ? convBackpropInputRef : convBackpropFilterRef;
  // stride 1: the grid paths
  const grid = gridPaths ? gridOf(g, Cg) : null;
  // the im2col paths: col (colT) plus one [Og, Kg] partial product per image
  const need = Kg * P + (pass === "filter" ? Og * Kg : 0);
  return (a, b, out) => {
    const fa = a as Float32Array;
    const fb = b as Float32Array;
    const fo = out as Float32Array;
    if (!be.owns(fa) || !be.owns(fb) || !be.owns(fo)) {
      ref(a, b, out, g);
      return;
    }
    if (grid) {
      if (pass === "forward") gridForward(be, fa, fo, g, grid, fb.byteOffset);
      else if (pass === "filter") gridFilter(be, fa, fb, fo, g, grid);
      else gridInput(be, fa, fb, fo, g, grid);
      return;
    }
    const col = scratchOf(be, need);
    const ws = be.gemmWorkspace();
    const colp = col.byteOffset;
    if (pass === "forward") {
      // a = x, b = w
      for (let n = 0; n < N; n++) {
        for (let gi = 0; gi < groups; gi++) {
          patches(true, fa, n * C * H * W, col, g, gi * Cg, Cg);
          const wp = fb.byteOffset + 4 * gi * Og * Kg;
          const op = fo.byteOffset + 4 * (n * O + gi * Og) * P;
          gemm(be.kernels, 0, wp, colp, op, Og, P, Kg, Kg, P, P, ws);
        }
      }
    } else if (pass === "input") {
      // a = dy, b = w, out = dx
      fo.fill(0);
      for (let n = 0; n < N; n++) {
        for (let gi = 0; gi < groups; gi++) {
          const wp = fb.byteOffset + 4 * gi * Og * Kg;
          const dyp = fa.byteOffset + 4 * (n * O + gi * Og) * P;
          gemm(be.kernels, 1, wp, dyp, colp, Kg, P, Og, Kg, P, P, ws);
          patches(false, fo, n * C * H * W, col, g, gi * Cg, Cg);
        }
      }
    } else {
      // a = x, b = dy, out = dw [O, Kg]: image by image, added in order
      const part = Kg * P;
      const partp = colp + 4 * part;
      fo.fill(0);
      for (let n = 0; n < N; n++) {
        for (let gi = 0; gi < groups; gi++) {
          im2colT(fa, n * C * H * W, col, g, gi * Cg, Cg);
          const dyp = fb.byteOffset + 4 * (n * O + gi * Og) * P;
          const base = gi * Og * Kg;
          if (n === 0) {
            gemm(be.kernels, 0, dyp, colp, fo.byteOffset + 4 * base, Og, Kg, P, P, Kg, Kg, ws);
            continue;
          }
          gemm(be.kernels, 0, dyp, colp, partp, Og, Kg, P, P, Kg, Kg, ws);
          for (let i = 0; i < Og * Kg; i++) fo[base + i] = fo[base + i]! + col[part + i]!;
        }
      }
    }
  };
}
