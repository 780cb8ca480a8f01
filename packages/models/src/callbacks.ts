/**
 * Training callbacks, the training history and early stopping.
 * @module
 */
import { ParamStore, Tensor } from "@gradgraph/core";
import type { TrainingState } from "./io.js";
import type { GradientStep, Model } from "./model.js";
import type { Optimizer } from "./optim/types.js";

/**
 * Per-epoch logs: `loss` (training) and, when asked for, `val_loss`, the training metrics by name
 * (`accuracy`) and the validation metrics prefixed `val_` (`val_accuracy`).
 */
export type EpochLogs = Readonly<Record<string, number>>;

/** Per-batch logs. The same object is reused for every batch: copy what you keep. */
export interface BatchLogs {
  /** Epoch index, from 0. */
  readonly epoch: number;
  /** Batch index within the epoch, from 0. */
  readonly batch: number;
  /** Steps taken so far in this run, including this one. */
  readonly step: number;
  /** Rows in this batch. */
  readonly size: number;
  /** The batch loss (computed before the update). */
  readonly loss: number;
}

/** The per-epoch record of a training run. */
export interface History {
  /** Completed epochs (or iterations, for full-batch training). */
  epochs: number;
  /** Training loss per epoch. */
  readonly loss: number[];
  /** Validation loss per epoch (empty without validation data). */
  readonly valLoss: number[];
  /** Training metrics per epoch, by name. */
  readonly metrics: Record<string, number[]>;
  /** Validation metrics per epoch, by name (without the `val_` prefix). */
  readonly valMetrics: Record<string, number[]>;
  /** Every epoch's full logs. */
  readonly logs: EpochLogs[];
  /** Wall time of each epoch in milliseconds (training plus evaluation). */
  readonly epochTimeMs: number[];
  /** Total wall time in milliseconds. */
  timeMs: number;
  /** Optimisation steps taken. */
  steps: number;
  /** True when a callback, early stopping, a stop signal or a non-finite loss ended training before the last epoch. */
  stoppedEarly: boolean;
  /**
   * The epoch that was under way when training was stopped after one of its batches (not at its
   * end), or null. It is never counted in {@link History.epochs} nor in the per-epoch arrays;
   * {@link PartialEpoch.rolledBack} says whether the params still hold its updates.
   */
  partialEpoch: PartialEpoch | null;
}

/** An epoch stopped after some of its batches (see {@link History.partialEpoch}). */
export interface PartialEpoch {
  /** Its index, from 0 (the number of epochs completed before it). */
  readonly epoch: number;
  /** Batches of it whose updates were applied before the stop. */
  readonly batchesDone: number;
  /** Batches per epoch. */
  readonly batches: number;
  /**
   * True when the params were rolled back to the start of this epoch (the end of the last complete
   * one), so the updates of its `batchesDone` batches are discarded; false when the params hold them.
   */
  readonly rolledBack: boolean;
}

/** A fresh, empty history. */
export function emptyHistory(): History {
  return {
    epochs: 0,
    loss: [],
    valLoss: [],
    metrics: {},
    valMetrics: {},
    logs: [],
    epochTimeMs: [],
    timeMs: 0,
    steps: 0,
    stoppedEarly: false,
    partialEpoch: null,
  };
}

function pushTo(table: Record<string, number[]>, key: string, v: number): void {
  const list = table[key];
  if (list) list.push(v);
  else table[key] = [v];
}

/** Appends one epoch's logs to a history (splitting them into its arrays). */
export function recordEpoch(history: History, logs: EpochLogs, timeMs: number): void {
  history.logs.push(logs);
  history.epochTimeMs.push(timeMs);
  history.epochs = history.logs.length;
  for (const [k, v] of Object.entries(logs)) {
    if (k === "loss") history.loss.push(v);
    else if (k === "val_loss") history.valLoss.push(v);
    else if (k.startsWith("val_")) pushTo(history.valMetrics, k.slice(4), v);
    else pushTo(history.metrics, k, v);
  }
}

/**
 * Drops every epoch after the first `epochs` from a history (its logs, times and per-epoch arrays),
 * e.g. after the params were rolled back to the end of epoch `epochs`.
 */
