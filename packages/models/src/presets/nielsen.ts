/**
 * Preset `"nielsen-mnist"`: Michael Nielsen's `network.py`, a 784-30-10 sigmoid network in the
 * column-vector convention, trained with mini-batch SGD on the quadratic cost.
 * @module
 */
import { Rng } from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { init } from "../init.js";
import { mlp } from "../layers.js";
import { quadratic } from "../losses.js";
import { Model } from "../model.js";
import { sgd } from "../optim/index.js";
import {
  checkInt,
  checkPositive,
  classify,
  firstRows,
  now,
  RunLog,
  resolveHyper,
  trainMiniBatch,
} from "./common.js";
import type { ClassPredictions, Preset, PresetHooks, PresetRunBase, TrainedModel } from "./types.js";

/** Hyperparameters of {@link nielsenMnist}; the defaults are the tutorial's. */
export interface NielsenHyper {
  /** Layer widths including the input (default `[784, 30, 10]`). */
  sizes: number[];
  /** Epochs (default 30). */
  epochs: number;
  /** Mini-batch size (default 10). */
  batchSize: number;
  /** Learning rate `eta` (default 3.0); each step is `w -= eta/m · Σ ∇` over the m samples of the batch. */
  lr: number;
  /** Training images used: the first this many of the training set (default 50000). */
  trainSize: number;
  /** Test images evaluated after each epoch: the first this many of the test set (default 10000). */
  testSize: number;
  /** Seed of the initial weights and of the per-epoch shuffles (default 0). */
  seed: number;
}

/** Data of {@link nielsenMnist}: MNIST as `loadMnist` returns it (either split). */
export interface NielsenData {
  /** Training images (the first `trainSize` are used). */
  readonly train: LabeledData;
  /** Test images, evaluated after each epoch. */
  readonly test: LabeledData;
}

/** What {@link nielsenMnist}'s `run` returns. */
export interface NielsenResult extends PresetRunBase<NielsenHyper>, TrainedModel {
  /** Correctly classified test images after each epoch (`Epoch i : correct / n`). */
  readonly correct: readonly number[];
  /** Number of test images. */
  readonly testCount: number;
  /** Epoch (from 0) with the most correct test images, or -1 when none ran. */
  readonly bestEpoch: number;
  /** Test accuracy of the best epoch. */
  readonly bestAccuracy: number;
  /** Test predictions of the final params. */
  readonly test: ClassPredictions & { readonly accuracy: number };
}

const NAME = "nielsen-mnist";

const DEFAULTS: Readonly<NielsenHyper> = Object.freeze({
  sizes: [784, 30, 10],
  epochs: 30,
  batchSize: 10,
  lr: 3.0,
  trainSize: 50000,
  testSize: 10000,
  seed: 0,
});

function resolve(overrides?: Partial<NielsenHyper>): NielsenHyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  if (h.sizes.length < 2) throw new RangeError(`preset '${NAME}': sizes needs at least two widths`);
  for (const w of h.sizes) checkInt(NAME, "each of sizes", w);
  checkInt(NAME, "epochs", h.epochs, 0);
  checkInt(NAME, "batchSize", h.batchSize);
  checkPositive(NAME, "lr", h.lr);
  checkInt(NAME, "trainSize", h.trainSize);
  checkInt(NAME, "testSize", h.testSize);
  checkInt(NAME, "seed", h.seed, 0);
  return h;
}

/**
 * `network.Network(sizes)`: activations are columns (`[features, batch]`), each layer computes
 * `sigmoid(W·a + b)` with `W [out, in]` and `b [out, 1]`, all drawn from N(0, 1); the loss is the
 * quadratic cost `0.5 · ||a - y||²` averaged over the batch, so plain SGD with step `eta` makes
 * Nielsen's update `w -= eta/m · Σ ∇`.
 */
function build(overrides?: Partial<NielsenHyper>): Model {
  const h = resolve(overrides);
  const sizes = h.sizes;
  return Model.define(
    (b) => {
      const x = b.input("x", [sizes[0]!, "N"]);
      const y = b.input("y", [sizes[sizes.length - 1]!, "N"]);
      const out = mlp(b, x, sizes, {
        convention: "column",
        activation: "sigmoid",
        weightInit: init.normal(),
        biasInit: init.normal(),
      });
      return { input: x, target: y, predictions: out, loss: quadratic(b, out, y, { axis: 0 }) };
    },
    { seed: h.seed },
  );
}

