import { compile, evaluate, type Graph, GraphBuilder, ParamStore, Rng, Tensor } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { grad, hessian, hvp, hvpName, type JvpFn, jacobian, jvpRuleOf } from "../src/index.js";
import { fcParameters, type GraphCase, randomGraphArb } from "../src/testing/index.js";

const f64 = (values: number[], shape?: number[]) =>
  Tensor.from(values, { shape: shape ?? [values.length], dtype: "float64" });

/** |a - n| <= max(atol, rtol * max(|a|, |n|)) elementwise. */
function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol: number,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const n = expected[i]!;
    const tol = Math.max(atol, rtol * Math.max(Math.abs(a), Math.abs(n)));
    if (!(Math.abs(a - n) <= tol)) throw new Error(`element ${i}: ${a} vs ${n} (tolerance ${tol})`);
  }
}

/**
 * Central differences of the outputs `of` (flattened, one after another) with respect to the
 * inputs/params `wrt`: a row-major [size(of), size(wrt)] array.
 */
function numericJacobian(
  graph: Graph,
  of: readonly string[],
  wrt: readonly string[],
  feeds: Record<string, Tensor>,
  params: ParamStore,
  eps = 1e-6,
): { data: Float64Array; rows: number; cols: number } {
  const store = params.clone();
  const exe = compile(graph, { params: store, outputs: of });
  const run = (f: Record<string, Tensor>) => {
    const out = exe.run(Object.fromEntries(exe.inputNames.map((n) => [n, f[n]!])));
    return of.flatMap((o) => out[o]!.toArray());
  };
  const rows = run(feeds).length;
  const columns: number[][] = [];
  for (const w of wrt) {
    const isParam = Object.hasOwn(graph.params, w);
    const t = isParam ? store.get(w) : feeds[w]!.clone();
    const f = isParam ? feeds : { ...feeds, [w]: t };
    for (let e = 0; e < t.size; e++) {
      const x0 = t.data[e]!;
      t.data[e] = x0 + eps;
      const plus = run(f);
      t.data[e] = x0 - eps;
      const minus = run(f);
      t.data[e] = x0;
      columns.push(plus.map((p, i) => (p - minus[i]!) / (2 * eps)));
    }
  }
  exe.dispose();
  const cols = columns.length;
  const data = new Float64Array(rows * cols);
  columns.forEach((c, j) => {
    c.forEach((v, i) => {
      data[i * cols + j] = v;
    });
  });
  return { data, rows, cols };
}

/** x [N,3] -> tanh(x W1 + b1) [N,4] -> softmax(h W2 + b2) [N,2]; loss = cross-entropy + 0.01 |W1|^2. */
function mlp(): { graph: Graph; params: ParamStore; feeds: Record<string, Tensor> } {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", ["N", 3]);
  const t = b.input("t", ["N", 2]);
  const W1 = b.param("W1", [3, 4], { init: { kind: "glorotUniform" } });
  const b1 = b.param("b1", [4], { init: { kind: "uniform", low: -0.5, high: 0.5 } });
  const W2 = b.param("W2", [4, 2], { init: { kind: "glorotUniform" } });
  const b2 = b.param("b2", [2], { init: { kind: "uniform", low: -0.5, high: 0.5 } });
  const h = x.matmul(W1).add(b1).tanh();
  const z = h.matmul(W2).add(b2);
  b.output("y", z.softmax());
  b.output("loss", b.neg(z.logSoftmax().mul(t).sum()).add(W1.square().sum().mul(0.01)));
  const graph = b.build();
  return {
    graph,
    params: ParamStore.init(graph, 11),
    feeds: {
      x: f64([0.5, -1.2, 0.3, 1.5, 0.2, -0.7], [2, 3]),
      t: f64([1, 0, 0, 1], [2, 2]),
    },
  };
}

