/**
 * Deterministic data and weights shared by every framework's cell: the same seeds give the same
 * Float32Arrays in every process, so every framework trains the same network on the same batches.
 *
 * The generator is a tiny self-contained mulberry32 (not gradgraph's Rng), so the benchmark data
 * does not change when the library's RNG does.
 */
import {
  type BlockWorkload,
  CNN_BIAS_RANGE,
  type CnnWorkload,
  cnnGeometry,
  type DataSpec,
  type TrainWorkload,
} from "./workloads.js";

/** mulberry32: a small, fast, seeded 32-bit generator. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Next uint32. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }
  /** Standard normal (Box-Muller, one draw per call). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/**
 * A synthetic labelled set: `x` [n, features] row-major, `y` one-hot [n, 10] (or, for the sequence
 * workloads, regression targets [n, targets]).
 */
export interface Dataset {
  readonly n: number;
  readonly features: number;
  readonly x: Float32Array;
  readonly y: Float32Array;
  /** Values of `y` per row (default 10: one-hot classes). */
  readonly targets?: number;
}

/**
 * MNIST-shaped (or digits-shaped) synthetic data: each feature is 0 with probability
 * `zeroFraction`, else k/levels with k uniform in 1..levels; the label is the argmax of a fixed
 * random linear function of the (centred) features, so the classes are learnable.
 */
export function makeDataset(spec: DataSpec): Dataset {
  const r = new SeededRandom(spec.seed);
  const x = new Float32Array(spec.n * spec.features);
  const z = spec.zeroFraction;
  const scale = 1 / (1 - z);
  for (let i = 0; i < x.length; i++) {
    const u = r.next();
    x[i] = u < z ? 0 : Math.min(spec.levels, Math.floor((u - z) * scale * spec.levels) + 1) / spec.levels;
  }
  // labels from a fixed random linear "teacher" (argmax of x·T, centred), so the task is learnable
  // and training curves behave like real data rather than memorising noise
  const f = spec.features;
  const T = new Float32Array(f * 10);
  for (let i = 0; i < T.length; i++) T[i] = r.normal();
  const mean = new Float64Array(f);
  for (let i = 0; i < spec.n; i++) for (let k = 0; k < f; k++) mean[k] += x[i * f + k]! / spec.n;
  const y = new Float32Array(spec.n * 10);
  const score = new Float64Array(10);
  for (let i = 0; i < spec.n; i++) {
    score.fill(0);
    for (let k = 0; k < f; k++) {
      const v = x[i * f + k]! - mean[k]!;
      if (v === 0) continue;
      for (let c = 0; c < 10; c++) score[c] += v * T[k * 10 + c]!;
    }
    let best = 0;
    for (let c = 1; c < 10; c++) if (score[c]! > score[best]!) best = c;
    y[i * 10 + best] = 1;
  }
  return { n: spec.n, features: f, x, y };
}

/** Wraps a real set (e.g. MNIST loaded by @gradgraph/datasets) as a {@link Dataset}. */
export function datasetFrom(x: Float32Array, labels: Uint8Array, features: number): Dataset {
  const n = labels.length;
  const y = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) y[i * 10 + labels[i]!] = 1;
  return { n, features, x, y };
}

/** One dense layer's parameters: W [fanIn, fanOut] row-major and b [fanOut]. */
export interface Layer {
  readonly fanIn: number;
  readonly fanOut: number;
  readonly W: Float32Array;
  readonly b: Float32Array;
}

/** The initial weights of a training workload (identical in every framework). */
export function makeWeights(w: TrainWorkload): Layer[] {
  const r = new SeededRandom(w.weightSeed);
  const layers: Layer[] = [];
  for (let l = 0; l + 1 < w.sizes.length; l++) {
    const fanIn = w.sizes[l]!;
    const fanOut = w.sizes[l + 1]!;
    const W = new Float32Array(fanIn * fanOut);
    const b = new Float32Array(fanOut);
    if (w.init === "normal") {
      for (let i = 0; i < W.length; i++) W[i] = r.normal();
      for (let i = 0; i < b.length; i++) b[i] = r.normal();
    } else if (w.init === "scaledNormal") {
      const s = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < W.length; i++) W[i] = r.normal() * s;
    } else {
      const s = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < W.length; i++) W[i] = (2 * r.next() - 1) * s;
    }
    layers.push({ fanIn, fanOut, W, b });
  }
  return layers;
}

/** One conv layer's parameters: W [O, C, k, k] row-major (PyTorch / jax layout) and b [O]. */
export interface ConvLayer {
  readonly inChannels: number;
  readonly filters: number;
  readonly kernel: number;
  readonly W: Float32Array;
  readonly b: Float32Array;
}

/** The initial weights of a {@link CnnWorkload}: its conv layers, then its dense layers. */
export interface CnnWeights {
  readonly convs: readonly ConvLayer[];
  readonly dense: readonly Layer[];
}

