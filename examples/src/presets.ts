/**
 * Glue between the examples CLI and the tutorial presets of `@gradgraph/models`: hooks that drive
 * the progress bars, forward the tutorial's lines and carry the stop flag; loading the data from
 * `--data-dir`; and the outputs every classifier preset writes (curves, confusion matrix, image grid).
 * @module
 */
import { join } from "node:path";
import type { Tensor } from "@gradgraph/core";
import type { MnistTrainValidationTest } from "@gradgraph/datasets";
import { loadMnist } from "@gradgraph/datasets/node";
import {
  type BatchProgress,
  confusionMatrix,
  type History,
  type Model,
  type NonFiniteLossError,
  type PresetHooks,
} from "@gradgraph/models";
import { type PresetLoadOptions, saveModel } from "@gradgraph/models/node";
import type { ExampleContext, ExampleResult } from "./context.js";
import { writeOnnxModel } from "./onnx.js";
import type { ExampleOptions } from "./options.js";
import { confusionMatrixChart, curvesChart, type GridImage, historyCurves, imageGridChart } from "./plots.js";
import { historyJson, nonFiniteFailure, trainingSummary } from "./training.js";

/** Options of {@link presetHooks}. */
export interface PresetHooksOptions {
  /** Samples per optimisation step (for samples/s). */
  readonly samplesPerBatch: number;
  /** Multiplies the reported batch loss (e.g. `1/n` for a loss summed over the batch). */
  readonly lossScale?: number;
  /** Unit of a whole-run bar (`"epochs"`, `"passes"`, `"iterations"`). */
  readonly unit?: string;
  /** Total epochs or iterations, for presets that report epochs only (no batches). */
  readonly epochs?: number;
  /** Forward the tutorial's lines (default true). */
  readonly lines?: boolean;
}

/**
 * Hooks for a preset run: the tutorial's lines go to the output, progress to the bars (one bar per
 * epoch for long epochs, else one per training stage over its epochs), and the stop flag (Ctrl-C,
 * `--time-limit`) to the preset, which stops after the current batch.
 */
export function presetHooks(ctx: ExampleContext, o: PresetHooksOptions): PresetHooks {
  const r = ctx.reporter;
  const scale = o.lossScale ?? 1;
  let stage: string | null = null;
  let epoch = -1;
  let perEpoch = false;
  let seen = 0;
  let count = 0;
  let running = 0;
  let batchTicks = false;
  const begin = (p: { stage: string; epoch: number; epochs: number; batches: number }) => {
    perEpoch = p.batches >= 50 && p.epochs <= 200;
    const prefix = p.stage ? `${p.stage} ` : "";
    if (perEpoch) r.start(`${prefix}Epoch ${p.epoch + 1}/${p.epochs}`, p.batches, "batches");
    else r.start(p.stage || "Training", p.epochs, o.unit ?? "epochs");
    stage = p.stage;
    epoch = p.epoch;
    seen = 0;
    count = 0;
    running = 0;
  };
  return {
    signal: {
      get stopped() {
        return ctx.shouldStop();
      },
    },
    onLog: o.lines === false ? undefined : (line: string) => r.log(line),
    onBatchEnd(p: BatchProgress) {
      batchTicks = true;
      if (p.stage !== stage || (perEpoch && p.epoch !== epoch)) begin(p);
      seen += o.samplesPerBatch;
      count++;
      const loss = p.loss * scale;
      running += (loss - running) / Math.min(count, perEpoch ? count : 50);
      const last = p.batch + 1 === p.batches;
      r.tick(
        perEpoch ? p.batch + 1 : Math.floor(p.epoch + (p.batch + 1) / p.batches),
        seen,
        running,
        perEpoch && last,
      );
    },
    onEpochEnd(e: number, logs: Readonly<Record<string, number>>, s: string) {
      if (!batchTicks && s !== "logistic") {
        // full-batch optimizers (conjugate gradient) report iterations only
        if (s !== stage) begin({ stage: s, epoch: e, epochs: o.epochs ?? e + 1, batches: 1 });
        seen += o.samplesPerBatch;
        r.tick(e + 1, seen, logs.loss ?? Number.NaN);
      }
    },
  };
}

/**
 * Loader options from `--data-dir` (else `GRADGRAPH_DATA_DIR`, else the cache) and `--timeout`
 * (seconds, passed on as the loaders' overall download deadline `timeoutMs`), logging downloads.
 */
