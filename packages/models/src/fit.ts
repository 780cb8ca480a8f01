/**
 * Training loops: {@link fit} (mini-batch or per-sample gradient steps over epochs) and
 * {@link fitFullBatch} (full-batch gradient descent, L-BFGS or conjugate gradient).
 *
 * The mini-batch loop is built for many tiny steps (per-sample SGD on the digits set is 1.35 million
 * of them): each step copies the batch rows straight into the compiled plan's input buffers, runs
 * the plan and calls the optimizer. Rows of 64 values or more are copied with `TypedArray.set`
 * (a memcpy) through a short-lived `subarray` view, one per batch in file order or per row when
 * shuffled; apart from those views nothing is allocated per step. `bench/fit-overhead.ts` times an
 * epoch of MNIST-sized workloads through `fit` against driving the plan directly.
 * @module
 */
import { type FloatArray, type ParamStore, Rng } from "@gradgraph/core";
import {
  type Callback,
  type EarlyStoppingOptions,
  type EpochLogs,
  earlyStopping,
  emptyHistory,
  type History,
  type RunInfo,
  recordEpoch,
  type TrainContext,
  truncateHistory,
} from "./callbacks.js";
import type { Features, TargetData } from "./gather.js";
import type {
  DEFAULT_CHUNK_ROWS,
  EvaluateOptions,
  GradientStep,
  Metric,
  MetricLike,
  Model,
  TrainingPlan,
  TrainingStepHooks,
} from "./model.js";
import { type IterationInfo, type MinimizeResult, minimize, sgd } from "./optim/index.js";

/**
 * A data set: sample-major features and targets. For a model with several feature inputs or
 * targets, give them keyed by name (see {@link Features} and {@link TargetData}).
 */
export interface Dataset {
  /** Features, one row per sample: a tensor, or tensors keyed by input name. */
  readonly x: Features;
  /**
   * Targets: a tensor with one row per sample, or class labels (one-hot encoded as the model
   * needs); or those keyed by target name.
   */
  readonly y: TargetData;
}

/** Options of {@link fit}. */
export interface FitOptions {
  /** The optimizer (e.g. `sgd({lr: 0.1})`, `adam({lr: 0.01})`). */
  optimizer: GradientStep;
  /** Passes over the data (default 1); with `initialEpoch`, the index the run ends at (Keras' convention). */
  epochs?: number;
  /**
   * The epoch to start at (default 0), to resume a run saved after `initialEpoch` epochs: this call
   * trains epochs `initialEpoch` to `epochs - 1` (callbacks see those indices), and the shuffling
   * generator first draws the `initialEpoch` orders the saved run used, so with the same `seed`, the
   * model's params and {@link Model.trainingSteps} and the optimizer's state restored (see
   * `restoreTraining`), the result is bit for bit the uninterrupted run's. The history holds this
   * call's epochs only, and {@link NonFiniteLossError.epochsKept} counts them from `initialEpoch`.
   */
  initialEpoch?: number;
  /** Rows per step (default 32; 1 gives per-sample SGD). The last batch may be smaller. */
  batchSize?: number;
  /** Visit the rows in a new seeded random order every epoch (default true); false keeps file order. */
  shuffle?: boolean;
  /** Seed of the shuffling generator (default 0). */
  seed?: number;
  /** Skip the last, smaller batch of each epoch (default false). */
  dropLast?: boolean;
  /** Data evaluated after every epoch (`val_loss` and `val_<metric>` logs). */
  validation?: Dataset;
  /**
   * Metrics to log besides the loss (e.g. `["accuracy"]`). `"accuracy"` is tracked on the training
   * batches as they go; custom {@link Metric}s need whole-set predictions, so they are logged for
   * the validation data and, only with `evaluateTrain`, for the training data.
   */
  metrics?: readonly MetricLike[];
  /**
   * After every epoch, re-evaluate loss and metrics on the whole training set with the epoch's final
   * params (PyImageSearch's `calculate_loss`), instead of averaging the batch values seen during the
   * epoch (the default, which is free). Needed for custom (non-`"accuracy"`) training metrics.
   */
  evaluateTrain?: boolean;
  /** Rows per chunk when evaluating (default {@link DEFAULT_CHUNK_ROWS}, see {@link EvaluateOptions.batchSize}). */
  evalBatchSize?: number;
  /** Callbacks, called in order. */
  callbacks?: Callback | readonly Callback[];
  /** Shorthand for adding `earlyStopping(options)` to the callbacks. */
  earlyStopping?: EarlyStoppingOptions;
  /**
   * Stop at the first non-finite (NaN or infinite) loss, like Keras' `TerminateOnNaN` (default
   * true). A batch loss is checked before its update is applied, and after every epoch its loss and
   * the params; at the first non-finite value `fit` rolls the params back to the last finite
   * checkpoint (see {@link NonFiniteLossError.epochsKept}) and throws a {@link NonFiniteLossError}.
   * Costs one copy of the params per epoch. With false, training carries on through NaN.
   */
  stopOnNonFinite?: boolean;
  /**
   * When a callback stops training after a batch in the middle of an epoch, roll the params back to
   * the start of that epoch (the end of the last complete one), so that they match
   * {@link History.epochs} (default false: keep the updates of the partial epoch's batches). Either
   * way the partial epoch is not counted as an epoch; {@link History.partialEpoch} describes it.
   */
  rollbackPartialEpoch?: boolean;
}

