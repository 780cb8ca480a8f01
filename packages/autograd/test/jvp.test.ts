import { compile, evaluate, GraphBuilder, OP_NAMES, ParamStore, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { grad, JVP, type JvpFn, type JvpTable, jvp, jvpName, jvpRuleOf, tangentName } from "../src/index.js";

const f64 = (values: number[], shape?: number[]) =>
  Tensor.from(values, { shape: shape ?? [values.length], dtype: "float64" });

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(expected[i]!)),
    );
  }
}

describe("jvp: directional derivatives", () => {
  it("y = tanh(x * w): J v = (1 - y^2)(w vx + x vw)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", []);
    const w = b.input("w", []);
    b.output("y", x.mul(w).tanh());
    const g = jvp(b.build(), "y", ["x", "w"]);
    expect(Object.keys(g.outputs)).toEqual(["y", "jvp:y"]);
    expect(Object.keys(g.inputs)).toEqual(["x", "w", "tangent:x", "tangent:w"]);
    const out = evaluate(g, { x: 0.5, w: -1.5, "tangent:x": 0.3, "tangent:w": -0.7 });
    const y = Math.tanh(0.5 * -1.5);
    expect(out["jvp:y"]!.item()).toBeCloseTo((1 - y * y) * (-1.5 * 0.3 + 0.5 * -0.7), 14);
  });

  it("matmul with a symbolic batch: d(x W) = vx W + x vW, for every batch size", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const W = b.param("W", [3, 2], { init: { kind: "uniform", low: -1, high: 1 } });
    b.output("y", x.matmul(W));
    const g = jvp(b.build(), "y", ["x", "W"]);
    expect(g.nodes[g.inputs["tangent:x"]!]!.shape).toEqual(["N", 3]);
    const params = ParamStore.init(g, 3);
    const exe = compile(g, { params });
    const Wv = params.get("W").toArray();
    const vW = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6];
    for (const n of [2, 4]) {
      const xs = Array.from({ length: 3 * n }, (_, i) => Math.sin(i + 1));
      const vx = Array.from({ length: 3 * n }, (_, i) => Math.cos(i));
      const out = exe.run({ x: f64(xs, [n, 3]), "tangent:x": f64(vx, [n, 3]), "tangent:W": f64(vW, [3, 2]) });
      const want: number[] = [];
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < 2; c++) {
          let s = 0;
          for (let k = 0; k < 3; k++) s += vx[r * 3 + k]! * Wv[k * 2 + c]! + xs[r * 3 + k]! * vW[k * 2 + c]!;
          want.push(s);
        }
      }
      expect(out["jvp:y"]!.shape).toEqual([n, 2]);
      expectClose(out["jvp:y"]!.data, want);
    }
    exe.dispose();
  });

  it("broadcasts a rule's result to the node's shape in one place (a scalar wrt under add)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    const c = b.input("c", []);
    b.output("y", x.add(c));
    const out = evaluate(jvp(b.build(), "y", ["c"]), { x: f64([1, 2, 3]), c: 0, "tangent:c": 2.5 });
    expect(out["jvp:y"]!.toArray()).toEqual([2.5, 2.5, 2.5]);
  });

  it("accepts several of, node ids, and names outputs after them", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2]);
    const h = x.exp();
    b.output("s", h.sum());
    const graph = b.build();
    const g = jvp(graph, ["s", h.id], x.id, { prefix: "d:", tangentPrefix: "v:" });
    expect(Object.keys(g.outputs)).toEqual(["s", "d:s", `d:#${h.id}`]);
    expect(Object.keys(g.inputs)).toEqual(["x", "v:x"]);
    const out = evaluate(g, { x: f64([0, 1]), "v:x": f64([1, 2]) });
    expect(out["d:s"]!.item()).toBeCloseTo(1 + 2 * Math.E, 13);
    expectClose(out[`d:#${h.id}`]!.data, [1, 2 * Math.E]);
    expect(jvpName("s")).toBe("jvp:s");
    expect(tangentName("x")).toBe("tangent:x");
  });

  it("gives zeros for an of that does not depend on wrt, of its symbolic shape too", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    b.input("x", []);
    const z = b.input("z", ["N", 2]);
    b.output("a", z.mul(2));
    b.output("c", b.constant([1, 2]).add(0));
    const g = jvp(b.build(), ["a", "c"], ["x"]);
    const out = evaluate(g, { z: f64([1, 2, 3, 4, 5, 6], [3, 2]) });
    expect(out["jvp:a"]!.shape).toEqual([3, 2]);
    expect(out["jvp:a"]!.toArray()).toEqual([0, 0, 0, 0, 0, 0]);
    expect(out["jvp:c"]!.toArray()).toEqual([0, 0]);
  });

  it("is a pure transform: the graph is unchanged and its nodes are shared", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2]);
    b.output("y", x.sigmoid().sum());
    const graph = b.build();
    const before = JSON.stringify(graph);
    const g = jvp(graph, "y", "x");
    expect(JSON.stringify(graph)).toBe(before);
    expect(Object.isFrozen(graph.nodes)).toBe(true);
    graph.nodes.forEach((n, i) => {
      expect(g.nodes[i]).toBe(n);
    });
    expect(g.nodes.length).toBeGreaterThan(graph.nodes.length);
  });

  it("works on float32 graphs (tangent inputs take the wrt's dtype)", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", [2]);
    b.output("y", x.square().sum());
    const g = jvp(b.build(), "y", "x");
    expect(g.nodes[g.inputs["tangent:x"]!]!.dtype).toBe("float32");
    const out = compile(g).run({
      x: Tensor.from([1, 2], { dtype: "float32" }),
      "tangent:x": Tensor.from([3, 4], { dtype: "float32" }),
    });
    expect(out["jvp:y"]!.item()).toBeCloseTo(2 * 3 + 4 * 4, 5);
  });
});

