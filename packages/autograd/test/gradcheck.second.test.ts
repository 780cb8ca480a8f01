/**
 * gradgradcheck: second derivatives (reverse over reverse) against finite differences of the
 * gradient, with first-order cotangents that are ones, random or given, and optional fixed
 * second-order cotangents (Hessian-vector products).
 */
import { castGraph, type Graph, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { formatGradcheckReport, gradcheck, gradgradcheck, hessian } from "../src/index.js";
import { data, mlp, wrongTanh, wrongTanhSecondOrder } from "./gradcheck.nets.js";

/** f(w) = sum(tanh(x * w)): a diagonal Hessian, f_ii = -2 x_i^2 tanh(x_i w_i) (1 - tanh^2). */
function diagonal(): { graph: Graph; x: Tensor; w: number[] } {
  const w = [0.3, -0.8, 0.9];
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [3]);
  const p = b.param("w", [3], { init: { kind: "values", values: w } });
  b.output("f", x.mul(p).tanh().sum());
  return { graph: b.build(), x: Tensor.from([0.5, -1.5, 0.25]), w };
}

function float64Params(graph: Graph, params: ParamStore): ParamStore {
  const out = new ParamStore();
  for (const name of Object.keys(graph.params)) out.set(name, params.get(name).astype("float64"));
  return out;
}

