/**
 * The import table: for each supported ONNX op (default domain), how its node becomes gradgraph
 * nodes. Integer shape plumbing is folded at import time (see ./fold.ts), so `Shape` → `Concat`
 * → `Reshape` chains map back to gradgraph's symbolic shapes.
 * @module
 */
import { type Dim, type GraphNode, isConcrete, type Shape, shapeToString, type Value } from "@gradgraph/core";
import { TensorProto_DataType } from "../gen/onnx_pb.js";
import { castNumber, clampIndex, foldBinary, foldConcat, foldGather, foldSlice } from "./fold.js";
import { isFloatElem } from "./tensor.js";
import {
  countOf,
  type ImportValue,
  type Known,
  known,
  MAX_FOLD,
  type NodeContext,
  type PoolIndices,
  type Runtime,
} from "./values.js";

const D = TensorProto_DataType;

/** An input of a node: its imported value, or undefined when the node omits it. */
export type In = ImportValue | undefined;

/** Converts one ONNX node: returns its outputs' values in order (undefined for outputs it leaves unset). */
export type Converter = (ctx: NodeContext, x: readonly In[]) => In | readonly In[];

/** Largest int64 read as "to the end" in Slice on a symbolic axis. */
const INT32_MAX = 2 ** 31 - 1;

/** True when the Knowns are small enough to fold at import time. */
const small = (...xs: Known[]) => xs.every((x) => x.data.length <= MAX_FOLD);

const isKnownInt = (v: In): v is Known => v !== undefined && v.kind === "known" && !isFloatElem(v.elem);

const unary =
  (
    op: "neg" | "exp" | "log" | "tanh" | "sigmoid" | "relu" | "sqrt" | "abs" | "sign" | "erf" | "softplus",
  ): Converter =>
  (ctx, x) =>
    ctx.out(ctx.b.op(op, [ctx.float(x[0], "X")]));

function symArith(ctx: NodeContext, op: string, p: Dim, q: Dim): Dim {
  if (typeof p === "number" && typeof q === "number") {
    switch (op) {
      case "add":
        return p + q;
      case "sub":
        return p - q;
      case "mul":
        return p * q;
      default:
        if (q === 0) throw ctx.error("integer division by zero");
        return Math.trunc(p / q);
    }
  }
  if ((op === "add" || op === "sub") && q === 0) return p;
  if (op === "add" && p === 0) return q;
  if ((op === "mul" || op === "div") && q === 1) return p;
  if (op === "mul" && p === 1) return q;
  throw ctx.error(
    `shape arithmetic ${String(p)} ${op} ${String(q)} on a symbolic dim cannot be written as a gradgraph shape`,
  );
}

const arith =
  (op: "add" | "sub" | "mul" | "div"): Converter =>
  (ctx, x) => {
    const [a, b] = [x[0], x[1]];
    if (isKnownInt(a) && isKnownInt(b) && small(a, b)) {
      const r = foldBinary(a, b, a.elem, (p, q) => symArith(ctx, op, p, q));
      if (r === null)
        throw ctx.error(`dims [${a.dims.join(", ")}] and [${b.dims.join(", ")}] do not broadcast`);
      return r;
    }
    const elem = a?.kind === "rt" ? a.elem : b?.kind === "rt" ? b.elem : (a?.elem ?? D.FLOAT);
    if (op === "div" && !isFloatElem(elem))
      throw ctx.error("integer Div computed at run time is not supported (only float division)");
    return ctx.out(
      ctx.b.op(op, [ctx.float(a, "A"), ctx.float(b, "B")]),
      isFloatElem(elem) ? undefined : elem,
    );
  };

const variadic =
  (op: "add" | "maximum" | "minimum", mean = false): Converter =>
  (ctx, x) => {
    const vs = x.map((v, i) => ctx.float(v, `#${i}`));
    if (vs.length === 0) throw ctx.error("needs at least one input");
    let acc = vs[0]!;
    for (const v of vs.slice(1)) acc = ctx.b.op(op, [acc, v]);
    if (mean && vs.length > 1) acc = ctx.b.div(acc, vs.length);
    return ctx.out(acc);
  };

const compare =
  (
    op: "greater" | "greaterEqual" | "less" | "lessEqual" | "equal",
    f: (p: number, q: number) => boolean,
  ): Converter =>
  (ctx, x) => {
    const [a, b] = [x[0], x[1]];
    if (isKnownInt(a) && isKnownInt(b) && small(a, b)) {
      const r = foldBinary(a, b, D.BOOL, (p, q) => {
        if (typeof p === "string" || typeof q === "string") {
          if (op === "equal" && p === q) return 1;
          throw ctx.error(`comparing the symbolic dim '${typeof p === "string" ? p : q}' at import time`);
        }
        return f(p, q) ? 1 : 0;
      });
      if (r !== null) return r;
    }
    return {
      kind: "rt",
      v: ctx.b.op(op, [ctx.float(a, "A"), ctx.float(b, "B")]),
      elem: D.BOOL,
      exact01: true,
    };
  };

/** The "not zero" view of a BOOL input (no normalisation needed where gradgraph tests "not zero"). */
function truthy(ctx: NodeContext, c: In): Value {
  if (c === undefined) throw ctx.error("condition input is missing");
  return c.kind === "rt" && !c.flat ? c.v : ctx.rt(c);
}

/** The axes of a Reduce/Squeeze/Unsqueeze node: the attribute (older opsets) or input 1. */
function axesOf(ctx: NodeContext, x: readonly In[], inputSince: number): number[] | null {
  if (ctx.opset >= inputSince) {
    if (ctx.has("axes")) throw ctx.error(`'axes' is an input since opset ${inputSince}, not an attribute`);
    return x[1] === undefined ? null : ctx.knownInts(x[1], "axes");
  }
  return ctx.ints("axes") ?? null;
}

const reduce =
  (op: "sum" | "mean" | "max" | "logSumExp" | "min" | "sumSquare", inputSince: number): Converter =>
  (ctx, x) => {
    const v = ctx.float(x[0], "data");
    const keep = ctx.int("keepdims", 1) !== 0;
    const noop = ctx.int("noop_with_empty_axes", 0) !== 0;
    let axes = axesOf(ctx, x, inputSince);
    if (axes !== null && axes.length === 0) axes = null;
    if (axes === null && noop) return ctx.out(v);
    const ax = axes?.map((a) => ctx.axis(a, v.rank, "axes entry")) ?? null;
    if (op === "min") return ctx.out(ctx.b.neg(ctx.b.max(ctx.b.neg(v), ax, keep)));
    if (op === "sumSquare") return ctx.out(ctx.b.sum(ctx.b.square(v), ax, keep));
    return ctx.out(ctx.b.op(op, [v], { axes: ax, keepdims: keep }));
  };

