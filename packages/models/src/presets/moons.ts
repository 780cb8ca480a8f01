/**
 * Preset `"moons"`: the 2-H-2 tanh/softmax network of Denny Britz's "neural network from scratch"
 * tutorial, trained with full-batch gradient descent on `make_moons(200, noise=0.2)`, with the
 * logistic-regression baseline and the hidden-size sweep.
 * @module
 */
import { type DType, Tensor } from "@gradgraph/core";
import { type LabeledData, makeMoons, NumpyRandomState, takeLabels, takeRows } from "@gradgraph/datasets";
import { emptyHistory, type History, recordEpoch } from "../callbacks.js";
import { EpochCheckpoint, type NonFiniteLossError, nonFiniteStop, paramsFinite } from "../fit.js";
import { init } from "../init.js";
import { denseLayer } from "../layers.js";
import { l2Penalty, sigmoidCrossEntropy, softmaxCrossEntropy } from "../losses.js";
import { argmax } from "../metrics.js";
import { Model } from "../model.js";
import { minimize, sgd } from "../optim/index.js";
import {
  checkInt,
  checkPositive,
  isStopped,
  now,
  Progress,
  RunLog,
  resolveHyper,
  Yielder,
} from "./common.js";
import type { Preset, PresetHooks, PresetRunBase, TrainedModel } from "./types.js";

/** Hyperparameters of {@link moons}; the defaults are the tutorial's. */
export interface MoonsHyper {
  /** Hidden units of the main model (default 3). */
  hidden: number;
  /** Hidden sizes of the sweep (default `[1, 2, 3, 4, 5, 20, 50]`; empty: no sweep). */
  hiddenSizes: number[];
  /** Full-batch gradient steps (`num_passes`, default 20000). */
  passes: number;
  /** Step size `epsilon` (default 0.01), applied to the gradient *summed* over the 200 points. */
  lr: number;
  /** L2 strength `reg_lambda` on the weights (not the biases) (default 0.01). */
  reg: number;
  /** Points generated when no data is given (default 200). */
  nSamples: number;
  /** Standard deviation of the noise of the generated points (default 0.2). */
  noise: number;
  /** Seed of the generated data (default 0: `np.random.seed(0)`). */
  dataSeed: number;
  /** Seed of the initial weights (default 0: `build_model` calls `np.random.seed(0)`). */
  seed: number;
  /**
   * Draw the data and the initial weights from numpy's legacy stream (default true), so that the
   * data, the weights and the printed losses are the tutorial's own; false uses gradgraph's `Rng`.
   */
  numpy: boolean;
  /** Print the loss every this many passes (default 1000). */
  printEvery: number;
  /** Train the logistic-regression baseline (default true). */
  baseline: boolean;
  /** Inverse regularisation strengths tried by the baseline (default `logspace(-4, 4, 10)`, sklearn's `Cs=10`). */
  baselineCs: number[];
  /** Cross-validation folds of the baseline (default 3, the `cv=None` of the tutorial's scikit-learn). */
  baselineFolds: number;
  /** Element type (default `"float64"`, numpy's, so the tutorial's printed losses are reproduced). */
  dtype: string;
}

/** One trained 2-H-2 network. */
export interface MoonsModel extends TrainedModel {
  /** Hidden units. */
  readonly hidden: number;
  /** The loss in the tutorial's form after the last pass: `(Σ cross-entropy + reg/2 · Σ W²) / N`. */
  readonly loss: number;
  /** Training accuracy after the last pass. */
  readonly accuracy: number;
  /** The class (0 or 1) of each row of `x` (`[n, 2]`); use with {@link predictGrid}. */
  predict(x: Tensor): Uint8Array;
}

/** The logistic-regression baseline. */
export interface LogisticBaseline extends TrainedModel {
  /** The inverse regularisation strength chosen by cross-validation. */
  readonly C: number;
  /** The strengths tried. */
  readonly Cs: readonly number[];
  /** Mean held-out accuracy of each strength. */
  readonly cvScores: readonly number[];
  /** Training accuracy of the refitted model. */
  readonly accuracy: number;
  /** Weights `[w1, w2]` and intercept of the decision function `w·x + b`. */
  readonly coef: readonly [number, number];
  /** The intercept. */
  readonly intercept: number;
  /** The class (0 or 1) of each row of `x`. */
  predict(x: Tensor): Uint8Array;
}

