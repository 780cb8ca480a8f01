/**
 * The finite-difference step and the error model of gradcheck: scaled steps, the rounding
 * allowance and Richardson extrapolation keep correct gradients of large losses passing, and
 * wrong derivatives failing (both directions tested on the same graphs).
 */
import { GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { GRADCHECK_TOLERANCES, gradcheck, jvpcheck } from "../src/index.js";
import { data, logSumExpCase, logSumExpValue, mlp, scaledRule, wrongTanh } from "./gradcheck.nets.js";

/** Logits near +800 (row 0) and +630 (row 1), offsets in [-4, 4]: f = sum of the row logSumExps ~ 1430. */
const big = () => logSumExpCase([800, 630], 8, 4, 0);

describe("gradcheck on a large loss: logSumExp over logits near 800", () => {
  it("is a loss of about 1430 whose plain fixed-step check fails although the gradient is right", () => {
    const { graph, x } = big();
    expect(logSumExpValue(x)).toBeGreaterThan(1420);
    expect(logSumExpValue(x)).toBeLessThan(1445);
    // the check as it was: step 1e-5 everywhere, no rounding allowance, no extrapolation
    const plain = gradcheck(graph, { x }, { wrt: ["x"], step: "fixed", richardson: "never", roundoff: 0 });
    expect(plain.ok).toBe(false);
    // the failing entries are small softmax probabilities drowned by the rounding of f ~ 1430
    const w = plain.worst[0]!;
    expect(Math.abs(w.analytic)).toBeLessThan(0.02);
    expect(w.absError).toBeGreaterThan(GRADCHECK_TOLERANCES.float64.atol);
    expect(w.absError).toBeLessThan(1e-7);
  });

  it("passes by default with a wide margin (scaled steps, refined by Richardson extrapolation)", () => {
    const { graph, x } = big();
    const report = gradcheck(graph, { x }, { wrt: ["x"] });
    expect(report.ok).toBe(true);
    expect(report.step).toBe("scaled");
    expect(report.richardson).toBe("auto");
    expect(report.checked).toBe(16);
    // |x| > 1 everywhere: every step was enlarged, so every difference was extrapolated
    expect(report.refined).toBe(16);
    expect(report.evaluations).toBe(1 + 4 * 16);
    expect(report.worst[0]!.tolRatio).toBeLessThan(0.05);
    expect(report.maxAbsError).toBeLessThan(1e-9);
  });

  it("also passes with a fixed step, thanks to the rounding allowance alone", () => {
    const { graph, x } = big();
    const report = gradcheck(graph, { x }, { wrt: ["x"], step: "fixed", richardson: "never" });
    expect(report.ok).toBe(true);
    for (const e of report.worst) {
      expect(e.noise).toBeGreaterThan(0);
      expect(e.allowed).toBeCloseTo(
        Math.max(1e-8, 1e-6 * Math.max(Math.abs(e.analytic), Math.abs(e.numeric))) + e.noise,
        20,
      );
    }
  });

  it.each([
    ["1%", 1.01],
    ["1e-4", 1 + 1e-4],
    ["1e-5", 1 + 1e-5],
  ])("catches a logSumExp VJP that is off by %s, in every mode", (_, factor) => {
    const { graph, x } = big();
    const rules = scaledRule("logSumExp", factor);
    const report = gradcheck(graph, { x }, { wrt: ["x"], rules });
    expect(report.ok).toBe(false);
    // every entry with a gradient the finite difference can resolve fails
    expect(report.failures).toBeGreaterThanOrEqual(12);
    expect(report.worst[0]!.relError).toBeGreaterThan((factor - 1) / 2);
    expect(gradcheck(graph, { x }, { wrt: ["x"], rules, step: "fixed" }).ok).toBe(false);
    expect(gradcheck(graph, { x }, { wrt: ["x"], rules, mode: "random", directions: 2 }).ok).toBe(false);
    expect(gradcheck(graph, { x }, { wrt: ["x"], rules, mode: "random", perBlock: true }).ok).toBe(false);
  });

  it("passes forward mode on it too (jvpcheck)", () => {
    const { graph, x } = big();
    expect(jvpcheck(graph, { x }, { wrt: ["x"] }).ok).toBe(true);
    expect(jvpcheck(graph, { x }, { wrt: ["x"], mode: "random" }).ok).toBe(true);
  });
});

describe("the rounding allowance", () => {
  /** `offset + sum(tanh(w * x))`: a constant offset changes |f| but not the gradient. */
  function offsetGraph(offset: number) {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [4]);
    const w = b.param("w", [4], { init: { kind: "values", values: [0.3, -0.7, 0.5, 0.9] } });
    b.output("f", b.add(b.mul(x, w).tanh().sum(), offset));
    return { graph: b.build(), x: Tensor.from([0.5, -0.25, 1, 0.75]) };
  }

  it("grows with |f|: a loss offset by 1e6 passes, and without the allowance it fails", () => {
    const { graph, x } = offsetGraph(1e6);
    const report = gradcheck(graph, { x });
    expect(report.ok).toBe(true);
    expect(gradcheck(graph, { x }, { roundoff: 0 }).ok).toBe(false);
    const small = gradcheck(offsetGraph(0).graph, { x });
    expect(Math.min(...report.worst.map((e) => e.noise))).toBeGreaterThan(
      1e5 * Math.max(...small.worst.map((e) => e.noise)),
    );
  });

  it("still lets a 1% error through nowhere", () => {
    const { graph, x } = offsetGraph(1e6);
    const report = gradcheck(graph, { x }, { rules: scaledRule("tanh", 1.01) });
    expect(report.ok).toBe(false);
    expect(report.failures).toBe(4);
  });

  it("is negligible for losses of order 1 (below atol)", () => {
    const { graph, x } = offsetGraph(0);
    for (const e of gradcheck(graph, { x }).worst) expect(e.noise).toBeLessThan(1e-9);
  });
});