const softmaxLike =
  (op: "softmax" | "logSoftmax"): Converter =>
  (ctx, x) => {
    const v = ctx.float(x[0], "input");
    const axis = ctx.axis(ctx.int("axis", ctx.opset >= 13 ? -1 : 1), v.rank);
    // before opset 13 the input was coerced to 2-D at `axis`: the same as per-axis only on the last axis
    if (ctx.opset < 13 && axis !== v.rank - 1)
      throw ctx.error(
        `opset ${ctx.opset} ${ctx.node.opType} flattens the axes from ${axis} on (a ${v.rank}-D input), which gradgraph's per-axis ${op} does not do; only the last axis is supported before opset 13`,
      );
    return ctx.out(ctx.b.op(op, [v], { axis }));
  };

/** Resolves an ONNX Reshape target (0 copies the input's dim unless `allowzero`, one -1 inferred). */
function reshapeTarget(ctx: NodeContext, shape: Shape, target: readonly Dim[], allowzero: boolean): Dim[] {
  const out: Dim[] = target.map((d, i) => {
    if (d === 0 && !allowzero) {
      if (i >= shape.length)
        throw ctx.error(`target dim ${i} is 0 (copy) but the input has rank ${shape.length}`);
      return shape[i]!;
    }
    if (typeof d === "number" && (!Number.isInteger(d) || d < -1))
      throw ctx.error(`invalid target dim ${d} in [${target.join(", ")}]`);
    return d;
  });
  const k = out.indexOf(-1);
  if (k !== out.lastIndexOf(-1)) throw ctx.error(`more than one -1 in the target [${target.join(", ")}]`);
  if (k < 0) return out;
  const num = (s: readonly Dim[]) =>
    s.reduce<number>((a, d) => (typeof d === "number" && d !== -1 ? a * d : a), 1);
  const rest = [...shape.filter((d): d is string => typeof d === "string")];
  for (const d of out) {
    if (typeof d !== "string") continue;
    const j = rest.indexOf(d);
    if (j < 0)
      throw ctx.error(
        `cannot reshape ${shapeToString(shape)} into [${target.join(", ")}] (symbolic dims differ)`,
      );
    rest.splice(j, 1);
  }
  const [px, pt] = [num(shape), num(out)];
  if (rest.length === 0 && pt !== 0 && px % pt === 0) out[k] = px / pt;
  else if (rest.length === 1 && px === pt) out[k] = rest[0]!;
  else
    throw ctx.error(
      `cannot infer the -1 of [${target.join(", ")}] from ${shapeToString(shape)} as a gradgraph shape`,
    );
  return out;
}

/** ONNX's bidirectional broadcast of `shape` with `target` (Expand). */
function expandShape(ctx: NodeContext, shape: Shape, target: readonly Dim[]): Dim[] {
  const r = Math.max(shape.length, target.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const a = shape[i - (r - shape.length)] ?? 1;
    const t = target[i - (r - target.length)] ?? 1;
    if (t === 1 || t === a) out.push(a);
    else if (a === 1) out.push(t);
    else throw ctx.error(`cannot expand ${shapeToString(shape)} to [${target.join(", ")}]`);
  }
  return out;
}

/** ONNX spatial pads `[x1_begin, x2_begin, x1_end, x2_end]` as gradgraph's `[top, bottom, left, right]`. */
function convPads(
  ctx: NodeContext,
  inHW: readonly Dim[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
): [number, number, number, number] {
  const autoPad = ctx.string("auto_pad", "NOTSET");
  if (autoPad === "NOTSET") {
    const p = ctx.ints("pads") ?? [0, 0, 0, 0];
    if (p.length !== 4) throw ctx.error(`'pads' has ${p.length} entries, expected 4 for 2-D`);
    if (p.some((v) => v < 0)) throw ctx.error(`negative pads [${p.join(", ")}] are not supported`);
    return [p[0]!, p[2]!, p[1]!, p[3]!];
  }
  if (autoPad === "VALID") return [0, 0, 0, 0];
  if (autoPad !== "SAME_UPPER" && autoPad !== "SAME_LOWER") throw ctx.error(`unknown auto_pad '${autoPad}'`);
  const pads: number[] = [];
  for (let i = 0; i < 2; i++) {
    const n = inHW[i];
    if (typeof n !== "number") throw ctx.error(`auto_pad ${autoPad} needs concrete spatial dims`);
    const out = Math.ceil(n / strides[i]!);
    const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - n);
    const small = Math.floor(total / 2);
    pads.push(
      autoPad === "SAME_UPPER" ? small : total - small,
      autoPad === "SAME_UPPER" ? total - small : small,
    );
  }
  return [pads[0]!, pads[1]!, pads[2]!, pads[3]!];
}

function pair(ctx: NodeContext, name: string, dflt: number): [number, number] {
  const v = ctx.ints(name) ?? [dflt, dflt];
  if (v.length !== 2) throw ctx.error(`'${name}' has ${v.length} entries; only 2-D (NCHW) is supported`);
  if (v.some((d) => !(d >= 1))) throw ctx.error(`'${name}' [${v.join(", ")}] must be positive`);
  return [v[0]!, v[1]!];
}

function image(ctx: NodeContext, x: In, what: string): Value {
  const v = ctx.float(x, what);
  if (v.rank !== 4)
    throw ctx.error(
      `only 2-D convolution and pooling (NCHW rank-4 input) are supported, got ${shapeToString(v.shape)}`,
    );
  return v;
}

function weightHW(ctx: NodeContext, w: Value): [number, number] {
  if (w.rank !== 4) throw ctx.error(`weights must be rank 4, got ${shapeToString(w.shape)}`);
  const k: [number, number] = [
    ctx.concrete(w.shape, 2, "the kernel"),
    ctx.concrete(w.shape, 3, "the kernel"),
  ];
  const ks = ctx.ints("kernel_shape");
  if (ks && (ks.length !== 2 || ks[0] !== k[0] || ks[1] !== k[1]))
    throw ctx.error(`kernel_shape [${ks.join(", ")}] does not match the weights ${shapeToString(w.shape)}`);
  return k;
}

