/**
 * The training and save-load flow shared by the examples that train a small 2-D classifier with
 * Adam (custom, custom-op): fit with validation and a progress line, survive a stop or a non-finite
 * loss, then save to model.ggm and check that the loaded copy predicts the same.
 * @module
 */
import { join } from "node:path";
import type { Tensor } from "@gradgraph/core";
import { adam, type EpochLogs, fit, type History, Model, NonFiniteLossError } from "@gradgraph/models";
import { loadModel, saveModel } from "@gradgraph/models/node";
import type { ExampleContext } from "./context.js";
import { type TrainingSummary, trainingCallback, trainingSummary } from "./training.js";

/** Inputs and their class labels. */
export interface LabeledData {
  /** Inputs, one row per sample. */
  readonly x: Tensor;
  /** Class labels, one per sample. */
  readonly y: Uint8Array | Int32Array | readonly number[];
}

/** Options of {@link fitClassifier}. */
export interface FitClassifierOptions {
  /** Epochs asked for. */
  readonly epochs: number;
  /** Adam's learning rate. */
  readonly lr: number;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Shuffling seed. */
  readonly seed: number;
  /** About how many epoch lines to print (the first and last epochs always print one). */
  readonly lines: number;
}

/** What {@link fitClassifier} returns. */
export interface FitClassifierResult {
  /** The history of the run (that of the rolled-back weights after a non-finite loss). */
  readonly history: History;
  /** The non-finite loss that stopped the run, or null. */
  readonly nonFinite: NonFiniteLossError | null;
  /** How training ended ({@link trainingSummary}). */
  readonly training: TrainingSummary;
}

/** Whether epoch `e` (from 1) of `epochs` prints a line: the first, the last, and about `lines` in all. */
export function printsEpoch(e: number, epochs: number, lines: number): boolean {
  const every = Math.max(1, Math.round(epochs / lines));
  return e === 1 || e % every === 0 || e === epochs;
}

/**
 * The logs of a classifier's epoch with validation, as the examples print them:
 * `loss 0.1234, accuracy 0.950, val_loss 0.2345, val_accuracy 0.930`.
 */
export function accuracyLogs(l: EpochLogs): string {
  return `loss ${l.loss!.toFixed(4)}, accuracy ${l.accuracy!.toFixed(3)}, val_loss ${l.val_loss!.toFixed(4)}, val_accuracy ${l.val_accuracy!.toFixed(3)}`;
}

/** What {@link fitOrRollBack} returns. */
export interface FitOutcome {
  /** The history of the run (that of the rolled-back weights after a non-finite loss). */
  readonly history: History;
  /** The non-finite loss that stopped the run, or null. */
  readonly nonFinite: NonFiniteLossError | null;
}

/**
 * Runs `train` (a `fit` call with `rollbackPartialEpoch`, returning its history). When `fit` throws
 * a {@link NonFiniteLossError} (it has rolled the model back to the last finite epoch), stops the
 * progress bar and returns the error's history with the error; any other error propagates.
 */
export function fitOrRollBack(ctx: ExampleContext, train: () => History): FitOutcome {
  try {
    return { history: train(), nonFinite: null };
  } catch (e) {
    if (!(e instanceof NonFiniteLossError)) throw e;
    ctx.reporter.stop();
    return { history: e.history, nonFinite: e };
  }
}

/**
 * Trains `model` with Adam on `train`, validating on `validation` with the accuracy metric, one
 * progress bar over the run and a line every `epochs / lines` epochs. A stop (Ctrl-C,
 * --time-limit) inside an epoch rolls that epoch back, and a non-finite loss rolls back to the last
 * finite epoch, so the model always holds `history.epochs` epochs. Logs an early stop.
 */
export function fitClassifier(
  ctx: ExampleContext,
  model: Model,
  train: LabeledData,
  validation: LabeledData,
  o: FitClassifierOptions,
): FitClassifierResult {
  const { epochs, batchSize } = o;
  const nTrain = train.y.length;
  const { history, nonFinite } = fitOrRollBack(
    ctx,
    () =>
      fit(model, train, {
        optimizer: adam({ lr: o.lr }),
        rollbackPartialEpoch: true,
        epochs,
        batchSize,
        seed: o.seed,
        metrics: ["accuracy"],
        validation,
        callbacks: trainingCallback(ctx, {
          epochs,
          batches: Math.ceil(nTrain / batchSize),
          samples: nTrain,
          bar: "run",
          line: (e, l) => (printsEpoch(e, epochs, o.lines) ? `Epoch ${e}: ${accuracyLogs(l)}` : null),
        }),
      }).history,
  );
  if (history.stoppedEarly) ctx.log(`Stopped after ${history.epochs} of ${epochs} epochs.`);
  const training = trainingSummary(ctx, { planned: epochs, history, nonFinite });
  return { history, nonFinite, training };
}

/** What {@link saveAndReload} returns. */
export interface ReloadResult {
  /** The model loaded back from model.ggm. */
  readonly loaded: Model;
  /** The largest |difference| between the two models' predictions on the probe inputs. */
  readonly maxDiff: number;
  /** True when the predictions are the same to the bit (`maxDiff === 0`). */
  readonly identical: boolean;
}

/**
 * Saves `model` (graph, params, `metadata`) to model.ggm in the output folder, lists the file,
 * loads it back and compares the two models' predictions on `probe`.
 */
export async function saveAndReload(
  ctx: ExampleContext,
  model: Model,
  metadata: Record<string, unknown>,
  probe: Tensor,
): Promise<ReloadResult> {
  const modelPath = join(ctx.outDir, "model.ggm");
  await saveModel(modelPath, { graph: model.graph, params: model.params, metadata });
  ctx.addFile(modelPath);
  const saved = await loadModel(modelPath);
  const loaded = new Model(saved.graph, { params: saved.params });
  const a = model.predict(probe);
  const b = loaded.predict(probe);
  let maxDiff = 0;
  for (let i = 0; i < a.size; i++) maxDiff = Math.max(maxDiff, Math.abs(a.data[i]! - b.data[i]!));
  return { loaded, maxDiff, identical: maxDiff === 0 };
}
