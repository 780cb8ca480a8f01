/**
 * Early stopping and checkpointing with training-mode layers and optimizer state: the best epoch's
 * params come back with batch normalisation's running statistics, optionally with the step count
 * and the optimizer's state, and a checkpoint resumes a run exactly.
 */
import { ParamStore, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { type Callback, earlyStopping, modelCheckpoint, type TrainingCheckpoint } from "../src/callbacks.js";
import { batchNorm, dropout } from "../src/cnn.js";
import { fit } from "../src/fit.js";
import { deserializeModel, restoreTraining, serializeModel } from "../src/io.js";
import { dense } from "../src/layers.js";
import { softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { adam, cosineDecay, type Optimizer } from "../src/optim/index.js";

/** Two noisy gaussian blobs in 6 dimensions. */
function blobs(n: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([n, 6]);
  const y = Tensor.zeros([n, 2]);
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    for (let k = 0; k < 6; k++)
      x.data[i * 6 + k] = 2 * rng.uniform() - 1 + (cls === 0 ? 0.6 : -0.6) * (k % 2);
    y.data[i * 2 + cls] = 1;
  }
  return { x, y };
}

/** dense -> batchNorm -> relu -> dropout -> dense, float64. */
function net(): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 6]);
      const y = b.input("y", ["N", 2]);
      const h = dropout(b, b.relu(batchNorm(b, dense(b, x, 8), { name: "bn" })), 0.25);
      const logits = dense(b, h, 2);
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed: 3 },
  );
}

const data = blobs(48, 1);
const makeOpt = () => adam({ lr: cosineDecay({ lr: 0.02, totalSteps: 20, warmupSteps: 2 }), clipNorm: 2 });
const opts = { batchSize: 16, seed: 9 } as const;
const bitsOf = (p: ParamStore) => p.entries().map(([n, t]) => [n, Array.from(t.data)] as const);

/** Records a copy of all params, the step count and the optimizer's iterations after every epoch. */
function recorder(): Callback & { params: ParamStore[]; steps: number[] } {
  const params: ParamStore[] = [];
  const steps: number[] = [];
  return {
    params,
    steps,
    onEpochEnd(_e, _logs, ctx) {
      params.push(
        new ParamStore(ctx.model.params.entries().map(([n, t]) => [n, new Tensor(t.shape, t.data.slice())])),
      );
      steps.push(ctx.model.trainingSteps);
    },
  };
}

function uninterrupted(epochs: number): Model {
  const m = net();
  fit(m, data, { ...opts, optimizer: makeOpt(), epochs });
  return m;
}

describe("earlyStopping with batchNorm, dropout and optimizer state", () => {
  test("restores the best epoch's params, running statistics included", () => {
    const m = net();
    const rec = recorder();
    // mode "max" on a falling loss: epoch 0 is the best, epoch 1 stops the run
    const es = earlyStopping({ monitor: "loss", mode: "max", patience: 1 });
    const { history } = fit(m, data, { ...opts, optimizer: makeOpt(), epochs: 5, callbacks: [rec, es] });
    expect(history.epochs).toBe(2);
    expect(es.bestEpoch).toBe(0);
    expect(es.restored).toBe(true);
    expect(bitsOf(m.params)).toEqual(bitsOf(rec.params[0]!));
    const rv = m.params.get("bn/runningVar").data;
    expect(Array.from(rv)).not.toEqual(Array.from(rec.params[1]!.get("bn/runningVar").data));
    expect(Array.from(rv)).not.toEqual(new Array(8).fill(1));
    // without restoreTrainingState the step count and the optimizer are those of the last epoch
    expect(m.trainingSteps).toBe(6);
  });

  test("restoreTrainingState also rewinds trainingSteps and the optimizer: resuming gives the uninterrupted run", () => {
    const m = net();
    const opt = makeOpt();
    const es = earlyStopping({ monitor: "loss", mode: "max", patience: 1, restoreTrainingState: true });
    fit(m, data, { ...opts, optimizer: opt, epochs: 5, callbacks: es });
    expect(m.trainingSteps).toBe(3);
    expect(opt.iterations).toBe(3);
    fit(m, data, { ...opts, optimizer: opt, epochs: 4, initialEpoch: 1 });
    expect(bitsOf(m.params)).toEqual(bitsOf(uninterrupted(4).params));
  });
});

describe("modelCheckpoint", () => {
  test("keeps the best epoch (params, running statistics, steps, optimizer state) and resumes from it exactly", () => {
    const m = net();
    const rec = recorder();
    const saved: TrainingCheckpoint[] = [];
    // maximise the loss: only epoch 0 is ever the best
    const ck = modelCheckpoint({ monitor: "loss", mode: "max", onSave: (c) => saved.push(c) });
    fit(m, data, { ...opts, optimizer: makeOpt(), epochs: 3, callbacks: [rec, ck] });
    expect(saved.map((c) => c.epoch)).toEqual([0]);
    const cp = ck.checkpoint!;
    expect(bitsOf(cp.params)).toEqual(bitsOf(rec.params[0]!));
    expect(cp.training.trainingSteps).toBe(3);
    expect(cp.training.optimizer!.iterations).toBe(3);
    // into a fresh model and optimizer, through the file format, then on to epoch 4
    const bytes = serializeModel({ graph: m.graph, params: cp.params, training: cp.training });
    const fresh = net();
    const opt = makeOpt();
    restoreTraining(fresh, deserializeModel(bytes), opt);
    fit(fresh, data, { ...opts, optimizer: opt, epochs: 4, initialEpoch: cp.epoch + 1 });
    const want = bitsOf(uninterrupted(4).params);
    expect(bitsOf(fresh.params)).toEqual(want);
    // and restore() in memory does the same
    const again = net();
    const opt2: Optimizer = makeOpt();
    ck.restore(again, opt2);
    fit(again, data, { ...opts, optimizer: opt2, epochs: 4, initialEpoch: 1 });
    expect(bitsOf(again.params)).toEqual(want);
  });

  test("saveBestOnly false saves every epoch; a missing log is an error naming the logs", () => {
    const saved: number[] = [];
    const ck = modelCheckpoint({ saveBestOnly: false, onSave: (c) => saved.push(c.epoch) });
    fit(net(), data, { ...opts, optimizer: makeOpt(), epochs: 3, callbacks: ck });
    expect(saved).toEqual([0, 1, 2]);
    expect(ck.checkpoint!.epoch).toBe(2);
    expect(() =>
      fit(net(), data, {
        ...opts,
        optimizer: makeOpt(),
        epochs: 1,
        callbacks: modelCheckpoint({ monitor: "val_loss" }),
      }),
    ).toThrow(/modelCheckpoint: no log named 'val_loss' \(logs: loss\)/);
    expect(() => modelCheckpoint().restore(net())).toThrow(/no checkpoint was taken/);
  });
});
