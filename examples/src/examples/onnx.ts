/**
 * `pnpm example onnx`: gradgraph and ONNX Runtime, both ways, in five steps on generated data (no
 * download):
 *
 * 1. define a 2-16-16-2 tanh/softmax network in code and train it with `fit` (Adam) on make_moons;
 * 2. export its inference graph with `exportOnnx` (`moons-mlp.onnx`);
 * 3. run the file in ONNX Runtime (onnxruntime-node) and compare with gradgraph's predictions;
 * 4. read the file back with `importOnnx` (a gradgraph graph and params, as for any ONNX model),
 *    add a loss and fine-tune the imported network with `fit` on new data, moons rotated and
 *    shifted, printing the accuracy before and after (`finetuned.onnx`);
 * 5. export a whole training step (forward, backward, Adam update) with `exportTrainingStep`
 *    (`train-step.onnx`), run one step in ONNX Runtime and compare its loss, gradients and updated
 *    weights with gradgraph's, then train in ONNX Runtime alone and evaluate the weights it
 *    returns in gradgraph.
 *
 * Writes the three ONNX files, the decision boundaries of the three stages, the training curves,
 * history.json and metrics.json.
 * @module
 */
import { evaluate, type Graph, GraphBuilder, type ParamStore, Tensor } from "@gradgraph/core";
import { type LabeledData, makeMoons, trainTestSplit } from "@gradgraph/datasets";
import { adam, dense, Model, softmaxCrossEntropy } from "@gradgraph/models";
import { exportOnnx, exportTrainingStep, importOnnx, trainingStepGraph } from "@gradgraph/onnx";
import * as ort from "onnxruntime-node";
import { fitClassifier } from "../classifier.js";
import type { ExampleContext, ExampleResult } from "../context.js";
import { describeIo, inferenceGraph } from "../onnx.js";
import { type BoundaryPanel, boundsOf, curvesChart, decisionBoundaryChart, historyCurves } from "../plots.js";
import { classGrid, historyJson, labeledPoints, nonFiniteFailure } from "../training.js";

/** The network of step 1: 2-16-16-2, tanh hidden layers, softmax output, cross-entropy. */
function moonsNet(b: GraphBuilder) {
  const x = b.input("x", ["N", 2]);
  const y = b.input("y", ["N", 2]);
  const h1 = dense(b, x, 16, { name: "h1", activation: "tanh" });
  const h2 = dense(b, h1, 16, { name: "h2", activation: "tanh" });
  const logits = dense(b, h2, 2, { name: "out" });
  return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
}

/**
 * A training graph around an imported inference graph: the target input `y` (one-hot) and the
 * loss `-mean(sum(y · log(predictions)))` (the imported graph ends in a softmax, so its output is
 * already the class probabilities).
 */
function withLoss(imported: Graph): Graph {
  const b = GraphBuilder.extend(imported);
  const p = b.ref("predictions");
  const y = b.input("y", p.shape);
  b.output("loss", b.neg(b.mean(b.sum(b.mul(y, b.log(p)), -1))));
  return b.build();
}

/** The new data of step 4: the moons rotated by 50 degrees about their centre and shifted. */
function shiftedMoons(n: number, seed: number): LabeledData {
  const d = makeMoons({ nSamples: n, noise: 0.2, seed });
  const c = Math.cos((50 * Math.PI) / 180);
  const s = Math.sin((50 * Math.PI) / 180);
  const x = new Float32Array(d.x.size);
  for (let i = 0; i < d.y.length; i++) {
    const u = d.x.data[2 * i]! - 0.5;
    const v = d.x.data[2 * i + 1]! - 0.25;
    x[2 * i] = c * u - s * v + 0.8;
    x[2 * i + 1] = s * u + c * v - 0.6;
  }
  return { x: new Tensor(d.x.shape as number[], x), y: d.y };
}

/** One-hot rows of `labels`, `[n, 2]`, float32. */
function oneHot(labels: ArrayLike<number>): Tensor {
  const out = new Float32Array(2 * labels.length);
  for (let i = 0; i < labels.length; i++) out[2 * i + labels[i]!] = 1;
  return new Tensor([labels.length, 2], out);
}

/** The first `n` rows of a sample-major tensor. */
function firstRows(t: Tensor, n: number): Tensor {
  const per = t.size / t.shape[0]!;
  return new Tensor([n, ...t.shape.slice(1)], t.data.slice(0, n * per));
}

/** Accuracy of `model` on `data`. */
function accuracy(model: Model, data: LabeledData): number {
  return model.evaluate(data.x, data.y, { metrics: ["accuracy"] }).accuracy!;
}

