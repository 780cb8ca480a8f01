/**
 * Derivatives of the issue-13 ops: first and second order against finite differences (float64),
 * known derivative values, the kink conventions of leakyRelu/elu/clip, exactly-zero gradients of
 * oneHot/argmax and of indices, and gather/scatterAdd with repeated indices (each the other's
 * adjoint, to second order).
 */
import { compile, type Graph, GraphBuilder, ParamStore, Tensor, type Value } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { formatGradcheckReport, grad, gradcheck, gradgradcheck, jvp } from "../src/index.js";

/** A float64 graph `f = sum(w * op(x))` (a weighted sum, so every output entry matters). */
function weighted(shape: number[], build: (b: GraphBuilder, x: Value) => Value): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", shape);
  const w = b.input("w", shape);
  b.output("f", b.sum(b.mul(build(b, x), w)));
  return b.build();
}

const X = Tensor.from([-2.7, -1.3, -0.45, 0.2, 0.9, 1.7, 2.6, -0.05]);
const W = Tensor.from([0.7, -1.1, 0.3, 1.3, -0.6, 0.9, -0.2, 1.5]);

const SMOOTH: [string, (b: GraphBuilder, x: Value) => Value][] = [
  ["softplus", (b, x) => b.softplus(x)],
  ["log1p", (b, x) => b.log1p(b.mul(x, 0.3))],
  ["expm1", (b, x) => b.expm1(x)],
  ["silu", (b, x) => b.silu(x)],
  ["erf", (b, x) => b.erf(x)],
  ["gelu", (b, x) => b.gelu(x)],
  ["geluTanh", (b, x) => b.geluTanh(x)],
  // kinked ops away from their kinks (no input is exactly at 0, ±1 or 2)
  ["elu alpha 1", (b, x) => b.elu(x)],
  ["elu alpha 0.4", (b, x) => b.elu(x, 0.4)],
  ["leakyRelu slope 0.1", (b, x) => b.leakyRelu(x, 0.1)],
  ["clip [-1, 2]", (b, x) => b.clip(x, -1, 2)],
];

describe("issue-13 unary ops: gradients against finite differences (float64)", () => {
  it.each(SMOOTH)("%s: first and second order", (_name, op) => {
    const graph = weighted([8], op);
    const first = gradcheck(graph, { x: X, w: W }, { wrt: ["x"] });
    expect(first.ok, formatGradcheckReport(first)).toBe(true);
    const second = gradgradcheck(graph, { x: X, w: W }, { wrt: ["x"] });
    expect(second.ok, formatGradcheckReport(second)).toBe(true);
  });
});

/** d op(x) / dx at the points `xs`, through grad(sum(op(x))). */
function derivative(build: (b: GraphBuilder, x: Value) => Value, xs: number[]): number[] {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [xs.length]);
  b.output("f", b.sum(build(b, x)));
  const g = grad(b.build(), "f", ["x"]);
  return Array.from(compile(g).run({ x: Tensor.from(xs) })["grad:x"]!.data);
}

describe("issue-13 unary ops: derivative values", () => {
  it("erf' = 2/√π exp(-x²), gelu'(0) = 1/2, softplus' = sigmoid, silu'(0) = 1/2", () => {
    const xs = [0, 0.5, -1.2];
    const erf = derivative((b, x) => b.erf(x), xs);
    xs.forEach((v, i) => {
      expect(erf[i]).toBeCloseTo((2 / Math.sqrt(Math.PI)) * Math.exp(-v * v), 14);
    });
    expect(derivative((b, x) => b.gelu(x), [0])[0]).toBe(0.5);
    expect(derivative((b, x) => b.geluTanh(x), [0])[0]).toBe(0.5);
    expect(derivative((b, x) => b.silu(x), [0])[0]).toBe(0.5);
    const sp = derivative((b, x) => b.softplus(x), xs);
    xs.forEach((v, i) => {
      expect(sp[i]).toBeCloseTo(1 / (1 + Math.exp(-v)), 15);
    });
  });

  it("kinks take the flat (or left) side: leakyRelu'(0) = slope, elu'(0) = alpha, clip' = 0 at both bounds", () => {
    expect(derivative((b, x) => b.leakyRelu(x, 0.2), [-1, 0, 1])).toEqual([0.2, 0.2, 1]);
    expect(derivative((b, x) => b.elu(x, 0.5), [0, 1])).toEqual([0.5, 1]);
    expect(derivative((b, x) => b.clip(x, -1, 2), [-3, -1, -0.5, 2, 3])).toEqual([0, 0, 1, 0, 0]);
    expect(derivative((b, x) => b.clip(x, 1, 1), [0, 1, 2])).toEqual([0, 0, 0]);
  });

  it("JVP of the kinked ops agrees with their VJP at the kinks", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [4]);
    b.output("y", b.add(b.clip(x, -1, 2), b.add(b.leakyRelu(x, 0.2), b.elu(x, 0.5))));
    const g = jvp(b.build(), "y", "x");
    const out = compile(g).run({ x: Tensor.from([-1, 0, 2, 0.5]), "tangent:x": Tensor.from([1, 1, 1, 1]) });
    // clip' + leakyRelu' + elu' at -1, 0, 2, 0.5
    expect(Array.from(out["jvp:y"]!.data)).toEqual([
      0 + 0.2 + 0.5 * Math.exp(-1),
      1 + 0.2 + 0.5,
      0 + 1 + 1,
      1 + 1 + 1,
    ]);
  });
});

