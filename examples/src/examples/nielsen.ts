/**
 * `pnpm example nielsen`: Michael Nielsen's `network.py` (preset `"nielsen-mnist"`): a 784-30-10
 * sigmoid network, quadratic cost, mini-batch SGD (batch 10, eta 3.0, 30 epochs) on the first 50,000
 * MNIST training images, printing `Epoch i : correct / 10000` after every epoch.
 * @module
 */
import { loadMnist } from "@gradgraph/datasets/node";
import { type NielsenHyper, type NielsenResult, nielsenMnist } from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import {
  commonOverrides,
  loadOptions,
  presetHooks,
  saveTrained,
  shownImages,
  writeMnistOutputs,
} from "../presets.js";
import { nonFiniteFailure, trainingSummary } from "../training.js";

/**
 * Loads MNIST and trains. Only the training images the preset uses are decoded (the first
 * `trainSize`, 50,000 by default: the preset's own loader, `loadPresetData`, decodes all 60,000),
 * and only copies of the test images the outputs show leave this function, so the data set can be
 * freed before the charts are rendered.
 */
async function train(
  ctx: ExampleContext,
  overrides: Partial<NielsenHyper>,
): Promise<{ result: NielsenResult; pixels: (i: number) => ArrayLike<number> }> {
  const d = nielsenMnist.defaults;
  const trainSize = overrides.trainSize ?? d.trainSize;
  const data = await loadMnist({ ...loadOptions(ctx), split: "train-test", trainSize });
  const batchSize = overrides.batchSize ?? d.batchSize;
  ctx.log(
    `Network ${(overrides.sizes ?? d.sizes).join("-")} (sigmoid), quadratic cost, SGD: ${overrides.epochs ?? d.epochs} epochs, mini-batch ${batchSize}, eta ${overrides.lr ?? d.lr}, ${trainSize} training images`,
  );
  const result = await nielsenMnist.run(data, overrides, presetHooks(ctx, { samplesPerBatch: batchSize }));
  ctx.reporter.stop();
  return { result, pixels: shownImages(result.test.predicted, result.test.actual, data.test.x) };
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const d = nielsenMnist.defaults;
  const o = ctx.options;
  const sizes = d.sizes;
  const overrides: Partial<NielsenHyper> = {
    ...commonOverrides(o),
    ...(o.hidden !== undefined ? { sizes: [sizes[0]!, ...o.hidden, sizes[sizes.length - 1]!] } : {}),
    ...(o.trainSize !== undefined ? { trainSize: Math.min(o.trainSize, d.trainSize) } : {}),
  };
  const { result, pixels } = await train(ctx, overrides);
  await writeMnistOutputs(ctx, "nielsen", result, pixels, ["train", "test"]);
  const h = result.hyperparameters;
  // every number below comes from the final weights, the ones model.ggm holds: after the completed
  // epochs (a stopped epoch is rolled back by the preset), or the last finite checkpoint
  let correct = 0;
  for (let i = 0; i < result.test.actual.length; i++)
    if (result.test.predicted[i] === result.test.actual[i]) correct++;
  const training = trainingSummary(ctx, {
    planned: h.epochs,
    history: result.history,
    nonFinite: result.nonFinite,
  });
  const metrics = {
    testAccuracy: result.test.accuracy,
    correct,
    testCount: result.testCount,
    // from 1, as the printed lines (the preset's bestEpoch is an index from 0)
    bestEpoch: result.bestEpoch < 0 ? null : result.bestEpoch + 1,
    bestAccuracy: result.bestAccuracy,
    trainLoss: result.history.loss.at(-1) ?? null,
    trainAccuracy: result.history.metrics.accuracy?.at(-1) ?? null,
    epochsCompleted: result.history.epochs,
    correctPerEpoch: result.correct,
  };
  const n = result.history.epochs;
  ctx.log(
    `Test accuracy ${(100 * result.test.accuracy).toFixed(2)}% (${correct} / ${result.testCount}) after ${n} epoch${n === 1 ? "" : "s"}`,
  );
  await saveTrained(ctx, result.model, { preset: "nielsen-mnist", hyper: h, metrics, training });
  await ctx.writeJson("metrics.json", {
    preset: "nielsen-mnist",
    hyper: h,
    metrics,
    training,
    log: result.log,
  });
  return { hyper: { preset: "nielsen-mnist", ...h }, metrics, training, failure: nonFiniteFailure(training) };
}