/** Where {@link NonFiniteLossError} saw a non-finite value. */
export type NonFiniteSource =
  /** the loss of one batch (or full-batch iteration), computed before its update */
  | "batch"
  /** the loss logged for a whole epoch (e.g. a re-evaluation of the training set) */
  | "epoch-loss"
  /** the params themselves, after the last update of an epoch */
  | "params";

/** What a {@link NonFiniteLossError} reports (its fields). */
export interface NonFiniteLossInfo {
  /** Epoch (or full-batch iteration) in which the non-finite value appeared, from 0. */
  readonly epoch: number;
  /** Epochs (or iterations) the run was asked for. */
  readonly epochs: number;
  /** Batch of that epoch, from 0 (for `"epoch-loss"` and `"params"`: its last batch). */
  readonly batch: number;
  /** Batches per epoch (1 for full-batch training). */
  readonly batches: number;
  /** The optimisation step, counted from 1 over the whole run, whose loss (or update) was non-finite. */
  readonly step: number;
  /** The non-finite value (NaN, Infinity or -Infinity; NaN for `"params"`). */
  readonly value: number;
  /** What was non-finite. */
  readonly source: NonFiniteSource;
  /**
   * Complete epochs the params hold after the rollback: they are the params at the end of epoch
   * `epochsKept` (0: the initial params), the last point whose loss was seen to be finite.
   */
  readonly epochsKept: number;
  /** The history up to `epochsKept` epochs (later epochs are dropped: the params no longer hold them). */
  readonly history: History;
  /** What an epoch is called in the message (`"epoch"`, `"iteration"`, `"pass"`; default `"epoch"`). */
  readonly unit?: string;
}

/**
 * Thrown by {@link fit} and {@link fitFullBatch} (with `stopOnNonFinite`, the default) at the first
 * non-finite loss. By then the params have been rolled back to the last finite checkpoint: the end
 * of epoch {@link NonFiniteLossError.epochsKept}. The error names the epoch and batch where the
 * value appeared and carries the history of the epochs kept. Callbacks' `onTrainEnd` is not called,
 * and the optimizer's own state (momentum, Adam's moments) is not rolled back.
 * @example
 * try {
 *   fit(model, data, { optimizer: sgd({ lr }), epochs: 10 });
 * } catch (e) {
 *   if (!(e instanceof NonFiniteLossError)) throw e;
 *   console.error(e.message); // model.params hold the end of epoch e.epochsKept
 * }
 */
export class NonFiniteLossError extends Error implements NonFiniteLossInfo {
  override readonly name = "NonFiniteLossError";
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batches: number;
  readonly step: number;
  readonly value: number;
  readonly source: NonFiniteSource;
  readonly epochsKept: number;
  readonly history: History;
  readonly unit: string;

  /**
   * @param where who stopped, the message's prefix (`"fit"`, `"preset 'nielsen-mnist'"`)
   * @param info what happened and what was kept
   */
  constructor(where: string, info: NonFiniteLossInfo) {
    const unit = info.unit ?? "epoch";
    const at =
      info.batches > 1
        ? `${unit} ${info.epoch + 1}/${info.epochs}, batch ${info.batch + 1}/${info.batches}`
        : `${unit} ${info.epoch + 1}/${info.epochs}`;
    const what =
      info.source === "batch"
        ? `non-finite loss (${info.value}) in ${at} (step ${info.step})`
        : info.source === "epoch-loss"
          ? `non-finite ${unit} loss (${info.value}) after ${at} (step ${info.step})`
          : `non-finite params after ${at} (step ${info.step})`;
    const kept = info.epochsKept === 0 ? "the initial params" : `the end of ${unit} ${info.epochsKept}`;
    super(
      `${where}: ${what}; training stopped and the params were rolled back to ${kept}, the last finite checkpoint (lower the learning rate?)`,
    );
    this.epoch = info.epoch;
    this.epochs = info.epochs;
    this.batch = info.batch;
    this.batches = info.batches;
    this.step = info.step;
    this.value = info.value;
    this.source = info.source;
    this.epochsKept = info.epochsKept;
    this.history = info.history;
    this.unit = unit;
  }
}

/** True when every value of every tensor in `params` is finite. @internal */
export function paramsFinite(params: ParamStore): boolean {
  for (const [, t] of params.entries()) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return false;
  }
  return true;
}

/**
 * One saved copy of the params at the start of an epoch (taken once that epoch's first batch has
 * given a finite loss, before its update), to roll back to. Copies into the same buffers after the
 * first save, so it allocates nothing per epoch. The copies are ordinary typed arrays, not kernel
 * arena memory, so they are garbage-collected with the checkpoint (a `ParamStore.clone` per `fit`
 * call stayed in the arena for good). @internal
 */
export class EpochCheckpoint {
  private names: string[] = [];
  private saved: FloatArray[] | null = null;
  /** Complete epochs the saved params hold, or -1 before the first save. */
  epochs = -1;
  /** Steps taken when it was saved. */
  steps = 0;

