/**
 * Emitters for the ops with a direct ONNX counterpart: sources, elementwise arithmetic and
 * comparisons, shape ops, reductions, softmax, matmul.
 * @module
 */
import type { GraphNode, OpName } from "@gradgraph/core";
import { TensorProto_DataType } from "../../gen/onnx_pb.js";
import { type ExportContext, SLICE_TO_END } from "../context.js";
import type { Emitter, Emitters } from "./types.js";

const unary =
  (opType: string): Emitter<OpName> =>
  (ctx, _node, x) =>
    ctx.op(opType, [x[0]!]);

const binary =
  (opType: string): Emitter<OpName> =>
  (ctx, _node, x) =>
    ctx.op(opType, [x[0]!, x[1]!]);

/** ONNX comparisons give booleans; gradgraph's give 0/1 in the operands' dtype. */
const comparison =
  (opType: string): Emitter<OpName> =>
  (ctx, node, x) =>
    ctx.toFloat(ctx.op(opType, [x[0]!, x[1]!]), node.dtype);

/** Transposes the last two axes of a rank-`rank` value. */
function swapLast(ctx: ExportContext, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return ctx.op("Transpose", [x], { perm });
}

/** A reduction: `axes` is an input since opset 18; an empty axis list reduces nothing. */
function reduce(opType: string): Emitter<"sum" | "mean" | "max" | "logSumExp"> {
  return (ctx, node, x) => {
    const { axes, keepdims } = node.attrs;
    if (axes !== null && axes.length === 0) return ctx.op("Identity", [x[0]!]);
    const inputs = axes === null ? [x[0]!] : [x[0]!, ctx.int64(axes)];
    return ctx.op(opType, inputs, { keepdims: keepdims ? 1 : 0 });
  };
}

type BasicOp =
  | "input"
  | "param"
  | "constant"
  | "fill"
  | "neg"
  | "exp"
  | "log"
  | "tanh"
  | "sigmoid"
  | "relu"
  | "square"
  | "sqrt"
  | "abs"
  | "sign"
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "pow"
  | "maximum"
  | "minimum"
  | "greater"
  | "greaterEqual"
  | "less"
  | "lessEqual"
  | "equal"
  | "where"
  | "matmul"
  | "transpose"
  | "reshape"
  | "broadcastTo"
  | "concat"
  | "slice"
  | "pad"
  | "sum"
  | "mean"
  | "max"
  | "softmax"
  | "logSoftmax"
  | "logSumExp"
  | "stopGradient"
  | "customGradient"
  | "argmax";

/** The export loop binds sources itself (graph inputs and initializers keep their gradgraph names). */
function sourceBoundByLoop(_ctx: ExportContext, node: GraphNode): string {
  throw new Error(`internal: source node #${node.id} reached its emitter`);
}

