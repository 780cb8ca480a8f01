import { GraphBuilder, GraphError, Rng, ShapeError, Tensor, type Value } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { dropout } from "../src/cnn.js";
import { fit } from "../src/fit.js";
import { deserializeModel, serializeModel } from "../src/io.js";
import { dense } from "../src/layers.js";
import { meanSquaredError, softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { adam } from "../src/optim/index.js";

function randTensor(shape: readonly number[], seed: number): Tensor {
  const t = Tensor.zeros(shape, "float64");
  new Rng(seed).fillUniform(t.data, -1, 1);
  return t;
}

/** Columns `[from, to)` of a row-major `[n, F]` tensor. */
function columns(t: Tensor, from: number, to: number): Tensor {
  const [n, F] = t.shape as [number, number];
  const out = Tensor.zeros([n, to - from], "float64");
  for (let i = 0; i < n; i++)
    for (let j = from; j < to; j++) out.data[i * (to - from) + j - from] = t.data[i * F + j]!;
  return out;
}

/** The shared body: features [N, 5] -> dense 8 tanh -> dropout -> class logits [N, 3] and a value [N, 1]. */
function body(b: GraphBuilder, features: Value): { logits: Value; value: Value } {
  const h = dropout(b, dense(b, features, 8, { name: "h", activation: "tanh" }), 0.2);
  return { logits: dense(b, h, 3, { name: "cls" }), value: dense(b, h, 1, { name: "reg" }) };
}

/** The loss of both heads: cross-entropy plus half the squared error. */
function twoHeadLoss(b: GraphBuilder, logits: Value, value: Value, y: Value, r: Value): Value {
  return b.add(
    softmaxCrossEntropy(b, logits, y),
    b.mul(b.scalar(0.5, "float64"), meanSquaredError(b, value, r)),
  );
}

/** Two feature inputs (a [N, 3], c [N, 2]), two targets (labels y, values r), two outputs. */
function multiModel(seed: number): Model {
  return Model.define(
    (b) => {
      const a = b.input("a", ["N", 3]);
      const c = b.input("c", ["N", 2]);
      const y = b.input("y", ["N", 3]);
      const r = b.input("r", ["N", 1]);
      const { logits, value } = body(b, b.concat([a, c], 1));
      return {
        input: [a, c],
        target: [y, r],
        predictions: { classes: b.softmax(logits), value },
        loss: twoHeadLoss(b, logits, value, y, r),
      };
    },
    { seed, dtype: "float64" },
  );
}

/** The same network with one input x [N, 5] and one target t [N, 4] (one-hot label, then the value). */
function singleModel(seed: number): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 5]);
      const t = b.input("t", ["N", 4]);
      const { logits, value } = body(b, x);
      const y = b.slice(t, [0, 0], [null, 3]);
      const r = b.slice(t, [0, 3], [null, 4]);
      return {
        input: x,
        target: t,
        predictions: b.softmax(logits),
        loss: twoHeadLoss(b, logits, value, y, r),
      };
    },
    { seed, dtype: "float64" },
  );
}

const n = 50;
const x = randTensor([n, 5], 1);
const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 3);
const values = randTensor([n, 1], 2);
const multiX = { a: columns(x, 0, 3), c: columns(x, 3, 5) };
const multiY = { y: labels, r: values };
/** One-hot labels and the value side by side, the single model's target. */
const joined = (() => {
  const t = Tensor.zeros([n, 4], "float64");
  for (let i = 0; i < n; i++) {
    t.data[i * 4 + labels[i]!] = 1;
    t.data[i * 4 + 3] = values.data[i]!;
  }
  return t;
})();