describe("gradgradcheck", () => {
  it("checks the whole Hessian of a scalar loss entry by entry", () => {
    const { graph, x, w } = diagonal();
    const report = gradgradcheck(graph, { x }, { topK: 9 });
    expect(report.check).toBe("gradgradcheck");
    expect(report.ok).toBe(true);
    expect(report.of).toEqual(["grad:w"]);
    expect(report.wrt).toEqual(["w"]);
    expect(report.checked).toBe(9);
    // one reverse pass of the gradient graph per gradient coordinate, two runs of it per coordinate
    expect(report.evaluations).toBe(3 + 2 * 3);
    const xv = [0.5, -1.5, 0.25];
    for (const e of report.worst) {
      const t = Math.tanh(xv[e.index]! * w[e.index]!);
      const expected = e.outIndex === e.index ? -2 * xv[e.index]! ** 2 * t * (1 - t * t) : 0;
      expect(e.analytic).toBeCloseTo(expected, 13);
      expect(e.numeric).toBeCloseTo(expected, 8);
    }
  });

  it("agrees with forward-over-reverse hessian() on an MLP", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    const report = gradgradcheck(graph, feeds, { params, wrt: ["W2", "b2"], topK: 100 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(10 * 10);
    const feeds64 = { x: feeds.x.astype("float64"), y: feeds.y.astype("float64") };
    const H = hessian(castGraph(graph, "float64"), "loss", ["W2", "b2"], feeds64, {
      params: float64Params(graph, params),
    });
    const offset = (name: string) => (name === "grad:W2" || name === "W2" ? 0 : 8);
    for (const e of report.worst) {
      const i = offset(e.of) + e.outIndex;
      const j = offset(e.wrt) + e.index;
      expect(e.analytic).toBeCloseTo(H.data[i * 10 + j]!, 12);
    }
  });

  it("catches a rule whose first derivative is right but whose second derivative is wrong", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    expect(gradcheck(graph, feeds, { params, rules: wrongTanhSecondOrder }).ok).toBe(true);
    const exhaustive = gradgradcheck(graph, feeds, { params, rules: wrongTanhSecondOrder });
    expect(exhaustive.ok).toBe(false);
    // the error is in d(grad W1, grad b1)/d(W1, b1): the tanh layer's own curvature
    const failing = exhaustive.blocks.filter((b) => b.failures > 0).map((b) => `${b.of}/${b.wrt}`);
    expect(failing).toEqual(["grad:W1/W1", "grad:W1/b1", "grad:b1/W1", "grad:b1/b1"]);
    expect(formatGradcheckReport(exhaustive)).toMatch(/^gradgradcheck exhaustive float64: FAILED/);
    expect(gradgradcheck(graph, feeds, { params, rules: wrongTanhSecondOrder, mode: "random" }).ok).toBe(
      false,
    );
    expect(gradgradcheck(graph, feeds, { params, rules: wrongTanh }).ok).toBe(false);
  });

  it("random mode compares <w, H v> with a few gradient evaluations", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    const report = gradgradcheck(graph, feeds, { params, mode: "random", directions: 3 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(3);
    // per direction: one reverse pass per gradient output (4) and two runs of the gradient graph
    expect(report.evaluations).toBe(3 * (4 + 2));
  });

  it("with gradCotangents checks the Hessian-vector product H w coordinate by coordinate", () => {
    const { graph, x, w } = diagonal();
    const v = [1, 2, -1];
    const report = gradgradcheck(graph, { x }, { gradCotangents: { w: Tensor.from(v) }, topK: 3 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(3);
    const xv = [0.5, -1.5, 0.25];
    for (const e of report.worst) {
      const t = Math.tanh(xv[e.index]! * w[e.index]!);
      expect(e.outIndex).toBe(-1);
      expect(e.analytic).toBeCloseTo(-2 * xv[e.index]! ** 2 * t * (1 - t * t) * v[e.index]!, 13);
    }
    expect(() => gradgradcheck(graph, { x }, { gradCotangents: { x: 1 } })).toThrow(/not in wrt/);
  });

  it("a non-scalar output: random or given cotangents, whose derivatives are checked too", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    const report = gradgradcheck(graph, feeds, { params, of: "logits", wrt: ["W1", "b1"] });
    expect(report.ok).toBe(true);
    expect(report.wrt).toEqual(["W1", "b1", "cotangent:logits"]);
    expect(report.checked).toBe(16 * (16 + 4));
    const without = gradgradcheck(graph, feeds, {
      params,
      of: "logits",
      wrt: ["W1"],
      checkCotangents: false,
    });
    expect(without.wrt).toEqual(["W1"]);

    // the gradient is linear in the cotangent: doubling it doubles every second derivative
    const u = Tensor.from([
      [0.5, -1],
      [2, 0.25],
    ]);
    const u2 = Tensor.from([
      [1, -2],
      [4, 0.5],
    ]);
    const a = gradgradcheck(graph, feeds, {
      params,
      of: "logits",
      wrt: ["b1"],
      cotangents: { logits: u },
      topK: 100,
    });
    const b = gradgradcheck(graph, feeds, {
      params,
      of: "logits",
      wrt: ["b1"],
      cotangents: { logits: u2 },
      topK: 100,
    });
    expect(a.ok && b.ok).toBe(true);
    const key = (e: (typeof a.worst)[number]) => `${e.wrt}:${e.outIndex}:${e.index}`;
    const doubled = new Map(b.worst.map((e) => [key(e), e.analytic]));
    for (const e of a.worst.filter((q) => q.wrt === "b1"))
      expect(doubled.get(key(e))).toBeCloseTo(2 * e.analytic, 13);

    expect(gradgradcheck(graph, feeds, { params, of: "logits", rules: wrongTanhSecondOrder }).ok).toBe(false);
  });

  it("gradients that are the same node (found by the random-graph property)", () => {
    // f = sum((p0 + p1) * w): grad:p0 and grad:p1 are both w, one node under two names
    const b = new GraphBuilder({ dtype: "float64" });
    const p0 = b.param("p0", [1, 1], { init: { kind: "values", values: [0.2] } });
    const p1 = b.param("p1", [1, 1], { init: { kind: "values", values: [-0.4] } });
    b.output("f", b.add(p0, p1).mul(0.7).sum());
    const report = gradgradcheck(b.build());
    expect(report.ok).toBe(true);
    expect(report.of).toEqual(["grad:p0", "grad:p1"]);
    expect(report.checked).toBe(4);
    expect(report.worst.every((e) => e.analytic === 0 && e.numeric === 0)).toBe(true);
  });

  it("several outputs at once", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    const report = gradgradcheck(graph, feeds, { params, of: ["loss", "logits"], wrt: ["b1"] });
    expect(report.ok).toBe(true);
    // the scalar loss gets cotangent 1 (an input of the gradient graph, not checked: it is a scalar)
    expect(report.wrt).toEqual(["b1", "cotangent:logits"]);
    expect(report.of).toEqual(["grad:b1"]);
    expect(() => gradgradcheck(graph, feeds, { params, cotangents: { nope: 1 } })).toThrow(/not checked/);
  });
});
