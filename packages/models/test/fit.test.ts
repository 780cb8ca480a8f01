import { Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { type BatchLogs, type Callback, earlyStopping } from "../src/callbacks.js";
import { fit, fitFullBatch, NonFiniteLossError } from "../src/fit.js";
import { init } from "../src/init.js";
import { mlp, weightsOf } from "../src/layers.js";
import { l2Penalty, quadratic, softmaxCrossEntropy } from "../src/losses.js";
import { type GradientStep, Model } from "../src/model.js";
import { sgd } from "../src/optim/index.js";
import { trainMiniBatch } from "../src/presets/common.js";
import { sampledAllocation } from "./helpers/allocation.js";
import { blobs } from "./helpers/blobs.js";

function smallModel(seed = 0, hidden = 4): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const logits = mlp(b, x, [2, hidden, 2], { activation: "tanh", outputActivation: "identity" });
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed, dtype: "float64" },
  );
}

function sameParams(a: Model, b: Model): boolean {
  for (const name of a.params.names()) {
    const x = a.params.get(name).data;
    const y = b.params.get(name).data;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

describe("fit", () => {
  const data = blobs(60, 1);
  const val = blobs(40, 2);

  it("records one history entry per epoch, with validation and accuracy", () => {
    const model = smallModel();
    const { model: out, history } = fit(model, data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 8,
      batchSize: 7,
      metrics: ["accuracy"],
      validation: val,
    });
    expect(out).toBe(model);
    expect(history.epochs).toBe(8);
    expect(history.loss).toHaveLength(8);
    expect(history.valLoss).toHaveLength(8);
    expect(history.metrics.accuracy).toHaveLength(8);
    expect(history.valMetrics.accuracy).toHaveLength(8);
    expect(history.logs[0]).toHaveProperty("val_accuracy");
    expect(history.epochTimeMs).toHaveLength(8);
    expect(history.steps).toBe(8 * Math.ceil(60 / 7));
    expect(history.timeMs).toBeGreaterThan(0);
    expect(history.stoppedEarly).toBe(false);
    expect(history.loss[7]!).toBeLessThan(history.loss[0]!);
    expect(history.valMetrics.accuracy![7]!).toBeGreaterThan(0.85);
    // the last validation numbers are the model's current ones
    const ev = model.evaluate(val.x, val.y, { metrics: ["accuracy"] });
    expect(ev.loss).toBeCloseTo(history.valLoss[7]!, 12);
  });

  it("shuffles deterministically by seed", () => {
    const run = (seed: number) => {
      const m = smallModel(3);
      fit(m, data, { optimizer: sgd({ lr: 0.1 }), epochs: 3, batchSize: 5, seed });
      return m;
    };
    expect(sameParams(run(1), run(1))).toBe(true);
    expect(sameParams(run(1), run(2))).toBe(false);
  });

  it("file order (shuffle: false) equals a manual loop over consecutive batches", () => {
    const a = smallModel(4);
    fit(a, data, { optimizer: sgd({ lr: 0.2 }), epochs: 2, batchSize: 8, shuffle: false });
    const b = smallModel(4);
    const opt = sgd({ lr: 0.2 });
    for (let e = 0; e < 2; e++) {
      for (let s = 0; s < 60; s += 8) {
        const n = Math.min(8, 60 - s);
        const xb = new Tensor([n, 2], data.x.data.slice(s * 2, (s + n) * 2));
        b.trainStep(xb, data.y.slice(s, s + n), opt);
      }
    }
    expect(sameParams(a, b)).toBe(true);
  });

  it("batchSize 1 is per-sample SGD; dropLast skips the short batch", () => {
    const m = smallModel();
    const h1 = fit(m, data, { optimizer: sgd({ lr: 0.01 }), epochs: 2, batchSize: 1 }).history;
    expect(h1.steps).toBe(120);
    const h2 = fit(smallModel(), data, {
      optimizer: sgd({ lr: 0.01 }),
      epochs: 1,
      batchSize: 25,
      dropLast: true,
    }).history;
    expect(h2.steps).toBe(2);
  });

  it("calls callbacks the right number of times and stops when one returns false", () => {
    const counts = { begin: 0, epochBegin: 0, batch: 0, epoch: 0, end: 0 };
    const seen: number[] = [];
    const cb: Callback = {
      onTrainBegin: () => void counts.begin++,
      onEpochBegin: () => void counts.epochBegin++,
      onBatchEnd: (_batch: number, logs: BatchLogs) => {
        counts.batch++;
        seen.push(logs.size);
      },
      onEpochEnd: () => void counts.epoch++,
      onTrainEnd: () => void counts.end++,
    };
    fit(smallModel(), data, { optimizer: sgd({ lr: 0.1 }), epochs: 3, batchSize: 25, callbacks: [cb] });
    expect(counts).toEqual({ begin: 1, epochBegin: 3, batch: 9, epoch: 3, end: 1 });
    expect(seen.slice(0, 3)).toEqual([25, 25, 10]);

    let batches = 0;
    const { history } = fit(smallModel(), data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 5,
      batchSize: 10,
      callbacks: { onBatchEnd: () => ++batches < 8 },
    });
    expect(batches).toBe(8);
    expect(history.steps).toBe(8);
    // the second epoch was stopped after 2 of its 6 batches: it is not counted as an epoch
    expect(history.epochs).toBe(1);
    expect(history.loss).toHaveLength(1);
    expect(history.partialEpoch).toEqual({ epoch: 1, batchesDone: 2, batches: 6, rolledBack: false });
    expect(history.stoppedEarly).toBe(true);

    const stopAt2 = fit(smallModel(), data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 5,
      callbacks: { onEpochEnd: (epoch, _logs, ctx) => (epoch === 1 ? ctx.stop() : undefined) },
    }).history;
    expect(stopAt2.epochs).toBe(2);
  });

  it("early stopping stops after `patience` bad epochs and restores the best params", () => {
    // validation labels are flipped, so validation loss rises as training succeeds
    const flipped = { x: val.x, y: val.y.map((v) => 1 - v) };
    const model = smallModel(5);
    const es = earlyStopping({ monitor: "val_loss", patience: 2 });
    const { history } = fit(model, data, {
      optimizer: sgd({ lr: 0.2 }),
      epochs: 50,
      batchSize: 10,
      validation: flipped,
      callbacks: es,
    });
    expect(history.stoppedEarly).toBe(true);
    expect(es.bestEpoch).toBe(0);
    expect(es.stoppedEpoch).toBe(2);
    expect(history.epochs).toBe(3);
    expect(es.restored).toBe(true);
    expect(model.evaluate(flipped.x, flipped.y).loss).toBeCloseTo(history.valLoss[0]!, 12);
    expect(es.best).toBeCloseTo(history.valLoss[0]!, 12);

    // the shorthand option, on an accuracy monitor (mode auto -> max), without restoring
    const { history: h2 } = fit(smallModel(5), data, {
      optimizer: sgd({ lr: 0.2 }),
      epochs: 50,
      validation: flipped,
      metrics: ["accuracy"],
      earlyStopping: { monitor: "val_accuracy", patience: 1, restoreBest: false },
    });
    expect(h2.stoppedEarly).toBe(true);
    expect(h2.epochs).toBeLessThan(50);
  });

  it("evaluateTrain re-evaluates the training set after each epoch", () => {
    const m = smallModel(6);
    const { history } = fit(m, data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 2,
      metrics: ["accuracy", { name: "n", compute: (p) => p.shape[0]! }],
      evaluateTrain: true,
    });
    expect(history.metrics.n).toEqual([60, 60]);
    expect(history.loss[1]).toBeCloseTo(m.evaluate(data.x, data.y).loss, 12);
  });

  it("allocates nothing per step (sampled allocations over 60k per-sample steps)", async () => {
    const big = blobs(10000, 3);
    const m = smallModel(7);
    const opt = sgd({ lr: 0.001 });
    const opts = {
      optimizer: opt,
      batchSize: 1,
      metrics: ["accuracy" as const],
      callbacks: { onBatchEnd: () => true },
    };
    fit(m, big, { ...opts, epochs: 2 });
    let steps = 0;
    // measured up to three times, keeping the lowest figure, so a JIT still optimising on a loaded
    // machine does not fail the test; an allocation made by every step shows up in every attempt
    let bytes = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3 && (steps === 0 || bytes / steps >= 4); attempt++) {
      bytes = Math.min(
        bytes,
        await sampledAllocation(() => {
          steps = fit(m, big, { ...opts, epochs: 6 }).history.steps;
        }),
      );
    }
    expect(steps).toBe(60000);
    // per-fit and per-epoch costs (order array, history, logs) are a few kB; one 16-byte object per
    // step would add ~1 MB
    expect(bytes / steps).toBeLessThan(4);
  });
});

