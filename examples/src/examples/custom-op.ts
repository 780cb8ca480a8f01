/**
 * `pnpm example custom-op`: an op of your own, defined outside gradgraph's op table with
 * `defineOp`, checked, and trained through.
 *
 * The op is softplus with torch.nn.Softplus's `beta`: `softplus(x; beta) = log(1 + exp(beta * x)) / beta`,
 * computed stably as `(max(z, 0) + log1p(exp(-|z|))) / beta` with `z = beta * x`. Its definition has
 * every part a built-in op has: an attribute validator (`beta`, a finite number > 0, default 1), a
 * shape rule (elementwise), a kernel per dtype (float32 and float64), a VJP rule written with
 * builder ops (`g * sigmoid(beta * x)`, so it can be differentiated again) and a JVP rule. An
 * attribute-free twin declares its arithmetic as an `elementwise` expression instead of a kernel,
 * so the compiler fuses it with its neighbours.
 *
 * The example then
 *
 * 1. checks the op with `gradcheck` (first order: the whole Jacobian), `gradgradcheck` (second
 *    order) and `jvpcheck` (forward mode against reverse mode and finite differences);
 * 2. runs the fast-check properties of `@gradgraph/autograd/testing` (`checkOpGradients` and
 *    `checkOpJvp` with a spec that draws `beta` too): both pass; then the same property with a VJP
 *    that forgot `beta` (`g * sigmoid(x)`, passed as a `rules` override by the op's name): a unit
 *    test at the default `beta = 1` passes, the property fails and fast-check shrinks the failure
 *    to a minimal counterexample;
 * 3. trains a 2-16-2 network with a softplus hidden layer on make_moons with Adam through
 *    `Model`/`fit`, saves it to model.ggm (the graph names the op) and loads it back.
 * @module
 */
import {
  formatGradcheckReport,
  type GradcheckReport,
  grad,
  gradcheck,
  gradgradcheck,
  jvpcheck,
  type VjpRules,
} from "@gradgraph/autograd";
import {
  checkOpCase,
  checkOpGradients,
  checkOpJvp,
  fcParameters,
  type OpTestCase,
  type OpTestSpec,
  shapeArb,
  tensorArb,
} from "@gradgraph/autograd/testing";
import {
  type AttrsInput,
  broadcastShapeRule,
  compile,
  defineOp,
  type Graph,
  GraphBuilder,
  printGraph,
  Tensor,
  type Value,
} from "@gradgraph/core";
import { makeMoons, trainTestSplit } from "@gradgraph/datasets";
import { dense, Model, softmaxCrossEntropy } from "@gradgraph/models";
import fc from "fast-check";
import { fitClassifier, saveAndReload } from "../classifier.js";
import type { ExampleContext, ExampleResult } from "../context.js";
import {
  boundsOf,
  curvesChart,
  type DerivativePoint,
  decisionBoundaryChart,
  derivativeCurvesChart,
  historyCurves,
  type TopLevelSpec,
} from "../plots.js";
import { classGrid, historyJson, labeledPoints, nonFiniteFailure } from "../training.js";

// ---- the op -------------------------------------------------------------------------------------

/** softplus's attributes, as the validator returns them (plain JSON: what graph nodes store). */
export interface SoftplusAttrs {
  /** Sharpness: `log(1 + exp(beta * x)) / beta` (torch.nn.Softplus's `beta`); a finite number > 0. */
  readonly beta: number;
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * Validates and normalises the attributes: `beta` defaults to 1 and must be a finite number > 0
 * (`beta = 0` would divide by zero, a negative one flips the curve). Idempotent, as defineOp asks.
 */
export function softplusAttrs(raw: AttrsInput<SoftplusAttrs>): SoftplusAttrs {
  const { beta = 1, ...rest } = raw;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new Error(`example.softplus: unknown attribute '${unknown[0]}' (it takes only 'beta')`);
  }
  if (typeof beta !== "number" || !Number.isFinite(beta) || beta <= 0) {
    throw new Error(`example.softplus: 'beta' must be a finite number > 0, got ${show(beta)}`);
  }
  return { beta };
}

/** One element: `(max(z, 0) + log1p(exp(-|z|))) / beta` with `z = beta * x` (never overflows). */
export function softplusValue(x: number, beta = 1): number {
  const z = beta * x;
  return (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))) / beta;
}

