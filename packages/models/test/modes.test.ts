import {
  type Graph,
  GraphBuilder,
  GraphError,
  ParamStore,
  pruneGraph,
  Rng,
  ShapeError,
  Tensor,
  uniformAt,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { avgPool2d, batchNorm, conv2d, dropout, flatten, maxPool2d } from "../src/cnn.js";
import { fit, fitFullBatch } from "../src/fit.js";
import { deserializeModel, serializeModel } from "../src/io.js";
import { dense } from "../src/layers.js";
import { meanSquaredError, softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { KEY_INPUT, stateUpdate, TRAINING_INPUT } from "../src/modes.js";
import { adam, sgd } from "../src/optim/index.js";
import { sampledAllocation } from "./helpers/allocation.js";
import { bars } from "./helpers/bars.js";

function randTensor(
  shape: readonly number[],
  seed: number,
  lo = -1,
  hi = 1,
  dtype: "float32" | "float64" = "float64",
) {
  const t = Tensor.zeros(shape, dtype);
  new Rng(seed).fillUniform(t.data, lo, hi);
  return t;
}

const opsOf = (g: Graph) => g.nodes.map((n) => n.op);
const namesOf = (g: Graph) => g.nodes.map((n) => n.name ?? "");

/** x [N, 3] -> batchNorm -> dense(2) -> MSE, in float64. */
function bnModel(seed = 0): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 3]);
      const y = b.input("y", ["N", 2]);
      const h = batchNorm(b, x, { name: "bn" });
      const p = dense(b, h, 2, { name: "out" });
      return { input: x, target: y, predictions: p, loss: meanSquaredError(b, p, y) };
    },
    { seed, dtype: "float64" },
  );
}

/** Per-feature batch mean and biased variance of x [n, F]. */
function columnStats(x: Tensor): { mean: number[]; variance: number[] } {
  const [n, F] = x.shape as [number, number];
  const mean = new Array(F).fill(0);
  const variance = new Array(F).fill(0);
  for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) mean[f] += x.data[i * F + f]! / n;
  for (let i = 0; i < n; i++)
    for (let f = 0; f < F; f++) variance[f] += (x.data[i * F + f]! - mean[f]) ** 2 / n;
  return { mean, variance };
}