  /** @param params the live params (saved from and restored into) */
  constructor(private readonly params: ParamStore) {}

  /** Saves the params as they are after `epochs` complete epochs and `steps` steps. */
  save(epochs: number, steps: number): void {
    const params = this.params;
    if (this.saved === null || this.names.length !== params.size) {
      this.names = params.names();
      this.saved = this.names.map((n) => params.get(n).data.slice());
    } else {
      const saved = this.saved;
      for (let i = 0; i < saved.length; i++) saved[i]!.set(params.get(this.names[i]!).data);
    }
    this.epochs = epochs;
    this.steps = steps;
  }

  /** Copies the saved params back; false (and nothing changed) when nothing was saved. */
  restore(): boolean {
    const saved = this.saved;
    if (saved === null) return false;
    for (let i = 0; i < saved.length; i++) this.params.get(this.names[i]!).data.set(saved[i]!);
    return true;
  }
}

/**
 * Rolls back to `checkpoint` (when one was saved; else the params are still the initial ones, as no
 * update was applied), trims the history to the epochs the params now hold, and returns the error
 * to throw. @internal
 */
export function nonFiniteStop(
  where: string,
  checkpoint: EpochCheckpoint | null,
  history: History,
  info: Omit<NonFiniteLossInfo, "epochsKept" | "history">,
): NonFiniteLossError {
  const kept = checkpoint?.restore() ? checkpoint.epochs : 0;
  truncateHistory(history, kept);
  history.stoppedEarly = true;
  history.partialEpoch = null;
  return new NonFiniteLossError(where, { ...info, epochsKept: kept, history });
}

/** What {@link fit} and {@link fitFullBatch} return. */
export interface FitResult {
  /** The trained model (the same object, params updated in place). */
  readonly model: Model;
  /** Per-epoch logs and timing. */
  readonly history: History;
}

const now: () => number =
  typeof globalThis.performance?.now === "function" ? () => globalThis.performance.now() : () => Date.now();

class Context implements TrainContext {
  stopRequested = false;
  constructor(
    readonly model: Model,
    readonly history: History,
    readonly optimizer?: GradientStep,
    readonly run?: RunInfo,
  ) {}
  stop(): void {
    this.stopRequested = true;
  }
}

function callbackList(options: {
  callbacks?: Callback | readonly Callback[];
  earlyStopping?: EarlyStoppingOptions;
}): Callback[] {
  const cbs =
    options.callbacks === undefined
      ? []
      : Array.isArray(options.callbacks)
        ? [...options.callbacks]
        : [options.callbacks as Callback];
  if (options.earlyStopping) cbs.push(earlyStopping(options.earlyStopping));
  return cbs;
}

/**
 * The inner loop of one epoch, kept in its own small method so that V8 optimises it once and keeps
 * its number locals unboxed: no allocation per step. Sums go to `stats`: loss (weighted by batch
 * size for mean-reduced losses), samples seen, correct predictions.
 */
class EpochLoop implements TrainingStepHooks {
  readonly stats = new Float64Array(3);
  /** Steps taken so far (kept here rather than in the history object, whose shape V8 may change). */
  steps = 0;
  /** Batches of the current epoch whose update was applied. */
  batchesDone = 0;
  /** The batch of the current epoch whose loss was non-finite (its update not applied), or -1. */
  badBatch = -1;
  /** That loss. */
  badLoss = 0;
  /** Batches per epoch. */
  readonly numBatches: number;
  private readonly full: TrainingPlan;
  private readonly tail: TrainingPlan | null;
  private readonly n: number;
  private readonly mean: boolean;
  private readonly onBatch: Callback[];
  private readonly logs = { epoch: 0, batch: 0, step: 0, size: 0, loss: 0 };
  /** Batch and epoch of the step running (read by `beforeUpdate`). */
  private bi = 0;
  private epoch = 0;
  /**
   * Called by `Model.runTrainingStep` between the run and the update (the loop is its own hooks
   * object): refuses a non-finite loss (when checked) and saves the checkpoint at an epoch's first
   * batch.
   */
  beforeUpdate(tp: TrainingPlan): boolean {
    if (this.checkFinite && !Number.isFinite(tp.loss.data[0]!)) return false;
    if (this.bi === 0 && this.checkpoint !== null)
      this.checkpoint.save(this.epoch - this.initialEpoch, this.steps);
    return true;
  }

  constructor(
    private readonly model: Model,
    private readonly x: Features,
    private readonly y: TargetData,
    private readonly optimizer: GradientStep,
    private readonly batchSize: number,
    dropLast: boolean,
    private readonly order: Int32Array | null,
    private readonly wantAcc: boolean,
    private readonly ctx: Context,
    callbacks: readonly Callback[],
    private readonly checkFinite: boolean,
    private readonly checkpoint: EpochCheckpoint | null,
    private readonly initialEpoch: number,
    private readonly signal: AbortSignal | null,
  ) {
    this.n = model.checkData(x, y);
    this.numBatches = batchCount(this.n, batchSize, dropLast);
    this.full = model.trainingPlan(batchSize);
    const tail = this.n % batchSize;
    this.tail = !dropLast && tail > 0 ? model.trainingPlan(tail) : null;
    this.mean = model.lossReduction === "mean";
    this.onBatch = callbacks.filter((c) => c.onBatchEnd);
  }