/** What {@link moons}'s `run` returns. */
export interface MoonsResult extends PresetRunBase<MoonsHyper> {
  /** The points trained on. */
  readonly data: LabeledData;
  /** The model with `hidden` units (also in `sweep` when its size is listed there). */
  readonly main: MoonsModel;
  /** One model per `hiddenSizes` entry, in order (models trained only up to a stop are included). */
  readonly sweep: readonly MoonsModel[];
  /** The logistic-regression baseline, or null when turned off (or stopped before it). */
  readonly baseline: LogisticBaseline | null;
  /** The tutorial's plotting grid over the data (step 0.01, padding 0.5). */
  readonly grid: DecisionGrid;
}

/** A regular grid of points covering a 2-D data set, for decision-boundary plots. */
export interface DecisionGrid {
  /** The x coordinates (`np.arange(x_min, x_max, step)`). */
  readonly xs: Float64Array;
  /** The y coordinates. */
  readonly ys: Float64Array;
  /** All points, `[ys.length * xs.length, 2]`, row by row (`np.c_[xx.ravel(), yy.ravel()]`). */
  readonly points: Tensor;
}

const NAME = "moons";

const DEFAULTS: Readonly<MoonsHyper> = Object.freeze({
  hidden: 3,
  hiddenSizes: [1, 2, 3, 4, 5, 20, 50],
  passes: 20000,
  lr: 0.01,
  reg: 0.01,
  nSamples: 200,
  noise: 0.2,
  dataSeed: 0,
  seed: 0,
  numpy: true,
  printEvery: 1000,
  baseline: true,
  baselineCs: Array.from({ length: 10 }, (_, i) => 10 ** (-4 + (8 * i) / 9)),
  baselineFolds: 3,
  dtype: "float64",
});

function resolve(overrides?: Partial<MoonsHyper>): MoonsHyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  checkInt(NAME, "hidden", h.hidden);
  for (const s of h.hiddenSizes) checkInt(NAME, "each of hiddenSizes", s);
  checkInt(NAME, "passes", h.passes, 0);
  checkPositive(NAME, "lr", h.lr);
  checkPositive(NAME, "reg", h.reg, true);
  checkInt(NAME, "nSamples", h.nSamples, 2);
  checkPositive(NAME, "noise", h.noise, true);
  checkInt(NAME, "dataSeed", h.dataSeed, 0);
  checkInt(NAME, "seed", h.seed, 0);
  checkInt(NAME, "printEvery", h.printEvery);
  for (const c of h.baselineCs) checkPositive(NAME, "each of baselineCs", c);
  if (h.baselineCs.length === 0) throw new RangeError(`preset '${NAME}': baselineCs is empty`);
  checkInt(NAME, "baselineFolds", h.baselineFolds, 2);
  if (h.dtype !== "float32" && h.dtype !== "float64") {
    throw new RangeError(`preset '${NAME}': dtype must be "float32" or "float64", got ${h.dtype}`);
  }
  return h;
}

/**
 * The tutorial's data: `np.random.seed(seed); make_moons(nSamples, noise=noise)` (numpy's stream by
 * default, so the points are exactly the tutorial's).
 */
export function moonsData(overrides?: Partial<MoonsHyper>): LabeledData {
  const h = resolve(overrides);
  return makeMoons({
    nSamples: h.nSamples,
    noise: h.noise,
    seed: h.dataSeed,
    numpy: h.numpy,
    dtype: h.dtype as DType,
  });
}

/**
 * The 2-H-2 network: `probs = softmax(tanh(x·W1 + b1)·W2 + b2)` with the loss
 * `Σ_n cross-entropy + reg/2 · (Σ W1² + Σ W2²)`, whose gradient is the tutorial's summed gradient
 * plus `reg · W`. With `numpy: true` the weights are the tutorial's `np.random.seed(seed)`,
 * `randn(2, H) / sqrt(2)`, `randn(H, 2) / sqrt(H)`; biases start at zero.
 */
