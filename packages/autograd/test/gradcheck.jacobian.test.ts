/**
 * gradcheck on non-scalar and multi-output graphs: the full Jacobian, random cotangents and
 * directions (joint or per block), fixed cotangents, auto mode and the per-block report.
 */
import { type Graph, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { formatGradcheckReport, gradcheck } from "../src/index.js";
import { data, mlp, wrongTanh } from "./gradcheck.nets.js";

/** y = tanh(A x): J_x = diag(1 - y^2) A, dy_i / dA_jk = [i = j] (1 - y_i^2) x_k. */
function tanhLayer(): { graph: Graph; x: Tensor; A: number[][] } {
  const A = [
    [0.5, -0.3, 0.8],
    [-0.2, 0.4, 0.1],
  ];
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [3]);
  const a = b.param("A", [2, 3], { init: { kind: "values", values: A.flat() } });
  b.output(
    "y",
    a
      .matmul(x.reshape([3, 1]))
      .reshape([2])
      .tanh(),
  );
  return { graph: b.build(), x: Tensor.from([0.7, -0.4, 0.2]), A };
}

describe("gradcheck: the Jacobian of a non-scalar output", () => {
  it("compares every entry, each with its output and input index", () => {
    const { graph, x, A } = tanhLayer();
    const report = gradcheck(graph, { x }, { wrt: ["x", "A"], topK: 100 });
    expect(report.ok).toBe(true);
    expect(report.of).toEqual(["y"]);
    expect(report.checked).toBe(2 * 3 + 2 * 6);
    // one reverse pass per output coordinate, two forward runs per input coordinate
    expect(report.evaluations).toBe(2 + 2 * 9);
    const xv = [0.7, -0.4, 0.2];
    const y = A.map((row) => Math.tanh(row.reduce((s, a, k) => s + a * xv[k]!, 0)));
    for (let i = 0; i < 2; i++) {
      for (let k = 0; k < 3; k++) {
        const e = report.worst.find((w) => w.wrt === "x" && w.outIndex === i && w.index === k)!;
        expect(e.kind).toBe("coordinate");
        expect(e.of).toBe("y");
        expect(e.outMultiIndex).toEqual([i]);
        expect(e.analytic).toBeCloseTo((1 - y[i]! ** 2) * A[i]![k]!, 14);
        expect(e.numeric).toBeCloseTo(e.analytic, 9);
      }
    }
    const dA = report.worst.find((w) => w.wrt === "A" && w.outIndex === 1 && w.index === 4)!;
    expect(dA.multiIndex).toEqual([1, 1]);
    expect(dA.analytic).toBeCloseTo((1 - y[1]! ** 2) * xv[1]!, 14);
    const off = report.worst.find((w) => w.wrt === "A" && w.outIndex === 0 && w.index === 4)!;
    expect(off.analytic).toBe(0);
    expect(off.numeric).toBe(0);
  });

  it("reports one block per (of, wrt) pair and localises a wrong rule", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    const ok = gradcheck(graph, feeds, { params, of: ["loss", "logits"] });
    expect(ok.ok).toBe(true);
    expect(ok.checked).toBe((1 + 4) * (12 + 4 + 8 + 2));
    expect(ok.blocks.map((b) => `${b.of}/${b.wrt}`)).toEqual([
      "loss/W1",
      "loss/b1",
      "loss/W2",
      "loss/b2",
      "logits/W1",
      "logits/b1",
      "logits/W2",
      "logits/b2",
    ]);
    expect(ok.blocks.find((b) => b.of === "logits" && b.wrt === "W1")!.checked).toBe(4 * 12);

    const bad = gradcheck(graph, feeds, { params, of: ["loss", "logits"], rules: wrongTanh });
    expect(bad.ok).toBe(false);
    const failing = bad.blocks.filter((b) => b.failures > 0).map((b) => `${b.of}/${b.wrt}`);
    // the rule is used on the way to W1 and b1 only
    expect(failing).toEqual(["loss/W1", "loss/b1", "logits/W1", "logits/b1"]);
    for (const b of bad.blocks) expect(b.worst.tolRatio > 1).toBe(b.failures > 0);

    const text = formatGradcheckReport(bad);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^gradcheck exhaustive float64: FAILED, \d+ of 130 entries out of tolerance/);
    expect(lines[2]).toMatch(/^of\s+wrt\s+entries\s+failures\s+max rel error\s+worst tol ratio$/);
    expect(lines.slice(3, 11).map((l) => l.split(/\s+/).slice(0, 4))).toContainEqual([
      "logits",
      "b1",
      "16",
      "16",
    ]);
    expect(lines[12]).toMatch(/^of\s+out\s+wrt\s+index\s+analytic\s+numeric\s+rel error$/);
    expect(lines[13]).toMatch(/^(logits\s+\d \[\d,\d\]|loss\s+0 \[\])\s+(W1|b1)\s.*FAIL$/);
    expect(formatGradcheckReport(bad, { blocks: false }).split("\n")[2]).toMatch(/^of\s+out\s+wrt/);
  });

  it("handles symbolic batch dims and params the output does not depend on", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 2]);
    const w = b.param("w", [2], { init: { kind: "values", values: [0.4, -1.2] } });
    b.param("unused", [3]);
    b.output("y", x.mul(w).sigmoid());
    const report = gradcheck(
      b.build(),
      {
        x: Tensor.from([
          [0.1, 0.2],
          [0.3, -0.5],
          [1, 2],
        ]),
      },
      { wrt: ["w", "unused", "x"] },
    );
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(6 * (2 + 3 + 6));
    expect(report.blocks.find((bl) => bl.wrt === "unused")!.maxAbsError).toBe(0);
  });
});

