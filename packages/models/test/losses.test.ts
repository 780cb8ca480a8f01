import { formatGradcheckReport, grad, gradcheck } from "@gradgraph/autograd";
import { fcParameters, tensorArb } from "@gradgraph/autograd/testing";
import {
  compile,
  evaluate,
  type Graph,
  GraphBuilder,
  ParamStore,
  ShapeError,
  Tensor,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dense, weightsOf } from "../src/layers.js";
import {
  type LossOptions,
  l2Penalty,
  meanSquaredError,
  quadratic,
  sigmoidCrossEntropy,
  softmaxCrossEntropy,
  softplus,
  sumSquares,
} from "../src/losses.js";

type LossFn = (b: GraphBuilder, p: Value, t: Value, o?: LossOptions) => Value;

function lossGraph(fn: LossFn, shape: (number | string)[], options: LossOptions = {}): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const p = b.input("p", shape);
  const t = b.input("t", shape);
  b.output("loss", fn(b, p, t, options));
  return b.build();
}

function lossOf(fn: LossFn, p: number[][], t: number[][], options: LossOptions = {}): number {
  const g = lossGraph(fn, ["N", p[0]!.length], options);
  return evaluate(g, { p: Tensor.from(p), t: Tensor.from(t) }).loss!.item();
}

const P = [
  [0.2, 0.7, 0.1],
  [0.5, 0.1, 0.9],
];
const T = [
  [0, 1, 0],
  [1, 0, 0],
];
// per-sample sums of squares: 0.04+0.09+0.01 = 0.14, 0.25+0.01+0.81 = 1.07
const SS = [0.14, 1.07];

describe("losses: values", () => {
  it("quadratic = 0.5 * sum of squares per sample, sum or mean over the batch", () => {
    expect(lossOf(quadratic, P, T, { reduction: "sum" })).toBeCloseTo(0.5 * (SS[0]! + SS[1]!), 12);
    expect(lossOf(quadratic, P, T, { reduction: "mean" })).toBeCloseTo((0.5 * (SS[0]! + SS[1]!)) / 2, 12);
    expect(lossOf(quadratic, P, T)).toBeCloseTo((0.5 * (SS[0]! + SS[1]!)) / 2, 12); // default: mean
  });

  it("sumSquares and meanSquaredError", () => {
    expect(lossOf(sumSquares, P, T, { reduction: "sum" })).toBeCloseTo(SS[0]! + SS[1]!, 12);
    expect(lossOf(sumSquares, P, T)).toBeCloseTo((SS[0]! + SS[1]!) / 2, 12);
    expect(lossOf(meanSquaredError, P, T)).toBeCloseTo((SS[0]! + SS[1]!) / 6, 12);
    expect(lossOf(meanSquaredError, P, T, { reduction: "sum" })).toBeCloseTo((SS[0]! + SS[1]!) / 3, 12);
  });

  it("softmaxCrossEntropy from logits", () => {
    const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const l0 = lse(P[0]!) - P[0]![1]!;
    const l1 = lse(P[1]!) - P[1]![0]!;
    expect(lossOf(softmaxCrossEntropy, P, T, { reduction: "sum" })).toBeCloseTo(l0 + l1, 12);
    expect(lossOf(softmaxCrossEntropy, P, T)).toBeCloseTo((l0 + l1) / 2, 12);
  });

  it("sigmoidCrossEntropy summed over outputs equals Ng's formula", () => {
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    let J = 0;
    for (let i = 0; i < 2; i++) {
      for (let k = 0; k < 3; k++) {
        const h = sig(P[i]![k]!);
        const y = T[i]![k]!;
        J += -y * Math.log(h) - (1 - y) * Math.log(1 - h);
      }
    }
    expect(lossOf(sigmoidCrossEntropy, P, T, { reduction: "sum" })).toBeCloseTo(J, 12);
    expect(lossOf(sigmoidCrossEntropy, P, T)).toBeCloseTo(J / 2, 12);
  });

  it("column convention: axis 0 holds the features", () => {
    const Pt = [0, 1, 2].map((k) => [P[0]![k]!, P[1]![k]!]);
    const Tt = [0, 1, 2].map((k) => [T[0]![k]!, T[1]![k]!]);
    const b = new GraphBuilder({ dtype: "float64" });
    const p = b.input("p", [3, "N"]);
    const t = b.input("t", [3, "N"]);
    b.output("q", quadratic(b, p, t, { axis: 0 }));
    b.output("ce", softmaxCrossEntropy(b, p, t, { axis: 0, reduction: "sum" }));
    const out = evaluate(b.build(), { p: Tensor.from(Pt), t: Tensor.from(Tt) });
    expect(out.q!.item()).toBeCloseTo(lossOf(quadratic, P, T), 12);
    expect(out.ce!.item()).toBeCloseTo(lossOf(softmaxCrossEntropy, P, T, { reduction: "sum" }), 12);
  });

  it("is stable for large logits (1000)", () => {
    const big = [
      [1000, 0, -1000],
      [-1000, 1000, 0],
    ];
    const ce = lossOf(softmaxCrossEntropy, big, T, { reduction: "sum" });
    // row 0: logsumexp = 1000, target logit 0 -> 1000; row 1: logsumexp = 1000, target logit -1000 -> 2000
    expect(ce).toBeCloseTo(3000, 6);
    const sce = lossOf(sigmoidCrossEntropy, big, T, { reduction: "sum" });
    // row 0: z=1000,y=0 -> 1000; z=0,y=1 -> log 2; z=-1000,y=0 -> 0
    // row 1: z=-1000,y=1 -> 1000; z=1000,y=0 -> 1000; z=0,y=0 -> log 2
    expect(sce).toBeCloseTo(3000 + 2 * Math.LN2, 6);
    for (const fn of [softmaxCrossEntropy, sigmoidCrossEntropy]) {
      const g = grad(lossGraph(fn, [2, 3]), "loss", ["p"]);
      const d = evaluate(g, { p: Tensor.from(big), t: Tensor.from(T) })["grad:p"]!;
      for (const v of d.data) expect(Number.isFinite(v)).toBe(true);
    }
  });

  it("sigmoidCrossEntropy has the exact gradient sigmoid(z) - y at z = 0", () => {
    const g = grad(lossGraph(sigmoidCrossEntropy, [1, 2], { reduction: "sum" }), "loss", ["p"]);
    const d = evaluate(g, { p: Tensor.from([[0, 0]]), t: Tensor.from([[1, 0]]) })["grad:p"]!;
    expect(d.toArray()).toEqual([-0.5, 0.5]);
  });

  it("softplus is log(1 + exp(z)) without overflow", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    b.output("s", softplus(b, b.input("z", [4])));
    const s = evaluate(b.build(), { z: Tensor.from([-1000, -1, 0, 1000]) }).s!;
    expect(s.data[0]).toBe(0);
    expect(s.data[1]).toBeCloseTo(Math.log1p(Math.exp(-1)), 14);
    expect(s.data[2]).toBeCloseTo(Math.LN2, 14);
    expect(s.data[3]).toBe(1000);
  });

  it("l2Penalty = lambda/2 * sum of squared weights, biases excluded via weightsOf", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 2]);
    dense(b, x, 2, { name: "a" });
    dense(b, x, 2, { name: "ng", bias: "ones-first", weightLayout: "out-in" });
    b.output("pen", l2Penalty(b, weightsOf(b), 0.5));
    const g = b.build();
    const params = new ParamStore([
      [
        "a/W",
        Tensor.from([
          [1, 2],
          [3, 4],
        ]),
      ],
      ["a/b", Tensor.from([100, 100])],
      [
        "ng/W",
        Tensor.from([
          [100, 1, 1],
          [100, 1, 1],
        ]),
      ],
    ]);
    const pen = compile(g, { params }).run({}).pen!.item();
    expect(pen).toBeCloseTo((0.5 / 2) * (1 + 4 + 9 + 16 + 4), 12);
    const b2 = new GraphBuilder();
    expect(l2Penalty(b2, [], 1).shape).toEqual([]);
  });

  it("rejects mismatched shapes and bad reductions", () => {
    const b = new GraphBuilder();
    const p = b.input("p", ["N", 3]);
    const t = b.input("t", ["N", 1]);
    expect(() => quadratic(b, p, t)).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(b, p, t)).toThrow(
      /softmaxCrossEntropy: predictions \[N,3\] and targets \[N,1\]/,
    );
    expect(() => quadratic(b, p, p, { reduction: "avg" as "sum" })).toThrow(RangeError);
  });
});