describe("parametric activations: gradients of their parameters", () => {
  it.each([
    ["leakyRelu", (b: GraphBuilder, x: Value, p: Value) => b.leakyRelu(x, p)],
    ["elu", (b: GraphBuilder, x: Value, p: Value) => b.elu(x, b.add(b.square(p), 0.2))],
    ["clip", (b: GraphBuilder, x: Value, p: Value) => b.clip(x, b.sub(p, 1), b.add(b.mul(p, 0.5), 0.7))],
  ] as const)("%s: a per-row parameter, first and second order", (_name, op) => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2, 4]);
    const p = b.input("p", [2, 1]);
    const w = b.input("w", [2, 4]);
    b.output("f", b.sum(b.mul(b.square(op(b, x, p)), w)));
    const graph = b.build();
    const feeds = { x: X.reshape([2, 4]), p: Tensor.from([[0.35], [-0.15]]), w: W.reshape([2, 4]) };
    const first = gradcheck(graph, feeds, { wrt: ["x", "p"] });
    expect(first.ok, formatGradcheckReport(first)).toBe(true);
    const second = gradgradcheck(graph, feeds, { wrt: ["x", "p"] });
    expect(second.ok, formatGradcheckReport(second)).toBe(true);
  });

  it("clip routes the derivative to exactly one of x, lo, hi (lo > hi: all to hi)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [6]);
    const lo = b.input("lo", [6]);
    const hi = b.input("hi", [6]);
    b.output("f", b.sum(b.clip(x, lo, hi)));
    const g = compile(grad(b.build(), "f", ["x", "lo", "hi"])).run({
      x: Tensor.from([-2, -1, 0, 1, 2, 0]),
      lo: Tensor.from([-1, -1, -1, -1, -1, 1]),
      hi: Tensor.from([1, 1, 1, 1, 1, -1]),
    });
    expect(Array.from(g["grad:x"]!.data)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(Array.from(g["grad:lo"]!.data)).toEqual([1, 1, 0, 0, 0, 0]);
    expect(Array.from(g["grad:hi"]!.data)).toEqual([0, 0, 0, 1, 1, 1]);
  });
});

describe("oneHot and argmax have exactly zero gradient", () => {
  it("w.r.t. their input, also through a loss that uses them", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2, 3]);
    const i = b.input("i", [2]);
    const picked = b.sum(b.mul(b.oneHot(i, 3), x));
    b.output("f", b.add(picked, b.sum(b.argmax(x, 1))));
    const g = grad(b.build(), "f", ["x", "i"]);
    const out = compile(g).run({
      x: Tensor.from([
        [1, 5, 2],
        [0, -1, 3],
      ]),
      i: Tensor.from([2, 0]),
    });
    expect(Array.from(out["grad:x"]!.data)).toEqual([0, 0, 1, 1, 0, 0]);
    expect(Array.from(out["grad:i"]!.data)).toEqual([0, 0]);
  });
});

