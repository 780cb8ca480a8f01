/**
 * `pnpm example digits`: PyImageSearch's NeuralNetwork on scikit-learn's digits (preset
 * `"digits-sigmoid"`): 64-32-16-10 sigmoid with the bias folded in as an always-one input column,
 * per-sample SGD (alpha 0.1) on `0.5 * sum((out - onehot)^2)`, 1000 epochs, the loss printed after
 * the first epoch and every 100, and the classification report on the 25% test split.
 * @module
 */
import { type DigitsSigmoidHyper, digitsSigmoid } from "@gradgraph/models";
import { loadPresetData } from "@gradgraph/models/node";
import type { ExampleContext, ExampleResult } from "../context.js";
import { loadOptions, presetHooks, saveTrained, writeClassifierOutputs } from "../presets.js";
import { nonFiniteFailure, trainingSummary } from "../training.js";

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const d = digitsSigmoid.defaults;
  const o = ctx.options;
  const overrides: Partial<DigitsSigmoidHyper> = {
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
  // the tutorial prints every 100 of its 1000 epochs; shorter runs print about ten lines
  const epochs = overrides.epochs ?? d.epochs;
  if (epochs < 10 * d.displayEvery) overrides.displayEvery = Math.max(1, Math.round(epochs / 10));
  const data = await loadPresetData("digits-sigmoid", loadOptions(ctx));
  const result = await digitsSigmoid.run(
    data,
    overrides,
    presetHooks(ctx, { samplesPerBatch: overrides.batchSize ?? d.batchSize }),
  );
  ctx.reporter.stop();
  const xt = result.split.xTest;
  await writeClassifierOutputs(ctx, {
    title: "digits",
    history: result.history,
    series: ["train", "test"],
    // the preset's losses are sums over each set (1,347 and 450 digits): plot the means
    lossCounts: [result.split.xTrain.shape[0]!, xt.shape[0]!],
    predicted: result.test.predicted,
    actual: result.test.actual,
    set: "test",
    pixels: (i) => xt.data.subarray(i * 64, (i + 1) * 64),
    shape: { width: 8, height: 8 },
  });
  await ctx.writeText("classification-report.txt", result.report);
  const h = result.hyperparameters;
  const training = trainingSummary(ctx, {
    planned: h.epochs,
    history: result.history,
    nonFinite: result.nonFinite,
  });
  const s = result.scores as unknown as { accuracy?: number; macro?: unknown; weighted?: unknown };
  const metrics = {
    testAccuracy: result.test.accuracy,
    testLoss: result.test.loss,
    trainAccuracy: result.trainAccuracy,
    trainLoss: result.history.loss.at(-1) ?? null,
    epochsCompleted: result.history.epochs,
    ...(s.macro ? { macro: s.macro } : {}),
    ...(s.weighted ? { weighted: s.weighted } : {}),
  };
  await saveTrained(ctx, result.model, { preset: "digits-sigmoid", hyper: h, metrics, training });
  await ctx.writeJson("metrics.json", {
    preset: "digits-sigmoid",
    hyper: h,
    metrics,
    training,
    scores: result.scores,
    log: result.log,
  });
  return {
    hyper: { preset: "digits-sigmoid", ...h },
    metrics,
    training,
    failure: nonFiniteFailure(training),
  };
}
