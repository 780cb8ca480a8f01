/**
 * `pnpm example custom-cnn`: a convolutional network of your own, defined in code, trained, saved,
 * loaded and looked into.
 *
 * The network takes scikit-learn's 8x8 digits: the 64 pixels reshaped to `[N, 1, 8, 8]` in the
 * graph, a `conv2d` layer, then a residual block written with raw builder ops (a convolution
 * `b.conv2d(h, W)` with its own param, a ReLU, and the skip `h.add(...)`), max pooling, batch
 * normalisation of the flattened features, dropout and a dense softmax output. It trains with Adam
 * (dropout and batch norm in training mode; evaluation and prediction in evaluation mode), is saved
 * to `model.ggm`, loaded back (the loaded copy must predict exactly the same), and draws its curves,
 * confusion matrix, first-layer filters and the feature maps of a test digit.
 * @module
 */
import { type GraphBuilder, Tensor } from "@gradgraph/core";
import { trainTestSplit } from "@gradgraph/datasets";
import { loadDigits } from "@gradgraph/datasets/node";
import {
  argmax,
  batchNorm,
  confusionMatrix,
  conv2d,
  dense,
  dropout,
  flatten,
  init,
  Model,
  maxPool2d,
  softmaxCrossEntropy,
} from "@gradgraph/models";
import { fitClassifier, saveAndReload } from "../classifier.js";
import type { ExampleContext, ExampleResult } from "../context.js";
import {
  confusionMatrixChart,
  curvesChart,
  featureMapsChart,
  filtersChart,
  historyCurves,
} from "../plots.js";
import { loadOptions } from "../presets.js";
import { historyJson, nonFiniteFailure } from "../training.js";

/**
 * The architecture, as a function of a builder. `filters` is the width of both convolutions.
 * Besides the predictions and the loss it returns the first layer's activations, which
 * `run` adds as a third output (`"features"`) to draw them.
 */
export function digitsCnn(b: GraphBuilder, filters: number) {
  const x = b.input("x", ["N", 64]); // "N": any batch size; pixels 0..16
  const y = b.input("y", ["N", 10]); // one-hot targets
  const images = b.reshape(x.div(16), ["N", 1, 8, 8]); // NCHW, scaled to [0, 1]
  const c1 = conv2d(b, images, filters, 3, {
    name: "conv1",
    padding: "same",
    activation: "relu",
    weightInit: init.heNormal(),
  });
  // a residual block in raw builder ops: h + relu(conv(h, W) + bias)
  const w = b.param("res/W", [filters, filters, 3, 3], { init: init.heNormal({ fanIn: filters * 9 }) });
  const bias = b.param("res/b", [1, filters, 1, 1]);
  const h = c1.add(b.conv2d(c1, w, { padding: "same" }).add(bias).relu());
  const pooled = maxPool2d(b, h, 2, { name: "pool" }); // [N, filters, 4, 4]
  const features = dropout(b, batchNorm(b, flatten(b, pooled), { name: "bn" }), 0.25, { name: "drop" });
  const logits = dense(b, features, 10, { name: "out" });
  return {
    input: x,
    target: y,
    predictions: b.softmax(logits),
    loss: softmaxCrossEntropy(b, logits, y),
    firstLayer: c1,
  };
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const epochs = o.epochs ?? 30;
  const lr = o.lr ?? 0.005;
  const batchSize = o.batchSize ?? 32;
  const filters = o.hidden?.[0] ?? 8;
  const seed = o.seed ?? 1;
  const hyper = {
    architecture: `conv ${filters}@3x3 - residual block (raw ops) - max pool - batch norm - dropout 0.25 - dense 10`,
    dataset: "scikit-learn digits (8x8), stratified 75/25 split",
    optimizer: "adam",
    epochs,
    lr,
    batchSize,
    filters,
    seed,
  };

  const data = await loadDigits(loadOptions(ctx));
  const split = trainTestSplit(data.x, data.y, { testSize: 0.25, seed, stratify: true });
  // Model.define names the predictions and loss outputs; the builder callback may add more
  const model = Model.define(
    (b) => {
      const net = digitsCnn(b, filters);
      b.output("features", net.firstLayer);
      return net;
    },
    { seed },
  );
  ctx.log(`A CNN on 8x8 digits, ${model.parameterCount} parameters:`);
  for (const [name, p] of Object.entries(model.graph.params))
    ctx.log(
      `  ${name.padEnd(18)} [${p.shape.join(", ")}]${model.trainable.includes(name) ? "" : " (state)"}`,
    );
  ctx.log(
    `Training with Adam (lr ${lr}) on ${split.yTrain.length} digits, validating on ${split.yTest.length}.`,
  );

  const { history, training } = fitClassifier(
    ctx,
    model,
    { x: split.xTrain, y: split.yTrain },
    { x: split.xTest, y: split.yTest },
    { epochs, lr, batchSize, seed, lines: 10 },
  );
  const test = model.evaluate(split.xTest, split.yTest, { metrics: ["accuracy"] });
  ctx.log(`Test: loss ${test.loss.toFixed(4)}, accuracy ${(100 * test.accuracy!).toFixed(1)}%`);

  const { loaded, maxDiff, identical } = await saveAndReload(
    ctx,
    model,
    { example: "custom-cnn", ...hyper, testAccuracy: test.accuracy, training },
    split.xTest,
  );
  ctx.log(
    `Saved model.ggm and loaded it back: predictions ${identical ? "identical" : `differ (max |diff| ${maxDiff})`} on ${split.yTest.length} test digits.`,
  );

  // the loaded copy's predictions, filters and first-layer feature maps
  const predicted = argmax(loaded.predict(split.xTest));
  const actual = Int32Array.from(split.yTest);
  const cm = confusionMatrix(predicted, actual, 10);
  await ctx.chart(
    "confusion-matrix",
    confusionMatrixChart(cm.matrix, cm.labels, { title: "custom-cnn: confusion matrix (test set)" }),
  );
  await ctx.chart("history", curvesChart(historyCurves(history), { title: "custom-cnn: training curves" }));
  const w = loaded.params.get("conv1/W");
  await ctx.chart(
    "filters",
    filtersChart(w.data, w.shape as [number, number, number, number], {
      title: "custom-cnn: learned filters of conv1",
    }),
  );
  // a second view of the loaded graph whose predictions are the "features" output
  const view = new Model(loaded.graph, { params: loaded.params, predictions: "features" });
  const image = split.xTest.data.slice(0, 64);
  const maps = view.predict(new Tensor([1, 64], image));
  const [, c, mh, mw] = maps.shape as [number, number, number, number];
  await ctx.chart(
    "feature-maps",
    featureMapsChart(
      Array.from(image, (v) => v / 16),
      { width: 8, height: 8 },
      maps.data,
      [c, mh, mw],
      {
        title: `custom-cnn: conv1 feature maps of test digit 0 (true ${actual[0]}, predicted ${predicted[0]})`,
      },
    ),
  );
  await ctx.writeJson("history.json", historyJson(history));
  const metrics = {
    testLoss: test.loss,
    testAccuracy: test.accuracy!,
    trainLoss: history.loss.at(-1) ?? null,
    trainAccuracy: history.metrics.accuracy?.at(-1) ?? null,
    epochsCompleted: history.epochs,
    params: model.parameterCount,
    reloadIdentical: identical,
  };
  await ctx.writeJson("metrics.json", { example: "custom-cnn", hyper, metrics, training });
  return { hyper, metrics, training, failure: nonFiniteFailure(training) };
}
