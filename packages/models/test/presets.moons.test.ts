import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  decisionGrid,
  getPreset,
  isPresetName,
  logisticRegressionCV,
  moons,
  moonsData,
  PRESET_NAMES,
  PRESETS,
  predictGrid,
  stratifiedFolds,
} from "../src/index.js";

describe("moons preset (2-H-2 tanh/softmax, full-batch gradient descent)", () => {
  it("reproduces the tutorial's H=3 run: printed losses, final loss and accuracy", async () => {
    const lines: string[] = [];
    const r = await moons.run(undefined, { hiddenSizes: [] }, { onLog: (l) => lines.push(l) });
    // the tutorial's own first prints (numpy data and weights, float64)
    expect(lines).toContain("Loss after iteration 0: 0.432387");
    expect(lines).toContain("Loss after iteration 1000: 0.068947");
    expect(r.main.hidden).toBe(3);
    expect(r.main.history.epochs).toBe(20000);
    // loss in the tutorial's form: (sum of cross-entropy + reg/2 * sum W^2) / N
    expect(r.main.loss).toBeLessThanOrEqual(0.1);
    expect(r.main.loss.toFixed(6)).toBe("0.071316");
    expect(r.main.accuracy).toBeGreaterThanOrEqual(0.96);
    expect(r.sweep).toEqual([]);
    // the baseline: a straight line cannot follow the moons
    expect(r.baseline).not.toBeNull();
    expect(r.baseline!.accuracy).toBeGreaterThan(0.8);
    expect(r.baseline!.accuracy).toBeLessThan(0.9);
    expect(r.baseline!.Cs).toHaveLength(10);
    expect(r.baseline!.cvScores).toHaveLength(10);
    expect(r.stopped).toBe(false);
    expect(r.data.x.shape).toEqual([200, 2]);
    // the decision grid of the tutorial's plot (step 0.01, padding 0.5)
    const g = r.grid;
    expect(g.points.shape).toEqual([g.xs.length * g.ys.length, 2]);
    expect(g.xs[1]! - g.xs[0]!).toBeCloseTo(0.01, 12);
    const z = predictGrid(r.main.predict, g);
    expect(z.length).toBe(g.xs.length * g.ys.length);
    expect(z.some((v) => v === 0) && z.some((v) => v === 1)).toBe(true);
    // predict agrees with the training accuracy
    const p = r.main.predict(r.data.x);
    let hits = 0;
    for (let i = 0; i < 200; i++) if (p[i] === r.data.y[i]) hits++;
    expect(hits / 200).toBe(r.main.accuracy);
  });

  it("sweeps hidden sizes, reusing the main model when its size is listed", async () => {
    const r = await moons.run(
      undefined,
      { hiddenSizes: [1, 3, 20], hidden: 3, passes: 3000, baseline: false },
      {},
    );
    expect(r.sweep.map((m) => m.hidden)).toEqual([1, 3, 20]);
    expect(r.sweep[1]).toBe(r.main);
    expect(r.baseline).toBeNull();
    // one hidden unit draws a single (bent) line; more units fit the moons
    expect(r.sweep[0]!.accuracy).toBeLessThan(r.sweep[2]!.accuracy);
    expect(r.sweep[2]!.accuracy).toBeGreaterThan(0.95);
    for (const m of r.sweep) expect(m.history.epochs).toBe(3000);
  });

  it("stops at a non-finite loss (lr 1e308) and keeps the weights before the step that broke them", async () => {
    const r = await moons.run(undefined, { hiddenSizes: [3, 5], passes: 50, lr: 1e308, baseline: false });
    expect(r.stopped).toBe(true);
    expect(r.nonFinite).not.toBeNull();
    expect(r.nonFinite!.message).toMatch(/non-finite/);
    // the sweep stops with the main model
    expect(r.sweep).toEqual([]);
    expect(r.main.history.epochs).toBe(r.nonFinite!.epochsKept);
    expect(Number.isFinite(r.main.loss)).toBe(true);
    for (const name of r.main.model.params.names())
      expect(r.main.model.params.get(name).data.every((v) => Number.isFinite(v))).toBe(true);
    expect(r.main.history.loss.every((v) => Number.isFinite(v))).toBe(true);
  });

  it("stops after the current pass when the signal is raised, keeping the partial history", async () => {
    const signal = { stopped: false };
    const r = await moons.run(
      undefined,
      { baseline: false },
      {
        signal,
        onEpochEnd: (epoch) => {
          if (epoch === 99) signal.stopped = true;
        },
      },
    );
    expect(r.stopped).toBe(true);
    expect(r.main.history.epochs).toBe(100);
    expect(r.main.history.stoppedEarly).toBe(true);
    expect(r.sweep).toEqual([]);
  });

  it("builds the tutorial's initial weights from numpy's stream", () => {
    const m = moons.build({ hidden: 3 });
    expect(m.params.get("layer1/W").shape).toEqual([2, 3]);
    expect(m.params.get("layer2/W").shape).toEqual([3, 2]);
    // np.random.seed(0); np.random.randn(2, 3)[0, 0] / sqrt(2) = 1.76405235 / sqrt(2)
    expect(m.params.get("layer1/W").data[0]).toBeCloseTo(1.764052345967664 / Math.SQRT2, 12);
    expect(Array.from(m.params.get("layer1/b").data)).toEqual([0, 0, 0]);
  });

  it("logistic regression baseline and stratified folds", () => {
    const folds = stratifiedFolds([0, 1, 0, 1, 0, 1, 0], 3);
    // class 0 (rows 0, 2, 4, 6) in chunks of 2, 1, 1; class 1 (rows 1, 3, 5) in chunks of 1
    expect(Array.from(folds)).toEqual([0, 0, 0, 1, 1, 2, 2]);
    const d = moonsData();
    const lr = logisticRegressionCV(d, { Cs: [1], folds: 2 });
    expect(lr.C).toBe(1);
    expect(lr.accuracy).toBeGreaterThan(0.8);
    // the decision function is linear: its sign matches predict
    const p = lr.predict(d.x);
    for (let i = 0; i < 200; i++) {
      const z = lr.coef[0] * d.x.data[2 * i]! + lr.coef[1] * d.x.data[2 * i + 1]! + lr.intercept;
      expect(p[i]).toBe(z > 0 ? 1 : 0);
    }
    const g = decisionGrid(d.x, { step: 0.5 });
    expect(g.points.shape[0]).toBe(g.xs.length * g.ys.length);
  });

  it("rejects unknown or ill-typed hyperparameters with their name", async () => {
    await expect(moons.run(undefined, { hiden: 3 } as never)).rejects.toThrow(
      /unknown hyperparameter 'hiden'/,
    );
    await expect(moons.run(undefined, { passes: "10" } as never)).rejects.toThrow(/'passes'/);
    await expect(moons.run(undefined, { lr: -1 })).rejects.toThrow(/lr/);
  });
});

