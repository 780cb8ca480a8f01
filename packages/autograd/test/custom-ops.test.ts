/**
 * User ops and custom gradients through autograd: grad uses a user op's VJP (and names the node
 * when there is none), jvp its JVP, gradcheck and the testing arbitraries pick user ops up, and
 * customGradient's rule is what grad differentiates with, first and second order, also after a
 * JSON round trip.
 */
import {
  compile,
  customGradient,
  defineOp,
  evaluate,
  type Graph,
  GraphBuilder,
  GraphError,
  graphToJSON,
  type Kernel,
  parseGraph,
  printGraph,
  sizeOf,
  Tensor,
  undefineOp,
  type Value,
  type VjpRuleArgs,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { grad, gradcheck, hvp, type JvpRules, jvp, VJP, type VjpRules, vjpRuleOf } from "../src/index.js";
import {
  checkJvpVjpConsistency,
  checkOpCase,
  checkOpGradients,
  checkOpJvp,
  checkOpJvpCase,
  fcParameters,
  gradientMatchesFiniteDifferences,
  graphProgramArb,
  randomGraphArb,
  shapeArb,
  tensorArb,
  unaryOpSpec,
} from "../src/testing/index.js";

const softplus = defineOp({
  name: "ag.softplus",
  doc: "log(1 + exp(x)), computed stably.",
  arity: 1,
  elementwise: {
    expr: (x) => `(Math.max(${x}, 0) + Math.log1p(Math.exp(-Math.abs(${x}))))`,
    fn: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
  },
  vjp: ({ b, g, x }) => [b.mul(g, b.sigmoid(x[0]!))],
  jvp: ({ b, t, x }) => b.mul(t[0]!, b.sigmoid(x[0]!)),
});

/** `factor * x^2` summed over the last axis, with a hand-written kernel. */
const sqRowSum = defineOp({
  name: "ag.sqRowSum",
  doc: "factor * sum(x^2) over the last axis.",
  arity: 1,
  attrs: (raw) => {
    const factor = raw.factor ?? 1;
    if (typeof factor !== "number") throw new Error("ag.sqRowSum: 'factor' must be a number");
    return { factor };
  },
  shape: ([x]) => {
    // (random graphs found this one: a scalar has no last axis)
    if (x!.shape.length === 0) throw new Error("ag.sqRowSum: needs at least one axis");
    return { shape: x!.shape.slice(0, -1), dtype: x!.dtype };
  },
  kernel: (ctx): Kernel => {
    const m = ctx.inShapes[0]!.at(-1)!;
    const rows = sizeOf(ctx.outShape);
    const f = ctx.attrs.factor;
    return (ins, out) => {
      const x = ins[0]!;
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let j = 0; j < m; j++) s += x[r * m + j]! * x[r * m + j]!;
        out[r] = f * s;
      }
    };
  },
  vjp: ({ b, g, x, attrs }) => {
    const x0 = x[0]!;
    const gk = b.reshape(g, [...x0.shape.slice(0, -1), 1]);
    return [b.mul(b.mul(gk, x0), 2 * attrs.factor)];
  },
  jvp: ({ b, t, x, attrs }) => b.mul(b.sum(b.mul(t[0]!, x[0]!), -1), 2 * attrs.factor),
});

/** Same value as softplus, no VJP rule. */
const noVjp = defineOp({
  name: "ag.noVjp",
  doc: "softplus without a gradient rule",
  arity: 1,
  elementwise: softplus.def.elementwise!,
});

function scalarGraph(f: (b: GraphBuilder, x: Value) => Value, shape = [3]): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", shape);
  b.output("loss", f(b, x).sum());
  return b.build();
}

const X = Tensor.from([-1.5, 0.25, 2]);

