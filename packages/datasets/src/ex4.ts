/**
 * The digits of Andrew Ng's machine-learning course, exercise 4 (ex4): 5,000 20x20 grayscale images,
 * 500 per digit, each unrolled column-major into a row of 400 values, labels 1..10 where 10 means the
 * digit 0; and the course's pretrained weights Theta1 (25x401) and Theta2 (10x26).
 *
 * The course's `ex4data1.mat` is not redistributed with gradgraph. {@link parseEx4Data} reads it when you
 * have it; {@link ex4FromMnist} builds a set of the same shape and conventions from MNIST.
 * @module
 */
import { allocArray, type DType, Tensor } from "@gradgraph/core";
import type { BytesLike } from "./bytes.js";
import { fmt } from "./bytes.js";
import { DatasetError } from "./errors.js";
import { matMatrix, readMat } from "./mat.js";
import type { LabeledData } from "./types.js";

/** The ex4 digits: `x` `[m, 400]` (column-major 20x20 images), `y` in 1..10 (10 = digit 0). */
export interface Ex4Data extends LabeledData {
  /** Where the data came from: the course's `ex4data1.mat`, or derived from MNIST by {@link ex4FromMnist}. */
  readonly source: "ex4data1.mat" | "mnist";
}

/** Options shared by the ex4 parsers. */
export interface Ex4Options {
  /** File name used in error messages. */
  file?: string;
  /** Element type of the returned tensors (default `"float32"`; the files hold doubles). */
  dtype?: DType;
  /** Limit on what the MAT-file may decode, in bytes (default 256 MiB; see `MatOptions.maxBytes`). */
  maxBytes?: number;
}

/**
 * Reads the course's `ex4data1.mat` (or `ex3data1.mat`): variables `X` (m x 400) and `y` (m x 1, values
 * 1..10). `x` keeps the course's layout: row i is `X(i, :)`, a 20x20 image unrolled column-major (see
 * {@link ex4Images} for a row-major view).
 * @throws DatasetError on a missing variable, a wrong shape, a label outside 1..10 or differing row counts
 */
export function parseEx4Data(bytes: BytesLike, options: Ex4Options = {}): Ex4Data {
  const file = options.file ?? "ex4data1.mat";
  const mat = readMat(bytes, { file, maxBytes: options.maxBytes });
  const x = matMatrix(mat, "X", { cols: 400, dtype: options.dtype ?? "float32" });
  const yv = matMatrix(mat, "y", { dtype: "float64" });
  const [r, c] = yv.shape as [number, number];
  if (r !== 1 && c !== 1) {
    throw new DatasetError("bad-shape", file, `variable 'y': expected a vector (m x 1), found ${r}x${c}`);
  }
  const m = x.shape[0]!;
  if (yv.size !== m) {
    throw new DatasetError(
      "count-mismatch",
      file,
      `'X' has ${fmt(m)} rows but 'y' has ${fmt(yv.size)} labels`,
    );
  }
  const y = new Uint8Array(m);
  for (let i = 0; i < m; i++) {
    const v = yv.data[i]!;
    if (!Number.isInteger(v) || v < 1 || v > 10) {
      throw new DatasetError(
        "bad-value",
        file,
        `y(${i + 1}): expected a label 1..10 (10 = digit 0), found ${v}`,
      );
    }
    y[i] = v;
  }
  return { x, y, source: "ex4data1.mat" };
}

/** Maps ex4 labels 1..10 to digits 0..9 (10 becomes 0). Returns a new array. */
export function ex4LabelsToDigits(y: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 1 || v > 10)
      throw new RangeError(`ex4 label ${i}: expected 1..10, found ${v}`);
    out[i] = v % 10;
  }
  return out;
}

/** Maps digits 0..9 to ex4 labels 1..10 (0 becomes 10). Returns a new array. */
export function digitsToEx4Labels(y: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 9)
      throw new RangeError(`digit label ${i}: expected 0..9, found ${v}`);
    out[i] = v === 0 ? 10 : v;
  }
  return out;
}

/**
 * Turns ex4 rows (`[m, side*side]`, each image unrolled column-major as in MATLAB) into row-major images
 * `[m, side, side]` (a transposed copy), so that `images.get(k, r, c)` is the pixel at row r, column c.
 * @param side image height and width (default 20)
 */
export function ex4Images(x: Tensor, side = 20): Tensor {
  const [m, f] = x.shape as [number, number];
  if (x.rank !== 2 || f !== side * side) {
    throw new RangeError(`ex4Images expects shape [m, ${side * side}], got [${x.shape.join(",")}]`);
  }
  const out = allocArray(x.dtype, m * f);
  const src = x.data;
  for (let k = 0; k < m; k++) {
    const o = k * f;
    for (let r = 0; r < side; r++)
      for (let c = 0; c < side; c++) out[o + r * side + c] = src[o + c * side + r]!;
  }
  return new Tensor([m, side, side], out);
}

/**
 * For each output index (0..dst-1), the source pixels it overlaps and their weights (area fractions that
 * sum to 1): the 1-D factor of area-averaging resampling from `src` to `dst` pixels.
 */
