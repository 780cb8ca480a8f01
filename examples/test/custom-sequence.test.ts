/**
 * `pnpm example custom-sequence`: an LSTM cell unrolled by hand and a transformer defined in code,
 * trained on generated "does the 1 come before the 2?" sequences, the transformer saved and loaded.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GraphBuilder } from "@gradgraph/core";
import { adam, cosineDecay, fit, Model } from "@gradgraph/models";
import { describe, expect, test } from "vitest";
import { lstmNet, oneBeforeTwo, SEQ_LEN, transformerNet, VOCAB } from "../src/examples/custom-sequence.js";
import { checkChart, marks, readJson, tempOut } from "./helpers.js";
import { runJson } from "./mnist-helpers.js";

describe("custom-sequence", () => {
  test("the data: one 1 and one 2 per sequence, labelled by their order, balanced, deterministic in the seed", () => {
    const d = oneBeforeTwo(400, 7);
    expect(d.x.shape).toEqual([400, SEQ_LEN]);
    let positives = 0;
    for (let i = 0; i < 400; i++) {
      const row = Array.from(d.x.data.subarray(i * SEQ_LEN, (i + 1) * SEQ_LEN));
      expect(row.filter((v) => v === 1)).toHaveLength(1);
      expect(row.filter((v) => v === 2)).toHaveLength(1);
      expect(row.every((v) => Number.isInteger(v) && v >= 0 && v < VOCAB)).toBe(true);
      expect(d.y[i]).toBe(row.indexOf(1) < row.indexOf(2) ? 1 : 0);
      positives += d.y[i]!;
    }
    expect(positives).toBeGreaterThan(160);
    expect(positives).toBeLessThan(240);
    const again = oneBeforeTwo(400, 7);
    expect(again.x.data).toEqual(d.x.data);
    expect(again.y).toEqual(d.y);
    expect(oneBeforeTwo(400, 8).x.data).not.toEqual(d.x.data);
  });

  test("the LSTM: its own cell params, one lstmCell per step, 2 outputs", () => {
    const b = new GraphBuilder();
    const net = lstmNet(b, 8);
    expect(net.predictions.shape).toEqual(["N", 2]);
    const g = b.build();
    const shapes = Object.fromEntries(Object.entries(g.params).map(([k, p]) => [k, p.shape]));
    expect(shapes).toEqual({
      "rnn/embed/E": [VOCAB, 16],
      "rnn/Wx": [16, 32],
      "rnn/Wh": [8, 32],
      "rnn/b": [32],
      "rnn/out/W": [8, 2],
      "rnn/out/b": [2],
    });
    // the forget gate's bias starts at 1, the other gates' at 0
    const bias = g.params["rnn/b"]!.init;
    if (bias?.kind !== "values") throw new Error(`rnn/b: expected explicit values, got ${bias?.kind}`);
    const values = bias.values;
    expect(values.slice(0, 8).every((v) => v === 0)).toBe(true);
    expect(values.slice(8, 16).every((v) => v === 1)).toBe(true);
    expect(values.slice(16).every((v) => v === 0)).toBe(true);
  });

  test("the transformer: positions, an encoder block, a hand-written attention sub-layer, 2 outputs", () => {
    const b = new GraphBuilder();
    const net = transformerNet(b, 8, 2);
    expect(net.predictions.shape).toEqual(["N", 2]);
    expect(net.attention.shape).toEqual(["N", 2, SEQ_LEN, SEQ_LEN]);
    const g = b.build();
    const shapes = Object.fromEntries(Object.entries(g.params).map(([k, p]) => [k, p.shape]));
    expect(shapes).toMatchObject({
      "tf/embed/E": [VOCAB, 8],
      "tf/pos": [SEQ_LEN, 8],
      "tf/block1/attn/Wq": [8, 8],
      "tf/block1/mlp1/W": [8, 16],
      "tf/ln/gamma": [8],
      "tf/attn2/Wo": [8, 8],
      "tf/out/W": [8, 2],
    });
  });

  test("training the hand-unrolled LSTM with a schedule and clipping is the same bits for the same seed", () => {
    const data = oneBeforeTwo(128, 3);
    const trainOnce = () => {
      const model = Model.define((b) => lstmNet(b, 8), { seed: 3 });
      const optimizer = adam({ lr: cosineDecay({ lr: 0.01, totalSteps: 8, warmupSteps: 4 }), clipNorm: 1 });
      const { history } = fit(model, data, { optimizer, epochs: 2, batchSize: 32, seed: 3 });
      return { loss: history.loss, Wh: Array.from(model.params.get("rnn/Wh").data) };
    };
    const a = trainOnce();
    expect(a.loss.every(Number.isFinite)).toBe(true);
    expect(trainOnce()).toEqual(a);
  });

  test("pnpm example custom-sequence: both models learn the order, the transformer reloads identically", async () => {
    const out = tempOut("custom-sequence");
    const { r, j } = await runJson(
      ["custom-sequence", "--epochs", "3", "--train-size", "1000", "--hidden", "16"],
      out,
    );
    expect(r.stdout).toMatch(
      /LSTM epoch 3: loss [\d.]+, accuracy [\d.]+, val_loss [\d.]+, val_accuracy [\d.]+/,
    );
    expect(r.stdout).toMatch(/Transformer epoch 3: loss [\d.]+/);
    expect(r.stdout).toContain("predictions identical on 500 validation sequences");
    expect(r.stdout).toMatch(
      /P\(1 first\) for [\d ]+ \/ [\d ]+:\n {2}LSTM [\d.]+ \/ [\d.]+, loaded transformer [\d.]+ \/ [\d.]+/,
    );
    expect(j.example).toBe("custom-sequence");
    expect(j.hyper).toMatchObject({ epochs: 3, width: 16, trainSize: 1000, batchSize: 32, seed: 1 });
    const m = j.metrics as Record<string, number | boolean>;
    // chance is 0.5 (a bag of tokens cannot tell the classes apart); three short epochs of these
    // small models are well above it (the defaults reach 100%)
    expect(m.lstmValAccuracy).toBeGreaterThan(0.75);
    expect(m.transformerValAccuracy).toBeGreaterThan(0.75);
    expect(m.reloadIdentical).toBe(true);
    expect(m.epochsCompleted).toBe(3);
    expect(marks(checkChart(out, "history"), "line mark")).toBe(8);
    expect(marks(checkChart(out, "attention"), "text mark")).toBeGreaterThanOrEqual(2);
    const h = readJson(join(out, "history.json")) as Record<string, { epochs: number }>;
    expect(h.lstm!.epochs).toBe(3);
    expect(h.transformer!.epochs).toBe(3);
    expect(existsSync(join(out, "model.ggm"))).toBe(true);
  });
});
