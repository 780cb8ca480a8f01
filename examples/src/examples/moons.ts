/**
 * `pnpm example moons`: the make_moons tutorial (preset `"moons"` of `@gradgraph/models`).
 *
 * Trains the 2-H-2 tanh/softmax network by full-batch gradient descent for each hidden size (1, 2,
 * 3, 4, 5, 20, 50 by default) and the logistic-regression baseline, prints the tutorial's loss
 * lines for H = 3, and writes the tutorial's figures: the decision boundary of every model in one
 * figure, and the loss and accuracy curves per pass. As the tutorial has no validation split, each
 * model is also scored on 1,000 fresh moons (`heldOutAccuracy`), which shows the larger networks
 * overfitting.
 * @module
 */

import { Tensor } from "@gradgraph/core";
import { makeMoons } from "@gradgraph/datasets";
import { type MoonsHyper, type MoonsModel, moons } from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import {
  type BoundaryPanel,
  boundsOf,
  type CurvePoint,
  curvesChart,
  decisionBoundaryChart,
  downsample,
  gridPoints,
} from "../plots.js";
import { presetHooks, saveTrained } from "../presets.js";
import { labeledPoints, nonFiniteFailure, trainingSummary } from "../training.js";

function accuracyOf(predict: (x: Tensor) => Uint8Array, x: Tensor, y: Uint8Array): number {
  const p = predict(x);
  let hits = 0;
  for (let i = 0; i < y.length; i++) if (p[i] === y[i]) hits++;
  return hits / y.length;
}

