/**
 * A small model trained through a user-defined op: softplus with its own (hand-written, not
 * generated) kernel and VJP rule, used as a layer activation; and saved/loaded with it.
 */
import { defineOp, type Kernel, undefineOp } from "@gradgraph/core";
import { makeMoons } from "@gradgraph/datasets";
import { describe, expect, it } from "vitest";
import {
  adam,
  dense,
  deserializeModel,
  fit,
  Model,
  ModelFileError,
  mlp,
  serializeModel,
  softmaxCrossEntropy,
} from "../src/index.js";

let kernelRuns = 0;

/** softplus(x) = log(1 + exp(x)), computed stably, by a kernel of our own. */
const defineSoftplus = () =>
  defineOp({
    name: "models.softplus",
    doc: "log(1 + exp(x)), computed stably (a hand-written kernel).",
    arity: 1,
    shape: ([x]) => x!,
    kernel: (ctx): Kernel => {
      if (ctx.inShapes[0]!.join() !== ctx.outShape.join()) throw new Error("softplus: shape mismatch");
      return (ins, out) => {
        kernelRuns++;
        const x = ins[0]!;
        for (let i = 0; i < out.length; i++) {
          const v = x[i]!;
          out[i] = Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
        }
      };
    },
    vjp: ({ b, g, x }) => [b.mul(g, b.sigmoid(x[0]!))],
  });
const softplus = defineSoftplus();

function moonsModel(seed = 1): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const h = dense(b, x, 16, { name: "h", activation: softplus });
      const logits = dense(b, h, 2, { name: "out" });
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed, dtype: "float32" },
  );
}

describe("training through a user op", () => {
  it("fits make_moons with a softplus layer (own kernel and VJP)", () => {
    const moons = makeMoons({ nSamples: 200, noise: 0.1, seed: 0 });
    const model = moonsModel();
    expect(model.trainingGraph.nodes.some((n) => n.op === "models.softplus")).toBe(true);
    const before = kernelRuns;
    const { history } = fit(model, moons, {
      optimizer: adam({ lr: 0.02 }),
      epochs: 150,
      batchSize: 20,
      seed: 2,
      metrics: ["accuracy"],
    });
    expect(kernelRuns - before).toBeGreaterThanOrEqual(150 * 10); // every training step ran the kernel
    const { accuracy, loss } = model.evaluate(moons.x, moons.y, { metrics: ["accuracy"] });
    expect(loss).toBeLessThan(history.loss[0]! / 2);
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it("mlp takes user ops as activations too; a shape-changing function is refused", () => {
    const model = Model.define((b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 1]);
      const out = mlp(b, x, [2, 4, 1], { activation: [softplus, "sigmoid"] });
      return { input: x, target: y, predictions: out, loss: out.sub(y).square().mean() };
    });
    expect(model.graph.nodes.filter((n) => n.op === "models.softplus")).toHaveLength(1);
    expect(() =>
      Model.define((b) => {
        const x = b.input("x", ["N", 2]);
        const h = dense(b, x, 3, { activation: (b, z) => b.sum(z, 1) });
        return { input: x, target: b.input("y", ["N"]), predictions: h, loss: h.sum() };
      }),
    ).toThrow(
      /activation 'activation' changed the shape \[N,3\] to \[N\]; an activation must keep its input's shape/,
    );
  });

  it("saves and loads with the op registered; a reader without it is told which op and node", () => {
    const model = moonsModel(3);
    const bytes = serializeModel({ graph: model.graph, params: model.params });
    const loaded = deserializeModel(bytes);
    expect(loaded.graph).toEqual(model.graph);
    const node = model.graph.nodes.find((n) => n.op === "models.softplus")!;
    undefineOp(softplus);
    try {
      let error: unknown;
      try {
        deserializeModel(bytes, { fileName: "moons.ggm" });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ModelFileError);
      expect((error as ModelFileError).code).toBe("manifest");
      expect((error as Error).message).toContain(
        `moons.ggm: invalid manifest: the graph is invalid: invalid graph JSON: node #${node.id}${node.name ? ` '${node.name}'` : ""} has unknown op "models.softplus"`,
      );
    } finally {
      defineSoftplus(); // as a reader that registers it would
    }
  });
});