export function truncateHistory(history: History, epochs: number): void {
  if (!Number.isInteger(epochs) || epochs < 0)
    throw new RangeError(`truncateHistory: epochs must be an integer >= 0, got ${epochs}`);
  if (epochs >= history.logs.length) return;
  const dropped = history.logs.slice(epochs);
  history.logs.length = epochs;
  history.epochTimeMs.length = epochs;
  history.epochs = epochs;
  // each per-epoch array holds one value per epoch that logged its key, so count from the end
  const cut = (list: number[] | undefined, key: string) => {
    if (!list) return;
    const n = dropped.filter((l) => key in l).length;
    list.length = Math.max(0, list.length - n);
  };
  const keys = new Set(dropped.flatMap((l) => Object.keys(l)));
  for (const k of keys) {
    if (k === "loss") cut(history.loss, k);
    else if (k === "val_loss") cut(history.valLoss, k);
    else if (k.startsWith("val_")) cut(history.valMetrics[k.slice(4)], k);
    else cut(history.metrics[k], k);
  }
}

/** The shape of a training run, for callbacks that show progress (see {@link TrainContext.run}). */
export interface RunInfo {
  /** The epoch index the run ends at (`fit`'s `epochs`; `fitFullBatch`'s `maxIter`). */
  readonly epochs: number;
  /** The epoch index the run starts at (`fit`'s `initialEpoch`; 0 for `fitFullBatch`). */
  readonly initialEpoch: number;
  /** Batches (optimisation steps) per epoch (1 for full-batch training). */
  readonly batches: number;
  /** Training samples. */
  readonly samples: number;
}

/** What callbacks see of the run. */
export interface TrainContext {
  /** The run's epochs and batches per epoch (given by `fit`, `fitAsync` and `fitFullBatch`). */
  readonly run?: RunInfo;
  /** The model being trained. */
  readonly model: Model;
  /**
   * The optimizer making the steps (`fit` gives its optimizer; absent in `fitFullBatch`). Callbacks that save or restore training state use its
   * `getState`/`setState` when it has them (every optimizer of this package does).
   */
  readonly optimizer?: GradientStep;
  /** The history so far. */
  readonly history: History;
  /** Asks training to stop after the current batch. */
  stop(): void;
  /** True once a stop was requested. */
  readonly stopRequested: boolean;
}

/**
 * Hooks called during training. `onBatchEnd` and `onEpochEnd` may return `false` (or call
 * `ctx.stop()`) to stop training.
 */
export interface Callback {
  /** Before the first epoch. */
  onTrainBegin?(ctx: TrainContext): void;
  /** Before each epoch (index from 0). */
  onEpochBegin?(epoch: number, ctx: TrainContext): void;
  /** After each optimisation step. `logs` is reused between calls. */
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks written as plain statements return void
  onBatchEnd?(batch: number, logs: BatchLogs, ctx: TrainContext): boolean | undefined | void;
  /** After each epoch, once its logs (including validation) are known. */
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks written as plain statements return void
  onEpochEnd?(epoch: number, logs: EpochLogs, ctx: TrainContext): boolean | undefined | void;
  /** After training ends (also when it was stopped). */
  onTrainEnd?(ctx: TrainContext): void;
}

/** Options of {@link earlyStopping}. */
export interface EarlyStoppingOptions {
  /** The log to watch (default `"val_loss"`, or `"loss"` when there is no validation data). */
  monitor?: string;
  /** Epochs without improvement to wait before stopping (default 0). */
  patience?: number;
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** `"min"`, `"max"`, or `"auto"` (default: `"max"` for names containing `acc`, else `"min"`). */
  mode?: "min" | "max" | "auto";
  /**
   * Restore the params of the best epoch when training ends (default true). All of the model's
   * params are restored, state params included (batch normalisation's running statistics).
   */
  restoreBest?: boolean;
  /**
   * With `restoreBest`, also put back the training state of the best epoch: the model's
   * {@link Model.trainingSteps} and the optimizer's state (when the context's optimizer has
   * `getState`/`setState`), so that the model and optimizer are exactly as they were at the end of
   * that epoch and training can go on from there (default false: the optimizer keeps its state of
   * the last epoch and the step count is not rewound).
   */
  restoreTrainingState?: boolean;
}