describe("grad through a user op", () => {
  it("uses the op's VJP rule; matches finite differences, first and second order", () => {
    const graph = scalarGraph((b, x) => softplus(b, b.mul(x, x)));
    expect(gradcheck(graph, { x: X }, { wrt: ["x"] }).ok).toBe(true);
    const g = grad(graph, "loss", ["x"]);
    const gx = evaluate(g, { x: X })["grad:x"]!.toArray();
    X.toArray().forEach((v, i) => {
      expect(gx[i]).toBeCloseTo((2 * v) / (1 + Math.exp(-v * v)), 12);
    });
    // the rule is built from ordinary ops, so it is differentiated again
    const b2 = GraphBuilder.extend(g);
    b2.output("g2", b2.ref("grad:x").square().sum());
    expect(gradcheck(b2.build(), { x: X }, { of: "g2", wrt: ["x"] }).ok).toBe(true);
  });

  it("with attributes and a hand-written kernel, float32 and float64", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 3]);
    const W = b.param("W", [3, 3], { init: { kind: "normal", std: 1 } });
    b.output("loss", sqRowSum(b, x.matmul(W), { factor: 0.5 }).sum());
    const graph = b.build();
    const x0 = Tensor.from([
      [1, -2, 0.5],
      [0.3, 0.1, -1],
    ]);
    expect(gradcheck(graph, { x: x0 }, { wrt: ["W", "x"] }).ok).toBe(true);
    expect(gradcheck(graph, { x: x0.astype("float32") }, { wrt: ["W"], dtype: "float32" }).ok).toBe(true);
  });

  it("a missing rule is a GraphError naming the op and the node", () => {
    const graph = scalarGraph((b, x) => noVjp(b, x).named("act"));
    const e = (() => {
      try {
        grad(graph, "loss", ["x"]);
      } catch (err) {
        return err as Error;
      }
      throw new Error("no error");
    })();
    expect(e).toBeInstanceOf(GraphError);
    expect(e.message).toBe(
      `grad: no VJP rule for #1 ag.noVjp 'act': user op 'ag.noVjp' was defined without 'vjp'; give defineOp a vjp rule (or vjp: "zero" for a gradient that is zero everywhere)`,
    );
    // an op that was undefined after the graph was built
    const temp = defineOp({
      name: "ag.temp",
      doc: "x + 1",
      arity: 1,
      elementwise: { expr: (x) => `(${x} + 1)`, fn: (x) => x + 1 },
      vjp: ({ g }) => [g],
    });
    const g2 = scalarGraph((b, x) => temp(b, x));
    undefineOp(temp);
    expect(() => grad(g2, "loss", ["x"])).toThrow(
      /^grad: no VJP rule for #1 ag\.temp: 'ag\.temp' is neither a built-in op nor registered with defineOp/,
    );
    // not reached by the gradient: no rule needed
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    b.output("loss", x.sum());
    b.output("side", noVjp(b, x));
    expect(() => grad(b.build(), "loss", ["x"])).not.toThrow();
  });

  it('vjp: "zero" gives an exactly zero gradient', () => {
    const step = defineOp({
      name: "ag.step",
      doc: "1 where x > 0",
      arity: 1,
      elementwise: { expr: (x) => `(${x} > 0 ? 1 : 0)`, fn: (x) => (x > 0 ? 1 : 0) },
      vjp: "zero",
      jvp: "zero",
    });
    const graph = scalarGraph((b, x) => step(b, x).add(x));
    expect(evaluate(grad(graph, "loss", ["x"]), { x: X })["grad:x"]!.toArray()).toEqual([1, 1, 1]);
    expect(vjpRuleOf(step.name)).toBe("zero");
  });

  it("rules returning the wrong number or shape of gradients are named", () => {
    const bad = defineOp({
      name: "ag.badRule",
      doc: "identity with a broken rule",
      arity: 2,
      elementwise: { expr: (a, c) => `(${a} + ${c})`, fn: (a, c) => a + c },
      vjp: ({ g }) => [g],
    });
    const g1 = scalarGraph((b, x) => bad(b, x, 1));
    expect(() => grad(g1, "loss", ["x"])).toThrow(
      /^grad: the VJP rule of #\d+ ag\.badRule must return 2 gradients \(or nulls\), one per input; got 1$/,
    );
    const wrongShape = defineOp({
      name: "ag.wrongShape",
      doc: "identity with a rule of the wrong shape",
      arity: 1,
      elementwise: { expr: (a) => a, fn: (a) => a },
      vjp: ({ b, g }) => [b.sum(g)],
    });
    expect(() =>
      grad(
        scalarGraph((b, x) => wrongShape(b, x), [2, 3]),
        "loss",
        ["x"],
      ),
    ).toThrow(
      /the VJP rule of #1 ag\.wrongShape returned float64 \[\] for input 0, which is float64 \[2,3\]/,
    );
    const throwing = defineOp({
      name: "ag.throwing",
      doc: "identity whose rule throws",
      arity: 1,
      elementwise: { expr: (a) => a, fn: (a) => a },
      vjp: ({ b, g }) => [b.matmul(g, g)],
    });
    expect(() =>
      grad(
        scalarGraph((b, x) => throwing(b, x)),
        "loss",
        ["x"],
      ),
    ).toThrow(/^grad: the VJP rule of #1 ag\.throwing failed: matmul at node #\d+/);
  });

  it("vjpRuleOf finds built-in and user rules alike", () => {
    expect(vjpRuleOf("exp")).toBe(VJP.exp);
    expect(vjpRuleOf("input")).toBe("leaf");
    expect(vjpRuleOf(softplus.name)).toBe(softplus.def.vjp);
    expect(vjpRuleOf(noVjp.name)).toBeUndefined();
    expect(vjpRuleOf("nothing" as typeof softplus.name)).toBeUndefined();
  });

  it("serialised graphs with user ops differentiate after parsing", () => {
    const graph = scalarGraph((b, x) => sqRowSum(b, softplus(b, x).reshape([1, 3]), { factor: 3 }));
    const back = parseGraph(graphToJSON(graph));
    const a = evaluate(grad(graph, "loss", ["x"]), { x: X })["grad:x"]!.toArray();
    const c = evaluate(grad(back, "loss", ["x"]), { x: X })["grad:x"]!.toArray();
    expect(c).toEqual(a);
  });
});