describe("preset registry", () => {
  it("lists the eight presets with credits, defaults and a doc line per hyperparameter", () => {
    expect(PRESET_NAMES).toEqual([
      "digits-sigmoid",
      "moons",
      "nielsen-mnist",
      "ng-ex4",
      "relu-softmax-mnist",
      "lenet-mnist",
      "rnn-mnist",
      "vit-mnist",
    ]);
    const beyondSeeds = ["lenet-mnist", "rnn-mnist", "vit-mnist"];
    for (const name of PRESET_NAMES) {
      const p = getPreset(name);
      expect(p.name).toBe(name);
      expect(PRESETS[name]).toBe(p);
      // the five tutorial presets rebuild one of the seed posts each; lenet, rnn and vit rebuild none
      if (beyondSeeds.includes(name)) expect(p.credit.seedFile).toBeUndefined();
      else expect(p.credit.seedFile).toMatch(/^00[0-4]_[0-9a-f]{16}\.txt$/);
      expect(Object.keys(p.parameterDocs).sort()).toEqual(Object.keys(p.defaults).sort());
      expect(Object.isFrozen(p.defaults)).toBe(true);
    }
    expect(isPresetName("moons")).toBe(true);
    expect(isPresetName("mnist")).toBe(false);
    expect(() => getPreset("nope" as never)).toThrow(/unknown preset 'nope'.*digits-sigmoid/);
  });

  it("keeps the preset modules browser-safe (Node APIs only in presets/node.ts)", () => {
    const dir = fileURLToPath(new URL("../src/presets/", import.meta.url));
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "node.ts");
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files) {
      const src = readFileSync(dir + f, "utf8");
      expect(src, f).not.toMatch(/from "node:|@gradgraph\/datasets\/node|\bprocess\./);
    }
  });
});