// one loop per array type, so that each stays monomorphic; the float32 loop computes in double and
// rounds once, when it stores
function loop64(x: Float64Array, out: Float64Array, beta: number): void {
  for (let i = 0; i < out.length; i++) {
    const z = beta * x[i]!;
    out[i] = (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))) / beta;
  }
}
function loop32(x: Float32Array, out: Float32Array, beta: number): void {
  for (let i = 0; i < out.length; i++) {
    const z = beta * x[i]!;
    out[i] = (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))) / beta;
  }
}

/** `sigmoid(beta * x)`, softplus's derivative, with builder ops (so it is differentiable again). */
function slope(b: GraphBuilder, x: Value, beta: number): Value {
  return b.sigmoid(beta === 1 ? x : b.mul(x, beta));
}

/** softplus as a user op: `softplus(b, x)` or `softplus(b, x, { beta: 2 })`. */
export const softplus = defineOp<SoftplusAttrs, 1>({
  name: "example.softplus",
  doc: "softplus(x; beta) = log(1 + exp(beta * x)) / beta, computed stably (torch.nn.Softplus).",
  arity: 1,
  attrs: softplusAttrs,
  // elementwise: the output has the input's shape and dtype (numpy broadcasting for several inputs)
  shape: broadcastShapeRule,
  // one kernel factory per dtype: each kernel gets its own array type (no casts); it reads its
  // input and writes the whole output
  kernel: {
    float32:
      ({ attrs }) =>
      (ins, out) =>
        loop32(ins[0]!, out, attrs.beta),
    float64:
      ({ attrs }) =>
      (ins, out) =>
        loop64(ins[0]!, out, attrs.beta),
  },
  // reverse mode: the cotangent times sigmoid(beta * x)
  vjp: ({ b, g, x, attrs }) => [b.mul(g, slope(b, x[0]!, attrs.beta))],
  // forward mode: the tangent times the derivative
  jvp: ({ b, x, t, attrs }) => b.mul(t[0]!, slope(b, x[0]!, attrs.beta)),
});

/**
 * A deliberately wrong VJP for softplus: it forgot `beta` (`g * sigmoid(x)`, right only at
 * beta = 1). A `rules` override by the op's name puts it in place of the op's own rule for one
 * check (grad, gradcheck, checkOpGradients...), without redefining the op.
 */
export const forgotBeta: VjpRules = {
  [softplus.name]: ({ b, g, x }) => [b.mul(g, b.sigmoid(x[0]!))], // <- the bug
};

/**
 * The attribute-free twin (beta = 1) declared as an elementwise expression: no kernel to write,
 * and the compiler fuses it into one loop with its elementwise neighbours. (defineOp refuses
 * `elementwise` together with `attrs`: a fused loop cannot see attributes.)
 */
export const softplusFused = defineOp({
  name: "example.softplusFused",
  doc: "softplus(x) = log(1 + exp(x)) as a fusable elementwise expression.",
  arity: 1,
  elementwise: {
    expr: (x) => `(Math.max(${x}, 0) + Math.log1p(Math.exp(-Math.abs(${x}))))`,
    fn: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
  },
  vjp: ({ b, g, x }) => [b.mul(g, b.sigmoid(x[0]!))],
  jvp: ({ b, t, x }) => b.mul(t[0]!, b.sigmoid(x[0]!)),
});

/**
 * How the property generates cases: any shape of rank 0-2 (dims up to 4), values in [-4, 4] on a
 * 1/1000 grid, and `beta = 1 + k/4` for k in [-3, 12] (0.25 ... 4), which shrinks towards 1.
 */
export const softplusSpec: OpTestSpec<SoftplusAttrs> = {
  cases: fc
    .tuple(
      shapeArb({ maxRank: 2, maxDim: 4 }).chain((s) => tensorArb(s, { min: -4, max: 4 })),
      fc.integer({ min: -3, max: 12 }).map((k) => 1 + k / 4),
    )
    .map(([x, beta]) => ({ args: [{ value: x, grad: "fd" as const }], attrs: { beta } })),
};

// ---- helpers ------------------------------------------------------------------------------------