/**
 * The initial weights of a CNN workload (identical in every framework): Glorot uniform weights
 * (conv fan-in C·k·k, fan-out O·k·k), biases uniform in ±{@link CNN_BIAS_RANGE} (not zero: see
 * there), drawn layer by layer, weights before biases, from the workload's seed.
 */
export function makeCnnWeights(w: CnnWorkload): CnnWeights {
  const r = new SeededRandom(w.weightSeed);
  const uniform = (n: number, s: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (2 * r.next() - 1) * s;
    return out;
  };
  const g = cnnGeometry(w);
  const convs = w.convs.map((l, i): ConvLayer => {
    const c = g.convs[i]!.input[0];
    const k = l.kernel;
    const W = uniform(l.filters * c * k * k, Math.sqrt(6 / (c * k * k + l.filters * k * k)));
    return { inChannels: c, filters: l.filters, kernel: k, W, b: uniform(l.filters, CNN_BIAS_RANGE) };
  });
  const dense: Layer[] = [];
  for (let l = 0; l + 1 < g.denseSizes.length; l++) {
    const fanIn = g.denseSizes[l]!;
    const fanOut = g.denseSizes[l + 1]!;
    const W = uniform(fanIn * fanOut, Math.sqrt(6 / (fanIn + fanOut)));
    dense.push({ fanIn, fanOut, W, b: uniform(fanOut, CNN_BIAS_RANGE) });
  }
  return { convs, dense };
}

/**
 * The sequences of a {@link BlockWorkload}: `x` [n, T, D] standard normal, and the regression target
 * of each sequence `tanh((x_t + mean_t(x)) · M)` per token t, with a fixed random teacher M [D, D]
 * (entries N(0, 1/D)): a token-wise map plus a sequence-wide term, so attention has something to
 * learn. Both stored [n, T·D] (`targets` = T·D).
 */
export function makeSequenceData(w: BlockWorkload): Dataset {
  const r = new SeededRandom(w.data.seed);
  const { n } = w.data;
  const T = w.seqLen;
  const D = w.width;
  const f = T * D;
  const x = new Float32Array(n * f);
  for (let i = 0; i < x.length; i++) x[i] = r.normal();
  const M = new Float64Array(D * D);
  for (let i = 0; i < M.length; i++) M[i] = r.normal() / Math.sqrt(D);
  const y = new Float32Array(n * f);
  const mean = new Float64Array(D);
  const u = new Float64Array(D);
  for (let s = 0; s < n; s++) {
    const base = s * f;
    mean.fill(0);
    for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) mean[d] += x[base + t * D + d]! / T;
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < D; d++) u[d] = x[base + t * D + d]! + mean[d]!;
      for (let o = 0; o < D; o++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += u[d]! * M[d * D + o]!;
        y[base + t * D + o] = Math.tanh(acc);
      }
    }
  }
  return { n, features: f, x, y, targets: f };
}

/** Half-width of the uniform initial biases and betas of a {@link BlockWorkload} (gammas: 1 ± twice it). */
export const BLOCK_BIAS_RANGE = 0.05;

/**
 * The params of a {@link BlockWorkload}'s block, in this order: `ln1.gamma`, `ln1.beta` [D]; `Wq`,
 * `bq`, `Wk`, `bk`, `Wv`, `bv`, `Wo`, `bo` ([D, D] stored [in, out], and [D]); `ln2.gamma`, `ln2.beta`;
 * `W1` [D, mlpDim], `b1`, `W2` [mlpDim, D], `b2`. Every framework maps these keys to its own names.
 */
export const BLOCK_PARAMS = [
  "ln1.gamma",
  "ln1.beta",
  "Wq",
  "bq",
  "Wk",
  "bk",
  "Wv",
  "bv",
  "Wo",
  "bo",
  "ln2.gamma",
  "ln2.beta",
  "W1",
  "b1",
  "W2",
  "b2",
] as const;
/** A key of {@link BLOCK_PARAMS}. */
export type BlockParam = (typeof BLOCK_PARAMS)[number];

