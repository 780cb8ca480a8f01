import { Rng, Tensor, wasmBackend } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { fit } from "../src/fit.js";
import { mlp } from "../src/layers.js";
import { softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { sgd } from "../src/optim/index.js";

describe("fit's kernel arena memory", () => {
  it("does not grow with repeated fit calls (the per-epoch checkpoint lives on the JS heap)", () => {
    const be = wasmBackend();
    if (!be) return; // pure-JS runtime: nothing to measure
    const model = Model.define(
      (b) => {
        const x = b.input("x", ["N", 20]);
        const y = b.input("y", ["N", 3]);
        const logits = mlp(b, x, [20, 50, 3], { activation: "relu", outputActivation: "identity" });
        return {
          input: x,
          target: y,
          predictions: b.softmax(logits),
          loss: softmaxCrossEntropy(b, logits, y),
        };
      },
      { seed: 1 },
    );
    const rng = new Rng(2);
    const x = Tensor.zeros([300, 20]);
    rng.fillNormal(x.data);
    const y = Uint8Array.from({ length: 300 }, (_, i) => i % 3);
    const run = () =>
      fit(model, { x, y }, { optimizer: sgd({ lr: 0.01 }), epochs: 2, batchSize: 32, validation: { x, y } });
    run();
    const before = be.bytesInUse;
    for (let k = 0; k < 20; k++) run();
    expect(be.bytesInUse).toBe(before);
  });
});
