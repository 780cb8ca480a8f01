/**
 * A progress display for training on a terminal, like Keras' `verbose=1` or tqdm: exported from
 * the Node entry only (`@gradgraph/models/node`), as it writes to `process.stdout`.
 * @module
 */

import type { Options as CliProgressOptions } from "cli-progress";
import cliProgress from "cli-progress";
import type { BatchLogs, Callback, EpochLogs, TrainContext } from "./callbacks.js";

/** Where {@link progressBar} writes: `process.stdout`, `process.stderr` or anything with `write`. */
export interface ProgressStream {
  /** Writes text (no newline is added). */
  write(text: string): unknown;
  /** True for an interactive terminal (then a bar is drawn). */
  readonly isTTY?: boolean;
  /** Terminal width in characters (default 80); the bar line is cut to fit. */
  readonly columns?: number;
}

/** Options of {@link progressBar}. */
export interface ProgressBarOptions {
  /** Where to write (default `process.stdout`). */
  stream?: ProgressStream;
  /**
   * Draw a bar that moves during each epoch (default: when `stream.isTTY` and the `CI` environment
   * variable is unset, empty, `0` or `false`). Otherwise only the line per epoch is written.
   */
  interactive?: boolean;
  /** Minimum time between two redraws of the bar, in milliseconds (default 100). */
  updateEveryMs?: number;
  /** Write the summary line every this many epochs (default 1); the last epoch's is always written. */
  everyEpochs?: number;
  /** Digits after the decimal point in logged values (default 4). */
  digits?: number;
}

/** True when a bar should be drawn on `stream`: it is a terminal and `CI` is not set. */
export function isInteractiveStream(stream: ProgressStream): boolean {
  const ci = process.env.CI;
  return Boolean(stream.isTTY) && (ci === undefined || ci === "" || ci === "0" || ci === "false");
}

// cli-progress is CommonJS: Node gives its exports as the default import only
const { Format } = cliProgress;
const BAR_SIZE = 24;
/** cli-progress's bar and time formatting settings (its `shades_classic` preset). */
const barOptions: CliProgressOptions = {
  barsize: BAR_SIZE,
  barCompleteString: "\u2588".repeat(BAR_SIZE),
  barIncompleteString: "\u2591".repeat(BAR_SIZE),
  barGlue: "",
  autopaddingChar: "0",
};

function formatValue(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 10 ** -digits || a >= 1e6) ? x.toExponential(digits - 1) : x.toFixed(digits);
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : Format.TimeFormat(Math.round(ms / 1000), barOptions, 1);
}

/**
 * A callback that shows training progress, for `fit`, `fitAsync` and `fitFullBatch`: on a terminal a
 * bar per epoch (batches done, running loss, time left; drawn with cli-progress's bar format), and
 * after every epoch one line with its logs, Keras' `verbose=1`:
 *
 * ```text
 * Epoch 3/10 |██████████░░░░░░░░░░░░░░| 40/94 batches | loss 0.3124 | ETA 1.26s
 * Epoch 3/10 - 94 batches - 2.31s - loss: 0.3012 - accuracy: 0.9104 - val_loss: 0.2896 - val_accuracy: 0.9187
 * ```
 *
 * When the stream is not a terminal or `CI` is set, only the lines are written (so logs stay
 * readable). Redraws are throttled (`updateEveryMs`), so per-sample training pays a clock read per
 * batch. The bar uses no timer: nothing is left running when training throws.
 * @example
 * import { progressBar } from "@gradgraph/models/node";
 * fit(model, data, { optimizer: adam({ lr: 1e-3 }), epochs: 10, callbacks: progressBar() });
 */
export function progressBar(options: ProgressBarOptions = {}): Callback {
  const stream: ProgressStream = options.stream ?? process.stdout;
  const interactive = options.interactive ?? isInteractiveStream(stream);
  const updateEveryMs = options.updateEveryMs ?? 100;
  const everyEpochs = options.everyEpochs ?? 1;
  if (!Number.isInteger(everyEpochs) || everyEpochs < 1)
    throw new RangeError(`progressBar: everyEpochs must be a positive integer, got ${everyEpochs}`);
  const digits = options.digits ?? 4;
  let epochs = 0;
  let batches = 0;
  let mean = true;
  let epochStart = 0;
  let lastDraw = 0;
  let drawn = false;
  let lossSum = 0;
  let seen = 0;
  let lastEpoch = -1;

  const now = () => performance.now();
  const label = (epoch: number) => (epochs > 0 ? `Epoch ${epoch + 1}/${epochs}` : `Epoch ${epoch + 1}`);
  const clearBar = () => {
    if (!drawn) return;
    stream.write("\r\x1b[K");
    drawn = false;
  };
  const draw = (logs: BatchLogs, t: number) => {
    const done = logs.batch + 1;
    const progress = batches > 0 ? Math.min(1, done / batches) : 0;
    const elapsed = t - epochStart;
    const eta = done > 0 && batches > done ? (elapsed / done) * (batches - done) : 0;
    const loss = mean ? lossSum / Math.max(seen, 1) : lossSum;
    const line = `${label(logs.epoch)} |${Format.BarFormat(progress, barOptions)}| ${done}/${batches} batches | loss ${formatValue(loss, digits)} | ETA ${formatSeconds(eta)}`;
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    stream.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
    drawn = true;
    lastDraw = t;
  };

  return {
    onTrainBegin(ctx: TrainContext) {
      epochs = ctx.run?.epochs ?? 0;
      batches = ctx.run?.batches ?? 0;
      mean = ctx.model.lossReduction === "mean";
      drawn = false;
      lastEpoch = -1;
      epochStart = 0;
    },
    onEpochBegin() {
      epochStart = now();
      lastDraw = Number.NEGATIVE_INFINITY;
      lossSum = 0;
      seen = 0;
    },
    onBatchEnd(_batch: number, logs: BatchLogs) {
      if (!interactive) return;
      lossSum += mean ? logs.loss * logs.size : logs.loss;
      seen += logs.size;
      const t = now();
      if (t - lastDraw >= updateEveryMs) draw(logs, t);
    },
    onEpochEnd(epoch: number, logs: EpochLogs) {
      clearBar();
      lastEpoch = epoch;
      const isLast = epochs > 0 && epoch === epochs - 1;
      if ((epoch + 1) % everyEpochs !== 0 && !isLast) return;
      const parts = [label(epoch)];
      if (batches > 1) parts.push(`${batches} batches`);
      // fitFullBatch's lbfgs/cg do not call onEpochBegin: no time for them
      if (epochStart > 0) parts.push(formatSeconds(now() - epochStart));
      for (const [k, v] of Object.entries(logs)) parts.push(`${k}: ${formatValue(v, digits)}`);
      stream.write(`${parts.join(" - ")}\n`);
    },
    onTrainEnd(ctx: TrainContext) {
      clearBar();
      const partial = ctx.history.partialEpoch;
      if (partial !== null) {
        stream.write(
          `${label(partial.epoch)} stopped after ${partial.batchesDone}/${partial.batches} batches${partial.rolledBack ? " (rolled back)" : ""}\n`,
        );
      } else if (ctx.history.stoppedEarly && lastEpoch >= 0 && lastEpoch < epochs - 1) {
        stream.write(`Stopped early after epoch ${lastEpoch + 1}/${epochs}\n`);
      }
    },
  };
}