function areaWeights(src: number, dst: number): { start: Int32Array; weights: Float64Array[] } {
  const start = new Int32Array(dst);
  const weights: Float64Array[] = [];
  for (let i = 0; i < dst; i++) {
    // i * src / dst keeps integer boundaries exact (5 * 28 / 20 is exactly 7).
    const lo = (i * src) / dst;
    const hi = ((i + 1) * src) / dst;
    const first = Math.floor(lo);
    const last = Math.min(src - 1, Math.ceil(hi) - 1);
    const w = new Float64Array(last - first + 1);
    for (let k = first; k <= last; k++) w[k - first] = ((Math.min(hi, k + 1) - Math.max(lo, k)) * dst) / src;
    start[i] = first;
    weights.push(w);
  }
  return { start, weights };
}

/** Options of {@link ex4FromMnist}. */
export interface Ex4FromMnistOptions {
  /** Images per digit (default 500, giving 5,000 rows as in the course). */
  perClass?: number;
  /** Element type of `x` (default `"float32"`). */
  dtype?: DType;
}

/**
 * Builds an ex4-shaped set from MNIST training data (`x` `[n, 784]` in [0, 1], `y` digits 0..9), as a
 * substitute for the course's `ex4data1.mat`:
 * - the first `perClass` (500) images of each digit in training-file order;
 * - rows grouped by label in the course's order: digit 0 (label 10) first, then 1, 2, ..., 9;
 * - each image downsampled 28x28 -> 20x20 by area averaging (each output pixel is the mean of the 1.4x1.4
 *   source area it covers), values in [0, 1];
 * - unrolled column-major (`x[k, c * 20 + r]` is the pixel at row r, column c), labels 1..10.
 */
export function ex4FromMnist(train: LabeledData, options: Ex4FromMnistOptions = {}): Ex4Data {
  const per = options.perClass ?? 500;
  const [n, f] = train.x.shape as [number, number];
  if (train.x.rank !== 2 || f !== 784) {
    throw new RangeError(
      `ex4FromMnist expects MNIST rows of shape [n, 784], got [${train.x.shape.join(",")}]`,
    );
  }
  // Pick the first `per` rows of each digit, in file order.
  const picked: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < n; i++) {
    const list = picked[train.y[i]!];
    if (list && list.length < per) list.push(i);
  }
  for (let d = 0; d < 10; d++) {
    if (picked[d]!.length < per) {
      throw new DatasetError(
        "count-mismatch",
        undefined,
        `ex4FromMnist: expected ${per} training images of digit ${d}, found ${picked[d]!.length}`,
      );
    }
  }
  const { start, weights } = areaWeights(28, 20);
  const x = allocArray(options.dtype ?? "float32", 10 * per * 400);
  const y = new Uint8Array(10 * per);
  const src = train.x.data;
  const tmp = new Float64Array(28 * 20); // rows of the source, columns already resampled
  let row = 0;
  for (const d of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) {
    for (const i of picked[d]!) {
      const img = i * 784;
      for (let r = 0; r < 28; r++) {
        for (let c = 0; c < 20; c++) {
          const w = weights[c]!;
          const s = img + r * 28 + start[c]!;
          let acc = 0;
          for (let k = 0; k < w.length; k++) acc += w[k]! * src[s + k]!;
          tmp[r * 20 + c] = acc;
        }
      }
      const o = row * 400;
      for (let r = 0; r < 20; r++) {
        const w = weights[r]!;
        const s = start[r]!;
        for (let c = 0; c < 20; c++) {
          let acc = 0;
          for (let k = 0; k < w.length; k++) acc += w[k]! * tmp[(s + k) * 20 + c]!;
          x[o + c * 20 + r] = Math.min(1, Math.max(0, acc));
        }
      }
      y[row] = d === 0 ? 10 : d;
      row++;
    }
  }
  return { x: new Tensor([10 * per, 400], x), y, source: "mnist" };
}

/** The course's pretrained ex4 weights; the first column of each is the bias. */
export interface Ex4Weights {
  /** Theta1, `[25, 401]`: input (400 pixels + bias) to 25 hidden units. */
  readonly theta1: Tensor;
  /** Theta2, `[10, 26]`: hidden (25 + bias) to 10 outputs (output k is label k, 10 = digit 0). */
  readonly theta2: Tensor;
}

/**
 * Reads the course's `ex4weights.mat`: `Theta1` 25x401 and `Theta2` 10x26, returned row-major
 * (`theta1.get(i, j)` is MATLAB's `Theta1(i+1, j+1)`).
 * @throws DatasetError when a variable is missing or has another shape
 */
export function parseEx4Weights(bytes: BytesLike, options: Ex4Options = {}): Ex4Weights {
  const mat = readMat(bytes, { file: options.file ?? "ex4weights.mat", maxBytes: options.maxBytes });
  const dtype = options.dtype ?? "float32";
  return {
    theta1: matMatrix(mat, "Theta1", { rows: 25, cols: 401, dtype }),
    theta2: matMatrix(mat, "Theta2", { rows: 10, cols: 26, dtype }),
  };
}
