import { type GraphBuilder, Rng, Tensor, type Value, wasmBackend } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { mlp, weightsOf } from "../src/layers.js";
import { l2Penalty, quadratic, type Reduction, softmaxCrossEntropy, sumSquares } from "../src/losses.js";
import { DEFAULT_CHUNK_ROWS, Model, PLAN_CACHE_ROWS, PLAN_CACHE_SIZE } from "../src/model.js";

const N = 2500; // 2 full default chunks and a tail of 500

function data(n: number, features: number, seed: number): { x: Tensor; y: Uint8Array } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([n, features], "float64");
  for (let i = 0; i < x.size; i++) x.data[i] = rng.normal(0, 1);
  const y = Uint8Array.from({ length: n }, (_, i) => (x.data[i * features]! > 0 ? 1 : 0));
  return { x, y };
}

type Parts = { input: Value; target: Value; predictions: Value; loss: Value };

/** A 3-4-2 row-convention net with the loss `loss(b, logits, y)`. */
function rowNet(
  loss: (b: GraphBuilder, logits: Value, y: Value) => Value,
  lossReduction: Reduction = "mean",
  predictions: (b: GraphBuilder, logits: Value) => Value = (b, l) => b.softmax(l),
): Model {
  return Model.define(
    (b): Parts => {
      const x = b.input("x", ["N", 3]);
      const y = b.input("y", ["N", 2]);
      const logits = mlp(b, x, [3, 4, 2], { activation: "tanh", outputActivation: "identity" });
      return { input: x, target: y, predictions: predictions(b, logits), loss: loss(b, logits, y) };
    },
    { seed: 2, dtype: "float64", lossReduction },
  );
}

/** Evaluates with the default chunks and with one plan for all rows; checks they agree; returns the plan sizes used by default. */
function compareWithOnePlan(
  make: () => Model,
  d = data(N, 3, 1),
): { evaluation: number[]; prediction: number[] } {
  const chunked = make();
  const r = chunked.evaluate(d.x, d.y, { metrics: ["accuracy"] });
  const p = chunked.predict(d.x);
  const sizes = {
    evaluation: [...chunked.cachedPlanSizes.evaluation],
    prediction: [...chunked.cachedPlanSizes.prediction],
  };
  const one = make();
  const r1 = one.evaluate(d.x, d.y, { metrics: ["accuracy"], batchSize: N });
  const p1 = one.predict(d.x, { batchSize: N });
  expect(one.cachedPlanSizes.evaluation).toEqual([N]);
  // the predictions of a row do not depend on the rows run with it; the loss is the same sum, added
  // in another order
  expect(Array.from(p.data)).toEqual(Array.from(p1.data));
  expect(r.accuracy).toBe(r1.accuracy);
  expect(Math.abs(r.loss - r1.loss)).toBeLessThanOrEqual(1e-13 * Math.abs(r1.loss));
  return sizes;
}