  /** Resets the epoch's sums and counters before its first batch. */
  beginEpoch(): void {
    const stats = this.stats;
    stats[0] = 0;
    stats[1] = 0;
    stats[2] = 0;
    this.batchesDone = 0;
    this.badBatch = -1;
  }

  /**
   * Runs batches `from` to `to - 1` of `epoch` (rows visited in `order`, or in file order when it is
   * null). Returns false when the epoch ended early: a callback stopped training or a batch loss
   * was non-finite (`badBatch`). {@link fit} runs a whole epoch in one call; {@link fitAsync} runs
   * it in slices, yielding to the event loop in between.
   */
  runBatches(epoch: number, from: number, to: number): boolean {
    const ctx = this.ctx;
    const hasCallbacks = this.onBatch.length > 0;
    for (let bi = from; bi < to; bi++) {
      if (!this.step(bi, epoch)) {
        this.badBatch = bi;
        return false;
      }
      this.batchesDone = bi + 1;
      if (hasCallbacks) {
        this.callBatchEnd(epoch, bi);
        if (ctx.stopRequested) return false;
        // a callback may abort fitAsync's signal
        if (this.signal?.aborted) {
          ctx.stop();
          return false;
        }
      }
    }
    return true;
  }

  /**
   * One batch: gather, then `Model.runTrainingStep` (key, run, check the loss, save the checkpoint
   * at the first batch, update the params and the state), accumulate into `stats`. False (no
   * update) when the loss is non-finite and that is checked.
   */
  private step(bi: number, epoch: number): boolean {
    const batchSize = this.batchSize;
    const start = bi * batchSize;
    const n = this.n;
    const count = start + batchSize <= n ? batchSize : n - start;
    const tp = count === batchSize ? this.full : this.tail!;
    const model = this.model;
    model.fill(tp, this.x, this.y, this.order, start, count);
    this.bi = bi;
    this.epoch = epoch;
    const applied = model.runTrainingStep(tp, this.optimizer, this);
    const l = tp.loss.data[0]!;
    if (!applied) {
      this.badLoss = l;
      return false;
    }
    const stats = this.stats;
    stats[0] += this.mean ? l * count : l;
    stats[1] += count;
    if (this.wantAcc) stats[2] += model.correctIn(tp.predictions.data, tp.y.data, count);
    this.steps++;
    return true;
  }

  private callBatchEnd(epoch: number, bi: number): void {
    const ctx = this.ctx;
    const logs = this.logs;
    const start = bi * this.batchSize;
    logs.epoch = epoch;
    logs.batch = bi;
    logs.step = this.steps;
    logs.size = Math.min(this.batchSize, this.n - start);
    logs.loss = (logs.size === this.batchSize ? this.full : this.tail!).loss.data[0]!;
    const cbs = this.onBatch;
    for (let k = 0; k < cbs.length; k++) if (cbs[k]!.onBatchEnd!(bi, logs, ctx) === false) ctx.stop();
  }
}

/** Batches per epoch of `n` samples: the last short batch is dropped with `dropLast`. */
function batchCount(n: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

function checkPositiveInt(where: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`${where}: ${name} must be a positive integer, got ${v}`);
}

/**
 * Trains `model` on `data` with mini-batch gradient steps and returns it with its history.
 *
 * Each epoch visits every row once (shuffled with a seeded generator, or in file order), in batches
 * of `batchSize`; every batch is one `optimizer.step`. The epoch's `loss` (and `accuracy`) is the
 * average over its batches of the values computed before each update (combined as the model's
 * `lossReduction` says), unless `evaluateTrain` asks for a full re-evaluation. With `validation`,
 * `val_loss` and `val_<metric>` are computed after every epoch. Callbacks may stop training; an
 * epoch stopped after some of its batches is not counted (see {@link History.partialEpoch} and
 * {@link FitOptions.rollbackPartialEpoch}).
 *
 * At the first non-finite loss (unless `stopOnNonFinite: false`) the params are rolled back to the
 * last finite checkpoint and a {@link NonFiniteLossError} is thrown.
 * @throws NonFiniteLossError at the first non-finite loss or params (see {@link FitOptions.stopOnNonFinite})
 * @example
 * const { history } = fit(model, { x, y }, { optimizer: adam({ lr: 0.01 }), epochs: 100, batchSize: 16,
 *   metrics: ["accuracy"], validation: { x: xVal, y: yVal }, earlyStopping: { patience: 10 } });
 */
export function fit(model: Model, data: Dataset, options: FitOptions): FitResult {
  const run = new FitRun("fit", model, data, options);
  run.begin();
  const loop = run.loop;
  while (run.nextEpoch()) {
    loop.runBatches(run.epoch, 0, loop.numBatches);
    run.finishEpoch();
  }
  return run.end();
}