describe("gather / scatterAdd derivatives", () => {
  const x = Tensor.from([
    [0.3, -1.2, 0.8],
    [1.1, 0.4, -0.7],
    [-0.5, 0.9, 1.6],
    [0.2, -0.3, 0.6],
  ]);
  const idx = Tensor.from([2, 0, 2, 2, 3]); // repeats; row 1 never gathered

  it("the gradient of gather accumulates repeated indices (scatterAdd)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const xv = b.input("x", [4, 3]);
    const iv = b.input("i", [5]);
    b.output("f", b.sum(b.gather(xv, iv, 0)));
    const g = grad(b.build(), "f", ["x", "i"]);
    const out = compile(g).run({ x, i: idx });
    expect(Array.from(out["grad:x"]!.data)).toEqual([1, 1, 1, 0, 0, 0, 3, 3, 3, 1, 1, 1]);
    expect(Array.from(out["grad:i"]!.data)).toEqual([0, 0, 0, 0, 0]);
  });

  it.each([0, 1, -1])("gather along axis %i: first and second order against finite differences", (axis) => {
    const indices =
      axis === 0
        ? idx
        : Tensor.from([
            [1, 1],
            [0, 2],
          ]);
    const b = new GraphBuilder({ dtype: "float64" });
    const xv = b.input("x", [4, 3]);
    const iv = b.input("i", [...indices.shape]);
    const y = b.gather(xv, iv, axis);
    b.output("f", b.sum(b.mul(b.tanh(y), b.square(y))));
    const graph = b.build();
    const first = gradcheck(graph, { x, i: indices }, { wrt: ["x"] });
    expect(first.ok, formatGradcheckReport(first)).toBe(true);
    const second = gradgradcheck(graph, { x, i: indices }, { wrt: ["x"] });
    expect(second.ok, formatGradcheckReport(second)).toBe(true);
  });

  it("scatterAdd: first and second order against finite differences, repeated indices", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const iv = b.input("i", [5]);
    const u = b.input("u", [5, 3]);
    const y = b.scatterAdd(iv, u, 0, [4, 3]);
    b.output("f", b.sum(b.mul(b.tanh(y), b.exp(b.mul(y, 0.5)))));
    const graph = b.build();
    const uv = Tensor.from([
      [0.1, 0.2, -0.3],
      [0.5, -0.4, 0.7],
      [-0.6, 0.3, 0.2],
      [0.4, 0.1, -0.8],
      [0.9, -0.2, 0.3],
    ]);
    const first = gradcheck(graph, { i: idx, u: uv }, { wrt: ["u"] });
    expect(first.ok, formatGradcheckReport(first)).toBe(true);
    const second = gradgradcheck(graph, { i: idx, u: uv }, { wrt: ["u"] });
    expect(second.ok, formatGradcheckReport(second)).toBe(true);
  });

  it("an embedding lookup with a symbolic batch: gather of a param table and its scatterAdd gradient", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const table = b.param("W", [4, 2]);
    const ids = b.input("i", ["N", 3]);
    const x = b.input("x", ["N", 5]);
    const e = b.gather(table, ids, 0); // [N, 3, 2]
    const s = b.gather(x, b.constant([0, 4, 4]), 1); // [N, 3]: columns 0, 4, 4
    b.output("loss", b.sum(b.mul(b.sum(e, 2), s)));
    const g = grad(b.build(), "loss", ["W", "x"]);
    const params = new ParamStore([
      [
        "W",
        Tensor.from(
          [
            [1, 2],
            [3, 4],
            [5, 6],
            [7, 8],
          ],
          { dtype: "float32" },
        ),
      ],
    ]);
    const out = compile(g, { params }).run({
      i: Tensor.from(
        [
          [0, 1, 1],
          [3, 3, 0],
        ],
        { dtype: "float32" },
      ),
      x: Tensor.from(
        [
          [1, 2, 3, 4, 5],
          [6, 7, 8, 9, 10],
        ],
        { dtype: "float32" },
      ),
    });
    // row r of W collects s over every position that looked it up
    expect(Array.from(out["grad:W"]!.data)).toEqual([11, 11, 10, 10, 0, 0, 16, 16]);
    // x[n, 0] gets the row sum of W at ids[n, 0]; x[n, 4] those at ids[n, 1] and ids[n, 2] (3 7 7, 15 15 3)
    expect(Array.from(out["grad:x"]!.data)).toEqual([3, 0, 0, 0, 14, 15, 0, 0, 0, 18]);
  });

  it("JVP of gather and scatterAdd match their VJPs (<J v, u> = <v, Jᵀ u>)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const xv = b.input("x", [4, 3]);
    const iv = b.input("i", [5]);
    b.output("y", b.gather(xv, iv, 0));
    const fwd = jvp(b.build(), "y", "x");
    const v = Tensor.from([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
      [10, 11, 12],
    ]);
    const jv = compile(fwd).run({ x, i: idx, "tangent:x": v })["jvp:y"]!;
    const u = Tensor.from(
      Array.from({ length: 15 }, (_, k) => ((k * 7) % 5) - 2),
      { shape: [5, 3] },
    );
    const b2 = new GraphBuilder({ dtype: "float64" });
    const x2 = b2.input("x", [4, 3]);
    const i2 = b2.input("i", [5]);
    const u2 = b2.input("u", [5, 3]);
    b2.output("f", b2.sum(b2.mul(b2.gather(x2, i2, 0), u2)));
    const jtu = compile(grad(b2.build(), "f", ["x"])).run({ x, i: idx, u })["grad:x"]!;
    let lhs = 0;
    let rhs = 0;
    for (let k = 0; k < 15; k++) lhs += jv.data[k]! * u.data[k]!;
    for (let k = 0; k < 12; k++) rhs += v.data[k]! * jtu.data[k]!;
    expect(lhs).toBe(rhs);
  });
});