/** The state an {@link earlyStopping} callback exposes after (or during) a run. */
export interface EarlyStopping extends Callback {
  /** Best monitored value so far. */
  readonly best: number;
  /** Epoch (from 0) of the best value, or -1. */
  readonly bestEpoch: number;
  /** Epoch (from 0) at which it stopped training, or -1. */
  readonly stoppedEpoch: number;
  /** True when the best params were copied back at the end. */
  readonly restored: boolean;
}

/** True when `o` can save and restore its state (every optimizer of this package can). */
function stateful(o: GradientStep | undefined): o is GradientStep & Optimizer {
  return (
    o !== undefined &&
    typeof (o as Partial<Optimizer>).getState === "function" &&
    typeof (o as Partial<Optimizer>).setState === "function"
  );
}

/** The training state of the run now: the model's step count and the optimizer's state when it has one. */
function currentTraining(ctx: TrainContext): TrainingState {
  const o = ctx.optimizer;
  return {
    trainingSteps: ctx.model.trainingSteps,
    ...(stateful(o) ? { optimizer: o.getState() } : {}),
  };
}

/** A copy of `params` in ordinary (garbage-collected) typed arrays. */
function copyParams(params: ParamStore): ParamStore {
  return new ParamStore(
    params.entries().map(([n, t]) => [n, new Tensor(t.shape, t.data.slice())] as [string, Tensor]),
  );
}

/** Direction of a monitored log: 1 to minimise, -1 to maximise. */
function signOf(mode: "min" | "max" | "auto", monitor: string): number {
  return mode === "max" || (mode === "auto" && monitor.includes("acc")) ? -1 : 1;
}

function monitored(name: string, monitor: string, logs: EpochLogs): number {
  const value = logs[monitor];
  if (value === undefined) {
    throw new Error(
      `${name}: no log named '${monitor}' (logs: ${Object.keys(logs).join(", ")}); is validation data given?`,
    );
  }
  return value;
}

/**
 * Stops training when the monitored log has not improved by more than `minDelta` for `patience`
 * epochs, and (by default) restores the best epoch's params. Params are snapshotted by copying into
 * one preallocated store, so it allocates nothing per epoch.
 */
export function earlyStopping(options: EarlyStoppingOptions = {}): EarlyStopping {
  const patience = options.patience ?? 0;
  const minDelta = Math.abs(options.minDelta ?? 0);
  const restoreBest = options.restoreBest ?? true;
  const restoreTraining = restoreBest && (options.restoreTrainingState ?? false);
  let bestTraining: TrainingState | null = null;
  let monitor = options.monitor;
  let sign = 1;
  let best = Number.POSITIVE_INFINITY;
  let bestEpoch = -1;
  let stoppedEpoch = -1;
  let wait = 0;
  let restored = false;
  let snapshot: ParamStore | null = null;
  let lastEpoch = -1;
  const cb: EarlyStopping = {
    get best() {
      return sign * best;
    },
    get bestEpoch() {
      return bestEpoch;
    },
    get stoppedEpoch() {
      return stoppedEpoch;
    },
    get restored() {
      return restored;
    },
    onTrainBegin(ctx) {
      best = Number.POSITIVE_INFINITY;
      bestEpoch = -1;
      stoppedEpoch = -1;
      wait = 0;
      restored = false;
      lastEpoch = -1;
      bestTraining = null;
      if (restoreBest) snapshot = ctx.model.params.clone();
    },
    onEpochEnd(epoch, logs, ctx) {
      lastEpoch = epoch;
      if (monitor === undefined) monitor = "val_loss" in logs ? "val_loss" : "loss";
      const value = monitored("earlyStopping", monitor, logs);
      sign = signOf(options.mode ?? "auto", monitor);
      const v = sign * value;
      if (v < best - minDelta) {
        best = v;
        bestEpoch = epoch;
        wait = 0;
        if (snapshot) snapshot.copyFrom(ctx.model.params);
        if (restoreTraining) bestTraining = currentTraining(ctx);
      } else if (++wait >= patience) {
        stoppedEpoch = epoch;
        ctx.stop();
      }
    },
    onTrainEnd(ctx) {
      if (snapshot && bestEpoch >= 0 && bestEpoch !== lastEpoch) {
        ctx.model.params.copyFrom(snapshot);
        if (bestTraining !== null) {
          if (bestTraining.trainingSteps !== undefined) ctx.model.trainingSteps = bestTraining.trainingSteps;
          const o = ctx.optimizer;
          if (bestTraining.optimizer !== undefined && stateful(o)) o.setState(bestTraining.optimizer);
        }
        restored = true;
      }
    },
  };
  return cb;
}

