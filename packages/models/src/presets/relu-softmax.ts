/**
 * Preset `"relu-softmax-mnist"`: a 784-90-10 network with an identity input layer, a relu hidden
 * layer and a softmax output, trained on the plain sum of squares between the softmax output and the
 * one-hot target, with mini-batches of 100 in file order.
 * @module
 */
import { Rng } from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { dense } from "../layers.js";
import { sumSquares } from "../losses.js";
import { Model } from "../model.js";
import { sgd } from "../optim/index.js";
import {
  checkInt,
  checkMiniBatchHyper,
  classify,
  now,
  RunLog,
  resolveHyper,
  runBase,
  trainMiniBatch,
} from "./common.js";
import type { ClassPredictions, Preset, PresetHooks, PresetRunBase, TrainedModel } from "./types.js";

/** Hyperparameters of {@link reluSoftmaxMnist}; the defaults are the tutorial's. */
export interface ReluSoftmaxHyper {
  /** Hidden relu units (default 90). */
  hidden: number;
  /** Epochs (default 6). */
  epochs: number;
  /** Mini-batch size (default 100). */
  batchSize: number;
  /** Learning rate (default `10 ** -0.35`, about 0.4467) on the gradient averaged over the batch. */
  lr: number;
  /** Seed of the initial weights (and of the shuffles when `shuffle` is on) (default 0). */
  seed: number;
  /** Reshuffle the training rows each epoch (default false: the tutorial's batches follow the file). */
  shuffle: boolean;
}

/** Data of {@link reluSoftmaxMnist}: `loadMnist({ split: "train-validation-test" })`. */
export interface ReluSoftmaxData {
  /** The first 50,000 training images. */
  readonly train: LabeledData;
  /** The last 10,000 training images. */
  readonly validation: LabeledData;
  /** The 10,000 test images. */
  readonly test: LabeledData;
}

/** What {@link reluSoftmaxMnist}'s `run` returns. */
export interface ReluSoftmaxResult extends PresetRunBase<ReluSoftmaxHyper>, TrainedModel {
  /** Validation accuracy before training (the tutorial prints it first). */
  readonly initialValidationAccuracy: number;
  /** Training accuracy after training. */
  readonly trainAccuracy: number;
  /** Validation accuracy after training. */
  readonly validationAccuracy: number;
  /** Test predictions, accuracy and mean per-image loss. */
  readonly test: ClassPredictions & { readonly accuracy: number; readonly loss: number };
}

const NAME = "relu-softmax-mnist";

const DEFAULTS: Readonly<ReluSoftmaxHyper> = Object.freeze({
  hidden: 90,
  epochs: 6,
  batchSize: 100,
  lr: 10 ** -0.35,
  seed: 0,
  shuffle: false,
});

function resolve(overrides?: Partial<ReluSoftmaxHyper>): ReluSoftmaxHyper {
  const h = resolveHyper(NAME, DEFAULTS, overrides);
  checkInt(NAME, "hidden", h.hidden);
  checkMiniBatchHyper(NAME, h);
  return h;
}

/**
 * `x (identity) -> relu(x·W1 + b1) -> softmax(a·W2 + b2)` with Glorot-uniform weights
 * (`±sqrt(6 / (n_in + n_out))`) and zero biases; the loss is `Σ (softmax - onehot)²` per image
 * (no 1/2), averaged over the batch as the tutorial's `grad_div(grad, batchSize)` does. autograd
 * differentiates through the full softmax (the tutorial's Jacobian `diag(s) - s sᵀ`).
 */
function build(overrides?: Partial<ReluSoftmaxHyper>): Model {
  const h = resolve(overrides);
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 784]);
      const y = b.input("y", ["N", 10]);
      const hidden = dense(b, x, h.hidden, { name: "layer1", activation: "relu" });
      const out = dense(b, hidden, 10, { name: "layer2", activation: "softmax" });
      return { input: x, target: y, predictions: out, loss: sumSquares(b, out, y) };
    },
    { seed: h.seed },
  );
}