export function loadOptions(ctx: ExampleContext): PresetLoadOptions {
  const { dataDir, timeout } = ctx.options;
  return {
    ...(dataDir ? { dir: dataDir } : {}),
    ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
    log: (m: string) => ctx.log(m),
  };
}

/**
 * Which images to show: `base` evenly spaced ones (all classes appear even in sorted data) plus up
 * to `mistakes` misclassified ones taken round-robin over the true classes (the first mistake of
 * the smallest class, then of the next class, ..., then the second of each, in index order within a
 * class), so that a data set sorted by class (ng-ex4's) shows mistakes of every class, not just the
 * first class's. Deterministic; returned in index order.
 */
export function pickImages(
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
  base = 32,
  mistakes = 16,
): number[] {
  const n = actual.length;
  const chosen = new Set<number>();
  for (let k = 0; k < Math.min(base, n); k++) chosen.add(Math.floor((k * n) / Math.min(base, n)));
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    if (predicted[i] === actual[i] || chosen.has(i)) continue;
    const list = byClass.get(actual[i]!);
    if (list) list.push(i);
    else byClass.set(actual[i]!, [i]);
  }
  const queues = [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, list]) => list);
  let added = 0;
  for (let round = 0; added < mistakes && queues.some((q) => round < q.length); round++) {
    for (const q of queues) {
      if (added === mistakes) break;
      if (round < q.length) {
        chosen.add(q[round]!);
        added++;
      }
    }
  }
  return [...chosen].sort((a, b) => a - b);
}

/**
 * Copies of the images that {@link writeClassifierOutputs} shows ({@link pickImages} of the same
 * predictions), as its `pixels` function: an example can then let go of its data set before writing
 * its outputs, so that the charts are rendered without the training images in memory.
 * @param x the evaluated images, sample-major (`[n, ...]`)
 */
export function shownImages(
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
  x: Tensor,
): (i: number) => ArrayLike<number> {
  const per = x.size / (x.shape[0] || 1);
  const kept = new Map<number, ArrayLike<number>>();
  for (const i of pickImages(predicted, actual)) kept.set(i, x.data.slice(i * per, (i + 1) * per));
  return (i) => {
    const pixels = kept.get(i);
    if (!pixels) throw new RangeError(`shownImages: image ${i} is not one of those pickImages shows`);
    return pixels;
  };
}

/** What {@link writeClassifierOutputs} needs. */
export interface ClassifierOutputs {
  /** Chart title prefix, e.g. "nielsen". */
  readonly title: string;
  /** The training history. */
  readonly history: History;
  /** Title of the x axis of the curves (default "epoch"). */
  readonly xTitle?: string;
  /** Names of the two series (default train / validation). */
  readonly series?: [string, string];
  /**
   * Samples in the two sets, when the history's losses are sums over them (digits): the chart then
   * plots the mean per sample (sum / count) of each, so that sets of different sizes compare on one
   * axis; history.json keeps the sums.
   */
  readonly lossCounts?: readonly [number, number];
  /** Predicted and true digit (0..9) of each evaluated image. */
  readonly predicted: ArrayLike<number>;
  readonly actual: ArrayLike<number>;
  /** Which set the predictions are on ("test", "training"). */
  readonly set: string;
  /** Row-major pixels in [0, 1] of image `i`. */
  readonly pixels: (i: number) => ArrayLike<number>;
  /** Image size. */
  readonly shape: { width: number; height: number };
}

/** Writes history.json, the training curves, the confusion matrix and the image grid. */
export async function writeClassifierOutputs(ctx: ExampleContext, o: ClassifierOutputs): Promise<void> {
  await ctx.writeJson("history.json", historyJson(o.history));
  if (o.history.loss.length > 0) {
    const counts = o.lossCounts;
    const plotted = counts
      ? {
          ...o.history,
          loss: o.history.loss.map((v) => v / counts[0]),
          valLoss: o.history.valLoss.map((v) => v / counts[1]),
        }
      : o.history;
    await ctx.chart(
      "history",
      curvesChart(historyCurves(plotted, o.series ? { series: o.series } : {}), {
        title: `${o.title}: training curves`,
        ...(o.xTitle ? { xTitle: o.xTitle } : {}),
        ...(counts ? { lossTitle: "loss (mean per sample)" } : {}),
      }),
    );
  }
  const cm = confusionMatrix(o.predicted, o.actual, 10);
  await ctx.chart(
    "confusion-matrix",
    confusionMatrixChart(cm.matrix, cm.labels, { title: `${o.title}: confusion matrix (${o.set} set)` }),
  );
  const picks = pickImages(o.predicted, o.actual);
  const images: GridImage[] = picks.map((i) => ({
    pixels: o.pixels(i),
    predicted: o.predicted[i]!,
    actual: o.actual[i]!,
  }));
  const wrong = images.filter((im) => im.predicted !== im.actual).length;
  await ctx.chart(
    "predictions",
    imageGridChart(images, o.shape, {
      title: `${o.title}: ${o.set} images, predicted label (mistakes in red: ${wrong} of ${images.length} shown)`,
    }),
  );
}

