/**
 * Issue 9, defect 1: training must give bit-identical results with worker threads, whatever their
 * start-up timing. Each run starts a fresh pool and trains at once, while workers are still
 * starting, and compares the final loss and every weight with a single-threaded run.
 */
import { Rng, Tensor, wasmBackend } from "@gradgraph/core";
import { disableThreads, enableThreads } from "@gradgraph/core/node";
import { afterAll, describe, expect, it } from "vitest";
import { fit } from "../src/fit.js";
import { mlp } from "../src/layers.js";
import { softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { sgd } from "../src/optim/index.js";

const runs = Number(process.env.GRADGRAPH_THREAD_STRESS_RUNS ?? 3);

function data(n: number): { x: Tensor; y: Uint8Array } {
  const rng = new Rng(1);
  const x = Tensor.zeros([n, 784], "float32");
  rng.fillUniform(x.data, 0, 1);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) y[i] = (i * 7) % 10;
  return { x, y };
}

/** Trains a 784-256-256-10 relu net for one epoch; returns the final loss and all weights. */
function train(d: { x: Tensor; y: Uint8Array }): { loss: number; weights: number[] } {
  const model = Model.define(
    (b) => {
      const x = b.input("x", ["N", 784]);
      const y = b.input("y", ["N", 10]);
      const logits = mlp(b, x, [784, 256, 256, 10], { activation: "relu", outputActivation: "identity" });
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed: 0 },
  );
  const { history } = fit(model, d, {
    optimizer: sgd({ lr: 0.01 }),
    epochs: 1,
    batchSize: 128,
    shuffle: true,
    seed: 3,
  });
  const weights: number[] = [];
  for (const name of model.params.names()) for (const w of model.params.get(name).data) weights.push(w);
  return { loss: history.loss.at(-1)!, weights };
}

describe.skipIf(!wasmBackend())("training with worker threads", () => {
  afterAll(() => disableThreads());

  it(`is bit-identical to one thread when training starts before the workers do (2-5 workers, ${runs} starts each)`, () => {
    const d = data(1024);
    const reference = train(d);
    for (let workers = 2; workers <= 5; workers++) {
      for (let run = 0; run < runs; run++) {
        enableThreads(workers);
        const got = train(d);
        disableThreads();
        expect(got.loss, `${workers} workers, start ${run}`).toBe(reference.loss);
        expect(
          got.weights.every((w, i) => Object.is(w, reference.weights[i])),
          `${workers} workers, start ${run}: weights`,
        ).toBe(true);
      }
    }
  });
});
