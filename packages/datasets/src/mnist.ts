/**
 * MNIST from the original IDX files, with the standard 60,000/10,000 split or the tutorials'
 * 50,000/10,000/10,000 split.
 * @module
 */
import type { DType } from "@gradgraph/core";
import type { BytesLike } from "./bytes.js";
import { parseMnistImages, parseMnistLabels } from "./idx.js";
import { imageSet, keptLabels, keptRowIndices, rowsFor, splitKept, trainRows } from "./mnist-rows.js";
import type { ImageSet } from "./types.js";

const DEFAULT_NAMES = {
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
};

/** The contents of the four MNIST files (gzip'd or raw IDX). */
export interface MnistBytes {
  /** `train-images-idx3-ubyte(.gz)` */
  trainImages: BytesLike;
  /** `train-labels-idx1-ubyte(.gz)` */
  trainLabels: BytesLike;
  /** `t10k-images-idx3-ubyte(.gz)` */
  testImages: BytesLike;
  /** `t10k-labels-idx1-ubyte(.gz)` */
  testLabels: BytesLike;
}

/**
 * Named MNIST splits:
 * - `"train-test"`: the standard 60,000 training / 10,000 test images;
 * - `"train-validation-test"`: the tutorials' split: the first 50,000 training images for training,
 *   the last 10,000 of the training file for validation, the 10,000 t10k images for test.
 */
export type MnistSplit = "train-test" | "train-validation-test";

/** The standard split. */
export interface MnistTrainTest {
  /** 60,000 training images (or 50,000 with the validation split). */
  readonly train: ImageSet;
  /** The 10,000 t10k images. */
  readonly test: ImageSet;
}

/** The tutorials' split. */
export interface MnistTrainValidationTest extends MnistTrainTest {
  /** The last 10,000 images of the training file. */
  readonly validation: ImageSet;
}

/** The value for split `S`. */
export type MnistSplits<S extends MnistSplit> = S extends "train-validation-test"
  ? MnistTrainValidationTest
  : MnistTrainTest;

/** Options of the MNIST loaders. */
export interface MnistOptions<S extends MnistSplit = MnistSplit> {
  /** Which split to return (default `"train-test"`). */
  split?: S;
  /** Size of the validation set carved from the end of the training file (default 10,000). */
  validationSize?: number;
  /** Element type of the image tensors (default `"float32"`). */
  dtype?: DType;
  /**
   * Keep only the first `trainSize` training images (default: the whole training part: 60,000, or 50,000
   * with the validation split). `mnistFromBytes` and the Node loader `loadMnist` then decode only the
   * images the split keeps, so a smaller training set takes less memory; `splitMnist` takes views.
   */
  trainSize?: number;
}

/** File names used in error messages, by role (defaults: the standard names, e.g. `train-images-idx3-ubyte.gz`). */
export type MnistFileNames = { [K in keyof MnistBytes]?: string };

/**
 * Parses an image file and its label file and checks that they hold the same number of items.
 * `x` has shape `[n, 784]` with pixels in [0, 1]; `images` is the `[n, 28, 28]` view of the same data.
 * With `rows` (ascending indices), only those images and their labels are kept, in that order.
 * @throws DatasetError naming the files on any format problem or when the counts differ
 */
export function parseMnistSet(
  imageBytes: BytesLike,
  labelBytes: BytesLike,
  options: {
    imageFile?: string;
    labelFile?: string;
    dtype?: DType;
    maxBytes?: number;
    rows?: ArrayLike<number>;
  } = {},
): ImageSet {
  const imageFile = options.imageFile ?? "<mnist images>";
  const labelFile = options.labelFile ?? "<mnist labels>";
  const { maxBytes } = options;
  const y = parseMnistLabels(labelBytes, { file: labelFile, maxBytes });
  const rows = options.rows === undefined ? undefined : Int32Array.from(options.rows);
  const x = parseMnistImages(imageBytes, {
    file: imageFile,
    dtype: options.dtype ?? "float32",
    maxBytes,
    rows: rowsFor(y.length, rows, imageFile, labelFile),
  });
  return imageSet(x, keptLabels(y, rows));
}

/**
 * Applies a named split to parsed training and test sets. The validation split and `trainSize` take
 * views of the training data (no copy).
 */
export function splitMnist<S extends MnistSplit = "train-test">(
  train: ImageSet,
  test: ImageSet,
  options: MnistOptions<S> = {},
): MnistSplits<S> {
  const n = train.y.length;
  const rows = trainRows(n, options);
  const result: { train: ImageSet; validation?: ImageSet; test: ImageSet } = {
    train: rows.train === n ? train : imageSet(train.x, train.y, 0, rows.train),
    test,
  };
  if (rows.split === "train-validation-test") {
    result.validation = imageSet(train.x, train.y, n - rows.validation, n);
  }
  return result as MnistSplits<S>;
}

/**
 * Builds MNIST from the bytes of its four files (browser-safe: fetch the files yourself, or use
 * `loadMnist` from `@gradgraph/datasets/node`).
 * @param options the split, dtype, `names`: file names for error messages (default: the standard names),
 *   and `maxBytes`: the largest decompressed size of a gzip'd file (default 256 MiB; decompression also
 *   stops at the size each IDX header declares)
 */
export function mnistFromBytes<S extends MnistSplit = "train-test">(
  files: MnistBytes,
  options: MnistOptions<S> & { names?: MnistFileNames; maxBytes?: number } = {},
): MnistSplits<S> {
  const names = { ...DEFAULT_NAMES, ...options.names };
  const { maxBytes } = options;
  const dtype = options.dtype ?? "float32";
  // the training images the split keeps are the only ones decoded
  const y = parseMnistLabels(files.trainLabels, { file: names.trainLabels, maxBytes });
  const rows = trainRows(y.length, options);
  const indices = keptRowIndices(y.length, rows);
  const x = parseMnistImages(files.trainImages, {
    file: names.trainImages,
    dtype,
    maxBytes,
    rows: rowsFor(y.length, indices, names.trainImages, names.trainLabels),
  });
  const test = parseMnistSet(files.testImages, files.testLabels, {
    imageFile: names.testImages,
    labelFile: names.testLabels,
    dtype,
    maxBytes,
  });
  return splitKept({ x, y: keptLabels(y, indices) }, test, rows) as MnistSplits<S>;
}
