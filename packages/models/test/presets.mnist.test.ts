import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMnist } from "@gradgraph/datasets/node";
import { beforeAll, describe, expect, it } from "vitest";
import { nielsenMnist, type ReluSoftmaxData, reluSoftmaxMnist } from "../src/index.js";

const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(REPO_ROOT, "../shared/datasets");

let mnist: ReluSoftmaxData;
beforeAll(async () => {
  mnist = await loadMnist({ dir: DATA_DIR, split: "train-validation-test" });
});

describe("nielsen-mnist preset (784-30-10 sigmoid, column convention)", () => {
  it("builds network.py's shapes: W [out, in], b [out, 1], N(0, 1) draws", () => {
    const m = nielsenMnist.build();
    expect(m.convention).toBe("column");
    expect(m.params.get("layer1/W").shape).toEqual([30, 784]);
    expect(m.params.get("layer1/b").shape).toEqual([30, 1]);
    expect(m.params.get("layer2/W").shape).toEqual([10, 30]);
    const w = m.params.get("layer1/W").data;
    let s = 0;
    for (const v of w) s += v * v;
    expect(s / w.length).toBeGreaterThan(0.9);
    expect(s / w.length).toBeLessThan(1.1);
  });

  it("a shortened run (1 epoch on 10,000 images) prints 'Epoch i : correct / 10000'", async () => {
    const lines: string[] = [];
    const epochs: number[] = [];
    const r = await nielsenMnist.run(
      mnist,
      { epochs: 1, trainSize: 10000 },
      { onLog: (l) => lines.push(l), onEpochEnd: (e) => epochs.push(e) },
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Epoch 1 : \d{4} \/ 10000$/); // from 1, as the bars and plots
    expect(r.correct).toHaveLength(1);
    expect(r.bestEpoch).toBe(0);
    expect(r.bestAccuracy).toBeGreaterThan(0.75);
    expect(r.test.accuracy).toBe(r.bestAccuracy);
    expect(r.history.steps).toBe(1000);
    expect(r.history.valMetrics.accuracy).toEqual([r.bestAccuracy]);
    expect(epochs).toEqual([0]);
  });

  it("stops after the current batch and keeps the completed epochs", async () => {
    const signal = { stopped: false };
    const r = await nielsenMnist.run(
      mnist,
      { epochs: 3, trainSize: 2000 },
      {
        signal,
        onBatchEnd: (p) => {
          if (p.epoch === 1 && p.batch === 49) signal.stopped = true;
        },
      },
    );
    expect(r.stopped).toBe(true);
    expect(r.history.epochs).toBe(1);
    expect(r.history.steps).toBe(200 + 50);
    expect(r.correct).toHaveLength(1);
    // the 50 batches of the stopped epoch were rolled back: the model is the one after epoch 1,
    // so its test predictions are those counted at the end of that epoch
    expect(r.history.partialEpoch).toEqual({ epoch: 1, batchesDone: 50, batches: 200, rolledBack: true });
    expect(r.test.accuracy).toBe(r.correct[0]! / r.testCount);
    expect(r.nonFinite).toBeNull();
  });

  it("stops at a non-finite loss and keeps the last finite weights (lr 1e308)", async () => {
    const r = await nielsenMnist.run(mnist, { epochs: 2, trainSize: 1000, lr: 1e308 });
    expect(r.stopped).toBe(true);
    expect(r.nonFinite).not.toBeNull();
    expect(r.nonFinite!.name).toBe("NonFiniteLossError");
    expect(r.history.epochs).toBe(r.nonFinite!.epochsKept);
    for (const name of r.model.params.names())
      expect(r.model.params.get(name).data.every((v) => Number.isFinite(v))).toBe(true);
    expect(Number.isFinite(r.test.accuracy)).toBe(true);
  });
});

describe("relu-softmax-mnist preset (784-90-10, sum of squares through the softmax)", () => {
  it("a shortened run (1 epoch) reaches a sane accuracy and records train/validation curves", async () => {
    const lines: string[] = [];
    const r = await reluSoftmaxMnist.run(mnist, { epochs: 1 }, { onLog: (l) => lines.push(l) });
    expect(r.initialValidationAccuracy).toBeLessThan(0.3);
    expect(r.test.accuracy).toBeGreaterThan(0.9);
    expect(r.history.loss).toHaveLength(1);
    expect(r.history.valLoss).toHaveLength(1);
    expect(r.history.metrics.accuracy).toEqual([r.trainAccuracy]);
    expect(r.history.valMetrics.accuracy).toEqual([r.validationAccuracy]);
    expect(r.history.steps).toBe(500);
    expect(r.test.predicted).toHaveLength(10000);
    expect(lines.at(-1)).toBe(`test accuracy: ${r.test.accuracy}`);
    // the loss is the plain sum of squares per image (no 1/2), so it is at most 2
    expect(r.test.loss).toBeGreaterThan(0);
    expect(r.test.loss).toBeLessThan(2);
  });

  it("initialises Glorot-uniform weights and zero biases", () => {
    const m = reluSoftmaxMnist.build();
    const w = m.params.get("layer1/W");
    expect(w.shape).toEqual([784, 90]);
    const bound = Math.sqrt(6 / (784 + 90));
    expect(Math.max(...Array.from(w.data, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(w.data, Math.abs))).toBeGreaterThan(0.95 * bound);
    expect(Array.from(m.params.get("layer1/b").data).every((v) => v === 0)).toBe(true);
  });
});
