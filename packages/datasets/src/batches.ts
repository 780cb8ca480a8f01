/**
 * Mini-batches that reuse their buffers: a training loop feeds the same two tensors (inputs and targets)
 * to a compiled plan every step, refilled in place, so batching allocates nothing per batch.
 * @module
 */
import { allocArray, type DType, Rng, Tensor } from "@gradgraph/core";
import { oneHotInto } from "./preprocessing.js";

/** How class labels become the target tensor `y`: one-hot rows `[B, numClasses]` or the class index `[B]`. */
export type TargetKind = "onehot" | "index";

/** Options of {@link BatchIterator}. */
export interface BatchOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Visit the rows in a new seeded random order each epoch (default true); false keeps file order. */
  shuffle?: boolean;
  /** Seed of the shuffling generator (default 0). Ignored when `rng` is given. */
  seed?: number;
  /** A generator to shuffle with (advanced once per epoch). */
  rng?: Rng;
  /** Skip the last batch when it would be smaller than `batchSize` (default false). */
  dropLast?: boolean;
  /** For label targets: `"onehot"` (default) or `"index"`. Ignored when `y` is a tensor. */
  targets?: TargetKind;
  /** For one-hot targets: number of classes (default: the largest label + 1). */
  numClasses?: number;
  /** Element type of the batch tensors `x` and `y` (default: the dtype of the data's `x`). */
  dtype?: DType;
}

/**
 * One mini-batch. The iterator yields the same object (and the same tensors) for every full batch,
 * refilled in place: use or copy it before advancing. The last, smaller batch (when `dropLast` is false)
 * uses a second, equally reused set of tensors that are views on the first ones' buffers.
 */
export interface Batch {
  /** Inputs, `[size, ...features]`. */
  readonly x: Tensor;
  /** Targets: one-hot `[size, numClasses]`, class indices `[size]`, or rows of a target tensor. */
  readonly y: Tensor;
  /** The batch's labels when the data has labels, else `null`. */
  readonly labels: Uint8Array | null;
  /** Which rows of the data this batch holds, in order. */
  readonly indices: Int32Array;
  /** Number of rows (the batch size, or fewer for the last batch). */
  readonly size: number;
  /** Position of the batch within its epoch, from 0. */
  readonly index: number;
  /** The epoch (from 1) this batch belongs to. */
  readonly epoch: number;
}

interface MutableBatch {
  x: Tensor;
  y: Tensor;
  labels: Uint8Array | null;
  indices: Int32Array;
  size: number;
  index: number;
  epoch: number;
}

/**
 * Iterates over mini-batches of labelled data, one epoch per call of {@link BatchIterator.batches} (or per
 * `for ... of` loop over the iterator).
 * @example
 * const it = new BatchIterator(mnist.train, { batchSize: 10, seed: 1 });
 * for (let epoch = 0; epoch < 30; epoch++) {
 *   for (const b of it) plan.run({ x: b.x, y: b.y }); // b.x, b.y are the same tensors every step
 * }
 */
export class BatchIterator implements Iterable<Batch> {
  /** Rows per full batch. */
  readonly batchSize: number;
  /** Number of rows of the data. */
  readonly numSamples: number;
  /** Batches per epoch. */
  readonly numBatches: number;
  /** Number of classes of one-hot targets (0 when targets are indices or a tensor). */
  readonly numClasses: number;
  private readonly x: Tensor;
  private readonly y: Uint8Array | Tensor;
  private readonly rowSize: number;
  private readonly targetSize: number;
  private readonly kind: TargetKind | "tensor";
  private readonly shuffle: boolean;
  private readonly rng: Rng;
  private readonly order: Int32Array;
  private readonly full: MutableBatch;
  private last: MutableBatch | null = null;
  private epochs = 0;