describe("evaluate and predict in chunks by default", () => {
  const chunks = [DEFAULT_CHUNK_ROWS, N % DEFAULT_CHUNK_ROWS];

  it("use chunks of DEFAULT_CHUNK_ROWS for per-sample mean and sum losses", () => {
    expect(compareWithOnePlan(() => rowNet((b, l, y) => softmaxCrossEntropy(b, l, y)))).toEqual({
      evaluation: chunks,
      prediction: chunks,
    });
    const summed = () => rowNet((b, l, y) => quadratic(b, b.softmax(l), y, { reduction: "sum" }), "sum");
    expect(compareWithOnePlan(summed).evaluation).toEqual(chunks);
    // a batch-free penalty added to a mean is the same in every chunk: the weighted mean keeps it once
    const penalised = () =>
      rowNet((b, l, y) => b.add(softmaxCrossEntropy(b, l, y), l2Penalty(b, weightsOf(b), 0.3)));
    expect(compareWithOnePlan(penalised).evaluation).toEqual(chunks);
  });

  it("use chunks for the column convention (Nielsen's quadratic cost over axis 0)", () => {
    const make = () =>
      Model.define(
        (b) => {
          const x = b.input("x", [3, "N"]);
          const y = b.input("y", [2, "N"]);
          const out = mlp(b, x, [3, 5, 2], { convention: "column", activation: "sigmoid" });
          return { input: x, target: y, predictions: out, loss: quadratic(b, out, y, { axis: 0 }) };
        },
        { seed: 4, dtype: "float64" },
      );
    expect(compareWithOnePlan(make)).toEqual({ evaluation: chunks, prediction: chunks });
  });

  it("keep one plan for all rows when the chunk losses would not combine to the loss", () => {
    const cases: [string, () => Model][] = [
      // a summed loss declared as a mean: the weighted mean of chunk sums is not the sum
      [
        "sum loss, lossReduction mean",
        () => rowNet((b, l, y) => sumSquares(b, b.softmax(l), y, { reduction: "sum" })),
      ],
      // the penalty would be counted once per chunk
      [
        "sum loss plus a penalty",
        () =>
          rowNet(
            (b, l, y) =>
              b.add(softmaxCrossEntropy(b, l, y, { reduction: "sum" }), l2Penalty(b, weightsOf(b), 0.3)),
            "sum",
          ),
      ],
      // Ng's ex4: the batch size m computed in the graph scales the penalty
      [
        "penalty over the batch size computed in the graph",
        () =>
          rowNet((b, l, y) => {
            const m = b.sum(b.fill(1, [l.shape[0]!]));
            return b.add(
              softmaxCrossEntropy(b, l, y, { reduction: "sum" }),
              b.div(l2Penalty(b, weightsOf(b), 0.3), m),
            );
          }),
      ],
      // the loss mixes samples: centred over the batch
      [
        "batch-centred loss",
        () =>
          rowNet((b, l, y) => {
            const p = b.softmax(l);
            return sumSquares(b, b.sub(p, b.mean(p, 0, true)), y);
          }),
      ],
    ];
    const d = data(N, 3, 2);
    for (const [name, make] of cases) {
      const m = make();
      const r = m.evaluate(d.x, d.y);
      expect(m.cachedPlanSizes.evaluation, name).toEqual([N]);
      // exactly the one-plan result (predictions are still per sample: they may use chunks)
      expect(r.loss, name).toBe(make().evaluate(d.x, d.y, { batchSize: N }).loss);
      m.predict(d.x);
      expect(m.cachedPlanSizes.prediction, name).toEqual(chunks);
    }
  });

  it("keep one plan for predictions that mix samples", () => {
    const d = data(N, 3, 3);
    // softmax over the batch axis: each prediction depends on every row
    const m = rowNet(
      (b, l, y) => softmaxCrossEntropy(b, l, y),
      "mean",
      (b, l) => b.softmax(l, 0),
    );
    const p = m.predict(d.x);
    expect(m.cachedPlanSizes.prediction).toEqual([N]);
    m.evaluate(d.x, d.y);
    expect(m.cachedPlanSizes.evaluation).toEqual([N]);
    expect(Array.from(p.data)).toEqual(Array.from(m.predict(d.x, { batchSize: N }).data));
  });

  it("predict on no rows returns an empty tensor", () => {
    const m = rowNet((b, l, y) => softmaxCrossEntropy(b, l, y));
    expect(m.predict(Tensor.zeros([0, 3], "float64")).shape).toEqual([0, 2]);
  });
});

describe("the evaluation and prediction plan caches", () => {
  it("hold at most PLAN_CACHE_SIZE plans, dispose the ones they drop, and compile them again when asked", () => {
    const m = rowNet((b, l, y) => softmaxCrossEntropy(b, l, y));
    const d = data(64, 3, 5);
    const first = m.evaluationPlan(7);
    m.fill(first, d.x, d.y, null, 0, 7);
    first.plan.run();
    const loss7 = first.loss!.data[0]!;
    for (let bs = 1; bs <= 10; bs++) m.evaluate(d.x, d.y, { batchSize: bs });
    expect(m.cachedPlanSizes.evaluation.length).toBe(PLAN_CACHE_SIZE);
    expect(m.cachedPlanSizes.evaluation).not.toContain(7);
    expect(() => first.plan.run()).toThrow(/disposed/);
    const again = m.evaluationPlan(7);
    expect(again).not.toBe(first);
    m.fill(again, d.x, d.y, null, 0, 7);
    again.plan.run();
    expect(again.loss!.data[0]).toBe(loss7);
    for (let bs = 1; bs <= 10; bs++) m.predict(d.x, { batchSize: bs });
    expect(m.cachedPlanSizes.prediction.length).toBe(PLAN_CACHE_SIZE);
  });

  it("drop the least recently used plans beyond PLAN_CACHE_ROWS rows, keeping the two most recent", () => {
    const m = rowNet((b, l, y) => softmaxCrossEntropy(b, l, y));
    const big = PLAN_CACHE_ROWS - 1000;
    m.evaluationPlan(10);
    m.evaluationPlan(big);
    m.evaluationPlan(10); // now the most recent
    m.evaluationPlan(2000);
    expect(m.cachedPlanSizes.evaluation).toEqual([10, 2000]);
    // one plan above the budget is kept while it is one of the two most recent
    m.evaluationPlan(PLAN_CACHE_ROWS + 1);
    expect(m.cachedPlanSizes.evaluation).toEqual([2000, PLAN_CACHE_ROWS + 1]);
  });

  it("do not grow WebAssembly memory in use across evaluations of many sizes", () => {
    const be = wasmBackend();
    if (!be) return; // pure-JS runtime: nothing to measure
    const m = rowNet((b, l, y) => softmaxCrossEntropy(b, l, y));
    const d = data(3000, 3, 6);
    const cycle = () => {
      for (const bs of [3000, 1500, 700, 300, 100, 2999]) {
        m.evaluate(d.x, d.y, { batchSize: bs });
        m.predict(d.x, { batchSize: bs });
      }
    };
    cycle();
    const after1 = be.bytesInUse;
    for (let k = 0; k < 3; k++) cycle();
    expect(be.bytesInUse).toBeLessThanOrEqual(after1);
  });
});
