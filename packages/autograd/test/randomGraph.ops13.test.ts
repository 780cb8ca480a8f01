/**
 * The issue-13 smooth elementwise ops in random graphs: softplus, silu, gelu, geluTanh, erf, log1p
 * and expm1 are in {@link RANDOM_GRAPH_OPS}, stay finite on the generator's values, and their
 * first and second derivatives and JVPs agree with finite differences inside random DAGs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fcParameters,
  type GraphCase,
  gradientMatchesFiniteDifferences,
  jvpVjpProperty,
  RANDOM_GRAPH_OPS,
  type RandomGraphOp,
  randomGraphArb,
} from "../src/testing/index.js";

const SMOOTH13: readonly RandomGraphOp[] = ["softplus", "silu", "gelu", "geluTanh", "erf", "log1p", "expm1"];
// the new ops among a few that mix and reuse values, so every new op meets shared subexpressions
const OPS: readonly RandomGraphOp[] = ["add", ...SMOOTH13, "mul", "matmul", "sum", "softmax"];

describe("random graphs with the issue-13 smooth ops", () => {
  it("the default op list holds them", () => {
    for (const op of SMOOTH13) expect(RANDOM_GRAPH_OPS).toContain(op);
  });

  it("every one of them is drawn, applied and listed in the program", () => {
    const seen = new Set<string>();
    for (const c of fc.sample(randomGraphArb({ ops: OPS, maxNodes: 8 }), { seed: 13, numRuns: 60 })) {
      for (const line of c.program) {
        const m = /^v\d+ = (\w+)\(/.exec(line);
        if (m) seen.add(m[1]!);
      }
    }
    for (const op of SMOOTH13) expect(seen, op).toContain(op);
  });

  it("first derivatives equal finite differences", () => {
    fc.assert(
      gradientMatchesFiniteDifferences(randomGraphArb({ ops: OPS, maxNodes: 8 })),
      fcParameters({ numRuns: 40 }),
    );
  });

  it("second derivatives equal finite differences of the gradient", () => {
    fc.assert(
      gradientMatchesFiniteDifferences(randomGraphArb({ ops: OPS, maxNodes: 5 }), { order: 2 }),
      fcParameters({ numRuns: 20 }),
    );
  });

  it("JVPs equal VJPs and finite differences at every node", () => {
    fc.assert(
      jvpVjpProperty(randomGraphArb({ ops: OPS, maxNodes: 8 }), { everyNode: true }),
      fcParameters({ numRuns: 20 }),
    );
  });

  it("a wrong gelu VJP rule fails and shrinks to a one-op graph", () => {
    const details = fc.check(
      gradientMatchesFiniteDifferences(randomGraphArb({ ops: OPS }), {
        // the derivative of x·Φ(x) without the x·φ(x) term
        rules: { gelu: ({ b, g, x }) => [b.mul(g, b.mul(0.5, b.add(1, b.erf(b.mul(x[0]!, Math.SQRT1_2)))))] },
      }),
      { seed: 1, numRuns: 200 },
    );
    expect(details.failed).toBe(true);
    const ops = (details.counterexample![0] as GraphCase).program.filter((l) => /^v\d+ = /.test(l));
    expect(ops).toEqual([expect.stringMatching(/^v1 = gelu\(p0\)/)]);
  });
});
