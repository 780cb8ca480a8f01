/**
 * Emitters for convolutions and pooling, and their gradient ops (ONNX composites where ONNX has
 * no single op):
 *
 * | gradgraph | ONNX |
 * |---|---|
 * | conv2d | `Conv` |
 * | conv2dTranspose | `ConvTranspose` with `output_padding` (the weight layouts agree) |
 * | conv2dBackpropFilter | `Conv` of the transposed operands (strides and dilations swapped), `Slice`, `Transpose` |
 * | maxPool2d | `MaxPool` |
 * | maxPool2dBackprop | `MaxPool`'s `Indices` + `ScatterElements(reduction="add")` into zeros |
 * | maxPool2dGather | `MaxPool`'s `Indices` + `Gather` |
 * | avgPool2d | `AveragePool(count_include_pad=0)` |
 * | avgPool2dBackprop | `Div` by each window's pixel count, `ConvTranspose` with a ones kernel per plane |
 *
 * Padding: gradgraph stores `[top, bottom, left, right]`; ONNX `pads` are
 * `[x1_begin, x2_begin, x1_end, x2_end]` = `[top, left, bottom, right]`.
 *
 * Differences from gradgraph that ONNX Runtime (1.30, CPU) shows:
 * - float64: the CPU provider has no float64 `Conv`, `ConvTranspose` or `AveragePool` kernel.
 *   The standard ops are written all the same (the model is valid ONNX, and other runtimes run
 *   it), so float64 conv2d, conv2dTranspose, conv2dBackpropFilter, avgPool2d and
 *   avgPool2dBackprop models do not load in ONNX Runtime's CPU provider; maxPool2d,
 *   maxPool2dBackprop and maxPool2dGather run in float64.
 * - NaN: in gradgraph the first NaN of a window wins (value and arg-max). ONNX Runtime's
 *   `MaxPool` starts from the window's first pixel and keeps the larger of each next one, so a
 *   NaN wins only when it comes first (window `[5, NaN, 4, 1]`: value 5, arg-max the 5), and its
 *   float32 single-output kernel differs again (`[NaN, 1, 2, 3]` gives 3, `[5, NaN, 4, 1]`
 *   gives NaN). Without NaNs they agree exactly, ties included (the first maximum in row-major
 *   window order), and so does a window of `-Infinity`s.
 * @module
 */
import type { ConvAttrs, Dim, GraphNode, Pool2dAttrs, Shape } from "@gradgraph/core";
import type { ExportContext } from "../context.js";
import type { Emitter, Emitters } from "./types.js";

type NnOp =
  | "conv2d"
  | "conv2dTranspose"
  | "conv2dBackpropFilter"
  | "maxPool2d"
  | "maxPool2dBackprop"
  | "maxPool2dGather"
  | "avgPool2d"
  | "avgPool2dBackprop";

/** ONNX `pads` from gradgraph padding: `[t, b, l, r]` becomes `[t, l, b, r]` (all begins, then all ends). */
function onnxPads(padding: readonly [number, number, number, number]): number[] {
  const [t, b, l, r] = padding;
  return [t, l, b, r];
}

/** The attributes `Conv` and `ConvTranspose` share. */
function convOnnxAttrs(a: ConvAttrs, kernel: readonly [number, number]): Record<string, number[] | number> {
  return {
    kernel_shape: [...kernel],
    strides: [...a.strides],
    dilations: [...a.dilations],
    pads: onnxPads(a.padding),
    group: a.groups,
  };
}

/** The attributes `MaxPool` and `AveragePool` share (pooling has no dilation). */
function poolOnnxAttrs(a: Pool2dAttrs): Record<string, number[]> {
  return { kernel_shape: [...a.kernelSize], strides: [...a.strides], pads: onnxPads(a.padding) };
}

/** The concrete `[kh, kw]` of node `id`'s weights `[O, C/groups, kh, kw]`. */
function kernelOf(ctx: ExportContext, id: number): [number, number] {
  const s = ctx.node(id).shape;
  return [s[2] as number, s[3] as number];
}

/** The `[H, W]` of node `id` (concrete for every convolution and pooling operand). */
function hwOf(ctx: ExportContext, id: number): [number, number] {
  const s = ctx.node(id).shape;
  return [s[2] as number, s[3] as number];
}

/** A 1-D int64 tensor holding the shape of value `x` (gradgraph shape `shape`): a constant when concrete. */
function shapeOf(ctx: ExportContext, x: string, shape: Shape): string {
  return shape.every((d) => typeof d === "number") ? ctx.int64(shape as number[]) : ctx.op("Shape", [x]);
}

/**
 * ConvTranspose's `output_padding` along one axis: the rows a transposed convolution must add
 * at the end so its output is `size` long. ONNX's output length is
 * `s·(in − 1) + output_padding + d·(k − 1) + 1 − p0 − p1`; a forward convolution of `size`
 * rows gives `in = floor((size + p0 + p1 − d·(k − 1) − 1) / s) + 1`, so the difference lies in
 * `[0, s − 1]`.
 */