async function run(
  data: NielsenData,
  overrides?: Partial<NielsenHyper>,
  hooks: PresetHooks = {},
): Promise<NielsenResult> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  const xTrain = firstRows(data.train.x, h.trainSize);
  const yTrain = data.train.y.subarray(0, xTrain.shape[0]);
  const xTest = firstRows(data.test.x, h.testSize);
  const yTest = data.test.y.subarray(0, xTest.shape[0]);
  const nTest = xTest.shape[0]!;
  const model = build(h);
  const rng = new Rng(h.seed + 1);
  const order = Int32Array.from({ length: xTrain.shape[0]! }, (_, i) => i);
  const correct: number[] = [];
  const { history, stopped, nonFinite } = await trainMiniBatch({
    model,
    x: xTrain,
    y: yTrain,
    epochs: h.epochs,
    batchSize: h.batchSize,
    optimizer: sgd({ lr: h.lr }),
    order: () => rng.shuffle(order),
    trackAccuracy: true,
    epochLogs: (_epoch, running) => {
      const te = model.evaluate(xTest, yTest, { metrics: ["accuracy"] });
      return { ...running, val_loss: te.loss, val_accuracy: te.accuracy! };
    },
    afterEpoch: (epoch, logs) => {
      const c = Math.round(logs.val_accuracy! * nTest);
      correct.push(c);
      // the seed's format, "Epoch {} : {} / {}", with epochs numbered from 1 like the progress bars
      // and the plots (network.py numbers them from 0)
      log.line(`Epoch ${epoch + 1} : ${c} / ${nTest}`);
    },
    hooks,
    stage: "",
    name: `preset '${NAME}'`,
  });
  let bestEpoch = -1;
  for (let i = 0; i < correct.length; i++)
    if (bestEpoch < 0 || correct[i]! > correct[bestEpoch]!) bestEpoch = i;
  const preds = classify(model, xTest, yTest);
  let hits = 0;
  for (let i = 0; i < nTest; i++) if (preds.predicted[i] === preds.actual[i]) hits++;
  return {
    hyperparameters: h,
    model,
    history,
    correct,
    testCount: nTest,
    bestEpoch,
    bestAccuracy: bestEpoch < 0 ? 0 : correct[bestEpoch]! / nTest,
    test: { ...preds, accuracy: hits / nTest },
    timeMs: now() - t0,
    stopped,
    nonFinite,
    log: log.lines,
  };
}

/**
 * Michael Nielsen's 784-30-10 sigmoid network (`network.py`) on MNIST (preset `"nielsen-mnist"`).
 *
 * As in the tutorial: trained on the first 50,000 training images and evaluated on the 10,000 test
 * images after every epoch, printing `Epoch i : correct / 10000` (i from 1; network.py counts from 0); weights and biases N(0, 1); the
 * column-vector convention `W·a + b`; quadratic cost; mini-batches of 10 drawn from a fresh
 * (seeded) shuffle every epoch; `eta = 3.0` applied as `w -= eta/m · Σ ∇`; 30 epochs. Gradients
 * come from autograd.
 */
export const nielsenMnist: Preset<NielsenHyper, NielsenData, NielsenResult> = {
  name: NAME,
  title: "Nielsen's 784-30-10 sigmoid network on MNIST (mini-batch SGD, quadratic cost)",
  credit: {
    tutorial: 'Michael Nielsen, "Neural Networks and Deep Learning", chapter 1 (network.py)',
    post: "使用神经网络识别手写数字 (cnyangkui, 2018-10-07)",
    url: "https://cnyangkui.github.io/2018/10/07/ML-NeuralNetwork/",
    seedFile: "002_c63fa51c7730137a.txt",
  },
  defaults: DEFAULTS,
  parameterDocs: {
    sizes: "layer widths including the input (784-30-10)",
    epochs: "epochs (30)",
    batchSize: "mini-batch size (10)",
    lr: "learning rate eta, applied as eta/m times the summed gradient (3.0)",
    trainSize: "training images used, from the start of the training set (50000)",
    testSize: "test images evaluated after each epoch (10000)",
    seed: "seed of the initial weights and the shuffles (0)",
  },
  build,
  run,
};
