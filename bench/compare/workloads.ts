/**
 * The comparison workloads, described once and run identically by every framework's cell.
 *
 * A-C and E train a dense network with plain SGD (`p -= stepSize * dLoss/dp`); D times float32
 * matrix products; F (and F2 on two cores) trains a LeNet-style convolutional network by SGD; G (and
 * G2 on two cores) trains one pre-norm Transformer encoder block by SGD. `MEM` is workload B run by
 * gradgraph with heap/GC accounting, `MNIST` the same on the real MNIST training set (only when the
 * files are available locally).
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
  /**
   * How gradgraph drives the training (default "plan": the compiled plan run directly by the
   * cell's loop); "fit": `fit` from `@gradgraph/models` on a `Model` of the same graph.
   */
  readonly driver?: "plan" | "fit";
}

/** One matrix product of the sweep: C[m, n] = op(A) · op(B) with inner dimension k. */
export interface MatmulShape {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Where the shape comes from (e.g. "square", "C layer 1: X·W1"). */
  readonly label: string;
}

/** The three layouts of every product: A·B, Aᵀ·B (A stored [k, m]), A·Bᵀ (B stored [n, k]). */
export const VARIANTS = ["nn", "tn", "nt"] as const;
export type Variant = (typeof VARIANTS)[number];
export const VARIANT_LABEL: Readonly<Record<Variant, string>> = { nn: "A·B", tn: "Aᵀ·B", nt: "A·Bᵀ" };

/**
 * The float32 matmul sweep: every shape in every variant, timed after one untimed warm-up product
 * of the same shape and variant. The repetitions adapt to the speed: as many as fit in
 * `budgetSeconds` judged by the first timed product (at least 1, at most `maxReps`; see `timeSweep`).
 */
export interface MatmulWorkload {
  readonly kind: "matmul";
  readonly id: string;
  readonly title: string;
  readonly shapes: readonly MatmulShape[];
  /** Target timed seconds per (shape, variant). */
  readonly budgetSeconds: number;
  /** Upper bound of the repetitions per (shape, variant). */
  readonly maxReps: number;
  /**
   * A product whose time, estimated from the framework's rate on the previous shape of the same
   * variant, exceeds this is skipped and reported as such (tfjs-wasm's slow transposed products).
   */
  readonly maxProductSeconds: number;
  /**
   * Products of more FLOPs than this (the 4096³ ones) are timed in the first repeat only (each takes
   * seconds, so one measurement is steady, and the warm-ups dominate the sweep's time).
   */
  readonly onceAboveFlops: number;
  readonly metric: "gflops";
  readonly threads: boolean;
}

/**
 * Per-step time against one dimension of a 784-W-10 relu network trained like workload C
 * (softmax cross-entropy, batch mean, SGD): `width` varies W at batch `fixed`, `batch` varies the
 * batch at W = `fixed`. Each point is a short training run whose step count depends only on the
 * point (see {@link scalingSteps}), so every framework trains the same steps and the final losses
 * can be compared.
 */
export interface ScalingWorkload {
  readonly kind: "scaling";
  readonly id: string;
  readonly title: string;
  readonly axis: "width" | "batch";
  readonly points: readonly number[];
  /** The batch (axis "width") or the hidden width (axis "batch") held fixed. */
  readonly fixed: number;
  /** FLOPs (forward + backward, ≈ 6·batch·weights) each point's timed steps add up to, at least. */
  readonly flopBudget: number;
  readonly minSteps: number;
  readonly maxSteps: number;
  readonly metric: "usPerStep";
  readonly threads: boolean;
}

/** One convolution layer of a {@link CnnWorkload}: conv, bias, relu, then max pooling. */
export interface ConvLayerSpec {
  /** Output channels. */
  readonly filters: number;
  /** Square kernel size. */
  readonly kernel: number;
  /** "same" (TensorFlow's: output = input, stride 1) or "valid" (no padding). */
  readonly padding: "same" | "valid";
  /** Square max-pooling window after the relu (stride = window, no padding). */
  readonly pool: number;
}

/**
 * A convolutional network trained by plain SGD on batches of images: `convs` (each conv + bias +
 * relu + max pool, NCHW, weights [O, C, k, k]), flatten (channel, row, column order), `dense` relu
 * layers and a final linear layer of 10 logits, softmax cross-entropy (mean over the batch).
 */
