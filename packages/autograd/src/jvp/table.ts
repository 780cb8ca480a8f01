/**
 * The JVP table: each op's directional derivative, written with builder ops so tangents can be
 * differentiated again (forward-over-reverse, reverse-over-forward). A rule sees the tangent of
 * each input (`null` when it is zero) and returns the output's tangent; broadcasting of that
 * result to the output's shape is done centrally by the walker, not here.
 *
 * Conventions at kinks and ties match the VJP table, so that `<J v, u> = <v, J^T u>` holds
 * exactly everywhere: `relu'(0) = 0`, `abs'(0) = sign(0) = 0`, `maximum` gives ties to its first
 * argument (`minimum` likewise), and `max` shares a tie equally among the tied elements. The
 * parametric activations take the flat (or left) side at their kink too: `leakyRelu'(0) = slope`,
 * `elu'(0) = alpha`, and `clip'` is 0 at both bounds (1 only strictly inside).
 * @module
 */
import type { CustomAttrs, Dim, GraphBuilder, JvpRuleFn, OpName, Shape, Value } from "@gradgraph/core";
import { customGradientJvp, customOpDef, isConcrete, isOpName } from "@gradgraph/core";
import { kinkedPartials, layerNormBackwardInX, layerNormXhat, unaryDerivative } from "../vjp/table.js";
import type { JvpRule, JvpTable } from "./types.js";

function normAxes(axes: readonly number[] | null, rank: number): number[] {
  if (axes === null) return Array.from({ length: rank }, (_, i) => i);
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
}

