import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadDigits } from "@gradgraph/datasets/node";
import { describe, expect, it } from "vitest";
import { digitsSigmoid, prepareDigits } from "../src/index.js";

const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(REPO_ROOT, "../shared/datasets");

describe("digits-sigmoid preset (64-32-16-10, per-sample SGD)", () => {
  it("prepares the data the tutorial's way: whole-array min-max scaling, 75/25 split", async () => {
    const digits = await loadDigits({ dir: DATA_DIR });
    const s = prepareDigits(digits, 0.25, 0);
    expect(s.xTrain.shape).toEqual([1347, 64]);
    expect(s.xTest.shape).toEqual([450, 64]);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const t of [s.xTrain, s.xTest]) {
      for (const v of t.data) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    expect([lo, hi]).toEqual([0, 1]);
    // one scale for the whole array: 16 -> 1, 8 -> 0.5 wherever it occurs
    expect(Array.from(s.xTrain.data).every((v) => Number.isInteger(v * 16))).toBe(true);
  });

  it("builds the bias-trick shapes: (n_in+1) x (n_out+1) hidden weights, (n+1) x 10 last", () => {
    const m = digitsSigmoid.build();
    expect(Object.keys(m.graph.params)).toHaveLength(3);
    expect(m.params.get("layer1/W").shape).toEqual([65, 33]);
    expect(m.params.get("layer2/W").shape).toEqual([33, 17]);
    expect(m.params.get("layer3/W").shape).toEqual([17, 10]);
    expect(m.lossReduction).toBe("sum");
  });

  it("reaches the tutorial's accuracy in 150 epochs and prints the classification report", async () => {
    const digits = await loadDigits({ dir: DATA_DIR });
    const lines: string[] = [];
    const r = await digitsSigmoid.run(digits, { epochs: 150 }, { onLog: (l) => lines.push(l) });
    expect(r.test.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(r.trainAccuracy).toBeGreaterThan(0.98);
    expect(r.history.epochs).toBe(150);
    expect(r.history.steps).toBe(150 * 1347);
    expect(r.history.valMetrics.accuracy).toHaveLength(150);
    // the loss is printed after epoch 1 and every 100, in the tutorial's form (0.5 * sum over the set)
    expect(lines.filter((l) => l.startsWith("[INFO] epoch="))).toHaveLength(2);
    expect(lines).toContain(`[INFO] epoch=100, loss=${r.history.loss[99]!.toFixed(7)}`);
    expect(r.history.loss[0]!).toBeGreaterThan(r.history.loss[149]! * 10);
    expect(r.report).toMatch(/precision +recall +f1-score +support/);
    expect(r.report).toMatch(/accuracy +\d\.\d\d +450/);
    expect(r.scores.accuracy).toBeCloseTo(r.test.accuracy, 12);
    expect(r.test.predicted).toHaveLength(450);
    expect(r.test.outputs.shape).toEqual([450, 10]);
    expect(r.log).toEqual(lines);
  });
});