export interface CnnWorkload {
  readonly kind: "cnn";
  readonly id: string;
  readonly title: string;
  /** Input image [channels, height, width]; the data set's rows hold channels·height·width features. */
  readonly image: readonly [number, number, number];
  readonly convs: readonly ConvLayerSpec[];
  /** Widths of the dense layers after the flatten, the 10 logits last (e.g. [120, 84, 10]). */
  readonly dense: readonly number[];
  readonly loss: "meanXent";
  readonly batch: number;
  readonly steps: number;
  /** SGD step size on the batch-mean loss. */
  readonly stepSize: number;
  readonly stepSizeNote: string;
  readonly data: DataSpec;
  /** Seed of the weights (Glorot uniform; biases uniform in ±{@link CNN_BIAS_RANGE}). */
  readonly weightSeed: number;
  readonly metric: "seconds";
  /** Whether gradgraph runs it with its worker pool (two cores). */
  readonly threads: boolean;
}

/**
 * Half-width of the uniform initial biases of a {@link CnnWorkload}. Not zero: with zero biases a
 * pre-activation over an all-zero receptive field is exactly 0, where relu's derivative is a
 * convention (0 in gradgraph and tfjs, 1 in jax-js's `maximum(x, 0)`), and the first updates differ.
 */
export const CNN_BIAS_RANGE = 0.05;

/** Seeded synthetic sequences of a {@link BlockWorkload}: inputs and regression targets, both [n, T, D]. */
export interface SequenceDataSpec {
  /** Number of sequences (batches take them in file order, wrapping around). */
  readonly n: number;
  /** Seed of the data stream. */
  readonly seed: number;
}

/**
 * One pre-norm Transformer encoder block trained by plain SGD on a regression:
 * `h = x + attn(ln1(x))`, `out = h + W2·gelu(W1·ln2(h) + b1) + b2` (exact, erf GELU), multi-head
 * self-attention with biased q/k/v/o projections, layer norms with gamma and beta (epsilon
 * {@link BlockWorkload.epsilon}); loss: the mean squared error of `out` against a target of the same
 * shape `[batch, seqLen, width]` (mean over every element). Every param is updated.
 */
export interface BlockWorkload {
  readonly kind: "block";
  readonly id: string;
  readonly title: string;
  readonly batch: number;
  /** Tokens per sequence (T). */
  readonly seqLen: number;
  /** Model width (D). */
  readonly width: number;
  readonly heads: number;
  /** Hidden width of the MLP (D -> mlpDim -> D). */
  readonly mlpDim: number;
  /** Layer norm epsilon (added to the variance). */
  readonly epsilon: number;
  readonly loss: "meanSq";
  readonly steps: number;
  /** SGD step size on the mean loss. */
  readonly stepSize: number;
  readonly stepSizeNote: string;
  readonly data: SequenceDataSpec;
  /** Seed of the weights (see `makeBlockWeights`). */
  readonly weightSeed: number;
  readonly metric: "seconds";
  /** Whether gradgraph runs it with its worker pool (two cores). */
  readonly threads: boolean;
}

export type Workload = TrainWorkload | MatmulWorkload | ScalingWorkload | CnnWorkload | BlockWorkload;

const MNIST_LIKE: DataSpec = { n: 50_000, features: 784, zeroFraction: 0.81, levels: 255, seed: 1001 };
/** The data of the scaling tables: MNIST-shaped, 10,000 rows (batches wrap around). */
const SCALING_DATA: DataSpec = { ...MNIST_LIKE, n: 10_000, seed: 1003 };
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

const square = (n: number): MatmulShape => ({ m: n, k: n, n, label: "square" });

/** The products of one training step of workload C (batch 512, 784-256-256-10), and a 784-128 layer at batch 128. */
const TRAINING_SHAPES: readonly MatmulShape[] = [
  { m: 128, k: 784, n: 128, label: "784-128 layer, batch 128: X·W" },
  { m: 512, k: 784, n: 256, label: "C layer 1: X·W1" },
  { m: 784, k: 512, n: 256, label: "C layer 1 gradient: Xᵀ·dZ1" },
  { m: 512, k: 256, n: 784, label: "C layer 1 input gradient: dZ1·W1ᵀ" },
  { m: 512, k: 256, n: 256, label: "C layer 2: H1·W2, and dZ2·W2ᵀ" },
  { m: 256, k: 512, n: 256, label: "C layer 2 gradient: H1ᵀ·dZ2" },
];