describe("Model with several inputs, targets and outputs", () => {
  test("names its inputs, targets and outputs, the first of each being the primary one", () => {
    const m = multiModel(0);
    expect(m.inputs).toEqual(["a", "c"]);
    expect(m.targets).toEqual(["y", "r"]);
    expect(m.outputs).toEqual(["classes", "value"]);
    expect([m.input, m.target, m.predictions]).toEqual(["a", "y", "classes"]);
    expect(m.sampleShapesByName).toEqual({
      inputs: { a: [3], c: [2] },
      targets: { y: [3], r: [1] },
      outputs: { classes: [3], value: [1] },
    });
  });

  test("fit, evaluate and predict give the bits of the same network with one input and one target", () => {
    const multi = multiModel(3);
    const single = singleModel(3);
    const options = {
      optimizer: adam({ lr: 0.01 }),
      epochs: 3,
      batchSize: 16,
      seed: 5,
      metrics: ["accuracy" as const],
    };
    const hm = fit(multi, { x: multiX, y: multiY }, options).history;
    const hs = fit(single, { x, y: joined }, { ...options, optimizer: adam({ lr: 0.01 }) }).history;
    expect(hm.loss).toEqual(hs.loss);
    expect(hm.loss[2]!).toBeLessThan(hm.loss[0]!);
    for (const p of single.params.names())
      expect(multi.params.get(p).data).toEqual(single.params.get(p).data);
    const em = multi.evaluate(multiX, multiY, { metrics: ["accuracy"] });
    const es = single.evaluate(x, joined, { metrics: ["accuracy"] });
    expect(em).toEqual(es);
    expect(multi.predict(multiX).data).toEqual(single.predict(x).data);
    // the value head, computed by hand from the trained params (dropout is off in prediction)
    const outs = multi.predictOutputs(multiX);
    expect(Object.keys(outs)).toEqual(["classes", "value"]);
    expect(outs.classes!.data).toEqual(multi.predict(multiX).data);
    const W = (p: string) => multi.params.get(p).data;
    for (const i of [0, 17, 49]) {
      let v = W("reg/b")[0]!;
      for (let k = 0; k < 8; k++) {
        let z = W("h/b")[k]!;
        for (let f = 0; f < 5; f++) z += x.data[i * 5 + f]! * W("h/W")[f * 8 + k]!;
        v += Math.tanh(z) * W("reg/W")[k]!;
      }
      expect(outs.value!.data[i]).toBeCloseTo(v, 12);
    }
    // a one-input model also takes its features keyed by name
    expect(single.predict({ x }).data).toEqual(single.predict(x).data);
  });

  test("trainStep and chunked evaluation take keyed data; a saved model reloads with its names", () => {
    const m = multiModel(1);
    const loss = m.trainStep(
      { a: columns(multiX.a, 0, 3), c: multiX.c },
      { y: labels, r: values },
      adam({ lr: 0.01 }),
    );
    expect(Number.isFinite(loss)).toBe(true);
    const whole = m.evaluate(multiX, multiY);
    const chunked = m.evaluate(multiX, multiY, { batchSize: 7 });
    expect(chunked.loss).toBeCloseTo(whole.loss, 12);
    const saved = deserializeModel(serializeModel(m));
    const back = new Model(saved.graph, {
      params: saved.params,
      input: ["a", "c"],
      target: ["y", "r"],
      predictions: ["classes", "value"],
    });
    expect(back.predictOutputs(multiX)).toEqual(m.predictOutputs(multiX));
  });

  test("data that does not fit is a clear error naming the input", () => {
    const m = multiModel(0);
    expect(() => m.predict(x)).toThrow(
      /2 feature inputs \(a, c\); give the features as tensors keyed by input name/,
    );
    expect(() => m.predict({ a: multiX.a })).toThrow(/no feature input 'c' \(given: a\)/);
    expect(() => m.predict({ ...multiX, b: x })).toThrow(
      /'b', which is not a feature input of the model \(a, c\)/,
    );
    expect(() => m.predict({ a: multiX.a, c: randTensor([n - 1, 2], 0) })).toThrow(ShapeError);
    expect(() => m.predict({ a: multiX.a, c: randTensor([n - 1, 2], 0) })).toThrow(
      /features 'c' has 49 samples/,
    );
    expect(() => m.predict({ a: multiX.a, c: randTensor([n, 3], 0) })).toThrow(
      /input 'c' takes 2 per sample/,
    );
    expect(() => m.evaluate(multiX, labels)).toThrow(
      /2 targets \(y, r\); give the targets keyed by target name/,
    );
    expect(() => m.evaluate(multiX, { y: labels, r: randTensor([n, 2], 0) })).toThrow(
      /targets 'r' has shape \[50,2\] but target 'r' takes 1 values per sample/,
    );
  });

  test("the constructor refuses graph inputs it would not feed, names given twice and batch dims that differ", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const a = b.input("a", ["N", 2]);
    const mask = b.input("mask", ["N", 2]);
    const y = b.input("y", ["N", 2]);
    const p = b.mul(a, mask);
    b.output("predictions", p);
    b.output("loss", meanSquaredError(b, p, y));
    const g = b.build();
    expect(() => new Model(g, { input: "a" })).toThrow(GraphError);
    expect(() => new Model(g, { input: "a" })).toThrow(
      /graph input 'mask' is neither a feature input \(a\) nor a target \(y\)/,
    );
    expect(() => new Model(g, { input: ["a", "mask", "a"] })).toThrow(/named twice/);
    expect(new Model(g, { input: ["a", "mask"] }).inputs).toEqual(["a", "mask"]);

    const b2 = new GraphBuilder({ dtype: "float64" });
    const u = b2.input("u", ["N", 2]);
    const v = b2.input("v", ["M", 2]);
    const t = b2.input("y", ["N", 2]);
    const q = b2.add(u, b2.sum(v, 0, true));
    b2.output("predictions", q);
    b2.output("loss", meanSquaredError(b2, q, t));
    expect(() => new Model(b2.build(), { input: ["u", "v"] })).toThrow(
      /input 'v' has shape \[M,2\], whose batch dim is not N/,
    );
  });
});
