/**
 * Random computation graphs for property tests, built from a shrinkable list of instructions.
 *
 * fast-check generates a small "program": a few sources (params and inputs of related shapes)
 * and a list of instructions, each naming an op and earlier values by index (taken modulo the
 * number of values so far, so removing an instruction never invalidates the rest). Building the
 * program keeps every op in its smooth domain by construction and bounds magnitudes (a value
 * that may grow large is squashed with `tanh` before it feeds `exp`, `square` or a product).
 * Instructions whose shapes do not fit are skipped. When a property fails, fast-check drops
 * instructions and simplifies the rest, so the counterexample is a small graph.
 *
 * Registered user ops (`defineOp`) join the instruction set when asked (`userOps`): their inputs
 * are squashed into a bounded range (or made positive), and an instruction whose shapes the op
 * rejects is skipped like any other.
 * @module
 */
import {
  type CustomAttrs,
  type CustomOpName,
  customOpDef,
  type Feeds,
  type Graph,
  GraphBuilder,
  ParamStore,
  printGraph,
  Rng,
  type Shape,
  ShapeError,
  shapeToString,
  Tensor,
  tryBroadcastShapes,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import { grad, gradName } from "../grad.js";
import { formatGradcheckReport, type GradcheckOptions, gradcheck } from "../gradcheck.js";
import { valueArb } from "./arbitraries.js";

/**
 * The ops random graphs draw from (kinked ops such as relu, leakyRelu, elu and clip, comparisons
 * and stopGradient are left out; max pooling is in, on inputs offset by distinct constants so no
 * window holds a tie). The smooth activations `softplus`, `silu`, `gelu`, `geluTanh` and `erf` take
 * any input; `log1p` sees `square(x)` (so its argument is >= 0) and `expm1` a value squashed into
 * [-2, 2], as `log` and `exp` do. `conv2d`,
 * `avgPool2d` and `maxPool2d` see a value of rank 0-2 as a one-image, one-channel `[1, 1, H, W]`
 * batch (`conv2d`'s kernel is another such value, or a depthwise convolution over the rows) and
 * reshape the result back to rank 2.
 */
export const RANDOM_GRAPH_OPS = [
  "add",
  "mul",
  "sub",
  "neg",
  "tanh",
  "sigmoid",
  "softplus",
  "silu",
  "gelu",
  "geluTanh",
  "erf",
  "log1p",
  "expm1",
  "square",
  "exp",
  "log",
  "sqrt",
  "div",
  "pow",
  "sum",
  "mean",
  "logSumExp",
  "softmax",
  "logSoftmax",
  "matmul",
  "transpose",
  "reshape",
  "broadcastTo",
  "concat",
  "slice",
  "pad",
  "where",
  "conv2d",
  "avgPool2d",
  "maxPool2d",
] as const;

/** An op random graphs use. */
export type RandomGraphOp = (typeof RANDOM_GRAPH_OPS)[number];

/**
 * A registered user op in random graphs, with what the generator needs to keep it in its smooth
 * domain.
 */
export interface RandomGraphUserOp {
  /** The op's registered name. */
  readonly op: string;
  /** Attributes passed to the builder (default none). */
  readonly attrs?: CustomAttrs;
  /** Inputs are squashed (with tanh) into [-inputBound, inputBound] (default 4). */
  readonly inputBound?: number;
  /** `"positive"`: inputs are made positive as `square(x) + 0.5` (default `"real"`). */
  readonly domain?: "real" | "positive";
  /** A bound on |output| given such inputs (default: none, so later ops squash it). */
  readonly outputBound?: number;
}

/** One instruction of a random program. */
export interface GraphInstruction {
  /** The op (a built-in one, or a user op of the program's `userOps`). */
  readonly op: RandomGraphOp | CustomOpName;
  /** First operand: an index into the values so far (modulo their number). */
  readonly a: number;
  /** Second operand (binary ops), likewise. */
  readonly b: number;
  /** Small integer choosing axes, flags and variants. */
  readonly k: number;
}

/** A source of a random program. */
export interface GraphSource {
  /** 0: `[m,n]`, 1: `[n]`, 2: `[m,1]`, 3: `[]`, 4: `[n,m]`. */
  readonly kind: number;
  /** Fed as an input instead of being a param. */
  readonly asInput: boolean;
  /** Values (the first `size` are used). */
  readonly values: readonly number[];
}

/** A random program: what fast-check generates and shrinks. */
export interface GraphProgram {
  /** First dim of the shape family. */
  readonly m: number;
  /** Second dim of the shape family. */
  readonly n: number;
  /** Params and inputs. */
  readonly sources: readonly GraphSource[];
  /** Instructions. */
  readonly instructions: readonly GraphInstruction[];
  /** Seed of the loss weights and of `where` masks. */
  readonly seed: number;
  /** The user ops instructions may name (none by default). */
  readonly userOps?: readonly RandomGraphUserOp[];
}

/** A graph with everything needed to run and check it. */
export interface GraphCase {
  /** A graph with a scalar output `loss`. */
  readonly graph: Graph;
  /** Values of its inputs. */
  readonly feeds: Feeds;
  /** Values of its params. */
  readonly params: ParamStore;
  /** Names to differentiate with respect to (its params and inputs). */
  readonly wrt: readonly string[];
  /** A readable listing of the instructions that were applied, one line each. */
  readonly program: readonly string[];
}

/** Constraints of {@link randomGraphArb}. */
export interface RandomGraphConstraints {
  /** Most instructions (default 8). */
  maxNodes?: number;
  /** Most sources (default 3). */
  maxSources?: number;
  /** Largest dim (default 3). */
  maxDim?: number;
  /** Ops to draw from (default {@link RANDOM_GRAPH_OPS}; the first is the one shrinking goes towards). */
  ops?: readonly RandomGraphOp[];
  /**
   * Registered user ops to draw from as well: handles, names, or {@link RandomGraphUserOp}s
   * saying how to feed them. Each must have a VJP rule for gradient properties.
   */
  userOps?: readonly (string | { readonly name: string } | RandomGraphUserOp)[];
}

/** The user ops of `constraints` as plain descriptions (each checked to be registered). */
function userOpList(constraints: RandomGraphConstraints): RandomGraphUserOp[] {
  return (constraints.userOps ?? []).map((u) => {
    const d: RandomGraphUserOp =
      typeof u === "string" ? { op: u } : "op" in u ? u : { op: (u as { readonly name: string }).name };
    if (!customOpDef(d.op)) {
      throw new Error(`randomGraphArb: '${d.op}' is not a registered user op (define it with defineOp)`);
    }
    return d;
  });
}

const LIMIT = 4;

interface Slot {
  v: Value;
  /** Upper bound on |value|. */
  bound: number;
  label: string;
}

function shapeOf(kind: number, m: number, n: number): number[] {
  switch (kind % 5) {
    case 0:
      return [m, n];
    case 1:
      return [n];
    case 2:
      return [m, 1];
    case 3:
      return [];
    default:
      return [n, m];
  }
}

function size(shape: Shape): number {
  return shape.reduce<number>((p, d) => p * (d as number), 1);
}

/** A value of rank 0-2 seen as a `[H, W]` image (`[]` -> 1x1, `[n]` -> 1xn); null for higher ranks. */
function imageOf(v: Value): [number, number] | null {
  if (v.rank > 2) return null;
  const s = v.shape as number[];
  return v.rank === 2 ? [s[0]!, s[1]!] : v.rank === 1 ? [1, s[0]!] : [1, 1];
}

/** The output length of a window of `k` taps spaced `d` apart, stepped by `s`, over `size` padded by `p0`, `p1`. */
function windowLen(size: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

/** Distinct offsets `0.37 * i / n` (an increasing ramp in row-major order), so max pooling sees no ties. */
function ramp(shape: readonly number[]): Tensor {
  const n = size(shape);
  return Tensor.from(
    Array.from({ length: n }, (_, i) => (0.37 * i) / n),
    { shape, dtype: "float64" },
  );
}

/** Builds the graph of a program (deterministic; see the module documentation). */
export function buildRandomGraph(p: GraphProgram): GraphCase {
  const b = new GraphBuilder({ dtype: "float64" });
  const rng = new Rng(p.seed);
  const feeds: Record<string, Tensor> = {};
  const params = new ParamStore();
  const wrt: string[] = [];
  const program: string[] = [];
  const slots: Slot[] = [];
  const used = new Set<number>();

  p.sources.forEach((s, i) => {
    const shape = shapeOf(s.kind, p.m, p.n);
    const values = Array.from({ length: size(shape) }, (_, j) => s.values[j % s.values.length] ?? 0);
    const t = Tensor.from(values, { shape, dtype: "float64" });
    const name = s.asInput ? `x${i}` : `p${i}`;
    const v = s.asInput ? b.input(name, shape) : b.param(name, shape);
    if (s.asInput) feeds[name] = t;
    else params.set(name, t);
    wrt.push(name);
    const bound = values.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    slots.push({ v, bound, label: name });
    program.push(`${name} = ${s.asInput ? "input" : "param"} ${shapeToString(shape)} [${values.join(", ")}]`);
  });

  /** Squashes `s` with tanh when its bound exceeds `limit`. */
  const tame = (s: Slot, limit = LIMIT): Slot =>
    s.bound <= limit ? s : { v: b.tanh(s.v), bound: 1, label: `tanh(${s.label})` };
  /** Makes `y` broadcastable with `x` by summing it to a scalar when needed. */
  const fit = (x: Slot, y: Slot): Slot => {
    if (tryBroadcastShapes(x.v.shape, y.v.shape)) return y;
    return tame({ v: b.sum(y.v), bound: y.bound * size(y.v.shape), label: `sum(${y.label})` });
  };

  for (const ins of p.instructions) {
    if (slots.length === 0) break;
    const ia = ins.a % slots.length;
    const ib = ins.b % slots.length;
    const A = slots[ia]!;
    const B = slots[ib]!;
    const k = ins.k;
    const rank = A.v.rank;
    let out: { v: Value; bound: number; text: string } | null = null;
    let usesB = false;
    switch (ins.op) {
      case "add":
      case "sub":
      case "mul":
      case "div":
      case "pow": {
        usesB = true;
        const x = tame(A);
        const y = fit(x, tame(B));
        if (ins.op === "add" || ins.op === "sub") {
          out = {
            v: b.op(ins.op, [x.v, y.v]),
            bound: x.bound + y.bound,
            text: `${ins.op}(${x.label}, ${y.label})`,
          };
        } else if (ins.op === "mul") {
          out = { v: b.mul(x.v, y.v), bound: x.bound * y.bound, text: `mul(${x.label}, ${y.label})` };
        } else if (ins.op === "div") {
          // denominator y^2 + 0.5 >= 0.5
          const den = b.add(b.square(y.v), 0.5);
          out = { v: b.div(x.v, den), bound: 2 * x.bound, text: `div(${x.label}, square(${y.label}) + 0.5)` };
        } else {
          // positive base x^2 + 0.5 <= 16.5, exponent tanh(y) in (-1, 1)
          const base = b.add(b.square(x.v), 0.5);
          out = {
            v: b.pow(base, b.tanh(y.v)),
            bound: x.bound * x.bound + 2.5,
            text: `pow(square(${x.label}) + 0.5, tanh(${y.label}))`,
          };
        }
        break;
      }
      case "neg":
        out = { v: b.neg(A.v), bound: A.bound, text: `neg(${A.label})` };
        break;
      case "tanh":
        out = { v: b.tanh(A.v), bound: 1, text: `tanh(${A.label})` };
        break;
      case "sigmoid":
        out = { v: b.sigmoid(A.v), bound: 1, text: `sigmoid(${A.label})` };
        break;
      case "softplus":
        // log(1 + e^x) is in (0, max(x, 0) + log 2]
        out = { v: b.softplus(A.v), bound: A.bound + Math.LN2, text: `softplus(${A.label})` };
        break;
      case "silu":
      case "gelu":
      case "geluTanh":
        // x times a gate in (0, 1) (silu: sigmoid, gelu: the normal CDF or its tanh form)
        out = { v: b.op(ins.op, [A.v]), bound: A.bound, text: `${ins.op}(${A.label})` };
        break;
      case "erf":
        out = { v: b.erf(A.v), bound: 1, text: `erf(${A.label})` };
        break;
      case "log1p": {
        const x = tame(A);
        out = {
          v: b.log1p(b.square(x.v)),
          bound: Math.log1p(x.bound * x.bound),
          text: `log1p(square(${x.label}))`,
        };
        break;
      }
      case "expm1": {
        const x = tame(A, 2);
        out = { v: b.expm1(x.v), bound: Math.exp(x.bound), text: `expm1(${x.label})` };
        break;
      }
      case "square": {
        const x = tame(A);
        out = { v: b.square(x.v), bound: x.bound * x.bound, text: `square(${x.label})` };
        break;
      }
      case "exp": {
        const x = tame(A, 2);
        out = { v: b.exp(x.v), bound: Math.exp(x.bound), text: `exp(${x.label})` };
        break;
      }
      case "log": {
        const x = tame(A);
        out = {
          v: b.log(b.add(b.square(x.v), 0.5)),
          bound: Math.max(Math.log(2), Math.log(x.bound * x.bound + 0.5)),
          text: `log(square(${x.label}) + 0.5)`,
        };
        break;
      }
      case "sqrt": {
        const x = tame(A);
        out = {
          v: b.sqrt(b.add(b.square(x.v), 0.5)),
          bound: x.bound + 1,
          text: `sqrt(square(${x.label}) + 0.5)`,
        };
        break;
      }
      case "sum":
      case "mean":
      case "logSumExp": {
        const all = rank === 0 || k % (rank + 1) === rank;
        const axes = all ? null : [k % (rank + 1)];
        const keepdims = (k & 8) !== 0;
        const count = all ? size(A.v.shape) : (A.v.shape[axes![0]!] as number);
        const x = ins.op === "logSumExp" ? tame(A) : A;
        const v = b.op(ins.op, [x.v], { axes, keepdims });
        const bound =
          ins.op === "sum" ? x.bound * count : ins.op === "mean" ? x.bound : x.bound + Math.log(count);
        out = { v, bound, text: `${ins.op}(${x.label}, axes=${JSON.stringify(axes)}, keepdims=${keepdims})` };
        break;
      }
      case "softmax":
      case "logSoftmax": {
        if (rank === 0) break;
        const axis = (k % rank) - (k & 8 ? rank : 0);
        const x = tame(A);
        out = {
          v: b.op(ins.op, [x.v], { axis }),
          bound: ins.op === "softmax" ? 1 : 2 * x.bound + Math.log(size(x.v.shape)),
          text: `${ins.op}(${x.label}, axis=${axis})`,
        };
        break;
      }
      case "matmul": {
        usesB = true;
        if (rank !== 2 || B.v.rank !== 2) break;
        const x = tame(A);
        const y = tame(B);
        for (let t = 0; t < 4 && !out; t++) {
          const flags = (k + t) % 4;
          const transA = (flags & 1) !== 0;
          const transB = (flags & 2) !== 0;
          const ka = x.v.shape[transA ? 0 : 1];
          const kb = y.v.shape[transB ? 1 : 0];
          if (ka !== kb) continue;
          out = {
            v: b.matmul(x.v, y.v, { transA, transB }),
            bound: x.bound * y.bound * (ka as number),
            text: `matmul(${x.label}, ${y.label}, transA=${transA}, transB=${transB})`,
          };
        }
        break;
      }
      case "transpose":
        out = { v: b.transpose(A.v), bound: A.bound, text: `transpose(${A.label})` };
        break;
      case "reshape": {
        const shape = rank === 1 ? (k % 2 ? [1, -1] : [-1, 1]) : [-1];
        out = {
          v: b.reshape(A.v, shape),
          bound: A.bound,
          text: `reshape(${A.label}, ${JSON.stringify(shape)})`,
        };
        break;
      }
      case "broadcastTo": {
        const shape = [1 + (k % 2), ...(A.v.shape as number[])];
        out = {
          v: b.broadcastTo(A.v, shape),
          bound: A.bound,
          text: `broadcastTo(${A.label}, ${shapeToString(shape)})`,
        };
        break;
      }
      case "concat": {
        if (rank === 0) break;
        const axis = k % rank;
        const fits = B.v.rank === rank && A.v.shape.every((d, i) => i === axis || d === B.v.shape[i]);
        usesB = fits;
        const parts = fits ? [A, B] : [A, A];
        out = {
          v: b.concat(
            parts.map((s) => s.v),
            axis,
          ),
          bound: Math.max(A.bound, fits ? B.bound : 0),
          text: `concat([${parts.map((s) => s.label).join(", ")}], axis=${axis})`,
        };
        break;
      }
      case "slice": {
        if (rank === 0) break;
        const axis = k % rank;
        const d = A.v.shape[axis] as number;
        const begin = new Array<number>(rank).fill(0);
        const end = new Array<number | null>(rank).fill(null);
        if (d >= 2) {
          if (k & 8) end[axis] = d - 1;
          else begin[axis] = 1;
        }
        out = {
          v: b.slice(A.v, begin, end),
          bound: A.bound,
          text: `slice(${A.label}, ${JSON.stringify(begin)}, ${JSON.stringify(end)})`,
        };
        break;
      }
      case "pad": {
        if (rank === 0) break;
        const axis = k % rank;
        const before = new Array<number>(rank).fill(0);
        const after = new Array<number>(rank).fill(0);
        before[axis] = 1;
        after[axis] = (k >> 3) & 1;
        out = {
          v: b.pad(A.v, before, after),
          bound: A.bound,
          text: `pad(${A.label}, ${JSON.stringify(before)}, ${JSON.stringify(after)})`,
        };
        break;
      }
      case "where": {
        usesB = true;
        const y = fit(A, B);
        const shape = tryBroadcastShapes(A.v.shape, y.v.shape)! as number[];
        const mask = Array.from({ length: size(shape) }, () => (rng.next() < 0.5 ? 0 : 1));
        const c = b.constant(Tensor.from(mask, { shape, dtype: "float64" }));
        out = {
          v: b.where(c, A.v, y.v),
          bound: Math.max(A.bound, y.bound),
          text: `where([${mask.join(",")}], ${A.label}, ${y.label})`,
        };
        break;
      }
      case "conv2d": {
        // A as an image, B as the kernel: [1, 1, H, W] * [1, 1, kh, kw], or depthwise over A's
        // rows ([1, m, 1, n] * [m, 1, 1, q], groups m) when B has A's row count; bits of k pick
        // stride 2 (rows), dilation 2 (columns), the depthwise form and asymmetric padding
        usesB = true;
        const img = imageOf(A.v);
        const ker = imageOf(B.v);
        if (!img || !ker) break;
        const x = tame(A);
        const w = tame(B);
        const depthwise = (k & 4) !== 0 && A.v.rank === 2 && B.v.rank === 2 && ker[0] === img[0];
        const [H, W] = depthwise ? [1, img[1]] : img;
        const [kh, kw] = depthwise ? [1, ker[1]] : ker;
        const strides: [number, number] = [depthwise ? 1 : 1 + (k & 1), 1];
        const dilations: [number, number] = [1, 1 + ((k >> 1) & 1)];
        const padding: [number, number, number, number] =
          k & 8 ? [kh > 1 ? 1 : 0, 0, 0, kw > 1 ? 1 : 0] : [0, 0, 0, 0];
        // pad below / right until the dilated kernel fits
        padding[1] = Math.max(padding[1], dilations[0] * (kh - 1) + 1 - H - padding[0]);
        padding[3] = Math.max(padding[3], dilations[1] * (kw - 1) + 1 - W - padding[2]);
        const groups = depthwise ? img[0] : 1;
        const xs = depthwise ? [1, img[0], 1, img[1]] : [1, 1, H, W];
        const ws = depthwise ? [img[0], 1, 1, ker[1]] : [1, 1, kh, kw];
        const y = b.conv2d(b.reshape(x.v, xs), b.reshape(w.v, ws), { strides, dilations, padding, groups });
        const ho = windowLen(H, kh, strides[0], dilations[0], padding[0], padding[1]);
        const wo = windowLen(W, kw, strides[1], dilations[1], padding[2], padding[3]);
        out = {
          v: b.reshape(y, [depthwise ? img[0] : ho, wo]),
          bound: x.bound * w.bound * kh * kw,
          text: `conv2d(${x.label} as ${shapeToString(xs)}, ${w.label} as ${shapeToString(ws)}, ${JSON.stringify({ strides, dilations, padding, groups })})`,
        };
        break;
      }
      case "avgPool2d":
      case "maxPool2d": {
        // A as a [1, 1, H, W] image; bits of k pick the window (1-2 per axis), stride 2 (rows)
        // and asymmetric padding; max pooling adds a ramp of distinct offsets first (no ties)
        const img = imageOf(A.v);
        if (!img) break;
        const [H, W] = img;
        const kernelSize: [number, number] = [
          Math.min(1 + (k & 1), H + 1),
          Math.min(1 + ((k >> 1) & 1), W + 1),
        ];
        const strides: [number, number] = [1 + ((k >> 2) & 1), 1];
        const padding: [number, number, number, number] =
          k & 8 ? [0, kernelSize[0] - 1, kernelSize[1] - 1, 0] : [0, 0, 0, 0];
        if (windowLen(H, kernelSize[0], strides[0], 1, padding[0], padding[1]) < 1)
          padding[1] = kernelSize[0] - 1;
        if (windowLen(W, kernelSize[1], strides[1], 1, padding[2], padding[3]) < 1)
          padding[3] = kernelSize[1] - 1;
        const shape = [1, 1, H, W];
        let x: Slot = { v: b.reshape(A.v, shape), bound: A.bound, label: A.label };
        if (ins.op === "maxPool2d") {
          const t = tame(A);
          x = {
            v: b.add(b.reshape(t.v, shape), b.constant(ramp(shape))),
            bound: t.bound + 0.37,
            label: `${t.label} + ramp`,
          };
        }
        const y =
          ins.op === "maxPool2d"
            ? b.maxPool2d(x.v, kernelSize, { strides, padding })
            : b.avgPool2d(x.v, kernelSize, { strides, padding });
        out = {
          v: b.reshape(y, [y.shape[2]!, y.shape[3]!]),
          bound: x.bound,
          text: `${ins.op}(${x.label} as ${shapeToString(shape)}, ${JSON.stringify({ kernelSize, strides, padding })})`,
        };
        break;
      }
      default: {
        const u = p.userOps?.find((o) => o.op === ins.op);
        const def = u ? customOpDef(u.op) : undefined;
        if (!u || !def) break;
        const limit = u.inputBound ?? LIMIT;
        const prep = (s: Slot): Slot => {
          const x = tame(s, limit);
          if (u.domain !== "positive") return x;
          return {
            v: b.add(b.square(x.v), 0.5),
            bound: x.bound * x.bound + 0.5,
            label: `square(${x.label}) + 0.5`,
          };
        };
        const x = prep(A);
        const n = def.arity === "variadic" ? 2 : def.arity;
        const args = n === 1 ? [x] : [x, fit(x, prep(B))];
        while (args.length < n) args.push(args[1]!);
        usesB = n > 1;
        let v: Value;
        try {
          v = b.op(
            u.op,
            args.map((s) => s.v),
            u.attrs ?? {},
          );
        } catch (e) {
          if (e instanceof ShapeError) break; // shapes the op does not take: skip, like other ops
          throw e;
        }
        out = {
          v,
          bound: u.outputBound ?? Number.POSITIVE_INFINITY,
          text: `${u.op}(${args.map((s) => s.label).join(", ")}${u.attrs ? `, ${JSON.stringify(u.attrs)}` : ""})`,
        };
        break;
      }
    }
    if (!out) continue;
    used.add(ia);
    if (usesB) used.add(ib);
    const label = `v${slots.length}`;
    program.push(`${label} = ${out.text} : ${shapeToString(out.v.shape)}`);
    slots.push({ v: out.v, bound: out.bound, label });
  }

  // loss: every value nothing else used, weighted by fixed random weights
  let loss: Value | null = null;
  const terms: string[] = [];
  slots.forEach((s, i) => {
    if (used.has(i)) return;
    const n = size(s.v.shape);
    const w = Array.from({ length: n }, () => rng.uniform(-1, 1));
    const term = b.sum(
      b.mul(s.v, b.constant(Tensor.from(w, { shape: s.v.shape as number[], dtype: "float64" }))),
    );
    loss = loss ? b.add(loss, term) : term;
    terms.push(`sum(${s.label} * w${i})`);
  });
  b.output("loss", loss ?? b.scalar(0));
  program.push(`loss = ${terms.join(" + ") || "0"}`);
  return { graph: b.build(), feeds, params, wrt, program };
}

/** Arbitrary programs; see {@link randomGraphArb}. */
export function graphProgramArb(constraints: RandomGraphConstraints = {}): fc.Arbitrary<GraphProgram> {
  const { maxNodes = 8, maxSources = 3, maxDim = 3, ops = RANDOM_GRAPH_OPS } = constraints;
  const maxSize = maxDim * maxDim;
  const userOps = userOpList(constraints);
  const opNames: (RandomGraphOp | CustomOpName)[] = [...ops, ...userOps.map((u) => u.op as CustomOpName)];
  const program = fc.record({
    m: fc.integer({ min: 1, max: maxDim }),
    n: fc.integer({ min: 1, max: maxDim }),
    sources: fc.array(
      fc.record({
        kind: fc.integer({ min: 0, max: 4 }),
        asInput: fc.boolean(),
        values: fc.array(valueArb({ min: -1.5, max: 1.5 }), {
          minLength: maxSize,
          maxLength: maxSize,
        }),
      }),
      { minLength: 1, maxLength: maxSources },
    ),
    instructions: fc.array(
      fc.record({
        op: fc.constantFrom(...opNames),
        a: fc.nat({ max: 63 }),
        b: fc.nat({ max: 63 }),
        k: fc.nat({ max: 15 }),
      }),
      { minLength: 0, maxLength: maxNodes },
    ),
    seed: fc.nat({ max: 1000 }),
  });
  return userOps.length ? program.map((p) => ({ ...p, userOps })) : program;
}

/**
 * Random DAGs built from (a domain-safe subset of) the op table, and the user ops given in
 * `userOps`, with shared subexpressions (instructions reuse earlier values, so fan-out is common),
 * ending in the scalar `loss`: the sum of every unused value times fixed random weights. Shrinks
 * to small graphs.
 * @example
 * fc.assert(gradientMatchesFiniteDifferences(randomGraphArb({ userOps: [softplus] })), fcParameters());
 */
export function randomGraphArb(constraints: RandomGraphConstraints = {}): fc.Arbitrary<GraphCase> {
  return graphProgramArb(constraints).map((p) => {
    const c = buildRandomGraph(p);
    return Object.assign(c, { [fc.toStringMethod]: () => c.program.join("\n") });
  });
}

/** Options of {@link gradientMatchesFiniteDifferences}. */
export interface FiniteDifferenceOptions extends Omit<GradcheckOptions, "params" | "wrt"> {
  /**
   * 1 (default): check the gradient of `of`. 2: check the gradient of `sum(grad * v)` (fixed
   * random `v`), i.e. second derivatives (Hessian-vector products) against finite differences of
   * the first-derivative graph.
   */
  order?: 1 | 2;
}

/** The scalar `sum_k sum(grad_k * v_k)` of a case's gradients, as output `loss2`, for second-order checks. */
export function secondOrderCase(c: GraphCase, of = "loss"): GraphCase {
  const g = grad(c.graph, of, c.wrt);
  const b = GraphBuilder.extend(g, { dtype: "float64" });
  const rng = new Rng(0x2d2d);
  let total: Value | null = null;
  for (const w of c.wrt) {
    const gv = b.ref(gradName(w));
    const n = size(gv.shape);
    const v = b.constant(
      Tensor.from(
        Array.from({ length: n }, () => rng.uniform(-1, 1)),
        { shape: gv.shape as number[], dtype: "float64" },
      ),
    );
    const term = b.sum(b.mul(gv, v));
    total = total ? b.add(total, term) : term;
  }
  b.output("loss2", total ?? b.scalar(0));
  return { ...c, graph: b.build(), program: [...c.program, `loss2 = sum over wrt of sum(grad(loss) * v)`] };
}

/**
 * A fast-check property: for every generated case, the graph's gradient (with respect to
 * `case.wrt`, of `options.of`, default `"loss"`) equals central finite differences (see
 * {@link gradcheck}). A failure throws with the program and the gradcheck report.
 * @example
 * fc.assert(gradientMatchesFiniteDifferences(randomGraphArb()), fcParameters());
 */
export function gradientMatchesFiniteDifferences(
  cases: fc.Arbitrary<GraphCase>,
  options: FiniteDifferenceOptions = {},
): fc.IPropertyWithHooks<[GraphCase]> {
  const { order = 1, ...rest } = options;
  return fc.property(cases, (c0) => {
    const c = order === 2 ? secondOrderCase(c0, (rest.of as string | undefined) ?? "loss") : c0;
    const of = order === 2 ? "loss2" : (rest.of ?? "loss");
    const report = gradcheck(c.graph, c.feeds, { ...rest, of, wrt: c.wrt, params: c.params });
    if (!report.ok) {
      throw new Error(
        `gradient differs from finite differences${order === 2 ? " (second order)" : ""}\n${c.program.join(
          "\n",
        )}\n${formatGradcheckReport(report)}\n${printGraph(c.graph)}`,
      );
    }
  });
}
