/**
 * The VJP table: each op's local derivative, written with builder ops so gradients can be
 * differentiated again. Broadcasting is undone centrally by the walker, not here.
 * @module
 */
import {
  type AnyOpName,
  type ConvAttrs,
  customGradientVjp,
  customOpDef,
  type Dim,
  GELU_TANH_C,
  type GraphBuilder,
  isOpName,
  type LayerNormAttrs,
  layerNormParamShape,
  type Pool2dAttrs,
  type Shape,
  type Value,
} from "@gradgraph/core";
import type { VjpRule, VjpTable } from "./types.js";

function normAxes(axes: readonly number[] | null, rank: number): number[] {
  if (axes === null) return Array.from({ length: rank }, (_, i) => i);
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
}

/** Shape of x with `axes` set to 1 (the keepdims form of a reduction's output). */
function keptShape(shape: Shape, axes: readonly number[]): Dim[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Brings a reduction's cotangent back to the input's shape. */
function unreduce(b: GraphBuilder, g: Value, x: Value, axes: readonly number[], keepdims: boolean): Value {
  const kept = keptShape(x.shape, axes);
  const gk = keepdims ? g : b.reshape(g, kept);
  return b.broadcastTo(gk, x.shape);
}

/** Number of elements reduced over, as a value (a folded constant when dims are symbolic). */
function count(b: GraphBuilder, x: Value, axes: readonly number[]): Value | number {
  let n = 1;
  for (const a of axes) {
    const d = x.shape[a]!;
    if (typeof d !== "number")
      return b.sum(
        b.fill(
          1,
          axes.map((i) => x.shape[i]!),
          x.dtype,
        ),
      );
    n *= d;
  }
  return n;
}

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
}

/** The attributes every convolution op shares (dropping outputSize / kernelSize). */
function convOf(a: ConvAttrs): ConvAttrs {
  return { strides: a.strides, padding: a.padding, dilations: a.dilations, groups: a.groups };
}

/** The pooling attributes of a pooling op (dropping inputSize). */
function poolOf(a: Pool2dAttrs): Pool2dAttrs {
  return { kernelSize: a.kernelSize, strides: a.strides, padding: a.padding };
}

/** `[H, W]` of an NCHW value (concrete: the shape rules checked it). */
function hw(v: Value): [number, number] {
  return [v.shape[2] as number, v.shape[3] as number];
}

/**
 * The derivative of each smooth (or kinked, with the flat-side convention) unary op added for
 * issue 13, as a value of `x`'s shape, written with builder ops so it can be differentiated again.
 */
export function unaryDerivative(
  b: GraphBuilder,
  op: "softplus" | "log1p" | "expm1" | "silu" | "erf" | "gelu" | "geluTanh",
  x: Value,
  y: Value,
): Value {
  switch (op) {
    case "softplus":
      return b.sigmoid(x);
    case "log1p":
      return b.div(1, b.add(x, 1));
    case "expm1":
      return b.add(y, 1);
    case "silu": {
      const s = b.sigmoid(x);
      return b.mul(s, b.add(1, b.mul(x, b.sub(1, s))));
    }
    case "erf":
      return b.mul(2 / Math.sqrt(Math.PI), b.exp(b.neg(b.square(x))));
    case "gelu": {
      // Φ(x) + x φ(x)
      const cdf = b.mul(0.5, b.add(1, b.erf(b.mul(x, Math.SQRT1_2))));
      const pdf = b.mul(1 / Math.sqrt(2 * Math.PI), b.exp(b.mul(b.square(x), -0.5)));
      return b.add(cdf, b.mul(x, pdf));
    }
    case "geluTanh": {
      const x2 = b.square(x);
      const t = b.tanh(b.mul(b.mul(x, b.add(1, b.mul(x2, 0.044715))), GELU_TANH_C));
      const du = b.mul(b.add(1, b.mul(x2, 3 * 0.044715)), GELU_TANH_C);
      return b.add(b.mul(0.5, b.add(1, t)), b.mul(b.mul(b.mul(x, 0.5), b.sub(1, b.square(t))), du));
    }
  }
}