describe("fitFullBatch", () => {
  const data = blobs(40, 9);

  function moonsLikeModel(): Model {
    // the moons tutorial's loss: summed cross-entropy plus lambda/2 * sum of squared weights
    return Model.define(
      (b) => {
        const x = b.input("x", ["N", 2]);
        const y = b.input("y", ["N", 2]);
        const logits = mlp(b, x, [2, 3, 2], {
          activation: "tanh",
          outputActivation: "identity",
          weightInit: init.scaledNormal(),
          biasInit: init.zeros(),
        });
        const loss = b.add(
          softmaxCrossEntropy(b, logits, y, { reduction: "sum" }),
          l2Penalty(b, weightsOf(b), 0.01),
        );
        return { input: x, target: y, predictions: b.softmax(logits), loss };
      },
      { seed: 0, dtype: "float64", lossReduction: "sum" },
    );
  }

  it("gd equals a manual loop of full-batch steps", () => {
    const a = moonsLikeModel();
    const { history } = fitFullBatch(a, data, { method: "gd", lr: 0.01, maxIter: 50 });
    expect(history.loss).toHaveLength(50);
    const b = moonsLikeModel();
    const opt = sgd({ lr: 0.01 });
    for (let i = 0; i < 50; i++) b.trainStep(data.x, data.y, opt);
    expect(sameParams(a, b)).toBe(true);
    expect(history.loss[49]!).toBeLessThan(history.loss[0]!);
  });

  it("lbfgs and cg minimise the loss; callbacks may stop them", () => {
    for (const method of ["lbfgs", "cg"] as const) {
      const m = moonsLikeModel();
      const start = m.evaluate(data.x, data.y).loss;
      const { history, result } = fitFullBatch(m, data, { method, maxIter: 60, metrics: ["accuracy"] });
      expect(result).not.toBeNull();
      const end = m.evaluate(data.x, data.y, { metrics: ["accuracy"] });
      expect(end.loss).toBeLessThan(start / 2);
      expect(end.loss).toBeCloseTo(result!.f, 10);
      expect(history.loss.length).toBe(result!.iterations);
      expect(history.metrics.accuracy).toHaveLength(result!.iterations);
      expect(end.accuracy).toBeGreaterThan(0.9);
    }
    const { history } = fitFullBatch(moonsLikeModel(), data, {
      method: "lbfgs",
      maxIter: 60,
      callbacks: { onEpochEnd: (i) => i < 4 },
    });
    expect(history.epochs).toBe(5);
    expect(history.stoppedEarly).toBe(true);
  });

  it("fitFullBatch gd stops at a non-finite loss and keeps the last finite params", () => {
    const model = moonsLikeModel();
    const start = moonsLikeModel();
    const err = thrown(() =>
      fitFullBatch(model, data, { method: "gd", lr: 1e308, maxIter: 50 }),
    ) as NonFiniteLossError;
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect(err.message).toMatch(/^fitFullBatch: non-finite/);
    expect(err.epochsKept).toBe(0);
    expect(allFinite(model)).toBe(true);
    expect(sameParams(model, start)).toBe(true);
    expect(err.history.epochs).toBe(0);
  });

  it("requires lr for gd", () => {
    expect(() => fitFullBatch(moonsLikeModel(), data, { method: "gd" })).toThrow(/needs lr/);
  });
});

