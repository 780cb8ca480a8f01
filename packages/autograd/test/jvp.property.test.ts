import { OP_NAMES } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { grad, JVP } from "../src/index.js";
import {
  checkOpJvp,
  checkOpJvpCase,
  fcParameters,
  type GraphCase,
  jvpVjpProperty,
  OP_SPECS,
  type OpCase,
  randomGraphArb,
} from "../src/testing/index.js";

describe("every op's JVP equals its VJP and finite differences", () => {
  it("has a JVP entry for every op of core's table", () => {
    expect(Object.keys(JVP).sort()).toEqual([...OP_NAMES].sort());
  });

  // driven by OP_SPECS (typed over OpName), so a new op is covered as soon as it has a spec
  it.each(OP_NAMES)("%s", (op) => {
    fc.assert(checkOpJvp(op), fcParameters());
  });
});

describe("checkOpJvp catches wrong rules", () => {
  it("shrinks a wrong tanh JVP to a scalar counterexample", () => {
    const details = fc.check(
      checkOpJvp("tanh", { jvpRules: { tanh: ({ b, t, y }) => b.mul(t[0]!, b.sub(1, y)) } }),
      { seed: 1, numRuns: 100 },
    );
    expect(details.failed).toBe(true);
    const [c, seed] = details.counterexample! as [OpCase<"tanh">, number];
    expect(c.args[0]!.value.size).toBe(1);
    expect(seed).toBe(0);
  });

  it("catches transposes left out of a matmul JVP", () => {
    const details = fc.check(
      checkOpJvp("matmul", {
        jvpRules: {
          matmul: ({ b, t, x }) =>
            b.add(
              t[0] ? b.matmul(t[0], x[1]!) : b.scalar(0, x[0]!.dtype),
              t[1] ? b.matmul(x[0]!, t[1]) : b.scalar(0, x[0]!.dtype),
            ),
        },
      }),
      { seed: 1, numRuns: 100 },
    );
    expect(details.failed).toBe(true);
    const [c] = details.counterexample! as [OpCase<"matmul">, number];
    expect(c.attrs.transA || c.attrs.transB).toBe(true);
  });

  it("tells a wrong VJP (inconsistent, finite differences fine) from a wrong JVP (both wrong)", () => {
    const c = fc.sample(OP_SPECS.exp.cases, { seed: 5, numRuns: 1 })[0]!;
    const badVjp = checkOpJvpCase("exp", c, { vjpRules: { exp: ({ b, g, y }) => [b.mul(b.mul(g, y), 2)] } });
    expect(badVjp.ok).toBe(false);
    expect(badVjp.check!.consistent).toBe(false);
    expect(badVjp.check!.fdOk).toBe(true);
    expect(badVjp.message).toMatch(/INCONSISTENT/);
    const badJvp = checkOpJvpCase("exp", c, {
      jvpRules: { exp: ({ b, t, y }) => b.mul(b.mul(t[0]!, y), 2) },
    });
    expect(badJvp.check!.consistent).toBe(false);
    expect(badJvp.check!.fdOk).toBe(false);
    expect(badJvp.message).toMatch(/^exp: JVP check failed\nexp \{\}: x0 \(fd\)/);
    expect(badJvp.message).toMatch(/y\[0\]: jvp .*, finite differences/);
  });

  it("flags a tangent that should be exactly zero", () => {
    const c = fc.sample(OP_SPECS.where.cases, { seed: 3, numRuns: 1 })[0]!;
    const r = checkOpJvpCase("where", c, { jvpRules: { where: ({ t }) => t[0] ?? t[1] ?? t[2] ?? null } });
    expect(r.ok).toBe(false);
    expect(r.zeroViolations[0]).toMatch(/^x0: tangent of y element \d+ is .*, expected exactly 0$/);
  });
});

describe("random graphs: JVP = VJP and finite differences", () => {
  it("at every node of random DAGs", () => {
    fc.assert(
      jvpVjpProperty(randomGraphArb({ maxNodes: 10 }), { everyNode: true }),
      fcParameters({ numRuns: 60 }),
    );
  });

  it("on gradient graphs (forward-over-reverse)", () => {
    const gradCases = randomGraphArb({ maxNodes: 6 }).map((c): GraphCase => {
      const program = [...c.program, "then grad(loss) with respect to every source"];
      return Object.assign(
        { ...c, graph: grad(c.graph, "loss", c.wrt), program },
        { [fc.toStringMethod]: () => program.join("\n") },
      );
    });
    fc.assert(jvpVjpProperty(gradCases, { everyNode: true }), fcParameters({ numRuns: 30 }));
  });

  it("a wrong JVP rule fails and shrinks to a one-op graph", () => {
    const details = fc.check(
      jvpVjpProperty(randomGraphArb(), { jvpRules: { sigmoid: ({ b, t, y }) => b.mul(t[0]!, y) } }),
      { seed: 1, numRuns: 200 },
    );
    expect(details.failed).toBe(true);
    const c = details.counterexample![0] as GraphCase;
    const ops = c.program.filter((line) => /^v\d+ = /.test(line));
    expect(ops).toEqual([expect.stringMatching(/^v1 = sigmoid\(p0\)/)]);
  });
});
