/**
 * 2-D pooling over NCHW images, and the ops their derivatives need:
 * - `maxPool2d(x)`: the maximum of each window. Padding never wins (it acts as -∞); every pad
 *   side must be smaller than the window so each window holds a real pixel. Ties: the first
 *   maximum in the window's row-major order is the arg-max (as PyTorch).
 * - `maxPool2dBackprop(x, g)`: the gradient; each output's cotangent goes to its window's arg-max.
 * - `maxPool2dGather(x, v)`: `v` read at the arg-max positions of `x`'s windows (the adjoint of
 *   the gradient, so second derivatives and JVPs close over these three ops).
 * - `avgPool2d(x)`: the mean of each window over its real pixels: padding is excluded from the
 *   count (TensorFlow's "SAME" average pooling; PyTorch's `count_include_pad=False`).
 * - `avgPool2dBackprop(g)`: its gradient (and adjoint): each cotangent spread evenly over its
 *   window's real pixels.
 * @module
 */
import { type WasmBackend, wasmBackend } from "../backend/memory.js";
import type { FloatArray } from "../dtype.js";
import { type Dim, ShapeError, shapeToString } from "../shape.js";
import {
  nchw,
  outSize,
  type Padding4,
  type Pair,
  paddingAttr,
  pairAttr,
  requiredPairAttr,
} from "./conv-geometry.js";
import type { Kernel, OpDef, TypeInfo } from "./types.js";
import { sameDType } from "./util.js";

/** Attributes of the pooling ops. */
export interface Pool2dAttrs {
  /** Window `[height, width]`. */
  readonly kernelSize: Pair;
  /** Window step `[height, width]` (default: the window size). */
  readonly strides: Pair;
  /** Padding `[top, bottom, left, right]` (each side smaller than the window). */
  readonly padding: Padding4;
}

/** Attributes of `avgPool2dBackprop`: the pooling, and the pooled input's `[height, width]`. */
export interface AvgPool2dBackpropAttrs extends Pool2dAttrs {
  /** `[height, width]` of the pooling's input (the gradient's shape). */
  readonly inputSize: Pair;
}

function poolAttrs(op: string, raw: Partial<Pool2dAttrs>): Pool2dAttrs {
  const kernelSize = pairAttr(op, "kernelSize", raw.kernelSize, [0, 0]);
  if (raw.kernelSize === undefined) throw new Error(`${op}: attribute 'kernelSize' is required`);
  const strides = pairAttr(op, "strides", raw.strides, kernelSize);
  const padding = paddingAttr(op, raw.padding);
  const [t, b, l, r] = padding;
  if (t >= kernelSize[0] || b >= kernelSize[0] || l >= kernelSize[1] || r >= kernelSize[1])
    throw new Error(
      `${op}: padding [${padding.join(", ")}] must be smaller than the ${kernelSize[0]}x${kernelSize[1]} window on every side`,
    );
  return { kernelSize, strides, padding };
}

/** Output `[Ho, Wo]` of a pooling of an `h x w` image, checked. */
function pooledHW(
  op: string,
  inputs: readonly TypeInfo[],
  a: Pool2dAttrs,
  h: number,
  w: number,
): [number, number] {
  const [t, b, l, r] = a.padding;
  const ho = outSize(h, a.kernelSize[0], a.strides[0], 1, t, b);
  const wo = outSize(w, a.kernelSize[1], a.strides[1], 1, l, r);
  if (ho < 1 || wo < 1)
    throw new ShapeError(
      `${op}: the ${a.kernelSize[0]}x${a.kernelSize[1]} window does not fit input ${shapeToString(inputs[0]!.shape)} with padding [${a.padding.join(", ")}]`,
    );
  return [ho, wo];
}

function pooledShape(op: string, inputs: readonly TypeInfo[], attrs: Pool2dAttrs): TypeInfo {
  const dtype = sameDType(op, inputs);
  const [n, c, h, w] = nchw(op, "input", inputs[0]!);
  const [ho, wo] = pooledHW(op, inputs, attrs, h, w);
  const shape: Dim[] = [n, c, ho, wo];
  return { shape, dtype };
}

/** Geometry of one pooling: planes (N·C), sizes, window, steps, padding. */
interface PoolGeom {
  planes: number;
  H: number;
  W: number;
  Ho: number;
  Wo: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
}

function poolGeom(x: readonly number[], out: readonly number[], a: Pool2dAttrs): PoolGeom {
  return {
    planes: x[0]! * x[1]!,
    H: x[2]!,
    W: x[3]!,
    Ho: out[2]!,
    Wo: out[3]!,
    kh: a.kernelSize[0],
    kw: a.kernelSize[1],
    sh: a.strides[0],
    sw: a.strides[1],
    pt: a.padding[0],
    pl: a.padding[2],
  };
}