describe("jvp: tangent inputs", () => {
  function graph() {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2]);
    const v = b.input("v", [2]);
    b.input("bad", [3]);
    b.output("y", x.mul(v).sum());
    return b.build();
  }

  it("uses an existing input named in options.tangents (a list in wrt order, or a record)", () => {
    const g1 = jvp(graph(), "y", ["x"], { tangents: ["v"] });
    expect(Object.keys(g1.inputs)).toEqual(["x", "v", "bad"]);
    // d/dx sum(x * v) along v = sum(v * v)
    expect(evaluate(g1, { x: f64([1, 1]), v: f64([2, 3]) })["jvp:y"]!.item()).toBe(13);
    const g2 = jvp(graph(), "y", ["x", "v"], { tangents: { v: "dv" } });
    expect(Object.keys(g2.inputs)).toEqual(["x", "v", "bad", "tangent:x", "dv"]);
  });

  it("rejects a tangent of the wrong shape, a param's name, or a default name already taken", () => {
    expect(() => jvp(graph(), "y", ["x"], { tangents: ["bad"] })).toThrow(
      /jvp: tangent input 'bad' is float64 \[3\], but #0 input 'x' is float64 \[2\]/,
    );
    const b = new GraphBuilder({ dtype: "float64" });
    const w = b.param("w", [2]);
    b.output("y", w.sum());
    expect(() => jvp(b.build(), "y", ["w"], { tangents: { w: "w" } })).toThrow(
      /tangent input 'w' \(for #0 param 'w'\) is the name of a param/,
    );
    const once = jvp(graph(), "y", ["x"]);
    expect(() => jvp(once, "jvp:y", ["x"], { prefix: "jvp2:" })).toThrow(
      /already has an input 'tangent:x' \(from an earlier jvp\?\); pass options.tangents/,
    );
  });

  it("rejects duplicate wrt entries and clashing output names", () => {
    expect(() => jvp(graph(), "y", ["x", 0])).toThrow(/#0 input 'x' appears twice in 'wrt'/);
    const once = jvp(graph(), "y", ["x"]);
    expect(() => jvp(once, "y", ["v"])).toThrow(/already has an output 'jvp:y'; pass a different 'prefix'/);
    expect(() => jvp(graph(), "nope", ["x"])).toThrow(/no output, input or param named 'nope'/);
  });
});