/** One initial param of the block: its shape and values (row-major). */
export interface BlockTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * The initial weights of a {@link BlockWorkload} (identical in every framework), drawn in
 * {@link BLOCK_PARAMS} order from the workload's seed: matrices Glorot uniform, biases and betas
 * uniform in ±{@link BLOCK_BIAS_RANGE}, gammas uniform in 1 ± 2·{@link BLOCK_BIAS_RANGE} (none zero
 * or one exactly, so every param's gradient path is exercised from the first step).
 */
export function makeBlockWeights(w: BlockWorkload): Record<BlockParam, BlockTensor> {
  const r = new SeededRandom(w.weightSeed);
  const D = w.width;
  const H = w.mlpDim;
  const uniform = (shape: number[], center: number, s: number): BlockTensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = center + (2 * r.next() - 1) * s;
    return { shape, data };
  };
  const glorot = (fanIn: number, fanOut: number) =>
    uniform([fanIn, fanOut], 0, Math.sqrt(6 / (fanIn + fanOut)));
  const bias = (n: number) => uniform([n], 0, BLOCK_BIAS_RANGE);
  const gamma = (n: number) => uniform([n], 1, 2 * BLOCK_BIAS_RANGE);
  const out = {} as Record<BlockParam, BlockTensor>;
  for (const k of BLOCK_PARAMS) {
    out[k] =
      k === "ln1.gamma" || k === "ln2.gamma"
        ? gamma(D)
        : k === "ln1.beta" || k === "ln2.beta"
          ? bias(D)
          : k === "W1"
            ? glorot(D, H)
            : k === "b1"
              ? bias(H)
              : k === "W2"
                ? glorot(H, D)
                : k.startsWith("W")
                  ? glorot(D, D)
                  : bias(D);
  }
  return out;
}

/**
 * Batches in file order: batch `step` holds rows (step·batch + r) mod n. Returns views of the
 * data when the rows are contiguous, else copies them into the staging arrays (which must hold
 * batch rows). Every framework calls this, so all see the same batches.
 */
export class Batcher {
  private readonly sx: Float32Array;
  private readonly sy: Float32Array;
  /** Values of `y` per row (10 for one-hot labels). */
  readonly targets: number;
  constructor(
    readonly data: Dataset,
    readonly batch: number,
  ) {
    this.targets = data.targets ?? 10;
    this.sx = new Float32Array(batch * data.features);
    this.sy = new Float32Array(batch * this.targets);
  }

  /**
   * Copies batch `step` into `xOut` and `yOut` (no allocation: used inside timed loops): one
   * `TypedArray.set` per array when the rows are contiguous, two when the batch wraps around.
   */
  fill(step: number, xOut: Float32Array | Float64Array, yOut: Float32Array | Float64Array): void {
    const { n, features, x, y } = this.data;
    const b = this.batch;
    const ty = this.targets;
    const start = (step * b) % n;
    const first = Math.min(b, n - start);
    xOut.set(x.subarray(start * features, (start + first) * features));
    yOut.set(y.subarray(start * ty, (start + first) * ty));
    // the rest wraps around to row 0 (b may exceed n: repeat whole passes)
    for (let r = first; r < b; ) {
      const take = Math.min(b - r, n);
      xOut.set(x.subarray(0, take * features), r * features);
      yOut.set(y.subarray(0, take * ty), r * ty);
      r += take;
    }
  }

  /** The inputs and one-hot targets of batch `step` (valid until the next call). */
  get(step: number): { x: Float32Array; y: Float32Array } {
    const { n, features, x, y } = this.data;
    const b = this.batch;
    const ty = this.targets;
    const start = (step * b) % n;
    if (start + b <= n) {
      return {
        x: x.subarray(start * features, (start + b) * features),
        y: y.subarray(start * ty, (start + b) * ty),
      };
    }
    for (let r = 0; r < b; r++) {
      const i = (start + r) % n;
      this.sx.set(x.subarray(i * features, (i + 1) * features), r * features);
      this.sy.set(y.subarray(i * ty, (i + 1) * ty), r * ty);
    }
    return { x: this.sx, y: this.sy };
  }
}

/** Two deterministic n×n matrices (uniform in [-0.5, 0.5)), for the `pnpm bench` kernels. */
export function makeMatrices(n: number): { a: Float32Array; b: Float32Array } {
  const r = new SeededRandom(4004);
  const a = new Float32Array(n * n);
  const b = new Float32Array(n * n);
  for (let i = 0; i < a.length; i++) a[i] = r.next() - 0.5;
  for (let i = 0; i < b.length; i++) b[i] = r.next() - 0.5;
  return { a, b };
}

/**
 * The operands of the matmul sweep: two streams of uniform values in [-0.5, 0.5), long enough for
 * the largest product. A product with inner dimension k takes A = the first m·k values of `a` and
 * B = the first k·n values of `b`, read as [m, k] / [k, n] (A·B), [k, m] / [k, n] (Aᵀ·B) or
 * [m, k] / [n, k] (A·Bᵀ), so every framework multiplies the same numbers.
 */
export function makeSweepOperands(shapes: readonly { m: number; k: number; n: number }[]): {
  a: Float32Array;
  b: Float32Array;
} {
  const stream = (seed: number, length: number) => {
    const r = new SeededRandom(seed);
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = r.next() - 0.5;
    return out;
  };
  const la = Math.max(0, ...shapes.map((s) => s.m * s.k));
  const lb = Math.max(0, ...shapes.map((s) => s.k * s.n));
  return { a: stream(4004, la), b: stream(4005, lb) };
}
