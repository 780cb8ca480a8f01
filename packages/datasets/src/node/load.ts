/**
 * One-call loaders: locate (or download) the files, read, verify and parse them.
 * @module
 */
import type { DType, Tensor } from "@gradgraph/core";
import { parseDigits } from "../digits.js";
import { type Ex4Data, type Ex4Weights, ex4FromMnist, parseEx4Data, parseEx4Weights } from "../ex4.js";
import { plausibleOutputBytes } from "../gzip.js";
import { MnistImageDecoder, parseMnistLabels } from "../idx.js";
import { DATASET_FILES, type DataFileSpec } from "../manifest.js";
import type { MnistOptions, MnistSplit, MnistSplits } from "../mnist.js";
import { imageSet, keptLabels, keptRowIndices, rowsFor, splitKept, trainRows } from "../mnist-rows.js";
import type { ImageSet } from "../types.js";
import {
  contentLimits,
  ensureFiles,
  type LoadOptions,
  readDataFile,
  readFiles,
  streamDataFile,
} from "./files.js";

type MnistPart = "train" | "t10k";

/** The spec and local path of one MNIST file. */
function mnistFile(paths: ReadonlyMap<string, string>, part: MnistPart, kind: "images" | "labels") {
  const key = `mnist/${part}-${kind}-idx${kind === "images" ? 3 : 1}-ubyte.gz`;
  const spec = DATASET_FILES.mnist.find((s) => s.path === key)!;
  return { spec, path: paths.get(key)! };
}

/** Reads and parses one MNIST label file (small: read whole, as every file is by `readFiles`). */
async function mnistLabels(
  spec: DataFileSpec,
  options: LoadOptions,
): Promise<{ y: Uint8Array; path: string }> {
  const file = (await readFiles([spec], options)).get(spec.path)!;
  return { y: parseMnistLabels(file.content, { file: file.path }), path: file.path };
}

/**
 * Decodes one MNIST image file straight into the final float array, streaming it from disk: a gzip'd
 * file goes through zlib chunk by chunk, so neither the file nor its decompressed bytes are ever held
 * whole (see `streamDataFile`). `rows` picks the images to keep (see `MnistImageDecoder`).
 */
async function mnistImages(
  spec: DataFileSpec,
  path: string,
  options: LoadOptions,
  dtype: DType | undefined,
  rows: (count: number) => ArrayLike<number> | undefined,
): Promise<Tensor> {
  let decoder: MnistImageDecoder | undefined;
  await streamDataFile(
    path,
    (file) => {
      decoder = new MnistImageDecoder({
        file: path,
        dtype,
        rows,
        plausibleBytes: file.gzip ? plausibleOutputBytes(file.size) : file.size,
      });
      const d = decoder;
      return (chunk) => d.push(chunk);
    },
    { limits: contentLimits(spec, path, options), ...(options.verify ? { verify: spec } : {}) },
  );
  return decoder!.finish();
}

/**
 * Loads MNIST: 60,000 training and 10,000 test images as `[n, 784]` float tensors in [0, 1] (plus
 * `[n, 28, 28]` views) with `Uint8Array` labels; `split: "train-validation-test"` gives the tutorials'
 * 50,000/10,000/10,000 split, and `trainSize` keeps only the first training images.
 *
 * Memory: the label files are read first; then each image file in turn is streamed from disk through
 * zlib straight into its float tensor (neither the file nor its decompressed bytes are held whole), and
 * only the training images the split keeps are stored (`trainSize: 1000` with the validation split holds
 * 11,000 training-file images, not 60,000). The result is all that stays: 4 bytes per pixel in float32
 * (209 MiB for all 70,000 images), and loading peaks a few MiB above it.
 * @example
 * const { train, validation, test } = await loadMnist({ split: "train-validation-test" });
 */
export async function loadMnist<S extends MnistSplit = "train-test">(
  options: LoadOptions & MnistOptions<S> = {},
): Promise<MnistSplits<S>> {
  const paths = await ensureFiles(DATASET_FILES.mnist, options);
  const files = {
    trainImages: mnistFile(paths, "train", "images"),
    trainLabels: mnistFile(paths, "train", "labels"),
    testImages: mnistFile(paths, "t10k", "images"),
    testLabels: mnistFile(paths, "t10k", "labels"),
  };
  const [train, test] = await Promise.all([
    mnistLabels(files.trainLabels.spec, options),
    mnistLabels(files.testLabels.spec, options),
  ]);
  const rows = trainRows(train.y.length, options);
  const kept = keptRowIndices(train.y.length, rows);
  const { dtype } = options;
  // one file after the other: decoding both at once left twice the short-lived zlib chunks waiting for a
  // collection next to the floats (a 10-30 MiB higher and more variable peak), for little time saved
  const xTrain = await mnistImages(
    files.trainImages.spec,
    files.trainImages.path,
    options,
    dtype,
    rowsFor(train.y.length, kept, files.trainImages.path, train.path),
  );
  const xTest = await mnistImages(
    files.testImages.spec,
    files.testImages.path,
    options,
    dtype,
    rowsFor(test.y.length, undefined, files.testImages.path, test.path),
  );
  const testSet = imageSet(xTest, test.y);
  return splitKept({ x: xTrain, y: keptLabels(train.y, kept) }, testSet, rows) as MnistSplits<S>;
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
  const perClass = options.perClass ?? 500;
  const paths = await ensureFiles(
    DATASET_FILES.mnist.filter((s) => s.path.startsWith("mnist/train-")),
    options,
  );
  const images = mnistFile(paths, "train", "images");
  const labels = await mnistLabels(mnistFile(paths, "train", "labels").spec, options);
  // Only the images ex4FromMnist picks (the first perClass of each digit, in file order) are decoded:
  // 5,000 rows instead of 60,000; picking again from them selects the same images in the same order.
  const picked: number[] = [];
  const seen = new Array<number>(10).fill(0);
  for (let i = 0; i < labels.y.length; i++) {
    const d = labels.y[i]!;
    if (seen[d]! < perClass) {
      seen[d]!++;
      picked.push(i);
    }
  }
  const rows = Int32Array.from(picked);
  const x = await mnistImages(
    images.spec,
    images.path,
    options,
    "float32",
    rowsFor(labels.y.length, rows, images.path, labels.path),
  );
  return ex4FromMnist({ x, y: keptLabels(labels.y, rows) }, { perClass, dtype });
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
