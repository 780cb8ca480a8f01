/**
 * The three teaching examples: `scalar` (micrograd's numbers, the graphs as text and DOT),
 * `custom` (an architecture defined in code, trained, saved, loaded, same predictions) and
 * `gradcheck` (a wrong derivative caught and shrunk; scatter and worst-entries table).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { checkChart, count, lastJson, marks, readJson, runCli, tempOut } from "./helpers.js";

describe("pnpm example scalar", () => {
  test("micrograd's values, the graphs as text and DOT", async () => {
    const out = tempOut("scalar");
    const r = await runCli(["scalar", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("g     = 24.7041");
    expect(r.stdout).toContain("dg/da = 138.8338");
    expect(r.stdout).toContain("dg/db = 645.5773");
    expect(r.stdout).toMatch(/gradcheck against central differences: ok/);
    expect(r.stdout).toMatch(/%0 = input "a" : f64\[\]/);
    expect(r.stdout).toMatch(/outputs: g=%\d+, grad:a=%\d+, grad:b=%\d+/);
    const j = lastJson(r.stdout);
    expect((j.metrics as { g: number }).g).toBeCloseTo(24.7041, 4);
    const dot = readFileSync(join(out, "graph.dot"), "utf8");
    expect(dot.startsWith('digraph "micrograd example" {')).toBe(true);
    expect(dot.trimEnd().endsWith("}")).toBe(true);
    expect(count(dot, "->")).toBeGreaterThan(30);
    const gradDot = readFileSync(join(out, "grad-graph.dot"), "utf8");
    expect(gradDot).toContain('out_grad_a [label="grad:a"');
    expect(readFileSync(join(out, "grad-graph.txt"), "utf8")).toContain("grad:b=%");
  });

  test("--a and --b change the inputs", async () => {
    const out = tempOut("scalar2");
    const r = await runCli(["scalar", "--a", "1", "--b", "-3", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).hyper).toEqual({ a: 1, b: -3 });
    expect(r.stdout).not.toContain("micrograd prints");
  });
});

describe("pnpm example custom", () => {
  test("defines, trains, saves, loads and predicts identically", async () => {
    const out = tempOut("custom");
    const r = await runCli(["custom", "--epochs", "15", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Architecture 2-16-16-2, \d+ parameters/);
    expect(r.stdout).toContain("skip/W");
    expect(r.stdout).toMatch(/Epoch 15: loss [\d.]+, accuracy [\d.]+, val_loss [\d.]+, val_accuracy [\d.]+/);
    expect(r.stdout).toContain("Saved model.ggm and loaded it back: predictions identical");
    const j = lastJson(r.stdout);
    expect(j.metrics).toMatchObject({ reloadIdentical: true, epochsCompleted: 15 });
    expect((j.metrics as { testAccuracy: number }).testAccuracy).toBeGreaterThan(0.8);
    expect(readFileSync(join(out, "model.ggm")).subarray(0, 7).toString("latin1")).toBe("GGMODEL");
    const svg = checkChart(out, "decision-boundary");
    expect(marks(svg, "circle")).toBe(600);
    const hist = checkChart(out, "history");
    expect(marks(hist, "line mark")).toBe(4); // loss and accuracy, train and validation
    const h = readJson(join(out, "history.json"));
    expect((h.valLoss as number[]).length).toBe(15);
  });
});

describe("pnpm example gradcheck", () => {
  test("the correct derivative passes, the buggy one is caught and shrunk", async () => {
    const out = tempOut("gradcheck");
    const r = await runCli(["gradcheck", "--runs", "40", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/correct derivative s\*\(1 \+ x\*\(1 - s\)\): passed 40 runs/);
    expect(r.stdout).toMatch(/a unit test at x = 0 and 0\.001 passes/);
    expect(r.stdout).toMatch(/the property FAILED after \d+ run/);
    expect(r.stdout).toMatch(/shrunk \(\d+ steps\) to: shape \[1\], values \[-?0\.00\d+\]/);
    const m = lastJson(r.stdout).metrics as Record<string, unknown>;
    expect(m).toMatchObject({ correctPassed: true, buggyCaught: true });
    const ce = m.counterexample as { shape: number[]; values: number[] };
    expect(ce.shape).toEqual([1]);
    expect(Math.abs(ce.values[0]!)).toBeLessThan(0.01);
    expect(m.networkMaxRelErrorCorrect as number).toBeLessThan(1e-6);
    expect(m.networkMaxRelErrorBuggy as number).toBeGreaterThan(1e-2);

    const svg = checkChart(out, "gradcheck");
    // 24 gradient entries (W1 3x4, b1 4, W2 4x2), once per derivative; the table: 8 rows x 6 columns
    expect(marks(svg, "point")).toBe(48);
    expect(marks(svg, "text mark")).toBe(48);
    expect(svg).toContain("Worst entries, buggy derivative");
    expect(svg).toContain("FAIL");
    const d = checkChart(out, "derivative");
    expect(marks(d, "line mark")).toBe(3);
    const metrics = readJson(join(out, "metrics.json"));
    expect((metrics.metrics as { worst: unknown[] }).worst.length).toBe(8);
  });
});
