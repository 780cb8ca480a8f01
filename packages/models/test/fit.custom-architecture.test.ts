/**
 * A custom architecture that is not one of the presets, trained with public API calls only:
 * 2-16-16-2 with mixed activations (relu, then tanh, then softmax through the loss) and Adam on
 * make_moons(200, noise 0.2).
 */
import { makeMoons } from "@gradgraph/datasets";
import { describe, expect, it } from "vitest";
import { adam, dense, fit, init, Model, softmaxCrossEntropy } from "../src/index.js";

describe("custom 2-16-16-2 network on moons", () => {
  it("reaches >= 0.95 training accuracy with Adam", () => {
    const moons = makeMoons({ nSamples: 200, noise: 0.2, seed: 0 });
    const model = Model.define(
      (b) => {
        const x = b.input("x", ["N", 2]);
        const y = b.input("y", ["N", 2]);
        const h1 = dense(b, x, 16, { name: "h1", activation: "relu", weightInit: init.scaledNormal() });
        const h2 = dense(b, h1, 16, { name: "h2", activation: "tanh" });
        const logits = dense(b, h2, 2, { name: "out" });
        return {
          input: x,
          target: y,
          predictions: b.softmax(logits), // a raw builder op
          loss: softmaxCrossEntropy(b, logits, y),
        };
      },
      { seed: 1 },
    );
    const { history } = fit(model, moons, {
      optimizer: adam({ lr: 0.01 }),
      epochs: 150,
      batchSize: 20,
      seed: 2,
      metrics: ["accuracy"],
    });
    expect(history.epochs).toBe(150);
    const { accuracy, loss } = model.evaluate(moons.x, moons.y, { metrics: ["accuracy"] });
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
    expect(loss).toBeLessThan(history.loss[0]!);
  });
});