function build(overrides?: Partial<MoonsHyper>): Model {
  const h = resolve(overrides);
  const H = h.hidden;
  const dtype = h.dtype as DType;
  const model = Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const l1 = denseLayer(b, x, H, { name: "layer1", activation: "tanh", weightInit: init.scaledNormal() });
      const l2 = denseLayer(b, l1.output, 2, { name: "layer2", weightInit: init.scaledNormal() });
      const loss = b.add(
        softmaxCrossEntropy(b, l2.z, y, { reduction: "sum" }),
        l2Penalty(b, [l1.weight, l2.weight], h.reg),
      );
      return { input: x, target: y, predictions: b.softmax(l2.z), loss };
    },
    { seed: h.seed, lossReduction: "sum", dtype },
  );
  if (h.numpy) {
    const np = new NumpyRandomState(h.seed);
    const w1 = np.randn(2 * H).map((v) => v / Math.sqrt(2));
    const w2 = np.randn(H * 2).map((v) => v / Math.sqrt(H));
    model.params.get("layer1/W").data.set(w1);
    model.params.get("layer2/W").data.set(w2);
  }
  return model;
}

function labelsOf(model: Model, x: Tensor): Uint8Array {
  const out = model.predict(x);
  if (out.shape[1] === 1) return Uint8Array.from(out.data, (v) => (v > 0.5 ? 1 : 0));
  return Uint8Array.from(argmax(out));
}

/**
 * Full-batch gradient descent, one pass per step, logging the loss (tutorial form, before the
 * pass) and the training accuracy of every pass; stops after any pass when the signal is raised.
 * At a non-finite loss (or params) it stops and rolls back to the params before the step that
 * produced it, the last ones whose loss was finite (a copy of the small params is kept every pass).
 */
async function trainGd(
  model: Model,
  data: LabeledData,
  h: MoonsHyper,
  hooks: PresetHooks,
  stage: string,
  onPass: ((pass: number) => void) | null,
): Promise<{ history: History; stopped: boolean; nonFinite: NonFiniteLossError | null }> {
  const n = model.checkData(data.x, data.y);
  const tp = model.trainingPlan(n);
  const opt = sgd({ lr: h.lr });
  const history = emptyHistory();
  const yielder = new Yielder(hooks);
  const progress = new Progress(stage, h.passes, 1);
  const checkpoint = new EpochCheckpoint(model.params);
  const t0 = now();
  let stopped = isStopped(hooks.signal);
  const fail = (pass: number, value: number, source: "batch" | "params") => {
    history.timeMs = now() - t0;
    const nonFinite = nonFiniteStop(`preset '${NAME}' (${stage})`, checkpoint, history, {
      epoch: pass,
      epochs: h.passes,
      batch: 0,
      batches: 1,
      step: source === "batch" ? history.steps + 1 : history.steps,
      value,
      source,
      unit: "pass",
    });
    return { history, stopped: true, nonFinite };
  };
  for (let pass = 0; pass < h.passes && !stopped; pass++) {
    const te = now();
    model.fill(tp, data.x, data.y, null, 0, n);
    tp.plan.run();
    const loss = tp.loss.data[0]! / n;
    if (!Number.isFinite(loss)) return fail(pass, loss, "batch");
    const accuracy = model.correctIn(tp.predictions.data, tp.y.data, n) / n;
    checkpoint.save(pass, history.steps);
    opt.step(model.params, tp.grads);
    history.steps++;
    if (!paramsFinite(model.params)) return fail(pass, Number.NaN, "params");
    const logs = { loss, accuracy };
    recordEpoch(history, logs, now() - te);
    if (hooks.onBatchEnd) {
      progress.epoch = pass;
      progress.loss = tp.loss.data[0]!;
      hooks.onBatchEnd(progress);
    }
    hooks.onEpochEnd?.(pass, logs, stage);
    onPass?.(pass);
    if (hooks.signal !== undefined) {
      if (yielder.due()) await yielder.pause();
      stopped = isStopped(hooks.signal);
    }
  }
  history.stoppedEarly = stopped;
  history.timeMs = now() - t0;
  return { history, stopped, nonFinite: null };
}