/** The largest |a − e| / (|e| + 1e-6) over two tensors of the same size. */
function maxScaledError(a: Tensor, e: Tensor): number {
  let worst = 0;
  for (let i = 0; i < e.size; i++)
    worst = Math.max(worst, Math.abs(a.data[i]! - e.data[i]!) / (Math.abs(e.data[i]!) + 1e-6));
  return worst;
}

/**
 * The largest |a − e| over the largest |e|: the error of a tensor of sums (gradients) relative to
 * its scale (an entry near zero is a sum that cancels, whose own relative error says nothing).
 */
function peakRelativeError(a: Tensor, e: Tensor): number {
  let diff = 0;
  let peak = 0;
  for (let i = 0; i < e.size; i++) {
    diff = Math.max(diff, Math.abs(a.data[i]! - e.data[i]!));
    peak = Math.max(peak, Math.abs(e.data[i]!));
  }
  return peak === 0 ? diff : diff / peak;
}

/** The rows of `[n, k]` tensors whose largest entry is at different places. */
function classMismatches(a: Tensor, e: Tensor): number {
  const [n, k] = e.shape as [number, number];
  const arg = (t: Tensor, i: number) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (t.data[i * k + j]! > t.data[i * k + best]!) best = j;
    return best;
  };
  let wrong = 0;
  for (let i = 0; i < n; i++) if (arg(a, i) !== arg(e, i)) wrong++;
  return wrong;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/** A gradgraph tensor as an ONNX Runtime tensor (float32 or float64). */
function toOrt(t: Tensor): ort.Tensor {
  return t.dtype === "float64"
    ? new ort.Tensor("float64", Float64Array.from(t.data), [...t.shape])
    : new ort.Tensor("float32", Float32Array.from(t.data), [...t.shape]);
}

/** An ONNX Runtime result as a gradgraph tensor. */
function fromOrt(v: ort.Tensor): Tensor {
  const dims = v.dims.map(Number);
  if (v.type === "float64") return new Tensor(dims, Float64Array.from(v.data as Float64Array));
  if (v.type === "float32") return new Tensor(dims, Float32Array.from(v.data as Float32Array));
  throw new Error(`ONNX Runtime returned a ${v.type} tensor where a float one was expected`);
}

/** Runs `session` on gradgraph tensors; returns every output as a gradgraph tensor. */
async function runOrt(
  session: ort.InferenceSession,
  feeds: Readonly<Record<string, Tensor>>,
): Promise<Record<string, Tensor>> {
  const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toOrt(t)])));
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrt(v)]));
}

/** Writes `bytes` into the output directory and logs the file with its size. */
async function writeOnnx(ctx: ExampleContext, file: string, bytes: Uint8Array, what: string): Promise<void> {
  await ctx.writeText(file, bytes);
  ctx.log(`  wrote ${file} (${bytes.length.toLocaleString("en-US")} bytes): ${what}`);
}

