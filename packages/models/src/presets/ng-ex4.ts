/**
 * Preset `"ng-ex4"`: Andrew Ng's ex4 network (400-25-10, sigmoid, bias as the first column of each
 * Theta), its regularised cross-entropy cost, the gradient check on the small 3-5-3 debug network,
 * full-batch training with conjugate gradient (the course's `fmincg`) or L-BFGS, and the evaluation
 * of the course's pretrained weights.
 * @module
 */
import { type GradcheckReport, gradcheck } from "@gradgraph/autograd";
import {
  type DType,
  GraphBuilder,
  type Init,
  initTensor,
  ParamStore,
  Rng,
  Tensor,
  type Value,
} from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { fitFullBatch, NonFiniteLossError } from "../fit.js";
import { init } from "../init.js";
import { denseLayer, weightsOf } from "../layers.js";
import { l2Penalty, sigmoidCrossEntropy } from "../losses.js";
import { Model, type ModelParts } from "../model.js";

/** The parts of Ng's network: one input, target and predictions value. */
type NgParts = ModelParts & { readonly input: Value; readonly target: Value; readonly predictions: Value };

import type { MinimizeResult } from "../optim/index.js";
import { checkInt, checkPositive, classify, isStopped, now, RunLog, resolveHyper } from "./common.js";
import type { ClassPredictions, Preset, PresetHooks, PresetRunBase, TrainedModel } from "./types.js";

/** Hyperparameters of {@link ngEx4}; the defaults are the tutorial's. */
export interface NgEx4Hyper {
  /** Layer widths including the input (default `[400, 25, 10]`). */
  layers: number[];
  /** Regularisation strength `lambda` (default 1); biases (first columns) are not regularised. */
  lambda: number;
  /** Batch optimizer: `"cg"` (the course's `fmincg`, default) or `"lbfgs"`. */
  method: string;
  /** Optimizer iterations (line searches; default 50, the course's `MaxIter`). */
  maxIter: number;
  /** Seed of the initial weights (default 0). */
  seed: number;
  /**
   * Half-width of the uniform initial weights. `null` (default) uses the seed's
   * `sqrt(6 / (L_in + L_out))` per layer (0.1188 for Theta1, 0.4140 for Theta2); the course's
   * `randInitializeWeights.m` uses 0.12 for both.
   */
  initEpsilon: number | null;
  /** Element type (default `"float32"`; the gradient check and `evaluatePretrained` use float64). */
  dtype: string;
  /** Compute the training accuracy after every iteration (one extra forward pass each; default true). */
  trackAccuracy: boolean;
}

/** What {@link ngEx4}'s `run` returns. */
export interface NgEx4Result extends PresetRunBase<NgEx4Hyper>, TrainedModel {
  /** The trained `Theta1` (`[hidden, in+1]`, bias first column). */
  readonly theta1: Tensor;
  /** The trained `Theta2` (`[out, hidden+1]`). */
  readonly theta2: Tensor;
  /** The cost `J` (with regularisation) after training. */
  readonly cost: number;
  /** Training accuracy after training (Ng reports `mean(pred == y) * 100`). */
  readonly trainAccuracy: number;
  /** Predictions on the training set, as labels 1..10 (10 means digit 0), like the data's. */
  readonly predictions: ClassPredictions;
  /** What the minimizer reported. */
  readonly minimize: MinimizeResult | null;
}

const NAME = "ng-ex4";

const DEFAULTS: Readonly<NgEx4Hyper> = Object.freeze({
  layers: [400, 25, 10],
  lambda: 1,
  method: "cg",
  maxIter: 50,
  seed: 0,
  initEpsilon: null,
  dtype: "float32",
  trackAccuracy: true,
});

