/**
 * jvpcheck: forward mode against reverse mode (<J v, u> = <v, J^T u>, or the two Jacobians) and
 * against finite differences.
 */
import { GraphBuilder, ParamStore } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { formatGradcheckReport, JVP, type JvpFn, type JvpTable, jvpcheck } from "../src/index.js";
import { data, mlp, wrongTanh } from "./gradcheck.nets.js";

/** tanh's JVP with `1 - y` instead of `1 - y^2`. */
const wrongTanhJvp: Partial<JvpTable> = {
  tanh: (({ b, t, y }) => b.mul(t[0]!, b.sub(1, y))) as JvpFn<"tanh">,
};

/** The built-in JVP of logSoftmax scaled by 1 + 1e-6 (a subtle error). */
const slightlyWrongLogSoftmax: Partial<JvpTable> = {
  logSoftmax: ((args) => {
    const r = (JVP.logSoftmax as JvpFn<"logSoftmax">)(args);
    return r ? args.b.mul(r, 1 + 1e-6) : r;
  }) as JvpFn<"logSoftmax">,
};

describe("jvpcheck", () => {
  const graph = mlp(3, 4, 2);
  const params = ParamStore.init(graph, 1);
  const feeds = data(2, 3, 2, 3);
  const of = ["logits", "loss"];

  it("exhaustive (auto on a small graph): both Jacobians entry by entry, and J against finite differences", () => {
    const report = jvpcheck(graph, feeds, { params, of });
    expect(report.check).toBe("jvpcheck");
    expect(report.mode).toBe("exhaustive");
    expect(report.ok).toBe(true);
    const n = 12 + 4 + 8 + 2;
    expect(report.checked).toBe(2 * (4 + 1) * n);
    expect(report.worst.length).toBe(10);
    const kinds = new Set(report.blocks.map((b) => b.worst.kind));
    expect([...kinds].every((k) => k === "tangent" || k === "consistency")).toBe(true);
    // one forward-mode run per input coordinate, one reverse pass per output coordinate, two
    // forward runs per input coordinate
    expect(report.evaluations).toBe(n + (4 + 1) + 2 * n);
    const text = formatGradcheckReport(report);
    expect(text.split("\n")[0]).toMatch(/^jvpcheck exhaustive float64: ok \(260 entries\)/);
    expect(text).toMatch(/\nkind\s+of\s+out\s+wrt\s+index\s+jvp\s+reference\s+rel error\n/);
  });

  it("random: <u, J v> from jvp against <J^T u, v> from grad, per (of, wrt) pair", () => {
    const report = jvpcheck(graph, feeds, { params, of, mode: "random", directions: 3, topK: 1000 });
    expect(report.ok).toBe(true);
    expect(report.mode).toBe("random");
    const consistency = report.worst.filter((e) => e.kind === "consistency");
    expect(consistency).toHaveLength(3 * 2 * 4);
    for (const e of consistency) {
      expect(e.outIndex).toBe(-1);
      expect(e.relError).toBeLessThan(1e-12);
    }
    // plus every element of J v against finite differences
    expect(report.worst.filter((e) => e.kind === "tangent")).toHaveLength(3 * (4 + 1) * 4);
    // per direction: two reverse passes, and per wrt one forward-mode run and two forward runs
    expect(report.evaluations).toBe(3 * (2 + 4 * 3));
    const noFd = jvpcheck(graph, feeds, { params, of, mode: "random", finiteDifferences: false });
    expect(noFd.checked).toBe(4 * 2 * 4);
    expect(noFd.evaluations).toBe(4 * (2 + 4));
  });

  it("a wrong JVP rule fails both kinds of entries, in both modes", () => {
    for (const mode of ["exhaustive", "random"] as const) {
      const report = jvpcheck(graph, feeds, { params, of, mode, jvpRules: wrongTanhJvp, topK: 1000 });
      expect(report.ok).toBe(false);
      const failing = new Set(report.worst.filter((e) => e.tolRatio > 1).map((e) => `${e.kind}/${e.wrt}`));
      expect(failing).toEqual(new Set(["consistency/W1", "consistency/b1", "tangent/W1", "tangent/b1"]));
    }
  });

  it("a wrong VJP rule fails the consistency entries only", () => {
    const report = jvpcheck(graph, feeds, { params, of, rules: wrongTanh, topK: 1000 });
    expect(report.ok).toBe(false);
    expect(report.worst.filter((e) => e.kind === "tangent").every((e) => e.tolRatio <= 1)).toBe(true);
    expect(report.worst.some((e) => e.kind === "consistency" && e.tolRatio > 1)).toBe(true);
  });

  it("the consistency entries catch a relative error of 1e-6, below finite differences' resolution", () => {
    const report = jvpcheck(graph, feeds, {
      params,
      of: ["loss"],
      jvpRules: slightlyWrongLogSoftmax,
      mode: "random",
      topK: 1000,
    });
    expect(report.ok).toBe(false);
    expect(report.worst.filter((e) => e.tolRatio > 1).every((e) => e.kind === "consistency")).toBe(true);
  });

  it("derivatives that are zero up to rounding pass (found by the random-graph property)", () => {
    // logSoftmax(p1 + p0) does not depend on the scalar p0: both modes give ~1e-16 for it
    const b = new GraphBuilder({ dtype: "float64" });
    const p0 = b.param("p0", [], { init: { kind: "values", values: [0] } });
    const p1 = b.param("p1", [2, 1], { init: { kind: "values", values: [0, -0.506] } });
    const v = b.add(p1, p0).logSoftmax(0);
    b.output("v", v);
    const g = b.build();
    for (const mode of ["exhaustive", "random"] as const) {
      expect(jvpcheck(g, {}, { of: ["v"], wrt: ["p0", "p1"], mode }).ok).toBe(true);
      expect(jvpcheck(g, {}, { of: ["v"], wrt: ["p0"], mode }).ok).toBe(true);
    }
  });

  it("needs no params or names: inputs as wrt", () => {
    const report = jvpcheck(graph, feeds, { params, of: ["logits"], wrt: ["x"] });
    expect(report.ok).toBe(true);
    expect(report.wrt).toEqual(["x"]);
    expect(() => jvpcheck(graph, feeds, { params, consistencyTol: -1 })).toThrow(/consistencyTol/);
    expect(() => jvpcheck(graph, feeds, { params, consistencyAtol: -1 })).toThrow(/consistencyAtol/);
  });
});
