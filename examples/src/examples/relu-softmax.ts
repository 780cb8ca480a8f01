/**
 * `pnpm example relu-softmax`: the 784-90-10 relu/softmax network (preset `"relu-softmax-mnist"`):
 * squared difference between the softmax output and the one-hot target, back-propagated through
 * the full softmax Jacobian (by autograd), batches of 100 in file order, learning rate 10^-0.35,
 * 6 epochs; 50,000 training, 10,000 validation and 10,000 test images.
 * @module
 */
import { type ReluSoftmaxHyper, type ReluSoftmaxResult, reluSoftmaxMnist } from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import {
  commonOverrides,
  finishMnistPreset,
  loadMnistSplits,
  presetHooks,
  shownImages,
  writeMnistOutputs,
} from "../presets.js";

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
  const data = await loadMnistSplits(ctx);
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
    ...commonOverrides(o),
    ...(o.hidden !== undefined ? { hidden: o.hidden[0]! } : {}),
  };
  const { result, n, pixels } = await train(ctx, overrides);
  await writeMnistOutputs(ctx, "relu-softmax", result, pixels);
  const metrics = {
    testAccuracy: result.test.accuracy,
    testLoss: result.test.loss,
    trainAccuracy: result.trainAccuracy,
    validationAccuracy: result.validationAccuracy,
    initialValidationAccuracy: result.initialValidationAccuracy,
    epochsCompleted: result.history.epochs,
    trainSize: n,
  };
  return finishMnistPreset(ctx, { preset: "relu-softmax-mnist", result, n, metrics });
}
