/**
 * The comparison workloads, described once and run identically by every framework's cell.
 *
 * A-C and E train a dense network with plain SGD (`p -= stepSize * dLoss/dp`); D times float32
 * matrix products. `MEM` is workload B run by gradgraph with heap/GC accounting, `MNIST` the same
 * on the real MNIST training set (only when the files are available locally).
 */

/** Hidden/output activation of a dense network. */
export type Activation = "sigmoid" | "relu";

/** The loss of a training workload. */
export type LossKind =
  /** 0.5 * sum((sigmoid(logits) - y)^2) over the whole batch (Nielsen's quadratic cost). */
  | "halfSumSq"
  /** sum((softmax(logits) - y)^2) over the whole batch. */
  | "softmaxSumSq"
  /** -sum(logSoftmax(logits) * y) / batch (softmax cross-entropy, mean over the batch). */
  | "meanXent";

/** Weight initialisation (biases: same law as weights for "normal", zeros otherwise). */
export type InitKind = "normal" | "scaledNormal" | "glorotUniform";

/** Synthetic data shaped like a real set. */
export interface DataSpec {
  /** Number of samples (batches take rows in file order, wrapping around). */
  readonly n: number;
  /** Features per sample. */
  readonly features: number;
  /** Fraction of exact zeros among the features (MNIST: ~0.81). */
  readonly zeroFraction: number;
  /** Non-zero values are k/levels, k in 1..levels (MNIST: 255, digits: 16). */
  readonly levels: number;
  /** Seed of the data stream. */
  readonly seed: number;
}

/** A training workload: a dense network trained by SGD for a fixed number of steps. */
export interface TrainWorkload {
  readonly kind: "train";
  readonly id: string;
  readonly title: string;
  /** Layer widths, input first, e.g. [784, 30, 10]. */
  readonly sizes: readonly number[];
  /** Activation of the hidden layers. */
  readonly hidden: Activation;
  readonly loss: LossKind;
  readonly init: InitKind;
  readonly batch: number;
  readonly steps: number;
  /** SGD step size applied to the gradient of the loss as defined (e.g. lr/batch for a summed loss). */
  readonly stepSize: number;
  /** How the step size was derived (for the report). */
  readonly stepSizeNote: string;
  readonly data: DataSpec;
  /** Seed of the weights. */
  readonly weightSeed: number;
  /** Primary metric: the whole run in seconds, or microseconds per step. */
  readonly metric: "seconds" | "usPerStep";
  /** Whether gradgraph runs it with its worker pool (two cores). */
  readonly threads: boolean;
  /**
   * Untimed warm-up steps before the timed ones (default 1). They run at the initial weights
   * (gradgraph applies its update with step size 0), so they do not change the training.
   */
  readonly warmupSteps?: number;
}

/** The matrix-product workload. */
export interface MatmulWorkload {
  readonly kind: "matmul";
  readonly id: string;
  readonly title: string;
  /** Square size n: C[n,n] = op(A)[n,n] op(B)[n,n]. */
  readonly n: number;
  /** Timed repetitions of each variant. */
  readonly reps: number;
  readonly metric: "gflops";
  readonly threads: boolean;
}

export type Workload = TrainWorkload | MatmulWorkload;

const MNIST_LIKE: DataSpec = { n: 50_000, features: 784, zeroFraction: 0.81, levels: 255, seed: 1001 };
const DIGITS_LIKE: DataSpec = { n: 1797, features: 64, zeroFraction: 0.49, levels: 16, seed: 2002 };

const A: TrainWorkload = {
  kind: "train",
  id: "A",
  title: "784-30-10 sigmoid, 0.5·sum sq loss, batch 10, 5,000 steps (1 epoch)",
  sizes: [784, 30, 10],
  hidden: "sigmoid",
  loss: "halfSumSq",
  init: "normal",
  batch: 10,
  steps: 5000,
  stepSize: 3.0 / 10,
  stepSizeNote: "lr 3.0 / batch 10 on the summed loss (Nielsen)",
  data: MNIST_LIKE,
  weightSeed: 11,
  metric: "seconds",
  threads: false,
};