/** Adds a per-channel bias `[C]` to an NCHW value. */
function channelBias(ctx: NodeContext, y: Value, bias: In): Value {
  if (bias === undefined) return y;
  const bv = ctx.float(bias, "B");
  return ctx.b.add(y, ctx.b.reshape(bv, [...bv.shape, 1, 1]));
}

const pool =
  (op: "maxPool2d" | "avgPool2d"): Converter =>
  (ctx, x) => {
    const v = image(ctx, x[0], "X");
    const ks = ctx.ints("kernel_shape");
    if (ks?.length !== 2) throw ctx.error("kernel_shape must list 2 sizes (2-D pooling)");
    const kernel: [number, number] = [ks[0]!, ks[1]!];
    const strides = pair(ctx, "strides", 1);
    const dil = pair(ctx, "dilations", 1);
    if (dil[0] !== 1 || dil[1] !== 1)
      throw ctx.error(`dilations [${dil.join(", ")}] are not supported in pooling`);
    const padding = convPads(ctx, v.shape.slice(2), kernel, strides, [1, 1]);
    if (op === "avgPool2d" && ctx.int("count_include_pad", 0) !== 0 && padding.some((p) => p > 0))
      throw ctx.error(
        "count_include_pad=1 with padding is not supported (gradgraph's average excludes padded pixels)",
      );
    if (ctx.int("ceil_mode", 0) !== 0) {
      for (let i = 0; i < 2; i++) {
        const n = ctx.concrete(v.shape, 2 + i, "ceil_mode");
        const span = n + padding[2 * i]! + padding[2 * i + 1]! - kernel[i]!;
        const floor = Math.floor(span / strides[i]!) + 1;
        let ceil = Math.ceil(span / strides[i]!) + 1;
        if ((ceil - 1) * strides[i]! >= n + padding[2 * i]!) ceil--;
        if (ceil !== floor)
          throw ctx.error(
            `ceil_mode=1 gives ${ceil} windows on axis ${2 + i} where gradgraph's pooling gives ${floor}; not supported`,
          );
      }
    }
    return ctx.out(ctx.b.op(op, [v], { kernelSize: kernel, strides, padding }));
  };

const globalPool =
  (op: "mean" | "max"): Converter =>
  (ctx, x) => {
    const v = ctx.float(x[0], "X");
    if (v.rank < 3) throw ctx.error(`expects [N, C, spatial...], got ${shapeToString(v.shape)}`);
    const axes = Array.from({ length: v.rank - 2 }, (_, i) => i + 2);
    return ctx.out(ctx.b.op(op, [v], { axes, keepdims: true }));
  };

/** Indices as a gradgraph value along an axis of size `n` (known negative indices wrap). */
function indexValue(ctx: NodeContext, idx: In, n: Dim): Value {
  if (idx === undefined) throw ctx.error("indices are missing");
  if (idx.kind === "known") {
    const vals = ctx.knownInts(idx, "indices").map((j) => {
      if (j < 0 && typeof n === "number") return j + n;
      return j;
    });
    return ctx.rt(known(idx.elem, idx.dims, vals));
  }
  return ctx.rt(idx);
}

/** The 1-D indices along `axis` of a ScatterElements whose indices vary only along that axis. */
function scatterIndices(ctx: NodeContext, idx: In, axis: number, rank: number, n: Dim): Value {
  if (idx === undefined) throw ctx.error("indices are missing");
  const notAlongAxis = () =>
    ctx.error(
      "only indices constant along every axis but 'axis' are supported (as gradgraph's scatterAdd and its ONNX export write them)",
    );
  if (idx.kind === "known") {
    const vals = ctx.knownInts(idx, "indices");
    const dims = idx.dims;
    const k = dims[axis]!;
    const inner = countOf(dims.slice(axis + 1));
    const line = Array.from({ length: k }, (_, j) => vals[j * inner]!);
    for (let p = 0; p < vals.length; p++)
      if (vals[p] !== line[Math.floor(p / inner) % k]) throw notAlongAxis();
    return indexValue(ctx, known(idx.elem, [k], line), n);
  }
  if (idx.kind === "poolIndices" || idx.flat) throw notAlongAxis();
  const src = idx.expandedFrom ?? idx.v;
  const s = src.shape;
  const off = rank - s.length;
  if (off < 0 || s.some((d, i) => i + off !== axis && d !== 1)) throw notAlongAxis();
  const k = s[axis - off] ?? 1;
  return ctx.b.reshape(src, [k]);
}

function unsqueezeShape(ctx: NodeContext, shape: readonly Dim[], axes: readonly number[]): Dim[] {
  const r = shape.length + axes.length;
  const ax = axes.map((a) => ctx.axis(a, r, "axes entry"));
  if (new Set(ax).size !== ax.length) throw ctx.error(`repeated axes [${axes.join(", ")}]`);
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < r; i++) out.push(ax.includes(i) ? 1 : shape[j++]!);
  return out;
}

function squeezeShape(ctx: NodeContext, shape: readonly Dim[], axes: readonly number[] | null): Dim[] {
  if (axes === null) {
    const sym = shape.find((d) => typeof d === "string");
    if (sym !== undefined) throw ctx.error(`Squeeze without axes on a shape with the symbolic dim '${sym}'`);
    return shape.filter((d) => d !== 1);
  }
  const ax = axes.map((a) => ctx.axis(a, shape.length, "axes entry"));
  for (const a of ax)
    if (shape[a] !== 1) throw ctx.error(`cannot squeeze axis ${a} of size ${String(shape[a])}`);
  return shape.filter((_, i) => !ax.includes(i));
}

/** A 1-D (flattened) input as the gradgraph value of `shape` it flattens. */
function unflatten(ctx: NodeContext, a: In, shape: Shape, what: string): Value {
  if (a === undefined) throw ctx.error(`input '${what}' is missing`);
  if (a.kind === "rt" && a.flat) {
    if (shapeToString(a.v.shape) !== shapeToString(shape))
      throw ctx.error(
        `input '${what}' flattens ${shapeToString(a.v.shape)}, expected ${shapeToString(shape)}`,
      );
    return a.v;
  }
  const v = ctx.rt(a);
  if (v.rank !== 1) throw ctx.error(`input '${what}' must be 1-D (flattened), got ${shapeToString(v.shape)}`);
  return ctx.b.reshape(v, [...shape]);
}

