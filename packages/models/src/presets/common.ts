/**
 * Shared plumbing of the presets: hyperparameter merging and checks, the stop flag, tutorial-style
 * log lines, and an asynchronous mini-batch loop that can be stopped after any batch and yields to
 * the event loop (so a Ctrl-C handler can run) while keeping the allocation-free step of `fit`.
 * @module
 */
import { type GraphBuilder, Rng, Tensor, type Value } from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { emptyHistory, type History, recordEpoch } from "../callbacks.js";
import {
  EpochCheckpoint,
  type NonFiniteLossError,
  type NonFiniteSource,
  nonFiniteStop,
  paramsFinite,
} from "../fit.js";
import type { Targets } from "../gather.js";
import { argmax } from "../metrics.js";
import type { GradientStep, Model, TrainingPlan } from "../model.js";
import { cosineDecay, type LearningRateSchedule } from "../optim/index.js";
import type {
  BatchProgress,
  ClassPredictions,
  PresetHooks,
  PresetRunBase,
  StopSignal,
  TrainedModel,
} from "./types.js";

/** Milliseconds since an arbitrary origin (`performance.now` when available). */
export const now: () => number =
  typeof globalThis.performance?.now === "function" ? () => globalThis.performance.now() : () => Date.now();

/** True when `signal` asks to stop. */
export function isStopped(signal: StopSignal | undefined): boolean {
  return signal !== undefined && (signal.stopped === true || signal.aborted === true);
}

/**
 * Merges `overrides` into `defaults`. Unknown names and values of the wrong kind (a string for a
 * number, a number for a list, ...) throw a RangeError naming the preset and the hyperparameter;
 * `undefined` values are ignored. A `null` default accepts a number or null.
 */
export function resolveHyper<H extends object>(preset: string, defaults: H, overrides?: Partial<H>): H {
  const out = { ...defaults } as Record<string, unknown>;
  // lists are copied, so that a result's hyperparameters never alias the frozen defaults
  for (const [k, v] of Object.entries(out)) if (Array.isArray(v)) out[k] = [...(v as unknown[])];
  if (!overrides) return out as H;
  const known = Object.keys(defaults);
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(defaults, key)) {
      throw new RangeError(
        `preset '${preset}': unknown hyperparameter '${key}' (known: ${known.join(", ")})`,
      );
    }
    const d = out[key];
    const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
    const ok = d === null ? value === null || typeof value === "number" : kind(d) === kind(value);
    if (!ok) {
      throw new RangeError(
        `preset '${preset}': hyperparameter '${key}' must be ${d === null ? "a number or null" : `of type ${kind(d)}`}, got ${JSON.stringify(value)}`,
      );
    }
    out[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
  }
  return out as H;
}

/** Throws a RangeError unless `v` is an integer >= `min`. */
export function checkInt(preset: string, name: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) {
    throw new RangeError(`preset '${preset}': ${name} must be an integer >= ${min}, got ${v}`);
  }
}

/** Throws a RangeError unless `v` is a finite number > 0 (or >= 0 with `allowZero`). */
export function checkPositive(preset: string, name: string, v: number, allowZero = false): void {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(
      `preset '${preset}': ${name} must be a finite number ${allowZero ? ">= 0" : "> 0"}, got ${v}`,
    );
  }
}

/** Collects the tutorial-style lines of a run and forwards each to `hooks.onLog`. */
export class RunLog {
  /** The lines so far. */
  readonly lines: string[] = [];
  constructor(private readonly hooks: PresetHooks) {}
  /** Records and forwards one line. */
  line(text: string): void {
    this.lines.push(text);
    this.hooks.onLog?.(text);
  }
}

