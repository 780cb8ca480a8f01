/**
 * `pnpm example onnx`: the five steps through the CLI (train, export, ONNX Runtime, import and
 * fine-tune, a training step in ONNX Runtime), their printed lines and numbers, and the three ONNX
 * files it writes, each opened again here: the inference files run in ONNX Runtime with the
 * predictions of the same file imported into gradgraph, and the training step's file runs one step.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { evaluate, Tensor } from "@gradgraph/core";
import { importOnnx } from "@gradgraph/onnx";
import { beforeAll, describe, expect, test } from "vitest";
import { findExample } from "../src/registry.js";
import { type CliRun, checkChart, lastJson, marks, readJson, runCli, tempOut } from "./helpers.js";
import { argmaxRows, differences, maxScaledError, openOrt } from "./onnx-helpers.js";

/** A 40 x 30 grid of points over [-2, 3] x [-2.5, 1.5], `[1200, 2]` float32. */
function grid(): Tensor {
  const out = new Float32Array(2 * 1200);
  for (let i = 0; i < 40; i++)
    for (let j = 0; j < 30; j++) {
      out[2 * (i * 30 + j)] = -2 + (5 * i) / 39;
      out[2 * (i * 30 + j) + 1] = -2.5 + (4 * j) / 29;
    }
  return new Tensor([1200, 2], out);
}