describe("Model with training-mode layers", () => {
  test("state params are not trained; each step copies the running statistics into the params", () => {
    const model = bnModel();
    expect(model.stateParams).toEqual(["bn/runningMean", "bn/runningVar"]);
    expect(model.trainable).toEqual(["bn/gamma", "bn/beta", "out/W", "out/b"]);
    const x = randTensor([8, 3], 1, -2, 4);
    const y = randTensor([8, 2], 2);
    const { mean, variance } = columnStats(x);
    const unbiased = variance.map((v) => (v * 8) / 7);
    const rm = [0, 0, 0];
    const rv = [1, 1, 1];
    for (let step = 0; step < 3; step++) {
      model.trainStep(x, y, sgd({ lr: 0.1 }));
      for (let f = 0; f < 3; f++) {
        rm[f] = 0.9 * rm[f]! + 0.1 * mean[f]!;
        rv[f] = 0.9 * rv[f]! + 0.1 * unbiased[f]!;
      }
      const gotMean = model.params.get("bn/runningMean").toArray();
      const gotVar = model.params.get("bn/runningVar").toArray();
      for (let f = 0; f < 3; f++) {
        expect(Math.abs(gotMean[f]! - rm[f]!)).toBeLessThan(1e-14);
        expect(Math.abs(gotVar[f]! - rv[f]!)).toBeLessThan(1e-13);
      }
    }
    expect(model.trainingSteps).toBe(3);
    // evaluation normalises with the running statistics, not the batch's
    const pred = model.predict(x);
    const g = model.params.get("bn/gamma").toArray();
    const be = model.params.get("bn/beta").toArray();
    const W = model.params.get("out/W").toArray(); // [3, 2]
    const bias = model.params.get("out/b").toArray();
    for (let i = 0; i < 8; i++) {
      for (let o = 0; o < 2; o++) {
        let want = bias[o]!;
        for (let f = 0; f < 3; f++) {
          const h = ((x.data[i * 3 + f]! - rm[f]!) / Math.sqrt(rv[f]! + 1e-5)) * g[f]! + be[f]!;
          want += h * W[f * 2 + o]!;
        }
        expect(Math.abs(pred.data[i * 2 + o]! - want)).toBeLessThan(1e-12);
      }
    }
  });

  test("fit steps like trainStep: same keys, same state updates, same params", () => {
    const make = () =>
      Model.define(
        (b) => {
          const x = b.input("x", ["N", 3]);
          const y = b.input("y", ["N", 2]);
          const h = dropout(b, batchNorm(b, x, { name: "bn" }), 0.3);
          const p = dense(b, h, 2, { name: "out" });
          return { input: x, target: y, predictions: p, loss: meanSquaredError(b, p, y) };
        },
        { seed: 5, dtype: "float64" },
      );
    const x = randTensor([8, 3], 12, -1, 2);
    const y = randTensor([8, 2], 13);
    const fitted = make();
    fit(fitted, { x, y }, { optimizer: sgd({ lr: 0.1 }), epochs: 2, batchSize: 4, shuffle: false });
    const stepped = make();
    const opt = sgd({ lr: 0.1 });
    for (let e = 0; e < 2; e++)
      for (const start of [0, 4]) {
        const rows = (t: Tensor, w: number) =>
          Tensor.from(t.data.slice(start * w, (start + 4) * w), { shape: [4, w], dtype: "float64" });
        stepped.trainStep(rows(x, 3), rows(y, 2), opt);
      }
    expect(fitted.trainingSteps).toBe(4);
    expect(stepped.trainingSteps).toBe(4);
    for (const [name, t] of stepped.params.entries())
      expect(fitted.params.get(name).toArray()).toEqual(t.toArray());
    expect(fitted.params.get("bn/runningMean").toArray()).not.toEqual([0, 0, 0]);
  });

  test("the compiled graphs keep one branch each", () => {
    const model = Model.define(
      (b) => {
        const x = b.input("x", ["N", 4]);
        const y = b.input("y", ["N", 2]);
        const h = dropout(b, batchNorm(b, dense(b, x, 5, { activation: "relu" })), 0.5);
        const logits = dense(b, h, 2);
        return {
          input: x,
          target: y,
          predictions: b.softmax(logits),
          loss: softmaxCrossEntropy(b, logits, y),
        };
      },
      { seed: 1 },
    );
    const ev = model.evaluationGraph;
    expect(opsOf(ev)).not.toContain("randomUniform");
    expect(opsOf(ev)).not.toContain("where");
    expect(namesOf(ev).some((n) => n.includes("batchMean") || n.includes("batchVar"))).toBe(false);
    expect(Object.keys(ev.inputs).sort()).toEqual(["x", "y"]);
    const tr = model.trainingGraph;
    expect(opsOf(tr)).toContain("randomUniform");
    expect(opsOf(tr)).not.toContain("where");
    expect(Object.keys(tr.inputs).sort()).toEqual([KEY_INPUT, "x", "y"].sort());
    // training predictions do not read the running statistics
    const forward = pruneGraph(tr, ["predictions"]);
    expect(Object.keys(forward.params)).not.toContain("batchNorm1/runningMean");
    expect(Object.keys(forward.params)).not.toContain("batchNorm1/runningVar");
    expect(Object.keys(tr.outputs)).toContain("update:batchNorm1/runningVar");
    // the plans agree: the prediction plan takes only x
    expect(Object.keys(model.predictionPlan(3).plan.inputs)).toEqual(["x"]);
    expect(Object.keys(model.trainingPlan(3).plan.inputs).sort()).toEqual([KEY_INPUT, "x", "y"].sort());
  });

  test("dropout: masks from the step's key, new every step, reproducible, off in evaluate and predict", () => {
    const rate = 0.25;
    const make = (seed: number) =>
      Model.define(
        (b) => {
          const x = b.input("x", ["N", 40]);
          const y = b.input("y", ["N", 40]);
          const w = b.param("w", [40], { init: { kind: "ones" } });
          const p = b.mul(dropout(b, x, rate), w);
          return { input: x, target: y, predictions: p, loss: meanSquaredError(b, p, y) };
        },
        { seed, dtype: "float64" },
      );
    const model = make(3);
    const x = randTensor([5, 40], 4, 0.5, 1.5);
    const y = Tensor.zeros([5, 40], "float64");
    const tp = model.trainingPlan(5);
    const noStep = { step() {} }; // leaves the params alone
    const masks: number[][] = [];
    for (let step = 0; step < 3; step++) {
      model.fill(tp, x, y, null, 0, 5);
      model.runTrainingStep(tp, noStep);
      const key = (3 * 7919 + step) % 2 ** 24;
      expect(model.trainingKey(step)).toBe(key);
      expect(tp.key!.data[0]).toBe(key);
      const want = x.toArray().map((v, i) => (uniformAt(key, 1, i) >= rate ? v / (1 - rate) : 0));
      const got = tp.predictions.toArray();
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-15);
      masks.push(got.map((v) => (v === 0 ? 0 : 1)));
      const kept = masks[step]!.reduce((s, v) => s + v, 0) / 200;
      expect(kept).toBeGreaterThan(0.6);
      expect(kept).toBeLessThan(0.9);
    }
    expect(masks[0]).not.toEqual(masks[1]);
    expect(masks[1]).not.toEqual(masks[2]);
    // the same seed draws the same masks; another seed others
    const again = make(3);
    const other = make(4);
    const l0 = again.trainStep(x, y, noStep);
    const l1 = other.trainStep(x, y, noStep);
    const first = make(3).trainStep(x, y, noStep);
    expect(l0).toBe(first);
    expect(l1).not.toBe(l0);
    // evaluation and prediction pass x through (the weights are still ones)
    expect(model.predict(x).toArray()).toEqual(x.toArray());
    const meanSq = x.toArray().reduce((s, v) => s + v * v, 0) / 200;
    expect(Math.abs(model.evaluate(x, y).loss - meanSq)).toBeLessThan(1e-12);
    expect(model.trainingSteps).toBe(3); // evaluation does not take steps
  });

  test("trainingSteps: settable to resume, validated", () => {
    const model = bnModel();
    model.trainingSteps = 41;
    expect(model.trainingSteps).toBe(41);
    model.trainStep(randTensor([4, 3], 1), randTensor([4, 2], 2), sgd({ lr: 0.1 }));
    expect(model.trainingSteps).toBe(42);
    expect(() => {
      model.trainingSteps = -1;
    }).toThrow(/non-negative integer, got -1/);
    expect(() => {
      model.trainingSteps = 1.5;
    }).toThrow(RangeError);
  });

  test("save, load and evaluate give identical results; a resumed training continues bit for bit", () => {
    const x = randTensor([12, 3], 5, -1, 3);
    const y = randTensor([12, 2], 6);
    const opt = () => sgd({ lr: 0.05 });
    const straight = bnModel(2);
    for (let i = 0; i < 4; i++) straight.trainStep(x, y, opt());

    const first = bnModel(2);
    for (let i = 0; i < 2; i++) first.trainStep(x, y, opt());
    const bytes = serializeModel({
      graph: first.graph,
      params: first.params,
      metadata: { trainingSteps: first.trainingSteps },
    });
    const saved = deserializeModel(bytes);
    const loaded = new Model(saved.graph, { params: saved.params, seed: 2 });
    expect(loaded.params.get("bn/runningMean").toArray()).toEqual(
      first.params.get("bn/runningMean").toArray(),
    );
    expect(loaded.params.get("bn/runningMean").toArray()).not.toEqual([0, 0, 0]);
    expect(loaded.evaluate(x, y)).toEqual(first.evaluate(x, y));
    expect(loaded.predict(x).toArray()).toEqual(first.predict(x).toArray());

    loaded.trainingSteps = saved.metadata.trainingSteps as number;
    for (let i = 0; i < 2; i++) loaded.trainStep(x, y, opt());
    for (const [name, t] of straight.params.entries())
      expect(loaded.params.get(name).toArray()).toEqual(t.toArray());
  });

  test("bad update outputs and trainable state params are errors", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 2]);
    const y = b.input("y", ["N", 2]);
    b.output("predictions", batchNorm(b, x, { name: "bn" }));
    b.output("loss", meanSquaredError(b, b.ref("predictions"), y));
    const g = b.build();
    expect(() => new Model(g, { trainable: ["bn/gamma", "bn/runningMean"] })).toThrow(
      /param 'bn\/runningMean' is state updated by the output 'update:bn\/runningMean'/,
    );
    const e = GraphBuilder.extend(g);
    e.output("update:nothing", e.ref("x"));
    expect(() => new Model(e.build())).toThrow(GraphError);
    const s = GraphBuilder.extend(g);
    s.output("update:bn/gamma", s.fill(0, [3]));
    expect(() => new Model(s.build())).toThrow(ShapeError);
    expect(() => stateUpdate(new GraphBuilder(), "nope", b.ref("x"))).toThrow(/no param named 'nope'/);
  });

  test("lossAndGrad: one key for every call (deterministic), state copied, one step taken", () => {
    const model = Model.define(
      (b) => {
        const x = b.input("x", ["N", 3]);
        const y = b.input("y", ["N", 1]);
        const h = dropout(b, batchNorm(b, x, { name: "bn" }), 0.5);
        const p = dense(b, h, 1, { name: "out" });
        return { input: x, target: y, predictions: p, loss: meanSquaredError(b, p, y) };
      },
      { seed: 0, dtype: "float64" },
    );
    const x = randTensor([10, 3], 7, 0, 2);
    const y = randTensor([10, 1], 8);
    const lg = model.lossAndGrad(x, y);
    expect(model.trainingSteps).toBe(1);
    const theta = lg.getParams();
    const g1 = new Float64Array(lg.size);
    const g2 = new Float64Array(lg.size);
    const f1 = lg.fun(theta, g1);
    const f2 = lg.fun(theta, g2);
    expect(f2).toBe(f1);
    expect(g2).toEqual(g1);
    expect(
      model.params
        .get("bn/runningMean")
        .toArray()
        .every((v) => v > 0),
    ).toBe(true);
    const { result } = fitFullBatch(model, { x, y }, { method: "lbfgs", maxIter: 5 });
    expect(result!.f).toBeLessThan(f1);
  });

  test("fitFullBatch gd steps through runTrainingStep: keys advance and the state moves", () => {
    const model = bnModel();
    const x = randTensor([6, 3], 9, 1, 3);
    const y = randTensor([6, 2], 10);
    fitFullBatch(model, { x, y }, { method: "gd", lr: 0.05, maxIter: 4 });
    expect(model.trainingSteps).toBe(4);
    const { mean } = columnStats(x);
    const want = mean.map((m) => m * (1 - 0.9 ** 4));
    const got = model.params.get("bn/runningMean").toArray();
    for (let f = 0; f < 3; f++) expect(Math.abs(got[f]! - want[f]!)).toBeLessThan(1e-12);
  });
});

