import { OP_NAMES } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkOpCase, checkOpGradients, fcParameters, OP_SPECS, type OpCase } from "../src/testing/index.js";

describe("every op's VJP equals finite differences", () => {
  it("has a test spec for every op of core's table", () => {
    expect(Object.keys(OP_SPECS).sort()).toEqual([...OP_NAMES].sort());
  });

  // The list comes from core's op table, so a new op is tested as soon as it exists
  // (and OP_SPECS, typed over OpName, fails tsc until it has a spec).
  it.each(OP_NAMES)("%s", (op) => {
    fc.assert(checkOpGradients(op), fcParameters());
  });
});

describe("checkOpGradients catches wrong VJP rules", () => {
  it("shrinks a wrong tanh rule to a scalar counterexample", () => {
    const details = fc.check(
      checkOpGradients("tanh", { rules: { tanh: ({ b, g, y }) => [b.mul(g, b.sub(1, y))] } }),
      { seed: 1, numRuns: 100 },
    );
    expect(details.failed).toBe(true);
    const c = details.counterexample![0] as OpCase<"tanh">;
    expect(c.args).toHaveLength(1);
    expect(c.args[0]!.value.size).toBe(1);
  });

  it("catches transposes left out of a matmul rule", () => {
    const details = fc.check(
      checkOpGradients("matmul", {
        rules: {
          matmul: ({ b, g, x }) => [
            b.matmul(g, x[1]!, { transB: true }),
            b.matmul(x[0]!, g, { transA: true }),
          ],
        },
      }),
      { seed: 1, numRuns: 100 },
    );
    expect(details.failed).toBe(true);
    const c = details.counterexample![0] as OpCase<"matmul">;
    expect(c.attrs.transA || c.attrs.transB).toBe(true);
  });

  it("flags a gradient that should be exactly zero", () => {
    const r = checkOpCase("where", fc.sample(OP_SPECS.where.cases, { seed: 3, numRuns: 1 })[0]!, {
      rules: { where: ({ g }) => [g, g, g] },
    });
    expect(r.ok).toBe(false);
    expect(r.zeroViolations[0]).toMatch(/^x0: gradient element \d+ is .*, expected exactly 0$/);
    expect(r.message).toContain("where: gradient check failed");
  });
});