function resolve(overrides?: Partial<NgEx4Hyper>): NgEx4Hyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  if (h.layers.length !== 3) throw new RangeError(`preset '${NAME}': layers must list three widths`);
  for (const w of h.layers) checkInt(NAME, "each layer width", w);
  checkPositive(NAME, "lambda", h.lambda, true);
  if (h.method !== "cg" && h.method !== "lbfgs") {
    throw new RangeError(`preset '${NAME}': method must be "cg" or "lbfgs", got ${h.method}`);
  }
  checkInt(NAME, "maxIter", h.maxIter, 0);
  checkInt(NAME, "seed", h.seed, 0);
  if (h.initEpsilon !== null) checkPositive(NAME, "initEpsilon", h.initEpsilon);
  if (h.dtype !== "float32" && h.dtype !== "float64") {
    throw new RangeError(`preset '${NAME}': dtype must be "float32" or "float64", got ${h.dtype}`);
  }
  return h;
}

/**
 * Ng's network and cost on builder `b`: `a2 = sigmoid([1, x]·Theta1ᵀ)`,
 * `h = sigmoid([1, a2]·Theta2ᵀ)` with `Theta1 [hidden, in+1]` and `Theta2 [out, hidden+1]` (params
 * `"Theta1"` and `"Theta2"`), and
 * `J = (1/m) Σ_i Σ_k [-y log h - (1-y) log(1-h)] + lambda/(2m) (Σ Theta1[:,1:]² + Σ Theta2[:,1:]²)`,
 * where `m` is the number of rows fed (counted in the graph, so one graph serves any batch). The
 * cross-entropy is computed stably from the logits.
 */
export function ngNetwork(
  b: GraphBuilder,
  layers: readonly [number, number, number],
  lambda: number,
  weightInit: Init = init.glorotUniform(),
): NgParts {
  const [nIn, nHidden, nOut] = layers;
  const x = b.input("x", ["N", nIn]);
  const y = b.input("y", ["N", nOut]);
  const common = { bias: "ones-first", weightLayout: "out-in", weightInit } as const;
  const l1 = denseLayer(b, x, nHidden, {
    ...common,
    name: "Theta1",
    weightName: "Theta1",
    activation: "sigmoid",
  });
  const l2 = denseLayer(b, l1.output, nOut, {
    ...common,
    name: "Theta2",
    weightName: "Theta2",
    activation: "sigmoid",
  });
  const m: Value = b.sum(b.fill(1, [x.shape[0]!]));
  const data = sigmoidCrossEntropy(b, l2.z, y, { reduction: "sum" });
  const loss = b.div(b.add(data, l2Penalty(b, weightsOf(b, [l1, l2]), lambda)), m);
  return { input: x, target: y, predictions: l2.output, loss };
}

function layersOf3(h: NgEx4Hyper): [number, number, number] {
  return [h.layers[0]!, h.layers[1]!, h.layers[2]!];
}

function build(overrides?: Partial<NgEx4Hyper>): Model {
  const h = resolve(overrides);
  const weightInit =
    h.initEpsilon === null ? init.glorotUniform() : init.uniform(-h.initEpsilon, h.initEpsilon);
  return Model.define((b) => ngNetwork(b, layersOf3(h), h.lambda, weightInit), {
    seed: h.seed,
    dtype: h.dtype as DType,
  });
}

/** Labels 1..K as class indices 0..K-1 (output k is label k+1; label 10 is digit 0). */
export function ex4ClassIndices(y: ArrayLike<number>): Uint8Array {
  return Uint8Array.from(y, (v) => v - 1);
}

/** fmincg's progress line: `Iteration     1 | Cost: 3.298736e+00`. */
function costLine(iteration: number, cost: number): string {
  return `Iteration ${String(iteration).padStart(5)} | Cost: ${sci(cost, 6)}`;
}