async function run(
  data: ReluSoftmaxData,
  overrides?: Partial<ReluSoftmaxHyper>,
  hooks: PresetHooks = {},
): Promise<ReluSoftmaxResult> {
  const t0 = now();
  const h = resolve(overrides);
  const log = new RunLog(hooks);
  const model = build(h);
  const { train, validation, test } = data;
  const initial = model.evaluate(validation.x, validation.y, { metrics: ["accuracy"] }).accuracy!;
  log.line(`initial validation accuracy: ${initial}`);
  const rng = new Rng(h.seed + 1);
  const order = Int32Array.from({ length: train.x.shape[0]! }, (_, i) => i);
  const outcome = await trainMiniBatch({
    model,
    x: train.x,
    y: train.y,
    epochs: h.epochs,
    batchSize: h.batchSize,
    optimizer: sgd({ lr: h.lr }),
    order: () => (h.shuffle ? rng.shuffle(order) : null),
    trackAccuracy: false,
    // the tutorial re-evaluates loss and accuracy on the whole training and validation sets
    epochLogs: () => {
      const tr = model.evaluate(train.x, train.y, { metrics: ["accuracy"] });
      const va = model.evaluate(validation.x, validation.y, { metrics: ["accuracy"] });
      return { loss: tr.loss, accuracy: tr.accuracy!, val_loss: va.loss, val_accuracy: va.accuracy! };
    },
    afterEpoch: (epoch, logs) => {
      log.line(
        `epoch ${epoch + 1}/${h.epochs}: train loss ${logs.loss!.toFixed(5)}, accuracy ${logs.accuracy!.toFixed(5)}; validation loss ${logs.val_loss!.toFixed(5)}, accuracy ${logs.val_accuracy!.toFixed(5)}`,
      );
    },
    hooks,
    stage: "",
    name: `preset '${NAME}'`,
  });
  const { history } = outcome;
  const tr =
    history.metrics.accuracy?.at(-1) ?? model.evaluate(train.x, train.y, { metrics: ["accuracy"] }).accuracy!;
  const va =
    history.valMetrics.accuracy?.at(-1) ??
    model.evaluate(validation.x, validation.y, { metrics: ["accuracy"] }).accuracy!;
  const te = model.evaluate(test.x, test.y, { metrics: ["accuracy"] });
  log.line(`train accuracy: ${tr}`);
  log.line(`validation accuracy: ${va}`);
  log.line(`test accuracy: ${te.accuracy}`);
  const predictions = classify(model, test.x, test.y);
  return {
    ...runBase(h, model, outcome, log, t0),
    initialValidationAccuracy: initial,
    trainAccuracy: tr,
    validationAccuracy: va,
    test: { ...predictions, accuracy: te.accuracy!, loss: te.loss },
  };
}

/**
 * The 784-90-10 identity/relu/softmax network on MNIST (preset `"relu-softmax-mnist"`).
 *
 * As in the tutorial: 50,000 training images, the last 10,000 of the training file for validation,
 * the 10,000 test images; Glorot-uniform weights and zero biases; loss = sum of squares between the
 * softmax output and the one-hot target, back-propagated through the full softmax; batches of 100 in
 * file order; learning rate `10^-0.35` on the batch-averaged gradient; 6 epochs; the whole-set
 * training and validation loss and accuracy after each epoch (the tutorial's curves; its loss values
 * are per 10,000 images, 10,000 times the per-image mean recorded here); the test accuracy at the
 * end. Gradients come from autograd.
 */
export const reluSoftmaxMnist: Preset<ReluSoftmaxHyper, ReluSoftmaxData, ReluSoftmaxResult> = {
  name: NAME,
  title: "784-90-10 identity/relu/softmax network on MNIST (sum of squares through the softmax)",
  credit: {
    tutorial: "3Blue1Brown's neural-network series and 大野喵渣's video course, as followed by the post",
    post: "【笔记】从零开始搭建简单的神经网络 (_小白, 52pojie.cn, 2021-02-14)",
    seedFile: "004_e8977cc64f135af3.txt",
  },
  defaults: DEFAULTS,
  parameterDocs: {
    hidden: "hidden relu units (90)",
    epochs: "epochs (6)",
    batchSize: "mini-batch size (100)",
    lr: "learning rate on the batch-averaged gradient (10^-0.35)",
    seed: "seed of the initial weights (0)",
    shuffle: "reshuffle the training rows each epoch (false: file order)",
  },
  build,
  run,
};
