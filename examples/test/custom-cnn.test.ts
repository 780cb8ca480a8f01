/**
 * `pnpm example custom-cnn`: a CNN defined in code (conv layer, a residual block in raw builder
 * ops, batch norm, dropout) on scikit-learn's digits, trained, saved and loaded back.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GraphBuilder } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { digitsCnn } from "../src/examples/custom-cnn.js";
import { checkChart, DATA_DIR, lastJson, marks, readJson, runCli, tempOut } from "./helpers.js";

const haveDigits = existsSync(join(DATA_DIR, "sklearn-digits"));

describe("custom-cnn", () => {
  test("the architecture: 1x8x8 images, a residual block of the same width, 10 outputs", () => {
    const b = new GraphBuilder();
    const net = digitsCnn(b, 4);
    expect(net.firstLayer.shape).toEqual(["N", 4, 8, 8]);
    expect(net.predictions.shape).toEqual(["N", 10]);
    const g = b.build();
    const shapes = Object.fromEntries(Object.entries(g.params).map(([k, p]) => [k, p.shape]));
    expect(shapes).toMatchObject({
      "conv1/W": [4, 1, 3, 3],
      "conv1/b": [4],
      "res/W": [4, 4, 3, 3],
      "res/b": [1, 4, 1, 1],
      "bn/gamma": [64],
      "bn/runningMean": [64],
      "out/W": [64, 10],
    });
  });

  test.runIf(haveDigits)(
    "pnpm example custom-cnn: trains, reloads identically, writes its charts",
    async () => {
      const out = tempOut("custom-cnn");
      const r = await runCli(["custom-cnn", "--epochs", "4", "--hidden", "4", "--json", "--out", out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/bn\/runningMean +\[64\] \(state\)/);
      expect(r.stdout).toMatch(/Epoch 4: loss [\d.]+, accuracy [\d.]+, val_loss [\d.]+, val_accuracy [\d.]+/);
      expect(r.stdout).toContain("predictions identical on 450 test digits");
      const j = lastJson(r.stdout);
      expect(j.example).toBe("custom-cnn");
      expect(j.hyper).toMatchObject({ epochs: 4, filters: 4, batchSize: 32, seed: 1 });
      const m = j.metrics as Record<string, number | boolean>;
      expect(m.reloadIdentical).toBe(true);
      expect(m.epochsCompleted).toBe(4);
      // four epochs of this small CNN are well above chance (0.1) on the digits
      expect(m.testAccuracy).toBeGreaterThan(0.6);
      expect(marks(checkChart(out, "history"), "line mark")).toBe(4);
      expect(marks(checkChart(out, "confusion-matrix"), "rect mark")).toBe(100);
      expect(marks(checkChart(out, "filters"), "text mark")).toBe(4);
      expect(marks(checkChart(out, "feature-maps"), "text mark")).toBe(5);
      expect(readJson(join(out, "history.json")).epochs).toBe(4);
      expect(existsSync(join(out, "model.ggm"))).toBe(true);
    },
  );

  test("--hidden is the filter count, at most 256", async () => {
    const r = await runCli(["custom-cnn", "--hidden", "257"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /'--hidden <n>' argument '257' is invalid\. expected a positive integer, at most 256/,
    );
  });
});