describe("hvp: Hessian-vector products as a graph transform", () => {
  it("matches finite differences of grad on an MLP", () => {
    const { graph, params, feeds } = mlp();
    const wrt = ["W1", "b1", "W2", "b2"];
    const g = hvp(graph, "loss", wrt);
    expect(Object.keys(g.outputs)).toEqual([
      "y",
      "loss",
      ...wrt.map((w) => `grad:${w}`),
      ...wrt.map((w) => hvpName(w)),
    ]);
    const rng = new Rng(5);
    const v = Object.fromEntries(
      wrt.map((w) => {
        const p = params.get(w);
        return [
          `tangent:${w}`,
          Tensor.from(
            p.toArray().map(() => rng.uniform(-1, 1)),
            { shape: p.shape, dtype: "float64" },
          ),
        ];
      }),
    );
    const out = evaluate(g, { ...feeds, ...v }, { params });
    // (g(p + eps v) - g(p - eps v)) / 2 eps, for every gradient
    const eps = 1e-5;
    const gradGraph = grad(graph, "loss", wrt);
    const at = (sign: number) => {
      const moved = params.clone();
      for (const w of wrt) {
        const d = moved.get(w).data;
        const vw = v[`tangent:${w}`]!.data;
        for (let e = 0; e < d.length; e++) d[e] = d[e]! + sign * eps * vw[e]!;
      }
      return evaluate(gradGraph, feeds, { params: moved });
    };
    const plus = at(1);
    const minus = at(-1);
    for (const w of wrt) {
      const fd = plus[`grad:${w}`]!.toArray().map((p, i) => (p - minus[`grad:${w}`]!.data[i]!) / (2 * eps));
      expectClose(out[`hvp:${w}`]!.data, fd, 1e-6, 1e-8);
    }
  });

  it("matches finite differences of grad on random graphs", () => {
    fc.assert(
      fc.property(randomGraphArb({ maxNodes: 6 }), (c: GraphCase) => {
        const g = hvp(c.graph, "loss", c.wrt, { tangentPrefix: "v:" });
        const rng = new Rng(1);
        const shapes = c.wrt.map((w) => (c.params.has(w) ? c.params.get(w) : (c.feeds[w] as Tensor)).shape);
        const v = c.wrt.map((_, k) => {
          const n = shapes[k]!.reduce((p, d) => p * d, 1);
          return Tensor.from(
            Array.from({ length: n }, () => rng.uniform(-1, 1)),
            { shape: shapes[k]!, dtype: "float64" },
          );
        });
        // a graph linear in some wrt does not read its vector (that product is a constant zero)
        const exe = compile(g, { params: c.params });
        const all: Record<string, Tensor> = { ...(c.feeds as Record<string, Tensor>) };
        c.wrt.forEach((w, k) => {
          all[`v:${w}`] = v[k]!;
        });
        const out = exe.run(Object.fromEntries(exe.inputNames.map((n) => [n, all[n]!])));
        const gradGraph = grad(c.graph, "loss", c.wrt);
        const eps = 1e-5;
        const at = (sign: number) => {
          const params = c.params.clone();
          const feeds: Record<string, Tensor> = { ...(c.feeds as Record<string, Tensor>) };
          c.wrt.forEach((w, k) => {
            if (!params.has(w)) feeds[w] = feeds[w]!.clone();
            const t = params.has(w) ? params.get(w) : feeds[w]!;
            for (let e = 0; e < t.size; e++) t.data[e] = t.data[e]! + sign * eps * v[k]!.data[e]!;
          });
          return evaluate(gradGraph, feeds, { params });
        };
        const plus = at(1);
        const minus = at(-1);
        for (const w of c.wrt) {
          const fd = plus[`grad:${w}`]!.toArray().map(
            (p, i) => (p - minus[`grad:${w}`]!.data[i]!) / (2 * eps),
          );
          expectClose(out[`hvp:${w}`]!.data, fd, 1e-5, 1e-7);
        }
        exe.dispose();
      }),
      fcParameters({ numRuns: 30 }),
    );
  });

  it("uses named vector inputs and prefixes, and needs a scalar", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2]);
    b.input("v", [2]);
    b.output("f", x.square().sum().mul(1.5));
    b.output("y", x.exp());
    const graph = b.build();
    const g = hvp(graph, "f", "x", { tangents: ["v"], prefix: "H:", gradPrefix: "g:" });
    expect(Object.keys(g.outputs)).toEqual(["f", "y", "g:x", "H:x"]);
    expect(Object.keys(g.inputs)).toEqual(["x", "v"]);
    expect(evaluate(g, { x: f64([1, 2]), v: f64([1, -1]) })["H:x"]!.toArray()).toEqual([3, -3]);
    expect(() => hvp(graph, "y", "x")).toThrow(/hvp: 'y' has shape \[2\]; a Hessian needs a scalar/);
  });
});

