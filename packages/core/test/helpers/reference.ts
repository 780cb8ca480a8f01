/**
 * A deliberately naive float64 reference evaluator for every op, written independently of the
 * kernels: nested loops over multi-indices with numpy semantics. Slow and obviously correct.
 *
 * `REFERENCE` is a mapped type over `OpName`, so an op added to the table without a reference
 * entry fails `tsc`; the op tests also check the keys at run time.
 */
import {
  customOpDef,
  type Dim,
  type Graph,
  type GraphNode,
  isOpName,
  type OpName,
  type ParamStore,
  type Shape,
  type Tensor,
  uniformAt,
} from "@gradgraph/core";

/** A reference value: concrete shape plus row-major float64 data. */
export interface RefTensor {
  readonly shape: number[];
  readonly data: number[];
}

interface Env {
  readonly feeds: Readonly<Record<string, Tensor>>;
  readonly params: ParamStore | undefined;
  readonly dims: ReadonlyMap<string, number>;
}

type RefFn<K extends OpName> = (node: GraphNode<K>, inputs: readonly RefTensor[], env: Env) => RefTensor;

// ---- multi-index helpers ----------------------------------------------------------------

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Calls fn(multiIndex, flatIndex) for every element of `shape`, row-major. */
function forEachIndex(shape: readonly number[], fn: (idx: number[], flat: number) => void): void {
  const n = size(shape);
  for (let flat = 0; flat < n; flat++) {
    const idx = new Array<number>(shape.length);
    let rem = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rem % shape[d]!;
      rem = Math.floor(rem / shape[d]!);
    }
    fn(idx, flat);
  }
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  let off = 0;
  for (let d = 0; d < shape.length; d++) {
    const i = idx[d]!;
    if (i < 0 || i >= shape[d]!) throw new Error(`reference: index ${idx} out of ${shape}`);
    off = off * shape[d]! + i;
  }
  return off;
}

function at(t: RefTensor, idx: readonly number[]): number {
  return t.data[ravel(idx, t.shape)]!;
}

/** Reads `t` at output index `outIdx` with numpy broadcasting (trailing alignment, size-1 dims repeat). */
function atBroadcast(t: RefTensor, outIdx: readonly number[]): number {
  const lead = outIdx.length - t.shape.length;
  const idx = t.shape.map((d, k) => (d === 1 ? 0 : outIdx[k + lead]!));
  return at(t, idx);
}

function broadcast(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    let r = 1;
    for (const s of shapes) {
      const k = d - (rank - s.length);
      const v = k < 0 ? 1 : s[k]!;
      if (v === 1) continue;
      if (r !== 1 && r !== v) throw new Error(`reference: cannot broadcast ${JSON.stringify(shapes)}`);
      r = v;
    }
    out.push(r);
  }
  return out;
}

function resolve(shape: readonly Dim[], dims: ReadonlyMap<string, number>): number[] {
  return shape.map((d) => {
    if (typeof d === "number") return d;
    const v = dims.get(d);
    if (v === undefined) throw new Error(`reference: unbound dim ${d}`);
    return v;
  });
}

