/**
 * Splitting, label encoding and feature scaling, seeded and sklearn-like.
 * @module
 */
import { allocArray, type DType, type FloatArray, Rng, Tensor } from "@gradgraph/core";

/** Counts how often each class 0..numClasses-1 occurs in `y` (numClasses defaults to max(y) + 1). */
export function labelCounts(y: ArrayLike<number>, numClasses?: number): number[] {
  let k = numClasses;
  if (k === undefined) {
    k = 0;
    for (let i = 0; i < y.length; i++) k = Math.max(k, y[i]! + 1);
  }
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!(v >= 0 && v < k) || !Number.isInteger(v))
      throw new RangeError(`label ${i} is ${v}, expected 0..${k - 1}`);
    counts[v]++;
  }
  return counts;
}

/**
 * Writes the one-hot encoding of `labels` into `out` (row-major `[labels.length, numClasses]`): zeroes
 * the rows, then sets `out[i * numClasses + labels[i]] = 1`. Allocation-free; used by the batch iterator.
 */
export function oneHotInto(out: FloatArray, labels: ArrayLike<number>, numClasses: number): FloatArray {
  const n = labels.length;
  if (out.length < n * numClasses) {
    throw new RangeError(`oneHotInto: output has ${out.length} elements, needs ${n * numClasses}`);
  }
  out.fill(0, 0, n * numClasses);
  for (let i = 0; i < n; i++) {
    const v = labels[i]!;
    if (!(v >= 0 && v < numClasses) || !Number.isInteger(v)) {
      throw new RangeError(`label ${i} is ${v}, expected an integer in 0..${numClasses - 1}`);
    }
    out[i * numClasses + v] = 1;
  }
  return out;
}

/**
 * One-hot encodes class labels 0..numClasses-1 into a `[n, numClasses]` tensor (sklearn's
 * `LabelBinarizer` for more than two classes). For ex4 labels 1..10, map them with `ex4LabelsToDigits` first.
 * @param options `dtype`: element type (default `"float32"`)
 */
export function oneHot(
  labels: ArrayLike<number>,
  numClasses: number,
  options: { dtype?: DType } = {},
): Tensor {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`numClasses must be >= 1, got ${numClasses}`);
  const out = allocArray(options.dtype ?? "float32", labels.length * numClasses);
  oneHotInto(out, labels, numClasses);
  return new Tensor([labels.length, numClasses], out);
}

/** Options of {@link splitIndices} and {@link trainTestSplit}. */
export interface SplitOptions {
  /**
   * Size of the test set: a fraction in (0, 1) (rounded up, as sklearn does) or a count. Default 0.25
   * when `trainSize` is not given either, else the complement of `trainSize`.
   */
  testSize?: number;
  /** Size of the training set: a fraction (rounded down) or a count. Default: the complement of `testSize`. */
  trainSize?: number;
  /** Seed of the generator (default 0). Ignored when `rng` is given. */
  seed?: number;
  /** A generator to draw from (advances it). */
  rng?: Rng;
  /** Shuffle before splitting (default true). Without shuffling, train is the first rows and test the next. */
  shuffle?: boolean;
}

function resolveSize(
  v: number | undefined,
  n: number,
  name: string,
  round: (x: number) => number,
): number | null {
  if (v === undefined) return null;
  if (v > 0 && v < 1) return round(v * n);
  if (Number.isInteger(v) && v >= 0 && v <= n) return v;
  throw new RangeError(`${name} must be a fraction in (0, 1) or a count in 0..${n}, got ${v}`);
}

