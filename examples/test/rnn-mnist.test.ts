/**
 * `pnpm example rnn` (alias `rnn-mnist`) with small settings (a few hundred training images, a
 * small hidden state, one epoch): its lines, the JSON summary, every chart (curves, confusion
 * matrix, digit grid, the answer after each row) and the saved model; `--cell` and `--hidden`
 * validation. The full default run (about 98.7% test accuracy) is too long for a test:
 * examples/README.md gives its command and measured figures.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadMnist } from "@gradgraph/datasets/node";
import { RNN_CELLS, rnnMnist } from "@gradgraph/models";
import { describe, expect, test } from "vitest";
import { EXIT, main } from "../src/cli.js";
import { findExample, RNN_CELL_NAMES } from "../src/registry.js";
import { checkChart, DATA_DIR, marks, readJson, tempOut } from "./helpers.js";
import { checkMnistRun, recordRuns, runJson, savedModelPrediction } from "./mnist-helpers.js";

const haveMnist = existsSync(join(DATA_DIR, "mnist"));

describe("rnn: options", () => {
  test("the CLI offers the preset's cells and defaults, and answers to rnn-mnist too", async () => {
    expect([...RNN_CELL_NAMES]).toEqual([...RNN_CELLS]);
    const def = findExample("rnn")!;
    expect(def.preset).toBe("rnn-mnist");
    expect(def.data).toBe("mnist");
    const d = rnnMnist.defaults;
    expect(def.defaults).toEqual({
      cell: d.cell,
      hidden: [d.hidden],
      epochs: d.epochs,
      lr: d.lr,
      batchSize: d.batchSize,
      seed: d.seed,
      threads: 0,
    });
    const { io, seen } = recordRuns((name) => name);
    expect(await main(["rnn-mnist"], io)).toBe(EXIT.ok);
    expect(seen).toEqual(["rnn"]);
  });

  test("--cell takes gru or lstm, --hidden 1 to 1024; anything else is a usage error", async () => {
    const { io, seen, err } = recordRuns((_name, options) => ({
      cell: options.cell,
      hidden: options.hidden,
    }));
    expect(await main(["rnn"], io)).toBe(EXIT.ok);
    expect(await main(["rnn", "--cell", "lstm", "--hidden", "64"], io)).toBe(EXIT.ok);
    expect(seen).toEqual([
      { cell: "gru", hidden: [128] },
      { cell: "lstm", hidden: [64] },
    ]);
    expect(await main(["rnn", "--cell", "rnn"], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/--cell <name>.*expected one of gru, lstm, got "rnn"/);
    expect(await main(["rnn", "--hidden", "2048"], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/--hidden <n>.*at most 1024, got "2048"/);
    expect(await main(["rnn", "--threads", "16"], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/--threads <n>.*at most 15, got "16"/);
    expect(seen).toHaveLength(2);
  });
});

describe.runIf(haveMnist)("rnn on MNIST", () => {
  test("pnpm example rnn-mnist: one epoch on 500 images writes every chart, the model and the JSON summary", async () => {
    const out = tempOut("rnn");
    const { r, j } = await runJson(
      [
        "rnn-mnist",
        "--epochs",
        "1",
        "--train-size",
        "500",
        "--hidden",
        "32",
        "--batch-size",
        "32",
        "--lr",
        "0.01",
        "--seed",
        "3",
        "--threads",
        "1",
      ],
      out,
    );
    const m = checkMnistRun(r, j, out, { example: "rnn", preset: "rnn-mnist", params: 6186 });
    expect(r.stdout).toMatch(/gru 32 over 28 rows of 28 pixels: 6186 params; 1 epochs of 16 batches of 32/);
    expect(j.hyper).toEqual({
      preset: "rnn-mnist",
      cell: "gru",
      hidden: 32,
      epochs: 1,
      batchSize: 32,
      lr: 0.01,
      schedule: "cosine",
      clipNorm: 1,
      seed: 3,
      trainSize: 500,
    });
    // one epoch on 500 images is far from converged, but above chance (0.1)
    expect(m.testAccuracy).toBeGreaterThan(0.2);
    expect(m.threads).toBe(1);
    expect(r.stdout).toContain("500 training images, 1 worker thread for the matrix products");
    const rows = checkChart(out, "rows");
    expect(rows).toMatch(
      /after reading rows 1\.\.t of test image 0 \(true 7, predicted \d; settled after \d+ rows\)/,
    );
    expect(marks(rows, "line mark")).toBe(10); // one line per digit
    const metrics = readJson(join(out, "metrics.json"));
    const answers = metrics.rows as {
      testImage: number;
      actual: number;
      predicted: number;
      answers: number[];
    };
    expect(answers).toMatchObject({ testImage: 0, actual: 7 });
    expect(answers.answers).toHaveLength(28);
    expect(answers.answers[27]).toBe(answers.predicted);
    // the saved model, loaded back, predicts for test image 0 the class metrics.json names
    const test = (await loadMnist({ dir: DATA_DIR, split: "train-test", trainSize: 1 })).test;
    const saved = await savedModelPrediction(out, test.x.data.slice(0, 784) as Float32Array);
    expect(saved.predicted).toBe(answers.predicted);
  });
});