describe("jacobian", () => {
  it("forward == reverse == finite differences on an MLP (inputs and params, several outputs)", () => {
    const { graph, params, feeds } = mlp();
    const fd = numericJacobian(graph, ["y", "loss"], ["x", "W2"], feeds, params);
    const fwd = jacobian(graph, ["y", "loss"], ["x", "W2"], feeds, { params, mode: "forward" });
    const rev = jacobian(graph, ["y", "loss"], ["x", "W2"], feeds, { params, mode: "reverse" });
    expect(fwd.shape).toEqual([5, 14]);
    expect(fwd.dtype).toBe("float64");
    expect(rev.shape).toEqual([5, 14]);
    expectClose(fwd.data, rev.data, 1e-12, 1e-14);
    expectClose(fwd.data, fd.data, 1e-6, 1e-8);
    // softmax rows sum to 1, so each sample's two rows of dy/dx cancel
    for (let j = 0; j < 14; j++) {
      expect(Math.abs(fwd.get(0, j) + fwd.get(1, j))).toBeLessThan(1e-15);
    }
  });

  it("is block-diagonal over a symbolic batch (samples do not mix)", () => {
    const { graph, params, feeds } = mlp();
    const J = jacobian(graph, "y", "x", feeds, { params });
    expect(J.shape).toEqual([4, 6]);
    for (const [i, j] of [
      [0, 3],
      [1, 5],
      [2, 0],
      [3, 2],
    ]) {
      expect(J.get(i!, j!)).toBe(0);
    }
    expect(Math.abs(J.get(0, 0))).toBeGreaterThan(1e-3);
  });

  it("auto picks forward when wrt is smaller than of, reverse otherwise", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2]);
    const M = b.constant([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    b.output(
      "y",
      M.matmul(x.reshape([2, 1]))
        .tanh()
        .reshape([3]),
    );
    b.output("s", x.tanh().sum());
    const graph = b.build();
    let jvpCalls = 0;
    const tanh = jvpRuleOf("tanh") as JvpFn<"tanh">;
    const counting = {
      jvpRules: {
        tanh: (a: Parameters<JvpFn<"tanh">>[0]) => {
          jvpCalls++;
          return tanh(a);
        },
      },
    };
    const feeds = { x: f64([0.1, -0.2]) };
    const J = jacobian(graph, "y", "x", feeds, counting);
    expect(jvpCalls).toBe(1); // 2 inputs < 3 outputs: forward
    const want = [0, 1, 2].map((i) => 1 - Math.tanh((2 * i + 1) * 0.1 - (2 * i + 2) * 0.2) ** 2);
    expectClose(
      J.data,
      [want[0]!, 2 * want[0]!, 3 * want[1]!, 4 * want[1]!, 5 * want[2]!, 6 * want[2]!],
      1e-14,
      0,
    );
    const g = jacobian(graph, "s", "x", feeds, counting);
    expect(jvpCalls).toBe(1); // 2 inputs > 1 output: reverse
    expectClose(g.data, [1 - Math.tanh(0.1) ** 2, 1 - Math.tanh(-0.2) ** 2], 1e-14, 0);
  });

  it("gives zeros where of does not depend on wrt, and initialises missing params", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2]);
    const w = b.param("w", [2], { init: { kind: "constant", value: 3 } });
    b.output("y", x.mul(w));
    b.output("c", b.constant([1, 2, 3]));
    const graph = b.build();
    for (const mode of ["forward", "reverse"] as const) {
      const J = jacobian(graph, ["y", "c"], ["x", "w"], { x: f64([5, 7]) }, { mode });
      expect(J.shape).toEqual([5, 4]);
      expect(J.toNested()).toEqual([
        [3, 0, 5, 0],
        [0, 3, 0, 7],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
      ]);
    }
    expect(() => jacobian(graph, "y", "x", { x: f64([5, 7]) }, { mode: "sideways" as never })).toThrow(
      /jacobian: unknown mode "sideways"/,
    );
  });

  it("does not clash with user names, and leaves the graph and params alone", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("jacobian:tangent:0", [2]);
    b.input("jacobian:cotangent:0", [2]);
    b.output("jacobian:grad:x", x.square());
    const graph = b.build();
    const before = JSON.stringify(graph);
    const feeds = { "jacobian:tangent:0": f64([1, 2]), "jacobian:cotangent:0": f64([0, 0]) };
    for (const mode of ["forward", "reverse"] as const) {
      const J = jacobian(graph, "jacobian:grad:x", "jacobian:tangent:0", feeds, { mode });
      expect(J.toNested()).toEqual([
        [2, 0],
        [0, 4],
      ]);
    }
    expect(JSON.stringify(graph)).toBe(before);
  });
});

describe("hessian", () => {
  it("is symmetric and matches finite differences of grad on an MLP", () => {
    const { graph, params, feeds } = mlp();
    const wrt = ["W1", "b2"];
    const H = hessian(graph, "loss", wrt, feeds, { params });
    expect(H.shape).toEqual([14, 14]);
    for (let i = 0; i < 14; i++) {
      for (let j = 0; j < i; j++) {
        expect(Math.abs(H.get(i, j) - H.get(j, i))).toBeLessThanOrEqual(
          1e-12 * Math.max(1, Math.abs(H.get(i, j))),
        );
      }
    }
    const gradGraph = grad(graph, "loss", wrt);
    const fd = numericJacobian(gradGraph, ["grad:W1", "grad:b2"], wrt, feeds, params, 1e-5);
    expectClose(H.data, fd.data, 1e-6, 1e-8);
  });

  it("of a quadratic form x^T A x is A + A^T, with respect to an input", () => {
    const A = [
      [1, 2, 0],
      [-1, 3, 4],
      [0.5, 0, -2],
    ];
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3, 1]);
    b.output("q", x.matmul(b.constant(A).matmul(x), { transA: true }).reshape([]));
    const H = hessian(b.build(), "q", "x", { x: f64([1, 2, 3], [3, 1]) });
    expect(H.toNested()).toEqual(A.map((row, i) => row.map((a, j) => a + A[j]![i]!)));
  });

  it("needs a scalar", () => {
    const { graph, params, feeds } = mlp();
    expect(() => hessian(graph, "y", "b2", feeds, { params })).toThrow(
      /hessian: 'y' has shape \[N,2\]; a Hessian needs a scalar/,
    );
  });
});