/** Splits `total` items over classes in proportion to `counts` (largest remainder), each at most `caps[c]`. */
function allocate(total: number, counts: readonly number[], n: number, caps: readonly number[]): number[] {
  const exact = counts.map((c) => (total * c) / n);
  const out = exact.map((e, c) => Math.min(Math.floor(e), caps[c]!));
  let left = total - out.reduce((a, b) => a + b, 0);
  const rem = exact.map((e) => e - Math.floor(e));
  const order = counts.map((_, c) => c).sort((a, b) => rem[b]! - rem[a]! || a - b);
  while (left > 0) {
    let progressed = false;
    for (const c of order) {
      if (left > 0 && out[c]! < caps[c]!) {
        out[c]++;
        left--;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  return out;
}

/** Row indices of a train/test split. */
export interface IndexSplit {
  /** Rows of the training set, in order. */
  readonly train: Int32Array;
  /** Rows of the test set, in order. */
  readonly test: Int32Array;
}

/**
 * Splits the row indices 0..n-1 into a training and a test set, seeded. With `stratify` (one class label
 * per row), each class is split in proportion so that both sets keep the class frequencies (up to
 * rounding); both index lists are then shuffled.
 */
export function splitIndices(
  n: number,
  options: SplitOptions & { stratify?: ArrayLike<number> } = {},
): IndexSplit {
  let nTest = resolveSize(options.testSize, n, "testSize", Math.ceil);
  let nTrain = resolveSize(options.trainSize, n, "trainSize", Math.floor);
  if (nTest === null && nTrain === null) nTest = Math.ceil(0.25 * n);
  if (nTrain === null) nTrain = n - nTest!;
  if (nTest === null) nTest = n - nTrain;
  if (nTrain + nTest > n) {
    throw new RangeError(`trainSize + testSize = ${nTrain} + ${nTest} exceeds the ${n} samples`);
  }
  const shuffle = options.shuffle ?? true;
  const strat = options.stratify;
  if (!shuffle) {
    if (strat) throw new RangeError("stratified splitting needs shuffle: true");
    return {
      train: Int32Array.from({ length: nTrain }, (_, i) => i),
      test: Int32Array.from({ length: nTest }, (_, i) => nTrain + i),
    };
  }
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  if (!strat) {
    const p = rng.permutation(n);
    return { test: p.slice(0, nTest), train: p.slice(nTest, nTest + nTrain) };
  }
  if (strat.length !== n) throw new RangeError(`stratify has ${strat.length} labels for ${n} samples`);
  const counts = labelCounts(strat);
  const byClass = counts.map(() => [] as number[]);
  for (let i = 0; i < n; i++) byClass[strat[i]!]!.push(i);
  const testPer = allocate(nTest, counts, n, counts);
  const trainPer = allocate(
    nTrain,
    counts,
    n,
    counts.map((c, k) => c - testPer[k]!),
  );
  const train: number[] = [];
  const test: number[] = [];
  byClass.forEach((rows, c) => {
    rng.shuffle(rows);
    // A loop, not push(...rows): spreading a large class into a call overflows the stack.
    const t = testPer[c]!;
    for (let i = 0; i < t; i++) test.push(rows[i]!);
    for (let i = t; i < t + trainPer[c]!; i++) train.push(rows[i]!);
  });
  return { train: rng.shuffle(Int32Array.from(train)), test: rng.shuffle(Int32Array.from(test)) };
}

/** Gathers rows (first-axis slices) of `x` in the order of `indices` into a new tensor. */
export function takeRows(x: Tensor, indices: ArrayLike<number>): Tensor {
  const n = x.shape[0];
  if (n === undefined) throw new RangeError("takeRows needs a tensor of rank >= 1");
  const f = n === 0 ? 0 : x.size / n;
  const out = allocArray(x.dtype, indices.length * f);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (!(r >= 0 && r < n)) throw new RangeError(`row index ${r} out of range 0..${n - 1}`);
    out.set(x.data.subarray(r * f, r * f + f), i * f);
  }
  return new Tensor([indices.length, ...x.shape.slice(1)], out);
}

/** Gathers labels in the order of `indices`. */
export function takeLabels(y: Uint8Array, indices: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (!(r >= 0 && r < y.length)) throw new RangeError(`label index ${r} out of range 0..${y.length - 1}`);
    out[i] = y[r]!;
  }
  return out;
}

/** The result of {@link trainTestSplit}. */
export interface TrainTestSplit {
  /** Training rows. */
  readonly xTrain: Tensor;
  /** Test rows. */
  readonly xTest: Tensor;
  /** Training labels. */
  readonly yTrain: Uint8Array;
  /** Test labels. */
  readonly yTest: Uint8Array;
  /** Which source rows went to training, in order. */
  readonly trainIndices: Int32Array;
  /** Which source rows went to test, in order. */
  readonly testIndices: Int32Array;
}

/**
 * Splits `x` and `y` into random train and test subsets (sklearn's `train_test_split`), seeded.
 * `stratify: true` keeps the class proportions of `y` in both parts; an array stratifies by other labels.
 * @example
 * const { xTrain, xTest, yTrain, yTest } = trainTestSplit(digits.x, digits.y, { testSize: 0.25, seed: 1, stratify: true });
 */
export function trainTestSplit(
  x: Tensor,
  y: Uint8Array,
  options: SplitOptions & { stratify?: boolean | ArrayLike<number> } = {},
): TrainTestSplit {
  const n = x.shape[0] ?? 0;
  if (y.length !== n) throw new RangeError(`x has ${n} rows but y has ${y.length} labels`);
  const stratify = options.stratify === true ? y : options.stratify === false ? undefined : options.stratify;
  const { train, test } = splitIndices(n, { ...options, stratify });
  return {
    xTrain: takeRows(x, train),
    xTest: takeRows(x, test),
    yTrain: takeLabels(y, train),
    yTest: takeLabels(y, test),
    trainIndices: train,
    testIndices: test,
  };
}

/**
 * A per-feature affine map `x * scale + offset`, fitted on training data and applied unchanged to other
 * data (fit on train, transform train and test). Features are the elements of a row (everything after
 * the first axis); with `perFeature: false` one map covers all elements. This is the base class of
 * {@link MinMaxScaler} and {@link StandardScaler}: `fit`, `transform`, `transformInPlace`, `fitTransform`
 * and `inverseTransform` work the same for both, and a subclass only decides `scale` and `offset`.
 *
 * @example
 * ```ts
 * import { type FeatureScaler, MinMaxScaler, StandardScaler } from "@gradgraph/datasets";
 *
 * const scaler: FeatureScaler = standardise ? new StandardScaler() : new MinMaxScaler();
 * const train = scaler.fitTransform(xTrain); // fit on the training rows only
 * const test = scaler.transform(xTest); // the same map on the test rows
 * console.log(scaler.scale, scaler.offset); // one entry per feature
 * ```
 */
export abstract class FeatureScaler {
  /** One scale per feature (one in all after a global fit); null before `fit`. */
  scale: Float64Array | null = null;
  /** One offset per feature; null before `fit`. */
  offset: Float64Array | null = null;

  /** @param perFeature fit each feature separately (default true, as sklearn) or all elements together */
  constructor(readonly perFeature = true) {}

  /** Computes `scale` and `offset` from per-feature statistics. */
  protected abstract fitFeatures(x: FloatArray, rows: number, features: number): void;

  private features(x: Tensor): number {
    if (x.rank === 0) throw new RangeError("scalers need a tensor of rank >= 1");
    if (!this.perFeature) return 1;
    return x.rank === 1 ? 1 : x.size / x.shape[0]!;
  }

  /** Fits on `x` (shape `[n, ...]`) and returns this. */
  fit(x: Tensor): this {
    const f = this.features(x);
    this.fitFeatures(x.data, x.size / f, f);
    return this;
  }

  private map(x: Tensor, out: FloatArray, inverse: boolean): void {
    const { scale, offset } = this;
    if (!scale || !offset) throw new Error(`${this.constructor.name}: call fit() before transforming`);
    const f = this.features(x);
    if (f !== scale.length) {
      throw new RangeError(`${this.constructor.name} was fitted on ${scale.length} features, got ${f}`);
    }
    const src = x.data;
    for (let i = 0; i < src.length; i++) {
      const k = i % f;
      out[i] = inverse ? (src[i]! - offset[k]!) / scale[k]! : src[i]! * scale[k]! + offset[k]!;
    }
  }

  /** Returns `x` scaled by the fitted map (a new tensor of the same shape and dtype). */
  transform(x: Tensor): Tensor {
    const out = new Tensor(x.shape, allocArray(x.dtype, x.size));
    this.map(x, out.data, false);
    return out;
  }

  /** Scales `x` in place and returns it. */
  transformInPlace(x: Tensor): Tensor {
    this.map(x, x.data, false);
    return x;
  }

  /** Fits on `x` and returns it transformed. */
  fitTransform(x: Tensor): Tensor {
    return this.fit(x).transform(x);
  }

  /** Undoes the map (a new tensor). */
  inverseTransform(x: Tensor): Tensor {
    const out = new Tensor(x.shape, allocArray(x.dtype, x.size));
    this.map(x, out.data, true);
    return out;
  }
}

/**
 * Min-max scaling (sklearn's `MinMaxScaler`): maps each feature's training range [min, max] onto
 * `featureRange` (default [0, 1]); a constant feature maps to the range's lower end. With
 * `perFeature: false` the whole array's min and max are used, as in `(X - X.min()) / (X.max() - X.min())`.
 * After `fit`, `dataMin` and `dataMax` hold the training range of each feature.
 *
 * @example
 * ```ts
 * import { Tensor } from "@gradgraph/core";
 * import { MinMaxScaler } from "@gradgraph/datasets";
 *
 * const x = Tensor.from([[0, 10], [5, 20], [10, 30]]);
 * const scaler = new MinMaxScaler(); // each column onto [0, 1]
 * scaler.fitTransform(x).toNested(); // [[0, 0], [0.5, 0.5], [1, 1]]
 * scaler.inverseTransform(Tensor.from([[0.5, 0.5]])).toNested(); // [[5, 20]]
 * new MinMaxScaler({ perFeature: false }).fitTransform(x); // (x - 0) / (30 - 0): one range for all
 * ```
 */
export class MinMaxScaler extends FeatureScaler {
  /** The target range. */
  readonly featureRange: readonly [number, number];
  /** Per-feature training minimum; null before `fit`. */
  dataMin: Float64Array | null = null;
  /** Per-feature training maximum; null before `fit`. */
  dataMax: Float64Array | null = null;

  /** @param options `featureRange` (default [0, 1]); `perFeature` (default true) */
  constructor(options: { featureRange?: readonly [number, number]; perFeature?: boolean } = {}) {
    super(options.perFeature ?? true);
    this.featureRange = options.featureRange ?? [0, 1];
    if (!(this.featureRange[0] < this.featureRange[1])) {
      throw new RangeError(`featureRange must be increasing, got [${this.featureRange.join(", ")}]`);
    }
  }

  protected fitFeatures(x: FloatArray, rows: number, f: number): void {
    if (rows === 0) throw new RangeError("MinMaxScaler.fit needs at least one row");
    const min = new Float64Array(f).fill(Number.POSITIVE_INFINITY);
    const max = new Float64Array(f).fill(Number.NEGATIVE_INFINITY);
    for (let i = 0; i < x.length; i++) {
      const k = i % f;
      const v = x[i]!;
      if (v < min[k]!) min[k] = v;
      if (v > max[k]!) max[k] = v;
    }
    const [lo, hi] = this.featureRange;
    this.dataMin = min;
    this.dataMax = max;
    this.scale = new Float64Array(f);
    this.offset = new Float64Array(f);
    for (let k = 0; k < f; k++) {
      const range = max[k]! - min[k]! || 1;
      this.scale[k] = (hi - lo) / range;
      this.offset[k] = lo - min[k]! * this.scale[k]!;
    }
  }
}

/**
 * Standardisation (sklearn's `StandardScaler`): `(x - mean) / std` per feature, with the population
 * standard deviation of the training data; a constant feature is only centred. After `fit`, `mean`
 * and `std` hold the training statistics; fit on the training split only, then transform every split.
 *
 * @example
 * ```ts
 * import { makeMoons, StandardScaler, trainTestSplit } from "@gradgraph/datasets";
 *
 * const { x, y } = makeMoons({ nSamples: 200, noise: 0.2, seed: 0 });
 * const { xTrain, xTest } = trainTestSplit(x, y, { testSize: 0.25, seed: 0 });
 * const scaler = new StandardScaler();
 * const train = scaler.fitTransform(xTrain); // fit on the training rows only
 * const test = scaler.transform(xTest); // the same map on the test rows
 * console.log(scaler.mean, scaler.std); // per-feature training statistics
 * ```
 */
export class StandardScaler extends FeatureScaler {
  /** Per-feature training mean; null before `fit`. */
  mean: Float64Array | null = null;
  /** Per-feature training standard deviation (ddof 0); null before `fit`. */
  std: Float64Array | null = null;

  /** @param options `perFeature` (default true) */
  constructor(options: { perFeature?: boolean } = {}) {
    super(options.perFeature ?? true);
  }

  protected fitFeatures(x: FloatArray, rows: number, f: number): void {
    if (rows === 0) throw new RangeError("StandardScaler.fit needs at least one row");
    const mean = new Float64Array(f);
    const m2 = new Float64Array(f);
    for (let i = 0; i < x.length; i++) mean[i % f] += x[i]!;
    for (let k = 0; k < f; k++) mean[k] /= rows;
    for (let i = 0; i < x.length; i++) {
      const d = x[i]! - mean[i % f]!;
      m2[i % f] += d * d;
    }
    this.mean = mean;
    this.std = m2.map((s) => Math.sqrt(s / rows));
    this.scale = this.std.map((s) => 1 / (s || 1));
    this.offset = mean.map((m, k) => -m * this.scale![k]!);
  }
}