async function trainOne(
  data: LabeledData,
  h: MoonsHyper,
  hidden: number,
  hooks: PresetHooks,
  log: RunLog | null,
): Promise<{ result: MoonsModel; stopped: boolean; nonFinite: NonFiniteLossError | null }> {
  const model = build({ ...h, hidden });
  const n = data.x.shape[0]!;
  const tutorialLoss = () => model.evaluate(data.x, data.y).loss / n;
  const onPass = log
    ? (pass: number) => {
        // the tutorial prints the loss after the update of passes 0, 1000, 2000, ...
        if (pass % h.printEvery === 0) log.line(`Loss after iteration ${pass}: ${tutorialLoss().toFixed(6)}`);
      }
    : null;
  const { history, stopped, nonFinite } = await trainGd(model, data, h, hooks, `H=${hidden}`, onPass);
  const ev = model.evaluate(data.x, data.y, { metrics: ["accuracy"] });
  return {
    result: {
      hidden,
      model,
      history,
      loss: ev.loss / n,
      accuracy: ev.accuracy!,
      predict: (x: Tensor) => labelsOf(model, x),
    },
    stopped,
    nonFinite,
  };
}

/** Options of {@link logisticRegressionCV}. */
export interface LogisticOptions {
  /** Inverse regularisation strengths to try (default `logspace(-4, 4, 10)`). */
  Cs?: readonly number[];
  /** Stratified cross-validation folds (default 3). */
  folds?: number;
  /** Element type (default float64). */
  dtype?: DType;
  /** Largest number of L-BFGS iterations per fit (default 100, sklearn's `max_iter`). */
  maxIter?: number;
}

/**
 * Test-fold index of every sample for stratified k-fold without shuffling (scikit-learn 0.19's
 * `StratifiedKFold`): each class's samples, in order, are cut into `folds` contiguous chunks, the
 * first `count % folds` of them one longer, and chunk k goes to fold k.
 */
export function stratifiedFolds(y: ArrayLike<number>, folds: number): Int32Array {
  const fold = new Int32Array(y.length);
  const classes = [...new Set(Array.from(y))].sort((a, b) => a - b);
  for (const c of classes) {
    const rows: number[] = [];
    for (let i = 0; i < y.length; i++) if (y[i] === c) rows.push(i);
    const base = Math.floor(rows.length / folds);
    const extra = rows.length % folds;
    let r = 0;
    for (let k = 0; k < folds; k++) {
      const size = base + (k < extra ? 1 : 0);
      for (let j = 0; j < size; j++) fold[rows[r++]!] = k;
    }
  }
  return fold;
}

/**
 * The baseline of the moons tutorial, which uses scikit-learn's `LogisticRegressionCV()`: binary
 * logistic regression with an intercept, minimising `Σ log-loss + 1/(2C) · ||w||²` with L-BFGS
 * (`minimize`) from zero weights, `C` chosen from `Cs` by the mean held-out accuracy over stratified
 * folds (first best on ties), then refitted on all the data. The gradient comes from autograd.
 */
export function logisticRegressionCV(data: LabeledData, options: LogisticOptions = {}): LogisticBaseline {
  const Cs = options.Cs ?? DEFAULTS.baselineCs;
  const folds = options.folds ?? 3;
  const dtype = options.dtype ?? "float64";
  const maxIter = options.maxIter ?? 100;
  const model = Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 1]);
      const l = denseLayer(b, x, 1, { name: "logit", weightInit: init.zeros() });
      // 1/C is a param kept out of training, so one compiled graph serves every C
      const invC = b.reshape(b.param("invC", [1], { init: init.ones() }), []);
      const penalty = b.mul(b.mul(b.sum(b.square(l.weight)), invC), 0.5);
      const loss = b.add(sigmoidCrossEntropy(b, l.z, y, { reduction: "sum" }), penalty);
      return { input: x, target: y, predictions: b.sigmoid(l.z), loss };
    },
    { dtype, lossReduction: "sum", trainable: ["logit/W", "logit/b"] },
  );
  const fitC = (x: Tensor, y: Uint8Array, C: number) => {
    model.params.get("invC").data[0] = 1 / C;
    const lg = model.lossAndGrad(x, y);
    const r = minimize(lg.fun, new Float64Array(lg.size), { method: "lbfgs", maxIter, gtol: 1e-6 });
    lg.setParams(r.x);
    return r;
  };
  const fold = stratifiedFolds(data.y, folds);
  const cvScores = Cs.map((C) => {
    let sum = 0;
    for (let k = 0; k < folds; k++) {
      const train: number[] = [];
      const test: number[] = [];
      for (let i = 0; i < fold.length; i++) (fold[i] === k ? test : train).push(i);
      fitC(takeRows(data.x, train), takeLabels(data.y, train), C);
      sum += model.evaluate(takeRows(data.x, test), takeLabels(data.y, test), { metrics: ["accuracy"] })
        .accuracy!;
    }
    return sum / folds;
  });
  let best = 0;
  for (let i = 1; i < Cs.length; i++) if (cvScores[i]! > cvScores[best]!) best = i;
  const C = Cs[best]!;
  const t0 = now();
  const r = fitC(data.x, data.y, C);
  const history = emptyHistory();
  r.history.forEach((f, i) => {
    recordEpoch(history, { loss: f }, 0);
    history.steps = i;
  });
  history.timeMs = now() - t0;
  const acc = model.evaluate(data.x, data.y, { metrics: ["accuracy"] }).accuracy!;
  const w = model.params.get("logit/W").data;
  return {
    model,
    history,
    C,
    Cs: [...Cs],
    cvScores,
    accuracy: acc,
    coef: [w[0]!, w[1]!],
    intercept: model.params.get("logit/b").data[0]!,
    predict: (x: Tensor) => labelsOf(model, x),
  };
}