/** Square sizes of the sweep. */
export const SQUARE_SIZES = [64, 128, 256, 512, 1024, 2048, 4096] as const;

const D: MatmulWorkload = {
  kind: "matmul",
  id: "D",
  title: "float32 matmul sweep (squares 64-4096 and workload C's products; A·B, Aᵀ·B, A·Bᵀ), one core",
  shapes: [...SQUARE_SIZES.map(square), ...TRAINING_SHAPES],
  budgetSeconds: 0.2,
  maxReps: 5000,
  maxProductSeconds: 15,
  onceAboveFlops: 5e10,
  metric: "gflops",
  threads: false,
};

const D2: MatmulWorkload = {
  ...D,
  id: "D2",
  title: "the matmul sweep on two cores (gradgraph only)",
  threads: true,
};

const B2: TrainWorkload = {
  ...B,
  id: "B2",
  title: "workload B on two cores (gradgraph only)",
  threads: true,
};

const AFIT: TrainWorkload = {
  ...A,
  id: "AFIT",
  title: "workload A through @gradgraph/models' fit (one epoch, shuffle off), one core",
  driver: "fit",
};

const BFIT: TrainWorkload = {
  ...B,
  id: "BFIT",
  title: "workload B through @gradgraph/models' fit (one epoch, shuffle off), one core",
  driver: "fit",
};

/** Widths of the width table (784-W-10 at batch 128). */
export const WIDTHS = [32, 64, 128, 256, 512, 1024, 2048] as const;
/** Batches of the batch table (784-256-10). */
export const BATCHES = [1, 8, 32, 128, 512, 2048] as const;

const WIDTH: ScalingWorkload = {
  kind: "scaling",
  id: "WIDTH",
  title:
    "per-step time against the hidden width: 784-W-10 relu, softmax cross-entropy (mean), batch 128, one core",
  axis: "width",
  points: WIDTHS,
  fixed: 128,
  flopBudget: 2.5e9,
  minSteps: 4,
  maxSteps: 100,
  metric: "usPerStep",
  threads: false,
};

const WIDTH2: ScalingWorkload = {
  ...WIDTH,
  id: "WIDTH2",
  title: "the width table on two cores (gradgraph only)",
  threads: true,
};

const BATCH: ScalingWorkload = {
  kind: "scaling",
  id: "BATCH",
  title: "per-step time against the batch size: 784-256-10 relu, softmax cross-entropy (mean), one core",
  axis: "batch",
  points: BATCHES,
  fixed: 256,
  flopBudget: 2.5e9,
  minSteps: 4,
  maxSteps: 100,
  metric: "usPerStep",
  threads: false,
};

