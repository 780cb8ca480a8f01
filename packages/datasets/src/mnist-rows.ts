/**
 * Internal helpers of the MNIST loaders (not re-exported from the package index): which rows of the
 * training file a split keeps, the image/label count check, and assembling a split from a training set
 * decoded with only those rows.
 * @module
 */
import { Tensor } from "@gradgraph/core";
import { fmt } from "./bytes.js";
import { DatasetError } from "./errors.js";
import type { ImageSet } from "./types.js";

/** Named MNIST splits (see `MnistSplit` in `mnist.ts`). */
type Split = "train-test" | "train-validation-test";

/** The split options these helpers read. */
export interface SplitOptions {
  /** Which split (default `"train-test"`). */
  split?: Split;
  /** Validation images carved from the end of the training file (default 10,000). */
  validationSize?: number;
  /** Training images kept from the start of the training file (default: all of the training part). */
  trainSize?: number;
}

/** How many rows of an `n`-image training file a split keeps: the first `train`, and the last `validation`. */
export interface TrainRows {
  /** The split. */
  readonly split: Split;
  /** Training images: rows `[0, train)`. */
  readonly train: number;
  /** Validation images: rows `[n - validation, n)` (0 for `"train-test"`). */
  readonly validation: number;
}

/**
 * The rows of an `n`-image training file that `options` keep.
 * @throws RangeError on an unknown split, or a `validationSize` or `trainSize` that is not a valid count
 */
export function trainRows(n: number, options: SplitOptions = {}): TrainRows {
  const split: Split = options.split ?? "train-test";
  if (split !== "train-test" && split !== "train-validation-test") {
    throw new RangeError(
      `unknown MNIST split '${split as string}': expected "train-test" or "train-validation-test"`,
    );
  }
  let validation = 0;
  if (split === "train-validation-test") {
    validation = options.validationSize ?? 10_000;
    if (!Number.isInteger(validation) || validation <= 0 || validation >= n) {
      throw new RangeError(`validationSize must be an integer in 1..${n - 1}, got ${validation}`);
    }
  }
  const t = options.trainSize;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
    throw new RangeError(`trainSize must be an integer >= 1, got ${t}`);
  }
  return { split, train: Math.min(t ?? n, n - validation), validation };
}

/** The indices of the kept rows, ascending, or undefined when every row is kept. */
export function keptRowIndices(n: number, rows: TrainRows): Int32Array | undefined {
  if (rows.train + rows.validation >= n) return undefined;
  const out = new Int32Array(rows.train + rows.validation);
  for (let i = 0; i < rows.train; i++) out[i] = i;
  for (let i = 0; i < rows.validation; i++) out[rows.train + i] = n - rows.validation + i;
  return out;
}

/** The labels of the kept rows (the labels themselves when every row is kept). */
export function keptLabels(y: Uint8Array, indices: Int32Array | undefined): Uint8Array {
  if (!indices) return y;
  const out = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = y[indices[i]!]!;
  return out;
}

/** The `count-mismatch` error of an image file and a label file that hold different numbers of items. */
export function countMismatch(
  images: number,
  labels: number,
  imageFile: string,
  labelFile: string,
): DatasetError {
  return new DatasetError(
    "count-mismatch",
    `${imageFile} + ${labelFile}`,
    `image/label count mismatch: ${fmt(images)} images but ${fmt(labels)} labels`,
  );
}

/**
 * For an image decoder's `rows` option: checks the count the image header declares against the number of
 * labels, then returns the rows to keep.
 */
export function rowsFor(
  labels: number,
  indices: Int32Array | undefined,
  imageFile: string,
  labelFile: string,
): (count: number) => Int32Array | undefined {
  return (count) => {
    if (count !== labels) throw countMismatch(count, labels, imageFile, labelFile);
    return indices;
  };
}

/** Wraps rows `[start, end)` of `x`/`y` (views, no copy) as an {@link ImageSet} of square images. */
export function imageSet(x: Tensor, y: Uint8Array, start = 0, end = y.length): ImageSet {
  const f = x.shape[1]!;
  const side = Math.round(Math.sqrt(f));
  const data = x.data.subarray(start * f, end * f);
  const n = end - start;
  return {
    x: new Tensor([n, f], data),
    y: y.subarray(start, end),
    images: new Tensor([n, side, side], data),
  };
}

/**
 * The split's sets from a training set that holds exactly the kept rows (the first `rows.train`, then
 * the `rows.validation` validation rows), as views.
 */
export function splitKept(
  kept: { x: Tensor; y: Uint8Array },
  test: ImageSet,
  rows: TrainRows,
): { train: ImageSet; validation?: ImageSet; test: ImageSet } {
  const train = imageSet(kept.x, kept.y, 0, rows.train);
  if (rows.split === "train-test") return { train, test };
  return { train, validation: imageSet(kept.x, kept.y, rows.train, rows.train + rows.validation), test };
}
