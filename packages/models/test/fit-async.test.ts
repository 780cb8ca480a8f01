import { fcParameters } from "@gradgraph/autograd/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Callback, modelCheckpoint } from "../src/callbacks.js";
import { batchNorm, dropout } from "../src/cnn.js";
import { type FitOptions, fit, fitAsync, NonFiniteLossError } from "../src/fit.js";
import { dense } from "../src/layers.js";
import { softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { adam, sgd } from "../src/optim/index.js";
import { blobs } from "./helpers/blobs.js";

function smallModel(seed = 0, hidden = 4, rate = 0): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const h = b.tanh(batchNorm(b, dense(b, x, hidden), { name: "bn" }));
      const logits = dense(b, rate > 0 ? dropout(b, h, rate) : h, 2);
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed, dtype: "float64" },
  );
}

function paramBits(m: Model): Record<string, number[]> {
  return Object.fromEntries(m.params.names().map((n) => [n, Array.from(m.params.get(n).data)]));
}

/** Records every callback call with its arguments (batch logs copied: the object is reused). */
function recorder(): { cb: Callback; calls: string[] } {
  const calls: string[] = [];
  const cb: Callback = {
    onTrainBegin: (ctx) => calls.push(`trainBegin ${JSON.stringify(ctx.run)}`),
    onEpochBegin: (e) => calls.push(`epochBegin ${e}`),
    onBatchEnd: (b, logs) => {
      calls.push(`batch ${b} ${JSON.stringify(logs)}`);
    },
    onEpochEnd: (e, logs) => {
      calls.push(`epochEnd ${e} ${JSON.stringify(logs)}`);
    },
    onTrainEnd: (ctx) => calls.push(`trainEnd ${ctx.history.epochs} ${ctx.stopRequested}`),
  };
  return { cb, calls };
}

