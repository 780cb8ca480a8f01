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
  type MnistTrained,
  trainMnistPreset,
  writeMnistOutputs,
} from "../presets.js";

/**
 * Loads MNIST and trains. Only copies of the test images the outputs show leave this function, so
 * the data set (220 MB of float32 pixels) can be freed before the charts are rendered.
 */
function train(
  ctx: ExampleContext,
  overrides: Partial<ReluSoftmaxHyper>,
): Promise<MnistTrained<ReluSoftmaxResult>> {
  return trainMnistPreset(ctx, reluSoftmaxMnist, overrides, {
    describe: (h, n) =>
      `Network 784-${h.hidden}-10 (relu, softmax), squared loss through the softmax: ${h.epochs} epochs, batch ${h.batchSize}, lr ${h.lr.toPrecision(4)}, ${n} training images`,
    keep: () => ({}),
  });
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
