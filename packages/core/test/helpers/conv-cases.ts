/**
 * Generators and checks shared by the convolution and pooling tests: small random convolution
 * problems (fast-check), float32-exact random data, and the float32 error bound used to compare
 * the float32 kernels with the float64 reference.
 */
import { type DType, type Graph, GraphBuilder, Rng, Tensor, type Value } from "@gradgraph/core";
import fc from "fast-check";
import { type RefTensor, referenceRun } from "./reference.js";

/** Explicit convolution attributes. */
export interface ConvAttrsCase {
  strides: [number, number];
  padding: [number, number, number, number];
  dilations: [number, number];
  groups: number;
}

/** A convolution problem: input `x [N,C,H,W]`, weights `w [O,C/groups,kh,kw]`, output `y [N,O,Ho,Wo]`. */
export interface ConvCase {
  x: [number, number, number, number];
  w: [number, number, number, number];
  y: [number, number, number, number];
  attrs: ConvAttrsCase;
}

/** `floor((size + p0 + p1 - d·(k-1) - 1) / s) + 1`: the output length of a convolution along one axis. */
export function convLen(size: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

/**
 * Random convolution problems: batch 1-3, groups 1, 2, 3 or depthwise (with a channel
 * multiplier), strides 1-3, dilations 1-2, asymmetric padding 0-3 per side (wider than the kernel
 * sometimes), kernels 1-4, non-square images up to 10 pixels; the dilated kernel always fits.
 */
export function convCaseArb(): fc.Arbitrary<ConvCase> {
  const int = (min: number, max: number) => fc.integer({ min, max });
  return fc
    .record({
      N: int(1, 3),
      groups: fc.constantFrom(1, 1, 2, 3, 0), // 0: depthwise
      cg: int(1, 3),
      og: int(1, 3),
      kh: int(1, 4),
      kw: int(1, 4),
      sh: int(1, 3),
      sw: int(1, 3),
      dh: int(1, 2),
      dw: int(1, 2),
      pad: fc.tuple(int(0, 3), int(0, 3), int(0, 3), int(0, 3)),
      eh: int(0, 5),
      ew: int(0, 5),
    })
    .map((r): ConvCase => {
      const groups = r.groups === 0 ? r.cg + 1 : r.groups;
      const cg = r.groups === 0 ? 1 : r.cg;
      const C = groups * cg;
      const O = groups * r.og;
      const [pt, pb, pl, pr] = r.pad;
      const H = Math.max(1, r.dh * (r.kh - 1) + 1 - pt - pb) + r.eh;
      const W = Math.max(1, r.dw * (r.kw - 1) + 1 - pl - pr) + r.ew;
      const Ho = convLen(H, r.kh, r.sh, r.dh, pt, pb);
      const Wo = convLen(W, r.kw, r.sw, r.dw, pl, pr);
      return {
        x: [r.N, C, H, W],
        w: [O, cg, r.kh, r.kw],
        y: [r.N, O, Ho, Wo],
        attrs: { strides: [r.sh, r.sw], padding: r.pad, dilations: [r.dh, r.dw], groups },
      };
    });
}

/** A float64 tensor of float32-exact uniform values in [-1, 1). */
export function f32Tensor(rng: Rng, shape: readonly number[]): Tensor<"float64"> {
  const t = Tensor.zeros(shape, "float64");
  for (let i = 0; i < t.size; i++) t.data[i] = Math.fround(rng.uniform(-1, 1));
  return t;
}

/** The graph of the three convolution passes of `c`: `y = conv2d(x, w)`, `dx = conv2dTranspose(dy, w)`, `dw = conv2dBackpropFilter(x, dy)`. */
export function convPassesGraph(c: ConvCase, dtype: DType, batch: number | string = c.x[0]): Graph {
  const b = new GraphBuilder({ dtype });
  const x = b.input("x", [batch, c.x[1], c.x[2], c.x[3]]);
  const w = b.input("w", c.w);
  const dy = b.input("dy", [batch, c.y[1], c.y[2], c.y[3]]);
  const outs: Record<string, Value> = {
    y: b.op("conv2d", [x, w], c.attrs),
    dx: b.op("conv2dTranspose", [dy, w], { ...c.attrs, outputSize: [c.x[2], c.x[3]] }),
    dw: b.op("conv2dBackpropFilter", [x, dy], { ...c.attrs, kernelSize: [c.w[2], c.w[3]] }),
  };
  for (const [k, v] of Object.entries(outs)) b.output(k, v);
  return b.build();
}

/** Float32-exact random feeds `x`, `w`, `dy` of a convolution problem. */
export function convFeeds(c: ConvCase, seed: number): Record<string, Tensor<"float64">> {
  const rng = new Rng(seed);
  return { x: f32Tensor(rng, c.x), w: f32Tensor(rng, c.w), dy: f32Tensor(rng, c.y) };
}

/** How many products each output element of a pass sums (at most). */
export function termsPerElement(c: ConvCase): Record<"y" | "dx" | "dw", number> {
  const [N, , ,] = c.x;
  const [O, cg, kh, kw] = c.w;
  return { y: cg * kh * kw, dx: (O / c.attrs.groups) * kh * kw, dw: N * c.y[2] * c.y[3] };
}

/**
 * Compares float32 results with the float64 reference of the same (float32-exact) operands.
 * Each element may differ by the classic bound for a float32 sum of `n` products,
 * `(n + 1)·2^-24·Σ|aᵢ·bᵢ|` (`abs` is the reference run on the absolute values), plus its final
 * rounding. Returns null or a description of the first element out of bounds.
 */
export function f32Mismatch(
  got: { shape: readonly number[]; data: ArrayLike<number> },
  ref: RefTensor,
  abs: RefTensor,
  terms: number,
): string | null {
  if (got.shape.length !== ref.shape.length || got.shape.some((d, i) => d !== ref.shape[i]))
    return `shape [${got.shape}] != expected [${ref.shape}]`;
  const u = 2 ** -24;
  for (let i = 0; i < ref.data.length; i++) {
    const e = ref.data[i]!;
    const tol = (terms + 1) * u * abs.data[i]! + u * Math.abs(e);
    const d = Math.abs(got.data[i]! - e);
    if (!(d <= tol))
      return `element ${i}: float32 ${got.data[i]} vs float64 ${e} (|diff| ${d.toExponential(3)} > bound ${tol.toExponential(3)})`;
  }
  return null;
}

/** Runs the float64 reference evaluator on `graph` (cast to float64 by the caller) with the absolute values of `feeds`. */
export function absReference(
  graph: Graph,
  feeds: Record<string, Tensor<"float64">>,
): Record<string, RefTensor> {
  const abs = Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [k, new Tensor(t.shape, t.data.map(Math.abs))]),
  );
  return referenceRun(graph, abs);
}
