import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tensor } from "@gradgraph/core";
import { loadEx4, loadEx4Weights } from "@gradgraph/datasets/node";
import { describe, expect, it } from "vitest";
import { checkGradients, evaluatePretrained, ex4ClassIndices, ngEx4 } from "../src/index.js";

const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(REPO_ROOT, "../shared/datasets");

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Ng's nnCostFunction written out with loops (forward pass only), as an independent reference. */
function referenceCost(
  t1: ArrayLike<number>,
  t2: ArrayLike<number>,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  [nIn, nH, nOut]: [number, number, number],
  lambda: number,
): number {
  const m = y.length;
  let J = 0;
  for (let i = 0; i < m; i++) {
    const a2 = [1];
    for (let j = 0; j < nH; j++) {
      let z = t1[j * (nIn + 1)]!;
      for (let k = 0; k < nIn; k++) z += t1[j * (nIn + 1) + k + 1]! * x[i * nIn + k]!;
      a2.push(sigmoid(z));
    }
    for (let k = 0; k < nOut; k++) {
      let z = 0;
      for (let j = 0; j <= nH; j++) z += t2[k * (nH + 1) + j]! * a2[j]!;
      const h = sigmoid(z);
      const t = y[i] === k + 1 ? 1 : 0;
      J += -t * Math.log(h) - (1 - t) * Math.log(1 - h);
    }
  }
  let reg = 0;
  for (let j = 0; j < nH; j++) for (let k = 1; k <= nIn; k++) reg += t1[j * (nIn + 1) + k]! ** 2;
  for (let j = 0; j < nOut; j++) for (let k = 1; k <= nH; k++) reg += t2[j * (nH + 1) + k]! ** 2;
  return J / m + (lambda / (2 * m)) * reg;
}

describe("ng-ex4 preset (400-25-10, regularised cross-entropy)", () => {
  it("passes the course's gradient check on the 3-5-3 debug network (relative difference < 1e-9)", () => {
    for (const lambda of [0, 3]) {
      const c = checkGradients({ lambda });
      expect(c.relativeDifference).toBeLessThan(1e-9);
      expect(c.report.ok).toBe(true);
      expect(c.report.checked).toBe(5 * 4 + 3 * 6);
      expect(c.numeric).toHaveLength(38);
    }
    // the first rows of the course's printout (Theta1(:) then Theta2(:), column-major)
    const c = checkGradients({ lambda: 0 });
    expect(c.lines.slice(0, 6).map((l) => l.trim().split(/ +/)[0])).toEqual([
      "-9.2783e-03",
      "8.8991e-03",
      "-8.3601e-03",
      "7.6281e-03",
      "-6.7480e-03",
      "-3.0498e-06",
    ]);
    expect(c.lines[20]!.trim().split(/ +/)).toEqual(["3.1454e-01", "3.1454e-01"]);
    expect(c.lines.at(-1)).toMatch(/Relative Difference: \d\.\d+e-1\d/);
  });

  it("computes Ng's cost exactly as the course's formula", () => {
    const layers: [number, number, number] = [4, 3, 3];
    const m = ngEx4.build({ layers, dtype: "float64", seed: 3 });
    const x = Float64Array.from({ length: 6 * 4 }, (_, i) => Math.sin(i * 1.3) * 2);
    const y = Uint8Array.from([1, 2, 3, 3, 2, 1]);
    const t1 = m.params.get("Theta1").data;
    const t2 = m.params.get("Theta2").data;
    expect(m.params.get("Theta1").shape).toEqual([3, 5]);
    expect(m.params.get("Theta2").shape).toEqual([3, 4]);
    const xt = new Tensor([6, 4], x);
    const got = m.evaluate(xt, ex4ClassIndices(y)).loss;
    expect(got).toBeCloseTo(referenceCost(t1, t2, x, y, layers, 1), 12);
    // glorot-uniform bounds per layer: sqrt(6 / (in + out))
    expect(Math.max(...Array.from(t1, Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 7));
  });

  it("evaluates the course's pretrained weights on the MNIST-derived ex4 data", async () => {
    const [weights, data] = await Promise.all([
      loadEx4Weights({ dir: DATA_DIR }),
      loadEx4({ dir: DATA_DIR }),
    ]);
    expect(weights.theta1.shape).toEqual([25, 401]);
    expect(weights.theta2.shape).toEqual([10, 26]);
    const ev = evaluatePretrained(weights, data);
    expect(ev.costs.map((c) => c.lambda)).toEqual([0, 1]);
    const [c0, c1] = ev.costs.map((c) => c.cost) as [number, number];
    // the substitute data is not the course's: costs near, not equal to, 0.287629 and 0.383770
    expect(c0).toBeGreaterThan(0.2);
    expect(c0).toBeLessThan(0.5);
    // the regularisation term is lambda/(2m) * sum of the squared non-bias weights
    let reg = 0;
    const t1 = weights.theta1.data;
    const t2 = weights.theta2.data;
    for (let i = 0; i < t1.length; i++) if (i % 401 !== 0) reg += t1[i]! ** 2;
    for (let i = 0; i < t2.length; i++) if (i % 26 !== 0) reg += t2[i]! ** 2;
    expect(c1 - c0).toBeCloseTo(reg / (2 * 5000), 6);
    expect(ev.accuracy).toBeGreaterThan(0.9);
    expect(ev.predictions.predicted.every((p) => p >= 1 && p <= 10)).toBe(true);
    expect(ev.lines[0]).toMatch(/^Cost at parameters \(loaded from ex4weights, lambda = 0\): 0\.\d{6}$/);
  });

  it("trains to >= 95% training accuracy in 50 conjugate-gradient iterations", async () => {
    const data = await loadEx4({ dir: DATA_DIR });
    const lines: string[] = [];
    const r = await ngEx4.run(data, {}, { onLog: (l) => lines.push(l) });
    expect(r.trainAccuracy).toBeGreaterThanOrEqual(0.95);
    expect(r.history.epochs).toBe(50);
    expect(r.history.metrics.accuracy).toHaveLength(50);
    expect(r.theta1.shape).toEqual([25, 401]);
    expect(r.theta2.shape).toEqual([10, 26]);
    expect(lines[1]).toMatch(/^Iteration {5}1 \| Cost: \d\.\d{6}e\+00$/);
    expect(lines.at(-1)).toMatch(/^Training Set Accuracy: 9\d\.\d$/);
    expect(r.predictions.predicted.every((p) => p >= 1 && p <= 10)).toBe(true);
    expect(r.cost).toBeLessThan(r.history.loss[0]!);
  });
});