/** Window bounds per output row and column, clipped to the image (so padding is never read). */
interface Windows {
  readonly h0: Int32Array;
  readonly h1: Int32Array;
  readonly w0: Int32Array;
  readonly w1: Int32Array;
}

function windowsOf(g: PoolGeom): Windows {
  const { H, W, Ho, Wo, kh, kw, sh, sw, pt, pl } = g;
  const h0 = new Int32Array(Ho);
  const h1 = new Int32Array(Ho);
  const w0 = new Int32Array(Wo);
  const w1 = new Int32Array(Wo);
  for (let oh = 0; oh < Ho; oh++) {
    h0[oh] = Math.max(oh * sh - pt, 0);
    h1[oh] = Math.min(oh * sh - pt + kh, H);
  }
  for (let ow = 0; ow < Wo; ow++) {
    w0[ow] = Math.max(ow * sw - pl, 0);
    w1[ow] = Math.min(ow * sw - pl + kw, W);
  }
  return { h0, h1, w0, w1 };
}

/** True for the common 2x2, stride-2, unpadded pooling, which has a straight-line kernel. */
function isPlain2x2(g: PoolGeom): boolean {
  return g.kh === 2 && g.kw === 2 && g.sh === 2 && g.sw === 2 && g.pt === 0 && g.pl === 0;
}

/** The WebAssembly backend when the float32 SIMD 2x2 kernels apply (2x2, stride 2, unpadded, even sizes). */
function simd2x2(dtype: string, g: PoolGeom): WasmBackend | null {
  if (dtype !== "float32" || !isPlain2x2(g) || g.H % 2 !== 0 || g.W % 2 !== 0) return null;
  return wasmBackend();
}

/**
 * Writes into `arg[o]` the flat index in `x` of output `o`'s window arg-max (ties: the first in
 * row-major window order; a NaN wins, so NaNs propagate as in the other frameworks). With
 * `out`, also writes the maximum itself.
 */
function argmaxInto(
  x: FloatArray,
  g: PoolGeom,
  win: Windows,
  arg: Int32Array | null,
  out: FloatArray | null,
): void {
  const { planes, H, W, Ho, Wo } = g;
  const { h0, h1, w0, w1 } = win;
  const plain = isPlain2x2(g);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let oh = 0; oh < Ho; oh++) {
      if (plain) {
        // straight-line 2x2 windows: compare in window order, first maximum wins
        const r0 = base + 2 * oh * W;
        for (let ow = 0; ow < Wo; ow++, o++) {
          const a = r0 + 2 * ow;
          let best = a;
          let m = x[a]!;
          let v = x[a + 1]!;
          if (v > m || (Number.isNaN(v) && !Number.isNaN(m))) {
            m = v;
            best = a + 1;
          }
          v = x[a + W]!;
          if (v > m || (Number.isNaN(v) && !Number.isNaN(m))) {
            m = v;
            best = a + W;
          }
          v = x[a + W + 1]!;
          if (v > m || (Number.isNaN(v) && !Number.isNaN(m))) {
            m = v;
            best = a + W + 1;
          }
          if (arg) arg[o] = best;
          if (out) out[o] = m;
        }
        continue;
      }
      const ha = h0[oh]!;
      const hb = h1[oh]!;
      for (let ow = 0; ow < Wo; ow++, o++) {
        const wa = w0[ow]!;
        const wb = w1[ow]!;
        let best = base + ha * W + wa;
        let m = x[best]!;
        for (let ih = ha; ih < hb; ih++) {
          const r = base + ih * W;
          for (let iw = wa; iw < wb; iw++) {
            const v = x[r + iw]!;
            if (v > m || (Number.isNaN(v) && !Number.isNaN(m))) {
              m = v;
              best = r + iw;
            }
          }
        }
        if (arg) arg[o] = best;
        if (out) out[o] = m;
      }
    }
  }
}