/** Options of {@link fitAsync}: those of {@link fit}, a cancellation signal and how often to yield. */
export interface FitAsyncOptions extends FitOptions {
  /**
   * Cancels training: once it is aborted (by a timer or event, seen at the next pause, or by a
   * callback), training stops after the batch that is running (the
   * params hold the updates of every batch done, or the start of that epoch with
   * {@link FitOptions.rollbackPartialEpoch}), callbacks' `onTrainEnd` is called and the promise
   * rejects with `signal.reason` (an `AbortError` `DOMException` unless `abort(reason)` gave one), as
   * `fetch` does. A signal already aborted rejects at once, before any callback.
   */
  signal?: AbortSignal;
  /**
   * Yield to the event loop once this many milliseconds have passed since the last yield (default
   * 16, one frame at 60 Hz); 0 yields after every batch. The clock is read between slices of
   * batches sized to take about a quarter of this (at most 1 ms), so pauses come at most that much
   * late. Batches are never split: a single batch longer than this holds the thread for its length.
   */
  yieldEveryMs?: number;
}

/**
 * A way to wait for the next macrotask: `setImmediate` where there is one (Node), else a
 * `MessageChannel` (browsers and workers: unlike nested `setTimeout(0)`, it is not clamped to 4 ms),
 * else `setTimeout(0)`. Microtasks (`await` of a resolved promise) would not let the page paint or
 * handle input.
 */
class MacrotaskYield {
  private channel: MessageChannel | null = null;
  private readonly waiting: (() => void)[] = [];
  private readonly immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;

  /** Resolves in a later macrotask. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (typeof this.immediate === "function") {
        this.immediate(resolve);
        return;
      }
      if (this.channel === null && typeof globalThis.MessageChannel === "function") {
        this.channel = new MessageChannel();
        this.channel.port1.onmessage = () => this.waiting.shift()?.();
      }
      if (this.channel !== null) {
        this.waiting.push(resolve);
        this.channel.port2.postMessage(null);
        return;
      }
      setTimeout(resolve, 0);
    });
  }

  /** Closes the channel (an open port keeps some runtimes alive). */
  close(): void {
    if (this.channel === null) return;
    this.channel.port1.onmessage = null;
    this.channel.port1.close();
    this.channel.port2.close();
    this.channel = null;
  }
}

/**
 * {@link fit} as a promise that yields to the event loop while it trains, so that a page stays
 * responsive (or a server keeps serving) during training. It runs exactly {@link fit}'s steps (the
 * same code), so with the same model, data, options and seed it gives the same params and history
 * bit for bit; only where it pauses differs. Between batches, once
 * {@link FitAsyncOptions.yieldEveryMs} (16 ms) have passed since the last pause, it waits for the
 * next macrotask; epochs' evaluations also end with that check.
 *
 * Callbacks are those of {@link fit}, called at the same points. Stop training with `ctx.stop()`
 * from a callback (the promise resolves, as with `fit`) or through {@link FitAsyncOptions.signal}
 * (the promise rejects with the signal's reason, like `fetch`). Errors `fit` throws (bad options,
 * {@link NonFiniteLossError}) reject the promise. Do not use the model for anything else (another
 * `fit`, `evaluate`, `predict`) while the promise is pending: they share its compiled plans.
 * @throws NonFiniteLossError (as a rejection) at the first non-finite loss, as {@link fit}
 * @example
 * const controller = new AbortController();
 * stopButton.onclick = () => controller.abort();
 * const { history } = await fitAsync(model, { x, y }, {
 *   optimizer: adam({ lr: 0.01 }), epochs: 50, signal: controller.signal,
 *   callbacks: { onEpochEnd: (epoch, logs) => drawLoss(epoch, logs.loss) },
 * });
 */
export async function fitAsync(model: Model, data: Dataset, options: FitAsyncOptions): Promise<FitResult> {
  const signal = options.signal;
  if (signal?.aborted) throw signal.reason;
  const yieldEveryMs = options.yieldEveryMs ?? 16;
  if (!(yieldEveryMs >= 0))
    throw new RangeError(`fitAsync: yieldEveryMs must be a number >= 0, got ${yieldEveryMs}`);
  const run = new FitRun("fitAsync", model, data, options, signal);
  const pause = new MacrotaskYield();
  try {
    const loop = run.loop;
    const ctx = run.ctx;
    const numBatches = loop.numBatches;
    // Batches run in slices of `k`, sized so that a slice takes about a quarter of the yield
    // interval (at most 1 ms): the clock is read once per slice, not once per tiny step. An abort
    // is only dispatched while the thread is free (at a pause) or by a callback, which the loop
    // checks after every batch, so slicing does not delay it.
    const target = Math.min(yieldEveryMs / 4, 1);
    let k = 1;
    let last = now();
    run.begin();
    while (run.nextEpoch()) {
      const epoch = run.epoch;
      for (let bi = 0; bi < numBatches; ) {
        const to = Math.min(bi + k, numBatches);
        const ts = now();
        if (!loop.runBatches(epoch, bi, to)) break;
        const t = now();
        bi = to;
        if (t - ts < target / 2) k = Math.min(2 * k, numBatches);
        else if (t - ts > target && k > 1) k >>= 1;
        if (t - last >= yieldEveryMs) {
          await pause.wait();
          last = now();
          if (signal?.aborted) {
            ctx.stop();
            break;
          }
        }
      }
      run.finishEpoch();
      if (now() - last >= yieldEveryMs) {
        await pause.wait();
        last = now();
      }
      if (signal?.aborted) ctx.stop();
    }
    const result = run.end();
    if (signal?.aborted) throw signal.reason;
    return result;
  } finally {
    pause.close();
  }
}