/** Every `stride`-th pass (and the last) of a long per-pass series, for history.json. */
function thin(values: readonly number[], max = 2000): { stride: number; pass: number[]; values: number[] } {
  const stride = Math.max(1, Math.ceil(values.length / max));
  const pass: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < values.length; i += stride) {
    pass.push(i);
    out.push(values[i]!);
  }
  if (values.length > 0 && pass.at(-1) !== values.length - 1) {
    pass.push(values.length - 1);
    out.push(values.at(-1)!);
  }
  return { stride, pass, values: out };
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const d = moons.defaults;
  const o = ctx.options;
  const sizes = o.hidden ?? [...d.hiddenSizes];
  const hidden = sizes.includes(d.hidden) ? d.hidden : sizes[0]!;
  const overrides: Partial<MoonsHyper> = {
    hidden,
    hiddenSizes: sizes,
    ...(o.epochs !== undefined ? { passes: o.epochs } : {}),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    // --seed seeds the data (np.random.seed(n); make_moons) and the initial weights alike; the
    // default, 0, is the tutorial's seed for both
    ...(o.seed !== undefined ? { seed: o.seed, dataSeed: o.seed } : {}),
  };
  const dataSeed = overrides.dataSeed ?? d.dataSeed;
  const passes = overrides.passes ?? d.passes;
  ctx.log(
    `make_moons(${d.nSamples}, noise=${d.noise}${dataSeed === d.dataSeed ? "" : `, seed ${dataSeed}`}); 2-H-2 tanh/softmax nets for H = ${sizes.join(", ")}; full-batch gradient descent, ${passes} passes, epsilon ${overrides.lr ?? d.lr}, reg_lambda ${d.reg}`,
  );
  const result = await moons.run(
    undefined,
    overrides,
    presetHooks(ctx, { samplesPerBatch: d.nSamples, lossScale: 1 / d.nSamples, unit: "passes" }),
  );
  ctx.reporter.stop();
  const h = result.hyperparameters;

  // held-out moons: the tutorial's data has no validation split
  const fresh = makeMoons({
    nSamples: 1000,
    noise: h.noise,
    seed: h.dataSeed + 1,
    numpy: h.numpy,
    dtype: "float64",
  });
  const dtype = result.data.x.dtype;
  const asDtype = (t: Tensor) => (t.dtype === dtype ? t : t.astype(dtype));
  const freshX = asDtype(fresh.x);

  // decision boundaries on a 160 x 120 grid over the data (padding 0.5, as the tutorial)
  const points = labeledPoints(result.data.x, result.data.y);
  const bounds = boundsOf(points, 0.5);
  const nx = 160;
  const ny = 120;
  const gp = gridPoints(bounds, nx, ny);
  const grid = new Tensor([nx * ny, 2], dtype === "float64" ? gp : Float32Array.from(gp));
  const panels: BoundaryPanel[] = [];
  const baseline = result.baseline;
  if (baseline) {
    panels.push({
      title: "Logistic Regression",
      grid: { ...bounds, nx, ny, classes: baseline.predict(grid) },
    });
  }
  const models: MoonsModel[] = [...result.sweep];
  if (!models.includes(result.main)) models.unshift(result.main);
  for (const m of models) {
    panels.push({
      title: `Hidden Layer size ${m.hidden}`,
      grid: { ...bounds, nx, ny, classes: m.predict(grid) },
    });
  }
  await ctx.chart(
    "decision-boundary",
    decisionBoundaryChart(panels, points, {
      title: `make_moons: decision boundaries (${passes} passes per network)`,
      columns: Math.min(4, panels.length),
    }),
  );

  // loss and accuracy per pass, one line per hidden size
  const curves: CurvePoint[] = [];
  for (const m of models) {
    for (const p of downsample(m.history.loss))
      curves.push({ epoch: p.epoch, metric: "loss", series: `H=${m.hidden}`, value: p.value });
    for (const p of downsample(m.history.metrics.accuracy ?? [])) {
      curves.push({ epoch: p.epoch, metric: "accuracy", series: `H=${m.hidden}`, value: p.value });
    }
  }
  if (curves.length > 0) {
    await ctx.chart(
      "history",
      curvesChart(curves, {
        title: "make_moons: training loss and accuracy per pass",
        xTitle: "pass",
        logLoss: true,
      }),
    );
  }

  const perModel = models.map((m) => ({
    hidden: m.hidden,
    passes: m.history.epochs,
    loss: m.loss,
    trainAccuracy: m.accuracy,
    heldOutAccuracy: accuracyOf(m.predict, freshX, fresh.y),
  }));
  const baselineInfo = baseline
    ? {
        C: baseline.C,
        trainAccuracy: baseline.accuracy,
        heldOutAccuracy: accuracyOf(baseline.predict, freshX, fresh.y),
        coef: baseline.coef,
        intercept: baseline.intercept,
      }
    : null;
  ctx.log("");
  ctx.log("model                 loss      train acc  held-out acc (1000 fresh moons)");
  if (baselineInfo) {
    ctx.log(
      `logistic regression   -         ${baselineInfo.trainAccuracy.toFixed(3)}      ${baselineInfo.heldOutAccuracy.toFixed(3)}`,
    );
  }
  for (const m of perModel) {
    ctx.log(
      `${`H=${m.hidden}`.padEnd(22)}${m.loss.toFixed(6)}  ${m.trainAccuracy.toFixed(3)}      ${m.heldOutAccuracy.toFixed(3)}${m.passes < passes ? `   (stopped after ${m.passes} passes)` : ""}`,
    );
  }

  await ctx.writeJson("history.json", {
    preset: "moons",
    note: "per-pass training loss (the tutorial's form) and accuracy, every `stride`-th pass",
    models: models.map((m) => {
      const loss = thin(m.history.loss);
      return {
        hidden: m.hidden,
        passes: m.history.epochs,
        stride: loss.stride,
        pass: loss.pass,
        loss: loss.values,
        accuracy: thin(m.history.metrics.accuracy ?? []).values,
      };
    }),
    baseline: baseline
      ? { C: baseline.C, Cs: baseline.Cs, cvScores: baseline.cvScores, lbfgsLoss: baseline.history.loss }
      : null,
  });
  const main = perModel.find((m) => m.hidden === result.main.hidden)!;
  const metrics = {
    hidden: main.hidden,
    loss: main.loss,
    trainAccuracy: main.trainAccuracy,
    heldOutAccuracy: main.heldOutAccuracy,
    baselineTrainAccuracy: baselineInfo?.trainAccuracy ?? null,
    models: perModel,
    baseline: baselineInfo,
  };
  const { baselineCs: _cs, ...rest } = h; // the ten baseline strengths are in history.json
  const hyper = { ...rest, hiddenSizes: [...h.hiddenSizes] };
  // about the saved network (H = hidden); a non-finite loss may come from another network of the sweep
  const training = trainingSummary(ctx, {
    planned: passes,
    history: result.main.history,
    unit: "pass",
    nonFinite: result.nonFinite,
  });
  await saveTrained(ctx, result.main.model, {
    preset: "moons",
    hidden: result.main.hidden,
    hyper,
    metrics: main,
    training,
  });
  await ctx.writeJson("metrics.json", { preset: "moons", hyper, metrics, training, log: result.log });
  return { hyper, metrics, training, failure: nonFiniteFailure(training) };
}
