/**
 * The 2-D convolution family (NCHW): `conv2d`, its input gradient `conv2dTranspose` (also a
 * user-facing op) and its filter gradient `conv2dBackpropFilter`. The three are each other's
 * derivatives (see the autograd VJP table), so convolutional networks differentiate to any order.
 * Kernels: backend/conv.ts.
 * @module
 */
import {
  type ConvPass,
  convBackpropFilterRef,
  convBackpropInputRef,
  convF32,
  convForwardRef,
} from "../backend/conv.js";
import { type Dim, ShapeError } from "../shape.js";
import {
  type ConvAttrs,
  convAttrs,
  convGeometry,
  convOutHW,
  convWeights,
  describeConv,
  nchw,
  type Pair,
  requiredPairAttr,
} from "./conv-geometry.js";
import type { Kernel, KernelContext, OpDef } from "./types.js";
import { sameDType } from "./util.js";

/** Attributes of `conv2dTranspose`: the convolution it transposes, and that convolution's input size. */
export interface Conv2dTransposeAttrs extends ConvAttrs {
  /** `[height, width]` of the output (the transposed convolution's input size, which strides leave ambiguous). */
  readonly outputSize: Pair;
}

/** Attributes of `conv2dBackpropFilter`: the convolution, and its kernel size. */
export interface Conv2dBackpropFilterAttrs extends ConvAttrs {
  /** `[kh, kw]` of the weights whose gradient is computed. */
  readonly kernelSize: Pair;
}

/** A kernel for one pass: the float32 WebAssembly path where possible, else the reference loops. */
function convKernel<A extends ConvAttrs>(
  ctx: KernelContext<A>,
  pass: ConvPass,
  x: readonly number[],
  out: readonly number[],
  kernel: Pair,
): Kernel {
  const g = convGeometry(x, out, kernel, ctx.attrs);
  const fast = ctx.dtype === "float32" ? convF32(pass, g) : null;
  if (fast) return (ins, o) => fast(ins[0]!, ins[1]!, o);
  const ref =
    pass === "forward" ? convForwardRef : pass === "input" ? convBackpropInputRef : convBackpropFilterRef;
  return (ins, o) => ref(ins[0]!, ins[1]!, o, g);
}

/**
 * 2-D convolution (cross-correlation, as in every framework): `x [N, C, H, W]` with weights
 * `w [O, C/groups, kh, kw]` gives `[N, O, Ho, Wo]`, `Ho = floor((H + top + bottom - dh·(kh-1) - 1) / sh) + 1`.
 */
export const conv2d: OpDef<ConvAttrs> = {
  name: "conv2d",
  doc: "2-D convolution of NCHW images with [O, C/groups, kh, kw] weights.",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => convAttrs("conv2d", raw),
  shape: (inputs, attrs) => {
    const dtype = sameDType("conv2d", inputs);
    const [n, c, h, w] = nchw("conv2d", "input", inputs[0]!);
    const [o, kh, kw] = convWeights("conv2d", inputs, attrs, c, inputs[1]!);
    const [ho, wo] = convOutHW("conv2d", inputs, attrs, h, w, kh, kw);
    const shape: Dim[] = [n, o, ho, wo];
    return { shape, dtype };
  },
  kernel: (ctx) => {
    const w = ctx.inShapes[1]!;
    return convKernel(ctx, "forward", ctx.inShapes[0]!, ctx.outShape, [w[2]!, w[3]!]);
  },
};

/**
 * Transposed convolution (the gradient of `conv2d` with respect to its input): `y [N, O, Ho, Wo]`
 * with the weights `w [O, C/groups, kh, kw]` of the convolution it transposes gives
 * `[N, C, outputSize[0], outputSize[1]]`.
 */