/**
 * The grid the tutorial's `plot_decision_boundary` evaluates: `np.arange(min - pad, max + pad, step)`
 * along each axis of the 2-D points `x` (defaults: step 0.01, pad 0.5).
 */
export function decisionGrid(x: Tensor, options: { step?: number; pad?: number } = {}): DecisionGrid {
  const step = options.step ?? 0.01;
  const pad = options.pad ?? 0.5;
  if (!(step > 0)) throw new RangeError(`decisionGrid: step must be > 0, got ${step}`);
  const n = x.shape[0] ?? 0;
  if (x.rank !== 2 || x.shape[1] !== 2 || n === 0) {
    throw new RangeError(`decisionGrid: needs [n, 2] points, got [${x.shape.join(", ")}]`);
  }
  const lo = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  const hi = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 2; k++) {
      const v = x.data[2 * i + k]!;
      if (v < lo[k]!) lo[k] = v;
      if (v > hi[k]!) hi[k] = v;
    }
  }
  const axis = (k: number) => {
    const start = lo[k]! - pad;
    const count = Math.max(0, Math.ceil((hi[k]! + pad - start) / step));
    return Float64Array.from({ length: count }, (_, i) => start + i * step);
  };
  const xs = axis(0);
  const ys = axis(1);
  const pts = new Float64Array(2 * xs.length * ys.length);
  let o = 0;
  for (const yv of ys) {
    for (const xv of xs) {
      pts[o++] = xv;
      pts[o++] = yv;
    }
  }
  const data = x.dtype === "float64" ? pts : Float32Array.from(pts);
  return { xs, ys, points: new Tensor([xs.length * ys.length, 2], data) };
}

/**
 * The predicted class at every grid point, row by row (`ys.length` rows of `xs.length`), ready for a
 * contour plot. `predict` is a trained model's or the baseline's `predict`.
 */
export function predictGrid(predict: (x: Tensor) => Uint8Array, grid: DecisionGrid): Uint8Array {
  return predict(grid.points);
}