function axesOf(axes: readonly number[] | null, rank: number): number[] {
  if (axes === null) return Array.from({ length: rank }, (_, i) => i);
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

function tensorToRef(t: Tensor): RefTensor {
  return { shape: [...t.shape], data: Array.from(t.data) };
}

// ---- per-op references ------------------------------------------------------------------

function unary(f: (x: number) => number): RefFn<OpName> {
  return (_node, [x]) => ({ shape: [...x!.shape], data: x!.data.map(f) });
}

function nary(f: (...v: number[]) => number): RefFn<OpName> {
  return (_node, ins) => {
    const shape = broadcast(ins.map((t) => t.shape));
    const data: number[] = [];
    forEachIndex(shape, (idx) => {
      data.push(f(...ins.map((t) => atBroadcast(t, idx))));
    });
    return { shape, data };
  };
}

type ReduceKind = "sum" | "mean" | "max" | "logSumExp";

function reduce(kind: ReduceKind): RefFn<"sum" | "mean" | "max" | "logSumExp"> {
  return (node, [x]) => {
    const rank = x!.shape.length;
    const axes = axesOf(node.attrs.axes, rank);
    const keptShape = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const groups = new Map<number, number[]>();
    forEachIndex(x!.shape, (idx, flat) => {
      const key = ravel(
        idx.map((v, i) => (axes.includes(i) ? 0 : v)),
        keptShape,
      );
      const g = groups.get(key) ?? [];
      groups.set(key, g);
      g.push(x!.data[flat]!);
    });
    const data: number[] = [];
    for (let k = 0; k < size(keptShape); k++) {
      const vals = groups.get(k) ?? [];
      let r: number;
      if (kind === "sum" || kind === "mean") {
        r = 0;
        for (const v of vals) r += v;
        if (kind === "mean") r /= vals.length;
      } else {
        let m = Number.NEGATIVE_INFINITY;
        for (const v of vals) m = Number.isNaN(v) || Number.isNaN(m) ? Number.NaN : Math.max(m, v);
        if (kind === "max") r = m;
        else if (!Number.isFinite(m)) r = m;
        else {
          let s = 0;
          for (const v of vals) s += Math.exp(v - m);
          r = m + Math.log(s);
        }
      }
      data.push(r);
    }
    const shape = node.attrs.keepdims ? keptShape : x!.shape.filter((_, i) => !axes.includes(i));
    return { shape, data };
  };
}

function softmaxRef(log: boolean): RefFn<"softmax" | "logSoftmax"> {
  return (node, [x]) => {
    const rank = x!.shape.length;
    const axis = node.attrs.axis < 0 ? node.attrs.axis + rank : node.attrs.axis;
    const n = x!.shape[axis]!;
    const data = new Array<number>(x!.data.length);
    forEachIndex(x!.shape, (idx, flat) => {
      const line = (r: number) =>
        at(
          x!,
          idx.map((v, d) => (d === axis ? r : v)),
        );
      let m = Number.NEGATIVE_INFINITY;
      for (let r = 0; r < n; r++) m = Math.max(m, line(r));
      let s = 0;
      for (let r = 0; r < n; r++) s += Math.exp(line(r) - m);
      const v = x!.data[flat]!;
      data[flat] = log ? v - m - Math.log(s) : Math.exp(v - m) / s;
    });
    return { shape: [...x!.shape], data };
  };
}

/**
 * layerNorm and layerNormBackward: for every index, the line of `x` (and of `d`) through it along
 * the axis, its mean and biased variance; `xhat = (x - mean) / sqrt(var + epsilon)`.
 */
function layerNormRef(backward: boolean): RefFn<"layerNorm" | "layerNormBackward"> {
  return (node, [x, p, q]) => {
    const rank = x!.shape.length;
    const axis = node.attrs.axis < 0 ? node.attrs.axis + rank : node.attrs.axis;
    const n = x!.shape[axis]!;
    const data = new Array<number>(x!.data.length);
    forEachIndex(x!.shape, (idx, flat) => {
      const line = (t: RefTensor, r: number) =>
        at(
          t,
          idx.map((v, d) => (d === axis ? r : v)),
        );
      let mean = 0;
      for (let r = 0; r < n; r++) mean += line(x!, r) / n;
      let variance = 0;
      for (let r = 0; r < n; r++) variance += (line(x!, r) - mean) ** 2 / n;
      const sd = Math.sqrt(variance + node.attrs.epsilon);
      const xhat = (r: number) => (line(x!, r) - mean) / sd;
      if (!backward) {
        data[flat] = xhat(idx[axis]!) * p!.data[idx[axis]!]! + q!.data[idx[axis]!]!;
        return;
      }
      // p is the cotangent d: (d - mean(d) - xhat mean(d xhat)) / sd
      let md = 0;
      let mdx = 0;
      for (let r = 0; r < n; r++) {
        md += line(p!, r) / n;
        mdx += (line(p!, r) * xhat(r)) / n;
      }
      data[flat] = (p!.data[flat]! - md - xhat(idx[axis]!) * mdx) / sd;
    });
    return { shape: [...x!.shape], data };
  };
}

function matmulRef(node: GraphNode<"matmul">, [a, b]: readonly RefTensor[]): RefTensor {
  const { transA, transB } = node.attrs;
  const as = a!.shape;
  const bs = b!.shape;
  const ra = as.length;
  const rb = bs.length;
  const M = transA ? as[ra - 1]! : as[ra - 2]!;
  const K = transA ? as[ra - 2]! : as[ra - 1]!;
  const N = transB ? bs[rb - 2]! : bs[rb - 1]!;
  const batch = broadcast([as.slice(0, -2), bs.slice(0, -2)]);
  const shape = [...batch, M, N];
  const data: number[] = [];
  forEachIndex(shape, (idx) => {
    const bIdx = idx.slice(0, -2);
    const i = idx[idx.length - 2]!;
    const j = idx[idx.length - 1]!;
    let s = 0;
    for (let k = 0; k < K; k++) {
      const av = atBroadcast(a!, [...bIdx, ...(transA ? [k, i] : [i, k])]);
      const bv = atBroadcast(b!, [...bIdx, ...(transB ? [j, k] : [k, j])]);
      s += av * bv;
    }
    data.push(s);
  });
  return { shape, data };
}

// ---- convolution and pooling (NCHW), written as gathers over the definition -----------------

/** Conv attributes as the reference reads them (explicit, all concrete). */
interface RefConv {
  readonly strides: readonly number[];
  readonly padding: readonly number[];
  readonly dilations: readonly number[];
  readonly groups: number;
}

/**
 * The input pixel `(ih, iw)` that output `(oh, ow)` meets through tap `(ki, kj)`:
 * `ih = oh·sh - top + ki·dh` (likewise for columns); null when it lies in the padding.
 */
function tapOf(
  a: RefConv,
  H: number,
  W: number,
  oh: number,
  ow: number,
  ki: number,
  kj: number,
): [number, number] | null {
  const ih = oh * a.strides[0]! - a.padding[0]! + ki * a.dilations[0]!;
  const iw = ow * a.strides[1]! - a.padding[2]! + kj * a.dilations[1]!;
  return ih >= 0 && ih < H && iw >= 0 && iw < W ? [ih, iw] : null;
}

/** The output size of a convolution along one axis (the definition, floor division). */
function convLen(size: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

/** `y[n,o,oh,ow] = Σ_{c in o's group, ki, kj} x[n,c,tap] · w[o,c',ki,kj]`. */
function conv2dRef(node: GraphNode<"conv2d">, [x, w]: readonly RefTensor[]): RefTensor {
  const a = node.attrs;
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = w!.shape as [number, number, number, number];
  const Og = O / a.groups;
  const Ho = convLen(H, kh, a.strides[0], a.dilations[0], a.padding[0], a.padding[1]);
  const Wo = convLen(W, kw, a.strides[1], a.dilations[1], a.padding[2], a.padding[3]);
  if (C !== Cg * a.groups) throw new Error("reference: conv2d channel mismatch");
  const shape = [N, O, Ho, Wo];
  const data: number[] = [];
  forEachIndex(shape, ([n, o, oh, ow]) => {
    const grp = Math.floor(o! / Og);
    let s = 0;
    for (let c = 0; c < Cg; c++)
      for (let ki = 0; ki < kh; ki++)
        for (let kj = 0; kj < kw; kj++) {
          const t = tapOf(a, H, W, oh!, ow!, ki, kj);
          if (t) s += at(x!, [n!, grp * Cg + c, t[0], t[1]]) * at(w!, [o!, c, ki, kj]);
        }
    data.push(s);
  });
  return { shape, data };
}

/**
 * `dx[n,c,ih,iw] = Σ dy[n,o,oh,ow] · w[o,c',ki,kj]` over the outputs `(oh, ow)` and taps whose
 * tap lands on `(ih, iw)`: the gather form of the transposed convolution.
 */
function conv2dTransposeRef(node: GraphNode<"conv2dTranspose">, [dy, w]: readonly RefTensor[]): RefTensor {
  const a = node.attrs;
  const [N, O, Ho, Wo] = dy!.shape as [number, number, number, number];
  const [, Cg, kh, kw] = w!.shape as [number, number, number, number];
  const [H, W] = a.outputSize;
  const Og = O / a.groups;
  const shape = [N, Cg * a.groups, H, W];
  const data: number[] = [];
  forEachIndex(shape, ([n, c, ih, iw]) => {
    const grp = Math.floor(c! / Cg);
    let s = 0;
    for (let ki = 0; ki < kh; ki++) {
      const ohNum = ih! + a.padding[0] - ki * a.dilations[0];
      if (ohNum < 0 || ohNum % a.strides[0] !== 0) continue;
      const oh = ohNum / a.strides[0];
      if (oh >= Ho) continue;
      for (let kj = 0; kj < kw; kj++) {
        const owNum = iw! + a.padding[2] - kj * a.dilations[1];
        if (owNum < 0 || owNum % a.strides[1] !== 0) continue;
        const ow = owNum / a.strides[1];
        if (ow >= Wo) continue;
        for (let oo = 0; oo < Og; oo++) {
          const o = grp * Og + oo;
          s += at(dy!, [n!, o, oh, ow]) * at(w!, [o, c! - grp * Cg, ki, kj]);
        }
      }
    }
    data.push(s);
  });
  return { shape, data };
}

/** `dw[o,c',ki,kj] = Σ_{n,oh,ow} dy[n,o,oh,ow] · x[n,c,tap]`. */
function conv2dBackpropFilterRef(
  node: GraphNode<"conv2dBackpropFilter">,
  [x, dy]: readonly RefTensor[],
): RefTensor {
  const a = node.attrs;
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [, O, Ho, Wo] = dy!.shape as [number, number, number, number];
  const [kh, kw] = a.kernelSize;
  const Cg = C / a.groups;
  const Og = O / a.groups;
  const shape = [O, Cg, kh, kw];
  const data: number[] = [];
  forEachIndex(shape, ([o, c, ki, kj]) => {
    const grp = Math.floor(o! / Og);
    let s = 0;
    for (let n = 0; n < N; n++)
      for (let oh = 0; oh < Ho; oh++)
        for (let ow = 0; ow < Wo; ow++) {
          const t = tapOf(a, H, W, oh, ow, ki!, kj!);
          if (t) s += at(dy!, [n, o!, oh, ow]) * at(x!, [n, grp * Cg + c!, t[0], t[1]]);
        }
    data.push(s);
  });
  return { shape, data };
}

/** Pooling attributes as the reference reads them. */
interface RefPool {
  readonly kernelSize: readonly number[];
  readonly strides: readonly number[];
  readonly padding: readonly number[];
}

/** The real pixels `[ih, iw]` of output `(oh, ow)`'s window, row-major (padding left out). */
function windowOf(a: RefPool, H: number, W: number, oh: number, ow: number): [number, number][] {
  const out: [number, number][] = [];
  for (let ki = 0; ki < a.kernelSize[0]!; ki++)
    for (let kj = 0; kj < a.kernelSize[1]!; kj++) {
      const ih = oh * a.strides[0]! - a.padding[0]! + ki;
      const iw = ow * a.strides[1]! - a.padding[2]! + kj;
      if (ih >= 0 && ih < H && iw >= 0 && iw < W) out.push([ih, iw]);
    }
  return out;
}

function pooledLen(a: RefPool, size: number, axis: 0 | 1): number {
  return convLen(
    size,
    a.kernelSize[axis]!,
    a.strides[axis]!,
    1,
    a.padding[2 * axis]!,
    a.padding[2 * axis + 1]!,
  );
}

/**
 * For every output of pooling `x` (`[N, C, Ho, Wo]`, row-major): the window's real pixels and the
 * position of the first maximum (a NaN beats any number; the first NaN wins).
 */
function poolWindows(a: RefPool, x: RefTensor): { shape: number[]; windows: [number, number, number[][]][] } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const shape = [N, C, pooledLen(a, H, 0), pooledLen(a, W, 1)];
  const windows: [number, number, number[][]][] = [];
  forEachIndex(shape, ([n, c, oh, ow]) => {
    windows.push([n!, c!, windowOf(a, H, W, oh!, ow!).map(([ih, iw]) => [n!, c!, ih, iw])]);
  });
  return { shape, windows };
}

function argmaxOf(x: RefTensor, win: number[][]): number[] {
  let best = win[0]!;
  for (const p of win) {
    const v = at(x, p);
    const m = at(x, best);
    if (Number.isNaN(m)) break;
    if (Number.isNaN(v) || v > m) best = p;
  }
  return best;
}

function maxPoolRef(node: GraphNode<"maxPool2d">, [x]: readonly RefTensor[]): RefTensor {
  const { shape, windows } = poolWindows(node.attrs, x!);
  return { shape, data: windows.map(([, , win]) => at(x!, argmaxOf(x!, win))) };
}

function maxPoolBackpropRef(node: GraphNode<"maxPool2dBackprop">, [x, g]: readonly RefTensor[]): RefTensor {
  const { windows } = poolWindows(node.attrs, x!);
  const data = new Array<number>(x!.data.length).fill(0);
  windows.forEach(([, , win], o) => {
    const k = ravel(argmaxOf(x!, win), x!.shape);
    data[k] = data[k]! + g!.data[o]!;
  });
  return { shape: [...x!.shape], data };
}

function maxPoolGatherRef(node: GraphNode<"maxPool2dGather">, [x, v]: readonly RefTensor[]): RefTensor {
  const { shape, windows } = poolWindows(node.attrs, x!);
  return { shape, data: windows.map(([, , win]) => at(v!, argmaxOf(x!, win))) };
}

function avgPoolRef(node: GraphNode<"avgPool2d">, [x]: readonly RefTensor[]): RefTensor {
  const { shape, windows } = poolWindows(node.attrs, x!);
  return {
    shape,
    data: windows.map(([, , win]) => win.reduce((s, p) => s + at(x!, p), 0) / win.length),
  };
}

/** `dx[n,c,ih,iw] = Σ g[n,c,oh,ow] / |window(oh,ow)|` over the windows holding `(ih, iw)`. */
function avgPoolBackpropRef(node: GraphNode<"avgPool2dBackprop">, [g]: readonly RefTensor[]): RefTensor {
  const a = node.attrs;
  const [N, C, Ho, Wo] = g!.shape as [number, number, number, number];
  const [H, W] = a.inputSize;
  const shape = [N, C, H, W];
  const data: number[] = [];
  forEachIndex(shape, ([n, c, ih, iw]) => {
    let s = 0;
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++) {
        const win = windowOf(a, H, W, oh, ow);
        if (win.some(([p, q]) => p === ih && q === iw)) s += at(g!, [n!, c!, oh, ow]) / win.length;
      }
    data.push(s);
  });
  return { shape, data };
}