/**
 * The normalised input `xhat = (x - mean) * rstd` of `layerNorm` along `axis` (non-negative) and
 * `rstd = 1 / sqrt(var + epsilon)` (keepdims form), recomputed from `x` with ordinary ops by the
 * forward kernel's formula (two-pass biased variance), so a rule that uses them differentiates
 * again.
 */
export function layerNormParts(
  b: GraphBuilder,
  x: Value,
  axis: number,
  epsilon: number,
): { readonly xhat: Value; readonly rstd: Value } {
  const xc = b.sub(x, b.mean(x, axis, true));
  const rstd = b.div(1, b.sqrt(b.add(b.mean(b.square(xc), axis, true), epsilon)));
  return { xhat: b.mul(xc, rstd), rstd };
}

/** `xhat = (x - mean) * rstd` through the fused op itself (unit gain, zero bias). */
export function layerNormXhat(b: GraphBuilder, x: Value, attrs: LayerNormAttrs): Value {
  const axis = attrs.axis < 0 ? attrs.axis + x.rank : attrs.axis;
  const ps = layerNormParamShape(x.shape, axis);
  return b.layerNorm(x, b.fill(1, ps, x.dtype), b.fill(0, ps, x.dtype), attrs);
}

/**
 * The gradient in `x` of `f = layerNormBackward(x, d)` (`y`) for the cotangent `h`:
 * `-rstd mean(h f) xhat - layerNormBackward(x, rstd (mean(d xhat) h + mean(h xhat) d))`, and in
 * forward mode its tangent for `tx`: `-rstd (mean(xhat tx) f + mean(d xhat) P tx + xhat mean(d P tx))`
 * with `P tx = layerNormBackward(x, tx)`. Both from the variation
 * `df = -rstd mean(xhat dx) f - rstd mean(d xhat) dxhat - rstd xhat mean(d dxhat)`, `dxhat = P dx`.
 */
export function layerNormBackwardInX(
  b: GraphBuilder,
  mode: "vjp" | "jvp",
  x: Value,
  d: Value,
  y: Value,
  v: Value,
  attrs: LayerNormAttrs,
): Value {
  const axis = attrs.axis < 0 ? attrs.axis + x.rank : attrs.axis;
  const mean = (p: Value) => b.mean(p, axis, true);
  const { xhat, rstd } = layerNormParts(b, x, axis, attrs.epsilon);
  const c = mean(b.mul(d, xhat));
  if (mode === "vjp") {
    const u = b.mul(rstd, b.add(b.mul(c, v), b.mul(mean(b.mul(v, xhat)), d)));
    return b.neg(
      b.add(b.mul(b.mul(rstd, mean(b.mul(v, y))), xhat), b.op("layerNormBackward", [x, u], attrs)),
    );
  }
  const pv = b.op("layerNormBackward", [x, v], attrs);
  const sum = b.add(b.add(b.mul(mean(b.mul(xhat, v)), y), b.mul(c, pv)), b.mul(xhat, mean(b.mul(d, pv))));
  return b.neg(b.mul(rstd, sum));
}

/**
 * The partial derivatives of `leakyRelu(x, slope)`, `elu(x, alpha)` and `clip(x, lo, hi)`, one
 * per input, each broadcast to the output's shape. At a kink `x` gets the flat (or left) side:
 * `leakyRelu` gives `slope` at 0, `elu` gives `alpha`, and `clip` routes the derivative to exactly
 * one argument (`x` strictly inside, `lo` for `x <= lo < hi`, `hi` where `max(x, lo) >= hi`).
 */
export function kinkedPartials(
  b: GraphBuilder,
  op: "leakyRelu" | "elu" | "clip",
  x: readonly Value[],
): Value[] {
  const v = x[0]!;
  switch (op) {
    case "leakyRelu": {
      const pos = b.greater(v, 0);
      return [b.where(pos, 1, x[1]!), b.where(pos, 0, v)];
    }
    case "elu": {
      const pos = b.greater(v, 0);
      return [b.where(pos, 1, b.mul(b.exp(v), x[1]!)), b.where(pos, 0, b.expm1(v))];
    }
    case "clip": {
      const [lo, hi] = [x[1]!, x[2]!];
      return [
        b.mul(b.greater(v, lo), b.less(v, hi)),
        b.mul(b.lessEqual(v, lo), b.less(lo, hi)),
        b.greaterEqual(b.maximum(v, lo), hi),
      ];
    }
  }
}