/** `y = softplus(x; beta)` on an input of `shape` (output "y"). */
export function softplusGraph(
  shape: readonly number[],
  beta: number,
  op = softplus,
  dtype: "float32" | "float64" = "float64",
): Graph {
  const b = new GraphBuilder({ dtype });
  const x = b.input("x", [...shape]);
  b.output("y", op(b, x, { beta }));
  return b.build();
}

function errorOf(f: () => unknown): string {
  try {
    f();
    return "(no error)";
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

function caseJson(c: OpTestCase<SoftplusAttrs>) {
  const x = c.args[0]!.value;
  return { shape: [...x.shape], x: Array.from(x.data), beta: c.attrs.beta ?? 1 };
}

function describeCase(c: OpTestCase<SoftplusAttrs>): string {
  const x = c.args[0]!.value;
  const vals = Array.from(x.data, (v) => String(Number(v.toPrecision(6))));
  return `beta ${c.attrs.beta ?? 1}, x of shape [${x.shape.join(", ")}] = [${vals.join(", ")}]`;
}

function checkSummary(r: GradcheckReport) {
  return {
    ok: r.ok,
    checked: r.checked,
    failures: r.failures,
    maxRelError: r.maxRelError,
    maxAbsError: r.maxAbsError,
  };
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const seed = o.seed ?? 1;
  const epochs = o.epochs ?? 100;
  const lr = o.lr ?? 0.05;
  const runs = o.runs ?? 100;
  const batchSize = 32;
  const hidden = 16;
  const checkBeta = 2;
  const fcParams = fcParameters({ numRuns: runs, seed });
  const hyper = {
    op: "example.softplus: log(1 + exp(beta * x)) / beta",
    architecture: `2-${hidden}-2 (softplus, softmax)`,
    dataset: "make_moons(400, noise 0.2)",
    optimizer: "adam",
    epochs,
    lr,
    batchSize,
    hidden,
    seed,
    runs: fcParams.numRuns,
    fcSeed: fcParams.seed,
    checkBeta,
  };
  const reports: string[] = [];
  const log = (line = "") => ctx.log(line);
  const logBlock = (text: string, indent = "  ") => {
    for (const line of text.split("\n")) log(`${indent}${line}`);
  };

  // 1. the op: attributes, a node, the kernels, the fused twin
  log(
    `${softplus.name}: ${softplus.doc} Defined with defineOp in examples/src/examples/custom-op.ts (attrs, shape, float32/float64 kernels, vjp, jvp).`,
  );
  const probe = new GraphBuilder({ dtype: "float64" });
  const px = probe.input("x", ["N", 3]);
  const errors = {
    negativeBeta: errorOf(() => softplus(probe, px, { beta: -1 })),
    // the handle's attrs are typed, so TypeScript refuses this one; JavaScript callers and graphs
    // parsed from JSON reach the validator
    stringBeta: errorOf(() => probe.call(softplus, [px], { beta: "2" } as unknown as SoftplusAttrs)),
    unknownAttr: errorOf(() => probe.op(softplus.name, [px], { alpha: 1 })),
  };
  log("Attributes are validated when a node is made:");
  log(`  softplus(b, x, { beta: -1 })   -> ${errors.negativeBeta}`);
  log(`  softplus(b, x, { beta: "2" })  -> ${errors.stringBeta}`);
  log(`  b.op("${softplus.name}", [x], { alpha: 1 }) -> ${errors.unknownAttr}`);
  const node = printGraph(softplusGraph([2, 3], checkBeta))
    .split("\n")
    .find((l) => l.includes(softplus.name));
  log(`A node prints like a built-in one: ${node?.trim() ?? "?"}`);

  // the kernels: stable where the naive formula overflows, float32 and float64 agree
  const extremes = [-800, -30, -1, 0, 1, 30, 800];
  const kernelOut: Record<"float32" | "float64", number[]> = { float32: [], float64: [] };
  for (const dtype of ["float32", "float64"] as const) {
    const exe = compile(softplusGraph([extremes.length], 1, softplus, dtype));
    try {
      kernelOut[dtype] = Array.from(exe.run({ x: Tensor.from(extremes, { dtype }) }).y!.data);
    } finally {
      exe.dispose();
    }
  }
  const naive = extremes.map((x) => Math.log(1 + Math.exp(x)));
  // largest relative difference of each kernel from the float64 reference formula
  const kernelMaxRelDiff = { float32: 0, float64: 0 };
  for (let i = 0; i < extremes.length; i++) {
    const ref = softplusValue(extremes[i]!);
    for (const dtype of ["float32", "float64"] as const) {
      const d = ref === 0 ? Math.abs(kernelOut[dtype][i]!) : Math.abs(kernelOut[dtype][i]! / ref - 1);
      kernelMaxRelDiff[dtype] = Math.max(kernelMaxRelDiff[dtype], d);
    }
  }
  const fmtList = (xs: readonly number[]) => xs.map((v) => String(Number(v.toPrecision(6)))).join(", ");
  log(`Kernels at x = ${fmtList(extremes)} (beta 1):`);
  log(`  float64 kernel: ${fmtList(kernelOut.float64)}`);
  log(
    `  float32 kernel: ${fmtList(kernelOut.float32)} (max rel. difference ${kernelMaxRelDiff.float32.toExponential(1)})`,
  );
  log(`  naive log(1 + exp(x)): ${fmtList(naive)} (digits lost at -30, overflow at 800)`);

  // the fused twin: the same arithmetic as an expression, fused with its neighbours
  const fusion = (op: typeof softplusFused | typeof softplus) => {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 16]);
    b.output("y", op(b, x.mul(2).add(1)).mul(0.5));
    const exe = compile(b.build());
    try {
      return exe.plan({ x: [8, 16] }).stats;
    } finally {
      exe.dispose();
    }
  };
  const kernelStats = fusion(softplus);
  const fusedStats = fusion(softplusFused);
  log(
    `0.5 * softplus(2x + 1) compiles to ${kernelStats.steps} steps with the kernel op, ${fusedStats.steps} with its elementwise twin ${softplusFused.name} (${fusedStats.fused} nodes fused into one loop).`,
  );

  // 2. gradient checks of the op on fixed values (beta = checkBeta)
  const xs = Tensor.from(
    [
      [-5, -2.5, -1, -0.3],
      [0, 0.2, 0.7, 1.5],
      [2.2, 3, 4.5, 6],
    ],
    { dtype: "float64" },
  );
  const g = softplusGraph([3, 4], checkBeta);
  log("");
  log(
    `Gradient checks of y = softplus(x; beta ${checkBeta}) for x [3, 4] in [-5, 6] (every Jacobian entry, 12 x 12):`,
  );
  const first = gradcheck(g, { x: xs }, { of: "y", wrt: ["x"], topK: 5 });
  const second = gradgradcheck(g, { x: xs }, { of: "y", wrt: ["x"], topK: 5, seed });
  const forward = jvpcheck(g, { x: xs }, { of: "y", wrt: ["x"], topK: 5, seed });
  const f32 = gradcheck(
    softplusGraph([3, 4], checkBeta, softplus, "float32"),
    { x: xs },
    {
      of: "y",
      wrt: ["x"],
      dtype: "float32",
      topK: 5,
    },
  );
  for (const [title, r] of [
    ["first order: gradcheck (VJP against central differences)", first],
    ["second order: gradgradcheck (the VJP rule differentiated again)", second],
    ["forward mode: jvpcheck (JVP against the VJP and central differences)", forward],
  ] as const) {
    log(`${title}:`);
    const text = formatGradcheckReport(r);
    logBlock(text);
    reports.push(text);
  }
  log(
    `float32 kernel: gradcheck with dtype float32 ${f32.ok ? "ok" : "FAILED"} (max rel error ${f32.maxRelError.toExponential(2)}, float32 tolerances)`,
  );
  reports.push(formatGradcheckReport(f32));

  // 3. property-based: the correct op passes, the wrong VJP is caught and shrunk
  log("");
  log(
    `Properties (fast-check, ${fcParams.numRuns} runs, seed ${fcParams.seed}): every generated case (shape of rank 0-2, x in [-4, 4], beta in 0.25..4):`,
  );
  const good = fc.check(checkOpGradients(softplus, { spec: softplusSpec }), fcParams);
  log(
    `  checkOpGradients(softplus, { spec }): ${good.failed ? `FAILED after ${good.numRuns} runs (unexpected)` : `passed ${good.numRuns} runs`}`,
  );
  // forward mode on the same cases: the JVP against the VJP and finite differences
  const jvpRuns = Math.max(1, Math.ceil(fcParams.numRuns / 2));
  const fwd = fc.check(checkOpJvp(softplus, { spec: softplusSpec }), { ...fcParams, numRuns: jvpRuns });
  log(
    `  checkOpJvp(softplus, { spec }) (forward vs reverse mode): ${fwd.failed ? `FAILED after ${fwd.numRuns} runs (unexpected)` : `passed ${fwd.numRuns} runs`}`,
  );

  const unitCase: OpTestCase<SoftplusAttrs> = {
    args: [{ value: Tensor.from([-3, -1, 0, 0.5, 2, 3.5], { dtype: "float64" }), grad: "fd" }],
    attrs: {},
  };
  const wrong = { spec: softplusSpec, rules: forgotBeta };
  const unit = checkOpCase(softplus, unitCase, wrong);
  log(
    `Wrong VJP (rules: { [softplus.name]: g * sigmoid(x) }, forgot beta): a unit test at the default beta = 1, x = -3..3.5 ${unit.ok ? "passes (the bug hides there)" : "fails"}`,
  );
  // the same property as above, with the wrong rule (Verbose keeps the failures met while shrinking)
  const bad = fc.check(checkOpGradients(softplus, wrong), {
    ...fcParams,
    verbose: fc.VerbosityLevel.Verbose,
  });
  const firstFailure = (bad.failures[0]?.[0] ?? null) as OpTestCase<SoftplusAttrs> | null;
  const counterexample = (bad.counterexample?.[0] ?? null) as OpTestCase<SoftplusAttrs> | null;
  let minimalReport: GradcheckReport | null = null;
  if (bad.failed && counterexample) {
    log(`  the property FAILED after ${bad.numRuns} run(s), as it should`);
    if (firstFailure) log(`    first failing case:  ${describeCase(firstFailure)}`);
    log(`    shrunk (${bad.numShrinks} steps) to: ${describeCase(counterexample)}`);
    const minimal = checkOpCase(softplus, counterexample, wrong);
    minimalReport = minimal.report;
    if (minimalReport) {
      const text = formatGradcheckReport(minimalReport);
      logBlock(text, "    ");
      reports.push(text);
    }
  } else {
    log(`  the wrong VJP was not caught in ${bad.numRuns} runs (try more --runs)`);
  }
  // forward mode has its own rule, so jvpcheck sees the wrong VJP too: the two modes disagree
  const wrongJvp = jvpcheck(g, { x: xs }, { of: "y", wrt: ["x"], rules: forgotBeta });
  log(
    `  jvpcheck at beta ${checkBeta} ${wrongJvp.ok ? "passes (unexpected)" : `FAILS too: forward mode (the right JVP) and reverse mode (the wrong VJP) disagree on ${wrongJvp.failures} of ${wrongJvp.checked} entries`}`,
  );
  await ctx.chart("derivative", derivativeChart(checkBeta));

  // 4. training through the op
  log("");
  const data = makeMoons({ nSamples: 400, noise: 0.2, seed });
  const split = trainTestSplit(data.x, data.y, { testSize: 0.25, seed, stratify: true });
  const model = Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const h = dense(b, x, hidden, { name: "h", activation: softplus }); // a user op's handle is an activation
      const logits = dense(b, h, 2, { name: "out" });
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed },
  );
  const opNodes = model.trainingGraph.nodes.filter((n) => n.op === softplus.name).length;
  log(
    `Training 2-${hidden}-2 (softplus hidden layer, softmax output; ${model.parameterCount} parameters, ${opNodes} ${softplus.name} node in the training graph) with Adam (lr ${lr}) on ${split.yTrain.length} moons, validating on ${split.yTest.length}.`,
  );
  const { history, training } = fitClassifier(
    ctx,
    model,
    { x: split.xTrain, y: split.yTrain },
    { x: split.xTest, y: split.yTest },
    { epochs, lr, batchSize, seed, lines: 10 },
  );
  const test = model.evaluate(split.xTest, split.yTest, { metrics: ["accuracy"] });
  log(`Test: loss ${test.loss.toFixed(4)}, accuracy ${(100 * test.accuracy!).toFixed(1)}%`);

  // the graph names the op, so a reader must have it registered (this process has)
  const {
    loaded,
    maxDiff,
    identical: reloadIdentical,
  } = await saveAndReload(
    ctx,
    model,
    { example: "custom-op", ...hyper, testAccuracy: test.accuracy, training },
    split.xTest,
  );
  log(
    `Saved model.ggm (its graph names ${softplus.name}; a reader must define the op first) and loaded it back: predictions ${reloadIdentical ? "identical" : `differ (max |diff| ${maxDiff})`}.`,
  );

  // files
  const points = labeledPoints(data.x, data.y);
  const grid = classGrid((pts) => loaded.predict(pts), boundsOf(points, 0.3));
  await ctx.chart(
    "decision-boundary",
    decisionBoundaryChart([{ title: `test accuracy ${(100 * test.accuracy!).toFixed(1)}%`, grid }], points, {
      width: 360,
      height: 300,
      title: `custom-op: 2-${hidden}-2 softplus net on make_moons`,
    }),
  );
  await ctx.chart("history", curvesChart(historyCurves(history), { title: "custom-op: training curves" }));
  await ctx.writeJson("history.json", historyJson(history));
  await ctx.writeText("report.txt", `${reports.join("\n\n")}\n`);
  const wrongVjp = {
    unitTestAtBeta1Passes: unit.ok,
    caught: bad.failed,
    runsUntilFailure: bad.numRuns,
    shrinks: bad.numShrinks,
    counterexample: counterexample ? caseJson(counterexample) : null,
    firstFailure: firstFailure ? caseJson(firstFailure) : null,
    counterexampleMaxRelError: minimalReport?.maxRelError ?? null,
    jvpcheckCatches: !wrongJvp.ok,
  };
  const metrics = {
    testAccuracy: test.accuracy!,
    testLoss: test.loss,
    trainAccuracy: history.metrics.accuracy?.at(-1) ?? null,
    trainLoss: history.loss.at(-1) ?? null,
    epochsCompleted: history.epochs,
    reloadIdentical,
    kernelMaxRelDiff,
    gradcheck: checkSummary(first),
    gradgradcheck: checkSummary(second),
    jvpcheck: checkSummary(forward),
    gradcheckFloat32: checkSummary(f32),
    gradcheckMaxRelError: first.maxRelError,
    gradgradcheckMaxRelError: second.maxRelError,
    jvpcheckMaxRelError: forward.maxRelError,
    property: { passed: !good.failed, runs: good.numRuns },
    jvpProperty: { passed: !fwd.failed, runs: fwd.numRuns },
    wrongVjp,
    fusion: { kernelSteps: kernelStats.steps, fusedSteps: fusedStats.steps, fused: fusedStats.fused },
    attributeErrors: errors,
  };
  await ctx.writeJson("metrics.json", { example: "custom-op", hyper, metrics, training });
  return { hyper, metrics, training, failure: nonFiniteFailure(training) };
}

