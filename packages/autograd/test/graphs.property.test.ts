import { evaluate, GraphBuilder, tryBroadcastShapes } from "@gradgraph/core";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { grad } from "../src/index.js";
import {
  broadcastPairArb,
  DEFAULT_FC_RUNS,
  DEFAULT_FC_SEED,
  fcParameters,
  type GraphCase,
  gradientMatchesFiniteDifferences,
  randomGraphArb,
  shapeArb,
  tensorArb,
  unaryChainArb,
  unaryChainDerivatives,
} from "../src/testing/index.js";

describe("random graphs: gradients equal finite differences", () => {
  it("first order", () => {
    fc.assert(
      gradientMatchesFiniteDifferences(randomGraphArb({ maxNodes: 10 })),
      fcParameters({ numRuns: 60 }),
    );
  });

  it("second order (gradient of sum(grad * v))", () => {
    fc.assert(
      gradientMatchesFiniteDifferences(randomGraphArb({ maxNodes: 6 }), { order: 2 }),
      fcParameters({ numRuns: 30 }),
    );
  });

  it("a wrong VJP rule fails and shrinks to a one-op graph", () => {
    const details = fc.check(
      gradientMatchesFiniteDifferences(randomGraphArb(), {
        rules: { sigmoid: ({ b, g, y }) => [b.mul(g, y)] },
      }),
      { seed: 1, numRuns: 200 },
    );
    expect(details.failed).toBe(true);
    const c = details.counterexample![0] as GraphCase;
    const ops = c.program.filter((line) => /^v\d+ = /.test(line));
    expect(ops).toEqual([expect.stringMatching(/^v1 = sigmoid\(p0\)/)]);
    expect(c.graph.nodes.length).toBeLessThanOrEqual(6);
  });
});

describe("second derivatives of unary chains equal closed forms", () => {
  it("d2/dx2 of neg/exp/tanh/sigmoid/log/sqrt/square chains", () => {
    fc.assert(
      fc.property(unaryChainArb({ maxLength: 4 }), ({ ops, x }) => {
        const b = new GraphBuilder({ dtype: "float64" });
        const xv = b.input("x", [x.length]);
        let y = xv;
        for (const op of ops) y = b.op(op, [y]);
        b.output("f", y.sum());
        const g1 = grad(b.build(), "f", ["x"]);
        // the Hessian of sum(chain(x)) is diagonal: the gradient of sum(f'(x)) is f''(x)
        const b2 = GraphBuilder.extend(g1);
        b2.output("s", b2.ref("grad:x").sum());
        const g2 = grad(b2.build(), "s", ["x"], { prefix: "grad2:" });
        const out = evaluate(g2, { x: new Float64Array(x) });
        x.forEach((xi, i) => {
          const want = unaryChainDerivatives(ops, xi);
          const tol = (v: number) => 1e-9 * Math.max(1, Math.abs(v));
          expect(Math.abs(out["grad:x"]!.data[i]! - want.d1)).toBeLessThanOrEqual(tol(want.d1));
          expect(Math.abs(out["grad2:x"]!.data[i]! - want.d2)).toBeLessThanOrEqual(tol(want.d2));
        });
      }),
      fcParameters({ numRuns: 100 }),
    );
  });
});

describe("arbitraries", () => {
  it("broadcastPairArb gives shapes that broadcast together", () => {
    fc.assert(
      fc.property(broadcastPairArb({ maxRank: 4 }), ([a, b]) => {
        expect(tryBroadcastShapes(a, b)).not.toBeNull();
      }),
      fcParameters({ numRuns: 200 }),
    );
  });

  it("shapeArb respects its bounds", () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 2, minDim: 2, maxDim: 4 }), (s) => {
        expect(s.length >= 1 && s.length <= 2).toBe(true);
        expect(s.every((d) => d >= 2 && d <= 4)).toBe(true);
      }),
      fcParameters({ numRuns: 100 }),
    );
  });

  it("tensorArb keeps values in range, away from kinks, or distinct", () => {
    fc.assert(
      fc.property(
        tensorArb([3, 4], { min: -1, max: 1, avoid: [0], margin: 0.2 }),
        tensorArb([12], { distinct: true }),
        (t, d) => {
          expect(t.dtype).toBe("float64");
          expect(t.toArray().every((v) => Math.abs(v) >= 0.2 && Math.abs(v) <= 1)).toBe(true);
          const sorted = d.toArray().sort((p, q) => p - q);
          expect(sorted.every((v, i) => i === 0 || v - sorted[i - 1]! >= 0.25)).toBe(true);
        },
      ),
      fcParameters({ numRuns: 100 }),
    );
  });
});

describe("fcParameters", () => {
  const saved = { runs: process.env.GRADGRAPH_FC_RUNS, seed: process.env.GRADGRAPH_FC_SEED };
  afterEach(() => {
    for (const [k, v] of [
      ["GRADGRAPH_FC_RUNS", saved.runs],
      ["GRADGRAPH_FC_SEED", saved.seed],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("reads GRADGRAPH_FC_RUNS (scaling each property's default) and GRADGRAPH_FC_SEED", () => {
    delete process.env.GRADGRAPH_FC_RUNS;
    delete process.env.GRADGRAPH_FC_SEED;
    expect(fcParameters()).toEqual({ seed: DEFAULT_FC_SEED, numRuns: DEFAULT_FC_RUNS });
    process.env.GRADGRAPH_FC_RUNS = String(DEFAULT_FC_RUNS * 10);
    process.env.GRADGRAPH_FC_SEED = "42";
    expect(fcParameters()).toEqual({ seed: 42, numRuns: DEFAULT_FC_RUNS * 10 });
    expect(fcParameters({ numRuns: 6 }).numRuns).toBe(60);
    process.env.GRADGRAPH_FC_SEED = "random";
    expect(Number.isInteger(fcParameters().seed)).toBe(true);
    process.env.GRADGRAPH_FC_RUNS = "lots";
    expect(() => fcParameters()).toThrow(/GRADGRAPH_FC_RUNS must be a positive integer/);
  });
});
