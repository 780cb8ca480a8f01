/**
 * `pnpm example ng-ex4`: Andrew Ng's ex4 (preset `"ng-ex4"`): first the course's gradient check on
 * a small 3-5-3 network with deterministic debug weights, then the 400-25-10 sigmoid network with
 * the regularised cross-entropy cost trained by conjugate gradient (50 iterations, lambda 1) on
 * 5,000 20x20 digits (derived from MNIST unless the course's ex4data1.mat is used), printing the
 * course's `Iteration n | Cost: ...` lines and the training-set accuracy.
 * @module
 */
import { ex4Images } from "@gradgraph/datasets";
import { checkGradients, type NgEx4Hyper, ngEx4 } from "@gradgraph/models";
import { loadPresetData } from "@gradgraph/models/node";
import type { ExampleContext, ExampleResult } from "../context.js";
import { loadOptions, presetHooks, saveTrained, writeClassifierOutputs } from "../presets.js";
import { nonFiniteFailure, trainingSummary } from "../training.js";

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const d = ngEx4.defaults;
  const o = ctx.options;
  const layers = d.layers;
  const overrides: Partial<NgEx4Hyper> = {
    ...(o.epochs !== undefined ? { maxIter: o.epochs } : {}),
    ...(o.hidden !== undefined ? { layers: [layers[0]!, o.hidden[0]!, layers[2]!] } : {}),
    ...(o.lambda !== undefined ? { lambda: o.lambda } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
  const lambda = overrides.lambda ?? d.lambda;

  ctx.log(`Checking Backpropagation (w/ Regularization) on a 3-5-3 network, lambda = ${lambda}...`);
  const check = checkGradients({ lambda });
  const rows = check.lines.length - 3;
  for (const line of check.lines.slice(0, 5)) ctx.log(line);
  ctx.log(`  ... (${rows - 5} more rows in gradient-check.txt)`);
  for (const line of check.lines.slice(rows)) ctx.log(line);
  await ctx.writeText("gradient-check.txt", `${check.lines.join("\n")}\n`);

  const data = await loadPresetData("ng-ex4", loadOptions(ctx));
  const m = data.y.length;
  const maxIter = overrides.maxIter ?? d.maxIter;
  const result = await ngEx4.run(
    data,
    overrides,
    presetHooks(ctx, { samplesPerBatch: m, unit: "iterations", epochs: maxIter }),
  );
  ctx.reporter.stop();
  const images = ex4Images(data.x);
  const side = 20;
  const toDigit = (v: number) => v % 10; // label 10 is digit 0
  await writeClassifierOutputs(ctx, {
    title: "ng-ex4",
    history: result.history,
    xTitle: "conjugate-gradient iteration",
    predicted: Array.from(result.predictions.predicted, toDigit),
    actual: Array.from(result.predictions.actual, toDigit),
    set: "training",
    pixels: (i) => images.data.subarray(i * side * side, (i + 1) * side * side),
    shape: { width: side, height: side },
  });
  const h = result.hyperparameters;
  const training = trainingSummary(ctx, {
    planned: maxIter,
    history: result.history,
    unit: "iteration",
    nonFinite: result.nonFinite,
  });
  const metrics = {
    trainAccuracy: result.trainAccuracy,
    cost: result.cost,
    iterations: result.history.epochs,
    gradientCheckRelativeDifference: check.relativeDifference,
  };
  await saveTrained(ctx, result.model, { preset: "ng-ex4", hyper: h, metrics, training });
  await ctx.writeJson("metrics.json", { preset: "ng-ex4", hyper: h, metrics, training, log: result.log });
  return { hyper: { preset: "ng-ex4", ...h }, metrics, training, failure: nonFiniteFailure(training) };
}