describe("the quadratic-cost sigmoid network of the tutorials trains with fit", () => {
  it("column convention (Nielsen) with mean reduction learns blobs", () => {
    const model = Model.define(
      (b) => {
        const a = b.input("x", [2, "N"]);
        const y = b.input("y", [2, "N"]);
        const out = mlp(b, a, [2, 5, 2], {
          convention: "column",
          weightInit: init.normal(),
          biasInit: init.normal(),
        });
        return { input: a, target: y, predictions: out, loss: quadratic(b, out, y, { axis: 0 }) };
      },
      { seed: 1 },
    );
    const data = blobs(100, 4);
    const { history } = fit(model, data, {
      optimizer: sgd({ lr: 3 }),
      epochs: 10,
      batchSize: 10,
      metrics: ["accuracy"],
    });
    expect(history.metrics.accuracy![9]!).toBeGreaterThan(0.9);
  });
});

/** An optimizer that steps like `inner` but fills every param with NaN after its `at`-th step. */
function breaksAt(at: number, inner: GradientStep): GradientStep & { steps: number } {
  const o = {
    steps: 0,
    step(params: Parameters<GradientStep["step"]>[0], grads: Parameters<GradientStep["step"]>[1]) {
      inner.step(params, grads);
      if (++o.steps === at) for (const name of params.names()) params.get(name).data.fill(Number.NaN);
    },
  };
  return o;
}

