import {
  compile,
  evaluate,
  type Graph,
  GraphBuilder,
  ParamStore,
  printGraph,
  Rng,
  Tensor,
} from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { grad, gradName, gradParams } from "../src/index.js";

function scalarOut(g: Graph, feeds: Record<string, number | Tensor>, name: string): number {
  return evaluate(g, feeds)[name]!.item();
}

describe("grad: micrograd's examples", () => {
  it("gives the numbers of micrograd's README (a=-4, b=2)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const a = b.input("a", []);
    const bb = b.input("b", []);
    let c = a.add(bb);
    let d = a.mul(bb).add(bb.pow(3));
    c = c.add(c.add(1));
    c = c.add(b.add(1, c).add(a.neg()));
    d = d.add(d.mul(2).add(bb.add(a).relu()));
    d = d.add(b.mul(3, d).add(bb.sub(a).relu()));
    const e = c.sub(d);
    const f = e.pow(2);
    let g = f.div(2);
    g = g.add(b.div(10, f));
    b.output("g", g);
    const out = evaluate(grad(b.build(), "g", ["a", "b"]), { a: -4, b: 2 });
    expect(out.g!.item()).toBeCloseTo(24.7041, 4);
    expect(out["grad:a"]!.item()).toBeCloseTo(138.8338, 4);
    expect(out["grad:b"]!.item()).toBeCloseTo(645.5773, 4);
  });

  it("gives the numbers of micrograd's neuron, o = tanh(x1*w1 + x2*w2 + b)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const [x1, x2, w1, w2, bias] = ["x1", "x2", "w1", "w2", "b"].map((n) => b.input(n, []));
    const n = x1!.mul(w1!).add(x2!.mul(w2!)).add(bias!);
    b.output("o", n.tanh());
    const g = grad(b.build(), "o", ["x1", "x2", "w1", "w2", "b"]);
    const out = evaluate(g, { x1: 2, x2: 0, w1: -3, w2: 1, b: 6.881373587019543 });
    expect(out.o!.item()).toBeCloseTo(Math.SQRT1_2, 10);
    expect(out["grad:x1"]!.item()).toBeCloseTo(-1.5, 6);
    expect(out["grad:w1"]!.item()).toBeCloseTo(1.0, 6);
    expect(out["grad:x2"]!.item()).toBeCloseTo(0.5, 6);
    expect(out["grad:w2"]!.item()).toBeCloseTo(0.0, 6);
    expect(out["grad:b"]!.item()).toBeCloseTo(0.5, 6);
  });

  it("sums the gradients of a node used twice (b = a + a; c = b * b)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const a = b.input("a", []);
    const twice = a.add(a);
    b.output("b", twice);
    b.output("c", twice.mul(twice));
    const g1 = grad(b.build(), "b", ["a"]);
    expect(scalarOut(g1, { a: 3 }, "grad:a")).toBe(2);
    const g2 = grad(g1, "c", ["a"], { prefix: "d:" });
    // c = 4a^2, dc/da = 8a
    expect(scalarOut(g2, { a: 3 }, "d:a")).toBe(24);
  });
});

describe("grad: shapes and seeds", () => {
  it("gives zeros for a wrt the output does not depend on, also for a symbolic shape", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    b.input("x", ["N", 2]);
    b.input("z", [2, 3]);
    const y = b.input("y", [3]);
    b.output("f", y.square().sum());
    const g = grad(b.build(), "f", ["x", "z", "y"]);
    const out = evaluate(g, {
      x: Tensor.from([
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
      ]),
      y: new Float64Array([1, 2, 3]),
    });
    expect(out["grad:x"]!.shape).toEqual([4, 2]);
    expect(out["grad:x"]!.toArray()).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(out["grad:z"]!.shape).toEqual([2, 3]);
    expect(out["grad:z"]!.toArray()).toEqual([0, 0, 0, 0, 0, 0]);
    expect(out["grad:y"]!.toArray()).toEqual([2, 4, 6]);
  });

  it("needs a seed for a non-scalar output, and then computes a vector-Jacobian product", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2, 3]);
    const W = b.param("W", [3, 4], { init: { kind: "normal" } });
    b.output("y", x.matmul(W));
    const graph = b.build();
    expect(() => grad(graph, "y", ["x"])).toThrow(/shape \[2,4\], not a scalar.*options\.seed/);

    const g = grad(graph, "y", ["x", "W"], { seed: "v" });
    expect(g.inputs.v).toBeDefined();
    const params = ParamStore.init(graph, 1);
    const rng = new Rng(2);
    const X = new Tensor([2, 3], rng.fillNormal(new Float64Array(6)));
    const V = new Tensor([2, 4], rng.fillNormal(new Float64Array(8)));
    const out = compile(g, { params }).run({ x: X, v: V });
    const Wt = params.get("W");
    // dx = V W^T, dW = X^T V
    for (let i = 0; i < 2; i++) {
      for (let k = 0; k < 3; k++) {
        let s = 0;
        for (let j = 0; j < 4; j++) s += V.get(i, j) * Wt.get(k, j);
        expect(out["grad:x"]!.get(i, k)).toBeCloseTo(s, 12);
      }
    }
    for (let k = 0; k < 3; k++) {
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let i = 0; i < 2; i++) s += X.get(i, k) * V.get(i, j);
        expect(out["grad:W"]!.get(k, j)).toBeCloseTo(s, 12);
      }
    }
  });

  it("rejects a seed input of the wrong shape and a clashing output name", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    b.input("v", [2]);
    b.output("y", x.exp());
    const graph = b.build();
    expect(() => grad(graph, "y", ["x"], { seed: "v" })).toThrow(/seed input 'v' has shape \[2\]/);
    const once = grad(graph, "y", ["x"], { seed: "s" });
    expect(() => grad(once, "y", ["x"], { seed: "s" })).toThrow(/already has an output 'grad:x'/);
    expect(grad(once, "y", ["x"], { seed: "s", prefix: "again:" }).outputs["again:x"]).toBeDefined();
  });

  it("differentiates through a symbolic batch dimension (least squares)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const y = b.input("y", ["N", 1]);
    const W = b.param("W", [3, 1], { init: { kind: "values", values: [0.5, -1, 2] } });
    const r = x.matmul(W).sub(y);
    b.output("loss", r.square().mean());
    const graph = b.build();
    const g = gradParams(graph, "loss");
    expect(g.outputs[gradName("W")]).toBeDefined();
    const params = ParamStore.init(graph);
    const exe = compile(g, { params });
    const rng = new Rng(5);
    for (const N of [4, 7]) {
      const X = new Tensor([N, 3], rng.fillNormal(new Float64Array(N * 3)));
      const Y = new Tensor([N, 1], rng.fillNormal(new Float64Array(N)));
      const dW = exe.run({ x: X, y: Y })["grad:W"]!;
      // d/dW mean((XW - y)^2) = 2/N X^T (XW - y)
      const w = params.get("W").data;
      for (let k = 0; k < 3; k++) {
        let s = 0;
        for (let i = 0; i < N; i++) {
          const ri = X.get(i, 0) * w[0]! + X.get(i, 1) * w[1]! + X.get(i, 2) * w[2]! - Y.get(i, 0);
          s += X.get(i, k) * ri;
        }
        expect(dW.get(k, 0)).toBeCloseTo((2 / N) * s, 12);
      }
    }
    expect(exe.cachedPlans).toBe(2);
  });
});