/**
 * One saved point of a run: everything needed to go back to the end of an epoch, or to resume
 * training from it exactly (see {@link modelCheckpoint}).
 */
export interface TrainingCheckpoint {
  /** The epoch (from 0) at whose end it was taken. */
  readonly epoch: number;
  /** The monitored log's value at that epoch. */
  readonly value: number;
  /** Copies of all of the model's params, state params included (running statistics). */
  readonly params: ParamStore;
  /** The model's training step count and the optimizer's state (when it has one), as saved in model files. */
  readonly training: TrainingState;
}

/** Options of {@link modelCheckpoint}. */
export interface ModelCheckpointOptions {
  /** The log to watch (default `"val_loss"`, or `"loss"` when there is no validation data). */
  monitor?: string;
  /** `"min"`, `"max"`, or `"auto"` (default: `"max"` for names containing `acc`, else `"min"`). */
  mode?: "min" | "max" | "auto";
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** Save only when the monitored log improves (default true); false saves after every epoch. */
  saveBestOnly?: boolean;
  /**
   * Called with every checkpoint taken, e.g. to write it to a file:
   * `saveModel(path, { graph: ctx.model.graph, params: cp.params, training: cp.training })`
   * (keep the promise and await it after `fit`: callbacks are synchronous).
   */
  onSave?: (checkpoint: TrainingCheckpoint, ctx: TrainContext) => void;
}

/** The callback {@link modelCheckpoint} returns. */
export interface ModelCheckpoint extends Callback {
  /** The last checkpoint taken (the best one with `saveBestOnly`), or null. */
  readonly checkpoint: TrainingCheckpoint | null;
  /**
   * Puts the last checkpoint back: copies its params into `model`'s buffers, sets
   * {@link Model.trainingSteps} and, when given, the optimizer's state. Throws when no checkpoint
   * was taken.
   */
  restore(model: Model, optimizer?: Optimizer): void;
}

/**
 * Keeps a copy of the model (all params, running statistics included), its training step count and
 * the optimizer's state at the end of the best epoch (or of every epoch with `saveBestOnly: false`),
 * and hands each checkpoint to `onSave`. Restoring it ({@link ModelCheckpoint.restore}) brings the
 * model and optimizer back to that point; resuming `fit` from it with `initialEpoch: epoch + 1`
 * gives the same bits as a run that had not gone past it.
 * @example
 * const ckpt = modelCheckpoint({ monitor: "val_accuracy" });
 * fit(model, data, { optimizer: opt, epochs: 20, validation, metrics: ["accuracy"], callbacks: [ckpt] });
 * ckpt.restore(model, opt);
 */
export function modelCheckpoint(options: ModelCheckpointOptions = {}): ModelCheckpoint {
  const minDelta = Math.abs(options.minDelta ?? 0);
  const bestOnly = options.saveBestOnly ?? true;
  let monitor = options.monitor;
  let best = Number.POSITIVE_INFINITY;
  let last: TrainingCheckpoint | null = null;
  return {
    get checkpoint() {
      return last;
    },
    onTrainBegin() {
      best = Number.POSITIVE_INFINITY;
    },
    onEpochEnd(epoch, logs, ctx) {
      if (monitor === undefined) monitor = "val_loss" in logs ? "val_loss" : "loss";
      const value = monitored("modelCheckpoint", monitor, logs);
      const v = signOf(options.mode ?? "auto", monitor) * value;
      const better = v < best - minDelta;
      if (better) best = v;
      if (!better && bestOnly) return;
      last = { epoch, value, params: copyParams(ctx.model.params), training: currentTraining(ctx) };
      options.onSave?.(last, ctx);
    },
    restore(model, optimizer) {
      if (last === null) throw new Error("modelCheckpoint.restore: no checkpoint was taken");
      model.params.copyFrom(last.params);
      if (last.training.trainingSteps !== undefined) model.trainingSteps = last.training.trainingSteps;
      if (optimizer !== undefined) {
        if (last.training.optimizer === undefined)
          throw new Error(
            "modelCheckpoint.restore: the checkpoint has no optimizer state (the run's optimizer had none)",
          );
        optimizer.setState(last.training.optimizer);
      }
    },
  };
}
