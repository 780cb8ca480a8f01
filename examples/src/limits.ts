/**
 * How large a network the examples agree to build, checked before anything runs: `--hidden
 * 1000000000` ends in one clear message (and exit code 2) instead of "Invalid typed array length"
 * minutes later.
 *
 * Two limits, both far above what trains in reasonable time on a laptop, and below what a typed
 * array can hold (2^32 elements) or a process can usually allocate:
 *
 * - {@link MAX_TENSOR_BYTES}: one tensor, i.e. a weight matrix, or the activations of the rows an
 *   example evaluates at once (the whole test set, or a decision-boundary grid), at most 1 GiB;
 * - {@link MAX_PARAMETERS}: the trainable parameters of the network, at most 2^26 (training keeps
 *   several copies of them: gradients, optimizer state, the rollback checkpoint).
 * @module
 */
import type { ExampleOptions } from "./options.js";

/** The largest tensor an example may allocate: 1 GiB (2^28 float32 or 2^27 float64 elements). */
export const MAX_TENSOR_BYTES = 2 ** 30;

/** The largest number of trainable parameters: 2^26 = 67,108,864. */
export const MAX_PARAMETERS = 2 ** 26;

/** One large tensor a network allocates. */
export interface TensorSize {
  /** What it is, for the message (e.g. "the 10000 x 30 hidden activations of the test images"). */
  readonly what: string;
  /** Number of elements. */
  readonly elements: number;
}

/** What one network of an example allocates, as far as the limits are concerned. */
export interface NetworkSize {
  /** Trainable parameters. */
  readonly parameters: number;
  /** Its largest tensors (weight matrices, activations of the rows evaluated at once). */
  readonly tensors: readonly TensorSize[];
  /** Bytes per element: 4 (float32) or 8 (float64). */
  readonly bytesPerElement: number;
}

/** Estimates the network an example builds with `hidden` hidden units under `options`. */
export type NetworkEstimate = (hidden: number, options: ExampleOptions) => NetworkSize;

/** Why a network of this size is refused, or null when it is within the limits. */
export function sizeProblem(size: NetworkSize): string | null {
  if (!(size.parameters <= MAX_PARAMETERS)) {
    return `the network would have ${size.parameters} parameters, and at most ${MAX_PARAMETERS} (2^26) are allowed`;
  }
  for (const t of size.tensors) {
    const bytes = t.elements * size.bytesPerElement;
    if (!(bytes <= MAX_TENSOR_BYTES)) {
      return `${t.what} would take ${bytes} bytes, and one tensor may take at most 1 GiB (${MAX_TENSOR_BYTES} bytes)`;
    }
  }
  return null;
}

/** The largest hidden size within the limits (sizes grow with `hidden`), or 0 when none is. */
export function largestHidden(estimate: NetworkEstimate, options: ExampleOptions, upTo: number): number {
  if (sizeProblem(estimate(1, options)) !== null) return 0;
  let lo = 1;
  let hi = Math.max(1, upTo);
  if (sizeProblem(estimate(hi, options)) === null) return hi;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (sizeProblem(estimate(mid, options)) === null) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Checks every `--hidden` value of `options` against the limits. Returns null when all fit, else
 * the message (naming the option as `flags` spells it, the value, the limit and the largest value
 * allowed with these options).
 */
export function checkHiddenSizes(
  example: string,
  flags: string,
  estimate: NetworkEstimate,
  options: ExampleOptions,
): string | null {
  for (const h of options.hidden ?? []) {
    const problem = sizeProblem(estimate(h, options));
    if (problem !== null) {
      const max = largestHidden(estimate, options, h);
      return `option '${flags}' value '${h}' is too large for ${example}: ${problem}; the largest --hidden ${example} allows with these options is ${max}.`;
    }
  }
  return null;
}

/** Points of the decision-boundary grids the 2-D examples draw (160 x 120). */
const GRID_POINTS = 160 * 120;

/** Images in the MNIST test (and validation) set, evaluated at once. */
const MNIST_EVAL = 10_000;

/** `moons`: a 2-H-2 float64 network, evaluated on the decision-boundary grid. */
export const moonsNetwork: NetworkEstimate = (h) => ({
  parameters: 2 * h + h + 2 * h + 2,
  bytesPerElement: 8,
  tensors: [
    {
      what: `the ${GRID_POINTS} x ${h} hidden activations of the decision-boundary grid`,
      elements: GRID_POINTS * h,
    },
  ],
});

/** `nielsen`: 784-H-10 float32, the 10,000 test images evaluated after each epoch. */
export const nielsenNetwork: NetworkEstimate = (h, o) => ({
  parameters: 784 * h + h + 10 * h + 10,
  bytesPerElement: 4,
  tensors: [
    { what: `the ${h} x 784 weight matrix`, elements: 784 * h },
    {
      what: `the ${MNIST_EVAL} x ${h} hidden activations of the test images evaluated at once`,
      elements: MNIST_EVAL * h,
    },
    {
      what: `the ${o.batchSize ?? 1} x ${h} hidden activations of one batch`,
      elements: (o.batchSize ?? 1) * h,
    },
  ],
});

/** `relu-softmax`: 784-H-10 float32; the training set is re-evaluated at once after each epoch. */
export const reluSoftmaxNetwork: NetworkEstimate = (h, o) => {
  const train = Math.min(o.trainSize ?? 50_000, 50_000);
  const rows = Math.max(train, MNIST_EVAL);
  const set = train >= MNIST_EVAL ? "training" : "validation and test";
  return {
    parameters: 784 * h + h + 10 * h + 10,
    bytesPerElement: 4,
    tensors: [
      { what: `the ${h} x 784 weight matrix`, elements: 784 * h },
      {
        what: `the ${rows} x ${h} hidden activations of the ${set} images evaluated at once`,
        elements: rows * h,
      },
    ],
  };
};

/** `ng-ex4`: 400-H-10 float32, full batch over the 5,000 images. */
export const ngEx4Network: NetworkEstimate = (h) => ({
  parameters: h * 401 + 10 * (h + 1),
  bytesPerElement: 4,
  tensors: [
    { what: `the ${h} x 401 weight matrix`, elements: 401 * h },
    { what: `the 5000 x ${h} hidden activations of the full batch`, elements: 5000 * h },
  ],
});

/** `custom`: 2-H-H-2 float32 with a skip connection, evaluated on the decision-boundary grid. */
export const customNetwork: NetworkEstimate = (h) => ({
  parameters: h * h + 8 * h + 2,
  bytesPerElement: 4,
  tensors: [
    { what: `the ${h} x ${h} weight matrix`, elements: h * h },
    {
      what: `the ${GRID_POINTS} x ${h} hidden activations of the decision-boundary grid`,
      elements: GRID_POINTS * h,
    },
  ],
});
