/**
 * `pnpm example relu-softmax`: the 784-90-10 relu/softmax network (preset `"relu-softmax-mnist"`):
 * squared difference between the softmax output and the one-hot target, back-propagated through
 * the full softmax Jacobian (by autograd), batches of 100 in file order, learning rate 10^-0.35,
 * 6 epochs; 50,000 training, 10,000 validation and 10,000 test images.
 * @module
 */
import { type ReluSoftmaxHyper, reluSoftmaxMnist } from "@gradgraph/models";
import { loadPresetData } from "@gradgraph/models/node";
import type { ExampleContext, ExampleResult } from "../context.js";
import { headRows, loadOptions, presetHooks, saveTrained, writeClassifierOutputs } from "../presets.js";
import { nonFiniteFailure, trainingSummary } from "../training.js";

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const d = reluSoftmaxMnist.defaults;
  const o = ctx.options;
  const overrides: Partial<ReluSoftmaxHyper> = {
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.hidden !== undefined ? { hidden: o.hidden[0]! } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
  const full = await loadPresetData("relu-softmax-mnist", loadOptions(ctx));
  const n = Math.min(o.trainSize ?? Number.POSITIVE_INFINITY, full.train.y.length);
  const data = { ...full, train: { x: headRows(full.train.x, n), y: full.train.y.subarray(0, n) } };
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
  const test = data.test;
  await writeClassifierOutputs(ctx, {
    title: "relu-softmax",
    history: result.history,
    series: ["train", "validation"],
    predicted: result.test.predicted,
    actual: result.test.actual,
    set: "test",
    pixels: (i) => test.x.data.subarray(i * 784, (i + 1) * 784),
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