/** The VJP rule of every op, keyed by op name. */
export const VJP: VjpTable = {
  input: "leaf",
  param: "leaf",
  constant: "leaf",
  fill: "leaf",
  neg: ({ b, g }) => [b.neg(g)],
  exp: ({ b, g, y }) => [b.mul(g, y)],
  log: ({ b, g, x }) => [b.div(g, x[0]!)],
  tanh: ({ b, g, y }) => [b.mul(g, b.sub(1, b.square(y)))],
  sigmoid: ({ b, g, y }) => [b.mul(g, b.mul(y, b.sub(1, y)))],
  relu: ({ b, g, x }) => [b.mul(g, b.greater(x[0]!, 0))],
  square: ({ b, g, x }) => [b.mul(g, b.mul(x[0]!, 2))],
  sqrt: ({ b, g, y }) => [b.div(b.mul(g, 0.5), y)],
  abs: ({ b, g, x }) => [b.mul(g, b.sign(x[0]!))],
  sign: "zero",
  add: ({ g }) => [g, g],
  sub: ({ b, g, needs }) => [g, needs[1] ? b.neg(g) : null],
  mul: ({ b, g, x, needs }) => [needs[0] ? b.mul(g, x[1]!) : null, needs[1] ? b.mul(g, x[0]!) : null],
  div: ({ b, g, x, y, needs }) => [
    needs[0] ? b.div(g, x[1]!) : null,
    needs[1] ? b.neg(b.div(b.mul(g, y), x[1]!)) : null,
  ],
  pow: ({ b, g, x, y, needs }) => [
    needs[0] ? b.mul(g, b.mul(x[1]!, b.pow(x[0]!, b.sub(x[1]!, 1)))) : null,
    needs[1] ? b.mul(g, b.mul(y, b.log(x[0]!))) : null,
  ],
  maximum: ({ b, g, x, needs }) => [
    needs[0] ? b.mul(g, b.greaterEqual(x[0]!, x[1]!)) : null,
    needs[1] ? b.mul(g, b.less(x[0]!, x[1]!)) : null,
  ],
  minimum: ({ b, g, x, needs }) => [
    needs[0] ? b.mul(g, b.lessEqual(x[0]!, x[1]!)) : null,
    needs[1] ? b.mul(g, b.greater(x[0]!, x[1]!)) : null,
  ],
  greater: "zero",
  greaterEqual: "zero",
  less: "zero",
  lessEqual: "zero",
  equal: "zero",
  where: ({ b, g, x, needs }) => [
    null,
    needs[1] ? b.where(x[0]!, g, 0) : null,
    needs[2] ? b.where(x[0]!, 0, g) : null,
  ],
  matmul: ({ b, g, x, attrs, needs }) => {
    const [A, B] = [x[0]!, x[1]!];
    const { transA, transB } = attrs;
    let dA: Value | null = null;
    let dB: Value | null = null;
    if (!transA && !transB) {
      if (needs[0]) dA = b.matmul(g, B, { transB: true });
      if (needs[1]) dB = b.matmul(A, g, { transA: true });
    } else if (!transA && transB) {
      if (needs[0]) dA = b.matmul(g, B);
      if (needs[1]) dB = b.matmul(g, A, { transA: true });
    } else if (transA && !transB) {
      if (needs[0]) dA = b.matmul(B, g, { transB: true });
      if (needs[1]) dB = b.matmul(A, g);
    } else {
      if (needs[0]) dA = b.matmul(B, g, { transA: true, transB: true });
      if (needs[1]) dB = b.matmul(g, A, { transA: true, transB: true });
    }
    return [dA, dB];
  },
  transpose: ({ b, g, x, attrs }) => {
    const rank = x[0]!.rank;
    const perm = attrs.perm ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    return [b.transpose(g, inversePerm(perm))];
  },
  reshape: ({ b, g, x }) => [b.reshape(g, x[0]!.shape)],
  broadcastTo: ({ g }) => [g],
  concat: ({ b, g, x, attrs, needs }) => {
    const rank = g.rank;
    const axis = attrs.axis < 0 ? attrs.axis + rank : attrs.axis;
    let offset = 0;
    return x.map((xi, k) => {
      const width = xi.shape[axis] as number;
      const begin = new Array<number>(rank).fill(0);
      const end = new Array<number | null>(rank).fill(null);
      begin[axis] = offset;
      end[axis] = offset + width;
      offset += width;
      return needs[k] ? b.slice(g, begin, end) : null;
    });
  },
  slice: ({ b, g, x, attrs }) => {
    const s = x[0]!.shape;
    const before = s.map((_, i) => attrs.begin[i] ?? 0);
    const after = s.map((d, i) => {
      if (typeof d !== "number") return 0;
      return d - (attrs.end[i] ?? d);
    });
    return [b.pad(g, before, after)];
  },
  pad: ({ b, g, x, attrs }) => {
    const s = x[0]!.shape;
    const begin = s.map((_, i) => attrs.before[i] ?? 0);
    const end = s.map((d, i) => (typeof d === "number" ? (attrs.before[i] ?? 0) + d : null));
    return [b.slice(g, begin, end)];
  },
  sum: ({ b, g, x, attrs }) => [unreduce(b, g, x[0]!, normAxes(attrs.axes, x[0]!.rank), attrs.keepdims)],
  mean: ({ b, g, x, attrs }) => {
    const axes = normAxes(attrs.axes, x[0]!.rank);
    return [b.div(unreduce(b, g, x[0]!, axes, attrs.keepdims), count(b, x[0]!, axes))];
  },
  max: ({ b, g, x, y, attrs }) => {
    const axes = normAxes(attrs.axes, x[0]!.rank);
    const yb = unreduce(b, y, x[0]!, axes, attrs.keepdims);
    const mask = b.equal(x[0]!, yb);
    const ties = b.sum(mask, axes, true);
    return [b.div(b.mul(unreduce(b, g, x[0]!, axes, attrs.keepdims), mask), ties)];
  },
  logSumExp: ({ b, g, x, y, attrs }) => {
    const axes = normAxes(attrs.axes, x[0]!.rank);
    const yb = unreduce(b, y, x[0]!, axes, attrs.keepdims);
    return [b.mul(unreduce(b, g, x[0]!, axes, attrs.keepdims), b.exp(b.sub(x[0]!, yb)))];
  },
  softmax: ({ b, g, y, attrs }) => [b.mul(y, b.sub(g, b.sum(b.mul(g, y), attrs.axis, true)))],
  logSoftmax: ({ b, g, y, attrs }) => [b.sub(g, b.mul(b.exp(y), b.sum(g, attrs.axis, true)))],
  // conv2d, conv2dTranspose and conv2dBackpropFilter are bilinear and each other's adjoints:
  // <g, conv(x, w)> = <convT(g, w), x> = <filter(x, g), w>
  conv2d: ({ b, g, x, attrs, needs }) => [
    needs[0] ? b.op("conv2dTranspose", [g, x[1]!], { ...convOf(attrs), outputSize: hw(x[0]!) }) : null,
    needs[1]
      ? b.op("conv2dBackpropFilter", [x[0]!, g], {
          ...convOf(attrs),
          kernelSize: [x[1]!.shape[2], x[1]!.shape[3]],
        })
      : null,
  ],
  conv2dTranspose: ({ b, g, x, attrs, needs }) => [
    needs[0] ? b.op("conv2d", [g, x[1]!], convOf(attrs)) : null,
    needs[1]
      ? b.op("conv2dBackpropFilter", [g, x[0]!], {
          ...convOf(attrs),
          kernelSize: [x[1]!.shape[2], x[1]!.shape[3]],
        })
      : null,
  ],
  conv2dBackpropFilter: ({ b, g, x, attrs, needs }) => [
    needs[0] ? b.op("conv2dTranspose", [x[1]!, g], { ...convOf(attrs), outputSize: hw(x[0]!) }) : null,
    needs[1] ? b.op("conv2d", [x[0]!, g], convOf(attrs)) : null,
  ],
  // the arg-max selection is piecewise constant in x: only the routed values have a gradient
  maxPool2d: ({ b, g, x, attrs }) => [b.op("maxPool2dBackprop", [x[0]!, g], attrs)],
  maxPool2dBackprop: ({ b, g, x, attrs }) => [null, b.op("maxPool2dGather", [x[0]!, g], attrs)],
  maxPool2dGather: ({ b, g, x, attrs }) => [null, b.op("maxPool2dBackprop", [x[0]!, g], attrs)],
  avgPool2d: ({ b, g, x, attrs }) => [b.op("avgPool2dBackprop", [g], { ...attrs, inputSize: hw(x[0]!) })],
  avgPool2dBackprop: ({ b, g, attrs }) => [b.op("avgPool2d", [g], poolOf(attrs))],
  randomUniform: "zero",
  stopGradient: "zero",
  customGradient: customGradientVjp,
  softplus: ({ b, g, x, y }) => [b.mul(g, unaryDerivative(b, "softplus", x[0]!, y))],
  log1p: ({ b, g, x }) => [b.div(g, b.add(x[0]!, 1))],
  expm1: ({ b, g, y }) => [b.mul(g, b.add(y, 1))],
  silu: ({ b, g, x, y }) => [b.mul(g, unaryDerivative(b, "silu", x[0]!, y))],
  erf: ({ b, g, x, y }) => [b.mul(g, unaryDerivative(b, "erf", x[0]!, y))],
  gelu: ({ b, g, x, y }) => [b.mul(g, unaryDerivative(b, "gelu", x[0]!, y))],
  geluTanh: ({ b, g, x, y }) => [b.mul(g, unaryDerivative(b, "geluTanh", x[0]!, y))],
  leakyRelu: ({ b, g, x, needs }) =>
    kinkedPartials(b, "leakyRelu", x).map((d, k) => (needs[k] ? b.mul(g, d) : null)),
  elu: ({ b, g, x, needs }) => kinkedPartials(b, "elu", x).map((d, k) => (needs[k] ? b.mul(g, d) : null)),
  clip: ({ b, g, x, needs }) => kinkedPartials(b, "clip", x).map((d, k) => (needs[k] ? b.mul(g, d) : null)),
  oneHot: "zero",
  argmax: "zero",
  // repeated indices accumulate in the scatter; the indices get no gradient
  gather: ({ b, g, x, attrs, needs }) => [
    needs[0] ? b.scatterAdd(x[1]!, g, attrs.axis, x[0]!.shape) : null,
    null,
  ],
  scatterAdd: ({ b, g, x, attrs, needs }) => [null, needs[1] ? b.gather(g, x[0]!, attrs.axis) : null],
  // y = xhat * gamma + beta: dx = rstd (g gamma - mean(g gamma) - xhat mean(g gamma xhat)), one fused
  // kernel; the gamma and beta gradients have y's shape and the walker sums them over the other axes
  layerNorm: ({ b, g, x, attrs, needs }) => [
    needs[0] ? b.op("layerNormBackward", [x[0]!, b.mul(g, x[1]!)], attrs) : null,
    needs[1] ? b.mul(g, layerNormXhat(b, x[0]!, attrs)) : null,
    needs[2] ? g : null,
  ],
  // linear in d with a symmetric Jacobian: its own adjoint in d
  layerNormBackward: ({ b, g, x, y, attrs, needs }) => [
    needs[0] ? layerNormBackwardInX(b, "vjp", x[0]!, x[1]!, y, g, attrs) : null,
    needs[1] ? b.op("layerNormBackward", [x[0]!, g], attrs) : null,
  ],
};

/**
 * The VJP entry of op `op`: the built-in table's for a built-in op, a registered user op's own
 * rule (or `"zero"`), or `undefined` when the op has none (a user op defined without `vjp`, or a
 * name that is neither built in nor registered). `grad` turns `undefined` into an error naming
 * the node.
 */
export function vjpRuleOf<K extends AnyOpName>(op: K): VjpRule<K> | undefined {
  if (isOpName(op)) return VJP[op] as VjpRule<K>;
  return (customOpDef(op)?.vjp ?? undefined) as VjpRule<K> | undefined;
}