describe("jvp through a user op", () => {
  it("uses the op's JVP rule, consistent with its VJP and finite differences", () => {
    const graph = scalarGraph((b, x) => sqRowSum(b, softplus(b, x).reshape([1, 3]), { factor: 0.5 }));
    const r = checkJvpVjpConsistency(graph, { feeds: { x: X } });
    expect(r.ok, r.message).toBe(true);
    const h = hvp(graph, "loss", ["x"]);
    const out = compile(h).run({ x: X, "tangent:x": Tensor.from([1, 0, 0]) });
    expect(Number.isFinite(out["hvp:x"]!.toArray()[0])).toBe(true);
  });

  it("a missing JVP rule is a GraphError naming the op and the node", () => {
    const onlyVjp = defineOp({
      name: "ag.onlyVjp",
      doc: "x^3 with a VJP only",
      arity: 1,
      elementwise: { expr: (x) => `(${x} * ${x} * ${x})`, fn: (x) => x * x * x },
      vjp: ({ b, g, x }) => [b.mul(g, b.mul(b.square(x[0]!), 3))],
    });
    const graph = scalarGraph((b, x) => onlyVjp(b, x).named("cube"));
    expect(() => jvp(graph, "loss", ["x"])).toThrow(
      /^jvp: no JVP rule for #1 ag\.onlyVjp 'cube' \(user op 'ag\.onlyVjp' was defined without a 'jvp' rule/,
    );
  });
});

