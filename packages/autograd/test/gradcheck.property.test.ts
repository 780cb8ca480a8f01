/**
 * The checks on random graphs from the op table (fast-check; GRADGRAPH_FC_RUNS / GRADGRAPH_FC_SEED
 * scale and replay them): correct rules pass every check, with every intermediate value as an
 * output; a wrong rule is caught.
 */
import type { Graph, NodeId } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatGradcheckReport,
  type GradcheckReport,
  gradcheck,
  gradgradcheck,
  jvpcheck,
} from "../src/index.js";
import { fcParameters, type GraphCase, randomGraphArb } from "../src/testing/index.js";

const SOURCES = new Set(["input", "param", "constant", "fill"]);

/** Every computed (non-source) node of the graph. */
function computed(graph: Graph): NodeId[] {
  return graph.nodes.filter((n) => !SOURCES.has(n.op)).map((n) => n.id);
}

function expectOk(c: GraphCase, report: GradcheckReport): void {
  if (!report.ok) throw new Error(`${c.program.join("\n")}\n${formatGradcheckReport(report)}`);
}

describe("gradient checks on random graphs", () => {
  it("gradcheck: the Jacobian of every intermediate value (auto mode)", () => {
    fc.assert(
      fc.property(randomGraphArb({ maxNodes: 8 }), (c) => {
        const report = gradcheck(c.graph, c.feeds, {
          of: computed(c.graph),
          wrt: c.wrt,
          params: c.params,
          mode: "auto",
        });
        expectOk(c, report);
      }),
      fcParameters({ numRuns: 25 }),
    );
  });

  it("gradcheck: random cotangents and directions per block", () => {
    fc.assert(
      fc.property(randomGraphArb({ maxNodes: 8 }), fc.nat({ max: 1000 }), (c, seed) => {
        const of = computed(c.graph);
        const report = gradcheck(c.graph, c.feeds, {
          of,
          wrt: c.wrt,
          params: c.params,
          mode: "random",
          perBlock: true,
          seed,
        });
        expectOk(c, report);
      }),
      fcParameters({ numRuns: 25 }),
    );
  });

  it("jvpcheck: forward mode agrees with reverse mode and finite differences on every intermediate value", () => {
    fc.assert(
      fc.property(randomGraphArb({ maxNodes: 8 }), (c) => {
        expectOk(c, jvpcheck(c.graph, c.feeds, { of: computed(c.graph), wrt: c.wrt, params: c.params }));
      }),
      fcParameters({ numRuns: 25 }),
    );
  });

  it("gradgradcheck: second derivatives of the loss (random mode)", () => {
    fc.assert(
      fc.property(randomGraphArb({ maxNodes: 6 }), (c) => {
        expectOk(
          c,
          gradgradcheck(c.graph, c.feeds, { of: "loss", wrt: c.wrt, params: c.params, mode: "random" }),
        );
      }),
      fcParameters({ numRuns: 15 }),
    );
  });

  it("a wrong rule fails the Jacobian check", () => {
    const details = fc.check(
      fc.property(randomGraphArb(), (c) => {
        const report = gradcheck(c.graph, c.feeds, {
          of: computed(c.graph),
          wrt: c.wrt,
          params: c.params,
          mode: "auto",
          rules: { sigmoid: ({ b, g, y }) => [b.mul(g, y)] },
        });
        return report.ok;
      }),
      { seed: 1, numRuns: 200 },
    );
    expect(details.failed).toBe(true);
    expect((details.counterexample![0] as GraphCase).program.join("\n")).toMatch(/sigmoid/);
  });
});
