/**
 * `pnpm example custom-op`: softplus defined with defineOp, gradchecked (first and second order,
 * forward mode), a wrong VJP caught by the fast-check property and shrunk, a model trained through
 * the op; and the op's own pieces (attribute validation, kernels, the fused twin) in-process.
 */
import { join } from "node:path";
import { compile, GraphBuilder, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import {
  softplus,
  softplusAttrs,
  softplusFused,
  softplusGraph,
  softplusValue,
} from "../src/examples/custom-op.js";
import { checkChart, lastJson, marks, readJson, runCli, runCliInterrupted, tempOut } from "./helpers.js";

interface Check {
  ok: boolean;
  checked: number;
  failures: number;
  maxRelError: number;
}

describe("pnpm example custom-op", () => {
  test("checks the op, catches and shrinks the wrong VJP, trains through the op", async () => {
    const out = tempOut("custom-op");
    const r = await runCli(["custom-op", "--runs", "30", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const s = r.stdout;
    // attribute validation, a printed node, the kernels
    expect(s).toContain("'beta' must be a finite number > 0, got -1");
    expect(s).toContain(`'beta' must be a finite number > 0, got "2"`);
    expect(s).toContain("unknown attribute 'alpha' (it takes only 'beta')");
    expect(s).toMatch(/%1 = example\.softplus\(%0\) \{beta=2\} : f64\[2,3\]/);
    expect(s).toMatch(/float64 kernel: 0, 9\.35762e-14, 0\.313262, 0\.693147, 1\.31326, 30, 800/);
    expect(s).toMatch(/naive log\(1 \+ exp\(x\)\): .*Infinity/);
    expect(s).toMatch(/compiles to 3 steps with the kernel op, 1 with its elementwise twin/);
    // the three checks, with their tables
    expect(s).toMatch(/gradcheck exhaustive float64: ok \(144 entries\)/);
    expect(s).toMatch(/gradgradcheck exhaustive float64: ok \(288 entries\)/);
    expect(s).toMatch(/jvpcheck exhaustive float64: ok \(288 entries\)/);
    expect(s).toMatch(/of\s+wrt\s+entries\s+failures\s+max rel error\s+worst tol ratio/);
    expect(s).toMatch(/gradcheck with dtype float32 ok/);
    // the properties
    expect(s).toContain("checkOpGradients(softplus, { spec }): passed 30 runs");
    expect(s).toContain("checkOpJvp(softplus, { spec }) (forward vs reverse mode): passed 15 runs");
    // the wrong VJP is a rules override by the op's name, not a second op
    expect(s).toContain("Wrong VJP (rules: { [softplus.name]: g * sigmoid(x) }, forgot beta)");
    expect(s).toMatch(/a unit test at the default beta = 1, x = -3\.\.3\.5 passes \(the bug hides there\)/);
    expect(s).toMatch(/the property FAILED after \d+ run\(s\), as it should/);
    expect(s).toMatch(/shrunk \(\d+ steps\) to: beta (1\.25|0\.75), x of shape \[1?\] = \[-?0\.001\]/);
    expect(s).toMatch(/x0\s+0 \[0?\]\s+\S+\s+\S+\s+\S+\s+FAIL/);
    expect(s).toMatch(/jvpcheck at beta 2 FAILS too/);
    // training
    expect(s).toMatch(/Epoch 100: loss [\d.]+, accuracy [\d.]+, val_loss [\d.]+, val_accuracy [\d.]+/);
    expect(s).toContain("loaded it back: predictions identical");

    const j = lastJson(s);
    expect(j.example).toBe("custom-op");
    expect(j.hyper).toMatchObject({ epochs: 100, lr: 0.05, seed: 1, runs: 30, hidden: 16 });
    const m = j.metrics as Record<string, unknown>;
    expect(m.testAccuracy as number).toBeGreaterThanOrEqual(0.9);
    expect(m).toMatchObject({ epochsCompleted: 100, reloadIdentical: true });
    for (const k of ["gradcheck", "gradgradcheck", "jvpcheck", "gradcheckFloat32"]) {
      expect((m[k] as Check).ok, k).toBe(true);
      expect((m[k] as Check).failures, k).toBe(0);
    }
    expect(m.gradcheckMaxRelError as number).toBeLessThan(1e-8);
    expect(m.gradgradcheckMaxRelError as number).toBeLessThan(1e-6);
    expect(m.jvpcheckMaxRelError as number).toBeLessThan(1e-8);
    expect(m.property).toEqual({ passed: true, runs: 30 });
    const w = m.wrongVjp as {
      unitTestAtBeta1Passes: boolean;
      caught: boolean;
      shrinks: number;
      counterexample: { shape: number[]; x: number[]; beta: number };
      jvpcheckCatches: boolean;
    };
    expect(w).toMatchObject({ unitTestAtBeta1Passes: true, caught: true, jvpcheckCatches: true });
    expect(w.shrinks).toBeGreaterThan(0);
    // minimal: one element, the smallest non-zero |x| of the grid, beta one step away from 1
    expect(w.counterexample.x).toHaveLength(1);
    expect(Math.abs(w.counterexample.x[0]!)).toBeCloseTo(0.001, 10);
    expect(Math.abs(w.counterexample.beta - 1)).toBe(0.25);

    // files
    const hist = checkChart(out, "history");
    expect(marks(hist, "line mark")).toBe(4); // loss and accuracy, train and validation
    expect(marks(checkChart(out, "decision-boundary"), "circle")).toBe(400);
    expect(marks(checkChart(out, "derivative"), "line mark")).toBe(3);
    expect((readJson(join(out, "history.json")).loss as number[]).length).toBe(100);
    const metrics = readJson(join(out, "metrics.json"));
    expect((metrics.metrics as { wrongVjp: { caught: boolean } }).wrongVjp.caught).toBe(true);
    expect(j.files).toEqual(
      expect.arrayContaining(["model.ggm", "report.txt", "metrics.json", "history.json", "history.png"]),
    );
  }, 30_000);

  test("Ctrl-C while training: exit 130, the files hold the completed epochs", async () => {
    const out = tempOut("custom-op-int");
    const r = await runCliInterrupted(
      ["custom-op", "--runs", "3", "--epochs", "100000", "--json", "--out", out],
      "Epoch 1: loss",
    );
    expect(r.sent).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).toContain("Stopped early by Ctrl-C");
    const j = lastJson(r.stdout);
    expect(j.stoppedEarly).toBe("interrupt");
    const training = j.training as { stopReason: string; epochsCompleted: number };
    expect(training.stopReason).toBe("interrupt");
    expect(training.epochsCompleted).toBeGreaterThanOrEqual(1);
    expect(training.epochsCompleted).toBeLessThan(100_000);
    const h = readJson(join(out, "history.json"));
    expect((h.loss as number[]).length).toBe(training.epochsCompleted);
    checkChart(out, "history");
    checkChart(out, "decision-boundary");
  }, 30_000);

  test("--time-limit stops the run with exit 0", async () => {
    const out = tempOut("custom-op-limit");
    const r = await runCli([
      "custom-op",
      "--runs",
      "1",
      "--epochs",
      "100000",
      "--time-limit",
      "0.5",
      "--json",
      "--out",
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.stoppedEarly).toBe("time-limit");
    expect((j.training as { epochsCompleted: number }).epochsCompleted).toBeLessThan(100_000);
    expect(readJson(join(out, "metrics.json")).training).toMatchObject({ stopReason: "time-limit" });
  }, 30_000);
});

describe("the op's definition", () => {
  test("attributes: beta defaults to 1, is validated, and validation is idempotent", () => {
    expect(softplusAttrs({})).toEqual({ beta: 1 });
    expect(softplusAttrs({ ...softplusAttrs({ beta: 2.5 }) })).toEqual({ beta: 2.5 });
    for (const beta of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "2", null]) {
      expect(() => softplusAttrs({ beta })).toThrow(/'beta' must be a finite number > 0/);
    }
    expect(() => softplusAttrs({ threshold: 20 })).toThrow(/unknown attribute 'threshold'/);
  });

  test("float32 and float64 kernels match the formula; the fused twin computes the same", () => {
    const xs = [-800, -40, -3, -0.5, 0, 0.25, 2, 40, 800];
    for (const beta of [0.5, 1, 3]) {
      for (const dtype of ["float32", "float64"] as const) {
        const exe = compile(softplusGraph([xs.length], beta, softplus, dtype));
        const y = exe.run({ x: Tensor.from(xs, { dtype }) }).y!.data;
        xs.forEach((x, i) => {
          const ref = softplusValue(dtype === "float32" ? Math.fround(x) : x, beta);
          expect(Number.isFinite(y[i]!)).toBe(true);
          expect(Math.abs(y[i]! - ref)).toBeLessThanOrEqual((dtype === "float32" ? 1e-6 : 1e-15) * (1 + ref));
        });
        exe.dispose();
      }
    }
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [xs.length]);
    b.output("a", softplus(b, x));
    b.output("b", softplusFused(b, x));
    const out = compile(b.build()).run({ x: Tensor.from(xs, { dtype: "float64" }) });
    expect(Array.from(out.b!.data)).toEqual(Array.from(out.a!.data));
  });
});