async function run(
  data: LabeledData,
  overrides?: Partial<NgEx4Hyper>,
  hooks: PresetHooks = {},
): Promise<NgEx4Result> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  log.line("Training Neural Network...");
  const model = build(h);
  const y0 = ex4ClassIndices(data.y);
  let stopped = isStopped(hooks.signal);
  const options: Parameters<typeof fitFullBatch>[2] = {
    method: h.method as "cg" | "lbfgs",
    maxIter: stopped ? 0 : h.maxIter,
    metrics: h.trackAccuracy ? ["accuracy"] : [],
    // float32 costs are only good to ~1e-7 relative: let the line search see through the noise
    ...(h.dtype === "float32" ? { minimize: { fNoise: 1e-6 } } : {}),
    callbacks: {
      onEpochEnd: (it, logs) => {
        log.line(costLine(it + 1, logs.loss!));
        hooks.onEpochEnd?.(it, logs, "");
        if (isStopped(hooks.signal)) {
          stopped = true;
          return false;
        }
        return undefined;
      },
    },
  };
  let nonFinite: NonFiniteLossError | null = null;
  let fitted: ReturnType<typeof fitFullBatch>;
  try {
    fitted = fitFullBatch(model, { x: data.x, y: y0 }, options);
  } catch (e) {
    if (!(e instanceof NonFiniteLossError)) throw e;
    // the model holds the last finite point (here the initial one): report it like a stop
    nonFinite = e;
    stopped = true;
    fitted = { model, history: e.history, result: null };
  }
  const { history, result } = fitted;
  const ev = model.evaluate(data.x, y0, { metrics: ["accuracy"] });
  const predictions = classify(model, data.x, data.y, 1);
  log.line(`Training Set Accuracy: ${(ev.accuracy! * 100).toFixed(1)}`);
  return {
    hyperparameters: h,
    model,
    history,
    theta1: model.params.get("Theta1").clone(),
    theta2: model.params.get("Theta2").clone(),
    cost: ev.loss,
    trainAccuracy: ev.accuracy!,
    predictions,
    minimize: result,
    timeMs: now() - t0,
    stopped,
    nonFinite,
    log: log.lines,
  };
}

/** Options of {@link checkGradients}. */
export interface NgGradientCheckOptions {
  /** Regularisation strength (default 0; ex4 also checks with 3). */
  lambda?: number;
  /** Finite-difference step (default 1e-4, the course's `e`). */
  eps?: number;
  /** Layer widths of the debug network (default `[3, 5, 3]`). */
  layers?: readonly [number, number, number];
  /** Rows of debug data (default 5). */
  m?: number;
}

/** What {@link checkGradients} returns. */
export interface NgGradientCheck {
  /** The lambda used. */
  readonly lambda: number;
  /**
   * `norm(numgrad - grad) / norm(numgrad + grad)` over all params (from `gradcheck`); the course
   * says a correct gradient gives less than 1e-9.
   */
  readonly relativeDifference: number;
  /** The full report of `gradcheck` (worst entries, tolerances, ...). */
  readonly report: GradcheckReport;
  /**
   * The numerical gradient in the course's order: `[Theta1(:); Theta2(:)]`, each unrolled
   * column-major as MATLAB does (so the rows match the course's printout).
   */
  readonly numeric: Float64Array;
  /** The autograd gradient in the same order. */
  readonly analytic: Float64Array;
  /** The cost at the debug point. */
  readonly cost: number;
  /** The course's printout: one `numeric analytic` row per parameter, then the verdict. */
  readonly lines: readonly string[];
}

/** Row-major flat indices of several matrices, listed in MATLAB's column-major unrolling order. */
function columnMajorOrder(shapes: readonly (readonly [number, number])[]): number[] {
  const out: number[] = [];
  let base = 0;
  for (const [r, c] of shapes) {
    for (let j = 0; j < c; j++) for (let i = 0; i < r; i++) out.push(base + i * c + j);
    base += r * c;
  }
  return out;
}

