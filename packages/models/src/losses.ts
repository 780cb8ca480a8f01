/**
 * Losses as functions of graph values. Each one first reduces over the feature/class axis (`axis`,
 * default the last one) to a per-sample loss, then over the batch with an explicit `reduction`:
 *
 * - `"mean"` (**the default for every loss here**): the average over the samples, so the learning
 *   rate does not depend on the batch size (Nielsen's `eta / len(mini_batch)`, Ng's `1/m`);
 * - `"sum"`: the total over the samples (PyImageSearch's `0.5 * np.sum(...)`, the moons tutorial's
 *   summed gradient).
 *
 * For the column convention (`[features, batch]`) pass `axis: 0`. Predictions and targets must have
 * identical shapes (no silent broadcasting). All losses are built from builder ops, so their
 * gradients come from autograd.
 * @module
 */
import { type GraphBuilder, ShapeError, shapesEqual, shapeToString, type Value } from "@gradgraph/core";

/** How per-sample losses combine over the batch. */
export type Reduction = "sum" | "mean";

/** Options shared by all losses. */
export interface LossOptions {
  /** Over the batch: `"mean"` (default) or `"sum"`. */
  reduction?: Reduction;
  /** The feature/class axis reduced per sample (default -1, the last; 0 for the column convention). */
  axis?: number;
}

function checkPair(who: string, a: Value, b: Value): void {
  if (!shapesEqual(a.shape, b.shape)) {
    throw new ShapeError(
      `${who}: predictions ${shapeToString(a.shape)} and targets ${shapeToString(b.shape)} must have the same shape`,
    );
  }
  if (a.rank < 1) throw new ShapeError(`${who}: needs values of rank >= 1, got ${shapeToString(a.shape)}`);
}

function reduction(who: string, options: LossOptions): Reduction {
  const r = options.reduction ?? "mean";
  if (r !== "sum" && r !== "mean")
    throw new RangeError(`${who}: reduction must be "sum" or "mean", got ${String(r)}`);
  return r;
}

/** Per-element values -> per-sample (sum over `axis`) -> batch reduction. */
function reduce(b: GraphBuilder, elem: Value, options: LossOptions, who: string): Value {
  const r = reduction(who, options);
  const perSample = b.sum(elem, options.axis ?? -1);
  if (perSample.rank === 0) return perSample;
  return r === "sum" ? b.sum(perSample) : b.mean(perSample);
}

/**
 * The quadratic cost `0.5 * Σ (pred - target)²` per sample, reduced over the batch.
 * With `reduction: "mean"` this is Nielsen's `C = 1/(2n) Σ ||y - a||²`; with `"sum"` it is
 * PyImageSearch's `0.5 * np.sum((predictions - targets) ** 2)`.
 */
export function quadratic(b: GraphBuilder, pred: Value, target: Value, options: LossOptions = {}): Value {
  checkPair("quadratic", pred, target);
  return b.scope("quadratic", () =>
    b.mul(reduce(b, b.square(b.sub(pred, target)), options, "quadratic"), 0.5),
  );
}

/** `Σ (pred - target)²` per sample (no 1/2), reduced over the batch (the MNIST-IDX tutorial's loss). */
export function sumSquares(b: GraphBuilder, pred: Value, target: Value, options: LossOptions = {}): Value {
  checkPair("sumSquares", pred, target);
  return b.scope("sumSquares", () => reduce(b, b.square(b.sub(pred, target)), options, "sumSquares"));
}

/**
 * Mean squared error: the mean of `(pred - target)²` over the feature axis per sample, then reduced
 * over the batch. With the default `"mean"` reduction it is the mean over all elements.
 */
export function meanSquaredError(
  b: GraphBuilder,
  pred: Value,
  target: Value,
  options: LossOptions = {},
): Value {
  checkPair("meanSquaredError", pred, target);
  return b.scope("meanSquaredError", () => {
    const r = reduction("meanSquaredError", options);
    const perSample = b.mean(b.square(b.sub(pred, target)), options.axis ?? -1);
    if (perSample.rank === 0) return perSample;
    return r === "sum" ? b.sum(perSample) : b.mean(perSample);
  });
}

/**
 * Softmax cross-entropy from logits, `-Σ target · logSoftmax(logits)` per sample, reduced over the
 * batch. Stable for large logits (log-softmax subtracts the max). Targets are one-hot rows (or any
 * probability distribution) over `axis`.
 */
export function softmaxCrossEntropy(
  b: GraphBuilder,
  logits: Value,
  targets: Value,
  options: LossOptions = {},
): Value {
  checkPair("softmaxCrossEntropy", logits, targets);
  return b.scope("softmaxCrossEntropy", () => {
    const axis = options.axis ?? -1;
    const logp = b.logSoftmax(logits, axis);
    return b.neg(reduce(b, b.mul(targets, logp), options, "softmaxCrossEntropy"));
  });
}

/**
 * Elementwise `softplus(z) = log(1 + exp(z))`, computed stably as `logSumExp([0, z])` over a new
 * trailing axis (exact gradient `sigmoid(z)` everywhere, also at `z = 0`, with no overflow).
 */
export function softplus(b: GraphBuilder, z: Value): Value {
  const col = b.reshape(z, [...z.shape, 1]);
  return b.logSumExp(b.concat([b.zeros(col.shape, z.dtype), col], -1), -1);
}

/**
 * Sigmoid cross-entropy from logits summed over the outputs (Ng's ex4 cost):
 * `Σ_k -y log σ(z) - (1 - y) log(1 - σ(z))` per sample, computed stably as
 * `softplus(z) - z·y` (equal to `max(z,0) - z·y + log(1 + exp(-|z|))`), reduced over the batch.
 * Ng's `J = 1/m Σ_i Σ_k ...` is the default `"mean"` reduction.
 */
export function sigmoidCrossEntropy(
  b: GraphBuilder,
  logits: Value,
  targets: Value,
  options: LossOptions = {},
): Value {
  checkPair("sigmoidCrossEntropy", logits, targets);
  return b.scope("sigmoidCrossEntropy", () => {
    const elem = b.sub(softplus(b, logits), b.mul(logits, targets));
    return reduce(b, elem, options, "sigmoidCrossEntropy");
  });
}

/**
 * The L2 penalty `lambda / 2 · Σ_w Σ w²` over the given weight values (pass weights only: use
 * {@link weightsOf} from the layers module, which leaves separate and folded biases out). Ng's
 * `lambda / (2m) · Σ θ²` is `l2Penalty(b, weights, lambda / m)`. Returns a scalar.
 */
export function l2Penalty(b: GraphBuilder, weights: readonly Value[], lambda: number): Value {
  if (!Number.isFinite(lambda))
    throw new RangeError(`l2Penalty: lambda must be a finite number, got ${lambda}`);
  if (weights.length === 0) return b.scalar(0);
  return b.scope("l2Penalty", () => {
    let total: Value | null = null;
    for (const w of weights) {
      const s = b.sum(b.square(w));
      total = total ? b.add(total, s) : s;
    }
    return b.mul(total!, lambda / 2);
  });
}
