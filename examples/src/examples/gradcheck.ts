/**
 * `pnpm example gradcheck`: property-based gradient testing of your own op.
 *
 * The op is swish, `x * sigmoid(x)`, given a hand-written derivative (as you would for a custom
 * kernel or a numerically stabler formula) with `customGradient` from `@gradgraph/autograd`: the
 * value comes from the wrapped sub-graph, the gradient from the rule. Two derivatives are tested:
 *
 * - correct: `s * (1 + x * (1 - s))` with `s = sigmoid(x)`;
 * - buggy:   `s * (1 + x * s)`, a slip (`s` where `1 - s` belongs) that is exact at `x = 0` and
 *   tiny near it, so a hand-picked test at 0 or 1e-3 passes.
 *
 * A fast-check property built from `@gradgraph/autograd/testing`'s arbitraries (`shapeArb`,
 * `tensorArb`) runs `gradcheck` on generated inputs: the correct derivative passes every case, the
 * buggy one fails and fast-check shrinks the failure to a minimal counterexample (a scalar, near
 * the smallest |x| where the error exceeds the tolerance). Then both are checked inside a small
 * network, and the analytic and numeric gradients are plotted against each other.
 * @module
 */
import {
  customGradient,
  formatGradcheckReport,
  type GradcheckEntry,
  type GradcheckReport,
  gradcheck,
} from "@gradgraph/autograd";
import { checkOpGradients, fcParameters, shapeArb, tensorArb } from "@gradgraph/autograd/testing";
import {
  type ConcreteShape,
  type Graph,
  GraphBuilder,
  ParamStore,
  Rng,
  Tensor,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import type { ExampleContext, ExampleResult } from "../context.js";
import {
  type DerivativePoint,
  derivativeCurvesChart,
  type GradPoint,
  gradScatterSpec,
  type TopLevelSpec,
  tableChart,
} from "../plots.js";

/** Which hand-written derivative swish uses. */
export type SwishDerivative = "correct" | "buggy";

/**
 * swish(x) = x * sigmoid(x), with a hand-written derivative: `customGradient` computes the value
 * with the wrapped sub-graph and makes `grad` use the rule instead of differentiating it.
 */
export function swish(x: Value, derivative: SwishDerivative): Value {
  return customGradient(
    x.builder,
    [x],
    (b, x) => b.mul(x, b.sigmoid(x)),
    ({ b, x: [x], g }) => {
      const s = b.sigmoid(x!);
      const d =
        derivative === "correct"
          ? s.mul(x!.mul(s.neg().add(1)).add(1)) // s * (1 + x * (1 - s))
          : s.mul(x!.mul(s).add(1)); // s * (1 + x * s)   <- the bug
      return [b.mul(g, d)];
    },
    { name: `swish (${derivative} derivative)` },
  );
}

/** `loss = sum(swish(x))` for an input of `shape`. */
export function swishGraph(shape: ConcreteShape, derivative: SwishDerivative): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", shape);
  b.output("loss", swish(x, derivative).sum());
  return b.build();
}

/** A small network using swish: `loss = sum((swish(x·W1 + b1)·W2)²)`, params W1 [3,4], b1 [4], W2 [4,2]. */
export function swishNet(derivative: SwishDerivative): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [6, 3]);
  const W1 = b.param("W1", [3, 4], { init: { kind: "normal", std: 1 } });
  const b1 = b.param("b1", [4], { init: { kind: "normal", std: 0.5 } });
  const W2 = b.param("W2", [4, 2], { init: { kind: "normal", std: 1 } });
  const h = swish(x.matmul(W1).add(b1), derivative);
  b.output("loss", h.matmul(W2).square().sum());
  return b.build();
}

function describeTensor(t: Tensor): string {
  const vals = Array.from(t.data, (v) =>
    Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(4) : v.toPrecision(6),
  );
  return `shape [${t.shape.join(", ")}], values [${vals.join(", ")}]`;
}

/** The property: the gradient of `sum(swish(x))` equals central differences for every generated x. */
function swishProperty(derivative: SwishDerivative, onFail: (x: Tensor) => void) {
  const inputs = shapeArb({ minRank: 1, maxRank: 2, maxDim: 4 }).chain((shape) =>
    tensorArb(shape, { min: -4, max: 4 }),
  );
  return fc.property(inputs, (x) => {
    const report = gradcheck(swishGraph(x.shape, derivative), { x }, { wrt: ["x"] });
    if (!report.ok) {
      onFail(x);
      throw new Error(formatGradcheckReport(report));
    }
  });
}