describe("gradcheck and the testing arbitraries pick user ops up", () => {
  it("checkOpGradients: default cases for elementwise ops, a spec for others", () => {
    fc.assert(checkOpGradients(softplus), fcParameters({ numRuns: 20 }));
    fc.assert(
      checkOpGradients(sqRowSum, {
        spec: {
          cases: fc
            .tuple(shapeArb({ minRank: 1, maxRank: 3 }), fc.double({ min: -2, max: 2, noNaN: true }))
            .chain(([s, factor]) =>
              tensorArb(s).map((t) => ({ args: [{ value: t, grad: "fd" as const }], attrs: { factor } })),
            ),
        },
      }),
      fcParameters({ numRuns: 20 }),
    );
    expect(() => checkOpGradients(sqRowSum)).toThrow(/user op 'ag.sqRowSum' has no default test cases/);
  });

  it("catches a wrong user rule and shrinks it", () => {
    const wrong = defineOp({
      name: "ag.wrongSoftplus",
      doc: "softplus with sigmoid(x) - 0.5 as its derivative",
      arity: 1,
      elementwise: softplus.def.elementwise!,
      vjp: ({ b, g, x }) => [b.mul(g, b.sub(b.sigmoid(x[0]!), 0.01))],
    });
    const details = fc.check(checkOpGradients(wrong, { spec: unaryOpSpec({ min: -2, max: 2 }) }), {
      seed: 1,
      numRuns: 50,
    });
    expect(details.failed).toBe(true);
    expect(details.counterexample![0].args[0]!.value.size).toBe(1);
    const one = checkOpCase(wrong, details.counterexample![0]);
    expect(one.ok).toBe(false);
    expect(one.op).toBe("ag.wrongSoftplus");
    expect(one.message).toContain("ag.wrongSoftplus: gradient check failed");
  });

  it("checkOpJvp/checkOpJvpCase take user ops: default cases for elementwise ones, a spec for others", () => {
    fc.assert(checkOpJvp(softplus), fcParameters({ numRuns: 15 }));
    fc.assert(
      checkOpJvp(softplus.name, { spec: unaryOpSpec({ min: -2, max: 2 }) }),
      fcParameters({ numRuns: 5 }),
    );
    const sqSpec = {
      cases: fc
        .tuple(
          shapeArb({ minRank: 1, maxRank: 3 }),
          fc.integer({ min: -8, max: 8 }).map((k) => k / 4) /* no subnormal factors */,
        )
        .chain(([s, factor]) =>
          tensorArb(s).map((t) => ({ args: [{ value: t, grad: "fd" as const }], attrs: { factor } })),
        ),
    };
    fc.assert(checkOpJvp(sqRowSum, { spec: sqSpec }), fcParameters({ numRuns: 15 }));
    expect(() => checkOpJvp(sqRowSum)).toThrow(/user op 'ag.sqRowSum' has no default test cases/);
    const one = checkOpJvpCase(sqRowSum, {
      args: [{ value: Tensor.from([[1, -2, 0.5]]), grad: "fd" }],
      attrs: { factor: 3 },
    });
    expect(one.ok).toBe(true);
    expect(one.op).toBe("ag.sqRowSum");
  });

  it("checkOpJvp catches a user op's wrong JVP and shrinks it", () => {
    const wrongJvp = defineOp({
      name: "ag.wrongJvpSoftplus",
      doc: "softplus whose JVP is off by 0.01",
      arity: 1,
      elementwise: softplus.def.elementwise!,
      vjp: softplus.def.vjp!,
      jvp: ({ b, t, x }) => b.mul(t[0]!, b.sub(b.sigmoid(x[0]!), 0.01)),
    });
    const details = fc.check(checkOpJvp(wrongJvp), { seed: 1, numRuns: 50 });
    expect(details.failed).toBe(true);
    expect(details.counterexample![0].args[0]!.value.size).toBe(1);
    const one = checkOpJvpCase(wrongJvp, details.counterexample![0]);
    expect(one.ok).toBe(false);
    expect(one.message).toContain("ag.wrongJvpSoftplus: JVP check failed");
    undefineOp(wrongJvp);
  });

  it("rules override a user op's own rules by name (grad, jvp, gradcheck, checkOpGradients/checkOpJvp)", () => {
    // sigmoid(x) - 0.01: a wrong derivative, tried without redefining the op
    const wrongVjp: VjpRules = {
      [softplus.name]: ({ b, g, x }) => [b.mul(g, b.sub(b.sigmoid(x[0]!), 0.01))],
    };
    const wrongJvp: JvpRules = {
      [softplus.name]: ({ b, t, x }) => b.mul(t[0]!, b.sub(b.sigmoid(x[0]!), 0.01)),
    };
    const graph = scalarGraph((b, x) => softplus(b, x));
    const right = evaluate(grad(graph, "loss", ["x"]), { x: X })["grad:x"]!.toArray();
    const wrong = evaluate(grad(graph, "loss", ["x"], { rules: wrongVjp }), { x: X })["grad:x"]!.toArray();
    right.forEach((v, i) => {
      expect(wrong[i]).toBeCloseTo(v - 0.01, 12);
    });
    const jv = evaluate(jvp(graph, "loss", ["x"], { rules: wrongJvp }), {
      x: X,
      "tangent:x": Tensor.from([1, 1, 1]),
    });
    expect(jv["jvp:loss"]!.item()).toBeCloseTo(right.reduce((p, q) => p + q, 0) - 0.03, 12);
    // the op's own rules are untouched
    expect(gradcheck(graph, { x: X }, { wrt: ["x"] }).ok).toBe(true);
    expect(gradcheck(graph, { x: X }, { wrt: ["x"], rules: wrongVjp }).ok).toBe(false);
    expect(
      checkOpCase(softplus, { args: [{ value: X, grad: "fd" }], attrs: {} }, { rules: wrongVjp }).ok,
    ).toBe(false);
    const caught = fc.check(checkOpGradients(softplus, { rules: wrongVjp }), { seed: 1, numRuns: 30 });
    expect(caught.failed).toBe(true);
    const jvpCaught = fc.check(checkOpJvp(softplus, { jvpRules: wrongJvp }), { seed: 1, numRuns: 30 });
    expect(jvpCaught.failed).toBe(true);
    fc.assert(checkOpJvp(softplus), fcParameters({ numRuns: 5 }));
    // a user op's rule with typed attributes, annotated; "zero" works too
    const typed: VjpRules = {
      [sqRowSum.name]: ({ b, g, x, attrs }: VjpRuleArgs<{ factor: number }>) => [
        b.mul(b.mul(b.reshape(g, [...x[0]!.shape.slice(0, -1), 1]), x[0]!), 3 * attrs.factor),
      ],
    };
    const sq = scalarGraph((b, x) => sqRowSum(b, x, { factor: 0.5 }), [2, 3]);
    const x23 = Tensor.from([
      [1, 2, 3],
      [-1, 0.5, 2],
    ]);
    expect(gradcheck(sq, { x: x23 }, { wrt: ["x"] }).ok).toBe(true);
    expect(gradcheck(sq, { x: x23 }, { wrt: ["x"], rules: typed }).ok).toBe(false);
    const zero = evaluate(grad(sq, "loss", ["x"], { rules: { [sqRowSum.name]: "zero" } }), { x: x23 });
    expect(Array.from(zero["grad:x"]!.data)).toEqual([0, 0, 0, 0, 0, 0]);
    // an own property only: a name such as 'constructor' does not pick up Object.prototype
    expect(grad(graph, "loss", ["x"], { rules: {} }).outputs["grad:x"]).toBeDefined();
  });

  it("random graphs include user ops when asked, and their gradients check", () => {
    const logish = defineOp({
      name: "ag.logish",
      doc: "log(x), for positive x",
      arity: 1,
      elementwise: { expr: (x) => `Math.log(${x})`, fn: Math.log },
      vjp: ({ b, g, x }) => [b.div(g, x[0]!)],
    });
    const userOps = [softplus, { op: logish.name, domain: "positive" as const }, sqRowSum.name];
    const programs = fc.sample(graphProgramArb({ userOps, maxNodes: 10 }), { seed: 3, numRuns: 40 });
    const used = new Set(programs.flatMap((p) => p.instructions.map((i) => i.op)));
    for (const name of [softplus.name, logish.name, sqRowSum.name]) expect(used.has(name)).toBe(true);
    fc.assert(
      gradientMatchesFiniteDifferences(randomGraphArb({ userOps, maxNodes: 8 })),
      fcParameters({ numRuns: 25 }),
    );
    expect(() => randomGraphArb({ userOps: ["ag.unknown"] })).toThrow(
      /'ag.unknown' is not a registered user op/,
    );
  });
});