const B: TrainWorkload = {
  kind: "train",
  id: "B",
  title: "784-90-10 relu, softmax, sum sq loss, batch 100, 500 steps (1 epoch)",
  sizes: [784, 90, 10],
  hidden: "relu",
  loss: "softmaxSumSq",
  init: "glorotUniform",
  batch: 100,
  steps: 500,
  // lr 10^-0.35 applied to the plain-sum gradient saturates the softmax within a few steps (final
  // loss ~178 of 200 on real MNIST), so as in A the summed-loss gradient is scaled by lr/batch
  stepSize: 10 ** -0.35 / 100,
  stepSizeNote: "lr 10^-0.35 / batch 100 on the summed loss (unscaled lr saturates the softmax)",
  data: MNIST_LIKE,
  weightSeed: 12,
  metric: "seconds",
  threads: false,
};

const C: TrainWorkload = {
  kind: "train",
  id: "C",
  title: "784-256-256-10 relu, softmax cross-entropy (mean), batch 512, 100 steps, two cores",
  sizes: [784, 256, 256, 10],
  hidden: "relu",
  loss: "meanXent",
  init: "glorotUniform",
  batch: 512,
  steps: 100,
  stepSize: 0.1,
  stepSizeNote: "lr 0.1 on the batch-mean loss",
  data: MNIST_LIKE,
  weightSeed: 13,
  metric: "seconds",
  threads: true,
};

const C1: TrainWorkload = {
  ...C,
  id: "C1",
  title: "workload C on one core (gradgraph only, for reference)",
  threads: false,
};

const D: MatmulWorkload = {
  kind: "matmul",
  id: "D",
  title: "float32 matmul 512×512×512: A·B, Aᵀ·B, A·Bᵀ, one core",
  n: 512,
  reps: 60,
  metric: "gflops",
  threads: false,
};

const D2: MatmulWorkload = {
  ...D,
  id: "D2",
  title: "workload D on two cores (gradgraph only)",
  threads: true,
};

const E: TrainWorkload = {
  kind: "train",
  id: "E",
  title: "64-32-16-10 sigmoid digits net, per-sample SGD (batch 1), 0.5·sum sq, 10,000 steps",
  sizes: [64, 32, 16, 10],
  hidden: "sigmoid",
  loss: "halfSumSq",
  init: "scaledNormal",
  batch: 1,
  steps: 10_000,
  stepSize: 0.5,
  stepSizeNote: "lr 0.5 per sample",
  data: DIGITS_LIKE,
  weightSeed: 15,
  metric: "usPerStep",
  threads: false,
};

/** Workload B by gradgraph with heap and GC accounting (one epoch). */
const MEM: TrainWorkload = {
  ...B,
  id: "MEM",
  title: "memory: workload B, one epoch after 50 warm-up steps, heap and GC accounting",
  warmupSteps: 50,
};

/** Workload B on the real MNIST training set (50,000 images), for peak RSS. */
const MNIST: TrainWorkload = {
  ...B,
  id: "MNIST",
  title: "memory: workload B on real MNIST (50,000 training images), peak RSS",
  warmupSteps: 50,
};

/** Every workload by id. */
export const WORKLOADS: Readonly<Record<string, Workload>> = { A, B, C, C1, D, D2, E, MEM, MNIST };

/** The frameworks that have a cell runner. */
export const FRAMEWORKS = ["gradgraph", "tfjs-cpu", "tfjs-wasm", "jax"] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/** Which frameworks run which workload (gradgraph-only rows are informational or memory checks). */
export const CELLS: Readonly<Record<string, readonly Framework[]>> = {
  A: FRAMEWORKS,
  B: FRAMEWORKS,
  C: FRAMEWORKS,
  C1: ["gradgraph"],
  D: FRAMEWORKS,
  D2: ["gradgraph"],
  E: FRAMEWORKS,
  MEM: ["gradgraph"],
  MNIST: ["gradgraph"],
};

/** A workload with fewer steps/reps for a smoke run (`--quick`). */
export function quickVersion(w: Workload): Workload {
  if (w.kind === "matmul") return { ...w, reps: 5 };
  if (w.id === "MEM" || w.id === "MNIST") return w; // an epoch of B takes ~1-2 s: keep it whole
  const steps = Math.max(4, Math.ceil(w.steps / 20));
  return { ...w, steps };
}

/** Total multiply-adds ×2 (FLOPs) of one product of workload D. */
export function matmulFlops(n: number): number {
  return 2 * n * n * n;
}
