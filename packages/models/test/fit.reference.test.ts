import { Rng, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { fit } from "../src/fit.js";
import type { Targets } from "../src/gather.js";
import { mlp } from "../src/layers.js";
import { softmaxCrossEntropy } from "../src/losses.js";
import { type GradientStep, Model } from "../src/model.js";
import { adam, momentum, sgd } from "../src/optim/index.js";

const FEATURES = 100; // above the size from which rows are copied with TypedArray.set
const CLASSES = 10;

function net(convention: "row" | "column", seed: number): Model {
  return Model.define(
    (b) => {
      const row = convention === "row";
      const x = b.input("x", row ? ["N", FEATURES] : [FEATURES, "N"]);
      const y = b.input("y", row ? ["N", CLASSES] : [CLASSES, "N"]);
      const logits = mlp(b, x, [FEATURES, 8, CLASSES], {
        activation: "tanh",
        outputActivation: "identity",
        convention,
      });
      const axis = row ? -1 : 0;
      return {
        input: x,
        target: y,
        predictions: b.softmax(logits, axis),
        loss: softmaxCrossEntropy(b, logits, y, { axis }),
      };
    },
    { seed, dtype: "float32" },
  );
}

function data(n: number, seed: number): { x: Tensor; labels: Uint8Array; onehot64: Tensor } {
  const rng = new Rng(seed);
  const labels = Uint8Array.from({ length: n }, () => Math.floor(rng.uniform(0, CLASSES)));
  const x = Tensor.zeros([n, FEATURES], "float32");
  for (let i = 0; i < n; i++)
    for (let k = 0; k < FEATURES; k++)
      x.data[i * FEATURES + k] = rng.normal(labels[i]! === k % CLASSES ? 1 : 0, 1);
  const onehot64 = Tensor.zeros([n, CLASSES], "float64");
  for (let i = 0; i < n; i++) onehot64.data[i * CLASSES + labels[i]!] = 1;
  return { x, labels, onehot64 };
}

/**
 * fit's mini-batch loop written out with element-by-element copies (the code fit used before its
 * batch copies became block copies): the same order (one seeded generator reshuffling the same
 * permutation every epoch), the same batches, one optimizer step per batch.
 */
function referenceFit(
  model: Model,
  x: Tensor,
  y: Targets,
  opt: GradientStep,
  o: { epochs: number; batchSize: number; shuffle: boolean; seed: number },
): number[] {
  const n = x.shape[0]!;
  const column = model.convention === "column";
  const rng = new Rng(o.seed);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const losses: number[] = [];
  for (let e = 0; e < o.epochs; e++) {
    if (o.shuffle) rng.shuffle(order);
    let sum = 0;
    let seen = 0;
    for (let start = 0; start < n; start += o.batchSize) {
      const count = Math.min(o.batchSize, n - start);
      const tp = model.trainingPlan(count);
      const xd = tp.x.data;
      const yd = tp.y.data;
      yd.fill(0);
      for (let i = 0; i < count; i++) {
        const r = o.shuffle ? order[start + i]! : start + i;
        for (let k = 0; k < FEATURES; k++)
          xd[column ? k * count + i : i * FEATURES + k] = x.data[r * FEATURES + k]!;
        for (let c = 0; c < CLASSES; c++) {
          const v = y instanceof Tensor ? y.data[r * CLASSES + c]! : (y as Uint8Array)[r] === c ? 1 : 0;
          yd[column ? c * count + i : i * CLASSES + c] = v;
        }
      }
      tp.plan.run();
      const l = tp.loss.data[0]!;
      opt.step(model.params, tp.grads);
      sum += l * count;
      seen += count;
    }
    losses.push(sum / seen);
  }
  return losses;
}

function bitsOf(model: Model): Map<string, Uint8Array> {
  return new Map(
    model.params.names().map((p) => [p, new Uint8Array(model.params.get(p).data.slice().buffer)]),
  );
}

describe("fit against the element-wise reference loop", () => {
  const { x, labels, onehot64 } = data(203, 11);
  const optimizers: [string, () => GradientStep][] = [
    ["sgd", () => sgd({ lr: 0.05 })],
    ["momentum", () => momentum({ lr: 0.02, momentum: 0.9 })],
    ["adam", () => adam({ lr: 0.01 })],
  ];

  for (const convention of ["row", "column"] as const) {
    for (const [targetName, y] of [
      ["labels", labels],
      ["float64 one-hot tensor", onehot64],
    ] as const) {
      for (const shuffle of [true, false]) {
        it(`gives bit-identical params and losses (${convention} convention, ${targetName}, shuffle ${shuffle})`, () => {
          for (const [, makeOpt] of optimizers) {
            const o = { epochs: 3, batchSize: 16, shuffle, seed: 7 };
            const a = net(convention, 3);
            const { history } = fit(a, { x, y }, { optimizer: makeOpt(), ...o });
            const b = net(convention, 3);
            const want = referenceFit(b, x, y, makeOpt(), o);
            expect(history.loss).toEqual(want);
            expect(bitsOf(a)).toEqual(bitsOf(b));
          }
        });
      }
    }
  }

  it("per-sample steps (batch 1) match too", () => {
    const small = data(40, 5);
    const o = { epochs: 2, batchSize: 1, shuffle: true, seed: 3 };
    const a = net("row", 1);
    const { history } = fit(a, { x: small.x, y: small.labels }, { optimizer: sgd({ lr: 0.01 }), ...o });
    const b = net("row", 1);
    expect(history.loss).toEqual(referenceFit(b, small.x, small.labels, sgd({ lr: 0.01 }), o));
    expect(bitsOf(a)).toEqual(bitsOf(b));
  });
});