/** Reshapes a run-time or known value (known values keep their entries). */
function reshapeAny(ctx: NodeContext, x: ImportValue, shape: Dim[]): ImportValue {
  if (x.kind === "known") {
    if (shape.some((d) => typeof d === "string")) return ctx.out(ctx.b.reshape(ctx.rt(x), shape), x.elem);
    return known(x.elem, shape as number[], x.data);
  }
  if (x.kind === "poolIndices") throw ctx.error("MaxPool Indices can only be flattened ([-1])");
  return { ...x, v: ctx.b.reshape(ctx.rt(x), shape), expandedFrom: undefined } as Runtime;
}

const castTargets = new Set<number>([D.FLOAT, D.DOUBLE, D.BOOL, D.INT64, D.INT32]);

/** Every supported ONNX op of the default domain. */
export const CONVERTERS: Readonly<Record<string, Converter>> = {
  Identity: (_ctx, x) => x[0],
  Dropout: (ctx, x) => {
    const train = x[2];
    if (train !== undefined && (train.kind !== "known" || train.data.some((d) => d !== 0)))
      throw ctx.error("training_mode must be a constant false (inference Dropout is the identity)");
    const v = x[0];
    if (v === undefined) throw ctx.error("input 'data' is missing");
    const mask = ctx.node.output[1]
      ? ({ kind: "rt", v: ctx.b.fill(1, ctx.shapeOf(v)), elem: D.BOOL, exact01: true } as Runtime)
      : undefined;
    return [v, mask];
  },
  Relu: unary("relu"),
  Sigmoid: unary("sigmoid"),
  Tanh: unary("tanh"),
  Exp: unary("exp"),
  Log: unary("log"),
  Sqrt: unary("sqrt"),
  Abs: unary("abs"),
  Neg: (ctx, x) => {
    const a = x[0];
    if (isKnownInt(a))
      return known(
        a.elem,
        a.dims,
        a.data.map((d) => (typeof d === "number" ? -d : symArith(ctx, "mul", -1, d))),
      );
    return ctx.out(ctx.b.neg(ctx.float(a, "X")), a?.kind === "rt" ? a.elem : undefined);
  },
  Sign: unary("sign"),
  Erf: unary("erf"),
  Softplus: unary("softplus"),
  Reciprocal: (ctx, x) => ctx.out(ctx.b.div(1, ctx.float(x[0], "X"))),
  Gelu: (ctx, x) => {
    const approx = ctx.string("approximate", "none");
    if (approx !== "none" && approx !== "tanh") throw ctx.error(`unknown approximate '${approx}'`);
    return ctx.out(ctx.b.op(approx === "tanh" ? "geluTanh" : "gelu", [ctx.float(x[0], "X")]));
  },
  LeakyRelu: (ctx, x) => ctx.out(ctx.b.leakyRelu(ctx.float(x[0], "X"), ctx.floatAttr("alpha", 0.01))),
  Elu: (ctx, x) => ctx.out(ctx.b.elu(ctx.float(x[0], "X"), ctx.floatAttr("alpha", 1))),
  HardSigmoid: (ctx, x) => {
    const v = ctx.float(x[0], "X");
    const lin = ctx.b.add(ctx.b.mul(v, ctx.floatAttr("alpha", 0.2)), ctx.floatAttr("beta", 0.5));
    return ctx.out(ctx.b.clip(lin, 0, 1));
  },
  HardSwish: (ctx, x) => {
    const v = ctx.float(x[0], "X");
    return ctx.out(ctx.b.mul(v, ctx.b.clip(ctx.b.add(ctx.b.mul(v, 1 / 6), 0.5), 0, 1)));
  },
  PRelu: (ctx, x) => ctx.out(ctx.b.leakyRelu(ctx.float(x[0], "X"), ctx.float(x[1], "slope"))),
  Clip: (ctx, x) => {
    const v = ctx.float(x[0], "input");
    // bounds are inputs since opset 11 (the oldest the importer reads)
    const lo = x[1] === undefined ? Number.NEGATIVE_INFINITY : ctx.float(x[1], "min");
    const hi = x[2] === undefined ? Number.POSITIVE_INFINITY : ctx.float(x[2], "max");
    return ctx.out(ctx.b.clip(v, lo, hi));
  },
  Add: arith("add"),
  Sub: arith("sub"),
  Mul: arith("mul"),
  Div: arith("div"),
  Pow: (ctx, x) => ctx.out(ctx.b.pow(ctx.float(x[0], "X"), ctx.float(x[1], "Y"))),
  Max: variadic("maximum"),
  Min: variadic("minimum"),
  Sum: variadic("add"),
  Mean: variadic("add", true),
  Greater: compare("greater", (p, q) => p > q),
  GreaterOrEqual: compare("greaterEqual", (p, q) => p >= q),
  Less: compare("less", (p, q) => p < q),
  LessOrEqual: compare("lessEqual", (p, q) => p <= q),
  Equal: compare("equal", (p, q) => p === q),
  Not: (ctx, x) => {
    const a = x[0];
    if (isKnownInt(a))
      return known(
        D.BOOL,
        a.dims,
        a.data.map((d) => (d === 0 ? 1 : 0)),
      );
    return { kind: "rt", v: ctx.b.equal(truthy(ctx, a), 0), elem: D.BOOL, exact01: true };
  },
  IsInf: (ctx, x) => {
    const v = ctx.float(x[0], "X");
    const [pos, neg] = [ctx.int("detect_positive", 1) !== 0, ctx.int("detect_negative", 1) !== 0];
    const hit =
      pos && neg
        ? ctx.b.equal(ctx.b.abs(v), Number.POSITIVE_INFINITY)
        : ctx.b.equal(v, pos ? Number.POSITIVE_INFINITY : neg ? Number.NEGATIVE_INFINITY : Number.NaN);
    return { kind: "rt", v: hit, elem: D.BOOL, exact01: true };
  },
  IsNaN: (ctx, x) => {
    const v = ctx.float(x[0], "X");
    return { kind: "rt", v: ctx.b.sub(1, ctx.b.equal(v, v)), elem: D.BOOL, exact01: true };
  },
  Where: (ctx, x) => {
    const [c, a, b] = [x[0], x[1], x[2]];
    if (isKnownInt(c) && isKnownInt(a) && isKnownInt(b) && small(a, b, c)) {
      const ab = foldBinary(a, b, a.elem, (p) => p);
      const pick = ab && foldBinary(c, ab, D.BOOL, (q) => q);
      if (ab && pick) {
        const ra = foldBinary(known(a.elem, a.dims, a.data), pick, a.elem, (p) => p)!;
        const rb = foldBinary(known(b.elem, b.dims, b.data), pick, b.elem, (p) => p)!;
        return known(
          a.elem,
          pick.dims,
          pick.data.map((q, i) => (q !== 0 ? ra.data[i]! : rb.data[i]!)),
        );
      }
    }
    const elem = a?.kind === "rt" ? a.elem : b?.kind === "rt" ? b.elem : (a?.elem ?? D.FLOAT);
    return ctx.out(
      ctx.b.where(truthy(ctx, c), ctx.float(a, "X"), ctx.float(b, "Y")),
      isFloatElem(elem) ? undefined : elem,
    );
  },
  Cast: (ctx, x) => {
    const to = ctx.int("to", 0);
    const a = x[0];
    if (a === undefined) throw ctx.error("input is missing");
    if (!castTargets.has(to))
      throw ctx.error(
        `casts to ${TensorProto_DataType[to] ?? to} are not supported (only FLOAT, DOUBLE, BOOL, INT64, INT32)`,
      );
    if (a.kind === "known") {
      if (isFloatElem(to) || to === D.BOOL || !a.data.some((d) => typeof d === "string"))
        return known(
          to,
          a.dims,
          a.data.map((d) => {
            if (typeof d === "string")
              throw ctx.error(`casting the symbolic dim '${d}' to ${TensorProto_DataType[to]}`);
            return castNumber(d, to);
          }),
        );
      return known(to, a.dims, a.data);
    }
    if (a.kind === "poolIndices") {
      if (to === D.INT64) return a;
      throw ctx.error("MaxPool Indices can only be cast to INT64");
    }
    if (a.flat) return { ...a, elem: to };
    if (to === D.BOOL) return a.elem === D.BOOL ? a : { kind: "rt", v: a.v, elem: D.BOOL, exact01: false };
    // float -> integer: gradgraph's integer data (indices, argmax) is integer-valued already
    return { kind: "rt", v: ctx.rt(a), elem: to };
  },
  MatMul: (ctx, x) => {
    let a = ctx.float(x[0], "A");
    let b = ctx.float(x[1], "B");
    const [ra, rb] = [a.rank, b.rank];
    if (ra === 0 || rb === 0) throw ctx.error("MatMul operands must have rank >= 1");
    if (ra === 1) a = ctx.b.reshape(a, [1, a.shape[0]!]);
    if (rb === 1) b = ctx.b.reshape(b, [b.shape[0]!, 1]);
    let y = ctx.b.matmul(a, b);
    if (ra === 1 || rb === 1) {
      const s = [...y.shape];
      if (rb === 1) s.pop();
      if (ra === 1) s.splice(s.length - (rb === 1 ? 1 : 2), 1);
      y = ctx.b.reshape(y, s);
    }
    return ctx.out(y);
  },
  Gemm: (ctx, x) => {
    const a = ctx.float(x[0], "A");
    const b = ctx.float(x[1], "B");
    if (a.rank !== 2 || b.rank !== 2) throw ctx.error("A and B must be 2-D");
    let y = ctx.b.matmul(a, b, { transA: ctx.int("transA", 0) !== 0, transB: ctx.int("transB", 0) !== 0 });
    const al = ctx.floatAttr("alpha", 1);
    if (al !== 1) y = ctx.b.mul(y, al);
    const be = ctx.floatAttr("beta", 1);
    if (x[2] !== undefined && be !== 0) {
      const c = ctx.float(x[2], "C");
      y = ctx.b.add(y, be === 1 ? c : ctx.b.mul(c, be));
    }
    return ctx.out(y);
  },
  Softmax: softmaxLike("softmax"),
  LogSoftmax: softmaxLike("logSoftmax"),
  Conv: (ctx, x) => {
    const v = image(ctx, x[0], "X");
    const w = ctx.float(x[1], "W");
    const kernel = weightHW(ctx, w);
    const strides = pair(ctx, "strides", 1);
    const dilations = pair(ctx, "dilations", 1);
    const padding = convPads(ctx, v.shape.slice(2), kernel, strides, dilations);
    const groups = ctx.int("group", 1);
    const y = ctx.b.op("conv2d", [v, w], { strides, padding, dilations, groups });
    return ctx.out(channelBias(ctx, y, x[2]));
  },
  ConvTranspose: (ctx, x) => {
    const v = image(ctx, x[0], "X");
    const w = ctx.float(x[1], "W");
    const kernel = weightHW(ctx, w);
    const strides = pair(ctx, "strides", 1);
    const dilations = pair(ctx, "dilations", 1);
    const groups = ctx.int("group", 1);
    const outPad = ctx.ints("output_padding") ?? [0, 0];
    const outShape = ctx.ints("output_shape");
    const autoPad = ctx.string("auto_pad", "NOTSET");
    const inHW = [ctx.concrete(v.shape, 2, "ConvTranspose"), ctx.concrete(v.shape, 3, "ConvTranspose")];
    const full = (i: number) =>
      strides[i]! * (inHW[i]! - 1) + outPad[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
    let padding: [number, number, number, number];
    let outputSize: [number, number];
    if (outShape || autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      const target = outShape ? outShape.slice(-2) : [inHW[0]! * strides[0], inHW[1]! * strides[1]];
      const p: number[] = [];
      for (let i = 0; i < 2; i++) {
        const total = full(i) - target[i]!;
        if (total < 0) throw ctx.error(`output_shape [${target.join(", ")}] needs negative padding`);
        const half = Math.floor(total / 2);
        p.push(
          autoPad === "SAME_UPPER" ? half : total - half,
          autoPad === "SAME_UPPER" ? total - half : half,
        );
      }
      padding = [p[0]!, p[1]!, p[2]!, p[3]!];
      outputSize = [target[0]!, target[1]!];
    } else {
      padding = convPads(ctx, v.shape.slice(2), kernel, strides, dilations);
      outputSize = [full(0) - padding[0] - padding[1], full(1) - padding[2] - padding[3]];
    }
    const y = ctx.b.op("conv2dTranspose", [v, w], { strides, padding, dilations, groups, outputSize });
    return ctx.out(channelBias(ctx, y, x[2]));
  },
  MaxPool: (ctx, x) => {
    const y = pool("maxPool2d")(ctx, x) as Runtime;
    if (!ctx.node.output[1]) return y;
    if (ctx.int("storage_order", 0) !== 0)
      throw ctx.error("storage_order=1 (column-major Indices) is not supported");
    const node = y.v.node as GraphNode<"maxPool2d">;
    const indices: PoolIndices = {
      kind: "poolIndices",
      x: ctx.b.ref(node.inputs[0]!),
      attrs: node.attrs,
      pooled: y.v.shape,
      flat: false,
      elem: D.INT64,
    };
    return [y, indices];
  },
  AveragePool: pool("avgPool2d"),
  GlobalAveragePool: globalPool("mean"),
  GlobalMaxPool: globalPool("max"),
  Flatten: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input is missing");
    const shape = ctx.shapeOf(a);
    const axis = ctx.axis(ctx.int("axis", 1), shape.length + 1);
    const group = (s: readonly Dim[]): Dim => {
      const syms = s.filter((d) => typeof d === "string");
      const num = s.reduce<number>((p, d) => (typeof d === "number" ? p * d : p), 1);
      if (syms.length === 0) return num;
      if (syms.length === 1 && num === 1) return syms[0]!;
      throw ctx.error(`flattening ${shapeToString(s)} (symbolic) into one dim is not a gradgraph shape`);
    };
    return reshapeAny(ctx, a, [group(shape.slice(0, axis)), group(shape.slice(axis))]);
  },
  Reshape: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input 'data' is missing");
    const target = ctx.known(x[1], "'shape'");
    const flattening = target.data.length === 1 && target.data[0] === -1;
    if (a.kind === "poolIndices") {
      if (flattening) return { ...a, flat: true };
      if (shapeToString(target.data) === shapeToString(a.pooled)) return { ...a, flat: false };
      throw ctx.error("MaxPool Indices can only be flattened ([-1]) or kept in the pooled shape");
    }
    if (a.kind === "rt" && (a.flat || (flattening && !isConcrete(a.v.shape)))) {
      // the flattening of a symbolic shape (N·C·H·W) is kept as the unflattened value
      if (flattening) return { ...a, flat: true, expandedFrom: undefined };
      if (target.data.some((d) => d === 0 || d === -1))
        throw ctx.error("a flattened symbolic value can only be reshaped to a full shape (no 0 or -1)");
      return { kind: "rt", v: ctx.b.reshape(a.v, [...target.data]), elem: a.elem };
    }
    const allowzero = ctx.opset >= 14 && ctx.int("allowzero", 0) !== 0;
    return reshapeAny(ctx, a, reshapeTarget(ctx, ctx.shapeOf(a), target.data, allowzero));
  },
  Transpose: (ctx, x) => {
    const v = ctx.float(x[0], "data");
    const perm = ctx.ints("perm");
    return ctx.out(ctx.b.transpose(v, perm ?? undefined), x[0]?.elem);
  },
  Concat: (ctx, x) => {
    const parts = x.filter((v): v is ImportValue => v !== undefined);
    if (parts.length === 0) throw ctx.error("needs at least one input");
    const rank = ctx.shapeOf(parts[0]!).length;
    const axis = ctx.axis(ctx.int("axis", 0), rank);
    if (parts.every((p) => isKnownInt(p))) return foldConcat(parts as Known[], axis);
    return ctx.out(
      ctx.b.concat(
        parts.map((p) => ctx.rt(p)),
        axis,
      ),
      parts[0]!.elem,
    );
  },
  Slice: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input 'data' is missing");
    const starts = ctx.knownInts(x[1], "'starts'");
    const ends = ctx.knownInts(x[2], "'ends'");
    const axes = x[3] === undefined ? undefined : ctx.knownInts(x[3], "'axes'");
    const steps = x[4] === undefined ? undefined : ctx.knownInts(x[4], "'steps'");
    if (steps?.some((s) => s !== 1))
      throw ctx.error(`steps [${steps.join(", ")}] are not supported (only 1)`);
    const shape = ctx.shapeOf(a);
    const ax = (axes ?? starts.map((_, i) => i)).map((v) => ctx.axis(v, shape.length, "axes entry"));
    if (starts.length !== ax.length || ends.length !== ax.length)
      throw ctx.error("starts, ends and axes differ in length");
    if (a.kind === "known") return foldSlice(a, starts, ends, ax);
    const begin = shape.map(() => 0);
    const end: (number | null)[] = shape.map(() => null);
    ax.forEach((axis, k) => {
      const n = shape[axis]!;
      if (typeof n === "string") {
        if ((starts[k] === 0 || starts[k]! <= -INT32_MAX) && ends[k]! >= INT32_MAX) return;
        throw ctx.error(`slicing the symbolic axis ${axis} ('${n}') is only supported whole`);
      }
      const s = clampIndex(starts[k]!, n);
      const e = Math.max(s, clampIndex(ends[k]!, n));
      begin[axis] = s;
      end[axis] = e;
    });
    return ctx.out(ctx.b.slice(ctx.rt(a), begin, end), a.elem);
  },
  Split: (ctx, x) => {
    const v = ctx.float(x[0], "input");
    const axis = ctx.axis(ctx.int("axis", 0), v.rank);
    const n = ctx.concrete(v.shape, axis, "Split");
    const count = ctx.node.output.length;
    let sizes: number[];
    if (x[1] !== undefined) sizes = ctx.knownInts(x[1], "'split'");
    else if (ctx.opset < 13 && ctx.has("split")) sizes = ctx.ints("split")!;
    else {
      if (ctx.opset >= 18 && ctx.int("num_outputs", count) !== count)
        throw ctx.error(`num_outputs ${ctx.int("num_outputs", count)} differs from the ${count} outputs`);
      if (ctx.opset >= 18 && !ctx.has("num_outputs"))
        throw ctx.error("needs the 'split' input or 'num_outputs' (opset 18+)");
      // equal parts; at opset 18 the last may be smaller (num_outputs does not divide the axis)
      const chunk = Math.ceil(n / count);
      sizes = Array.from({ length: count }, (_, k) => Math.max(0, Math.min(chunk, n - k * chunk)));
    }
    if (sizes.length !== count || sizes.some((d) => d < 0) || sizes.reduce((a, d) => a + d, 0) !== n)
      throw ctx.error(`split sizes [${sizes.join(", ")}] do not cut an axis of ${n} into ${count} outputs`);
    let at = 0;
    return sizes.map((d) => {
      const begin = v.shape.map(() => 0);
      const end: (number | null)[] = v.shape.map(() => null);
      begin[axis] = at;
      end[axis] = at + d;
      at += d;
      return ctx.out(ctx.b.slice(v, begin, end), x[0]!.elem);
    });
  },
  Pad: (ctx, x) => {
    const v = ctx.float(x[0], "data");
    const mode = ctx.string("mode", "constant");
    if (mode !== "constant") throw ctx.error(`mode '${mode}' is not supported (only constant)`);
    // pads and the value are inputs since opset 11 (the oldest the importer reads)
    let pads = ctx.knownInts(x[1], "'pads'");
    const value = x[2] === undefined ? 0 : (ctx.knownInts(x[2], "'constant_value'")[0] ?? 0);
    if (x[3] !== undefined) {
      const axes = ctx.knownInts(x[3], "'axes'").map((a) => ctx.axis(a, v.rank, "axes entry"));
      if (pads.length !== 2 * axes.length)
        throw ctx.error(`'pads' has ${pads.length} entries for ${axes.length} axes`);
      const full = new Array<number>(2 * v.rank).fill(0);
      axes.forEach((a, i) => {
        full[a] = pads[i]!;
        full[a + v.rank] = pads[i + axes.length]!;
      });
      pads = full;
    }
    if (!Number.isFinite(value))
      throw ctx.error(`constant_value ${value} is not supported (only finite values)`);
    if (pads.length !== 2 * v.rank) throw ctx.error(`'pads' has ${pads.length} entries for rank ${v.rank}`);
    if (pads.some((p) => p < 0)) throw ctx.error(`negative pads [${pads.join(", ")}] are not supported`);
    const [before, after] = [pads.slice(0, v.rank), pads.slice(v.rank)];
    const padded = ctx.b.pad(v, before, after);
    if (value === 0) return ctx.out(padded);
    // gradgraph pads with zeros: add `value` where a padded mask of ones is 0 (exact inside, as value · 0 = 0)
    const outside = ctx.b.sub(1, ctx.b.pad(ctx.b.ones(v.shape, ctx.dtype), before, after));
    return ctx.out(ctx.b.add(padded, ctx.b.mul(outside, value)));
  },
  Expand: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input is missing");
    const target = ctx.known(x[1], "'shape'").data;
    const v = ctx.rt(a);
    const shape = expandShape(ctx, v.shape, target);
    return { kind: "rt", v: ctx.b.broadcastTo(v, shape), elem: a.elem, expandedFrom: v };
  },
  Tile: (ctx, x) => {
    const v = ctx.float(x[0], "input");
    const reps = ctx.knownInts(x[1], "'repeats'");
    if (reps.length !== v.rank || reps.some((r) => !(r >= 0)))
      throw ctx.error(`repeats [${reps.join(", ")}] must hold ${v.rank} non-negative counts`);
    if (reps.every((r) => r === 1)) return ctx.out(v, x[0]!.elem);
    // [.., d, ..] -> [.., 1, d, ..] -> broadcast [.., r, d, ..] -> [.., r·d, ..]
    const spread = v.shape.flatMap((d) => [1, d]);
    const target = v.shape.flatMap((d, i) => [reps[i]!, d]);
    const out = v.shape.map((d, i) => {
      if (reps[i] === 1) return d;
      if (typeof d === "string")
        throw ctx.error(`repeating the symbolic axis ${i} ('${d}') is not a gradgraph shape`);
      return d * reps[i]!;
    });
    return ctx.out(ctx.b.reshape(ctx.b.broadcastTo(ctx.b.reshape(v, spread), target), out), x[0]!.elem);
  },
  Squeeze: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input is missing");
    return reshapeAny(ctx, a, squeezeShape(ctx, ctx.shapeOf(a), axesOf(ctx, x, 13)));
  },
  Unsqueeze: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input is missing");
    const axes = axesOf(ctx, x, 13);
    if (axes === null) throw ctx.error("'axes' is required");
    return reshapeAny(ctx, a, unsqueezeShape(ctx, ctx.shapeOf(a), axes));
  },
  ReduceSum: reduce("sum", 13),
  ReduceMean: reduce("mean", 18),
  ReduceMax: reduce("max", 18),
  ReduceMin: reduce("min", 18),
  ReduceLogSumExp: reduce("logSumExp", 18),
  ReduceSumSquare: reduce("sumSquare", 18),
  ArgMax: (ctx, x) => {
    const v = ctx.float(x[0], "data");
    if (ctx.int("select_last_index", 0) !== 0) throw ctx.error("select_last_index=1 is not supported");
    const axis = ctx.axis(ctx.int("axis", 0), v.rank);
    return ctx.out(ctx.b.argmax(v, axis, ctx.int("keepdims", 1) !== 0), D.INT64);
  },
  Gather: (ctx, x) => {
    const [a, idx] = [x[0], x[1]];
    if (a === undefined) throw ctx.error("input 'data' is missing");
    if (idx?.kind === "poolIndices") {
      // v read at each window's arg-max: gradgraph's maxPool2dGather of the unflattened v
      const v = unflatten(ctx, a, idx.x.shape, "data");
      const out = ctx.b.op("maxPool2dGather", [idx.x, v], idx.attrs);
      return idx.flat ? { kind: "rt", v: out, elem: a.elem, flat: true } : ctx.out(out, a.elem);
    }
    const shape = ctx.shapeOf(a);
    const axis = ctx.axis(ctx.int("axis", 0), shape.length);
    if (a.kind === "known" && isKnownInt(idx)) {
      const n = a.dims[axis]!;
      const vals = ctx.knownInts(idx, "indices").map((j) => {
        const k = j < 0 ? j + n : j;
        if (k < 0 || k >= n) throw ctx.error(`index ${j} is out of range for an axis of ${n}`);
        return k;
      });
      return foldGather(a, vals, idx.dims, axis);
    }
    return ctx.out(ctx.b.gather(ctx.rt(a), indexValue(ctx, idx, shape[axis]!), axis), a.elem);
  },
  ScatterElements: (ctx, x) => {
    const reduction = ctx.string("reduction", "none");
    if (reduction !== "add") throw ctx.error(`reduction '${reduction}' is not supported (only 'add')`);
    const data = x[0];
    if (data === undefined) throw ctx.error("input 'data' is missing");
    const pi = x[1];
    if (pi?.kind === "poolIndices") {
      if (!pi.flat || ctx.int("axis", 0) !== 0)
        throw ctx.error("MaxPool Indices must be flattened and scattered along axis 0 (maxPool2dBackprop)");
      const g = unflatten(ctx, x[2], pi.pooled, "updates");
      const dx = ctx.b.op("maxPool2dBackprop", [pi.x, g], pi.attrs);
      const isZero =
        data.kind === "rt" &&
        data.flat &&
        data.v.node.op === "fill" &&
        (data.v.node.attrs as { value: number }).value === 0;
      const sum = isZero ? dx : ctx.b.add(unflatten(ctx, data, pi.x.shape, "data"), dx);
      return { kind: "rt", v: sum, elem: data.elem, flat: true };
    }
    const upd = ctx.float(x[2], "updates");
    const shape = ctx.shapeOf(data);
    const axis = ctx.axis(ctx.int("axis", 0), shape.length);
    const idx = scatterIndices(ctx, x[1], axis, shape.length, shape[axis]!);
    const s = ctx.b.scatterAdd(idx, upd, axis, shape);
    const zero =
      (data.kind === "known" && data.data.every((d) => d === 0)) ||
      (data.kind === "rt" &&
        data.v.node.op === "fill" &&
        (data.v.node.attrs as { value: number }).value === 0);
    return ctx.out(zero ? s : ctx.b.add(ctx.rt(data), s));
  },
  BatchNormalization: (ctx, x) => {
    if (ctx.int("training_mode", 0) !== 0 || ctx.node.output.slice(1).some((o) => o !== ""))
      throw ctx.error(
        "training mode (running statistics outputs) is not supported; export the inference form",
      );
    const v = ctx.float(x[0], "X");
    if (v.rank < 2) throw ctx.error(`expects [N, C, ...], got ${shapeToString(v.shape)}`);
    const epsilon = ctx.floatAttr("epsilon", 1e-5);
    const ones = Array.from({ length: v.rank - 2 }, () => 1);
    const chan = (i: number, what: string) => {
      const p = ctx.float(x[i], what);
      return ones.length === 0 ? p : ctx.b.reshape(p, [...p.shape, ...ones]);
    };
    const [scale, bias, mean, variance] = [
      chan(1, "scale"),
      chan(2, "B"),
      chan(3, "input_mean"),
      chan(4, "input_var"),
    ];
    const y = ctx.b.add(
      ctx.b.mul(ctx.b.div(ctx.b.sub(v, mean), ctx.b.sqrt(ctx.b.add(variance, epsilon))), scale),
      bias,
    );
    return ctx.out(y);
  },
  LayerNormalization: (ctx, x) => {
    if (ctx.node.output.slice(1).some((o) => o !== ""))
      throw ctx.error("the Mean and InvStdDev outputs are not supported");
    const v = ctx.float(x[0], "X");
    const axis = ctx.axis(ctx.int("axis", -1), v.rank);
    const epsilon = ctx.floatAttr("epsilon", 1e-5);
    const scale = ctx.float(x[1], "Scale");
    if (axis === v.rank - 1) {
      const n = v.shape[axis]!;
      const gamma = scale.rank === 1 ? scale : ctx.b.reshape(scale, [n]);
      const beta =
        x[2] === undefined ? ctx.b.zeros([n], ctx.dtype) : ctx.b.reshape(ctx.float(x[2], "B"), [n]);
      return ctx.out(ctx.b.layerNorm(v, gamma, beta, { axis: -1, epsilon }));
    }
    // ONNX normalises over every axis from `axis` on
    const axes = Array.from({ length: v.rank - axis }, (_, i) => axis + i);
    const d = ctx.b.sub(v, ctx.b.mean(v, axes, true));
    const variance = ctx.b.mean(ctx.b.square(d), axes, true);
    let y = ctx.b.mul(ctx.b.div(d, ctx.b.sqrt(ctx.b.add(variance, epsilon))), scale);
    if (x[2] !== undefined) y = ctx.b.add(y, ctx.float(x[2], "B"));
    return ctx.out(y);
  },
  Constant: (ctx) => {
    const names = ctx.node.attribute.map((a) => a.name);
    if (names.length !== 1) throw ctx.error(`needs exactly one value attribute, got [${names.join(", ")}]`);
    const t = ctx.tensor("value");
    if (t) return t;
    if (ctx.has("value_float")) return known(D.FLOAT, [], [Math.fround(ctx.floatAttr("value_float", 0))]);
    if (ctx.has("value_int")) return known(D.INT64, [], [ctx.int("value_int", 0)]);
    const ints = ctx.ints("value_ints");
    if (ints) return known(D.INT64, [ints.length], ints);
    const floats = ctx.node.attribute[0]!.name === "value_floats" ? ctx.node.attribute[0]!.floats : undefined;
    if (floats)
      return known(
        D.FLOAT,
        [floats.length],
        floats.map((f) => Math.fround(f)),
      );
    throw ctx.error(`attribute '${names[0]}' is not supported`);
  },
  ConstantOfShape: (ctx, x) => {
    const shape = ctx.known(x[0], "'input'").data;
    const value = ctx.tensor("value") ?? known(D.FLOAT, [1], [0]);
    if (value.data.length !== 1) throw ctx.error("'value' must hold one element");
    const fillValue = value.data[0] as number;
    const concrete = shape.every((d) => typeof d === "number");
    if (concrete && !isFloatElem(value.elem) && countOf(shape as number[]) <= MAX_FOLD)
      return known(value.elem, shape as number[], new Array(countOf(shape as number[])).fill(fillValue));
    const v = ctx.b.fill(fillValue, shape, ctx.dtype);
    return ctx.out(v, isFloatElem(value.elem) ? undefined : value.elem);
  },
  Shape: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input is missing");
    const shape = ctx.shapeOf(a);
    const r = shape.length;
    const start = clampIndex(ctx.int("start", 0), r);
    const end = clampIndex(ctx.int("end", r), r);
    const dims = shape.slice(start, Math.max(start, end));
    return known(D.INT64, [dims.length], dims);
  },
  Size: (ctx, x) => {
    const a = x[0];
    if (a === undefined) throw ctx.error("input is missing");
    const shape = ctx.shapeOf(a);
    const p = shape.reduce<Dim>((acc, d) => symArith(ctx, "mul", acc, d), 1);
    return known(D.INT64, [], [p]);
  },
  Range: (ctx, x) => {
    const [start, limit, delta] = [
      ctx.knownInts(x[0], "'start'")[0]!,
      ctx.knownInts(x[1], "'limit'")[0]!,
      ctx.knownInts(x[2], "'delta'")[0]!,
    ];
    if (delta === 0) throw ctx.error("delta is 0");
    const n = Math.max(0, Math.ceil((limit - start) / delta));
    if (n > MAX_FOLD) throw ctx.error(`a range of ${n} values is too long to fold at import time`);
    const elem = (x[0] as Known).elem;
    return known(
      elem,
      [n],
      Array.from({ length: n }, (_, i) => start + i * delta),
    );
  },
};