function outputPadding(size: number, inLen: number, k: number, s: number, d: number, p0: number, p1: number) {
  return size - (s * (inLen - 1) + d * (k - 1) + 1 - p0 - p1);
}

/** `Conv(x, w)`: the same cross-correlation, groups and geometry. */
const conv2d: Emitter<"conv2d"> = (ctx, node, x) =>
  ctx.op("Conv", [x[0]!, x[1]!], convOnnxAttrs(node.attrs, kernelOf(ctx, node.inputs[1]!)));

/**
 * `ConvTranspose(dy, w)`. gradgraph's weights `[O, C/groups, kh, kw]` (those of the convolution
 * it transposes) are already ONNX ConvTranspose's `[C_in, C_out/group, kh, kw]`; `output_padding`
 * picks `attrs.outputSize` among the sizes a stride allows.
 */
const conv2dTranspose: Emitter<"conv2dTranspose"> = (ctx, node, x) => {
  const a = node.attrs;
  const [kh, kw] = kernelOf(ctx, node.inputs[1]!);
  const [ho, wo] = hwOf(ctx, node.inputs[0]!);
  const [t, b, l, r] = a.padding;
  const op = [
    outputPadding(a.outputSize[0], ho, kh, a.strides[0], a.dilations[0], t, b),
    outputPadding(a.outputSize[1], wo, kw, a.strides[1], a.dilations[1], l, r),
  ];
  return ctx.op("ConvTranspose", [x[0]!, x[1]!], { ...convOnnxAttrs(a, [kh, kw]), output_padding: op });
};

/**
 * The weight gradient `dw[o, c, i, j] = Σ_{n, a, b} x[n, g·Cg + c, a·sh + i·dh − pt, b·sw + j·dw − pl] · dy[n, o, a, b]`
 * (`g` the group of `o`) is itself a convolution in which the batch is summed over: convolve
 * `x` as `[Cg, groups·N, H, W]` (channel `k·N + n` holding image `n`'s group-`k` channel) with
 * `dy` as weights `[O, N, Ho, Wo]`, `group = groups`, the strides and dilations swapped (the
 * output's steps become the taps' spacing), the same pads. That gives `[Cg, O, kh', kw']` with
 * `kh' ≥ kh` (the padded image can fit more taps than the kernel has), so `Slice` to
 * `[kh, kw]` and `Transpose` to `[O, Cg, kh, kw]`.
 */
const conv2dBackpropFilter: Emitter<"conv2dBackpropFilter"> = (ctx, node, x) => {
  const a = node.attrs;
  const g = a.groups;
  const [n, c, h, w] = ctx.node(node.inputs[0]!).shape as [Dim, number, number, number];
  const cg = c / g;
  let xt: string;
  if (g === 1) xt = ctx.op("Transpose", [x[0]!], { perm: [1, 0, 2, 3] });
  else {
    // [N, C, H, W] -> [N, g, Cg, H, W] -> [Cg, g, N, H, W] -> [Cg, g·N, H, W]; the first
    // Reshape's 0 copies the (possibly symbolic) batch, the last builds g·N at run time if needed
    const split = ctx.op("Reshape", [x[0]!, ctx.int64([0, g, cg, h, w])]);
    const moved = ctx.op("Transpose", [split], { perm: [2, 1, 0, 3, 4] });
    const gn =
      typeof n === "number"
        ? ctx.int64([g * n])
        : ctx.op("Mul", [ctx.op("Shape", [x[0]!], { start: 0, end: 1 }), ctx.int64([g])]);
    const target = ctx.op("Concat", [ctx.int64([cg]), gn, ctx.int64([h, w])], { axis: 0 });
    xt = ctx.op("Reshape", [moved, target]);
  }
  const dyt = ctx.op("Transpose", [x[1]!], { perm: [1, 0, 2, 3] });
  const full = ctx.op("Conv", [xt, dyt], {
    strides: [...a.dilations],
    dilations: [...a.strides],
    pads: onnxPads(a.padding),
    group: g,
  });
  const [kh, kw] = a.kernelSize;
  const cut = ctx.op("Slice", [full, ctx.int64([0, 0]), ctx.int64([kh, kw]), ctx.int64([2, 3])]);
  return ctx.op("Transpose", [cut], { perm: [1, 0, 2, 3] });
};

/** `MaxPool`: padding never wins in either (ONNX pads with -∞ semantics), ties take the first maximum. */
const maxPool2d: Emitter<"maxPool2d"> = (ctx, node, x) =>
  ctx.op("MaxPool", [x[0]!], poolOnnxAttrs(node.attrs));

/**
 * The arg-max of every window as flat indices into `x` (ONNX Runtime's `Indices` output counts
 * over the whole `[N, C, H, W]` tensor, row-major), shaped like the pooled output.
 */