/**
 * One mini-batch training run, in the steps that {@link fit} and {@link fitAsync} both drive:
 * `begin`, then for every epoch `nextEpoch`, its batches (`loop.runBatches`, in one call or in
 * slices) and `finishEpoch`, then `end`. Both drivers run the same steps in the same order, so they
 * give the same bits.
 */
class FitRun {
  readonly history: History;
  readonly ctx: Context;
  readonly loop: EpochLoop;
  /** The epoch under way (or next), counted as the callbacks see it. */
  epoch: number;
  readonly epochs: number;
  private readonly initialEpoch: number;
  /** The batch loop counts correct predictions (`metrics` includes `"accuracy"`). */
  private readonly wantAccuracy: boolean;
  private readonly callbacks: Callback[];
  private readonly rng: Rng;
  private readonly order: Int32Array;
  private readonly shuffle: boolean;
  private readonly checkFinite: boolean;
  private readonly rollback: boolean;
  private readonly checkpoint: EpochCheckpoint | null;
  private readonly evalOpts: EvaluateOptions;
  private t0 = 0;
  private te = 0;

  /** Checks the options and sets everything up; throws before any callback runs. */
  constructor(
    private readonly where: string,
    private readonly model: Model,
    private readonly data: Dataset,
    private readonly options: FitOptions,
    signal?: AbortSignal,
  ) {
    const { x, y } = data;
    const n = model.checkData(x, y);
    if (n === 0) throw new RangeError(`${where}: no training samples`);
    const epochs = options.epochs ?? 1;
    if (!Number.isInteger(epochs) || epochs < 0)
      throw new RangeError(`${where}: epochs must be an integer >= 0, got ${epochs}`);
    const initialEpoch = options.initialEpoch ?? 0;
    if (!Number.isInteger(initialEpoch) || initialEpoch < 0 || initialEpoch > epochs)
      throw new RangeError(
        `${where}: initialEpoch must be an integer in [0, epochs = ${epochs}], got ${initialEpoch}`,
      );
    const batchSize = Math.min(options.batchSize ?? 32, n);
    checkPositiveInt(where, "batchSize", batchSize);
    const optimizer = options.optimizer;
    if (!optimizer || typeof optimizer.step !== "function")
      throw new TypeError(`${where}: options.optimizer is required`);
    const metrics = options.metrics ?? [];
    if (options.validation) model.checkData(options.validation.x, options.validation.y);
    this.epochs = epochs;
    this.initialEpoch = initialEpoch;
    this.wantAccuracy = metrics.includes("accuracy");
    this.epoch = initialEpoch;
    this.shuffle = options.shuffle ?? true;
    this.callbacks = callbackList(options);
    this.history = emptyHistory();
    this.rng = new Rng(options.seed ?? 0);
    this.order = new Int32Array(n);
    for (let i = 0; i < n; i++) this.order[i] = i;
    this.checkFinite = options.stopOnNonFinite ?? true;
    this.rollback = options.rollbackPartialEpoch ?? false;
    this.checkpoint = this.checkFinite || this.rollback ? new EpochCheckpoint(model.params) : null;
    const dropLast = options.dropLast ?? false;
    const batches = batchCount(n, batchSize, dropLast);
    this.ctx = new Context(model, this.history, optimizer, { epochs, initialEpoch, batches, samples: n });
    this.loop = new EpochLoop(
      model,
      x,
      y,
      optimizer,
      batchSize,
      dropLast,
      this.shuffle ? this.order : null,
      this.wantAccuracy,
      this.ctx,
      this.callbacks,
      this.checkFinite,
      this.checkpoint,
      initialEpoch,
      signal ?? null,
    );
    this.evalOpts = { metrics, ...(options.evalBatchSize ? { batchSize: options.evalBatchSize } : {}) };
  }

  /** Starts the clock, draws the orders of skipped epochs (`initialEpoch`) and calls `onTrainBegin`. */
  begin(): void {
    this.t0 = now();
    if (this.shuffle) for (let e = 0; e < this.initialEpoch; e++) this.rng.shuffle(this.order);
    for (const c of this.callbacks) c.onTrainBegin?.(this.ctx);
  }

  /**
   * Starts epoch `this.epoch` (calls `onEpochBegin`, shuffles, resets the sums); false when training
   * is over (all epochs done, or a stop was requested).
   */
  nextEpoch(): boolean {
    if (this.epoch >= this.epochs || this.ctx.stopRequested) return false;
    this.te = now();
    for (const c of this.callbacks) c.onEpochBegin?.(this.epoch, this.ctx);
    if (this.shuffle) this.rng.shuffle(this.order);
    this.loop.beginEpoch();
    return true;
  }

