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
import {
  type LenetArch,
  type LenetHyper,
  type LenetResult,
  lenetFeatureMaps,
  lenetMnist,
} from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import { featureMapsChart, filtersChart } from "../plots.js";
import {
  commonOverrides,
  finishMnistPreset,
  type MnistTrained,
  mnistImage,
  mnistMetrics,
  testLabels,
  trainMnistPreset,
  writeMnistOutputs,
} from "../presets.js";

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

/** What training leaves for the outputs: the result, the training-set size, the images shown, the feature maps. */
interface Trained extends MnistTrained<LenetResult> {
  readonly features: FeatureMaps;
}

/** The first layer's feature maps of test image `wanted` of `x`, for `result`'s model. */
function featureMaps(result: LenetResult, x: Tensor, wanted: number): FeatureMaps {
  const image = mnistImage(x, wanted);
  const maps = lenetFeatureMaps(result.model, new Tensor([1, 784], image.pixels));
  const [, c, h, w] = maps.shape as [number, number, number, number];
  return { ...image, maps: Float32Array.from(maps.data), shape: [c, h, w] };
}

/**
 * Loads MNIST and trains. Only copies of the test images the outputs show leave this function, so
 * the data set can be freed before the charts are rendered.
 */
function train(ctx: ExampleContext, overrides: Partial<LenetHyper>): Promise<Trained> {
  return trainMnistPreset(ctx, lenetMnist, overrides, {
    describe: (h, n) =>
      `${h.arch === "lenet5" ? "LeNet-5 (conv 6@5x5, pool, conv 16@5x5, pool, dense 120-84-10, ReLU)" : "CNN with batch norm and dropout (conv 8@3x3, bn, pool, conv 16@3x3, bn, pool, conv 32@3x3, bn, dropout, dense 10)"}: ${h.epochs} epochs, batch ${h.batchSize}, Adam lr ${h.lr} (cosine), random shifts of up to ${lenetMnist.defaults.shift} pixels, ${n} training images`,
    keep: (result, test) => ({ features: featureMaps(result, test.x, FEATURE_IMAGE) }),
  });
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const overrides: Partial<LenetHyper> = {
    ...(o.arch !== undefined ? { arch: o.arch as LenetArch } : {}),
    ...commonOverrides(o),
  };
  const { result, n, pixels, features } = await train(ctx, overrides);
  const h = result.hyperparameters;
  await writeMnistOutputs(ctx, `lenet (${h.arch})`, result, pixels);
  const w = result.filters.weights;
  await ctx.chart(
    "filters",
    filtersChart(w.data, w.shape as [number, number, number, number], {
      title: `lenet (${h.arch}): learned filters of the first convolution layer (${result.filters.layer})`,
    }),
  );
  const f = features;
  const { actual, predicted } = testLabels(result, f.index);
  await ctx.chart(
    "feature-maps",
    featureMapsChart(f.pixels, { width: 28, height: 28 }, f.maps, f.shape, {
      title: `lenet (${h.arch}): first-layer feature maps of test image ${f.index} (true ${actual}, predicted ${predicted})`,
    }),
  );
  return finishMnistPreset(ctx, {
    preset: "lenet-mnist",
    result,
    n,
    metrics: mnistMetrics(result, n),
    details: { featureMaps: { testImage: f.index, actual, predicted, shape: f.shape } },
  });
}