function entryRow(e: GradcheckEntry): Record<string, string> {
  const f = (v: number) => (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(5) : v.toExponential(3));
  return {
    wrt: e.wrt,
    index: `[${e.multiIndex.join(",")}]`,
    analytic: f(e.analytic),
    numeric: f(e.numeric),
    "rel error": e.relError.toExponential(2),
    status: e.tolRatio <= 1 ? "ok" : "FAIL",
  };
}

function summary(r: GradcheckReport) {
  return {
    ok: r.ok,
    checked: r.checked,
    failures: r.failures,
    maxRelError: r.maxRelError,
    maxAbsError: r.maxAbsError,
    normRelError: r.normRelError,
  };
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const seed = ctx.options.seed ?? 20240607;
  const runs = ctx.options.runs ?? 100;
  const params = fcParameters({ numRuns: runs, seed });
  const hyper = { seed: params.seed, runs: params.numRuns, op: "swish(x) = x * sigmoid(x)" };

  // 1. the property with the correct derivative
  ctx.log(
    "swish(x) = x * sigmoid(x) with a hand-written derivative (customGradient, see examples/src/examples/gradcheck.ts).",
  );
  ctx.log(
    `Property: for every generated x (shapeArb + tensorArb, values in [-4, 4]), gradcheck(sum(swish(x))) passes.`,
  );
  const good = fc.check(
    swishProperty("correct", () => undefined),
    params,
  );
  ctx.log(
    good.failed
      ? `  correct derivative s*(1 + x*(1 - s)): FAILED after ${good.numRuns} runs (unexpected)`
      : `  correct derivative s*(1 + x*(1 - s)): passed ${good.numRuns} runs (seed ${params.seed})`,
  );

  // 2. the same property with the bug: a hand-picked unit test misses it, the property catches it
  const unit = gradcheck(swishGraph([2], "buggy"), { x: Tensor.from([0, 0.001]) }, { wrt: ["x"] });
  ctx.log(
    `  buggy derivative   s*(1 + x*s):       a unit test at x = 0 and 0.001 ${unit.ok ? "passes (the bug hides there)" : "fails"}`,
  );
  let first: Tensor | null = null;
  const bad = fc.check(
    swishProperty("buggy", (x) => {
      first ??= x.clone();
    }),
    params,
  );
  const counterexample = bad.counterexample?.[0] ?? null;
  if (bad.failed && counterexample) {
    ctx.log(
      `  buggy derivative   s*(1 + x*s):       the property FAILED after ${bad.numRuns} run(s), as it should`,
    );
    if (first) ctx.log(`    first failing input:  ${describeTensor(first)}`);
    ctx.log(`    shrunk (${bad.numShrinks} steps) to: ${describeTensor(counterexample)}`);
    const minimal = gradcheck(
      swishGraph(counterexample.shape, "buggy"),
      { x: counterexample },
      { wrt: ["x"] },
    );
    for (const line of formatGradcheckReport(minimal).split("\n")) ctx.log(`    ${line}`);
  } else {
    ctx.log(`  buggy derivative: not caught in ${bad.numRuns} runs (try more --runs)`);
  }

  // the same helpers check gradgraph's own ops
  const own = fc.check(checkOpGradients("sigmoid"), fcParameters({ numRuns: 20, seed: params.seed }));
  ctx.log(
    `The same helpers test gradgraph's own ops: checkOpGradients("sigmoid") ${own.failed ? "FAILED" : `passed ${own.numRuns} runs`}.`,
  );

  // 3. inside a network: every coordinate of every param, both derivatives
  const x = new Tensor([6, 3], new Rng(seed).fillNormal(new Float64Array(18)));
  const store = ParamStore.init(swishNet("correct"), seed);
  const all = 1_000_000;
  const reports = {
    correct: gradcheck(swishNet("correct"), { x }, { params: store, topK: all }),
    buggy: gradcheck(swishNet("buggy"), { x }, { params: store, topK: all }),
  };
  ctx.log("");
  ctx.log("In a network, loss = sum((swish(x·W1 + b1)·W2)^2), every coordinate of W1, b1, W2:");
  for (const [k, r] of Object.entries(reports)) {
    ctx.log(
      `  ${k.padEnd(7)}: ${r.ok ? "ok" : "FAILED"}, ${r.failures} of ${r.checked} entries out of tolerance, max rel error ${r.maxRelError.toExponential(2)}`,
    );
  }
  const worst = reports.buggy.worst.slice(0, 8);
  ctx.log("Worst entries with the buggy derivative:");
  for (const line of formatGradcheckReport({ ...reports.buggy, worst })
    .split("\n")
    .slice(2))
    ctx.log(`  ${line}`);

  // plots
  const points: GradPoint[] = [];
  // the buggy points first, so the correct ones (on the diagonal) are drawn on top
  for (const k of ["buggy", "correct"] as const) {
    for (const e of reports[k].worst) {
      points.push({ check: `${k} derivative`, wrt: e.wrt, analytic: e.analytic, numeric: e.numeric });
    }
  }
  const rows = worst.map(entryRow);
  const columns = ["wrt", "index", "analytic", "numeric", "rel error", "status"];
  const table = tableChart(rows, columns, {
    title: "Worst entries, buggy derivative",
    columnWidth: 84,
    highlight: (r) => r.status === "FAIL",
  });
  const scatterTable = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "gradcheck: analytic vs numeric gradient of a swish network",
    hconcat: [
      gradScatterSpec(points, { colors: { "correct derivative": "#2471a3", "buggy derivative": "#d62728" } }),
      { ...table, $schema: undefined },
    ],
    spacing: 40,
  } as unknown as TopLevelSpec;
  await ctx.chart("gradcheck", scatterTable);
  await ctx.chart("derivative", derivativeChart());

  const failing = counterexample
    ? { shape: [...counterexample.shape], values: Array.from(counterexample.data) }
    : null;
  const metrics = {
    correctPassed: !good.failed,
    correctRuns: good.numRuns,
    buggyCaught: bad.failed,
    buggyUnitTestPasses: unit.ok,
    buggyRunsUntilFailure: bad.numRuns,
    shrinks: bad.numShrinks,
    counterexample: failing,
    firstFailure: first
      ? { shape: [...(first as Tensor).shape], values: Array.from((first as Tensor).data) }
      : null,
    network: { correct: summary(reports.correct), buggy: summary(reports.buggy) },
    worst: rows,
  };
  await ctx.writeText(
    "report.txt",
    `${formatGradcheckReport({ ...reports.correct, worst: reports.correct.worst.slice(0, 10) })}\n\n${formatGradcheckReport({ ...reports.buggy, worst: reports.buggy.worst.slice(0, 10) })}\n`,
  );
  await ctx.writeJson("metrics.json", { example: "gradcheck", hyper, metrics });
  return {
    hyper,
    metrics: {
      correctPassed: metrics.correctPassed,
      buggyCaught: metrics.buggyCaught,
      shrinks: metrics.shrinks,
      counterexample: failing,
      networkMaxRelErrorCorrect: reports.correct.maxRelError,
      networkMaxRelErrorBuggy: reports.buggy.maxRelError,
    },
  };
}

/** swish'(x) on [-6, 6]: both hand-written derivatives (through autodiff) and central differences. */
function derivativeChart(): TopLevelSpec {
  const n = 241;
  const xs = Float64Array.from({ length: n }, (_, i) => -6 + (12 * i) / (n - 1));
  const values: DerivativePoint[] = [];
  for (const kind of ["correct", "buggy"] as const) {
    const r = gradcheck(swishGraph([n], kind), { x: new Tensor([n], xs) }, { wrt: ["x"], topK: n });
    const byIndex = [...r.worst].sort((a, b) => a.index - b.index);
    for (const e of byIndex)
      values.push({ x: xs[e.index]!, derivative: e.analytic, curve: `${kind} derivative (autodiff)` });
    if (kind === "correct") {
      for (const e of byIndex)
        values.push({ x: xs[e.index]!, derivative: e.numeric, curve: "central differences" });
    }
  }
  const order: [string, string, string] = [
    "correct derivative (autodiff)",
    "central differences",
    "buggy derivative (autodiff)",
  ];
  return derivativeCurvesChart(
    "swish'(x): hand-written derivatives vs finite differences",
    "d swish / dx",
    values,
    order,
  );
}
