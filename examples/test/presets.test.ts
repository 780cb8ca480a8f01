/**
 * The data-backed presets with small settings, reading the shared data sets (skipped when they are
 * not there): each must print its tutorial lines, end with the JSON summary, and write the
 * training curves, the confusion matrix and the image grid.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PRESETS } from "@gradgraph/models";
import { describe, expect, test } from "vitest";
import { PRESET_DEFAULTS } from "../src/preset-defaults.js";
import { checkChart, DATA_DIR, lastJson, marks, readJson, runCli, tempOut } from "./helpers.js";

const haveMnist = existsSync(join(DATA_DIR, "mnist"));
const haveDigits = existsSync(join(DATA_DIR, "sklearn-digits"));

/** Checks the files every classifier preset writes; `series` is the number of lines per panel. */
function checkClassifierFiles(out: string, series: number): void {
  const history = checkChart(out, "history");
  expect(marks(history, "line mark")).toBe(2 * series); // loss and accuracy panels
  const cm = checkChart(out, "confusion-matrix");
  expect(marks(cm, "rect mark")).toBe(100);
  const grid = checkChart(out, "predictions");
  const labels = marks(grid, "text mark");
  expect(labels).toBeGreaterThanOrEqual(32);
  expect(labels).toBeLessThanOrEqual(48);
  expect(grid).toMatch(/mistakes in red: \d+ of \d+ shown/);
  expect(readFileSync(join(out, "model.ggm")).subarray(0, 7).toString("latin1")).toBe("GGMODEL");
  readJson(join(out, "history.json"));
  readJson(join(out, "metrics.json"));
}

describe("the presets' defaults the CLI shows", () => {
  test("every value copied in preset-defaults.ts equals the preset's own default", () => {
    for (const [name, copied] of Object.entries(PRESET_DEFAULTS)) {
      const own = PRESETS[name as keyof typeof PRESETS].defaults as Record<string, unknown>;
      for (const [key, value] of Object.entries(copied))
        expect([name, key, value]).toEqual([name, key, own[key]]);
    }
  });
});

describe.runIf(haveDigits)("pnpm example digits", () => {
  test("5 epochs of per-sample SGD: report, curves, confusion matrix, digit grid", async () => {
    const out = tempOut("digits");
    const r = await runCli(["digits", "--epochs", "5", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("[INFO] NeuralNetwork: 64-32-16-10");
    for (let e = 1; e <= 5; e++) expect(r.stdout).toMatch(new RegExp(`\\[INFO\\] epoch=${e}, loss=[\\d.]+`));
    expect(r.stdout).toMatch(/precision\s+recall\s+f1-score\s+support/);
    const j = lastJson(r.stdout);
    expect(j.hyper).toMatchObject({ preset: "digits-sigmoid", epochs: 5, batchSize: 1, lr: 0.1 });
    expect(typeof (j.metrics as { testAccuracy: number }).testAccuracy).toBe("number");
    checkClassifierFiles(out, 2);
    // the chart plots the mean loss per digit of each set (history.json keeps the sums over the
    // 1,347 training and 450 test digits): both start near 0.45, on one scale
    const svg = readFileSync(join(out, "history.svg"), "utf8");
    expect(svg).toContain("loss (mean per sample)");
    const h = readJson(join(out, "history.json")) as { loss: number[]; valLoss: number[] };
    expect(h.loss[0]! / 1347).toBeLessThan(1);
    expect(h.loss[0]!).toBeGreaterThan(100); // the sum, as the tutorial prints it
    const yLabels = svg
      .split('aria-label="Y-axis')[1]!
      .split('role-axis-label" pointer-events="none">')[1]!
      .split("</g>")[0]!;
    const top = Math.max(...[...yLabels.matchAll(/>([\d.]+)<\/text>/g)].map((m) => Number(m[1])));
    expect(top).toBeLessThanOrEqual(1); // was 600: the summed training loss
  });
});

describe.runIf(haveMnist)("MNIST presets", () => {
  test("nielsen: one epoch on 3,000 images prints 'Epoch 1 : n / 10000' (epochs from 1, as bars and plots)", async () => {
    const out = tempOut("nielsen");
    const r = await runCli(["nielsen", "--epochs", "1", "--train-size", "3000", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Epoch 1 : \d+ \/ 10000$/m);
    expect(r.stdout).not.toMatch(/Epoch 0 /);
    const j = lastJson(r.stdout);
    expect((j.metrics as { bestEpoch: number }).bestEpoch).toBe(1);
    expect(j.preset).toBe("nielsen-mnist");
    expect(j.hyper).toMatchObject({
      preset: "nielsen-mnist",
      epochs: 1,
      trainSize: 3000,
      batchSize: 10,
      lr: 3,
    });
    expect((j.metrics as { testAccuracy: number }).testAccuracy).toBeGreaterThan(0.3);
    checkClassifierFiles(out, 2);
  });

  test("relu-softmax: one epoch on 3,000 images", async () => {
    const out = tempOut("relu");
    const r = await runCli(["relu-softmax", "--epochs", "1", "--train-size", "3000", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/initial validation accuracy: [\d.]+/);
    expect(r.stdout).toMatch(/epoch 1\/1: train loss [\d.]+/);
    expect(r.stdout).toMatch(/test accuracy: [\d.]+/);
    const j = lastJson(r.stdout);
    expect(j.hyper).toMatchObject({ preset: "relu-softmax-mnist", epochs: 1, hidden: 90, trainSize: 3000 });
    // 3,000 training images decoded instead of 50,000 (plus 10,000 validation and 10,000 test)
    expect(j.peakRssMiB).toBeGreaterThan(50);
    expect(j.peakRssMiB).toBeLessThan(400);
    checkClassifierFiles(out, 2);
  });

  test("ng-ex4: gradient check, then 3 conjugate-gradient iterations", async () => {
    const out = tempOut("ng");
    const r = await runCli(["ng-ex4", "--epochs", "3", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Relative Difference: \d\.\d+e-1\d/);
    expect(r.stdout).toMatch(/Iteration +3 \| Cost: \d\.\d{6}e\+00/);
    expect(r.stdout).toMatch(/Training Set Accuracy: [\d.]+/);
    const j = lastJson(r.stdout);
    expect(j.hyper).toMatchObject({ preset: "ng-ex4", maxIter: 3, lambda: 1 });
    checkClassifierFiles(out, 1);
    // the mistakes shown come from every class (round-robin), not the first 16 in index order,
    // which in this class-sorted set were all 0s and 1s
    const grid = readFileSync(join(out, "predictions.svg"), "utf8");
    const trueClasses = new Set([...grid.matchAll(/\(true (\d)\)/g)].map((m) => m[1]));
    expect(trueClasses.size).toBeGreaterThanOrEqual(8);
  });
});