function cnn(seed: number, withModes: boolean): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 64]);
      const y = b.input("y", ["N", 2]);
      let h = b.reshape(x, ["N", 1, 8, 8]);
      h = conv2d(b, h, 4, 3, { padding: "same", activation: withModes ? "identity" : "relu" });
      if (withModes) h = b.relu(batchNorm(b, h));
      h = flatten(b, maxPool2d(b, h, 2));
      if (withModes) h = dropout(b, h, 0.2);
      const logits = dense(b, h, 2);
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed },
  );
}

describe("a small CNN", () => {
  test("conv-relu-pool-flatten-dense learns bar orientation", () => {
    const train = bars(64, 1);
    const test = bars(32, 2);
    const model = cnn(0, false);
    const before = model.evaluate(test.x, test.y, { metrics: ["accuracy"] });
    const { history } = fit(model, train, {
      optimizer: adam({ lr: 0.02 }),
      epochs: 12,
      batchSize: 16,
      seed: 1,
    });
    const after = model.evaluate(test.x, test.y, { metrics: ["accuracy"] });
    expect(history.loss.at(-1)!).toBeLessThan(0.5 * history.loss[0]!);
    expect(after.loss).toBeLessThan(0.5 * before.loss);
    expect(after.accuracy!).toBeGreaterThanOrEqual(0.9);
  });

  test("with batchNorm and dropout: same seed, bit-identical params; another seed differs", () => {
    const data = bars(48, 3);
    const run = (seed: number) => {
      const model = cnn(seed, true);
      fit(model, data, { optimizer: adam({ lr: 0.01 }), epochs: 3, batchSize: 16, seed: 5 });
      return model;
    };
    const a = run(7);
    const b = run(7);
    const c = run(8);
    expect(a.trainingSteps).toBe(9);
    for (const [name, t] of a.params.entries()) expect(b.params.get(name).data).toEqual(t.data);
    expect(c.params.get("dense1/W").data).not.toEqual(a.params.get("dense1/W").data);
    // the running statistics moved during training and are used by evaluation
    expect(a.params.get("batchNorm1/runningVar").toArray()).not.toEqual([1, 1, 1, 1]);
    const acc = a.evaluate(data.x, data.y, { metrics: ["accuracy"] }).accuracy!;
    expect(acc).toBeGreaterThan(0.7);
    // a model trained with another dropout key sequence (same init) ends elsewhere
    const shifted = cnn(7, true);
    shifted.trainingSteps = 1000;
    fit(shifted, data, { optimizer: adam({ lr: 0.01 }), epochs: 3, batchSize: 16, seed: 5 });
    expect(shifted.params.get("dense1/W").data).not.toEqual(a.params.get("dense1/W").data);
    expect(ParamStore.init(a.graph, 7).get("dense1/W").data).toEqual(
      cnn(7, true).params.get("dense1/W").data,
    );
  });
});