describe("pnpm example onnx", () => {
  const out = tempOut("onnx-example");
  let run: CliRun;
  beforeAll(async () => {
    run = await runCli(["onnx", "--epochs", "30", "--json", "--out", out]);
  }, 120_000);

  test("is registered, takes no data and no --onnx", () => {
    const def = findExample("onnx")!;
    expect(def.options).toEqual(["epochs", "lr", "seed", "timeLimit"]);
    expect(def.data).toBeUndefined();
    expect(def.preset).toBeUndefined();
  });

  test("prints the five steps and exits 0", () => {
    expect(run.code, run.stderr).toBe(0);
    for (const step of [
      "1. Define a 2-16-16-2 tanh/softmax network in code and train it with fit (Adam) on make_moons",
      "2. Export its inference graph with exportOnnx",
      "3. Run the file in ONNX Runtime",
      "4. Import the file with importOnnx",
      "5. Export a whole training step",
    ])
      expect(run.stdout).toContain(step);
    expect(run.stdout).toMatch(
      /wrote moons-mlp\.onnx \([\d,]+ bytes\): x \[N,2\] -> predictions \[N,2\], opset 18/,
    );
    expect(run.stdout).toContain("150 of 150 test points get the same class");
    expect(run.stdout).toContain(
      "imported: inputs x; outputs predictions; params h1/W, h1/b, h2/W, h2/b, out/W, out/b",
    );
    expect(run.stdout).toMatch(/before fine-tuning: test accuracy [\d.]+%/);
    expect(run.stdout).toMatch(/after fine-tuning: test accuracy [\d.]+% on the new data/);
    expect(run.stdout).toMatch(/one step in ONNX Runtime on 64 points: loss [\d.]+ \(gradgraph [\d.]+/);
    expect(run.stdout).toMatch(/100 full-batch Adam steps in ONNX Runtime alone: loss [\d.]+ -> [\d.]+/);
  });

  test("--json: ONNX Runtime agrees with gradgraph; fine-tuning and training in ONNX Runtime help", () => {
    const j = lastJson(run.stdout);
    expect(j.example).toBe("onnx");
    expect(j.hyper).toMatchObject({ epochs: 30, lr: 0.01, seed: 1, ortSteps: 100 });
    const m = j.metrics as Record<string, number> & { trainingStep: Record<string, number> };
    expect(m.testAccuracy).toBeGreaterThan(0.9);
    expect(m.ortClassMismatches).toBe(0);
    expect(m.ortMaxScaledError).toBeLessThanOrEqual(1e-5);
    expect(m.roundTripMaxScaledError).toBeLessThanOrEqual(1e-6);
    // the rotated moons fool the trained network; fine-tuning the imported one recovers
    expect(m.newDataAccuracyBefore).toBeLessThan(0.7);
    expect(m.newDataAccuracyAfter).toBeGreaterThan(m.newDataAccuracyBefore + 0.2);
    const t = m.trainingStep;
    expect(t.lossError).toBeLessThanOrEqual(1e-5);
    expect(t.gradError).toBeLessThanOrEqual(1e-5);
    expect(t.paramError).toBeLessThanOrEqual(1e-5);
    expect(t.steps).toBe(100);
    expect(t.lastLoss).toBeLessThan(t.firstLoss / 5);
    expect(t.after).toBeGreaterThan(t.before + 0.2);
    expect(j.files).toEqual(
      expect.arrayContaining([
        "moons-mlp.onnx",
        "finetuned.onnx",
        "train-step.onnx",
        "decision-boundary.svg",
        "history.svg",
        "history.json",
        "metrics.json",
      ]),
    );
    expect(readJson(join(out, "metrics.json")).metrics).toEqual(m);
  });

  test("the inference files: ONNX Runtime predicts what the same file imported into gradgraph does", async () => {
    const x = grid();
    for (const file of ["moons-mlp.onnx", "finetuned.onnx"]) {
      const bytes = readFileSync(join(out, file));
      const imported = importOnnx(bytes);
      expect(imported.inputs).toEqual(["x"]);
      expect(imported.outputs).toEqual(["predictions"]);
      const ref = evaluate(imported.graph, { x }, { params: imported.params }).predictions!;
      const session = await openOrt(bytes);
      try {
        const got = (await session.run({ x })).predictions!;
        expect(differences(argmaxRows(got), argmaxRows(ref))).toEqual([]);
        expect(maxScaledError(got, ref)).toBeLessThanOrEqual(1e-5);
      } finally {
        await session.release();
      }
    }
  });

  test("the training-step file runs one Adam step in ONNX Runtime from the exported weights", async () => {
    // the step was exported from the imported moons-mlp.onnx (before fine-tuning): feed its weights
    const inference = readFileSync(join(out, "moons-mlp.onnx"));
    const { params } = importOnnx(inference);
    const names = ["h1/W", "h1/b", "h2/W", "h2/b", "out/W", "out/b"];
    const x = new Tensor([64, 2], grid().data.slice(0, 128));
    const y = new Tensor(
      [64, 2],
      Float32Array.from({ length: 128 }, (_, i) => Number(x.data[i - (i % 2)]! > 0.5 === (i % 2 === 1))),
    );
    const feeds: Record<string, Tensor> = {
      x,
      y,
      "optimizer:lr": new Tensor([], Float32Array.of(0.01)),
      "optimizer:step": new Tensor([], Float32Array.of(0)),
    };
    for (const p of names) {
      const shape = params.get(p).shape;
      feeds[p] = params.get(p);
      feeds[`adam.m:${p}`] = Tensor.zeros(shape);
      feeds[`adam.v:${p}`] = Tensor.zeros(shape);
    }
    const step = await openOrt(readFileSync(join(out, "train-step.onnx")));
    const inferenceSession = await openOrt(inference);
    try {
      expect([...step.inputs].sort()).toEqual(Object.keys(feeds).sort());
      const got = await step.run(feeds);
      // the loss: the cross-entropy of the inference file's probabilities
      const probs = (await inferenceSession.run({ x })).predictions!;
      let loss = 0;
      for (let i = 0; i < 128; i++) loss -= (y.data[i]! * Math.log(probs.data[i]!)) / 64;
      expect(maxScaledError(got.loss!, new Tensor([], Float32Array.of(loss)))).toBeLessThanOrEqual(1e-5);
      // Adam's first step from zero moments: m = 0.1 g, and each weight moves by lr · g / (|g| + eps)
      expect(got["next:optimizer:step"]!.data[0]).toBe(1);
      for (const p of names) {
        const g = got[`grad:${p}`]!;
        const w = params.get(p);
        expect(g.shape).toEqual(w.shape);
        expect(g.data.some((v) => v !== 0)).toBe(true);
        const m = got[`next:adam.m:${p}`]!;
        const next = got[`next:${p}`]!;
        for (let i = 0; i < g.size; i++) {
          const gi = g.data[i]!;
          expect(Math.abs(m.data[i]! - 0.1 * gi)).toBeLessThanOrEqual(1e-6 * Math.abs(gi) + 1e-12);
          const moved = w.data[i]! - (0.01 * gi) / (Math.abs(gi) + 1e-8);
          expect(Math.abs(next.data[i]! - moved)).toBeLessThanOrEqual(1e-6);
        }
      }
    } finally {
      await step.release();
      await inferenceSession.release();
    }
  });

  test("charts: the three stages' decision boundaries and the two runs' curves", () => {
    const boundary = checkChart(out, "decision-boundary");
    expect(boundary).toContain("trained in gradgraph");
    expect(boundary).toContain("imported, on the new data");
    expect(boundary).toContain("fine-tuned with fit");
    expect(marks(boundary, "circle")).toBe(3 * 600);
    const history = checkChart(out, "history");
    expect(marks(history, "line mark")).toBe(8); // loss and accuracy, train and validation, two runs
  });
});
