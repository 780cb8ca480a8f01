import { type Graph, GraphBuilder, initTensor, ParamStore, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { formatGradcheckReport, GRADCHECK_TOLERANCES, gradcheck, type VjpTable } from "../src/index.js";
import { data, mlp } from "./gradcheck.nets.js";

/** Andrew Ng's ex4 checkNNGradients network: 3 inputs, 5 hidden sigmoid units, 3 sigmoid outputs, m = 5. */
function ex4Net(lambda: number): { graph: Graph; feeds: { X: Tensor; Y: Tensor } } {
  const m = 5;
  const b = new GraphBuilder({ dtype: "float64" });
  const X = b.input("X", [m, 3]);
  const Y = b.input("Y", [m, 3]);
  const Theta1 = b.param("Theta1", [5, 4], { init: { kind: "debugSin" } });
  const Theta2 = b.param("Theta2", [3, 6], { init: { kind: "debugSin" } });
  const ones = b.ones([m, 1]);
  const a1 = b.concat([ones, X], 1);
  const a2 = b.concat([ones, a1.matmul(Theta1, { transB: true }).sigmoid()], 1);
  const h = a2.matmul(Theta2, { transB: true }).sigmoid();
  const ce = Y.mul(h.log())
    .add(b.sub(1, Y).mul(b.sub(1, h).log()))
    .sum()
    .neg()
    .div(m);
  const reg = Theta1.slice([0, 1], [null, null])
    .square()
    .sum()
    .add(Theta2.slice([0, 1], [null, null]).square().sum())
    .mul(lambda / (2 * m));
  b.output("J", ce.add(reg));
  // X = debugInitializeWeights(m, input_layer_size - 1); y = 1 + mod(1:m, num_labels)
  const Xv = initTensor({ kind: "debugSin" }, [m, 3], "float64", new Rng(0));
  const Yv = Tensor.zeros([m, 3], "float64");
  for (let i = 1; i <= m; i++) Yv.data[(i - 1) * 3 + (i % 3)] = 1;
  return { graph: b.build(), feeds: { X: Xv, Y: Yv } };
}

const wrongSigmoid: Partial<VjpTable> = { sigmoid: ({ b, g, y }) => [b.mul(g, y)] };

describe("gradcheck", () => {
  it("passes a two-layer MLP (float32 graph, checked in float64) with max relative error < 1e-6", () => {
    const graph = mlp(4, 5, 3);
    const params = ParamStore.init(graph, 3);
    const before = params.get("W1").clone();
    const { x, y } = data(6, 4, 3, 1);
    const report = gradcheck(graph, { x, y }, { params, of: "loss" });
    expect(report.ok).toBe(true);
    expect(report.dtype).toBe("float64");
    expect(report.wrt).toEqual(["W1", "b1", "W2", "b2"]);
    expect(report.checked).toBe(4 * 5 + 5 + 5 * 3 + 3);
    expect(report.evaluations).toBe(1 + 2 * report.checked);
    expect(report.maxRelError).toBeLessThan(1e-6);
    expect(report.worst).toHaveLength(10);
    // the caller's params are untouched (the check works on float64 copies)
    expect(params.get("W1").dtype).toBe("float32");
    expect(params.get("W1").toArray()).toEqual(before.toArray());
  });

  it("passes Ng's ex4 3-5-3 check with debug weights and eps 1e-4 (relative difference < 1e-9)", () => {
    const { graph, feeds } = ex4Net(3);
    const report = gradcheck(graph, feeds, { eps: 1e-4, topK: 38 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(5 * 4 + 3 * 6);
    expect(report.normRelError).toBeLessThan(1e-9);
    // the first column of Theta1's gradient as ex4 prints it (params from the debugSin initialisers)
    const column0 = [0, 4, 8, 12, 16].map(
      (i) => report.worst.find((e) => e.wrt === "Theta1" && e.index === i)!.analytic,
    );
    const ng = [-9.2783e-3, 8.8991e-3, -8.3601e-3, 7.6281e-3, -6.748e-3];
    column0.forEach((g, i) => {
      expect(g).toBeCloseTo(ng[i]!, 7);
    });
  });

  it("checks a larger network in random-direction mode with O(1) evaluations", () => {
    const graph = mlp(20, 32, 10);
    const params = ParamStore.init(graph, 4);
    const { x, y } = data(16, 20, 10, 2);
    const report = gradcheck(graph, { x, y }, { params, mode: "random", directions: 6, seed: 1 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(6);
    expect(report.evaluations).toBe(13);
    expect(report.worst.every((e) => e.kind === "direction" && e.wrt === "*")).toBe(true);
    expect(report.maxRelError).toBeLessThan(1e-6);
  });

  it("detects a wrong derivative and reports the worst entries", () => {
    const { graph, feeds } = ex4Net(0);
    const report = gradcheck(graph, feeds, { eps: 1e-4, rules: wrongSigmoid, topK: 5 });
    expect(report.ok).toBe(false);
    expect(report.failures).toBeGreaterThan(10);
    expect(report.worst).toHaveLength(5);
    expect(report.worst[0]!.tolRatio).toBeGreaterThan(1);
    expect(["Theta1", "Theta2"]).toContain(report.worst[0]!.wrt);
    const text = formatGradcheckReport(report);
    expect(text).toMatch(/^gradcheck exhaustive float64: FAILED, \d+ of 38 entries out of tolerance/);
    expect(text).toContain("FAIL");
    expect(text.split("\n")).toHaveLength(2 + 1 + 5);

    const random = gradcheck(graph, feeds, { mode: "random", rules: wrongSigmoid });
    expect(random.ok).toBe(false);
  });

  it("checks inputs by name, and entries carry flat and multi-indices", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const { x, y } = data(2, 3, 2, 3);
    const report = gradcheck(graph, { x, y }, { params, wrt: ["x"], topK: 100 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(6);
    const e = report.worst.find((w) => w.index === 4)!;
    expect(e.wrt).toBe("x");
    expect(e.multiIndex).toEqual([1, 1]);
  });

  it("runs in float32 with that dtype's tolerances", () => {
    const graph = mlp(4, 5, 3);
    const params = ParamStore.init(graph, 3);
    const { x, y } = data(6, 4, 3, 1);
    const report = gradcheck(graph, { x, y }, { params, dtype: "float32" });
    expect(report.dtype).toBe("float32");
    expect(report.eps).toBe(GRADCHECK_TOLERANCES.float32.eps);
    expect(report.ok).toBe(true);
  });

  it("formats a passing report", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.param("x", [2], { init: { kind: "values", values: [3, -1] } });
    b.output("f", x.square().sum());
    const text = formatGradcheckReport(gradcheck(b.build()));
    const lines = text.split("\n");
    expect(lines[0]).toBe(
      "gradcheck exhaustive float64: ok (2 entries) (rtol 1e-6, atol 1e-8, eps 1e-5*max(1,|x|))",
    );
    expect(lines[2]).toMatch(/^wrt\s+index\s+analytic\s+numeric\s+rel error$/);
    expect(lines.slice(3).map((l) => l.split(/\s+/).slice(0, 4))).toEqual(
      expect.arrayContaining([
        ["x", "0", "[0]", "6.0000000"],
        ["x", "1", "[1]", "-2.0000000"],
      ]),
    );
  });

  it("works with inputs and params named __proto__ or toString", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("__proto__", [2]);
    const w = b.param("toString", [2], { init: { kind: "values", values: [0.5, -1] } });
    b.output("f", x.mul(w).tanh().sum());
    const feeds = Object.fromEntries([["__proto__", Tensor.from([0.3, -0.2])]]);
    const report = gradcheck(b.build(), feeds, { wrt: ["__proto__", "toString"] });
    expect(report.ok).toBe(true);
    expect(report.wrt).toEqual(["__proto__", "toString"]);
    expect(report.checked).toBe(4);
  });

  it("explains bad requests", () => {
    const graph = mlp(3, 4, 2);
    const { x, y } = data(2, 3, 2, 3);
    expect(() => gradcheck(graph, { x, y }, { of: ["loss", "loss"] })).toThrow(
      /'loss' appears twice in 'of'/,
    );
    expect(() => gradcheck(graph, { x, y }, { of: "nope" })).toThrow(/nope/);
    expect(() => gradcheck(graph, { x, y }, { wrt: ["W1", "W1"] })).toThrow(/names an entry twice/);
    expect(() => gradcheck(graph, { x, y }, { cotangents: { nope: 1 } })).toThrow(
      /cotangent for 'nope', which is not checked/,
    );
    expect(() =>
      gradcheck(graph, { x, y }, { of: "logits", cotangents: { logits: Tensor.zeros([3, 2]) } }),
    ).toThrow(/cotangent of 'logits' has shape \[3,2\], expected \[2,2\]/);
    expect(() => gradcheck(graph, { x, y }, { eps: 0 })).toThrow(/eps must be positive/);
    expect(() => gradcheck(graph, { x, y }, { mode: "sideways" as never })).toThrow(/unknown mode/);
    expect(() => gradcheck(graph, { x, y }, { step: "huge" as never })).toThrow(/unknown step/);
    expect(() => gradcheck(graph, { x, y }, { richardson: "maybe" as never })).toThrow(/unknown richardson/);
    expect(() => gradcheck(graph, { x, y }, { mode: "random", directions: 0 })).toThrow(
      /directions must be a positive integer/,
    );
    expect(() => gradcheck(graph, { x, y }, { wrt: ["W9"] })).toThrow(/no param or input named 'W9'/);
    expect(() => gradcheck(graph, { x, y, z: 1 })).toThrow(/unknown feed 'z'/);
    expect(() => gradcheck(graph, { x })).toThrow(/missing feed for input 'y'/);
  });
});