/**
 * Saves a trained model to `<outDir>/model.ggm` (load it with `loadModel` from
 * `@gradgraph/models/node`, then `new Model(saved.graph, { params: saved.params })`), and with
 * `--onnx <file>` its inference graph as ONNX too ({@link writeOnnxModel}).
 */
export async function saveTrained(
  ctx: ExampleContext,
  model: Model,
  metadata: Record<string, unknown>,
): Promise<void> {
  const path = join(ctx.outDir, "model.ggm");
  await saveModel(path, {
    graph: model.graph,
    params: model.params,
    metadata: { example: ctx.name, ...metadata },
  });
  ctx.addFile(path);
  const preset = metadata.preset;
  await writeOnnxModel(ctx, model, typeof preset === "string" ? { preset } : {});
}

/**
 * The MNIST split of the classifier presets (lenet, rnn, vit, relu-softmax): 50,000 training,
 * 10,000 validation and 10,000 test images, as the preset's own loader reads them, with
 * `--train-size` applied while decoding (the training images past it are never stored).
 */
export function loadMnistSplits(ctx: ExampleContext): Promise<MnistTrainValidationTest> {
  const { trainSize } = ctx.options;
  return loadMnist({
    ...loadOptions(ctx),
    split: "train-validation-test",
    ...(trainSize !== undefined ? { trainSize } : {}),
  });
}

/** The preset overrides {@link commonOverrides} reads from the command line. */
export interface CommonOverrides {
  epochs?: number;
  lr?: number;
  batchSize?: number;
  seed?: number;
}