test("a CNN with batchNorm and dropout evaluates in chunks, with the one-plan results", () => {
  const make = () =>
    Model.define(
      (b) => {
        const x = b.input("x", ["N", 36]);
        const y = b.input("y", ["N", 2]);
        let h = b.reshape(x, ["N", 1, 6, 6]);
        h = b.relu(batchNorm(b, conv2d(b, h, 3, 3, { padding: "same" })));
        h = avgPool2d(b, maxPool2d(b, h, 2, { strides: 1 }), 2);
        h = dropout(b, flatten(b, h), 0.5);
        const logits = dense(b, h, 2);
        return {
          input: x,
          target: y,
          predictions: b.softmax(logits),
          loss: softmaxCrossEntropy(b, logits, y),
        };
      },
      { seed: 4, dtype: "float64" },
    );
  const x = randTensor([2500, 36], 3);
  const y = new Uint8Array(2500).map((_, i) => (x.data[i * 36]! > 0 ? 1 : 0));
  const chunked = make();
  chunked.trainStep(x, y, sgd({ lr: 0.1 })); // running statistics away from their initial values
  const r = chunked.evaluate(x, y, { metrics: ["accuracy"] });
  const p = chunked.predict(x);
  expect(chunked.cachedPlanSizes).toEqual({ evaluation: [1000, 500], prediction: [1000, 500] });
  const one = make();
  one.trainStep(x, y, sgd({ lr: 0.1 }));
  const r1 = one.evaluate(x, y, { metrics: ["accuracy"], batchSize: 2500 });
  expect(one.cachedPlanSizes.evaluation).toEqual([2500]);
  expect(Array.from(p.data)).toEqual(Array.from(one.predict(x, { batchSize: 2500 }).data));
  expect(r.accuracy).toBe(r1.accuracy);
  expect(Math.abs(r.loss - r1.loss)).toBeLessThanOrEqual(1e-13 * r1.loss);
});