/** Max pooling; see the module documentation for padding and ties. */
export const maxPool2d: OpDef<Pool2dAttrs> = {
  name: "maxPool2d",
  doc: "2-D max pooling of NCHW images (padding never wins; ties go to the first maximum).",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => poolAttrs("maxPool2d", raw),
  shape: (inputs, attrs) => pooledShape("maxPool2d", inputs, attrs),
  kernel: (ctx) => {
    const g = poolGeom(ctx.inShapes[0]!, ctx.outShape, ctx.attrs);
    const win = windowsOf(g);
    const js: Kernel = (ins, out) => argmaxInto(ins[0]!, g, win, null, out);
    const be = simd2x2(ctx.dtype, g);
    if (!be) return js;
    const rows = g.planes * g.Ho;
    return (ins, out) => {
      const x = ins[0]!;
      if (be.owns(x) && be.owns(out)) be.kernels.maxpool2x2_f32(x.byteOffset, out.byteOffset, rows, g.Wo);
      else js(ins, out);
    };
  },
};

/**
 * maxPool2dBackprop for 2x2 / stride-2 windows tiling an even-sized image: each window's four
 * gradient values are written at once (the cotangent at the first maximum, zeros elsewhere), so
 * there is no zero fill and no scatter.
 */
function backprop2x2(x: FloatArray, gy: FloatArray, out: FloatArray, g: PoolGeom): void {
  const { planes, W, Ho, Wo } = g;
  let o = 0;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < Ho; oh++) {
      const r0 = (p * Ho + oh) * 2 * W;
      for (let ow = 0; ow < Wo; ow++, o++) {
        const a = r0 + 2 * ow;
        const v0 = x[a]!;
        const v1 = x[a + 1]!;
        const v2 = x[a + W]!;
        const v3 = x[a + W + 1]!;
        // the same first-maximum rule as argmaxInto
        let best = 0;
        let m = v0;
        if (v1 > m || (Number.isNaN(v1) && !Number.isNaN(m))) {
          m = v1;
          best = 1;
        }
        if (v2 > m || (Number.isNaN(v2) && !Number.isNaN(m))) {
          m = v2;
          best = 2;
        }
        if (v3 > m || (Number.isNaN(v3) && !Number.isNaN(m))) best = 3;
        const gv = gy[o]!;
        out[a] = best === 0 ? gv : 0;
        out[a + 1] = best === 1 ? gv : 0;
        out[a + W] = best === 2 ? gv : 0;
        out[a + W + 1] = best === 3 ? gv : 0;
      }
    }
  }
}

/** The gradient of `maxPool2d`: `(x, g) -> dx`, each `g` added at its window's arg-max. */
export const maxPool2dBackprop: OpDef<Pool2dAttrs> = {
  name: "maxPool2dBackprop",
  doc: "maxPool2d's input gradient: each output cotangent goes to its window's arg-max.",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => poolAttrs("maxPool2dBackprop", raw),
  shape: (inputs, attrs) => {
    const pooled = pooledShape("maxPool2dBackprop", [inputs[0]!], attrs);
    checkPooled("maxPool2dBackprop", "gradient", pooled, inputs[1]!);
    return { shape: inputs[0]!.shape, dtype: sameDType("maxPool2dBackprop", inputs) };
  },
  kernel: (ctx) => {
    const g = poolGeom(ctx.inShapes[0]!, ctx.inShapes[1]!, ctx.attrs);
    const win = windowsOf(g);
    const arg = new Int32Array(g.planes * g.Ho * g.Wo);
    const be = simd2x2(ctx.dtype, g);
    if (be) {
      const rows = g.planes * g.Ho;
      return (ins, out) => {
        const [x, gy] = [ins[0]!, ins[1]!];
        if (be.owns(x) && be.owns(gy) && be.owns(out))
          be.kernels.maxpool2x2_back_f32(x.byteOffset, gy.byteOffset, out.byteOffset, rows, g.Wo);
        else backprop2x2(x, gy, out, g);
      };
    }
    if (isPlain2x2(g) && g.H % 2 === 0 && g.W % 2 === 0)
      return (ins, out) => backprop2x2(ins[0]!, ins[1]!, out, g);
    return (ins, out) => {
      const gy = ins[1]!;
      out.fill(0);
      argmaxInto(ins[0]!, g, win, arg, null);
      for (let o = 0; o < arg.length; o++) out[arg[o]!] = out[arg[o]!]! + gy[o]!;
    };
  },
};

