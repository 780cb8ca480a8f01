/**
 * `pnpm example custom`: a new architecture defined in code, trained, saved, loaded and used.
 *
 * The network is 2-H-H-2: a relu layer, then a tanh layer that also receives a skip connection from
 * the input (written with raw builder ops, next to the `dense` layers), then a softmax output with
 * cross-entropy. It is trained with Adam on `make_circles`, saved to `model.ggm` with `saveModel`,
 * loaded back with `loadModel`, and the loaded copy must predict exactly what the original does.
 * @module
 */
import { type Graph, type GraphBuilder, Tensor } from "@gradgraph/core";
import { makeCircles, trainTestSplit } from "@gradgraph/datasets";
import { dense, init, Model, softmaxCrossEntropy } from "@gradgraph/models";
import { fitClassifier, saveAndReload } from "../classifier.js";
import type { ExampleContext, ExampleResult } from "../context.js";
import { boundsOf, curvesChart, decisionBoundaryChart, historyCurves } from "../plots.js";
import { classGrid, historyJson, labeledPoints, nonFiniteFailure } from "../training.js";

/**
 * The architecture, as a function of a builder: inputs, layers, a raw skip connection, the loss.
 * `Model.define` calls it once to build the graph.
 */
export function circlesNet(b: GraphBuilder, hidden: number) {
  const x = b.input("x", ["N", 2]); // "N": any batch size
  const y = b.input("y", ["N", 2]); // one-hot targets
  const h1 = dense(b, x, hidden, { name: "h1", activation: "relu", weightInit: init.scaledNormal() });
  const z2 = dense(b, h1, hidden, { name: "h2" }); // linear part of the second layer
  const skip = b.param("skip/W", [2, hidden], { init: { kind: "glorotUniform" } });
  const h2 = z2.add(x.matmul(skip)).tanh(); // raw ops: add the input's projection, then tanh
  const logits = dense(b, h2, 2, { name: "out" });
  return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
}

function paramTable(graph: Graph): string[] {
  return Object.entries(graph.params).map(([name, p]) => `  ${name.padEnd(8)} [${p.shape.join(", ")}]`);
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const epochs = o.epochs ?? 60;
  const lr = o.lr ?? 0.01;
  const batchSize = o.batchSize ?? 32;
  const hidden = o.hidden?.[0] ?? 16;
  const seed = o.seed ?? 1;
  const hyper = {
    architecture: `2-${hidden}-${hidden}-2 (relu, tanh + skip, softmax)`,
    dataset: "make_circles(600, noise 0.15, factor 0.6)",
    optimizer: "adam",
    epochs,
    lr,
    batchSize,
    hidden,
    seed,
  };

  const data = makeCircles({ nSamples: 600, noise: 0.15, factor: 0.6, seed });
  const split = trainTestSplit(data.x, data.y, { testSize: 0.25, seed, stratify: true });
  const model = Model.define((b) => circlesNet(b, hidden), { seed });
  ctx.log(`Architecture 2-${hidden}-${hidden}-2, ${model.parameterCount} parameters:`);
  for (const line of paramTable(model.graph)) ctx.log(line);
  ctx.log(
    `Training with Adam (lr ${lr}) on ${split.yTrain.length} points, validating on ${split.yTest.length}.`,
  );

  // a stop (Ctrl-C, --time-limit) inside an epoch rolls that epoch back, and a non-finite loss rolls
  // back to the last finite epoch, so the model saved below always holds `history.epochs` epochs
  const { history, training } = fitClassifier(
    ctx,
    model,
    { x: split.xTrain, y: split.yTrain },
    { x: split.xTest, y: split.yTest },
    { epochs, lr, batchSize, seed, lines: 15 },
  );

  const test = model.evaluate(split.xTest, split.yTest, { metrics: ["accuracy"] });
  ctx.log(`Test: loss ${test.loss.toFixed(4)}, accuracy ${(100 * test.accuracy!).toFixed(1)}%`);

  // save, load, predict with the loaded copy
  const { loaded, maxDiff, identical } = await saveAndReload(
    ctx,
    model,
    { example: "custom", ...hyper, testAccuracy: test.accuracy, training },
    split.xTest,
  );
  ctx.log(
    `Saved model.ggm and loaded it back: predictions ${identical ? "identical" : `differ (max |diff| ${maxDiff})`} on ${split.yTest.length} test points.`,
  );
  const probe = Tensor.from(
    [
      [0, 0],
      [0.9, 0.1],
    ],
    { dtype: "float32" },
  );
  const p = loaded.predict(probe);
  ctx.log(
    `Loaded model: P(inner circle | (0, 0)) = ${p.get(0, 1).toFixed(3)}, P(inner circle | (0.9, 0.1)) = ${p.get(1, 1).toFixed(3)}`,
  );

  // plots and files
  const points = labeledPoints(data.x, data.y);
  const bounds = boundsOf(points, 0.3);
  const grid = classGrid((pts) => loaded.predict(pts), bounds);
  await ctx.chart(
    "decision-boundary",
    decisionBoundaryChart([{ title: `test accuracy ${(100 * test.accuracy!).toFixed(1)}%`, grid }], points, {
      width: 360,
      height: 300,
      title: `custom: 2-${hidden}-${hidden}-2 net loaded from model.ggm`,
    }),
  );
  await ctx.chart("history", curvesChart(historyCurves(history), { title: "custom: training curves" }));
  await ctx.writeJson("history.json", historyJson(history));
  const metrics = {
    testLoss: test.loss,
    testAccuracy: test.accuracy!,
    trainLoss: history.loss.at(-1) ?? null,
    trainAccuracy: history.metrics.accuracy?.at(-1) ?? null,
    epochsCompleted: history.epochs,
    reloadIdentical: identical,
  };
  await ctx.writeJson("metrics.json", { example: "custom", hyper, metrics, training });
  return { hyper, metrics, training, failure: nonFiniteFailure(training) };
}