describe("gradcheck: random cotangents and directions", () => {
  const graph = mlp(3, 4, 2);
  const params = ParamStore.init(graph, 1);
  const feeds = data(2, 3, 2, 3);

  it("joint: <J^T u, v> against <u, (f(x + h v) - f(x - h v)) / 2h> over all outputs at once", () => {
    const report = gradcheck(graph, feeds, { params, of: ["logits", "loss"], mode: "random", directions: 5 });
    expect(report.ok).toBe(true);
    expect(report.mode).toBe("random");
    expect(report.checked).toBe(5);
    // one reverse pass per output and two forward runs per direction
    expect(report.evaluations).toBe(5 * (2 + 2));
    for (const e of report.worst) {
      expect(e).toMatchObject({ kind: "direction", of: "*", wrt: "*", outIndex: -1 });
    }
    expect(
      gradcheck(graph, feeds, { params, of: ["logits", "loss"], mode: "random", rules: wrongTanh }).ok,
    ).toBe(false);
  });

  it("per block: one direction per (of, wrt) pair names the wrong pair", () => {
    const opts = { params, of: ["logits", "loss"], mode: "random", perBlock: true, directions: 3 } as const;
    const report = gradcheck(graph, feeds, opts);
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(3 * 2 * 4);
    expect(report.evaluations).toBe(3 * (2 + 2 * 4));
    const bad = gradcheck(graph, feeds, { ...opts, rules: wrongTanh });
    expect(bad.blocks.filter((b) => b.failures > 0).map((b) => `${b.of}/${b.wrt}`)).toEqual([
      "logits/W1",
      "logits/b1",
      "loss/W1",
      "loss/b1",
    ]);
  });

  it("a scalar output keeps the plain gradient (u = 1): one reverse pass for all directions", () => {
    const report = gradcheck(graph, feeds, { params, mode: "random", directions: 6 });
    expect(report.evaluations).toBe(1 + 2 * 6);
    expect(report.worst.every((e) => e.of === "loss" && e.outIndex === 0)).toBe(true);
  });
});

describe("gradcheck: fixed cotangents (vector-Jacobian products)", () => {
  it("compares J^T u coordinate by coordinate with the finite differences of <u, f>", () => {
    const { graph, x, A } = tanhLayer();
    const u = [2, -3];
    const report = gradcheck(graph, { x }, { wrt: ["x"], cotangents: { y: Tensor.from(u) }, topK: 3 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(3);
    expect(report.evaluations).toBe(1 + 2 * 3);
    const xv = [0.7, -0.4, 0.2];
    const y = A.map((row) => Math.tanh(row.reduce((s, a, k) => s + a * xv[k]!, 0)));
    for (const e of report.worst) {
      expect(e.outIndex).toBe(-1);
      const expected = u.reduce((s, ui, i) => s + ui * (1 - y[i]! ** 2) * A[i]![e.index]!, 0);
      expect(e.analytic).toBeCloseTo(expected, 14);
    }
    const random = gradcheck(graph, { x }, { wrt: ["x"], cotangents: { y: Tensor.from(u) }, mode: "random" });
    expect(random.ok).toBe(true);
    expect(random.evaluations).toBe(1 + 2 * 4);
  });

  it("catches a wrong rule through them", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    const u = Tensor.from([
      [1, -1],
      [0.5, 2],
    ]);
    expect(gradcheck(graph, feeds, { params, of: "logits", cotangents: { logits: u } }).ok).toBe(true);
    expect(
      gradcheck(graph, feeds, { params, of: "logits", cotangents: { logits: u }, rules: wrongTanh }).ok,
    ).toBe(false);
  });
});

describe("gradcheck: auto mode", () => {
  it("is exhaustive when that is cheap and random otherwise", () => {
    const graph = mlp(3, 4, 2);
    const params = ParamStore.init(graph, 1);
    const feeds = data(2, 3, 2, 3);
    expect(gradcheck(graph, feeds, { params, of: "logits", mode: "auto" }).mode).toBe("exhaustive");
    const big = gradcheck(graph, feeds, { params, of: "logits", mode: "auto", autoLimit: 20 });
    expect(big.mode).toBe("random");
    expect(big.ok).toBe(true);
  });
});