/** The overrides every preset example takes from `--epochs`, `--lr`, `--batch-size` and `--seed` (those given). */
export function commonOverrides(o: ExampleOptions): CommonOverrides {
  return {
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
}

/** What the MNIST classifier presets (lenet, rnn, vit, relu-softmax) return, as the shared outputs read it. */
export interface MnistPresetResult {
  /** The hyperparameters used; `epochs` is the number planned. */
  readonly hyperparameters: Readonly<{ epochs: number }>;
  /** The trained model. */
  readonly model: Model;
  /** Per-epoch logs. */
  readonly history: History;
  /** The non-finite loss that stopped training, or null. */
  readonly nonFinite: NonFiniteLossError | null;
  /** The tutorial's lines. */
  readonly log: readonly string[];
  /** Wall time of the run in milliseconds. */
  readonly timeMs: number;
  /** Accuracy on the training batches of the last epoch. */
  readonly trainAccuracy: number;
  /** Validation accuracy of the final weights. */
  readonly validationAccuracy: number;
  /** Test predictions, accuracy and mean cross-entropy. */
  readonly test: {
    readonly predicted: Int32Array;
    readonly actual: Int32Array;
    readonly accuracy: number;
    readonly loss: number;
  };
}

/** What an MNIST preset example keeps from training for its outputs. */
export interface MnistTrained<R extends MnistPresetResult> {
  /** The preset's result. */
  readonly result: R;
  /** Training images used. */
  readonly n: number;
  /** Copies of the test images the digit grid shows ({@link shownImages}). */
  readonly pixels: (i: number) => ArrayLike<number>;
}

/** How {@link trainMnistPreset} describes the run and what it keeps of the test set. */
export interface MnistTrainOptions<H, R, K> {
  /** The line logged before training, from the hyperparameters (defaults and overrides) and the training-set size. */
  readonly describe: (h: Readonly<H>, n: number) => string;
  /** What the outputs need from the trained model and the test set (copies: the data set is let go). */
  readonly keep: (result: R, test: MnistTrainValidationTest["test"]) => K;
}

/**
 * Loads MNIST ({@link loadMnistSplits}), logs `describe`, runs the preset with `overrides`, its
 * progress on the bars ({@link presetHooks}), stops the bars, and returns the result with the
 * training-set size, copies of the test images the digit grid shows ({@link shownImages}) and what
 * `keep` takes. Nothing else of the data set leaves it, so the data can be freed before the charts
 * are rendered.
 */
export async function trainMnistPreset<H extends { batchSize: number }, R extends MnistPresetResult, K>(
  ctx: ExampleContext,
  preset: {
    readonly defaults: Readonly<H>;
    run(data: MnistTrainValidationTest, overrides: Partial<H>, hooks: PresetHooks): Promise<R>;
  },
  overrides: Partial<H>,
  o: MnistTrainOptions<H, R, K>,
): Promise<MnistTrained<R> & K> {
  const data = await loadMnistSplits(ctx);
  const n = data.train.y.length;
  const h: Readonly<H> = { ...preset.defaults, ...overrides };
  ctx.log(o.describe(h, n));
  const result = await preset.run(data, overrides, presetHooks(ctx, { samplesPerBatch: h.batchSize }));
  ctx.reporter.stop();
  return {
    result,
    n,
    pixels: shownImages(result.test.predicted, result.test.actual, data.test.x),
    ...o.keep(result, data.test),
  };
}

/**
 * {@link writeClassifierOutputs} for an MNIST preset: the curves of `series` (train and validation
 * by default), the confusion matrix on the test set and a grid of 28x28 test digits (`pixels`,
 * from {@link shownImages}).
 */
export function writeMnistOutputs(
  ctx: ExampleContext,
  title: string,
  result: {
    readonly history: History;
    readonly test: { readonly predicted: ArrayLike<number>; readonly actual: ArrayLike<number> };
  },
  pixels: (i: number) => ArrayLike<number>,
  series: [string, string] = ["train", "validation"],
): Promise<void> {
  return writeClassifierOutputs(ctx, {
    title,
    history: result.history,
    series,
    predicted: result.test.predicted,
    actual: result.test.actual,
    set: "test",
    pixels,
    shape: { width: 28, height: 28 },
  });
}

/**
 * A copy of the 28x28 test image the outputs draw: image `wanted` of `x`, or the last when the
 * set is smaller.
 */
export function mnistImage(x: Tensor, wanted: number): { index: number; pixels: Float32Array } {
  const index = Math.min(wanted, (x.shape[0] ?? 0) - 1);
  return { index, pixels: Float32Array.from(x.data.subarray(index * 784, (index + 1) * 784)) };
}

/** The true and the predicted class of test image `index`. */
export function testLabels(result: MnistPresetResult, index: number): { actual: number; predicted: number } {
  return { actual: result.test.actual[index]!, predicted: result.test.predicted[index]! };
}

/**
 * The metrics lenet, rnn and vit report: test, validation and training accuracy, test loss,
 * epochs completed, training-set size `n`, parameter count, mean epoch time and training time.
 */
export function mnistMetrics(result: MnistPresetResult, n: number) {
  const times = result.history.epochTimeMs;
  return {
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
}

/** What {@link finishMnistPreset} needs. */
export interface MnistPresetEnd {
  /** The preset's name, e.g. `"lenet-mnist"`. */
  readonly preset: string;
  /** The preset's result. */
  readonly result: MnistPresetResult;
  /** Training images used. */
  readonly n: number;
  /** The metrics to report. */
  readonly metrics: Readonly<Record<string, unknown>>;
  /** The example's own fields of metrics.json, after `metrics` (e.g. `{ attention: ... }`). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The end of an MNIST preset example: summarises how training ended, saves model.ggm, writes
 * metrics.json (preset, hyperparameters, training-set size, metrics, `details`, training, the
 * tutorial's lines) and returns the example's result (a failure after a non-finite loss).
 */
export async function finishMnistPreset(ctx: ExampleContext, o: MnistPresetEnd): Promise<ExampleResult> {
  const { preset, result, n, metrics } = o;
  const h = result.hyperparameters;
  const training = trainingSummary(ctx, {
    planned: h.epochs,
    history: result.history,
    nonFinite: result.nonFinite,
  });
  await saveTrained(ctx, result.model, { preset, hyper: h, metrics, training });
  await ctx.writeJson("metrics.json", {
    preset,
    hyper: h,
    trainSize: n,
    metrics,
    ...o.details,
    training,
    log: result.log,
  });
  return {
    hyper: { preset, ...h, trainSize: n },
    metrics,
    training,
    failure: nonFiniteFailure(training),
  };
}
