/**
 * Preset `"digits-sigmoid"`: the 64-32-16-10 sigmoid network trained with per-sample SGD on
 * scikit-learn's 8x8 digits, with PyImageSearch's bias trick.
 * @module
 */
import { Rng, type Tensor } from "@gradgraph/core";
import { type LabeledData, MinMaxScaler, trainTestSplit } from "@gradgraph/datasets";
import { init } from "../init.js";
import { mlp } from "../layers.js";
import { quadratic } from "../losses.js";
import { type ClassificationScores, classificationReport, precisionRecallF1 } from "../metrics.js";
import { Model } from "../model.js";
import { sgd } from "../optim/index.js";
import { checkInt, checkPositive, classify, now, RunLog, resolveHyper, trainMiniBatch } from "./common.js";
import type { ClassPredictions, Preset, PresetHooks, PresetRunBase, TrainedModel } from "./types.js";

/** Hyperparameters of {@link digitsSigmoid}; the defaults are the tutorial's. */
export interface DigitsSigmoidHyper {
  /** Layer widths including the input, as the tutorial writes them (default `[64, 32, 16, 10]`). */
  layers: number[];
  /** SGD learning rate `alpha` (default 0.1). */
  lr: number;
  /** Passes over the training set (default 1000). */
  epochs: number;
  /** Rows per step (default 1: the tutorial's per-sample `fit_partial`). */
  batchSize: number;
  /** Fraction held out for testing (default 0.25, `train_test_split`'s). */
  testSize: number;
  /** Seed of the train/test split and of the initial weights (default 0; the tutorial seeds nothing). */
  seed: number;
  /** Print the training loss after the first epoch and every this many epochs (default 100). */
  displayEvery: number;
  /** Visit the training rows in a new random order each epoch (default false: the tutorial's order). */
  shuffle: boolean;
}

/** Scaled digits split the tutorial's way. */
export interface DigitsSplit {
  /** Training rows, min-max scaled to [0, 1] over the whole array. */
  readonly xTrain: Tensor;
  /** Training labels 0..9. */
  readonly yTrain: Uint8Array;
  /** Test rows. */
  readonly xTest: Tensor;
  /** Test labels. */
  readonly yTest: Uint8Array;
}

/** What {@link digitsSigmoid}'s `run` returns. */
export interface DigitsSigmoidResult extends PresetRunBase<DigitsSigmoidHyper>, TrainedModel {
  /** The data as trained and tested on. */
  readonly split: DigitsSplit;
  /** Test-set predictions, accuracy and loss (`0.5 * Σ (out - onehot)²` summed over the test set). */
  readonly test: ClassPredictions & { readonly accuracy: number; readonly loss: number };
  /** Accuracy on the training set after training. */
  readonly trainAccuracy: number;
  /** scikit-learn's `classification_report` of the test set, as text. */
  readonly report: string;
  /** The numbers behind the report. */
  readonly scores: ClassificationScores;
}

const NAME = "digits-sigmoid";

const DEFAULTS: Readonly<DigitsSigmoidHyper> = Object.freeze({
  layers: [64, 32, 16, 10],
  lr: 0.1,
  epochs: 1000,
  batchSize: 1,
  testSize: 0.25,
  seed: 0,
  displayEvery: 100,
  shuffle: false,
});

function resolve(overrides?: Partial<DigitsSigmoidHyper>): DigitsSigmoidHyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  if (h.layers.length < 2) throw new RangeError(`preset '${NAME}': layers needs at least two widths`);
  for (const w of h.layers) checkInt(NAME, "each layer width", w);
  checkPositive(NAME, "lr", h.lr);
  checkInt(NAME, "epochs", h.epochs, 0);
  checkInt(NAME, "batchSize", h.batchSize);
  checkPositive(NAME, "testSize", h.testSize);
  checkInt(NAME, "seed", h.seed, 0);
  checkInt(NAME, "displayEvery", h.displayEvery);
  return h;
}

/**
 * Scales the raw digits (values 0..16) the tutorial's way, `(X - X.min()) / (X.max() - X.min())`
 * over the whole array, then splits them at random (seeded) into training and test sets.
 */
export function prepareDigits(data: LabeledData, testSize = 0.25, seed = 0): DigitsSplit {
  const scaled = new MinMaxScaler({ perFeature: false }).fitTransform(data.x);
  const s = trainTestSplit(scaled, data.y, { testSize, seed });
  return { xTrain: s.xTrain, yTrain: s.yTrain, xTest: s.xTest, yTest: s.yTest };
}

function build(overrides?: Partial<DigitsSigmoidHyper>): Model {
  const h = resolve(overrides);
  const sizes = h.layers;
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", sizes[0]!]);
      const y = b.input("y", ["N", sizes[sizes.length - 1]!]);
      // ones appended to the input only; each hidden layer gets one extra learned unit (n_out + 1)
      const out = mlp(b, x, sizes, {
        activation: "sigmoid",
        bias: "ones-input",
        weightInit: init.scaledNormal(),
      });
      return { input: x, target: y, predictions: out, loss: quadratic(b, out, y, { reduction: "sum" }) };
    },
    { seed: h.seed, lossReduction: "sum" },
  );
}

