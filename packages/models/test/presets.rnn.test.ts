/**
 * The `"rnn-mnist"` preset on a small subset of MNIST (a few hundred training images, a small
 * hidden state, one or two epochs): the graph's shapes for both cells, hyperparameter checks,
 * learning above chance, the same bits for the same seed, the row-by-row probabilities, and the
 * preset table and data loading. The full default run (about 98.7% test accuracy) is too long for a
 * test: examples/README.md gives its command and measured figures.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tensor } from "@gradgraph/core";
import { disableThreads, enableThreads } from "@gradgraph/core/node";
import type { LabeledData } from "@gradgraph/datasets";
import { loadMnist } from "@gradgraph/datasets/node";
import { beforeAll, describe, expect, it } from "vitest";
import {
  getPreset,
  isPresetName,
  Model,
  PRESET_NAMES,
  RNN_CELLS,
  RNN_SCHEDULES,
  type RnnCell,
  type RnnData,
  rnnMnist,
  rnnRowProbabilities,
} from "../src/index.js";
import { loadPresetData } from "../src/node.js";
import { expectSameBits } from "./helpers/sameBits.js";

const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(REPO_ROOT, "../shared/datasets");

/** The first `n` rows of a data set (views). */
function head(set: LabeledData, n: number): LabeledData {
  return { x: new Tensor([n, 784], set.x.data.subarray(0, n * 784)), y: set.y.subarray(0, n) };
}

const empty = { x: Tensor.zeros([0, 784]), y: new Uint8Array(0) };
const noData: RnnData = { train: empty, validation: empty, test: empty };

describe("rnn-mnist: the preset", () => {
  it("is in the preset table, with its cells and schedules", () => {
    expect(isPresetName("rnn-mnist")).toBe(true);
    expect(PRESET_NAMES).toContain("rnn-mnist");
    expect(getPreset("rnn-mnist")).toBe(rnnMnist);
    expect([...RNN_CELLS]).toEqual(["gru", "lstm"]);
    expect([...RNN_SCHEDULES]).toEqual(["cosine", "constant"]);
    expect(rnnMnist.defaults.cell).toBe(RNN_CELLS[0]);
    expect(Object.keys(rnnMnist.parameterDocs).sort()).toEqual(Object.keys(rnnMnist.defaults).sort());
  });

  it.each([
    ["gru", 3],
    ["lstm", 4],
  ] as const)(
    "%s: params [28, G·u], [u, G·u], [G·u] and a dense head; predictions [n, 10]",
    (cell, gates) => {
      const m = rnnMnist.build({ cell, hidden: 16 });
      expect(m.params.get("rnn/Wx").shape).toEqual([28, gates * 16]);
      expect(m.params.get("rnn/Wh").shape).toEqual([16, gates * 16]);
      expect(m.params.get("rnn/b").shape).toEqual([gates * 16]);
      expect(m.params.get("out/W").shape).toEqual([16, 10]);
      expect(m.params.get("out/b").shape).toEqual([10]);
      expect(m.parameterCount).toBe(28 * gates * 16 + 16 * gates * 16 + gates * 16 + 16 * 10 + 10);
      const x = new Tensor(
        [3, 784],
        Float32Array.from({ length: 3 * 784 }, (_, i) => (i % 29) / 28),
      );
      const p = m.predict(x);
      expect(p.shape).toEqual([3, 10]);
      for (let r = 0; r < 3; r++) {
        let s = 0;
        for (let c = 0; c < 10; c++) s += p.data[r * 10 + c]!;
        expect(s).toBeCloseTo(1, 5);
      }
      // the rows are the sequence: changing only the last row changes the prediction
      const x2 = x.clone();
      x2.data.fill(0, 27 * 28, 28 * 28);
      expect(Array.from(m.predict(x2).data.subarray(0, 10))).not.toEqual(Array.from(p.data.subarray(0, 10)));
    },
  );

  it("refuses unknown or invalid hyperparameters, naming them", async () => {
    await expect(rnnMnist.run(noData, { cell: "rnn" as RnnCell })).rejects.toThrow(
      /cell must be one of gru, lstm, got 'rnn'/,
    );
    await expect(rnnMnist.run(noData, { schedule: "step" as never })).rejects.toThrow(
      /schedule must be one of cosine, constant/,
    );
    await expect(rnnMnist.run(noData, { hidden: 0 })).rejects.toThrow(
      /hidden must be an integer >= 1, got 0/,
    );
    await expect(rnnMnist.run(noData, { clipNorm: -1 })).rejects.toThrow(
      /clipNorm must be a finite number >= 0/,
    );
    await expect(rnnMnist.run(noData, { lr: 0 })).rejects.toThrow(/lr must be a finite number > 0/);
    await expect(rnnMnist.run(noData, { units: 3 } as never)).rejects.toThrow(
      /unknown hyperparameter 'units'/,
    );
  });

  it("rnnRowProbabilities refuses a model that is not an rnn-mnist network", () => {
    const model = Model.define((b) => {
      const x = b.input("x", ["N", 784]);
      const y = b.input("y", ["N", 10]);
      const p = b.softmax(b.matmul(x, b.param("W", [784, 10])));
      return { input: x, target: y, predictions: p, loss: b.sum(b.square(b.sub(p, y))) };
    });
    expect(() => rnnRowProbabilities(model, Tensor.zeros([1, 784]))).toThrow(/no param 'rnn\/Wx'/);
  });
});