  /**
   * @param data `x` with one row per sample and `y` as class labels (`Uint8Array`) or a target tensor
   *   with the same number of rows (e.g. `mnist.train`, `makeMoons()`, the result of `trainTestSplit`)
   */
  constructor(data: { readonly x: Tensor; readonly y: Uint8Array | Tensor }, options: BatchOptions) {
    const { x, y } = data;
    const n = x.shape[0];
    if (n === undefined) throw new RangeError("BatchIterator needs x of rank >= 1");
    const b = options.batchSize;
    if (!Number.isInteger(b) || b < 1) throw new RangeError(`batchSize must be a positive integer, got ${b}`);
    const ny = y instanceof Tensor ? y.shape[0] : y.length;
    if (ny !== n) throw new RangeError(`x has ${n} rows but y has ${ny}`);
    this.x = x;
    this.y = y;
    this.numSamples = n;
    this.batchSize = b;
    this.rowSize = n === 0 ? 0 : x.size / n;
    this.numBatches = options.dropLast ? Math.floor(n / b) : Math.ceil(n / b);
    this.shuffle = options.shuffle ?? true;
    this.rng = options.rng ?? new Rng(options.seed ?? 0);
    this.order = Int32Array.from({ length: n }, (_, i) => i);
    const dtype = options.dtype ?? x.dtype;
    let yShape: number[];
    if (y instanceof Tensor) {
      this.kind = "tensor";
      this.numClasses = 0;
      this.targetSize = n === 0 ? 0 : y.size / n;
      yShape = [...y.shape.slice(1)];
    } else {
      this.kind = options.targets ?? "onehot";
      if (this.kind !== "onehot" && this.kind !== "index") {
        throw new RangeError(`targets must be "onehot" or "index", got ${String(this.kind)}`);
      }
      let max = -1;
      for (let i = 0; i < n; i++) max = Math.max(max, y[i]!);
      const k = options.numClasses ?? max + 1;
      if (this.kind === "onehot" && max >= k) {
        throw new RangeError(`numClasses is ${k} but the data has label ${max}`);
      }
      this.numClasses = this.kind === "onehot" ? k : 0;
      this.targetSize = this.kind === "onehot" ? k : 1;
      yShape = this.kind === "onehot" ? [k] : [];
    }
    this.full = {
      x: new Tensor([b, ...x.shape.slice(1)], allocArray(dtype, b * this.rowSize)),
      y: new Tensor([b, ...yShape], allocArray(dtype, b * this.targetSize)),
      labels: y instanceof Tensor ? null : new Uint8Array(b),
      indices: this.order.subarray(0, 0),
      size: b,
      index: 0,
      epoch: 0,
    };
  }

  /** Number of epochs started so far. */
  get epoch(): number {
    return this.epochs;
  }

  /** The reused batch for `size` rows: the full one, or the (lazily made) views for the last batch. */
  private batchOf(size: number): MutableBatch {
    if (size === this.batchSize) return this.full;
    if (this.last?.size !== size) {
      const f = this.full;
      this.last = {
        x: new Tensor([size, ...f.x.shape.slice(1)], f.x.data.subarray(0, size * this.rowSize)),
        y: new Tensor([size, ...f.y.shape.slice(1)], f.y.data.subarray(0, size * this.targetSize)),
        labels: f.labels ? f.labels.subarray(0, size) : null,
        indices: f.indices,
        size,
        index: 0,
        epoch: 0,
      };
    }
    return this.last;
  }

  /**
   * Starts a new epoch (reshuffling when `shuffle` is on) and yields its batches. Breaking out early
   * ends the epoch; the next call starts another.
   */
  *batches(): Generator<Batch, void, undefined> {
    const epoch = ++this.epochs;
    const order = this.order;
    if (this.shuffle) {
      for (let i = 0; i < order.length; i++) order[i] = i;
      this.rng.shuffle(order);
    }
    const { rowSize: f, targetSize: t, x, y, kind } = this;
    const src = x.data;
    for (let bi = 0; bi < this.numBatches; bi++) {
      const start = bi * this.batchSize;
      const size = Math.min(this.batchSize, this.numSamples - start);
      const batch = this.batchOf(size);
      const xb = batch.x.data;
      const yb = batch.y.data;
      const indices = order.subarray(start, start + size);
      for (let i = 0; i < size; i++) {
        const r = indices[i]!;
        const s = r * f;
        const o = i * f;
        for (let k = 0; k < f; k++) xb[o + k] = src[s + k]!;
      }
      if (y instanceof Tensor) {
        const ys = y.data;
        for (let i = 0; i < size; i++) {
          const s = indices[i]! * t;
          for (let k = 0; k < t; k++) yb[i * t + k] = ys[s + k]!;
        }
      } else {
        const labels = batch.labels!;
        for (let i = 0; i < size; i++) labels[i] = y[indices[i]!]!;
        if (kind === "onehot") oneHotInto(yb, labels, t);
        else for (let i = 0; i < size; i++) yb[i] = labels[i]!;
      }
      batch.indices = indices;
      batch.index = bi;
      batch.epoch = epoch;
      yield batch;
    }
  }

  /** Same as {@link BatchIterator.batches}: `for (const b of iterator)` runs one epoch. */
  [Symbol.iterator](): Iterator<Batch> {
    return this.batches();
  }
}