function argmaxIndices(
  ctx: ExportContext,
  node: GraphNode<"maxPool2dBackprop" | "maxPool2dGather">,
  x: string,
) {
  return ctx.opN("MaxPool", [x], 2, poolOnnxAttrs(node.attrs))[1]!;
}

/** Flattens `x` to 1-D (`[-1]` also flattens an empty tensor: the other dims' product is 1). */
function flat(ctx: ExportContext, x: string): string {
  return ctx.op("Reshape", [x, ctx.int64([-1])]);
}

/** Each cotangent `g` added at its window's arg-max: `ScatterElements(add)` into flat zeros. */
const maxPool2dBackprop: Emitter<"maxPool2dBackprop"> = (ctx, node, x) => {
  const idx = argmaxIndices(ctx, node, x[0]!);
  const shape = shapeOf(ctx, x[0]!, node.shape);
  const zeros = ctx.op("ConstantOfShape", [shape], {
    value: { tensor: ctx.constantTensor([0], node.dtype) },
  });
  const sum = ctx.op("ScatterElements", [flat(ctx, zeros), flat(ctx, idx), flat(ctx, x[1]!)], {
    axis: 0,
    reduction: "add",
  });
  // the shape holds no -1, and a 0 in it means an empty axis, not "copy the input's dim"
  return ctx.op("Reshape", [sum, shape], { allowzero: 1 });
};

/** `v` read at the arg-max of each of `x`'s windows: `Gather` from flat `v` with the flat indices. */
const maxPool2dGather: Emitter<"maxPool2dGather"> = (ctx, node, x) =>
  ctx.op("Gather", [flat(ctx, x[1]!), argmaxIndices(ctx, node, x[0]!)], { axis: 0 });

/** `AveragePool` over the real pixels only (`count_include_pad=0`, gradgraph's rule). */
const avgPool2d: Emitter<"avgPool2d"> = (ctx, node, x) =>
  ctx.op("AveragePool", [x[0]!], { ...poolOnnxAttrs(node.attrs), count_include_pad: 0 });

/** The number of real (unpadded) pixels in each window of a pooling of an `h x w` image, `[Ho, Wo]` row-major. */
function windowCounts(a: Pool2dAttrs, h: number, w: number, ho: number, wo: number): number[] {
  const [kh, kw] = a.kernelSize;
  const [sh, sw] = a.strides;
  const [pt, , pl] = a.padding;
  const along = (o: number, s: number, p: number, k: number, size: number) =>
    Math.min(o * s - p + k, size) - Math.max(o * s - p, 0);
  const out: number[] = [];
  for (let i = 0; i < ho; i++)
    for (let j = 0; j < wo; j++) out.push(along(i, sh, pt, kh, h) * along(j, sw, pl, kw, w));
  return out;
}

/**
 * Each cotangent divided by its window's pixel count, then spread over the window: a transposed
 * convolution of every plane (`[N·C, 1, Ho, Wo]`) with a ones kernel and the pooling's strides
 * and pads, which also drops what falls on padding. Works with symbolic batch and channels.
 */
const avgPool2dBackprop: Emitter<"avgPool2dBackprop"> = (ctx, node, x) => {
  const a = node.attrs;
  const [n, c, ho, wo] = ctx.node(node.inputs[0]!).shape as [Dim, Dim, number, number];
  const [h, w] = a.inputSize;
  const [kh, kw] = a.kernelSize;
  const [t, b, l, r] = a.padding;
  const counts = ctx.float(windowCounts(a, h, w, ho, wo), node.dtype, [ho, wo]);
  const shared = ctx.op("Div", [x[0]!, counts]);
  const planes = ctx.op("Reshape", [shared, ctx.int64([-1, 1, ho, wo])]);
  const ones = ctx.float(new Array<number>(kh * kw).fill(1), node.dtype, [1, 1, kh, kw]);
  const spread = ctx.op("ConvTranspose", [planes, ones], {
    kernel_shape: [kh, kw],
    strides: [...a.strides],
    pads: onnxPads(a.padding),
    output_padding: [
      outputPadding(h, ho, kh, a.strides[0], 1, t, b),
      outputPadding(w, wo, kw, a.strides[1], 1, l, r),
    ],
  });
  const target =
    typeof n === "number" && typeof c === "number"
      ? ctx.int64([n, c, h, w])
      : ctx.op("Concat", [ctx.op("Shape", [x[0]!], { start: 0, end: 2 }), ctx.int64([h, w])], { axis: 0 });
  return ctx.op("Reshape", [spread, target], { allowzero: 1 });
};

/** Emitters of convolution and pooling ops. */
export const NN_EMITTERS: Emitters<NnOp> = {
  conv2d,
  conv2dTranspose,
  conv2dBackpropFilter,
  maxPool2d,
  maxPool2dBackprop,
  maxPool2dGather,
  avgPool2d,
  avgPool2dBackprop,
};