function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  return new Promise<void>((resolve) => {
    if (typeof g.setImmediate === "function") g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

/**
 * Lets a long synchronous-looking loop give the event loop a turn every `yieldEveryMs` while a stop
 * signal is given (without one there is nobody to listen, and it never yields).
 */
export class Yielder {
  private last = now();
  private readonly every: number;
  private readonly active: boolean;
  constructor(hooks: PresetHooks) {
    this.every = hooks.yieldEveryMs ?? 100;
    this.active = hooks.signal !== undefined;
  }
  /** True when it is time to yield. */
  due(): boolean {
    return this.active && now() - this.last >= this.every;
  }
  /** Yields to the event loop once. */
  async pause(): Promise<void> {
    await yieldToEventLoop();
    this.last = now();
  }
}

/** A mutable {@link BatchProgress}, reused for every call. */
export class Progress implements BatchProgress {
  epoch = 0;
  batch = 0;
  loss = 0;
  constructor(
    readonly stage: string,
    readonly epochs: number,
    readonly batches: number,
  ) {}
}

/** What {@link trainMiniBatch} needs. */
export interface MiniBatchSpec {
  /** The model to train (params updated in place). */
  readonly model: Model;
  /** Training inputs, sample-major. */
  readonly x: Tensor;
  /** Training targets (labels are one-hot encoded as the model needs). */
  readonly y: Targets;
  /** Epochs to run. */
  readonly epochs: number;
  /** Rows per step (1: per-sample SGD). The last batch of an epoch may be smaller. */
  readonly batchSize: number;
  /** The update rule. */
  readonly optimizer: GradientStep;
  /**
   * The order to visit the rows in during `epoch` (a permutation, which may be the same array
   * reshuffled), or null for file order.
   */
  readonly order: (epoch: number) => Int32Array | null;
  /** Count correct predictions on the training batches (`accuracy` log). */
  readonly trackAccuracy: boolean;
  /**
   * Changes a gathered batch in place before the step runs (data augmentation, e.g. random shifts
   * of images): gets the plan's feature input buffer, in the graph's convention, and the number of
   * rows in it. Draw from a seeded generator of your own, so that runs stay deterministic.
   */
  readonly augment?: (x: Tensor, count: number) => void;
  /**
   * The epoch's logs: gets the running averages over the epoch's batches (`loss` combined as the
   * model's `lossReduction` says, `accuracy` when tracked) and returns the logs to record (it may
   * replace them by full-set evaluations and add validation values).
   */
  readonly epochLogs?: (epoch: number, running: Record<string, number>) => Record<string, number>;
  /** Called after the epoch is recorded (for tutorial log lines). */
  readonly afterEpoch?: (epoch: number, logs: Readonly<Record<string, number>>) => void;
  /** Hooks of the run. */
  readonly hooks: PresetHooks;
  /** Name of this model in hook calls. */
  readonly stage: string;
  /** Who trains, for error messages (e.g. `"preset 'nielsen-mnist'"`; default `"trainMiniBatch"`). */
  readonly name?: string;
}

/** What {@link trainMiniBatch} returns. */
export interface MiniBatchOutcome {
  /** The complete epochs (a stopped epoch is described by `history.partialEpoch`, not recorded). */
  readonly history: History;
  /** True when the stop signal or a non-finite loss ended training early. */
  readonly stopped: boolean;
  /** The non-finite loss that ended training (the params were rolled back), or null. */
  readonly nonFinite: NonFiniteLossError | null;
}

/**
 * Trains with one optimizer step per batch, like `fit`, but asynchronously: it checks the stop flag
 * after every batch and yields to the event loop from time to time (see {@link Yielder}).
 *
 * An epoch stopped before its last batch is not recorded, and the params are rolled back to its
 * start (the end of the last complete epoch), so that the model always holds exactly
 * `history.epochs` epochs; `history.partialEpoch` says how many batches were discarded. A stop
 * after the last batch of an epoch completes (and records) that epoch. At the first non-finite loss
 * (checked before each update, and on the params and the epoch's loss after each epoch) the params
 * are rolled back to the last finite checkpoint, as `fit` does, and the error is returned in
 * `nonFinite` rather than thrown, so the caller can still report what was kept.
 */
export async function trainMiniBatch(spec: MiniBatchSpec): Promise<MiniBatchOutcome> {
  const { model, x, y, optimizer, hooks } = spec;
  const n = model.checkData(x, y);
  if (n === 0) throw new RangeError("trainMiniBatch: no training samples");
  const batchSize = Math.min(spec.batchSize, n);
  const numBatches = Math.ceil(n / batchSize);
  const full = model.trainingPlan(batchSize);
  const tailSize = n % batchSize;
  const tail = tailSize > 0 ? model.trainingPlan(tailSize) : full;
  const mean = model.lossReduction === "mean";
  const history = emptyHistory();
  const yielder = new Yielder(hooks);
  const progress = new Progress(spec.stage, spec.epochs, numBatches);
  const onBatch = hooks.onBatchEnd;
  const signal = hooks.signal;
  const checkpoint = new EpochCheckpoint(model.params);
  // between the run and the update: refuse a non-finite loss, save the checkpoint at an epoch's start
  const stepHooks = {
    first: false,
    epoch: 0,
    beforeUpdate(tp: TrainingPlan): boolean {
      if (!Number.isFinite(tp.loss.data[0]!)) return false;
      if (this.first) checkpoint.save(this.epoch, history.steps);
      return true;
    },
  };
  const t0 = now();
  let stopped = isStopped(signal);
  const fail = (epoch: number, batch: number, value: number, source: NonFiniteSource): MiniBatchOutcome => {
    history.timeMs = now() - t0;
    const nonFinite = nonFiniteStop(spec.name ?? "trainMiniBatch", checkpoint, history, {
      epoch,
      epochs: spec.epochs,
      batch,
      batches: numBatches,
      step: source === "batch" ? history.steps + 1 : history.steps,
      value,
      source,
    });
    return { history, stopped: true, nonFinite };
  };
  for (let epoch = 0; epoch < spec.epochs && !stopped; epoch++) {
    const te = now();
    const order = spec.order(epoch);
    let lossSum = 0;
    let seen = 0;
    let correct = 0;
    let done = 0;
    for (let bi = 0; bi < numBatches; bi++) {
      const start = bi * batchSize;
      const count = start + batchSize <= n ? batchSize : n - start;
      const tp = count === batchSize ? full : tail;
      model.fill(tp, x, y, order, start, count);
      spec.augment?.(tp.x, count);
      stepHooks.first = bi === 0;
      stepHooks.epoch = epoch;
      // the step's random key, the run, the update and the state params (batch norm's statistics)
      const applied = model.runTrainingStep(tp, optimizer, stepHooks);
      const l = tp.loss.data[0]!;
      if (!applied) return fail(epoch, bi, l, "batch");
      done = bi + 1;
      lossSum += mean ? l * count : l;
      seen += count;
      if (spec.trackAccuracy) correct += model.correctIn(tp.predictions.data, tp.y.data, count);
      history.steps++;
      if (onBatch) {
        progress.epoch = epoch;
        progress.batch = bi;
        progress.loss = l;
        onBatch(progress);
      }
      if (signal !== undefined) {
        if (isStopped(signal)) {
          stopped = true;
          break;
        }
        if (yielder.due()) {
          await yielder.pause();
          if (isStopped(signal)) {
            stopped = true;
            break;
          }
        }
      }
    }
    if (done < numBatches) {
      // stopped in mid-epoch: back to the end of the last complete epoch
      const rolledBack = checkpoint.restore();
      history.partialEpoch = { epoch, batchesDone: done, batches: numBatches, rolledBack };
      break;
    }
    if (!paramsFinite(model.params)) return fail(epoch, numBatches - 1, Number.NaN, "params");
    const running: Record<string, number> = { loss: mean ? lossSum / seen : lossSum };
    if (spec.trackAccuracy) running.accuracy = correct / seen;
    const logs = spec.epochLogs ? spec.epochLogs(epoch, running) : running;
    if (!Number.isFinite(logs.loss!)) return fail(epoch, numBatches - 1, logs.loss!, "epoch-loss");
    recordEpoch(history, logs, now() - te);
    spec.afterEpoch?.(epoch, logs);
    hooks.onEpochEnd?.(epoch, logs, spec.stage);
  }
  history.stoppedEarly = stopped;
  history.timeMs = now() - t0;
  return { history, stopped, nonFinite: null };
}

/** The class predicted for each row of `x` by a classifier with one output per class. */
export function classify(model: Model, x: Tensor, actual: ArrayLike<number>, offset = 0): ClassPredictions {
  const outputs = model.predict(x);
  const predicted = argmax(outputs);
  if (offset !== 0) for (let i = 0; i < predicted.length; i++) predicted[i] += offset;
  return { predicted, actual: Int32Array.from(actual), outputs };
}

/** The first `count` rows of a sample-major tensor, as a view (no copy). */
export function firstRows(x: Tensor, count: number): Tensor {
  const n = x.shape[0] ?? 0;
  if (count >= n) return x;
  const per = n === 0 ? 0 : x.size / n;
  return new Tensor([count, ...x.shape.slice(1)], x.data.subarray(0, count * per));
}

/** MNIST's pixel mean over the training set. */
const MNIST_PIXEL_MEAN = 0.1307;

/** MNIST's pixel standard deviation over the training set. */
const MNIST_PIXEL_STD = 0.3081;

/**
 * `(pixels - mean) / std` with MNIST's pixel mean and standard deviation over the training set, in
 * the graph: how the MNIST presets standardise their inputs (any shape).
 */
export function standardizeMnist(b: GraphBuilder, pixels: Value): Value {
  return b.div(b.sub(pixels, b.scalar(MNIST_PIXEL_MEAN)), b.scalar(MNIST_PIXEL_STD));
}

/**
 * The checks of the hyperparameters every mini-batch preset has: `epochs` an integer >= 0,
 * `batchSize` >= 1, `lr` a finite number > 0 and `seed` an integer >= 0 (RangeError naming the first
 * that is not).
 */
export function checkMiniBatchHyper(
  preset: string,
  h: { readonly epochs: number; readonly batchSize: number; readonly lr: number; readonly seed: number },
): void {
  checkInt(preset, "epochs", h.epochs, 0);
  checkInt(preset, "batchSize", h.batchSize);
  checkPositive(preset, "lr", h.lr);
  checkInt(preset, "seed", h.seed, 0);
}

/**
 * {@link cosineDecay} from `lr` over `totalSteps` steps (after `warmupSteps` of linear warm-up),
 * floored at `lr·1e-6`: the learning rate of the MNIST presets' cosine schedules.
 */
export function flooredCosine(lr: number, totalSteps: number, warmupSteps = 0): LearningRateSchedule {
  const cosine = cosineDecay({ lr, totalSteps, warmupSteps });
  const floor = lr * 1e-6;
  return (t) => Math.max(cosine(t), floor);
}

/** Throws a RangeError unless `shift` (random shifts of 28x28 images) is an integer from 0 to 27. */
export function checkShift(preset: string, shift: number): void {
  checkInt(preset, "shift", shift, 0);
  if (shift >= 28) throw new RangeError(`preset '${preset}': shift must be below 28 pixels, got ${shift}`);
}

/** Throws a RangeError unless `v` is one of `choices` (a preset's architecture, schedule, ...). */
export function checkOneOf<T extends string>(
  preset: string,
  name: string,
  v: T,
  choices: readonly T[],
): void {
  if (!choices.includes(v))
    throw new RangeError(`preset '${preset}': ${name} must be one of ${choices.join(", ")}, got '${v}'`);
}

/** Batches per epoch of `n` training rows in batches of `batchSize` (the last one may be smaller). */
export function batchesPerEpoch(n: number, batchSize: number): number {
  return Math.ceil(n / Math.min(batchSize, Math.max(n, 1)));
}

/** The MNIST presets' data: `loadMnist({ split: "train-validation-test" })`. */
export interface MnistSplit {
  /** Training images, `[n, 784]` in [0, 1]. */
  readonly train: LabeledData;
  /** Validation images, evaluated after every epoch. */
  readonly validation: LabeledData;
  /** Test images, evaluated at the end. */
  readonly test: LabeledData;
}

/** The class predicted for each row of `set`, predicting `evalRows` rows at a time. */
export function predictClasses(model: Model, set: LabeledData, evalRows: number): ClassPredictions {
  const outputs = model.predict(set.x, { batchSize: evalRows });
  return { predicted: argmax(outputs), actual: Int32Array.from(set.y), outputs };
}

/** What {@link trainWithValidation} needs besides the model and the data. */
export interface ValidatedTraining {
  /** The preset's name, for error messages. */
  readonly preset: string;
  /** Epochs to run. */
  readonly epochs: number;
  /** Rows per step. */
  readonly batchSize: number;
  /** The update rule. */
  readonly optimizer: GradientStep;
  /** Seed of the shuffle of the training rows, drawn anew every epoch. */
  readonly shuffleSeed: number;
  /** Data augmentation of each batch (see {@link MiniBatchSpec.augment}), or undefined for none. */
  readonly augment?: ((x: Tensor, count: number) => void) | undefined;
  /** Rows per validation chunk. */
  readonly evalRows: number;
  /** Where the epoch lines go. */
  readonly log: RunLog;
  /** Hooks of the run. */
  readonly hooks: PresetHooks;
}

/**
 * Mini-batch training ({@link trainMiniBatch}) as the MNIST presets `"lenet-mnist"`, `"rnn-mnist"`
 * and `"vit-mnist"` do it: the training rows are visited in a seeded shuffle every epoch, the accuracy of the training batches is counted while training, the
 * validation set is evaluated after every epoch (`val_loss`, `val_accuracy`), and each epoch logs
 * `epoch e/E: loss …, accuracy …; validation loss …, accuracy … (… s)`.
 */
export function trainWithValidation(
  model: Model,
  data: Pick<MnistSplit, "train" | "validation">,
  spec: ValidatedTraining,
): Promise<MiniBatchOutcome> {
  const { train, validation } = data;
  const { log, hooks } = spec;
  const rng = new Rng(spec.shuffleSeed);
  const order = Int32Array.from({ length: train.x.shape[0] ?? 0 }, (_, i) => i);
  let te = now();
  return trainMiniBatch({
    model,
    x: train.x,
    y: train.y,
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    optimizer: spec.optimizer,
    order: () => rng.shuffle(order),
    ...(spec.augment ? { augment: spec.augment } : {}),
    trackAccuracy: true,
    epochLogs: (_epoch, running) => {
      const va = model.evaluate(validation.x, validation.y, {
        metrics: ["accuracy"],
        batchSize: spec.evalRows,
      });
      return { ...running, val_loss: va.loss, val_accuracy: va.accuracy! };
    },
    afterEpoch: (epoch, logs) => {
      const seconds = (now() - te) / 1000;
      te = now();
      log.line(
        `epoch ${epoch + 1}/${spec.epochs}: loss ${logs.loss!.toFixed(4)}, accuracy ${logs.accuracy!.toFixed(4)}; validation loss ${logs.val_loss!.toFixed(4)}, accuracy ${logs.val_accuracy!.toFixed(4)} (${seconds.toFixed(1)} s)`,
      );
    },
    hooks,
    stage: "",
    name: `preset '${spec.preset}'`,
  });
}

/** A classifier's predictions on a test set with its accuracy and mean loss. */
export type TestResult = ClassPredictions & { readonly accuracy: number; readonly loss: number };

/**
 * The test set evaluated by `Model.evaluate` (accuracy, mean loss) and predicted (classes, outputs),
 * `evalRows` rows at a time.
 */
export function evaluateTest(model: Model, test: LabeledData, evalRows: number): TestResult {
  const ev = model.evaluate(test.x, test.y, { metrics: ["accuracy"], batchSize: evalRows });
  return { ...predictClasses(model, test, evalRows), accuracy: ev.accuracy!, loss: ev.loss };
}

/** What {@link finishValidatedRun} returns. */
export interface ValidatedFinish {
  /** Accuracy on the training batches of the last epoch, or NaN when no epoch ran. */
  readonly trainAccuracy: number;
  /** Validation accuracy of the final weights. */
  readonly validationAccuracy: number;
  /** The test figures. */
  readonly test: TestResult;
}

/**
 * The end of a {@link trainWithValidation} run: the last epoch's training and validation accuracy
 * (the validation set is evaluated when no epoch ran), the test figures from `testOf` (default:
 * {@link evaluateTest}), and the log lines `validation accuracy: …` and `test accuracy: …`.
 */
export function finishValidatedRun(
  model: Model,
  history: History,
  data: MnistSplit,
  evalRows: number,
  log: RunLog,
  testOf: (model: Model, test: LabeledData) => TestResult = (m, t) => evaluateTest(m, t, evalRows),
): ValidatedFinish {
  const { validation } = data;
  const validationAccuracy =
    history.valMetrics.accuracy?.at(-1) ??
    model.evaluate(validation.x, validation.y, { metrics: ["accuracy"], batchSize: evalRows }).accuracy!;
  const trainAccuracy = history.metrics.accuracy?.at(-1) ?? Number.NaN;
  const test = testOf(model, data.test);
  log.line(`validation accuracy: ${validationAccuracy}`);
  log.line(`test accuracy: ${test.accuracy}`);
  return { trainAccuracy, validationAccuracy, test };
}

/**
 * The part of a preset's result that every run has ({@link PresetRunBase} and {@link TrainedModel}),
 * from the training outcome; `t0` is when the run started.
 */
export function runBase<H>(
  hyperparameters: H,
  model: Model,
  outcome: MiniBatchOutcome,
  log: RunLog,
  t0: number,
): PresetRunBase<H> & TrainedModel {
  const { history, stopped, nonFinite } = outcome;
  return { hyperparameters, model, history, timeMs: now() - t0, stopped, nonFinite, log: log.lines };
}