function allFinite(m: Model): boolean {
  for (const name of m.params.names())
    for (const v of m.params.get(name).data) if (!Number.isFinite(v)) return false;
  return true;
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

describe("non-finite losses and stopped epochs", () => {
  // 60 rows in batches of 10: 6 batches per epoch
  const data = blobs(60, 1);
  const opts = { epochs: 5, batchSize: 10, seed: 3, metrics: ["accuracy" as const] };
  const afterEpochs = (k: number) => {
    const m = smallModel(2);
    if (k > 0) fit(m, data, { ...opts, optimizer: sgd({ lr: 0.1 }), epochs: k });
    return m;
  };

  it("fit stops at the first non-finite batch loss with a NonFiniteLossError naming epoch and batch", () => {
    const model = smallModel(2);
    // step 9 is batch 3 of epoch 2 (1-based); its NaN params give batch 4 a NaN loss
    const e = thrown(() => fit(model, data, { ...opts, optimizer: breaksAt(9, sgd({ lr: 0.1 })) }));
    expect(e).toBeInstanceOf(NonFiniteLossError);
    const err = e as NonFiniteLossError;
    expect(err.name).toBe("NonFiniteLossError");
    expect(err.epoch).toBe(1);
    expect(err.batch).toBe(3);
    expect(err.batches).toBe(6);
    expect(err.step).toBe(10);
    expect(err.source).toBe("batch");
    expect(Number.isNaN(err.value)).toBe(true);
    expect(err.message).toMatch(/non-finite loss \(NaN\) in epoch 2\/5, batch 4\/6 \(step 10\)/);
    // the params were rolled back to the last finite checkpoint: the end of epoch 1
    expect(err.epochsKept).toBe(1);
    expect(err.message).toMatch(/rolled back to the end of epoch 1/);
    expect(allFinite(model)).toBe(true);
    expect(sameParams(model, afterEpochs(1))).toBe(true);
    expect(err.history.epochs).toBe(1);
    expect(err.history.loss).toHaveLength(1);
    expect(err.history.stoppedEarly).toBe(true);
  });

  it("a step that breaks the params at the end of an epoch is caught before the epoch is recorded", () => {
    const model = smallModel(2);
    const err = thrown(() =>
      fit(model, data, { ...opts, optimizer: breaksAt(12, sgd({ lr: 0.1 })) }),
    ) as NonFiniteLossError;
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect(err.source).toBe("params");
    expect(err.message).toMatch(/non-finite params after epoch 2\/5, batch 6\/6 \(step 12\)/);
    expect(err.epoch).toBe(1);
    expect(err.batch).toBe(5);
    expect(err.epochsKept).toBe(1);
    expect(sameParams(model, afterEpochs(1))).toBe(true);
    expect(err.history.epochs).toBe(1);

    // in the first epoch there is nothing to roll back to but the initial params
    const first = smallModel(2);
    const e0 = thrown(() =>
      fit(first, data, { ...opts, optimizer: breaksAt(2, sgd({ lr: 0.1 })) }),
    ) as NonFiniteLossError;
    expect(e0.epochsKept).toBe(0);
    expect(e0.message).toMatch(/rolled back to the initial params/);
    expect(sameParams(first, afterEpochs(0))).toBe(true);
    expect(e0.history.epochs).toBe(0);
  });

  it("stopOnNonFinite: false trains on through NaN (the old behaviour)", () => {
    const { history } = fit(smallModel(2), data, {
      ...opts,
      optimizer: breaksAt(9, sgd({ lr: 0.1 })),
      stopOnNonFinite: false,
    });
    expect(history.epochs).toBe(5);
    expect(Number.isNaN(history.loss[1]!)).toBe(true);
  });

  it("a stop in mid-epoch can roll the params back to the end of the last complete epoch", () => {
    const model = smallModel(2);
    let batches = 0;
    const { history } = fit(model, data, {
      ...opts,
      optimizer: sgd({ lr: 0.1 }),
      rollbackPartialEpoch: true,
      callbacks: { onBatchEnd: () => ++batches < 8 },
    });
    expect(history.epochs).toBe(1);
    expect(history.partialEpoch).toEqual({ epoch: 1, batchesDone: 2, batches: 6, rolledBack: true });
    expect(sameParams(model, afterEpochs(1))).toBe(true);
    // a stop after the last batch of an epoch ends a complete epoch: nothing is partial
    batches = 0;
    const full = fit(smallModel(2), data, {
      ...opts,
      optimizer: sgd({ lr: 0.1 }),
      rollbackPartialEpoch: true,
      callbacks: { onBatchEnd: () => ++batches < 12 },
    });
    expect(full.history.epochs).toBe(2);
    expect(full.history.partialEpoch).toBeNull();
    expect(sameParams(full.model, afterEpochs(2))).toBe(true);
  });
});

describe("trainMiniBatch (the presets' loop)", () => {
  const data = blobs(60, 1);
  const run = (model: Model, optimizer: GradientStep, stopAfter = Number.POSITIVE_INFINITY) => {
    const signal = { stopped: false };
    let steps = 0;
    return trainMiniBatch({
      model,
      x: data.x,
      y: data.y,
      epochs: 4,
      batchSize: 10,
      optimizer,
      order: () => null,
      trackAccuracy: true,
      hooks: {
        signal,
        onBatchEnd: () => {
          if (++steps >= stopAfter) signal.stopped = true;
        },
      },
      stage: "",
    });
  };

  it("rolls a stopped epoch back, so the params are those of the epochs it reports", async () => {
    const ref = smallModel(2);
    await run(ref, sgd({ lr: 0.1 }), 6);
    const model = smallModel(2);
    const { history, stopped, nonFinite } = await run(model, sgd({ lr: 0.1 }), 9);
    expect(stopped).toBe(true);
    expect(nonFinite).toBeNull();
    expect(history.epochs).toBe(1);
    expect(history.partialEpoch).toEqual({ epoch: 1, batchesDone: 3, batches: 6, rolledBack: true });
    expect(sameParams(model, ref)).toBe(true);
    // a stop on the last batch of an epoch completes (and records) that epoch
    const whole = smallModel(2);
    const r = await run(whole, sgd({ lr: 0.1 }), 6);
    expect(r.history.epochs).toBe(1);
    expect(r.history.partialEpoch).toBeNull();
  });

  it("returns a NonFiniteLossError and the last finite params at a non-finite loss", async () => {
    const ref = smallModel(2);
    await run(ref, sgd({ lr: 0.1 }), 6);
    const model = smallModel(2);
    const { history, stopped, nonFinite } = await run(model, breaksAt(8, sgd({ lr: 0.1 })));
    expect(stopped).toBe(true);
    expect(nonFinite).toBeInstanceOf(NonFiniteLossError);
    expect(nonFinite!.epoch).toBe(1);
    expect(nonFinite!.batch).toBe(2);
    expect(nonFinite!.epochsKept).toBe(1);
    expect(history.epochs).toBe(1);
    expect(sameParams(model, ref)).toBe(true);
  });
});