  /**
   * Ends the epoch whose batches ran: throws at a non-finite loss, records a partial epoch (a stop
   * in mid-epoch; training is then over), or computes the epoch's logs, records them and calls
   * `onEpochEnd`.
   */
  finishEpoch(): void {
    const { loop, history, model, options, checkFinite, epoch } = this;
    const numBatches = loop.numBatches;
    history.steps = loop.steps;
    if (loop.badBatch >= 0) this.fail(epoch, loop.badBatch, loop.badLoss, "batch");
    if (loop.batchesDone < numBatches) {
      // training was stopped in mid-epoch: the epoch is not complete, so it is not recorded
      const rolledBack = this.rollback && this.checkpoint?.restore() === true;
      history.partialEpoch = { epoch, batchesDone: loop.batchesDone, batches: numBatches, rolledBack };
      this.ctx.stop();
      return;
    }
    if (checkFinite && !paramsFinite(model.params)) this.fail(epoch, numBatches - 1, Number.NaN, "params");
    const stats = loop.stats;
    const lossSum = stats[0]!;
    const seen = stats[1]!;
    const correct = stats[2]!;
    const mean = model.lossReduction === "mean";
    const logs: Record<string, number> = {};
    if (options.evaluateTrain) {
      Object.assign(logs, model.evaluate(this.data.x, this.data.y, this.evalOpts));
    } else {
      logs.loss = mean ? lossSum / Math.max(seen, 1) : lossSum;
      if (this.wantAccuracy) logs.accuracy = correct / Math.max(seen, 1);
    }
    if (options.validation) {
      const v = model.evaluate(options.validation.x, options.validation.y, this.evalOpts);
      for (const [k, val] of Object.entries(v)) logs[`val_${k}`] = val;
    }
    if (checkFinite && !Number.isFinite(logs.loss!))
      this.fail(epoch, numBatches - 1, logs.loss!, "epoch-loss");
    const frozen: EpochLogs = logs;
    recordEpoch(history, frozen, now() - this.te);
    for (const c of this.callbacks) {
      if (c.onEpochEnd?.(epoch, frozen, this.ctx) === false) this.ctx.stop();
    }
    this.epoch++;
  }

  /** Calls `onTrainEnd` and returns the result. */
  end(): FitResult {
    const history = this.history;
    history.stoppedEarly = this.ctx.stopRequested && history.epochs < this.epochs - this.initialEpoch;
    for (const c of this.callbacks) c.onTrainEnd?.(this.ctx);
    history.timeMs = now() - this.t0;
    return { model: this.model, history };
  }

  private fail(epoch: number, batch: number, value: number, source: NonFiniteSource): never {
    const { history, loop } = this;
    history.steps = loop.steps;
    history.timeMs = now() - this.t0;
    throw nonFiniteStop(this.where, this.checkpoint, history, {
      epoch,
      epochs: this.epochs,
      batch,
      batches: loop.numBatches,
      step: source === "batch" ? loop.steps + 1 : loop.steps,
      value,
      source,
    });
  }
}

/** Options of {@link fitFullBatch}. */
export interface FullBatchOptions {
  /**
   * `"gd"`: plain full-batch gradient descent with step `lr` (the moons tutorial); `"lbfgs"` or
   * `"cg"`: `minimize` (Ng's ex4 uses conjugate gradient).
   */
  method: "lbfgs" | "cg" | "gd";
  /** Iterations (gd: gradient steps; lbfgs/cg: line searches). Default 100. */
  maxIter?: number;
  /** Step size of `"gd"` (required for it). */
  lr?: number;
  /** Data evaluated after every iteration for `val_loss` and validation metrics (slows things down). */
  validation?: Dataset;
  /**
   * Metrics to log, computed on the training set every iteration (so keep them cheap). For
   * lbfgs/cg they are computed at the minimizer's last evaluated point, which is usually, but not
   * always, the accepted one.
   */
  metrics?: readonly MetricLike[];
  /** Callbacks; each iteration counts as one epoch (`onEpochEnd(iteration, logs)`). */
  callbacks?: Callback | readonly Callback[];
  /** Shorthand for adding `earlyStopping(options)` to the callbacks. */
  earlyStopping?: EarlyStoppingOptions;
  /** Extra options passed to `minimize` for lbfgs/cg (e.g. `gtol`, `ftol`). */
  minimize?: { gtol?: number; ftol?: number; memory?: number; maxEvaluations?: number; fNoise?: number };
  /**
   * Stop at the first non-finite loss (default true), as {@link FitOptions.stopOnNonFinite}:
   * `"gd"` checks the loss of every iteration before its step and the params after it, keeps a copy
   * of the params of the last finite iteration, and on a non-finite value rolls back to it and throws
   * a {@link NonFiniteLossError}. `"lbfgs"`/`"cg"` check the loss at the starting point (their line
   * searches never accept a non-finite point).
   */
  stopOnNonFinite?: boolean;
}

/** History of a full-batch run: one "epoch" per iteration, plus the minimizer's result. */
export interface FullBatchResult extends FitResult {
  /** The result of `minimize` (lbfgs/cg), or null for gd. */
  readonly result: MinimizeResult | null;
}