/** Step 5: one training step in ONNX Runtime against gradgraph's, then a short run in ONNX Runtime alone. */
async function trainingStepInOrt(
  ctx: ExampleContext,
  graph: Graph,
  params: ParamStore,
  data: { train: LabeledData; test: LabeledData },
  lr: number,
  steps: number,
) {
  const step = exportTrainingStep(graph, params, {
    loss: "loss",
    optimizer: { kind: "adam", lr },
    name: "moons-mlp-train-step",
  });
  await writeOnnx(
    ctx,
    "train-step.onnx",
    step.bytes,
    `loss, ${step.wrt.length} gradients and the Adam update of ${step.wrt.join(", ")}`,
  );
  const session = await ort.InferenceSession.create(step.bytes, { executionProviders: ["cpu"] });
  try {
    // one step on a batch of 64, from the imported weights: ONNX Runtime against gradgraph
    const x = firstRows(data.train.x, 64);
    const labels = data.train.y.subarray(0, 64);
    const y = oneHot(labels);
    const got = await runOrt(session, { x, y, ...step.state });
    const mine = lossAndGrads(graph, params, x, y);
    const reference = new Model(graph, { params: params.clone() });
    reference.trainStep(x, labels, adam({ lr }));
    let gradError = 0;
    let paramError = 0;
    for (const p of step.wrt) {
      gradError = Math.max(gradError, peakRelativeError(got[`grad:${p}`]!, mine[`grad:${p}`]!));
      paramError = Math.max(paramError, peakRelativeError(got[`next:${p}`]!, reference.params.get(p)));
    }
    const lossError = maxScaledError(got.loss!, mine.loss!);
    ctx.log(
      `  one step in ONNX Runtime on 64 points: loss ${got.loss!.data[0]!.toFixed(6)} (gradgraph ${mine.loss!.data[0]!.toFixed(6)}, scaled error ${lossError.toExponential(1)}); every gradient within ${gradError.toExponential(1)} of its largest entry; the weights after Adam's update within ${paramError.toExponential(1)} (of the largest) of those after gradgraph's adam step`,
    );

    // train in ONNX Runtime alone, full batch, then evaluate the weights it returns in gradgraph
    const xAll = data.train.x;
    const yAll = oneHot(data.train.y);
    let state: Record<string, Tensor> = { ...step.state };
    let first = Number.NaN;
    let last = Number.NaN;
    for (let i = 0; i < steps && !ctx.shouldStop(); i++) {
      const out = await runOrt(session, { x: xAll, y: yAll, ...state });
      if (i === 0) first = out.loss!.data[0]!;
      last = out.loss!.data[0]!;
      for (const name of step.carried) state = { ...state, [name]: out[`next:${name}`]! };
    }
    const trained = new Model(graph, { params: params.clone() });
    for (const p of step.wrt) trained.params.set(p, state[p]!);
    const before = accuracy(new Model(graph, { params }), data.test);
    const after = accuracy(trained, data.test);
    ctx.log(
      `  ${steps} full-batch Adam steps in ONNX Runtime alone: loss ${first.toFixed(4)} -> ${last.toFixed(4)}; those weights in gradgraph: test accuracy ${pct(before)} -> ${pct(after)}`,
    );
    return { lossError, gradError, paramError, steps, firstLoss: first, lastLoss: last, before, after };
  } finally {
    await session.release();
  }
}