/** MATLAB's `%e`-like short format: `-9.2783e-03`. */
function sci(v: number, digits = 4): string {
  const [mant, exp] = v.toExponential(digits).split("e");
  const e = Number(exp);
  return `${mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/**
 * Ng's `checkNNGradients(lambda)`: a small network (3-5-3 by default) whose `Theta1`, `Theta2` and
 * inputs are the course's deterministic `debugInitializeWeights` values (`sin(1:n) / 10`, filled
 * column-major: `X = debugInitializeWeights(m, in - 1)`), labels `y = 1 + mod(1:m, K)`; the
 * autograd gradient of the cost is compared with central differences (`eps = 1e-4`) in float64 by
 * `gradcheck` from `@gradgraph/autograd`.
 */
export function checkGradients(options: NgGradientCheckOptions = {}): NgGradientCheck {
  const lambda = options.lambda ?? 0;
  const eps = options.eps ?? 1e-4;
  const layers = options.layers ?? [3, 5, 3];
  const m = options.m ?? 5;
  const b = new GraphBuilder({ dtype: "float64" });
  const parts = ngNetwork(b, layers, lambda, init.debugSin());
  b.output("predictions", parts.predictions);
  b.output("loss", parts.loss);
  const graph = b.build();
  const params = ParamStore.init(graph);
  const x = initTensor(init.debugSin(), [m, layers[0]], "float64", new Rng(0));
  const labels = Array.from({ length: m }, (_, i) => 1 + ((i + 1) % layers[2]));
  const yIdx = ex4ClassIndices(labels);
  const y = Tensor.zeros([m, layers[2]], "float64");
  for (let i = 0; i < m; i++) y.data[i * layers[2] + yIdx[i]!] = 1;
  const report = gradcheck(graph, { x, y }, { of: "loss", params, eps, wrt: ["Theta1", "Theta2"] });
  // the two columns of the course's printout, from the same cost function
  const model = new Model(graph, { params: params.clone(), lossReduction: "mean" });
  const lg = model.lossAndGrad(x, yIdx);
  const theta = lg.getParams();
  const analytic = new Float64Array(lg.size);
  const cost = lg.fun(theta, analytic);
  const numeric = new Float64Array(lg.size);
  const scratch = new Float64Array(lg.size);
  for (let i = 0; i < theta.length; i++) {
    const t = theta[i]!;
    theta[i] = t - eps;
    const lo = lg.fun(theta, scratch);
    theta[i] = t + eps;
    const hi = lg.fun(theta, scratch);
    theta[i] = t;
    numeric[i] = (hi - lo) / (2 * eps);
  }
  lg.setParams(theta);
  // the course unrolls [Theta1(:); Theta2(:)] column-major; our params are row-major
  const order = columnMajorOrder([
    [layers[1], layers[0] + 1],
    [layers[2], layers[1] + 1],
  ]);
  const numericCm = Float64Array.from(order, (i) => numeric[i]!);
  const analyticCm = Float64Array.from(order, (i) => analytic[i]!);
  const lines = Array.from(numericCm, (v, i) => `${sci(v).padStart(13)} ${sci(analyticCm[i]!).padStart(13)}`);
  lines.push(
    "The above two columns you get should be very similar.",
    "(Left-Your Numerical Gradient, Right-Analytical Gradient)",
    `If your backpropagation implementation is correct, then the relative difference will be small (less than 1e-9). Relative Difference: ${report.normRelError.toExponential(6)}`,
  );
  return {
    lambda,
    relativeDifference: report.normRelError,
    report,
    numeric: numericCm,
    analytic: analyticCm,
    cost,
    lines,
  };
}

/** The course's pretrained weights (as `loadEx4Weights` returns them). */
export interface Ex4WeightsLike {
  /** `Theta1`, `[25, 401]`, bias first column. */
  readonly theta1: Tensor;
  /** `Theta2`, `[10, 26]`. */
  readonly theta2: Tensor;
}

/** What {@link evaluatePretrained} returns. */
export interface NgPretrainedEvaluation {
  /** The cost at each lambda asked for. */
  readonly costs: readonly { readonly lambda: number; readonly cost: number }[];
  /** Accuracy of the weights on the data. */
  readonly accuracy: number;
  /** Predictions as labels 1..10. */
  readonly predictions: ClassPredictions;
  /** The course's printout for these numbers. */
  readonly lines: readonly string[];
}

/**
 * Ng's ex4 sanity check: the cost of the pretrained `Theta1`/`Theta2` (`ex4weights.mat`) on the data,
 * without and with regularisation (`lambdas`, default `[0, 1]`), and their accuracy, in float64.
 * With the course's own `ex4data1.mat` the costs are 0.287629 (lambda 0) and 0.383770 (lambda 1);
 * with the MNIST-derived substitute data (the datasets package's default) they are higher, since the
 * weights were trained on the course's images.
 */
export function evaluatePretrained(
  weights: Ex4WeightsLike,
  data: LabeledData,
  options: { lambdas?: readonly number[] } = {},
): NgPretrainedEvaluation {
  const lambdas = options.lambdas ?? [0, 1];
  if (lambdas.length === 0) throw new RangeError("evaluatePretrained: lambdas is empty");
  const [hidden, in1] = weights.theta1.shape as [number, number];
  const [out, hid1] = weights.theta2.shape as [number, number];
  if (hid1 !== hidden + 1 || data.x.shape[1] !== in1 - 1) {
    throw new RangeError(
      `evaluatePretrained: Theta1 [${weights.theta1.shape.join(", ")}], Theta2 [${weights.theta2.shape.join(", ")}] and x [${data.x.shape.join(", ")}] do not fit together`,
    );
  }
  const y0 = ex4ClassIndices(data.y);
  const costs = lambdas.map((lambda) => {
    const model = Model.define((b) => ngNetwork(b, [in1 - 1, hidden, out], lambda), { dtype: "float64" });
    model.params.get("Theta1").data.set(weights.theta1.data);
    model.params.get("Theta2").data.set(weights.theta2.data);
    return { lambda, cost: model.evaluate(data.x, y0).loss, model };
  });
  const model = costs[0]!.model;
  const predictions = classify(model, data.x, data.y, 1);
  let hits = 0;
  for (let i = 0; i < predictions.predicted.length; i++)
    if (predictions.predicted[i] === predictions.actual[i]) hits++;
  const accuracy = hits / predictions.predicted.length;
  const lines = costs.map(
    ({ lambda, cost }) =>
      `Cost at parameters (loaded from ex4weights, lambda = ${lambda}): ${cost.toFixed(6)}`,
  );
  lines.push(`Training Set Accuracy: ${(accuracy * 100).toFixed(1)}`);
  return { costs: costs.map(({ lambda, cost }) => ({ lambda, cost })), accuracy, predictions, lines };
}

/**
 * Andrew Ng's ex4 network (preset `"ng-ex4"`): 400-25-10 sigmoid with the bias as the first column of
 * `Theta1 [25, 401]` and `Theta2 [10, 26]`; cost `(1/m) Σ Σ cross-entropy` over the 10 sigmoid
 * outputs plus `lambda/(2m)` times the squared non-bias weights (lambda 1); uniform initial weights
 * in `±sqrt(6 / (L_in + L_out))` (the seed's `randInitializeWeights`); trained on the whole 5000x400
 * set with conjugate gradient (or L-BFGS) for 50 iterations; training accuracy at the end. Labels
 * are 1..10 (10 means digit 0). See also {@link checkGradients} and {@link evaluatePretrained}.
 * Gradients come from autograd.
 */
export const ngEx4: Preset<NgEx4Hyper, LabeledData, NgEx4Result> = {
  name: NAME,
  title: "Andrew Ng's ex4 400-25-10 sigmoid network (regularised cross-entropy, conjugate gradient)",
  credit: {
    tutorial: "Andrew Ng, Machine Learning (Coursera), programming exercise 4: neural network learning",
    post: "今天教大家用Python实现BP神经网络(附代码) (a Python port of ex4)",
    seedFile: "003_3a4dd1c8c00c5827.txt",
  },
  defaults: DEFAULTS,
  parameterDocs: {
    layers: "layer widths including the input (400-25-10)",
    lambda: "regularisation strength, biases excluded (1)",
    method: "batch optimizer: cg (fmincg) or lbfgs (cg)",
    maxIter: "optimizer iterations (50)",
    seed: "seed of the initial weights (0)",
    initEpsilon:
      "half-width of the uniform initial weights (null: sqrt(6/(in+out)) per layer; the course uses 0.12)",
    dtype: "element type, float32 or float64 (float32)",
    trackAccuracy: "compute the training accuracy after every iteration (true)",
  },
  build,
  run,
};
