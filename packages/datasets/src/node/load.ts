/**
 * One-call loaders: locate (or download) the files, read, verify and parse them.
 * @module
 */
import type { DType } from "@gradgraph/core";
import { parseDigits } from "../digits.js";
import { type Ex4Data, type Ex4Weights, ex4FromMnist, parseEx4Data, parseEx4Weights } from "../ex4.js";
import { DATASET_FILES } from "../manifest.js";
import { type MnistOptions, type MnistSplit, type MnistSplits, parseMnistSet, splitMnist } from "../mnist.js";
import type { ImageSet } from "../types.js";
import { type LoadedFile, type LoadOptions, readDataFile, readFiles } from "./files.js";

/** Parses the images and labels of one MNIST part ("train" or "t10k") from loaded files. */
function mnistPart(files: ReadonlyMap<string, LoadedFile>, part: "train" | "t10k", dtype?: DType): ImageSet {
  const images = files.get(`mnist/${part}-images-idx3-ubyte.gz`)!;
  const labels = files.get(`mnist/${part}-labels-idx1-ubyte.gz`)!;
  return parseMnistSet(images.content, labels.content, {
    imageFile: images.path,
    labelFile: labels.path,
    dtype,
  });
}

/**
 * Loads MNIST: 60,000 training and 10,000 test images as `[n, 784]` float tensors in [0, 1] (plus
 * `[n, 28, 28]` views) with `Uint8Array` labels; `split: "train-validation-test"` gives the tutorials'
 * 50,000/10,000/10,000 split.
 * @example
 * const { train, validation, test } = await loadMnist({ split: "train-validation-test" });
 */
export async function loadMnist<S extends MnistSplit = "train-test">(
  options: LoadOptions & MnistOptions<S> = {},
): Promise<MnistSplits<S>> {
  const files = await readFiles(DATASET_FILES.mnist, options);
  return splitMnist(
    mnistPart(files, "train", options.dtype),
    mnistPart(files, "t10k", options.dtype),
    options,
  );
}

/**
 * Loads scikit-learn's digits: `x` `[1797, 64]` with values 0..16, `images` `[1797, 8, 8]`, `y` 0..9.
 */
export async function loadDigits(options: LoadOptions & { dtype?: DType } = {}): Promise<ImageSet> {
  const file = (await readFiles(DATASET_FILES.digits, options)).get("sklearn-digits/digits.csv.gz")!;
  return parseDigits(file.content, { file: file.path, dtype: options.dtype ?? "float32" });
}

/** Options of {@link loadEx4}. */
export interface Ex4LoadOptions extends LoadOptions {
  /** Path of the course's `ex4data1.mat`; without it the set is derived from MNIST. */
  path?: string;
  /** Element type of `x` (default `"float32"`). */
  dtype?: DType;
  /** Images per digit when deriving from MNIST (default 500). */
  perClass?: number;
}

/**
 * Loads the ex4 digits: from the course's `ex4data1.mat` when `path` is given, else derived from the MNIST
 * training files (first 500 images of each digit, downsampled to 20x20, see `ex4FromMnist`). Either way
 * `x` is `[5000, 400]` (column-major 20x20 images) and `y` is 1..10 with 10 meaning digit 0.
 */
export async function loadEx4(options: Ex4LoadOptions = {}): Promise<Ex4Data> {
  const dtype = options.dtype ?? "float32";
  if (options.path !== undefined) {
    return parseEx4Data(await readDataFile(options.path), {
      file: options.path,
      dtype,
      maxBytes: options.maxBytes,
    });
  }
  const trainSpecs = DATASET_FILES.mnist.filter((s) => s.path.startsWith("mnist/train-"));
  const train = mnistPart(await readFiles(trainSpecs, options), "train");
  return ex4FromMnist(train, { perClass: options.perClass ?? 500, dtype });
}

/**
 * Loads the course's pretrained weights `ex4weights.mat` (from `path`, or the data directory / download):
 * `theta1` `[25, 401]` and `theta2` `[10, 26]`, first column = bias.
 */
export async function loadEx4Weights(
  options: LoadOptions & { path?: string; dtype?: DType } = {},
): Promise<Ex4Weights> {
  const dtype = options.dtype ?? "float32";
  if (options.path !== undefined) {
    return parseEx4Weights(await readDataFile(options.path), {
      file: options.path,
      dtype,
      maxBytes: options.maxBytes,
    });
  }
  const file = (await readFiles(DATASET_FILES.ex4weights, options)).get("ng-ex4/ex4weights.mat")!;
  return parseEx4Weights(file.content, { file: file.path, dtype, maxBytes: options.maxBytes });
}
