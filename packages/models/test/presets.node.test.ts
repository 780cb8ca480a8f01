import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { evaluateNgPretrained, loadNgPretrainedWeights, loadPresetData, runPreset } from "../src/node.js";

const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(REPO_ROOT, "../shared/datasets");

describe("preset Node glue (@gradgraph/models/node)", () => {
  it("loads each preset's data", async () => {
    expect(await loadPresetData("moons", { dir: DATA_DIR })).toBeUndefined();
    const digits = await loadPresetData("digits-sigmoid", { dir: DATA_DIR });
    expect(digits.x.shape).toEqual([1797, 64]);
    const ex4 = await loadPresetData("ng-ex4", { dir: DATA_DIR });
    expect(ex4.x.shape).toEqual([5000, 400]);
    expect(Math.min(...ex4.y)).toBe(1);
    expect(Math.max(...ex4.y)).toBe(10);
    await expect(loadPresetData("nope" as never)).rejects.toThrow(/unknown preset 'nope'/);
  });

  it("runs a preset on its loaded data", async () => {
    const r = await runPreset(
      "moons",
      { passes: 50, hiddenSizes: [], baseline: false },
      {},
      { dir: DATA_DIR },
    );
    expect(r.main.history.epochs).toBe(50);
    expect(r.hyperparameters.passes).toBe(50);
  });

  it("evaluates the pretrained ex4 weights in float64", async () => {
    const w = await loadNgPretrainedWeights({ dir: DATA_DIR });
    expect(w.theta1.dtype).toBe("float64");
    // the datasets package's checked values: Theta1(1,1) and Theta2(1,1)
    expect(w.theta1.data[0]).toBeCloseTo(-0.0225623899, 10);
    expect(w.theta2.data[0]).toBeCloseTo(-0.76100352, 8);
    const ev = await evaluateNgPretrained({ dir: DATA_DIR });
    expect(ev.costs).toHaveLength(2);
    expect(ev.costs[1]!.cost).toBeGreaterThan(ev.costs[0]!.cost);
    expect(ev.accuracy).toBeGreaterThan(0.9);
  });
});
