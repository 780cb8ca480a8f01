/**
 * Glue between the examples and the models package: a `fit` callback that reports progress and
 * stops on Ctrl-C, and helpers that turn a trained model into plot data.
 * @module
 */
import { Tensor } from "@gradgraph/core";
import {
  argmax,
  type Callback,
  type EpochLogs,
  type History,
  type NonFiniteLossError,
  type NonFiniteSource,
} from "@gradgraph/models";
import type { ExampleContext, StopReason } from "./context.js";
import { type ClassGrid, gridPoints, type HistoryLike, type LabeledPoint } from "./plots.js";

/** Options of {@link trainingCallback}. */
export interface TrainingCallbackOptions {
  /** Total epochs (for the bar and the line format). */
  readonly epochs: number;
  /** Batches per epoch. */
  readonly batches: number;
  /** Samples per epoch. */
  readonly samples: number;
  /** The line printed after an epoch (null: none). Epochs count from 1. */
  readonly line: (epoch: number, logs: EpochLogs) => string | null;
  /**
   * `"epoch"` (default): a bar per epoch over its batches (for long epochs, e.g. MNIST);
   * `"run"`: one bar over all epochs (for many short epochs).
   */
  readonly bar?: "epoch" | "run";
}

/**
 * A `fit` callback that drives the progress bar, prints a line per epoch and stops training after
 * the current batch once the context asks to stop (Ctrl-C, time limit).
 */
export function trainingCallback(ctx: ExampleContext, o: TrainingCallbackOptions): Callback {
  const r = ctx.reporter;
  let seen = 0;
  let running = 0;
  let epochIndex = 0;
  if (o.bar === "run") r.start("Training", o.epochs, "epochs");
  return {
    onEpochBegin(epoch) {
      epochIndex = epoch;
      seen = 0;
      running = 0;
      if (o.bar !== "run") r.start(`Epoch ${epoch + 1}/${o.epochs}`, o.batches, "batches");
    },
    onBatchEnd(batch, logs) {
      seen += logs.size;
      running += (logs.loss - running) / (batch + 1);
      if (o.bar !== "run") r.tick(batch + 1, seen, running, batch + 1 === o.batches);
      else r.tick(epochIndex, epochIndex * o.samples + seen, running);
      return !ctx.shouldStop();
    },
    onEpochEnd(epoch, logs) {
      if (o.bar !== "run") r.stop();
      const text = o.line(epoch + 1, logs);
      if (text !== null) r.log(text);
      return !ctx.shouldStop();
    },
    onTrainEnd() {
      r.stop();
    },
  };
}

/** How a training run ended and which weights its outputs hold (`training` in metrics.json and model.ggm). */
export interface TrainingSummary {
  /** Epochs asked for (moons: passes; ng-ex4: iterations). */
  readonly epochsPlanned: number;
  /**
   * Complete epochs in the weights that model.ggm holds and that every metric and printed result
   * was computed from.
   */
  readonly epochsCompleted: number;
  /** What an epoch is called: `"epoch"`, `"pass"` (moons) or `"iteration"` (ng-ex4). */
  readonly unit: TrainingUnit;
  /** Why training ended before `epochsPlanned`, or null. */
  readonly stopReason: StopReason | "non-finite" | null;
  /** True when Ctrl-C stopped training. */
  readonly interrupted: boolean;
  /**
   * The epoch under way when Ctrl-C or the time limit stopped training, numbered from 1: its first
   * `batchesDone` of `batches` batches were run, then rolled back (`rolledBack`), so the weights are
   * those after `epochsCompleted` epochs. Null when training stopped between epochs.
   */
  readonly partialEpoch: {
    readonly epoch: number;
    readonly batchesDone: number;
    readonly batches: number;
    readonly rolledBack: boolean;
  } | null;
  /**
   * Where a non-finite loss stopped training (epoch and batch numbered from 1), or null. The weights
   * were rolled back to the last finite checkpoint: the end of epoch `epochsKept`.
   */
  readonly nonFinite: {
    readonly epoch: number;
    readonly batch: number;
    readonly batches: number;
    readonly step: number;
    readonly value: string;
    readonly source: NonFiniteSource;
    readonly epochsKept: number;
    readonly message: string;
  } | null;
  /** One phrase saying which weights the outputs hold, e.g. "after 3 of 30 epochs". */
  readonly weights: string;
}

/** What {@link TrainingSummary.unit} may be. */
export type TrainingUnit = "epoch" | "pass" | "iteration";

function plural(unit: TrainingUnit, n: number): string {
  return n === 1 ? unit : unit === "pass" ? "passes" : `${unit}s`;
}

/** Options of {@link trainingSummary}. */
export interface TrainingSummaryOptions {
  /** Epochs asked for. */
  readonly planned: number;
  /** The history of the model whose weights are saved. */
  readonly history: History;
  /** What an epoch is called (default `"epoch"`). */
  readonly unit?: TrainingUnit;
  /** The non-finite loss that stopped the run, if any (it may come from another model of the run). */
  readonly nonFinite?: NonFiniteLossError | null;
}