describe("rnn-mnist on a small subset of MNIST", () => {
  let small: RnnData;
  beforeAll(async () => {
    const d = await loadMnist({ dir: DATA_DIR, split: "train-validation-test", trainSize: 512 });
    small = { train: d.train, validation: head(d.validation, 200), test: head(d.test, 200) };
  });

  it.each(RNN_CELLS.map((c) => [c]))(
    "%s: learns above chance; the same seed gives the same bits, another seed does not",
    async (cell) => {
      const o = { cell, hidden: 24, epochs: 2, batchSize: 32, lr: 0.01, seed: 5 };
      const lines: string[] = [];
      const a = await rnnMnist.run(small, o, { onLog: (l) => lines.push(l) });
      const b = await rnnMnist.run(small, o);
      const c = await rnnMnist.run(small, { ...o, seed: 6 });
      expect(lines[0]).toMatch(
        new RegExp(
          `^${cell} 24 over 28 rows of 28 pixels: \\d+ params; 2 epochs of 16 batches of 32, Adam lr 0.01 \\(cosine\\), gradients clipped to norm 1$`,
        ),
      );
      expect(lines[1]).toMatch(
        /^epoch 1\/2: loss [\d.]+, accuracy [\d.]+; validation loss [\d.]+, accuracy [\d.]+/,
      );
      expect(lines.at(-1)).toMatch(/^test accuracy: [\d.]+$/);
      expect(a.history.epochs).toBe(2);
      expect(a.history.steps).toBe(32);
      expect(a.stopped).toBe(false);
      expect(a.nonFinite).toBeNull();
      // two short epochs on 512 images: far from converged, well above chance (0.1)
      expect(a.test.accuracy).toBeGreaterThan(0.3);
      expect(a.validationAccuracy).toBeGreaterThan(0.3);
      expect(a.history.loss[1]!).toBeLessThan(a.history.loss[0]!);
      expect(a.test.outputs.shape).toEqual([200, 10]);
      expect(a.test.predicted).toHaveLength(200);
      let correct = 0;
      for (let i = 0; i < 200; i++) if (a.test.predicted[i] === a.test.actual[i]) correct++;
      expect(correct / 200).toBe(a.test.accuracy);
      // same seed, same bits
      expectSameBits(b, a);
      expect(c.history.loss).not.toEqual(a.history.loss);
      expect(Array.from(c.model.params.get("rnn/Wh").data)).not.toEqual(
        Array.from(a.model.params.get("rnn/Wh").data),
      );
      // the answer after each row: the last one is the network's prediction
      const x = head(small.test, 4).x;
      const rows = rnnRowProbabilities(a.model, x);
      expect(rows.shape).toEqual([4, 28, 10]);
      const p = a.model.predict(x);
      for (let i = 0; i < 4; i++) {
        for (let t = 0; t < 28; t++) {
          let s = 0;
          for (let k = 0; k < 10; k++) s += rows.data[(i * 28 + t) * 10 + k]!;
          expect(s).toBeCloseTo(1, 5);
        }
        for (let k = 0; k < 10; k++)
          expect(rows.data[(i * 28 + 27) * 10 + k]!).toBeCloseTo(p.data[i * 10 + k]!, 5);
      }
    },
  );

  it("worker threads sharing every matrix product change no bit", async () => {
    const o = { hidden: 24, epochs: 1, batchSize: 64, seed: 2 };
    const one = await rnnMnist.run(small, o);
    // minWork 1: every product is split across the calling thread and the worker
    expect(enableThreads(1, { minWork: 1 })).toBe(1);
    try {
      const two = await rnnMnist.run(small, o);
      expectSameBits(two, one);
    } finally {
      disableThreads();
    }
  });

  it("stops after the current batch and rolls the stopped epoch back", async () => {
    const signal = { stopped: false };
    const r = await rnnMnist.run(
      small,
      { hidden: 8, epochs: 3, batchSize: 64, seed: 1 },
      {
        signal,
        onBatchEnd: (p) => {
          if (p.epoch === 1 && p.batch === 2) signal.stopped = true;
        },
      },
    );
    expect(r.stopped).toBe(true);
    expect(r.history.epochs).toBe(1);
    expect(r.history.partialEpoch).toEqual({ epoch: 1, batchesDone: 3, batches: 8, rolledBack: true });
    expect(Number.isFinite(r.test.accuracy)).toBe(true);
  });

  it("loadPresetData gives the 50,000 / 10,000 / 10,000 split", async () => {
    const d = await loadPresetData("rnn-mnist", { dir: DATA_DIR });
    expect(d.train.x.shape).toEqual([50000, 784]);
    expect(d.validation.x.shape).toEqual([10000, 784]);
    expect(d.test.x.shape).toEqual([10000, 784]);
  });
});