/**
 * Trains on the whole data set at once. `"gd"` repeats: compute the full-batch loss and gradient,
 * step every trainable param by `-lr * grad`; `history.loss[i]` is the loss before step `i`.
 * `"lbfgs"`/`"cg"` hand {@link Model.lossAndGrad} to `minimize` and copy its best point into the
 * params; `history.loss[i]` is the loss after iteration `i + 1`. With training-mode layers, `"gd"`
 * steps through {@link Model.runTrainingStep} like {@link fit} (a new dropout key every iteration,
 * state updated after each), while `"lbfgs"`/`"cg"` use one key for the whole run and update the
 * state at every function evaluation (see {@link Model.lossAndGrad}).
 * @throws NonFiniteLossError at the first non-finite loss (see {@link FullBatchOptions.stopOnNonFinite})
 */
export function fitFullBatch(model: Model, data: Dataset, options: FullBatchOptions): FullBatchResult {
  const { x, y } = data;
  const n = model.checkData(x, y);
  if (n === 0) throw new RangeError("fitFullBatch: no training samples");
  const maxIter = options.maxIter ?? 100;
  if (!Number.isInteger(maxIter) || maxIter < 0) {
    throw new RangeError(`fitFullBatch: maxIter must be an integer >= 0, got ${maxIter}`);
  }
  const metrics = options.metrics ?? [];
  const callbacks = callbackList(options);
  const history = emptyHistory();
  const ctx = new Context(model, history, undefined, {
    epochs: maxIter,
    initialEpoch: 0,
    batches: 1,
    samples: n,
  });
  const t0 = now();
  let te = t0;
  const extraLogs = (logs: Record<string, number>) => {
    if (metrics.length > 0) {
      const r = model.evaluate(x, y, { metrics });
      for (const [k, v] of Object.entries(r)) if (k !== "loss") logs[k] = v;
    }
    if (options.validation) {
      const v = model.evaluate(options.validation.x, options.validation.y, { metrics });
      for (const [k, val] of Object.entries(v)) logs[`val_${k}`] = val;
    }
  };
  const endIteration = (iteration: number, loss: number): boolean => {
    const logs: Record<string, number> = { loss };
    extraLogs(logs);
    const t = now();
    recordEpoch(history, logs, t - te);
    te = t;
    for (const c of callbacks) if (c.onEpochEnd?.(iteration, logs, ctx) === false) ctx.stop();
    return !ctx.stopRequested;
  };
  const checkFinite = options.stopOnNonFinite ?? true;
  const checkpoint = checkFinite ? new EpochCheckpoint(model.params) : null;
  const fail = (it: number, value: number, source: NonFiniteSource): never => {
    history.timeMs = now() - t0;
    throw nonFiniteStop("fitFullBatch", checkpoint, history, {
      epoch: it,
      epochs: maxIter,
      batch: 0,
      batches: 1,
      step: source === "batch" ? history.steps + 1 : history.steps,
      value,
      source,
      unit: "iteration",
    });
  };
  if (options.method === "gd" && options.lr === undefined)
    throw new RangeError("fitFullBatch: method 'gd' needs lr");
  for (const c of callbacks) c.onTrainBegin?.(ctx);
  let result: MinimizeResult | null = null;
  if (options.method === "gd") {
    const opt = sgd({ lr: options.lr! });
    const tp = model.trainingPlan(n);
    for (let it = 0; it < maxIter && !ctx.stopRequested; it++) {
      for (const c of callbacks) c.onEpochBegin?.(it, ctx);
      model.fill(tp, x, y, null, 0, n);
      const applied = model.runTrainingStep(tp, opt, {
        beforeUpdate: (t) => {
          if (checkFinite && !Number.isFinite(t.loss.data[0]!)) return false;
          checkpoint?.save(it, history.steps);
          return true;
        },
      });
      const loss = tp.loss.data[0]!;
      if (!applied) fail(it, loss, "batch");
      history.steps++;
      if (checkFinite && !paramsFinite(model.params)) fail(it, Number.NaN, "params");
      endIteration(it, loss);
    }
  } else if (options.method === "lbfgs" || options.method === "cg") {
    const lg = model.lossAndGrad(x, y);
    if (checkFinite && maxIter > 0) {
      const f0 = lg.fun(lg.getParams(), new Float64Array(lg.size));
      if (!Number.isFinite(f0)) fail(0, f0, "batch");
    }
    const onIteration = (info: IterationInfo): boolean => {
      history.steps = info.iteration;
      // the minimizer's current point is not necessarily in the params: callbacks see the last evaluated one
      return endIteration(info.iteration - 1, info.f);
    };
    if (maxIter > 0) {
      result = minimize(lg.fun, lg.getParams(), {
        ...options.minimize,
        method: options.method,
        maxIter,
        onIteration,
      });
      lg.setParams(result.x);
    }
  } else {
    throw new RangeError(
      `fitFullBatch: unknown method '${String(options.method)}' (expected "gd", "lbfgs" or "cg")`,
    );
  }
  history.stoppedEarly = ctx.stopRequested && history.epochs < maxIter;
  for (const c of callbacks) c.onTrainEnd?.(ctx);
  history.timeMs = now() - t0;
  return { model, history, result };
}