// ---- special functions by quadrature (independent of the kernels' series) ---------------------

/** Composite Simpson rule for `2/√π ∫ₐᵇ exp(-t²) dt` with `n` (even) intervals. */
function erfIntegral(a: number, b: number, n: number): number {
  const h = (b - a) / n;
  const f = (t: number) => Math.exp(-t * t);
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

/** `erfc(z)`: the tail integral for `z >= 1` (no cancellation), `1 - erf(z)` below. */
function refErfc(z: number): number {
  if (Number.isNaN(z)) return z;
  if (z >= 1) return erfIntegral(z, z + 7, 14000);
  return 1 - refErf(z);
}

/** `erf(x)`: the integral from 0 for `|x| < 1`, `1 - erfc(|x|)` beyond; odd. */
function refErf(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  const r = a < 1 ? erfIntegral(0, a, 2000) : 1 - refErfc(a);
  return x < 0 ? -r : r;
}

/** The series of `log(1 + x)` / `exp(x) - 1` near 0, the direct formula elsewhere. */
function refLog1p(x: number): number {
  return Math.abs(x) < 1e-4 ? x - (x * x) / 2 + (x * x * x) / 3 - (x * x * x * x) / 4 : Math.log(1 + x);
}
function refExpm1(x: number): number {
  return Math.abs(x) < 1e-5 ? x + (x * x) / 2 + (x * x * x) / 6 : Math.exp(x) - 1;
}

/** Normalises a possibly negative axis. */
function axisOf(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Reads an index and checks it, as the kernels must. */
function indexAt(t: RefTensor, k: number, n: number): number {
  const j = t.data[k]!;
  if (!Number.isInteger(j) || j < 0 || j >= n) throw new RangeError(`reference: bad index ${j}`);
  return j;
}

const id = (x: number) => x;

/** The reference implementation of every op, keyed by op name. */
export const REFERENCE: { readonly [K in OpName]: RefFn<K> } = {
  input: (node, _ins, env) => {
    const t = env.feeds[node.attrs.name];
    if (!t) throw new Error(`reference: no feed ${node.attrs.name}`);
    return tensorToRef(t);
  },
  param: (node, _ins, env) => tensorToRef(env.params!.get(node.attrs.name)),
  constant: (node) => ({ shape: [...node.attrs.shape], data: [...node.attrs.values] }),
  fill: (node, _ins, env) => {
    const shape = resolve(node.attrs.shape, env.dims);
    return { shape, data: new Array<number>(size(shape)).fill(node.attrs.value) };
  },
  neg: unary((x) => -x),
  exp: unary(Math.exp),
  log: unary(Math.log),
  tanh: unary((x) => {
    const e = Math.expm1(-2 * Math.abs(x)); // tanh|x| = -e / (2 + e), stable for any |x|
    return x < 0 ? e / (2 + e) : -e / (2 + e);
  }),
  sigmoid: unary((x) => 1 / (1 + Math.exp(-x))),
  relu: unary((x) => Math.max(x, 0)), // NaN stays NaN, like numpy's maximum(x, 0)
  square: unary((x) => x * x),
  sqrt: unary((x) => x ** 0.5),
  abs: unary((x) => (x < 0 ? -x : x)),
  sign: unary((x) => (x > 0 ? 1 : x < 0 ? -1 : x)),
  add: nary((a, b) => a + b),
  sub: nary((a, b) => a - b),
  mul: nary((a, b) => a * b),
  div: nary((a, b) => a / b),
  pow: nary((a, b) => a ** b),
  maximum: nary((a, b) => Math.max(a, b)),
  minimum: nary((a, b) => Math.min(a, b)),
  greater: nary((a, b) => (a > b ? 1 : 0)),
  greaterEqual: nary((a, b) => (a >= b ? 1 : 0)),
  less: nary((a, b) => (a < b ? 1 : 0)),
  lessEqual: nary((a, b) => (a <= b ? 1 : 0)),
  equal: nary((a, b) => (a === b ? 1 : 0)),
  where: nary((c, a, b) => (c !== 0 ? a : b)),
  matmul: matmulRef,
  transpose: (node, [x]) => {
    const rank = x!.shape.length;
    const perm = node.attrs.perm ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const shape = perm.map((p) => x!.shape[p]!);
    const data: number[] = [];
    forEachIndex(shape, (o) => {
      const inIdx = new Array<number>(rank);
      perm.forEach((p, i) => {
        inIdx[p] = o[i]!;
      });
      data.push(at(x!, inIdx));
    });
    return { shape, data };
  },
  reshape: (node, [x], env) => {
    const target = node.attrs.shape.map((d) => (typeof d === "string" ? env.dims.get(d)! : d));
    const known = target.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    const shape = target.map((d) => (d === -1 ? x!.data.length / known : d));
    if (size(shape) !== x!.data.length) throw new Error("reference: reshape size mismatch");
    return { shape, data: [...x!.data] };
  },
  broadcastTo: (node, [x], env) => {
    const shape = resolve(node.attrs.shape, env.dims);
    const data: number[] = [];
    forEachIndex(shape, (idx) => {
      data.push(atBroadcast(x!, idx));
    });
    return { shape, data };
  },
  concat: (node, ins) => {
    const rank = ins[0]!.shape.length;
    const axis = node.attrs.axis < 0 ? node.attrs.axis + rank : node.attrs.axis;
    const shape = [...ins[0]!.shape];
    shape[axis] = ins.reduce((p, t) => p + t.shape[axis]!, 0);
    const data: number[] = [];
    forEachIndex(shape, (idx) => {
      let k = 0;
      let pos = idx[axis]!;
      while (pos >= ins[k]!.shape[axis]!) pos -= ins[k++]!.shape[axis]!;
      data.push(
        at(
          ins[k]!,
          idx.map((v, d) => (d === axis ? pos : v)),
        ),
      );
    });
    return { shape, data };
  },
  slice: (node, [x]) => {
    const begin = x!.shape.map((_, d) => node.attrs.begin[d] ?? 0);
    const end = x!.shape.map((dim, d) => node.attrs.end[d] ?? dim);
    const shape = begin.map((b, d) => end[d]! - b);
    const data: number[] = [];
    forEachIndex(shape, (idx) => {
      data.push(
        at(
          x!,
          idx.map((v, d) => v + begin[d]!),
        ),
      );
    });
    return { shape, data };
  },
  pad: (node, [x]) => {
    const before = x!.shape.map((_, d) => node.attrs.before[d] ?? 0);
    const shape = x!.shape.map((dim, d) => before[d]! + dim + (node.attrs.after[d] ?? 0));
    const data: number[] = [];
    forEachIndex(shape, (idx) => {
      const src = idx.map((v, d) => v - before[d]!);
      data.push(src.every((v, d) => v >= 0 && v < x!.shape[d]!) ? at(x!, src) : 0);
    });
    return { shape, data };
  },
  sum: reduce("sum"),
  mean: reduce("mean"),
  max: reduce("max"),
  logSumExp: reduce("logSumExp"),
  softmax: softmaxRef(false),
  logSoftmax: softmaxRef(true),
  conv2d: conv2dRef,
  conv2dTranspose: conv2dTransposeRef,
  conv2dBackpropFilter: conv2dBackpropFilterRef,
  maxPool2d: maxPoolRef,
  maxPool2dBackprop: maxPoolBackpropRef,
  maxPool2dGather: maxPoolGatherRef,
  avgPool2d: avgPoolRef,
  avgPool2dBackprop: avgPoolBackpropRef,
  // element i is the hash of (round(key), salt, i), as uniformAt documents
  randomUniform: (node, [key], env) => {
    const shape = resolve(node.attrs.shape, env.dims);
    const k = Math.round(key!.data[0]!);
    return { shape, data: Array.from({ length: size(shape) }, (_, i) => uniformAt(k, node.attrs.salt, i)) };
  },
  stopGradient: unary(id),
  customGradient: (_node, ins) => ins[0]!,
  softplus: unary((x) => (x > 0 ? x + Math.log(1 + Math.exp(-x)) : Math.log(1 + Math.exp(x)))),
  log1p: unary(refLog1p),
  expm1: unary(refExpm1),
  silu: unary((x) => x * (1 / (1 + Math.exp(-x)))),
  erf: unary(refErf),
  // x Φ(x), Φ(x) = erfc(-x/√2) / 2 (the tail integral for negative x)
  gelu: unary((x) => x * 0.5 * refErfc(-x / Math.sqrt(2))),
  geluTanh: unary((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))),
  leakyRelu: nary((v, s) => (v >= 0 ? v : s * v)),
  elu: nary((v, a) => (v > 0 ? v : a * refExpm1(v))),
  clip: nary((v, lo, hi) => {
    if (lo > hi) return Number.isNaN(v) ? v : hi; // numpy: the upper bound wins
    if (v < lo) return lo;
    if (v > hi) return hi;
    return v;
  }),
  oneHot: (node, [x]) => {
    const depth = node.attrs.depth;
    const shape = [...x!.shape, depth];
    const data: number[] = [];
    forEachIndex(shape, (idx) => {
      const v = at(x!, idx.slice(0, -1));
      data.push(v === idx[idx.length - 1] ? 1 : 0);
    });
    return { shape, data };
  },
  argmax: (node, [x]) => {
    const rank = x!.shape.length;
    const a = axisOf(node.attrs.axis, rank);
    const kept = x!.shape.map((d, i) => (i === a ? 1 : d));
    const data: number[] = [];
    forEachIndex(kept, (idx) => {
      let best = 0;
      for (let r = 1; r < x!.shape[a]!; r++) {
        const v = at(
          x!,
          idx.map((u, d) => (d === a ? r : u)),
        );
        const w = at(
          x!,
          idx.map((u, d) => (d === a ? best : u)),
        );
        if (!Number.isNaN(w) && (v > w || Number.isNaN(v))) best = r;
      }
      data.push(best);
    });
    const shape = node.attrs.keepdims ? kept : x!.shape.filter((_, i) => i !== a);
    return { shape, data };
  },
  gather: (node, [x, ix]) => {
    const a = axisOf(node.attrs.axis, x!.shape.length);
    const n = x!.shape[a]!;
    const ir = ix!.shape.length;
    const shape = [...x!.shape.slice(0, a), ...ix!.shape, ...x!.shape.slice(a + 1)];
    const data: number[] = [];
    forEachIndex(shape, (idx) => {
      const j = indexAt(ix!, ravel(idx.slice(a, a + ir), ix!.shape), n);
      data.push(at(x!, [...idx.slice(0, a), j, ...idx.slice(a + ir)]));
    });
    return { shape, data };
  },
  layerNorm: layerNormRef(false),
  layerNormBackward: layerNormRef(true),
  scatterAdd: (node, [ix, u], env) => {
    const shape = resolve(node.attrs.shape, env.dims);
    const a = axisOf(node.attrs.axis, shape.length);
    const ir = ix!.shape.length;
    const data = new Array<number>(size(shape)).fill(0);
    forEachIndex(u!.shape, (idx, flat) => {
      const j = indexAt(ix!, ravel(idx.slice(a, a + ir), ix!.shape), shape[a]!);
      data[ravel([...idx.slice(0, a), j, ...idx.slice(a + ir)], shape)]! += u!.data[flat]!;
    });
    return { shape, data };
  },
};

function bindDims(graph: Graph, feeds: Readonly<Record<string, Tensor>>): Map<string, number> {
  const dims = new Map<string, number>();
  for (const [name, nodeId] of Object.entries(graph.inputs)) {
    const decl: Shape = graph.nodes[nodeId]!.shape;
    const t = feeds[name];
    if (!t) continue;
    decl.forEach((d, i) => {
      if (typeof d === "string") dims.set(d, t.shape[i]!);
    });
  }
  return dims;
}

/** The reference of a node's op: the table's, or for an elementwise user op its scalar function. */
function refOf(node: GraphNode): RefFn<OpName> {
  if (isOpName(node.op)) return REFERENCE[node.op] as RefFn<OpName>;
  const ew = customOpDef(node.op)?.elementwise;
  if (!ew) throw new Error(`reference: no reference for user op '${node.op}' (only elementwise ones)`);
  return nary(ew.fn);
}

/**
 * Evaluates the outputs of `graph` with the reference implementations, node by node.
 * Values of float32 nodes are rounded to float32 after each node (as their storage would be).
 */
export function referenceRun(
  graph: Graph,
  feeds: Readonly<Record<string, Tensor>>,
  params?: ParamStore,
): Record<string, RefTensor> {
  const env: Env = { feeds, params, dims: bindDims(graph, feeds) };
  const needed = new Uint8Array(graph.nodes.length);
  for (const id of Object.values(graph.outputs)) needed[id] = 1;
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    if (needed[i]) for (const j of graph.nodes[i]!.inputs) needed[j] = 1;
  }
  const values: RefTensor[] = [];
  for (const node of graph.nodes) {
    if (!needed[node.id]) continue;
    let v = refOf(node)(
      node as GraphNode<OpName>,
      node.inputs.map((i) => values[i]!),
      env,
    );
    if (node.dtype === "float32") v = { shape: v.shape, data: v.data.map(Math.fround) };
    values[node.id] = v;
  }
  return Object.fromEntries(Object.entries(graph.outputs).map(([k, i]) => [k, values[i]!]));
}

/** Tolerances for comparing against the reference. */
export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

export const TOL: Record<"float32" | "float64", Tolerance> = {
  float64: { rtol: 1e-12, atol: 1e-13 },
  float32: { rtol: 2e-5, atol: 1e-6 },
};

/**
 * Returns null when `actual` matches `expected` (same shape; every element within tolerance,
 * NaN matching NaN, infinities matching exactly), otherwise a message describing the first mismatch.
 */
export function mismatch(
  actual: { shape: readonly number[]; data: ArrayLike<number> },
  expected: RefTensor,
  tol: Tolerance,
): string | null {
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    return `shape [${actual.shape}] != expected [${expected.shape}]`;
  }
  if (actual.data.length !== expected.data.length)
    return `length ${actual.data.length} != ${expected.data.length}`;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    if (Number.isNaN(e) ? Number.isNaN(a) : a === e || Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e)) {
      continue;
    }
    return `element ${i}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)})`;
  }
  return null;
}