/** Shape of x with `axes` set to 1 (the keepdims form of a reduction's output). */
function keptShape(shape: Shape, axes: readonly number[]): Dim[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** A reduction's output `y`, reshaped so that it broadcasts against the input `x`. */
function keptForm(b: GraphBuilder, y: Value, x: Value, axes: readonly number[], keepdims: boolean): Value {
  return keepdims ? y : b.reshape(y, keptShape(x.shape, axes));
}

/** Zeros of `v`'s shape (a folded constant when the shape is concrete). */
function zerosLike(b: GraphBuilder, v: Value): Value {
  return isConcrete(v.shape) ? b.fill(0, v.shape, v.dtype) : b.where(0, v, 0);
}

/** `p + q` where `null` stands for zero. */
function plus(b: GraphBuilder, p: Value | null, q: Value | null): Value | null {
  if (!p) return q;
  if (!q) return p;
  return b.add(p, q);
}

/** `Σ_k partials[k] · t[k]` over the inputs with a tangent. */
function sumOfPartials(
  b: GraphBuilder,
  partials: readonly Value[],
  t: readonly (Value | null)[],
): Value | null {
  let acc: Value | null = null;
  partials.forEach((d, k) => {
    const tk = t[k];
    if (tk) acc = plus(b, acc, b.mul(tk, d));
  });
  return acc;
}

/** The JVP rule of every op, keyed by op name. */
export const JVP: JvpTable = {
  input: "leaf",
  param: "leaf",
  constant: "leaf",
  fill: "leaf",
  neg: ({ b, t }) => b.neg(t[0]!),
  exp: ({ b, t, y }) => b.mul(t[0]!, y),
  log: ({ b, t, x }) => b.div(t[0]!, x[0]!),
  tanh: ({ b, t, y }) => b.mul(t[0]!, b.sub(1, b.square(y))),
  sigmoid: ({ b, t, y }) => b.mul(t[0]!, b.mul(y, b.sub(1, y))),
  relu: ({ b, t, x }) => b.mul(t[0]!, b.greater(x[0]!, 0)),
  square: ({ b, t, x }) => b.mul(t[0]!, b.mul(x[0]!, 2)),
  sqrt: ({ b, t, y }) => b.div(b.mul(t[0]!, 0.5), y),
  abs: ({ b, t, x }) => b.mul(t[0]!, b.sign(x[0]!)),
  sign: "zero",
  add: ({ b, t }) => plus(b, t[0] ?? null, t[1] ?? null),
  sub: ({ b, t }) => {
    const [ta, tb] = [t[0] ?? null, t[1] ?? null];
    if (!tb) return ta;
    return ta ? b.sub(ta, tb) : b.neg(tb);
  },
  mul: ({ b, t, x }) => plus(b, t[0] ? b.mul(t[0], x[1]!) : null, t[1] ? b.mul(x[0]!, t[1]) : null),
  // d(a / b) = (da - y db) / b
  div: ({ b, t, x, y }) => {
    const [ta, tb] = [t[0] ?? null, t[1] ?? null];
    const num = tb ? (ta ? b.sub(ta, b.mul(y, tb)) : b.neg(b.mul(y, tb))) : ta!;
    return b.div(num, x[1]!);
  },
  // d(a^b) = b a^(b-1) da + a^b log(a) db (log(a) only when b varies, as in the VJP)
  pow: ({ b, t, x, y }) =>
    plus(
      b,
      t[0] ? b.mul(t[0], b.mul(x[1]!, b.pow(x[0]!, b.sub(x[1]!, 1)))) : null,
      t[1] ? b.mul(t[1], b.mul(y, b.log(x[0]!))) : null,
    ),
  // ties go to the first argument, as in the VJP
  maximum: ({ b, t, x }) => b.where(b.greaterEqual(x[0]!, x[1]!), t[0] ?? 0, t[1] ?? 0),
  minimum: ({ b, t, x }) => b.where(b.lessEqual(x[0]!, x[1]!), t[0] ?? 0, t[1] ?? 0),
  greater: "zero",
  greaterEqual: "zero",
  less: "zero",
  lessEqual: "zero",
  equal: "zero",
  // the condition's tangent does not matter
  where: ({ b, t, x }) => (t[1] || t[2] ? b.where(x[0]!, t[1] ?? 0, t[2] ?? 0) : null),
  matmul: ({ b, t, x, attrs }) =>
    plus(b, t[0] ? b.matmul(t[0], x[1]!, attrs) : null, t[1] ? b.matmul(x[0]!, t[1], attrs) : null),
  transpose: ({ b, t, attrs }) => b.transpose(t[0]!, attrs.perm ?? undefined),
  // y's shape, not the attribute: it may hold a -1
  reshape: ({ b, t, y }) => b.reshape(t[0]!, y.shape),
  broadcastTo: ({ b, t, y }) => b.broadcastTo(t[0]!, y.shape),
  concat: ({ b, t, x, attrs }) =>
    b.concat(
      x.map((xi, k) => t[k] ?? zerosLike(b, xi)),
      attrs.axis,
    ),
  slice: ({ b, t, attrs }) => b.slice(t[0]!, attrs.begin, attrs.end),
  pad: ({ b, t, attrs }) => b.pad(t[0]!, attrs.before, attrs.after),
  sum: ({ b, t, attrs }) => b.sum(t[0]!, attrs.axes, attrs.keepdims),
  mean: ({ b, t, attrs }) => b.mean(t[0]!, attrs.axes, attrs.keepdims),
  // the tangent of the maximum, shared equally among tied elements (the VJP's convention)
  max: ({ b, t, x, y, attrs }) => {
    const axes = normAxes(attrs.axes, x[0]!.rank);
    const mask = b.equal(x[0]!, keptForm(b, y, x[0]!, axes, attrs.keepdims));
    return b.div(b.sum(b.mul(t[0]!, mask), axes, attrs.keepdims), b.sum(mask, axes, attrs.keepdims));
  },
  // the softmax-weighted sum of the tangent
  logSumExp: ({ b, t, x, y, attrs }) => {
    const axes = normAxes(attrs.axes, x[0]!.rank);
    const w = b.exp(b.sub(x[0]!, keptForm(b, y, x[0]!, axes, attrs.keepdims)));
    return b.sum(b.mul(t[0]!, w), axes, attrs.keepdims);
  },
  softmax: ({ b, t, y, attrs }) => b.mul(y, b.sub(t[0]!, b.sum(b.mul(y, t[0]!), attrs.axis, true))),
  logSoftmax: ({ b, t, y, attrs }) => b.sub(t[0]!, b.sum(b.mul(b.exp(y), t[0]!), attrs.axis, true)),
  // bilinear ops: the tangent is the op applied to each tangent in turn
  conv2d: ({ b, t, x, attrs }) =>
    plus(
      b,
      t[0] ? b.op("conv2d", [t[0], x[1]!], attrs) : null,
      t[1] ? b.op("conv2d", [x[0]!, t[1]], attrs) : null,
    ),
  conv2dTranspose: ({ b, t, x, attrs }) =>
    plus(
      b,
      t[0] ? b.op("conv2dTranspose", [t[0], x[1]!], attrs) : null,
      t[1] ? b.op("conv2dTranspose", [x[0]!, t[1]], attrs) : null,
    ),
  conv2dBackpropFilter: ({ b, t, x, attrs }) =>
    plus(
      b,
      t[0] ? b.op("conv2dBackpropFilter", [t[0], x[1]!], attrs) : null,
      t[1] ? b.op("conv2dBackpropFilter", [x[0]!, t[1]], attrs) : null,
    ),
  // max pooling routes the tangent through the arg-max (x's own tangent moves no arg-max)
  maxPool2d: ({ b, t, x, attrs }) => b.op("maxPool2dGather", [x[0]!, t[0]!], attrs),
  maxPool2dBackprop: ({ b, t, x, attrs }) => (t[1] ? b.op("maxPool2dBackprop", [x[0]!, t[1]], attrs) : null),
  maxPool2dGather: ({ b, t, x, attrs }) => (t[1] ? b.op("maxPool2dGather", [x[0]!, t[1]], attrs) : null),
  avgPool2d: ({ b, t, attrs }) => b.op("avgPool2d", [t[0]!], attrs),
  avgPool2dBackprop: ({ b, t, attrs }) => b.op("avgPool2dBackprop", [t[0]!], attrs),
  randomUniform: "zero",
  stopGradient: "zero",
  customGradient: customGradientJvp,
  softplus: ({ b, t, x, y }) => b.mul(t[0]!, unaryDerivative(b, "softplus", x[0]!, y)),
  log1p: ({ b, t, x }) => b.div(t[0]!, b.add(x[0]!, 1)),
  expm1: ({ b, t, y }) => b.mul(t[0]!, b.add(y, 1)),
  silu: ({ b, t, x, y }) => b.mul(t[0]!, unaryDerivative(b, "silu", x[0]!, y)),
  erf: ({ b, t, x, y }) => b.mul(t[0]!, unaryDerivative(b, "erf", x[0]!, y)),
  gelu: ({ b, t, x, y }) => b.mul(t[0]!, unaryDerivative(b, "gelu", x[0]!, y)),
  geluTanh: ({ b, t, x, y }) => b.mul(t[0]!, unaryDerivative(b, "geluTanh", x[0]!, y)),
  leakyRelu: ({ b, t, x }) => sumOfPartials(b, kinkedPartials(b, "leakyRelu", x), t),
  elu: ({ b, t, x }) => sumOfPartials(b, kinkedPartials(b, "elu", x), t),
  clip: ({ b, t, x }) => sumOfPartials(b, kinkedPartials(b, "clip", x), t),
  oneHot: "zero",
  argmax: "zero",
  // linear in x (the indices' tangent is zero)
  gather: ({ b, t, x, attrs }) => (t[0] ? b.gather(t[0], x[1]!, attrs.axis) : null),
  scatterAdd: ({ b, t, x, attrs }) => (t[1] ? b.scatterAdd(x[0]!, t[1], attrs.axis, attrs.shape) : null),
  // d(xhat gamma + beta) = dxhat gamma + xhat dgamma + dbeta; dxhat = layerNormBackward(x, dx)
  // (the normalisation's Jacobian is symmetric)
  layerNorm: ({ b, t, x, attrs }) => {
    const [tx, tg, tb] = [t[0] ?? null, t[1] ?? null, t[2] ?? null];
    const dx = tx ? b.mul(b.op("layerNormBackward", [x[0]!, tx], attrs), x[1]!) : null;
    return plus(b, plus(b, dx, tg ? b.mul(layerNormXhat(b, x[0]!, attrs), tg) : null), tb);
  },
  layerNormBackward: ({ b, t, x, y, attrs }) =>
    plus(
      b,
      t[1] ? b.op("layerNormBackward", [x[0]!, t[1]], attrs) : null,
      t[0] ? layerNormBackwardInX(b, "jvp", x[0]!, x[1]!, y, t[0], attrs) : null,
    ),
};

/**
 * The JVP entry of `op`: the built-in table's (a rule, `"leaf"` or `"zero"`), or a user op's own
 * rule (or `"zero"`) registered with `defineOp`; `undefined` when a user op has none or the name
 * is neither built in nor registered.
 */
export function jvpRuleOf<K extends OpName>(op: K): JvpRule<K>;
export function jvpRuleOf(op: string): JvpRule<OpName> | JvpRuleFn<CustomAttrs> | "zero" | undefined;
export function jvpRuleOf(op: string): JvpRule<OpName> | JvpRuleFn<CustomAttrs> | "zero" | undefined {
  if (isOpName(op)) return JVP[op] as JvpRule<OpName>;
  return customOpDef(op)?.jvp ?? undefined;
}