describe("Richardson extrapolation", () => {
  /** `sum(tanh(x - 800))` near x = 800: the scaled step (8e-3) has a large truncation error. */
  function shifted() {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [5]);
    b.output("f", b.sub(x, 800).tanh().sum());
    return { graph: b.build(), x: Tensor.from([799.2, 799.7, 800.1, 800.5, 801]) };
  }

  it("removes the truncation error of enlarged steps", () => {
    const { graph, x } = shifted();
    const never = gradcheck(graph, { x }, { richardson: "never", wrt: ["x"] });
    expect(never.ok).toBe(false);
    expect(never.refined).toBe(0);
    const auto = gradcheck(graph, { x }, { wrt: ["x"] });
    expect(auto.ok).toBe(true);
    expect(auto.refined).toBe(5);
    expect(auto.maxRelError).toBeLessThan(1e-8);
    // a fixed step is small enough here too
    expect(gradcheck(graph, { x }, { step: "fixed", wrt: ["x"] }).ok).toBe(true);
  });

  it("costs two more evaluations per refined entry; auto refines only enlarged or failing ones", () => {
    const graph = mlp(4, 5, 3);
    const params = ParamStore.init(graph, 3);
    const { x, y } = data(6, 4, 3, 1);
    const n = 4 * 5 + 5 + 5 * 3 + 3;
    const auto = gradcheck(graph, { x, y }, { params });
    expect(auto.refined).toBe(0);
    expect(auto.evaluations).toBe(1 + 2 * n);
    const always = gradcheck(graph, { x, y }, { params, richardson: "always" });
    expect(always.ok).toBe(true);
    expect(always.refined).toBe(n);
    expect(always.evaluations).toBe(1 + 4 * n);
    expect(always.maxRelError).toBeLessThan(1e-7);
    // a wrong rule: the failing entries are refined (and still fail), the others are not
    const wrong = gradcheck(graph, { x, y }, { params, rules: wrongTanh, topK: n });
    expect(wrong.ok).toBe(false);
    expect(wrong.refined).toBe(wrong.worst.filter((e) => e.refined).length);
    expect(wrong.worst.filter((e) => e.tolRatio > 1).every((e) => e.refined)).toBe(true);
    expect(wrong.evaluations).toBe(1 + 2 * n + 2 * wrong.refined);
  });
});

describe("float32", () => {
  it("checks the float32 kernels with that dtype's tolerances and catches a wrong rule", () => {
    const graph = mlp(4, 5, 3);
    const params = ParamStore.init(graph, 3);
    const { x, y } = data(6, 4, 3, 1);
    const ok = gradcheck(graph, { x, y }, { params, dtype: "float32", of: ["loss", "logits"] });
    expect(ok.ok).toBe(true);
    expect(ok.roundoff).toBe(GRADCHECK_TOLERANCES.float32.roundoff);
    expect(gradcheck(graph, { x, y }, { params, dtype: "float32", rules: wrongTanh }).ok).toBe(false);
  });
});