describe("jvp: higher order, mixing with grad", () => {
  // f(x) = sum(x^3): gradient 3x^2, Hessian diag(6x)
  function cube() {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    b.output("f", x.mul(x).mul(x).sum());
    return b.build();
  }
  const xs = [0.5, -1, 2];
  const vs = [1, 2, -3];
  const hv = xs.map((x, i) => 6 * x * vs[i]!);

  it("forward-over-reverse: jvp of grad gives H v", () => {
    const g = jvp(grad(cube(), "f", ["x"]), "grad:x", "x");
    expectClose(evaluate(g, { x: f64(xs), "tangent:x": f64(vs) })["jvp:grad:x"]!.data, hv);
  });

  it("reverse-over-forward: grad of jvp gives H v", () => {
    const g = grad(jvp(cube(), "f", "x"), "jvp:f", ["x"], { prefix: "g2:" });
    expectClose(evaluate(g, { x: f64(xs), "tangent:x": f64(vs) })["g2:x"]!.data, hv);
  });

  it("forward-over-forward along the same tangent gives v^T H v", () => {
    const once = jvp(cube(), "f", "x");
    const g = jvp(once, "jvp:f", "x", { prefix: "jvp2:", tangents: ["tangent:x"] });
    const want = hv.reduce((s, h, i) => s + h * vs[i]!, 0);
    expect(evaluate(g, { x: f64(xs), "tangent:x": f64(vs) })["jvp2:jvp:f"]!.item()).toBeCloseTo(want, 12);
  });

  it("an intermediate wrt is perturbed on top of its inputs: jvp is grad's exact transpose", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2]);
    const h = x.tanh();
    b.output("f", h.mul(x).sum());
    const graph = b.build();
    const fj = evaluate(jvp(graph, "f", ["x", h.id], { tangents: ["vx", "vh"] }), {
      x: f64([0.3, -0.8]),
      vx: f64([1, -2]),
      vh: f64([0.5, 0.25]),
    })["jvp:f"]!.item();
    const gr = evaluate(grad(graph, "f", ["x", h.id]), { x: f64([0.3, -0.8]) });
    const gx = gr["grad:x"]!.toArray();
    const gh = gr[`grad:#${h.id}`]!.toArray();
    expect(fj).toBeCloseTo(gx[0]! * 1 + gx[1]! * -2 + gh[0]! * 0.5 + gh[1]! * 0.25, 13);
  });
});

describe("jvp: ties and kinks follow the VJP's conventions", () => {
  it("max shares a tie equally, maximum gives it to its first argument", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    const a = b.input("a", []);
    const c = b.input("c", []);
    b.output("m", x.max());
    b.output("mx", a.maximum(c));
    b.output("mn", a.minimum(c));
    const g = jvp(b.build(), ["m", "mx", "mn"], ["x", "a", "c"]);
    const out = evaluate(g, {
      x: f64([1, 3, 3]),
      a: 2,
      c: 2,
      "tangent:x": f64([10, 20, 40]),
      "tangent:a": 1,
      "tangent:c": 5,
    });
    expect(out["jvp:m"]!.item()).toBe(30);
    expect(out["jvp:mx"]!.item()).toBe(1);
    expect(out["jvp:mn"]!.item()).toBe(1);
  });

  it("relu and abs have derivative 0 at 0, comparisons and stopGradient have none", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    b.output("r", x.relu());
    b.output("a", x.abs());
    b.output("s", b.add(x.greater(0), b.sign(x)).add(x.stopGradient()));
    const out = evaluate(jvp(b.build(), ["r", "a", "s"], "x"), {
      x: f64([-1, 0, 2]),
      "tangent:x": f64([1, 1, 1]),
    });
    expect(out["jvp:r"]!.toArray()).toEqual([0, 0, 1]);
    expect(out["jvp:a"]!.toArray()).toEqual([-1, 0, 1]);
    expect(out["jvp:s"]!.toArray()).toEqual([0, 0, 0]);
  });
});

describe("jvp: rules", () => {
  function tanhGraph() {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    b.output("y", x.tanh().named("act").sum());
    return b.build();
  }

  it("has one entry per op, typed exhaustively", () => {
    expect(Object.keys(JVP).sort()).toEqual([...OP_NAMES].sort());
    expect(jvpRuleOf("input")).toBe("leaf");
    expect(jvpRuleOf("greater")).toBe("zero");
    expect(typeof jvpRuleOf("matmul")).toBe("function");
    // @ts-expect-error a table without every op does not type-check
    const partial: JvpTable = { neg: JVP.neg };
    expect(partial).toBeDefined();
  });

  it("overrides a rule by op name", () => {
    const g = jvp(tanhGraph(), "y", "x", { rules: { tanh: ({ t }) => t[0]! } });
    expect(evaluate(g, { x: f64([5, 6, 7]), "tangent:x": f64([1, 2, 3]) })["jvp:y"]!.item()).toBe(6);
  });

  it("names the node when a rule returns a bad shape or throws", () => {
    expect(() =>
      jvp(tanhGraph(), "y", "x", { rules: { tanh: ({ b, t }) => b.concat([t[0]!, t[0]!]) } }),
    ).toThrow(
      /jvp: the JVP rule of #1 tanh 'act' returned float64 \[6\], which does not broadcast to the output's float64 \[3\]/,
    );
    const broken: JvpFn<"tanh"> = ({ b, t }) => b.matmul(t[0]!, t[0]!);
    expect(() => jvp(tanhGraph(), "y", "x", { rules: { tanh: broken } })).toThrow(
      /jvp: the JVP rule of #1 tanh 'act' failed: matmul at node #\d+: both operands need rank >= 2/,
    );
  });
});