test("fit allocates nothing per step with a random key and state updates", async () => {
  const model = Model.define(
    (b) => {
      const x = b.input("x", ["N", 4]);
      const y = b.input("y", ["N", 2]);
      const h = dropout(b, batchNorm(b, dense(b, x, 6, { activation: "relu" })), 0.3);
      const logits = dense(b, h, 2);
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed: 1 },
  );
  const x = randTensor([20000, 4], 1, -1, 1, "float32");
  const y = Tensor.zeros([20000, 2]);
  for (let i = 0; i < 20000; i++) y.data[i * 2 + (x.data[i * 4]! > 0 ? 1 : 0)] = 1;
  const opts = { optimizer: sgd({ lr: 0.01 }), batchSize: 2, metrics: ["accuracy" as const] };
  fit(model, { x, y }, { ...opts, epochs: 2 });
  // per-epoch costs (history, params checks) are a few kB: epochs of 10,000 steps make them small
  let steps = 0;
  // the lowest of up to three measurements, as fit.test.ts does (a JIT still optimising on a busy
  // machine); an allocation made by every step shows in every attempt
  let bytes = Number.POSITIVE_INFINITY;
  let attempts = 0;
  for (; attempts < 3 && (steps === 0 || bytes / steps >= 4); attempts++) {
    bytes = Math.min(
      bytes,
      await sampledAllocation(() => {
        steps = fit(model, { x, y }, { ...opts, epochs: 3 }).history.steps;
      }),
    );
  }
  expect(steps).toBe(30000);
  expect(model.trainingSteps).toBe(20000 + 30000 * attempts);
  expect(bytes / steps).toBeLessThan(4);
});

test("the mode input names are reserved constants", () => {
  expect(TRAINING_INPUT).toBe("mode:training");
  expect(KEY_INPUT).toBe("mode:key");
});
