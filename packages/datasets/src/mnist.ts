/**
 * MNIST from the original IDX files, with the standard 60,000/10,000 split or the tutorials'
 * 50,000/10,000/10,000 split.
 * @module
 */
import { type DType, Tensor } from "@gradgraph/core";
import type { BytesLike } from "./bytes.js";
import { fmt } from "./bytes.js";
import { DatasetError } from "./errors.js";
import { parseMnistImages, parseMnistLabels } from "./idx.js";
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
}

/** File names used in error messages, by role (defaults: the standard names, e.g. `train-images-idx3-ubyte.gz`). */
export type MnistFileNames = { [K in keyof MnistBytes]?: string };

/**
 * Parses an image file and its label file and checks that they hold the same number of items.
 * `x` has shape `[n, 784]` with pixels in [0, 1]; `images` is the `[n, 28, 28]` view of the same data.
 * @throws DatasetError naming the files on any format problem or when the counts differ
 */
export function parseMnistSet(
  imageBytes: BytesLike,
  labelBytes: BytesLike,
  options: { imageFile?: string; labelFile?: string; dtype?: DType; maxBytes?: number } = {},
): ImageSet {
  const imageFile = options.imageFile ?? "<mnist images>";
  const labelFile = options.labelFile ?? "<mnist labels>";
  const { maxBytes } = options;
  const y = parseMnistLabels(labelBytes, { file: labelFile, maxBytes });
  const x = parseMnistImages(imageBytes, { file: imageFile, dtype: options.dtype ?? "float32", maxBytes });
  const n = x.shape[0]!;
  if (n !== y.length) {
    throw new DatasetError(
      "count-mismatch",
      `${imageFile} + ${labelFile}`,
      `image/label count mismatch: ${fmt(n)} images but ${fmt(y.length)} labels`,
    );
  }
  return imageSet(x, y);
}

/** Wraps rows `[start, end)` of `x`/`y` (views, no copy) as an {@link ImageSet} of 28x28 images. */
function imageSet(x: Tensor, y: Uint8Array, start = 0, end = y.length): ImageSet {
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
 * Applies a named split to parsed training and test sets. The validation split takes views of the
 * training data (no copy).
 */
export function splitMnist<S extends MnistSplit = "train-test">(
  train: ImageSet,
  test: ImageSet,
  options: MnistOptions<S> = {},
): MnistSplits<S> {
  const split: MnistSplit = options.split ?? "train-test";
  if (split === "train-test") return { train, test } as MnistSplits<S>;
  if (split !== "train-validation-test") {
    throw new RangeError(
      `unknown MNIST split '${split as string}': expected "train-test" or "train-validation-test"`,
    );
  }
  const n = train.y.length;
  const v = options.validationSize ?? 10_000;
  if (!Number.isInteger(v) || v <= 0 || v >= n) {
    throw new RangeError(`validationSize must be an integer in 1..${n - 1}, got ${v}`);
  }
  const result: MnistTrainValidationTest = {
    train: imageSet(train.x, train.y, 0, n - v),
    validation: imageSet(train.x, train.y, n - v, n),
    test,
  };
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
  const train = parseMnistSet(files.trainImages, files.trainLabels, {
    imageFile: names.trainImages,
    labelFile: names.trainLabels,
    dtype,
    maxBytes,
  });
  const test = parseMnistSet(files.testImages, files.testLabels, {
    imageFile: names.testImages,
    labelFile: names.testLabels,
    dtype,
    maxBytes,
  });
  return splitMnist(train, test, options);
}