/** gradgraph's loss and gradients of `graph` on one batch: its training-step graph without an optimizer, evaluated. */
function lossAndGrads(graph: Graph, params: ParamStore, x: Tensor, y: Tensor): Record<string, Tensor> {
  return evaluate(trainingStepGraph(graph, { loss: "loss" }).graph, { x, y }, { params });
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const epochs = o.epochs ?? 40;
  const lr = o.lr ?? 0.01;
  const seed = o.seed ?? 1;
  const batchSize = 32;
  const ortSteps = 100;
  const hyper = {
    architecture: "2-16-16-2 (tanh, softmax)",
    dataset: "make_moons(600, noise 0.2); new data: the same rotated by 50 degrees and shifted",
    optimizer: "adam",
    epochs,
    lr,
    batchSize,
    seed,
    ortSteps,
  };

  // 1. define and train in gradgraph
  ctx.log("1. Define a 2-16-16-2 tanh/softmax network in code and train it with fit (Adam) on make_moons");
  const moons = makeMoons({ nSamples: 600, noise: 0.2, seed });
  const split = trainTestSplit(moons.x, moons.y, { testSize: 0.25, seed, stratify: true });
  const train = { x: split.xTrain, y: split.yTrain };
  const test = { x: split.xTest, y: split.yTest };
  const model = Model.define(moonsNet, { seed });
  const first = fitClassifier(ctx, model, train, test, { epochs, lr, batchSize, seed, lines: 4 });
  const accuracy0 = accuracy(model, test);
  ctx.log(`  test accuracy ${pct(accuracy0)} (${model.parameterCount} parameters)`);

  // 2. export the inference graph
  ctx.log("2. Export its inference graph with exportOnnx");
  const inference = inferenceGraph(model);
  const bytes = exportOnnx(inference, model.params, {
    outputs: [model.predictions],
    name: "moons-mlp",
    docString: "gradgraph example 'onnx': a 2-16-16-2 tanh/softmax network trained on make_moons",
  });
  await writeOnnx(ctx, "moons-mlp.onnx", bytes, `${describeIo(inference)}, opset 18`);

  // 3. run it in ONNX Runtime
  ctx.log("3. Run the file in ONNX Runtime (onnxruntime-node, CPU) and compare with gradgraph");
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
  const expected = model.predict(test.x);
  let got: Tensor;
  try {
    got = (await runOrt(session, { x: test.x })).predictions!;
  } finally {
    await session.release();
  }
  const ortMismatches = classMismatches(got, expected);
  const ortError = maxScaledError(got, expected);
  ctx.log(
    `  ${test.y.length - ortMismatches} of ${test.y.length} test points get the same class; probabilities within ${ortError.toExponential(1)} (scaled error |a-e|/(|e|+1e-6))`,
  );

  // 4. import and fine-tune on new data
  ctx.log(
    "4. Import the file with importOnnx, add a loss and fine-tune the imported network with fit on new data",
  );
  const imported = importOnnx(bytes);
  ctx.log(
    `  imported: inputs ${imported.inputs.join(", ")}; outputs ${imported.outputs.join(", ")}; params ${Object.keys(imported.graph.params).join(", ")}`,
  );
  const tuned = new Model(withLoss(imported.graph), { params: imported.params });
  const roundTrip = maxScaledError(tuned.predict(test.x), expected);
  ctx.log(
    `  round trip: the imported network's predictions are within ${roundTrip.toExponential(1)} of the original's`,
  );
  const shifted = shiftedMoons(600, seed + 1);
  const s = trainTestSplit(shifted.x, shifted.y, { testSize: 0.25, seed, stratify: true });
  const newTrain = { x: s.xTrain, y: s.yTrain };
  const newTest = { x: s.xTest, y: s.yTest };
  const startParams = tuned.params.clone();
  const before = accuracy(tuned, newTest);
  ctx.log(
    `  on the new data (moons rotated by 50 degrees and shifted), before fine-tuning: test accuracy ${pct(before)}`,
  );
  const second = fitClassifier(ctx, tuned, newTrain, newTest, { epochs, lr, batchSize, seed, lines: 4 });
  const after = accuracy(tuned, newTest);
  const oldAfter = accuracy(tuned, test);
  ctx.log(
    `  after fine-tuning: test accuracy ${pct(after)} on the new data (${pct(oldAfter)} on the original moons)`,
  );
  const tunedInference = inferenceGraph(tuned);
  await writeOnnx(
    ctx,
    "finetuned.onnx",
    exportOnnx(tunedInference, tuned.params, { outputs: ["predictions"], name: "moons-mlp-finetuned" }),
    describeIo(tunedInference),
  );

  // 5. a whole training step in ONNX Runtime
  ctx.log(
    "5. Export a whole training step (forward, backward, Adam) with exportTrainingStep and run it in ONNX Runtime",
  );
  const steps = await trainingStepInOrt(
    ctx,
    withLoss(imported.graph),
    startParams,
    { train: newTrain, test: newTest },
    lr,
    ortSteps,
  );

  // figures and files
  const points = labeledPoints(moons.x, moons.y);
  const newPoints = labeledPoints(shifted.x, shifted.y);
  const bounds = boundsOf([...points, ...newPoints], 0.4);
  const startModel = new Model(tuned.graph, { params: startParams });
  const panels: BoundaryPanel[] = [
    {
      title: `trained in gradgraph: ${pct(accuracy0)} on moons`,
      grid: classGrid((p) => model.predict(p), bounds),
      points,
    },
    {
      title: `imported, on the new data: ${pct(before)}`,
      grid: classGrid((p) => startModel.predict(p), bounds),
      points: newPoints,
    },
    {
      title: `fine-tuned with fit: ${pct(after)}`,
      grid: classGrid((p) => tuned.predict(p), bounds),
      points: newPoints,
    },
  ];
  await ctx.chart(
    "decision-boundary",
    decisionBoundaryChart(panels, [], {
      width: 300,
      height: 240,
      columns: 3,
      title: "onnx: trained, exported to ONNX, imported and fine-tuned on new data",
    }),
  );
  const curves = [
    ...historyCurves(first.history).map((c) => ({ ...c, series: `moons, ${c.series}` })),
    ...historyCurves(second.history).map((c) => ({ ...c, series: `new data, ${c.series}` })),
  ];
  await ctx.chart("history", curvesChart(curves, { title: "onnx: training and fine-tuning curves" }));
  await ctx.writeJson("history.json", {
    train: historyJson(first.history),
    fineTune: historyJson(second.history),
  });
  const metrics = {
    testAccuracy: accuracy0,
    ortClassMismatches: ortMismatches,
    ortMaxScaledError: ortError,
    roundTripMaxScaledError: roundTrip,
    newDataAccuracyBefore: before,
    newDataAccuracyAfter: after,
    originalAccuracyAfter: oldAfter,
    trainingStep: steps,
  };
  await ctx.writeJson("metrics.json", { example: "onnx", hyper, metrics, training: first.training });
  const failure = nonFiniteFailure(first.training) ?? nonFiniteFailure(second.training);
  return { hyper, metrics, training: first.training, ...(failure ? { failure } : {}) };
}