/** Emitters of the ops with a direct ONNX counterpart. */
export const BASIC_EMITTERS: Emitters<BasicOp> = {
  input: sourceBoundByLoop,
  param: sourceBoundByLoop,
  constant: (ctx, node) => ctx.float(node.attrs.values, node.attrs.dtype, node.attrs.shape),
  fill: (ctx, node) =>
    ctx.op("ConstantOfShape", [ctx.shape(node.shape)], {
      value: { tensor: ctx.constantTensor([node.attrs.value], node.attrs.dtype) },
    }),
  neg: unary("Neg"),
  exp: unary("Exp"),
  log: unary("Log"),
  tanh: unary("Tanh"),
  // ONNX Runtime's float32 Sigmoid is accurate only in absolute terms (6.5 relative error at x = −18,
  // measured); gradgraph's own formula 1 / (1 + e^−x) keeps float32 outputs accurate relatively
  sigmoid: (ctx, node, x) => {
    if (node.dtype === "float64") return ctx.op("Sigmoid", [x[0]!]);
    const one = ctx.scalar(1, node.dtype);
    return ctx.op("Div", [one, ctx.op("Add", [one, ctx.op("Exp", [ctx.op("Neg", [x[0]!])])])]);
  },
  relu: unary("Relu"),
  square: (ctx, _node, x) => ctx.op("Mul", [x[0]!, x[0]!]),
  sqrt: unary("Sqrt"),
  abs: unary("Abs"),
  sign: unary("Sign"),
  add: binary("Add"),
  sub: binary("Sub"),
  mul: binary("Mul"),
  div: binary("Div"),
  pow: binary("Pow"),
  maximum: binary("Max"),
  minimum: binary("Min"),
  greater: comparison("Greater"),
  greaterEqual: comparison("GreaterOrEqual"),
  less: comparison("Less"),
  lessEqual: comparison("LessOrEqual"),
  equal: comparison("Equal"),
  // gradgraph's condition is "not zero" (NaN counts as true); Cast to BOOL has the same rule.
  where: (ctx, _node, x) => ctx.op("Where", [ctx.cast(x[0]!, TensorProto_DataType.BOOL), x[1]!, x[2]!]),
  matmul: (ctx, node, x) => {
    const [a, b] = [ctx.node(node.inputs[0]!), ctx.node(node.inputs[1]!)];
    const A = node.attrs.transA ? swapLast(ctx, x[0]!, a.shape.length) : x[0]!;
    const B = node.attrs.transB ? swapLast(ctx, x[1]!, b.shape.length) : x[1]!;
    return ctx.op("MatMul", [A, B]);
  },
  transpose: (ctx, node, x) =>
    node.attrs.perm === null
      ? ctx.op("Transpose", [x[0]!])
      : ctx.op("Transpose", [x[0]!], { perm: node.attrs.perm }),
  reshape: (ctx, node, x) => ctx.op("Reshape", [x[0]!, ctx.shape(node.shape)], allowZero(node.shape)),
  broadcastTo: (ctx, node, x) => ctx.op("Expand", [x[0]!, ctx.shape(node.shape)]),
  concat: (ctx, node, x) => ctx.op("Concat", x, { axis: node.attrs.axis }),
  slice: (ctx, node, x) => {
    const { begin, end } = node.attrs;
    const rank = node.shape.length;
    const axes: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    for (let a = 0; a < rank; a++) {
      const s = begin[a] ?? 0;
      const e = end[a] ?? null;
      if (s === 0 && e === null) continue;
      axes.push(a);
      starts.push(s);
      ends.push(e ?? SLICE_TO_END);
    }
    if (axes.length === 0) return ctx.op("Identity", [x[0]!]);
    return ctx.op("Slice", [x[0]!, ctx.int64(starts), ctx.int64(ends), ctx.int64(axes)]);
  },
  pad: (ctx, node, x) => {
    const rank = node.shape.length;
    const before = Array.from({ length: rank }, (_, a) => node.attrs.before[a] ?? 0);
    const after = Array.from({ length: rank }, (_, a) => node.attrs.after[a] ?? 0);
    if ([...before, ...after].every((p) => p === 0)) return ctx.op("Identity", [x[0]!]);
    return ctx.op("Pad", [x[0]!, ctx.int64([...before, ...after])]);
  },
  sum: reduce("ReduceSum"),
  mean: reduce("ReduceMean"),
  max: reduce("ReduceMax"),
  logSumExp: reduce("ReduceLogSumExp"),
  softmax: (ctx, node, x) => ctx.op("Softmax", [x[0]!], { axis: node.attrs.axis }),
  logSoftmax: (ctx, node, x) => ctx.op("LogSoftmax", [x[0]!], { axis: node.attrs.axis }),
  stopGradient: unary("Identity"),
  // The forward value of a customGradient node is its first input; its rules only matter to `grad`.
  customGradient: (ctx, _node, x) => ctx.op("Identity", [x[0]!]),
  argmax: (ctx, node, x) =>
    ctx.toFloat(
      ctx.op("ArgMax", [x[0]!], { axis: node.attrs.axis, keepdims: node.attrs.keepdims ? 1 : 0 }),
      node.dtype,
    ),
};

/** Reshape reads a 0 in its target as "copy the input's dim" unless `allowzero` is set. */
function allowZero(shape: GraphNode["shape"]): Record<string, number> {
  return shape.includes(0) ? { allowzero: 1 } : {};
}