describe("fitAsync", () => {
  const data = blobs(50, 1);
  const val = blobs(20, 2);

  it("gives fit's params, history and callback calls bit for bit (random options)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batchSize: fc.integer({ min: 1, max: 60 }),
          epochs: fc.integer({ min: 0, max: 4 }),
          seed: fc.integer({ min: 0, max: 1000 }),
          shuffle: fc.boolean(),
          dropLast: fc.boolean(),
          dropout: fc.constantFrom(0, 0.3),
          adam: fc.boolean(),
          yieldEveryMs: fc.constantFrom(0, 1, 16),
        }),
        async (o) => {
          const options = (cb: Callback): FitOptions => ({
            optimizer: o.adam ? adam({ lr: 0.01 }) : sgd({ lr: 0.1 }),
            epochs: o.epochs,
            batchSize: o.batchSize,
            seed: o.seed,
            shuffle: o.shuffle,
            dropLast: o.dropLast && o.batchSize <= 50,
            metrics: ["accuracy"],
            validation: val,
            callbacks: cb,
          });
          const a = smallModel(3, 4, o.dropout);
          const ra = recorder();
          const syncResult = fit(a, data, options(ra.cb));
          const b = smallModel(3, 4, o.dropout);
          const rb = recorder();
          const asyncResult = await fitAsync(b, data, { ...options(rb.cb), yieldEveryMs: o.yieldEveryMs });
          expect(paramBits(b)).toEqual(paramBits(a));
          expect(asyncResult.history.logs).toEqual(syncResult.history.logs);
          expect(asyncResult.history.steps).toBe(syncResult.history.steps);
          expect(b.trainingSteps).toBe(a.trainingSteps);
          expect(rb.calls).toEqual(ra.calls);
        },
      ),
      fcParameters({ numRuns: 12 }),
    );
  });

  it("yields to the event loop: a timer set before it starts fires while it trains", async () => {
    const model = smallModel(0, 16);
    const big = blobs(400, 5);
    let firedAtStep = -1;
    let steps = 0;
    setTimeout(() => {
      firedAtStep = steps;
    }, 0);
    const { history } = await fitAsync(model, big, {
      optimizer: sgd({ lr: 0.05 }),
      epochs: 30,
      batchSize: 1,
      yieldEveryMs: 5,
      callbacks: {
        onBatchEnd: (_b, logs) => {
          steps = logs.step;
        },
      },
    });
    expect(history.steps).toBe(30 * 400);
    expect(firedAtStep).toBeGreaterThan(0);
    expect(firedAtStep).toBeLessThan(history.steps);
  });

  it("abort mid-epoch stops after the current batch, rejects with the reason and leaves consistent params", async () => {
    const model = smallModel(0, 8);
    const controller = new AbortController();
    const reason = new Error("stop pressed");
    let abortedAt = -1;
    let batchesAfter = 0;
    let trainEnd = 0;
    const epochsSeen: number[] = [];
    const p = fitAsync(model, data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 1000,
      batchSize: 5,
      yieldEveryMs: 0,
      signal: controller.signal,
      callbacks: {
        onBatchEnd: (_b, logs) => {
          if (abortedAt >= 0) batchesAfter++;
          // abort in the middle of the third epoch, from a timer (as a button would)
          if (logs.epoch === 2 && logs.batch === 4 && abortedAt < 0)
            setTimeout(() => {
              abortedAt = logs.step;
              controller.abort(reason);
            }, 0);
        },
        onEpochEnd: (e) => void epochsSeen.push(e),
        onTrainEnd: () => void trainEnd++,
      },
    });
    await expect(p).rejects.toBe(reason);
    expect(abortedAt).toBeGreaterThan(0);
    // yieldEveryMs 0: the abort is seen right after the batch that was running
    expect(batchesAfter).toBeLessThanOrEqual(1);
    expect(trainEnd).toBe(1);
    // the params are those of a synchronous run stopped after the same number of steps
    const steps = model.trainingSteps;
    expect(steps).toBeGreaterThanOrEqual(abortedAt);
    expect(steps).toBeLessThanOrEqual(abortedAt + 1);
    // every complete epoch (10 batches) was ended, the one under way was not
    expect(epochsSeen).toEqual(Array.from({ length: Math.floor(steps / 10) }, (_, i) => i));
    const ref = smallModel(0, 8);
    fit(ref, data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 1000,
      batchSize: 5,
      callbacks: { onBatchEnd: (_b, logs) => (logs.step === steps ? false : undefined) },
    });
    expect(ref.trainingSteps).toBe(steps);
    expect(paramBits(model)).toEqual(paramBits(ref));
  });

  it("abort from a callback stops after its batch; with rollbackPartialEpoch it leaves the params of the last complete epoch", async () => {
    const model = smallModel(0, 8);
    const controller = new AbortController();
    const ckpt = modelCheckpoint({ saveBestOnly: false });
    let seen = 0;
    const p = fitAsync(model, data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 1000,
      batchSize: 5,
      yieldEveryMs: 0,
      rollbackPartialEpoch: true,
      signal: controller.signal,
      callbacks: [
        ckpt,
        {
          onBatchEnd: (_b, logs) => {
            // an abort from inside a callback is seen right after its batch
            if (++seen === 23) controller.abort();
            expect(logs.step).toBe(seen);
          },
        },
      ],
    });
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe("AbortError");
    expect(seen).toBe(23);
    expect(model.trainingSteps).toBe(23);
    expect(ckpt.checkpoint?.epoch).toBe(1);
    expect(paramBits(model)).toEqual(
      Object.fromEntries(
        ckpt.checkpoint!.params.names().map((n) => [n, Array.from(ckpt.checkpoint!.params.get(n).data)]),
      ),
    );
  });

  it("an already aborted signal rejects before any callback; bad options reject with fit's errors", async () => {
    const controller = new AbortController();
    controller.abort(new Error("early"));
    let called = false;
    await expect(
      fitAsync(smallModel(), data, {
        optimizer: sgd({ lr: 0.1 }),
        signal: controller.signal,
        callbacks: {
          onTrainBegin: () => {
            called = true;
          },
        },
      }),
    ).rejects.toThrow("early");
    expect(called).toBe(false);
    await expect(fitAsync(smallModel(), data, { optimizer: sgd({ lr: 0.1 }), batchSize: 0 })).rejects.toThrow(
      "fitAsync: batchSize must be a positive integer, got 0",
    );
    await expect(
      fitAsync(smallModel(), data, { optimizer: sgd({ lr: 0.1 }), yieldEveryMs: Number.NaN }),
    ).rejects.toThrow("fitAsync: yieldEveryMs must be a number >= 0, got NaN");
  });

  it("a callback's stop resolves like fit, and a non-finite loss rejects with NonFiniteLossError", async () => {
    const model = smallModel();
    const { history } = await fitAsync(model, data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 10,
      batchSize: 10,
      callbacks: { onEpochEnd: (e) => e < 2 },
    });
    expect(history.epochs).toBe(3);
    expect(history.stoppedEarly).toBe(true);
    const err = await fitAsync(smallModel(), data, { optimizer: sgd({ lr: 1e300 }), epochs: 5 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect((err as NonFiniteLossError).message).toMatch(/^fitAsync: non-finite/);
  });
});