describe("customGradient", () => {
  /** sum(f(x)) where f = x * sigmoid(x) with a hand-written derivative, correct or off by x*s. */
  function swish(kind: "correct" | "buggy", shape: (number | string)[] = [3]): Graph {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", shape);
    const y = customGradient(
      b,
      [x],
      (b, x) => b.mul(x, b.sigmoid(x)),
      ({ b, x, g }) => {
        const s = b.sigmoid(x[0]!);
        const inner = kind === "correct" ? b.sub(1, s) : s;
        return [b.mul(g, b.mul(s, b.add(1, b.mul(x[0]!, inner))))];
      },
      { name: `swish-${kind}` },
    );
    b.output("loss", y.sum());
    return b.build();
  }
  const sig = (v: number) => 1 / (1 + Math.exp(-v));

  it("grad uses the rule, not the sub-graph's own derivative", () => {
    for (const kind of ["correct", "buggy"] as const) {
      const gx = evaluate(grad(swish(kind), "loss", ["x"]), { x: X })["grad:x"]!.toArray();
      X.toArray().forEach((v, i) => {
        const s = sig(v);
        expect(gx[i]).toBeCloseTo(s * (1 + v * (kind === "correct" ? 1 - s : s)), 12);
      });
    }
    expect(gradcheck(swish("correct"), { x: X }, { wrt: ["x"] }).ok).toBe(true);
    expect(gradcheck(swish("buggy"), { x: X }, { wrt: ["x"] }).ok).toBe(false);
  });

  it("the backward pass is the rule replayed with ordinary ops (printable, second order)", () => {
    const g = grad(swish("correct"), "loss", ["x"]);
    const text = printGraph(g);
    expect(text).toContain("customGradient(");
    // no gradient flows into the wrapped sub-graph: sigmoid's own VJP (y * (1 - y)) is never made
    expect(g.nodes.filter((n) => n.op === "sigmoid")).toHaveLength(2); // forward, and the rule's
    const b2 = GraphBuilder.extend(g);
    b2.output(
      "g2",
      b2
        .ref("grad:x")
        .mul(b2.constant([0.3, -1, 2]))
        .sum(),
    );
    expect(gradcheck(b2.build(), { x: X }, { of: "g2", wrt: ["x"] }).ok).toBe(true);
  });

  it("several inputs with broadcasting, a null gradient, and symbolic shapes", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const w = b.param("w", [3], { init: { kind: "normal", std: 1 } });
    const c = b.param("c", [3], { init: { kind: "normal", std: 1 } });
    const y = customGradient(
      b,
      [x, w, c],
      (b, x, w, c) => b.add(b.mul(x, w), c.stopGradient()),
      ({ b, x, g }) => [b.mul(g, x[1]!), b.mul(g, x[0]!), null], // w's comes back [N,3], summed
    );
    b.output("loss", y.tanh().sum());
    const graph = b.build();
    const feeds = {
      x: Tensor.from([
        [1, 2, 3],
        [-1, 0.5, 0],
      ]),
    };
    expect(gradcheck(graph, feeds, { wrt: ["x", "w"] }).ok).toBe(true);
    const r = gradcheck(graph, feeds, { wrt: ["c"] });
    expect(r.ok).toBe(false); // the rule says c has no gradient; finite differences disagree
    expect(r.worst.every((e) => e.analytic === 0)).toBe(true);
  });

  it("serialises self-contained: the parsed graph differentiates the same way", () => {
    const graph = swish("buggy");
    const back = parseGraph(JSON.parse(graphToJSON(graph)));
    const a = evaluate(grad(graph, "loss", ["x"]), { x: X })["grad:x"]!.toArray();
    const c = evaluate(grad(back, "loss", ["x"]), { x: X })["grad:x"]!.toArray();
    expect(c).toEqual(a);
  });

  it("forward mode: the sub-graph's tangent, or the given JVP rule", () => {
    const r = checkJvpVjpConsistency(swish("correct"), { feeds: { x: X } });
    expect(r.ok, r.message).toBe(true);
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    const y = customGradient(
      b,
      [x],
      (b, x) => b.exp(x),
      ({ b, y, g }) => [b.mul(g, y)],
      { jvp: ({ b, t }) => b.mul(t[0]!, 2) }, // deliberately not exp's derivative
    );
    b.output("y", y);
    const out = evaluate(jvp(b.build(), "y", ["x"]), { x: X, "tangent:x": Tensor.from([1, 1, 1]) });
    expect(out["jvp:y"]!.toArray()).toEqual([2, 2, 2]);
    const h = hvp(swish("correct"), "loss", ["x"]);
    expect(compile(h).run({ x: X, "tangent:x": Tensor.from([1, 0, 0]) })["hvp:x"]!.size).toBe(3);
  });
});
