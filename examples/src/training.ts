/**
 * Glue between the examples and the models package: a `fit` callback that reports progress and
 * stops on Ctrl-C, and helpers that turn a trained model into plot data.
 * @module
 */
import { Tensor } from "@gradgraph/core";
import { argmax, type Callback, type EpochLogs, type History } from "@gradgraph/models";
import type { ExampleContext } from "./context.js";
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
  };
}