describe("grad: second order", () => {
  it("computes a Hessian-vector product of f = sum(x^3) (H v = 6 x v)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [4]);
    b.output("f", x.pow(3).sum());
    const g1 = grad(b.build(), "f", ["x"]);
    const b2 = GraphBuilder.extend(g1);
    const v = b2.input("v", [4]);
    b2.output("gv", b2.ref("grad:x").mul(v).sum());
    const hv = grad(b2.build(), "gv", ["x"], { prefix: "hv:" });
    const X = [0.5, -1.25, 2, 3];
    const V = [1, -2, 0.25, 4];
    const out = evaluate(hv, { x: new Float64Array(X), v: new Float64Array(V) })["hv:x"]!.toArray();
    out.forEach((h, i) => {
      expect(h).toBeCloseTo(6 * X[i]! * V[i]!, 10);
    });
  });

  it("computes a Hessian-vector product of a quadratic form (H v = (A + A^T) v / 2)", () => {
    const A = [
      [2, 1, 0],
      [-1, 3, 0.5],
      [4, 0, 1],
    ];
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3, 1]);
    const Ax = b.constant(A).matmul(x);
    b.output("f", x.mul(Ax).sum().mul(0.5));
    const g1 = grad(b.build(), "f", ["x"]);
    const b2 = GraphBuilder.extend(g1);
    const v = b2.input("v", [3, 1]);
    b2.output("gv", b2.ref("grad:x").mul(v).sum());
    const hv = grad(b2.build(), "gv", ["x"], { prefix: "hv:" });
    const V = [0.5, -1, 2];
    const out = evaluate(hv, { x: new Float64Array([1, 2, 3]), v: new Float64Array(V) })["hv:x"]!.toArray();
    for (let i = 0; i < 3; i++) {
      let s = 0;
      for (let j = 0; j < 3; j++) s += 0.5 * (A[i]![j]! + A[j]![i]!) * V[j]!;
      expect(out[i]).toBeCloseTo(s, 12);
    }
  });
});

describe("grad: structure", () => {
  it("handles a chain of 20,000 nodes without overflowing the stack", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", []);
    let y = x;
    for (let i = 0; i < 20_000; i++) y = y.mul(0.99995);
    b.output("y", y);
    const g = grad(b.build(), "y", ["x"]);
    const out = evaluate(g, { x: 2 });
    expect(out["grad:x"]!.item()).toBeCloseTo(0.99995 ** 20_000, 10);
  });

  it("uses custom rules given in options.rules", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", []);
    b.output("y", x.tanh());
    const g = grad(b.build(), "y", ["x"], { rules: { tanh: ({ g }) => [g] } });
    expect(scalarOut(g, { x: 1 }, "grad:x")).toBe(1);
  });

  it("prints the backward graph of tanh(x * w)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", []);
    const w = b.param("w", []);
    b.output("y", x.mul(w).tanh());
    expect(printGraph(grad(b.build(), "y", ["w"]))).toMatchInlineSnapshot(`
      "%0 = input "x" : f64[]
      %1 = param "w" : f64[]
      %2 = mul(%0, %1) : f64[]
      %3 = tanh(%2) : f64[]
      %4 = fill() 1 : f64[]
      %5 = square(%3) : f64[]
      %6 = fill() 1 : f64[]
      %7 = sub(%6, %5) : f64[]
      %8 = mul(%4, %7) : f64[]
      %9 = mul(%8, %0) : f64[]
      outputs: y=%3, grad:w=%9"
    `);
  });
});