const BATCH2: ScalingWorkload = {
  ...BATCH,
  id: "BATCH2",
  title: "the batch table on two cores (gradgraph only)",
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

const F: CnnWorkload = {
  kind: "cnn",
  id: "F",
  title:
    "LeNet-style CNN (conv 5×5 same 6 + pool 2, conv 5×5 valid 16 + pool 2, 400-120-84-10 relu), softmax cross-entropy (mean), batch 64, 100 steps, one core",
  image: [1, 28, 28],
  convs: [
    { filters: 6, kernel: 5, padding: "same", pool: 2 },
    { filters: 16, kernel: 5, padding: "valid", pool: 2 },
  ],
  dense: [120, 84, 10],
  loss: "meanXent",
  batch: 64,
  steps: 100,
  stepSize: 0.05,
  stepSizeNote: "lr 0.05 on the batch-mean loss",
  data: MNIST_LIKE,
  weightSeed: 17,
  metric: "seconds",
  threads: false,
};

const F2: CnnWorkload = {
  ...F,
  id: "F2",
  title: "workload F on two cores (gradgraph only)",
  threads: true,
};

const G: BlockWorkload = {
  kind: "block",
  id: "G",
  title:
    "Transformer encoder block (pre-norm, width 64, 4 heads, MLP 64-256-64 GELU), mean squared error, batch 32 × 16 tokens, 100 steps, one core",
  batch: 32,
  seqLen: 16,
  width: 64,
  heads: 4,
  mlpDim: 256,
  epsilon: 1e-5,
  loss: "meanSq",
  steps: 100,
  stepSize: 0.1,
  stepSizeNote: "lr 0.1 on the mean (over every element) squared error",
  data: { n: 3200, seed: 1004 },
  weightSeed: 18,
  metric: "seconds",
  threads: false,
};

const G2: BlockWorkload = {
  ...G,
  id: "G2",
  title: "workload G on two cores (gradgraph only)",
  threads: true,
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

/** Every workload by id, in report order. */
export const WORKLOADS: Readonly<Record<string, Workload>> = {
  A,
  AFIT,
  B,
  B2,
  BFIT,
  C,
  C1,
  D,
  D2,
  E,
  F,
  F2,
  G,
  G2,
  WIDTH,
  WIDTH2,
  BATCH,
  BATCH2,
  MEM,
  MNIST,
};

/** The frameworks that have a cell runner. */
export const FRAMEWORKS = ["gradgraph", "tfjs-cpu", "tfjs-wasm", "jax", "numpy"] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/** Which frameworks run which workload (gradgraph-only rows are informational or memory checks). */
export const CELLS: Readonly<Record<string, readonly Framework[]>> = {
  A: FRAMEWORKS,
  AFIT: ["gradgraph"],
  B: FRAMEWORKS,
  B2: ["gradgraph"],
  BFIT: ["gradgraph"],
  C: FRAMEWORKS,
  C1: ["gradgraph"],
  // tfjs (cpu) runs a 512³ product at ~0.5 GFLOP/s: the sweep would take hours
  D: ["gradgraph", "tfjs-wasm", "jax", "numpy"],
  D2: ["gradgraph"],
  E: ["gradgraph", "tfjs-cpu", "tfjs-wasm", "jax"],
  F: ["gradgraph", "tfjs-wasm", "jax"],
  F2: ["gradgraph"],
  G: ["gradgraph", "tfjs-wasm", "jax"],
  G2: ["gradgraph"],
  WIDTH: ["gradgraph", "tfjs-wasm", "jax", "numpy"],
  WIDTH2: ["gradgraph"],
  BATCH: ["gradgraph", "tfjs-wasm", "jax", "numpy"],
  BATCH2: ["gradgraph"],
  MEM: ["gradgraph"],
  MNIST: ["gradgraph"],
};

/** Largest square size of a `--quick` sweep. */
export const QUICK_MAX_SIZE = 512;

/** A workload with fewer steps/reps for a smoke run (`--quick`). */
export function quickVersion(w: Workload): Workload {
  if (w.kind === "matmul")
    return {
      ...w,
      shapes: w.shapes.filter((s) => s.label !== "square" || s.m <= QUICK_MAX_SIZE),
      budgetSeconds: 0.05,
      maxReps: 200,
      maxProductSeconds: 2,
    };
  if (w.kind === "scaling") return { ...w, flopBudget: w.flopBudget / 20, minSteps: 2, maxSteps: 10 };
  if (w.id === "MEM" || w.id === "MNIST") return w; // an epoch of B takes ~1-2 s: keep it whole
  const steps = Math.max(4, Math.ceil(w.steps / 20));
  return { ...w, steps };
}

/** The shapes of a {@link CnnWorkload}'s layers (per sample, channels first). */
export interface CnnGeometry {
  /** Per conv layer: input [C, H, W], conv output [O, Ho, Wo], pooled output [O, Hp, Wp]. */
  readonly convs: readonly {
    readonly input: readonly [number, number, number];
    readonly conv: readonly [number, number, number];
    readonly pooled: readonly [number, number, number];
  }[];
  /** Features after the flatten (the first dense layer's fan-in). */
  readonly flat: number;
  /** Dense layer widths, the flatten first: [flat, ...dense]. */
  readonly denseSizes: readonly number[];
  /**
   * FLOPs (2 per multiply-add) of one training step over the batch: every conv and dense product
   * three times (forward, input gradient, weight gradient) except the first conv's input gradient
   * (the images need none). Elementwise work, pooling and the loss are not counted.
   */
  readonly flopsPerStep: number;
}

/** The layer shapes and the FLOPs per training step of `w`. */
export function cnnGeometry(w: CnnWorkload): CnnGeometry {
  let [c, h, wd] = w.image;
  const convs: CnnGeometry["convs"][number][] = [];
  let flops = 0;
  w.convs.forEach((l, i) => {
    const ho = l.padding === "same" ? h : h - l.kernel + 1;
    const wo = l.padding === "same" ? wd : wd - l.kernel + 1;
    const hp = Math.floor(ho / l.pool);
    const wp = Math.floor(wo / l.pool);
    if (hp <= 0 || wp <= 0)
      throw new Error(`workload ${w.id}: conv ${i + 1} and its pooling leave no output (${h}×${wd} input)`);
    const macs = w.batch * l.filters * ho * wo * c * l.kernel * l.kernel;
    flops += 2 * macs * (i === 0 ? 2 : 3);
    convs.push({ input: [c, h, wd], conv: [l.filters, ho, wo], pooled: [l.filters, hp, wp] });
    [c, h, wd] = [l.filters, hp, wp];
  });
  const flat = c * h * wd;
  const denseSizes = [flat, ...w.dense];
  for (let l = 0; l + 1 < denseSizes.length; l++)
    flops += 2 * 3 * w.batch * denseSizes[l]! * denseSizes[l + 1]!;
  return { convs, flat, denseSizes, flopsPerStep: flops };
}

/** FLOPs (2 per multiply-add) of one product C[m, n] = op(A) · op(B) with inner dimension k. */
export function matmulFlops(s: { m: number; k: number; n: number }): number {
  return 2 * s.m * s.k * s.n;
}

/** The sweep's key of a product: "m×k×n". */
export function shapeKey(s: { m: number; k: number; n: number }): string {
  return `${s.m}×${s.k}×${s.n}`;
}

/** The training workload of one point of a scaling table (784-W-10 relu, mean cross-entropy, SGD 0.1). */
export function scalingPoint(w: ScalingWorkload, point: number): TrainWorkload {
  const width = w.axis === "width" ? point : w.fixed;
  const batch = w.axis === "batch" ? point : w.fixed;
  return {
    kind: "train",
    id: `${w.id}:${point}`,
    title: `784-${width}-10 relu, batch ${batch}`,
    sizes: [784, width, 10],
    hidden: "relu",
    loss: "meanXent",
    init: "glorotUniform",
    batch,
    steps: scalingSteps(w, width, batch),
    stepSize: 0.1,
    stepSizeNote: "lr 0.1 on the batch-mean loss",
    data: SCALING_DATA,
    weightSeed: 16,
    metric: "usPerStep",
    threads: w.threads,
  };
}

/**
 * Timed steps of one scaling point: enough to reach the workload's FLOP budget (forward and backward
 * ≈ 6 · batch · weights FLOPs per step), within [minSteps, maxSteps]. It depends only on the point,
 * so every framework runs the same steps.
 */
export function scalingSteps(w: ScalingWorkload, width: number, batch: number): number {
  const flopsPerStep = 6 * batch * (784 * width + width * 10);
  return Math.min(w.maxSteps, Math.max(w.minSteps, Math.ceil(w.flopBudget / flopsPerStep)));
}

/**
 * FLOPs (2 per multiply-add) of one training step of a {@link BlockWorkload} over the batch: every
 * product (the q, k, v, o projections, q·kᵀ, weights·v, the two MLP layers) three times (forward and
 * both gradients). Layer norms, softmax, GELU and the loss are not counted.
 */
export function blockFlopsPerStep(w: BlockWorkload): number {
  const rows = w.batch * w.seqLen;
  const dk = w.width / w.heads;
  const projections = 4 * rows * w.width * w.width;
  const attention = 2 * w.batch * w.heads * w.seqLen * w.seqLen * dk;
  const mlp = 2 * rows * w.width * w.mlpDim;
  return 2 * 3 * (projections + attention + mlp);
}
