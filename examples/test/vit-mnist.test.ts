/**
 * `pnpm example vit` (alias `vit-mnist`): the registry entry (the preset's defaults and poolings),
 * `--arch` validation, the attention chart, and one epoch on 500 images through the CLI: its lines,
 * the JSON summary, every chart and the saved model. The full default run is too long for a test:
 * examples/README.md gives its command and measured figures.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadMnist } from "@gradgraph/datasets/node";
import { VIT_ATTENTION_OUTPUT, VIT_POOLS, vitMnist } from "@gradgraph/models";
import { describe, expect, test } from "vitest";
import { EXIT, main } from "../src/cli.js";
import { attentionChart } from "../src/plots.js";
import { findExample, VIT_POOL_NAMES } from "../src/registry.js";
import { checkChart, DATA_DIR, marks, readJson, tempOut } from "./helpers.js";
import { checkMnistRun, recordRuns, runJson, savedModelPrediction } from "./mnist-helpers.js";

const haveMnist = existsSync(join(DATA_DIR, "mnist"));

describe("vit: options", () => {
  test("the CLI offers the preset's poolings and defaults, under both names", () => {
    expect([...VIT_POOL_NAMES]).toEqual([...VIT_POOLS]);
    const def = findExample("vit")!;
    expect(def.preset).toBe("vit-mnist");
    expect(def.data).toBe("mnist");
    expect(def.defaults).toEqual({
      arch: vitMnist.defaults.pool,
      epochs: vitMnist.defaults.epochs,
      lr: vitMnist.defaults.lr,
      batchSize: vitMnist.defaults.batchSize,
      seed: vitMnist.defaults.seed,
    });
  });

  test("--arch takes mean or cls (also as vit-mnist); anything else is a usage error naming the choices", async () => {
    const { io, seen, err } = recordRuns((name, options) => `${name}:${options.arch}`);
    expect(await main(["vit"], io)).toBe(EXIT.ok);
    expect(await main(["vit-mnist", "--arch", "cls"], io)).toBe(EXIT.ok);
    expect(seen).toEqual(["vit:mean", "vit:cls"]);
    expect(await main(["vit", "--arch", "max"], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/--arch <name>.*expected one of mean, cls, got "max"/);
    expect(seen).toHaveLength(2);
  });
});

describe("vit: the attention chart", () => {
  test("the input, one panel per head and their mean, then the same times the ink", () => {
    const image = Array.from({ length: 16 }, (_, i) => (i % 5) / 4);
    // 2 heads over a 2x2 grid of 2x2 patches
    const attention = [0.1, 0.2, 0.3, 0.4, 0.7, 0.1, 0.1, 0.1];
    const spec = attentionChart(image, { width: 4, height: 4 }, attention, [2, 2], {
      title: "t",
    }) as unknown as {
      layer: { data: { values: { text?: string }[] } }[];
    };
    expect(spec.layer[2]!.data.values.map((l) => l.text)).toEqual([
      "input",
      "head 1",
      "head 2",
      "mean of heads",
      "input",
      "head 1 x ink",
      "head 2 x ink",
      "mean of heads x ink",
    ]);
    expect(() => attentionChart(image, { width: 4, height: 4 }, attention, [3, 2])).toThrow(
      /8 values for 3 heads over a 2x2 grid \(12\)/,
    );
    expect(() => attentionChart(image, { width: 4, height: 4 }, attention, [2, 3])).toThrow(/8 values/);
    expect(() =>
      attentionChart(image, { width: 4, height: 4 }, [...attention, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 3]),
    ).toThrow(/a 4x4 image of 16 pixels does not divide into 3x3 patches/);
  });
});

describe.runIf(haveMnist)("vit on MNIST", () => {
  test("pnpm example vit-mnist: one epoch on 500 images writes every chart, the model and the JSON summary", async () => {
    const out = tempOut("vit");
    const { r, j } = await runJson(
      ["vit-mnist", "--epochs", "1", "--train-size", "500", "--batch-size", "50", "--seed", "3"],
      out,
    );
    const m = checkMnistRun(r, j, out, { example: "vit", preset: "vit-mnist", params: 105418 });
    expect(r.stdout).toMatch(
      /ViT: 16 patches of 7x7, width 64, 3 blocks of 4 heads.*; 105418 params; 1 epochs of 10 batches of 50/,
    );
    expect(j.hyper).toEqual({
      preset: "vit-mnist",
      ...vitMnist.defaults,
      epochs: 1,
      batchSize: 50,
      seed: 3,
      trainSize: 500,
    });
    expect(m.testAccuracy).toBeGreaterThanOrEqual(0);
    const attention = checkChart(out, "attention");
    expect(attention).toMatch(/last block's attention, test image 0 \(true 7, predicted \d\)/);
    expect(marks(attention, "text mark")).toBe(12); // input, 4 heads and their mean, twice
    const metrics = readJson(join(out, "metrics.json"));
    const att = metrics.attention as {
      testImage: number;
      actual: number;
      heads: number;
      grid: number;
      patches: number[];
    };
    expect(att).toMatchObject({ testImage: 0, actual: 7, heads: 4, grid: 4 });
    expect(att.patches).toHaveLength(64);
    for (let h = 0; h < 4; h++) {
      const s = att.patches.slice(h * 16, h * 16 + 16).reduce((a, b) => a + b, 0);
      expect(s).toBeCloseTo(1, 2);
    }
    // the saved model, loaded back, predicts for test image 0 the class the attention chart names
    const test0 = (await loadMnist({ dir: DATA_DIR, split: "train-validation-test", trainSize: 1 })).test;
    const saved = await savedModelPrediction(out, test0.x.data.slice(0, 784) as Float32Array);
    expect(saved.outputs).toContain(VIT_ATTENTION_OUTPUT);
    expect(saved.predicted).toBe((metrics.attention as { predicted: number }).predicted);
  }, 300_000);
});
