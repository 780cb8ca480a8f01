/**
 * `pnpm example moons`: the main job. Trains every hidden size for a few hundred passes (instead of
 * 20,000) and checks the printed lines, the JSON summary and every file, including the marks of the
 * decision-boundary figure (8 panels: logistic regression + 7 hidden sizes, 200 points each).
 */
import { join } from "node:path";
import { Tensor } from "@gradgraph/core";
import { Model, moons } from "@gradgraph/models";
import { loadModel } from "@gradgraph/models/node";
import { beforeAll, describe, expect, test } from "vitest";
import { type CliRun, checkChart, lastJson, marks, readJson, runCli, tempOut } from "./helpers.js";

const SIZES = [1, 2, 3, 4, 5, 20, 50];

describe("pnpm example moons", () => {
  const out = tempOut("moons");
  let run: CliRun;
  beforeAll(async () => {
    run = await runCli(["moons", "--epochs", "300", "--json", "--out", out]);
  }, 120_000);

  test("prints the tutorial's lines and exits 0", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Logistic regression \(C=[\d.]+\): training accuracy 0\.8\d+/);
    expect(run.stdout).toContain("Build a model with a 3-dimensional hidden layer");
    // the tutorial's first printed loss, reproduced bit for bit through numpy's random stream
    expect(run.stdout).toContain("Loss after iteration 0: 0.432387");
    for (const h of SIZES.filter((h) => h !== 3))
      expect(run.stdout).toMatch(new RegExp(`Hidden layer size ${h}: loss`));
  });

  test("--json: the last line is one object with preset, hyperparameters, metrics and seconds", () => {
    const j = lastJson(run.stdout);
    expect(j.example).toBe("moons");
    expect(j.preset).toBe("moons");
    expect(j.hyper).toMatchObject({ passes: 300, hidden: 3, hiddenSizes: SIZES, lr: 0.01, reg: 0.01 });
    const m = j.metrics as Record<string, unknown>;
    expect(m.hidden).toBe(3);
    expect(m.trainAccuracy).toBeGreaterThan(0.9);
    expect((m.models as unknown[]).length).toBe(7);
    expect(typeof j.seconds).toBe("number");
    expect(j.stoppedEarly).toBeNull();
    expect(j.files).toEqual(
      expect.arrayContaining([
        "decision-boundary.svg",
        "decision-boundary.png",
        "history.svg",
        "history.png",
        "history.json",
        "metrics.json",
      ]),
    );
  });

  test("decision-boundary figure: 8 panels (logistic + each hidden size), data points on top", () => {
    const svg = checkChart(out, "decision-boundary");
    expect(svg).toContain("Logistic Regression");
    for (const h of SIZES) expect(svg).toContain(`Hidden Layer size ${h}`);
    // one region layer per panel, each a few hundred merged cells; 200 points per panel
    expect(svg.match(/class="mark-rect role-mark child_layer_0_marks"/g)).toHaveLength(8);
    expect(marks(svg, "circle")).toBe(8 * 200);
    expect(marks(svg, "rect mark")).toBeGreaterThan(8 * 100);
  });

  test("training curves: loss and accuracy, one line per hidden size", () => {
    const svg = checkChart(out, "history");
    expect(marks(svg, "line mark")).toBe(2 * SIZES.length);
    expect(svg).toContain("loss (log scale)");
  });

  test("history.json and metrics.json", () => {
    const h = readJson(join(out, "history.json"));
    const models = h.models as { hidden: number; passes: number; loss: number[]; accuracy: number[] }[];
    expect(models.map((m) => m.hidden).sort((a, b) => a - b)).toEqual(SIZES);
    for (const m of models) {
      expect(m.passes).toBe(300);
      expect(m.loss.length).toBe(300);
      expect(m.accuracy.length).toBe(300);
    }
    const metrics = readJson(join(out, "metrics.json"));
    expect((metrics.metrics as { baseline: { trainAccuracy: number } }).baseline.trainAccuracy).toBeCloseTo(
      0.85,
      2,
    );
  });

  test("model.ggm holds the trained H=3 network: it loads and classifies the moons", async () => {
    const saved = await loadModel(join(out, "model.ggm"));
    expect(saved.metadata).toMatchObject({ example: "moons", preset: "moons", hidden: 3 });
    const model = new Model(saved.graph, { params: saved.params });
    // a point deep in each moon: the outer one (label 0) and the inner one (label 1)
    const p = model.predict(
      Tensor.from(
        [
          [-0.8, 0.6],
          [1.8, -0.2],
        ],
        { dtype: "float64" },
      ),
    );
    expect(p.get(0, 0)).toBeGreaterThan(0.5);
    expect(p.get(1, 1)).toBeGreaterThan(0.5);
  });

  test("--hidden 3 trains one size: logistic + one panel", async () => {
    const one = tempOut("moons-one");
    const r = await runCli(["moons", "--hidden", "3", "--epochs", "200", "--json", "--out", one]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).hyper).toMatchObject({ hiddenSizes: [3], passes: 200 });
    const svg = checkChart(one, "decision-boundary");
    expect(svg.match(/class="mark-rect role-mark child_layer_0_marks"/g)).toHaveLength(2);
    expect(marks(svg, "circle")).toBe(2 * 200);
  }, 120_000);

  test("--seed seeds the data too: another seed, other moons (and the log line names it)", async () => {
    const seeded = tempOut("moons-seed");
    const r = await runCli([
      "moons",
      "--hidden",
      "3",
      "--epochs",
      "20",
      "--seed",
      "5",
      "--json",
      "--out",
      seeded,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("make_moons(200, noise=0.2, seed 5);");
    expect(lastJson(r.stdout).hyper).toMatchObject({ seed: 5, dataSeed: 5 });
    // other data: other first loss and another baseline than the tutorial's 0.85 on seed 0
    expect(r.stdout).not.toContain("Loss after iteration 0: 0.432387");
    // the data the run used is make_moons with seed 5, not the tutorial's seed 0
    const same = await moons.run(undefined, {
      hiddenSizes: [],
      passes: 1,
      seed: 5,
      dataSeed: 5,
      baseline: false,
    });
    const tutorial = await moons.run(undefined, { hiddenSizes: [], passes: 1, baseline: false });
    expect(same.log).toContain(r.stdout.match(/Loss after iteration 0: [\d.]+/)![0]);
    expect(Array.from(same.data.x.data)).not.toEqual(Array.from(tutorial.data.x.data));
    // the default run (seed 0) keeps the tutorial's data and log line
    expect(run.stdout).toContain("make_moons(200, noise=0.2); 2-H-2");
    expect(lastJson(run.stdout).hyper).toMatchObject({ seed: 0, dataSeed: 0 });
  }, 120_000);

  test("H = 3 falls into a two-point cycle; printed lines match the tutorial's at 0 and 1000 only", async () => {
    // what the moons preset's comment and the README say
    const r = await moons.run(undefined, { hiddenSizes: [], passes: 10_002, baseline: false });
    expect(r.log).toContain("Loss after iteration 0: 0.432387");
    expect(r.log).toContain("Loss after iteration 1000: 0.068947");
    expect(r.log).toContain("Loss after iteration 2000: 0.068968"); // the tutorial: 0.069541
    expect(r.log).toContain("Loss after iteration 3000: 0.070752"); // the tutorial: 0.071218
    expect(r.log).toContain("Loss after iteration 10000: 0.070758"); // the tutorial: 0.071314
    // history.loss[p] is the loss before pass p, i.e. after pass p - 1: the odd passes give the
    // tutorial's printed values (its other phase)
    const loss = r.main.history.loss;
    expect(loss[3002]!.toFixed(6)).toBe("0.071218"); // after pass 3001
    expect(loss[10_001]!.toFixed(6)).toBe("0.070758"); // after pass 10000 (even)
    expect(r.main.loss.toFixed(6)).toBe("0.071314"); // after the last pass, 10001: the tutorial's line 10000
  }, 120_000);
});
