/**
 * `pnpm example lenet`: a LeNet-5-style convolutional network on MNIST (preset `"lenet-mnist"`):
 * conv 6@5x5 - max pool - conv 16@5x5 - max pool - dense 120 - dense 84 - dense 10 with ReLU
 * (`--arch lenet5`), or a small CNN with batch normalisation and dropout (`--arch bn`); Adam with a
 * cosine learning-rate schedule, batches of 64, training images moved by random shifts of up to 2
 * pixels, 10 epochs; 50,000 training, 10,000 validation and
 * 10,000 test images. Besides the classifier outputs it draws the learned first-layer filters and
 * the first layer's feature maps of a test digit.
 * @module
 */
import { Tensor } from "@gradgraph/core";
import { loadMnist } from "@gradgraph/datasets/node";
import {
  type LenetArch,
  type LenetHyper,
  type LenetResult,
  lenetFeatureMaps,
  lenetMnist,
} from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import { featureMapsChart, filtersChart } from "../plots.js";
import { loadOptions, presetHooks, saveTrained, shownImages, writeClassifierOutputs } from "../presets.js";
import { nonFiniteFailure, trainingSummary } from "../training.js";

/** The test image whose feature maps are drawn (the first of the test set, a 7). */
const FEATURE_IMAGE = 0;

/** The first layer's activations for one test image. */
interface FeatureMaps {
  /** Index of the image in the test set. */
  readonly index: number;
  /** Its pixels (a copy), 28x28 row-major in [0, 1]. */
  readonly pixels: Float32Array;
  /** The maps, `[channels, height, width]` row-major. */
  readonly maps: Float32Array;
  /** `[channels, height, width]`. */
  readonly shape: [number, number, number];
}

/** What training leaves for the outputs: the result, the training-set size, the images shown. */
interface Trained {
  readonly result: LenetResult;
  readonly n: number;
  readonly pixels: (i: number) => ArrayLike<number>;
  readonly features: FeatureMaps;
}

/**
 * Loads MNIST and trains. Only copies of the test images the outputs show leave this function, so
 * the data set can be freed before the charts are rendered.
 */
async function train(ctx: ExampleContext, overrides: Partial<LenetHyper>): Promise<Trained> {
  const d = lenetMnist.defaults;
  const o = ctx.options;
  const data = await loadMnist({
    ...loadOptions(ctx),
    split: "train-validation-test",
    ...(o.trainSize !== undefined ? { trainSize: o.trainSize } : {}),
  });
  const n = data.train.y.length;
  const batchSize = overrides.batchSize ?? d.batchSize;
  const arch = overrides.arch ?? d.arch;
  ctx.log(
    `${arch === "lenet5" ? "LeNet-5 (conv 6@5x5, pool, conv 16@5x5, pool, dense 120-84-10, ReLU)" : "CNN with batch norm and dropout (conv 8@3x3, bn, pool, conv 16@3x3, bn, pool, conv 32@3x3, bn, dropout, dense 10)"}: ${overrides.epochs ?? d.epochs} epochs, batch ${batchSize}, Adam lr ${overrides.lr ?? d.lr} (cosine), random shifts of up to ${d.shift} pixels, ${n} training images`,
  );
  const result = await lenetMnist.run(data, overrides, presetHooks(ctx, { samplesPerBatch: batchSize }));
  ctx.reporter.stop();
  const i = Math.min(FEATURE_IMAGE, data.test.y.length - 1);
  const image = data.test.x.data.slice(i * 784, (i + 1) * 784);
  const maps = lenetFeatureMaps(result.model, new Tensor([1, 784], image));
  const [, c, h, w] = maps.shape as [number, number, number, number];
  return {
    result,
    n,
    pixels: shownImages(result.test.predicted, result.test.actual, data.test.x),
    features: {
      index: i,
      pixels: Float32Array.from(image),
      maps: Float32Array.from(maps.data),
      shape: [c, h, w],
    },
  };
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const overrides: Partial<LenetHyper> = {
    ...(o.arch !== undefined ? { arch: o.arch as LenetArch } : {}),
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
  const { result, n, pixels, features } = await train(ctx, overrides);
  const h = result.hyperparameters;
  await writeClassifierOutputs(ctx, {
    title: `lenet (${h.arch})`,
    history: result.history,
    series: ["train", "validation"],
    predicted: result.test.predicted,
    actual: result.test.actual,
    set: "test",
    pixels,
    shape: { width: 28, height: 28 },
  });
  const w = result.filters.weights;
  await ctx.chart(
    "filters",
    filtersChart(w.data, w.shape as [number, number, number, number], {
      title: `lenet (${h.arch}): learned filters of the first convolution layer (${result.filters.layer})`,
    }),
  );
  const f = features;
  const predicted = result.test.predicted[f.index]!;
  const actual = result.test.actual[f.index]!;
  await ctx.chart(
    "feature-maps",
    featureMapsChart(f.pixels, { width: 28, height: 28 }, f.maps, f.shape, {
      title: `lenet (${h.arch}): first-layer feature maps of test image ${f.index} (true ${actual}, predicted ${predicted})`,
    }),
  );
  const training = trainingSummary(ctx, {
    planned: h.epochs,
    history: result.history,
    nonFinite: result.nonFinite,
  });
  const times = result.history.epochTimeMs;
  const metrics = {
    testAccuracy: result.test.accuracy,
    testLoss: result.test.loss,
    validationAccuracy: result.validationAccuracy,
    trainAccuracy: result.trainAccuracy,
    epochsCompleted: result.history.epochs,
    trainSize: n,
    params: result.model.parameterCount,
    meanEpochSeconds: times.length ? times.reduce((a, b) => a + b, 0) / times.length / 1000 : 0,
    trainSeconds: result.timeMs / 1000,
  };
  await saveTrained(ctx, result.model, { preset: "lenet-mnist", hyper: h, metrics, training });
  await ctx.writeJson("metrics.json", {
    preset: "lenet-mnist",
    hyper: h,
    trainSize: n,
    metrics,
    featureMaps: { testImage: f.index, actual, predicted, shape: f.shape },
    training,
    log: result.log,
  });
  return {
    hyper: { preset: "lenet-mnist", ...h, trainSize: n },
    metrics,
    training,
    failure: nonFiniteFailure(training),
  };
}