/**
 * Describes how training ended: epochs planned and completed, why it stopped, the batches of a
 * stopped epoch that were rolled back, a non-finite loss. Every example stores it as `training`
 * in metrics.json and in model.ggm's metadata, so that the files say exactly which weights they hold.
 */
export function trainingSummary(ctx: ExampleContext, o: TrainingSummaryOptions): TrainingSummary {
  const unit = o.unit ?? "epoch";
  const h = o.history;
  const done = h.epochs;
  const nf = o.nonFinite ?? null;
  const early = done < o.planned || h.partialEpoch !== null;
  const stopReason = nf ? "non-finite" : early ? ctx.stopReason() : null;
  const p = h.partialEpoch;
  const partialEpoch = p
    ? { epoch: p.epoch + 1, batchesDone: p.batchesDone, batches: p.batches, rolledBack: p.rolledBack }
    : null;
  let weights =
    done === 0
      ? `the initial weights (0 of ${o.planned} ${plural(unit, o.planned)})`
      : done >= o.planned
        ? `after all ${o.planned} ${plural(unit, o.planned)}`
        : `after ${done} of ${o.planned} ${plural(unit, o.planned)}`;
  if (partialEpoch) {
    const why =
      stopReason === "interrupt" ? "Ctrl-C" : stopReason === "time-limit" ? "the time limit" : "the stop";
    weights += partialEpoch.rolledBack
      ? `; the ${partialEpoch.batchesDone} of ${partialEpoch.batches} batches of ${unit} ${partialEpoch.epoch} run before ${why} were rolled back`
      : ` and ${partialEpoch.batchesDone} of ${partialEpoch.batches} batches of ${unit} ${partialEpoch.epoch}`;
  }
  if (nf) {
    const what = nf.source === "params" ? "params" : "loss";
    weights += `; training stopped at non-finite ${what} and was rolled back to the last finite checkpoint`;
  }
  return {
    epochsPlanned: o.planned,
    epochsCompleted: done,
    unit,
    stopReason,
    interrupted: stopReason === "interrupt",
    partialEpoch,
    nonFinite: nf
      ? {
          epoch: nf.epoch + 1,
          batch: nf.batch + 1,
          batches: nf.batches,
          step: nf.step,
          value: String(nf.value),
          source: nf.source,
          epochsKept: nf.epochsKept,
          message: nf.message,
        }
      : null,
    weights,
  };
}

/** The failure message of a run stopped by a non-finite loss (the CLI prints it and exits 1), or undefined. */
export function nonFiniteFailure(summary: TrainingSummary): string | undefined {
  if (!summary.nonFinite) return undefined;
  return `${summary.nonFinite.message}; the files written describe those weights`;
}

/** The points of a 2-D data set, for plots. */
export function labeledPoints(x: Tensor, y: ArrayLike<number>): LabeledPoint[] {
  const out: LabeledPoint[] = [];
  for (let i = 0; i < y.length; i++) out.push({ x: x.data[2 * i]!, y: x.data[2 * i + 1]!, label: y[i]! });
  return out;
}

/**
 * Evaluates `predict` (rows of (x, y) -> class scores, one row per point) on the centres of an
 * `nx` x `ny` grid over `bounds` and returns the predicted classes (argmax; a single output is
 * thresholded at 0.5).
 */
export function classGrid(
  predict: (points: Tensor) => Tensor,
  bounds: { xMin: number; xMax: number; yMin: number; yMax: number },
  nx = 160,
  ny = 120,
): ClassGrid {
  const pts = gridPoints(bounds, nx, ny);
  const scores = predict(new Tensor([nx * ny, 2], Float32Array.from(pts)));
  let classes: ArrayLike<number>;
  if (scores.shape.length === 1 || scores.shape[1] === 1) {
    const c = new Uint8Array(nx * ny);
    for (let i = 0; i < c.length; i++) c[i] = scores.data[i]! > 0.5 ? 1 : 0;
    classes = c;
  } else classes = argmax(scores);
  return { ...bounds, nx, ny, classes };
}

/** A history as plain JSON (what history.json holds). */
export function historyJson(h: History | HistoryLike): Record<string, unknown> {
  const full = h as Partial<History>;
  return {
    epochs: full.epochs ?? h.loss.length,
    loss: [...h.loss],
    valLoss: [...(h.valLoss ?? [])],
    metrics: h.metrics ?? {},
    valMetrics: h.valMetrics ?? {},
    ...(full.epochTimeMs ? { epochTimeMs: full.epochTimeMs.map((t) => Math.round(t * 100) / 100) } : {}),
    ...(full.stoppedEarly !== undefined ? { stoppedEarly: full.stoppedEarly } : {}),
    ...(full.partialEpoch
      ? { partialEpoch: { ...full.partialEpoch, epoch: full.partialEpoch.epoch + 1 } }
      : {}),
  };
}