/** d softplus / dx at `beta` on [-4, 4]: the right VJP, the wrong one (through grad) and central differences. */
function derivativeChart(beta: number): TopLevelSpec {
  const n = 161;
  const xs = Float64Array.from({ length: n }, (_, i) => -4 + (8 * i) / (n - 1));
  const values: DerivativePoint[] = [];
  const curves = [
    [undefined, "VJP g * sigmoid(beta x)"],
    [forgotBeta, "wrong VJP g * sigmoid(x)"],
  ] as const;
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [n]);
  b.output("loss", softplus(b, x, { beta }).sum());
  const graph = b.build();
  for (const [rules, label] of curves) {
    const exe = compile(grad(graph, "loss", ["x"], { rules }));
    try {
      const d = exe.run({ x: new Tensor([n], xs) })["grad:x"]!.data;
      for (let i = 0; i < n; i++) values.push({ x: xs[i]!, derivative: d[i]!, curve: label });
    } finally {
      exe.dispose();
    }
  }
  const h = 1e-5;
  for (let i = 0; i < n; i++) {
    const fd = (softplusValue(xs[i]! + h, beta) - softplusValue(xs[i]! - h, beta)) / (2 * h);
    values.push({ x: xs[i]!, derivative: fd, curve: "central differences" });
  }
  const order: [string, string, string] = [
    "VJP g * sigmoid(beta x)",
    "central differences",
    "wrong VJP g * sigmoid(x)",
  ];
  return derivativeCurvesChart(
    `softplus'(x) at beta = ${beta}: the VJP rules vs finite differences`,
    "d softplus / dx",
    values,
    order,
  );
}