export const conv2dTranspose: OpDef<Conv2dTransposeAttrs> = {
  name: "conv2dTranspose",
  doc: "Transposed 2-D convolution (conv2d's input gradient); weights [O, C/groups, kh, kw] of the conv it transposes.",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => ({
    ...convAttrs("conv2dTranspose", raw),
    outputSize: requiredPairAttr("conv2dTranspose", "outputSize", raw.outputSize),
  }),
  shape: (inputs, attrs) => {
    const dtype = sameDType("conv2dTranspose", inputs);
    const [n, o, ho, wo] = nchw("conv2dTranspose", "input", inputs[0]!);
    const wt = inputs[1]!;
    if (wt.shape.length !== 4 || typeof wt.shape[0] !== "number" || typeof wt.shape[1] !== "number")
      throw new ShapeError(
        `${describeConv("conv2dTranspose", inputs, attrs)}: weights must be rank 4 [O, C/groups, kh, kw]`,
      );
    const c = (wt.shape[1] as number) * attrs.groups;
    if (o !== wt.shape[0])
      throw new ShapeError(
        `${describeConv("conv2dTranspose", inputs, attrs)}: the input has ${o} channels but the weights' first axis is ${wt.shape[0]}`,
      );
    const [h, w] = attrs.outputSize;
    const [, kh, kw] = convWeights("conv2dTranspose", inputs, attrs, c, wt);
    const [eh, ew] = convOutHW("conv2dTranspose", inputs, attrs, h, w, kh, kw);
    if (eh !== ho || ew !== wo)
      throw new ShapeError(
        `${describeConv("conv2dTranspose", inputs, attrs)}: outputSize [${h}, ${w}] convolves to ${eh}x${ew}, not the input's ${ho}x${wo}`,
      );
    const shape: Dim[] = [n, c, h, w];
    return { shape, dtype };
  },
  kernel: (ctx) => {
    const w = ctx.inShapes[1]!;
    return convKernel(ctx, "input", ctx.outShape, ctx.inShapes[0]!, [w[2]!, w[3]!]);
  },
};

/**
 * The gradient of `conv2d` with respect to its weights: from the convolution's input
 * `x [N, C, H, W]` and output cotangent `dy [N, O, Ho, Wo]`, `dw [O, C/groups, kh, kw]`.
 */
export const conv2dBackpropFilter: OpDef<Conv2dBackpropFilterAttrs> = {
  name: "conv2dBackpropFilter",
  doc: "conv2d's weight gradient from its input and output cotangent.",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => ({
    ...convAttrs("conv2dBackpropFilter", raw),
    kernelSize: requiredPairAttr("conv2dBackpropFilter", "kernelSize", raw.kernelSize),
  }),
  shape: (inputs, attrs) => {
    const op = "conv2dBackpropFilter";
    const dtype = sameDType(op, inputs);
    const [n, c, h, w] = nchw(op, "input", inputs[0]!);
    const [n2, o, ho, wo] = nchw(op, "output gradient", inputs[1]!);
    const fail = (msg: string) => new ShapeError(`${describeConv(op, inputs, attrs)}: ${msg}`);
    if (typeof n === "number" && typeof n2 === "number" && n !== n2)
      throw fail(`batch sizes ${n} and ${n2} differ`);
    if (typeof c !== "number" || typeof o !== "number") throw fail("channels must be concrete");
    const g = attrs.groups;
    if (c % g !== 0 || o % g !== 0) throw fail(`channels ${c} and ${o} are not divisible by groups ${g}`);
    const [kh, kw] = attrs.kernelSize;
    const [eh, ew] = convOutHW(op, inputs, attrs, h, w, kh, kw);
    if (eh !== ho || ew !== wo)
      throw fail(`a ${kh}x${kw} kernel gives ${eh}x${ew} outputs, the gradient is ${ho}x${wo}`);
    const shape: Dim[] = [o, c / g, kh, kw];
    return { shape, dtype };
  },
  kernel: (ctx) => convKernel(ctx, "filter", ctx.inShapes[0]!, ctx.inShapes[1]!, ctx.attrs.kernelSize),
};