async function run(
  data: LabeledData | undefined,
  overrides?: Partial<MoonsHyper>,
  hooks: PresetHooks = {},
): Promise<MoonsResult> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  const d = data ?? moonsData(h);
  let stopped = false;
  let baseline: LogisticBaseline | null = null;
  if (h.baseline && !isStopped(hooks.signal)) {
    baseline = logisticRegressionCV(d, { Cs: h.baselineCs, folds: h.baselineFolds, dtype: h.dtype as DType });
    log.line(
      `Logistic regression (C=${baseline.C.toPrecision(4)}): training accuracy ${baseline.accuracy.toFixed(4)}`,
    );
    hooks.onEpochEnd?.(
      0,
      { loss: baseline.history.loss.at(-1) ?? 0, accuracy: baseline.accuracy },
      "logistic",
    );
  }
  log.line(`Build a model with a ${h.hidden}-dimensional hidden layer`);
  const mainRun = await trainOne(d, h, h.hidden, hooks, log);
  stopped = mainRun.stopped;
  let nonFinite = mainRun.nonFinite;
  const main = mainRun.result;
  log.line(`H=${h.hidden}: loss ${main.loss.toFixed(6)}, training accuracy ${main.accuracy.toFixed(4)}`);
  const sweep: MoonsModel[] = [];
  for (const H of h.hiddenSizes) {
    if (stopped) break;
    if (H === h.hidden) {
      sweep.push(main);
      continue;
    }
    const r = await trainOne(d, h, H, hooks, null);
    sweep.push(r.result);
    stopped = r.stopped;
    nonFinite = r.nonFinite;
    log.line(
      `Hidden layer size ${H}: loss ${r.result.loss.toFixed(6)}, training accuracy ${r.result.accuracy.toFixed(4)}`,
    );
  }
  return {
    hyperparameters: h,
    data: d,
    main,
    sweep,
    baseline,
    grid: decisionGrid(d.x),
    timeMs: now() - t0,
    stopped,
    nonFinite,
    log: log.lines,
  };
}

/**
 * The 2-H-2 tanh/softmax network on `make_moons(200, noise=0.2)` (preset `"moons"`).
 *
 * As in the tutorial: `np.random.seed(0)` data (reproduced bit for bit through the datasets package's
 * numpy-compatible stream); `W1 = randn(2, H) / sqrt(2)`, `W2 = randn(H, 2) / sqrt(H)` after
 * `np.random.seed(0)`, zero biases; full-batch gradient descent with `epsilon = 0.01` on the gradient
 * *summed* over the points plus `reg_lambda · W` (0.01, weights only); 20000 passes; the loss printed
 * every 1000 passes in the tutorial's form `(Σ cross-entropy + reg/2 · Σ W²) / N`; a
 * logistic-regression baseline (see {@link logisticRegressionCV}) and the sweep over hidden sizes
 * 1, 2, 3, 4, 5, 20, 50. In float64 the printed losses for H = 3 match the tutorial's at iterations 0
 * and 1000 only (0.432387, 0.068947). From about pass 3000 on the loss alternates between two values
 * (a two-point cycle, settling at 0.070758 after even passes and 0.071316 after odd ones): the lines
 * printed after even passes show the lower value (0.070758 from 9000 on), while the tutorial's show
 * the other phase (0.071218 at 3000, 0.071316 from 13000 on, the values here after pass 3001, 13001);
 * at 2000 they differ (0.068968 here, 0.069541 in the tutorial). The loss after the last (20000th)
 * pass, `main.loss`, is 0.071316. Gradients come from autograd.
 */
export const moons: Preset<MoonsHyper, LabeledData | undefined, MoonsResult> = {
  name: NAME,
  title: "2-H-2 tanh/softmax network on make_moons (full-batch gradient descent, hidden-size sweep)",
  credit: {
    tutorial: 'Denny Britz, "Implementing a Neural Network from Scratch in Python" (WildML, 2015)',
    post: "基于Python3 神经网络的实现 (a Python 3 port of Denny Britz's notebook)",
    url: "https://github.com/dennybritz/nn-from-scratch",
    seedFile: "001_6011b2fb3d646142.txt",
  },
  defaults: DEFAULTS,
  parameterDocs: {
    hidden: "hidden units of the main model (3)",
    hiddenSizes: "hidden sizes of the sweep (1,2,3,4,5,20,50; empty: none)",
    passes: "full-batch gradient steps (20000)",
    lr: "step size epsilon on the summed gradient (0.01)",
    reg: "L2 strength reg_lambda on the weights (0.01)",
    nSamples: "points generated (200)",
    noise: "noise of the generated points (0.2)",
    dataSeed: "seed of the data (0)",
    seed: "seed of the initial weights (0)",
    numpy: "use numpy's random stream for data and weights (true)",
    printEvery: "print the loss every this many passes (1000)",
    baseline: "train the logistic-regression baseline (true)",
    baselineCs: "inverse regularisation strengths tried by the baseline (logspace(-4, 4, 10))",
    baselineFolds: "cross-validation folds of the baseline (3)",
    dtype: "element type, float64 or float32 (float64)",
  },
  build,
  run,
};