describe("loss gradients (property: autograd = finite differences)", () => {
  const losses: [string, LossFn][] = [
    ["quadratic", quadratic],
    ["sumSquares", sumSquares],
    ["meanSquaredError", meanSquaredError],
    ["softmaxCrossEntropy", softmaxCrossEntropy],
    ["sigmoidCrossEntropy", sigmoidCrossEntropy],
  ];
  for (const [name, fn] of losses) {
    it(name, () => {
      const arb = fc
        .record({
          n: fc.integer({ min: 1, max: 3 }),
          k: fc.integer({ min: 1, max: 4 }),
          reduction: fc.constantFrom("sum" as const, "mean" as const),
          column: fc.boolean(),
        })
        .chain((c) => {
          const shape = c.column ? [c.k, c.n] : [c.n, c.k];
          return fc.record({
            c: fc.constant(c),
            p: tensorArb(shape, { min: -4, max: 4 }),
            t: tensorArb(shape, { min: 0, max: 1 }),
          });
        });
      fc.assert(
        fc.property(arb, ({ c, p, t }) => {
          const shape = c.column ? [c.k, "N"] : ["N", c.k];
          const g = lossGraph(fn, shape, { reduction: c.reduction, axis: c.column ? 0 : -1 });
          const report = gradcheck(g, { p, t }, { of: "loss", wrt: ["p", "t"] });
          if (!report.ok) throw new Error(formatGradcheckReport(report));
        }),
        fcParameters({ numRuns: 25 }),
      );
    });
  }

  it("l2Penalty", () => {
    fc.assert(
      fc.property(
        tensorArb([2, 3]),
        tensorArb([3]),
        fc.double({ min: 0, max: 2, noNaN: true }),
        (w1, w2, lambda) => {
          const b = new GraphBuilder({ dtype: "float64" });
          const a = b.input("w1", [2, 3]);
          const c = b.input("w2", [3]);
          b.output("loss", l2Penalty(b, [a, c], lambda));
          const report = gradcheck(b.build(), { w1, w2 }, { of: "loss", wrt: ["w1", "w2"] });
          if (!report.ok) throw new Error(formatGradcheckReport(report));
        },
      ),
      fcParameters({ numRuns: 15 }),
    );
  });
});
