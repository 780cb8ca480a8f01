/**
 * `pnpm example relu-softmax`: the 784-90-10 relu/softmax network (preset `"relu-softmax-mnist"`):
 * squared difference between the softmax output and the one-hot target, back-propagated through
 * the full softmax Jacobian (by autograd), batches of 100 in file order, learning rate 10^-0.35,
 * 6 epochs; 50,000 training, 10,000 validation and 10,000 test images.
 * @module
 */
import { loadMnist } from "@gradgraph/datasets/node";
import { type ReluSoftmaxHyper, type ReluSoftmaxResult, reluSoftmaxMnist } from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import { loadOptions, presetHooks, saveTrained, shownImages, writeClassifierOutputs } from "../presets.js";
import { nonFiniteFailure, trainingSummary } from "../training.js";

/** What training leaves for the outputs: the result, the training-set size, the test images shown. */
interface Trained {
  readonly result: ReluSoftmaxResult;
  readonly n: number;
  readonly pixels: (i: number) => ArrayLike<number>;
}

/**
 * Loads MNIST and trains. Only copies of the test images the outputs show leave this function, so
 * the data set (220 MB of float32 pixels) can be freed before the charts are rendered.
 */
async function train(ctx: ExampleContext, overrides: Partial<ReluSoftmaxHyper>): Promise<Trained> {
  const d = reluSoftmaxMnist.defaults;
  const o = ctx.options;
  // the preset's data (loadPresetData) with --train-size applied while decoding: the training images
  // past it are never stored
  const data = await loadMnist({
    ...loadOptions(ctx),
    split: "train-validation-test",
    ...(o.trainSize !== undefined ? { trainSize: o.trainSize } : {}),
  });
  const n = data.train.y.length;
  const batchSize = overrides.batchSize ?? d.batchSize;
  ctx.log(
    `Network 784-${overrides.hidden ?? d.hidden}-10 (relu, softmax), squared loss through the softmax: ${overrides.epochs ?? d.epochs} epochs, batch ${batchSize}, lr ${(overrides.lr ?? d.lr).toPrecision(4)}, ${n} training images`,
  );
  const result = await reluSoftmaxMnist.run(
    data,
    overrides,
    presetHooks(ctx, { samplesPerBatch: batchSize }),
  );
  ctx.reporter.stop();
  return { result, n, pixels: shownImages(result.test.predicted, result.test.actual, data.test.x) };
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const overrides: Partial<ReluSoftmaxHyper> = {
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.hidden !== undefined ? { hidden: o.hidden[0]! } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
  const { result, n, pixels } = await train(ctx, overrides);
  await writeClassifierOutputs(ctx, {
    title: "relu-softmax",
    history: result.history,
    series: ["train", "validation"],
    predicted: result.test.predicted,
    actual: result.test.actual,
    set: "test",
    pixels,
    shape: { width: 28, height: 28 },
  });
  const h = result.hyperparameters;
  const training = trainingSummary(ctx, {
    planned: h.epochs,
    history: result.history,
    nonFinite: result.nonFinite,
  });
  const metrics = {
    testAccuracy: result.test.accuracy,
    testLoss: result.test.loss,
    trainAccuracy: result.trainAccuracy,
    validationAccuracy: result.validationAccuracy,
    initialValidationAccuracy: result.initialValidationAccuracy,
    epochsCompleted: result.history.epochs,
    trainSize: n,
  };
  await saveTrained(ctx, result.model, { preset: "relu-softmax-mnist", hyper: h, metrics, training });
  await ctx.writeJson("metrics.json", {
    preset: "relu-softmax-mnist",
    hyper: h,
    trainSize: n,
    metrics,
    training,
    log: result.log,
  });
  return {
    hyper: { preset: "relu-softmax-mnist", ...h, trainSize: n },
    metrics,
    training,
    failure: nonFiniteFailure(training),
  };
}