/** `(x, v) -> v` read at the arg-max of each of `x`'s windows (the pooled shape). */
export const maxPool2dGather: OpDef<Pool2dAttrs> = {
  name: "maxPool2dGather",
  doc: "Reads v at the arg-max positions of x's max-pooling windows.",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => poolAttrs("maxPool2dGather", raw),
  shape: (inputs, attrs) => {
    const [x, v] = [inputs[0]!, inputs[1]!];
    if (x.shape.length !== v.shape.length || x.shape.some((d, i) => d !== v.shape[i]))
      throw new ShapeError(
        `maxPool2dGather: values ${shapeToString(v.shape)} must have the input's shape ${shapeToString(x.shape)}`,
      );
    return pooledShape("maxPool2dGather", inputs, attrs);
  },
  kernel: (ctx) => {
    const g = poolGeom(ctx.inShapes[0]!, ctx.outShape, ctx.attrs);
    const win = windowsOf(g);
    const arg = new Int32Array(g.planes * g.Ho * g.Wo);
    return (ins, out) => {
      const v = ins[1]!;
      argmaxInto(ins[0]!, g, win, arg, null);
      for (let o = 0; o < arg.length; o++) out[o] = v[arg[o]!]!;
    };
  },
};

function checkPooled(op: string, what: string, pooled: TypeInfo, g: TypeInfo): void {
  const ok =
    g.shape.length === 4 &&
    pooled.shape.every((d, i) => d === g.shape[i] || typeof g.shape[i] !== "number" || typeof d !== "number");
  if (!ok)
    throw new ShapeError(
      `${op}: the ${what} ${shapeToString(g.shape)} must have the pooled shape ${shapeToString(pooled.shape)}`,
    );
}

/** Average pooling over the real pixels of each window (padding is not counted). */
export const avgPool2d: OpDef<Pool2dAttrs> = {
  name: "avgPool2d",
  doc: "2-D average pooling of NCHW images; padding is excluded from each window's count.",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => poolAttrs("avgPool2d", raw),
  shape: (inputs, attrs) => pooledShape("avgPool2d", inputs, attrs),
  kernel: (ctx) => {
    const g = poolGeom(ctx.inShapes[0]!, ctx.outShape, ctx.attrs);
    const { planes, H, W, Ho, Wo } = g;
    const { h0, h1, w0, w1 } = windowsOf(g);
    return (ins, out) => {
      const x = ins[0]!;
      let o = 0;
      for (let p = 0; p < planes; p++) {
        const base = p * H * W;
        for (let oh = 0; oh < Ho; oh++) {
          for (let ow = 0; ow < Wo; ow++) {
            let s = 0;
            for (let ih = h0[oh]!; ih < h1[oh]!; ih++) {
              const r = base + ih * W;
              for (let iw = w0[ow]!; iw < w1[ow]!; iw++) s += x[r + iw]!;
            }
            out[o++] = s / ((h1[oh]! - h0[oh]!) * (w1[ow]! - w0[ow]!));
          }
        }
      }
    };
  },
};

/** The gradient (and adjoint) of `avgPool2d`: `g -> dx`, each cotangent shared by its window's real pixels. */
export const avgPool2dBackprop: OpDef<AvgPool2dBackpropAttrs> = {
  name: "avgPool2dBackprop",
  doc: "avgPool2d's input gradient: each cotangent spread evenly over its window's real pixels.",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => ({
    ...poolAttrs("avgPool2dBackprop", raw),
    inputSize: requiredPairAttr("avgPool2dBackprop", "inputSize", raw.inputSize),
  }),
  shape: (inputs, attrs) => {
    const op = "avgPool2dBackprop";
    const [n, c, ho, wo] = nchw(op, "gradient", inputs[0]!);
    const [h, w] = attrs.inputSize;
    const [eh, ew] = pooledHW(op, inputs, attrs, h, w);
    if (eh !== ho || ew !== wo)
      throw new ShapeError(
        `${op}: inputSize [${h}, ${w}] pools to ${eh}x${ew}, not the gradient's ${ho}x${wo}`,
      );
    const shape: Dim[] = [n, c, h, w];
    return { shape, dtype: inputs[0]!.dtype };
  },
  kernel: (ctx) => {
    const g = poolGeom(ctx.outShape, ctx.inShapes[0]!, ctx.attrs);
    const { planes, H, W, Ho, Wo } = g;
    const { h0, h1, w0, w1 } = windowsOf(g);
    return (ins, out) => {
      const gy = ins[0]!;
      out.fill(0);
      let o = 0;
      for (let p = 0; p < planes; p++) {
        const base = p * H * W;
        for (let oh = 0; oh < Ho; oh++) {
          for (let ow = 0; ow < Wo; ow++) {
            const v = gy[o++]! / ((h1[oh]! - h0[oh]!) * (w1[ow]! - w0[ow]!));
            for (let ih = h0[oh]!; ih < h1[oh]!; ih++) {
              const r = base + ih * W;
              for (let iw = w0[ow]!; iw < w1[ow]!; iw++) out[r + iw] = out[r + iw]! + v;
            }
          }
        }
      }
    };
  },
};
