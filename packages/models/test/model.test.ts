import { GraphBuilder, ParamStore, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { init } from "../src/init.js";
import { dense, mlp } from "../src/layers.js";
import { quadratic, softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { adam, sgd } from "../src/optim/index.js";
import { sampledAllocation } from "./helpers/allocation.js";

const XOR_X = Tensor.from([
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
]);
const XOR_LABELS = new Uint8Array([0, 1, 1, 0]);

function xorModel(seed = 0, dtype: "float32" | "float64" = "float64"): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const logits = mlp(b, x, [2, 8, 2], { activation: "tanh", outputActivation: "identity" });
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed, dtype },
  );
}

function randData(n: number, f: number, seed: number): Tensor {
  const t = Tensor.zeros([n, f], "float64");
  new Rng(seed).fillUniform(t.data, -1, 1);
  return t;
}

function transpose2(t: Tensor): Tensor {
  const [r, c] = t.shape as [number, number];
  const out = Tensor.zeros([c, r], t.dtype);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = t.data[i * c + j]!;
  return out;
}

describe("Model", () => {
  it("learns XOR with trainStep", () => {
    const model = xorModel(3);
    const opt = adam({ lr: 0.05 });
    const first = model.evaluate(XOR_X, XOR_LABELS).loss;
    let last = first;
    for (let i = 0; i < 300; i++) last = model.trainStep(XOR_X, XOR_LABELS, opt);
    expect(last).toBeLessThan(first / 10);
    const r = model.evaluate(XOR_X, XOR_LABELS, { metrics: ["accuracy"] });
    expect(r.accuracy).toBe(1);
    const p = model.predict(XOR_X);
    expect(p.shape).toEqual([4, 2]);
    expect([0, 1, 2, 3].map((i) => (p.get(i, 1) > p.get(i, 0) ? 1 : 0))).toEqual([0, 1, 1, 0]);
  });

  it("labels and one-hot targets give the same loss; chunked evaluation matches", () => {
    const model = xorModel(1);
    const onehot = Tensor.from([
      [1, 0],
      [0, 1],
      [0, 1],
      [1, 0],
    ]);
    const a = model.evaluate(XOR_X, XOR_LABELS, { metrics: ["accuracy"] });
    const b = model.evaluate(XOR_X, onehot, { metrics: ["accuracy"] });
    const c = model.evaluate(XOR_X, onehot, { metrics: ["accuracy"], batchSize: 3 });
    expect(b.loss).toBe(a.loss);
    expect(b.accuracy).toBe(a.accuracy);
    expect(c.loss).toBeCloseTo(a.loss, 12);
    expect(c.accuracy).toBe(a.accuracy);
  });

  it("custom metrics see sample-major predictions", () => {
    const model = xorModel(1);
    const r = model.evaluate(XOR_X, XOR_LABELS, {
      metrics: [{ name: "rows", compute: (p) => p.shape[0]! * 10 + p.shape[1]! }],
    });
    expect(r.rows).toBe(42);
  });

  it("one symbolic-batch graph serves every batch size with identical predictions", () => {
    const model = Model.define(
      (b) => {
        const x = b.input("x", ["N", 5]);
        const y = b.input("y", ["N", 3]);
        const out = mlp(b, x, [5, 7, 3], { activation: ["relu", "softmax"], biasInit: init.normal() });
        return { input: x, target: y, predictions: out, loss: quadratic(b, out, y) };
      },
      { seed: 2 },
    );
    const x = randData(23, 5, 4);
    const all = model.predict(x);
    for (const bs of [1, 4, 10, 23, 100]) {
      expect(model.predict(x, { batchSize: bs }).data).toEqual(all.data);
    }
  });

  it("column-convention models take and return sample-major data", () => {
    const row = Model.define(
      (b) => {
        const x = b.input("x", ["N", 3]);
        const y = b.input("y", ["N", 2]);
        const out = dense(b, x, 2, { name: "d", activation: "sigmoid" });
        return { input: x, target: y, predictions: out, loss: quadratic(b, out, y) };
      },
      { seed: 0, dtype: "float64" },
    );
    const col = Model.define(
      (b) => {
        const x = b.input("x", [3, "N"]);
        const y = b.input("y", [2, "N"]);
        const out = dense(b, x, 2, { name: "d", activation: "sigmoid", convention: "column" });
        return { input: x, target: y, predictions: out, loss: quadratic(b, out, y, { axis: 0 }) };
      },
      { seed: 0, dtype: "float64" },
    );
    expect(col.convention).toBe("column");
    col.params.set("d/W", transpose2(row.params.get("d/W")));
    row.params.set("d/b", Tensor.from([0.1, -0.2]));
    col.params.set("d/b", Tensor.from([[0.1], [-0.2]]));
    const x = randData(6, 3, 1);
    const labels = new Uint8Array([0, 1, 1, 0, 1, 0]);
    expect(col.predict(x).shape).toEqual([6, 2]);
    const dr = col.predict(x).data;
    const dc = row.predict(x).data;
    for (let i = 0; i < dr.length; i++) expect(dr[i]).toBeCloseTo(dc[i]!, 14);
    const er = row.evaluate(x, labels, { metrics: ["accuracy"] });
    const ec = col.evaluate(x, labels, { metrics: ["accuracy"] });
    expect(ec.loss).toBeCloseTo(er.loss, 14);
    expect(ec.accuracy).toBe(er.accuracy);
    // one training step moves both the same way
    const lr = row.trainStep(x, labels, sgd({ lr: 0.5 }));
    const lc = col.trainStep(x, labels, sgd({ lr: 0.5 }));
    expect(lc).toBeCloseTo(lr, 14);
    const wr = row.params.get("d/W");
    const wc = transpose2(col.params.get("d/W"));
    for (let i = 0; i < wr.size; i++) expect(wc.data[i]).toBeCloseTo(wr.data[i]!, 14);
  });

  it("lossAndGrad matches finite differences and setParams/getParams round-trip", () => {
    const model = xorModel(5);
    const lg = model.lossAndGrad(XOR_X, XOR_LABELS);
    expect(lg.size).toBe(model.parameterCount);
    const theta = lg.getParams();
    const g = new Float64Array(lg.size);
    const f0 = lg.fun(theta, g);
    const gg = new Float64Array(lg.size);
    const eps = 1e-6;
    for (const i of [0, 3, 7, lg.size - 1]) {
      const tp = theta.slice();
      tp[i]! += eps;
      const tm = theta.slice();
      tm[i]! -= eps;
      const fd = (lg.fun(tp, gg) - lg.fun(tm, gg)) / (2 * eps);
      expect(g[i]).toBeCloseTo(fd, 6);
    }
    lg.setParams(theta);
    expect(lg.fun(theta, gg)).toBe(f0);
    expect(lg.getParams()).toEqual(theta);
  });

  it("trains only the trainable params", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 2]);
    const y = b.input("y", ["N", 2]);
    const h = dense(b, x, 4, { name: "h", activation: "tanh" });
    const out = dense(b, h, 2, { name: "o" });
    b.output("predictions", out);
    b.output("loss", softmaxCrossEntropy(b, out, y));
    const model = new Model(b.build(), { trainable: ["o/W", "o/b"], seed: 1 });
    const before = model.params.clone();
    model.trainStep(XOR_X, XOR_LABELS, sgd({ lr: 0.1 }));
    expect(model.params.get("h/W").data).toEqual(before.get("h/W").data);
    expect(model.params.get("o/W").data).not.toEqual(before.get("o/W").data);
  });

  it("reports bad graphs and data clearly", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 2]);
    const y = b.input("y", ["N", 2]);
    const out = dense(b, x, 2);
    b.output("predictions", b.add(out, y));
    b.output("loss", b.sum(b.square(b.sub(out, y)), 1));
    const g = b.build();
    expect(() => new Model(g)).toThrow(/loss output 'loss' must be a scalar/);
    expect(() => new Model(g, { loss: "nope" })).toThrow(/no output named 'nope'/);
    const model = xorModel();
    expect(() => model.predict(Tensor.zeros([3, 5]))).toThrow(/takes 2 per sample/);
    expect(() => model.evaluate(XOR_X, new Uint8Array([0, 1]))).toThrow(/4 samples but y has 2/);
    expect(() => model.evaluate(XOR_X, new Uint8Array([0, 1, 5, 0]))).toThrow(/label 5/);
  });

  it("accepts a given ParamStore and uses it in place", () => {
    const m1 = xorModel(7);
    const store = m1.params;
    const m2 = new Model(m1.graph, { params: store });
    expect(m2.params).toBe(store);
    expect(m2.predict(XOR_X).data).toEqual(m1.predict(XOR_X).data);
  });

  it("does not allocate in trainStep (sampled allocations stay flat)", async () => {
    const model = xorModel(0, "float32");
    const opt = sgd({ lr: 0.01 });
    const x = Tensor.from([[0, 1]], { dtype: "float32" });
    const y = new Uint8Array([1]);
    for (let i = 0; i < 3000; i++) model.trainStep(x, y, opt);
    const steps = 20000;
    // The JIT may still be optimising on a loaded machine: measure up to three times and keep the
    // lowest figure (an allocation made by every step shows up in every attempt).
    let bytes = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3 && bytes / steps >= 24; attempt++) {
      bytes = Math.min(
        bytes,
        await sampledAllocation(() => {
          for (let i = 0; i < steps; i++) model.trainStep(x, y, opt);
        }),
      );
    }
    // V8 boxes the returned loss (a 16-byte HeapNumber) when trainStep is not inlined into the
    // caller; that is all. A tensor, array, closure or feeds object per step would add >= 32 bytes.
    // (fit's loop keeps the loss in a typed array and is checked to allocate nothing in fit.test.ts.)
    expect(bytes / steps).toBeLessThan(24);
  });
});

describe("ParamStore init via Model", () => {
  it("is deterministic by seed", () => {
    expect(xorModel(11).params.get("layer1/W").data).toEqual(xorModel(11).params.get("layer1/W").data);
    expect(xorModel(11).params.get("layer1/W").data).not.toEqual(xorModel(12).params.get("layer1/W").data);
    expect(new ParamStore().size).toBe(0);
  });
});