async function run(
  data: LabeledData,
  overrides?: Partial<DigitsSigmoidHyper>,
  hooks: PresetHooks = {},
): Promise<DigitsSigmoidResult> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  log.line("[INFO] loading MNIST (sample) dataset...");
  const split = prepareDigits(data, h.testSize, h.seed);
  const dim = data.x.shape[1] ?? 0;
  log.line(`[INFO] samples: ${data.x.shape[0]}, dim: ${dim}`);
  const model = build(h);
  log.line("[INFO] training network...");
  log.line(`[INFO] NeuralNetwork: ${h.layers.join("-")}`);
  const rng = new Rng(h.seed + 1);
  const n = split.xTrain.shape[0]!;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const { history, stopped, nonFinite } = await trainMiniBatch({
    model,
    x: split.xTrain,
    y: split.yTrain,
    epochs: h.epochs,
    batchSize: h.batchSize,
    optimizer: sgd({ lr: h.lr }),
    order: () => (h.shuffle ? rng.shuffle(order) : null),
    trackAccuracy: false,
    // the tutorial's calculate_loss: 0.5 * sum over the whole training set, after the epoch
    epochLogs: () => {
      const tr = model.evaluate(split.xTrain, split.yTrain, { metrics: ["accuracy"] });
      const te = model.evaluate(split.xTest, split.yTest, { metrics: ["accuracy"] });
      return { loss: tr.loss, accuracy: tr.accuracy!, val_loss: te.loss, val_accuracy: te.accuracy! };
    },
    afterEpoch: (epoch, logs) => {
      if (epoch === 0 || (epoch + 1) % h.displayEvery === 0) {
        log.line(`[INFO] epoch=${epoch + 1}, loss=${logs.loss!.toFixed(7)}`);
      }
    },
    hooks,
    stage: "",
    name: `preset '${NAME}'`,
  });
  log.line("[INFO] evaluating network...");
  const te = model.evaluate(split.xTest, split.yTest, { metrics: ["accuracy"] });
  const tr = model.evaluate(split.xTrain, split.yTrain, { metrics: ["accuracy"] });
  const preds = classify(model, split.xTest, split.yTest);
  const report = classificationReport(preds.predicted, preds.actual);
  for (const line of report.replace(/\n+$/, "").split("\n")) log.line(line);
  return {
    hyperparameters: h,
    model,
    history,
    split,
    test: { ...preds, accuracy: te.accuracy!, loss: te.loss },
    trainAccuracy: tr.accuracy!,
    report,
    scores: precisionRecallF1(preds.predicted, preds.actual),
    timeMs: now() - t0,
    stopped,
    nonFinite,
    log: log.lines,
  };
}

/**
 * The 64-32-16-10 sigmoid network on scikit-learn's digits (preset `"digits-sigmoid"`).
 *
 * As in the tutorial: the whole 1797x64 array is min-max scaled to [0, 1]; a random 75/25 split
 * (seeded here); one-hot targets; a column of ones appended to the input only, so the weights are
 * `(n_in+1) x (n_out+1)` for hidden layers (each gets one extra *learned* sigmoid unit that feeds the
 * next layer as its bias) and `(n+1) x 10` for the last; weights `randn / sqrt(n_in)`; sigmoid on
 * every layer; per-sample SGD with `alpha = 0.1` on `0.5 * Σ (out - onehot)²`, rows in the split's
 * order; 1000 epochs; the whole-set training loss printed after epoch 1 and every 100; a
 * classification report on the test set. Gradients come from autograd.
 */
export const digitsSigmoid: Preset<DigitsSigmoidHyper, LabeledData, DigitsSigmoidResult> = {
  name: NAME,
  title: "64-32-16-10 sigmoid MLP on scikit-learn digits (per-sample SGD, bias trick)",
  credit: {
    tutorial:
      "Adrian Rosebrock's NeuralNetwork class (PyImageSearch, Deep Learning for Computer Vision with Python) on the sklearn digits",
    post: "python使用反向传播(backpropagation)算法在sklearn库自带的缩小版MINIST手写数据集(1797张图片)上进行训练并测试 (2021-12-25)",
    seedFile: "000_a3cb1b6b705ceb5b.txt",
  },
  defaults: DEFAULTS,
  parameterDocs: {
    layers: "layer widths including the input (64-32-16-10)",
    lr: "SGD learning rate alpha (0.1)",
    epochs: "passes over the training set (1000)",
    batchSize: "rows per step (1: per-sample SGD)",
    testSize: "fraction held out for testing (0.25)",
    seed: "seed of the split and the initial weights (0)",
    displayEvery: "print the training loss every this many epochs (100)",
    shuffle: "reshuffle the training rows every epoch (false: the tutorial's order)",
  },
  build,
  run,
};
