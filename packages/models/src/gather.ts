/**
 * Copies of sample rows into a plan's input buffers, in either data convention.
 *
 * Row convention: rows that are contiguous in the source (all of them when the rows are taken in
 * order, a run of consecutive indices when shuffled) are copied as one block by `TypedArray.set`,
 * a memcpy when the element types match and a converting copy otherwise (the same rounding as
 * assigning element by element, so results are bit-identical to a loop). Blocks shorter than
 * {@link SET_MIN_VALUES} values, and sources that are plain arrays, are copied by a loop.
 *
 * Column convention (`[rowSize, count]`): a transpose, one source row at a time. The reads are
 * sequential and the writes of one row touch one cache line per destination row, which the next
 * rows write again while it is still in cache (`rowSize` lines: 50 kB for 784 values). On
 * MNIST-sized rows (batches of 10 and 1,000, in order and shuffled) a transpose in tiles of 16 rows
 * was mostly slower, by up to 1.8x: its extra index arithmetic costs more than the cache misses it
 * saves. The loop is written three times, for float32 to float32, float64 to float64 and any other
 * pair, so that each copy sees one pair of array types (in a process that mixes dtypes, one shared
 * loop was 1.25-1.5x slower).
 *
 * Allocation: a block copied with `set` goes through one `subarray` view of the source, a small
 * object the young-generation GC reclaims at once (one per batch in order, one per row or run of
 * rows shuffled); loop copies and the transpose allocate nothing.
 * @module
 */
import type { FloatArray, Tensor } from "@gradgraph/core";

/** Targets of a data set: a tensor with one row per sample, or integer class labels. */
export type Targets = Tensor | Uint8Array | Int32Array | readonly number[];

/**
 * The features of a data set: one tensor with a row per sample (for a model with one input), or a
 * tensor per input of the model, keyed by input name (all with the same number of rows).
 */
export type Features = Tensor | Readonly<Record<string, Tensor>>;

/**
 * The targets of a data set: {@link Targets} (for a model with one target), or targets per target
 * input of the model, keyed by name (all with the same number of samples).
 */
export type TargetData = Targets | Readonly<Record<string, Targets>>;

/** True when `y` holds the targets of a single target input rather than targets keyed by name. */
export function isSingleTargets(y: TargetData): y is Targets {
  return isTensor(y as Targets) || Array.isArray(y) || ArrayBuffer.isView(y);
}

/**
 * Blocks of at least this many values are copied with one `TypedArray.set` (cost: one view plus a
 * memcpy); shorter ones by a loop, which is faster than making a view for a handful of values.
 */
export const SET_MIN_VALUES = 64;

/** A typed array of numbers (what `TypedArray.set` and `subarray` work on). */
type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

function isNumericArray(a: ArrayLike<number>): a is NumericArray {
  return ArrayBuffer.isView(a) && !(a instanceof DataView);
}

/**
 * Copies rows `indices[start .. start+count)` of `src` (row size `rowSize`) into `dst`.
 * `column: false` writes them as rows (`[count, rowSize]`), `column: true` as columns
 * (`[rowSize, count]`, Nielsen's convention). With `indices === null` rows are taken in order.
 * Values are converted to `dst`'s element type as by assignment.
 */
export function gatherRows(
  src: ArrayLike<number>,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: FloatArray,
  column: boolean,
): void {
  if (count <= 0 || rowSize <= 0) return;
  if (column && count > 1 && rowSize > 1) {
    gatherColumns(src, rowSize, indices, start, count, dst);
    return;
  }
  // rows, or a layout where rows and columns coincide ([1, rowSize] or [rowSize, 1])
  if (indices === null) {
    copyBlock(src, start * rowSize, count * rowSize, dst, 0);
    return;
  }
  let i = 0;
  while (i < count) {
    const r = indices[start + i]!;
    let run = 1;
    while (i + run < count && indices[start + i + run] === r + run) run++;
    copyBlock(src, r * rowSize, run * rowSize, dst, i * rowSize);
    i += run;
  }
}

/** `dst[to .. to+length) = src[from .. from+length)`. */
function copyBlock(src: ArrayLike<number>, from: number, length: number, dst: FloatArray, to: number): void {
  if (length >= SET_MIN_VALUES && isNumericArray(src)) {
    dst.set(src.subarray(from, from + length), to);
    return;
  }
  for (let k = 0; k < length; k++) dst[to + k] = src[from + k]!;
}

/** The column-convention copy: a transpose of the selected rows (see the module documentation). */
function gatherColumns(
  src: ArrayLike<number>,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: FloatArray,
): void {
  if (src instanceof Float32Array && dst instanceof Float32Array)
    transposeF32(src, rowSize, indices, start, count, dst);
  else if (src instanceof Float64Array && dst instanceof Float64Array)
    transposeF64(src, rowSize, indices, start, count, dst);
  else transposeAny(src, rowSize, indices, start, count, dst);
}

// The three transposes below are the same loop on purpose (see the module documentation).

function transposeF32(
  src: Float32Array,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: Float32Array,
): void {
  for (let i = 0; i < count; i++) {
    const s = (indices === null ? start + i : indices[start + i]!) * rowSize;
    for (let k = 0; k < rowSize; k++) dst[k * count + i] = src[s + k]!;
  }
}

function transposeF64(
  src: Float64Array,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: Float64Array,
): void {
  for (let i = 0; i < count; i++) {
    const s = (indices === null ? start + i : indices[start + i]!) * rowSize;
    for (let k = 0; k < rowSize; k++) dst[k * count + i] = src[s + k]!;
  }
}

function transposeAny(
  src: ArrayLike<number>,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: FloatArray,
): void {
  for (let i = 0; i < count; i++) {
    const s = (indices === null ? start + i : indices[start + i]!) * rowSize;
    for (let k = 0; k < rowSize; k++) dst[k * count + i] = src[s + k]!;
  }
}

/**
 * Writes labels `labels[indices[start..start+count)]` into a target buffer: one-hot over `classes`
 * when `classes > 1` (rows or, with `column`, columns), the label value itself when `classes === 1`.
 * Throws a RangeError for a label outside `[0, classes)`.
 */
export function gatherLabels(
  labels: ArrayLike<number>,
  classes: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: FloatArray,
  column: boolean,
): void {
  if (classes === 1) {
    for (let i = 0; i < count; i++) dst[i] = labels[indices === null ? start + i : indices[start + i]!]!;
    return;
  }
  dst.fill(0, 0, count * classes);
  // one-hot: row i has its 1 at i * classes + l; column i at l * count + i
  const rowStride = column ? 1 : classes;
  const classStride = column ? count : 1;
  for (let i = 0; i < count; i++) {
    const l = labels[indices === null ? start + i : indices[start + i]!]!;
    if (!(l >= 0 && l < classes) || !Number.isInteger(l)) {
      throw new RangeError(`label ${l} is not a class index in [0, ${classes})`);
    }
    dst[i * rowStride + l * classStride] = 1;
  }
}

/** Number of samples of a target set. */
export function targetCount(y: Targets): number {
  return isTensor(y) ? (y.shape[0] ?? 1) : y.length;
}

/** True when `y` is a tensor rather than labels. */
export function isTensor(y: Targets): y is Tensor {
  return typeof (y as Tensor).shape === "object" && (y as Tensor).data !== undefined;
}

/** Index of the largest of `n` values at `offset`, `offset + stride`, ... (first one on ties). */
export function argmaxStrided(a: ArrayLike<number>, offset: number, n: number, stride: number): number {
  let best = 0;
  let bv = a[offset]!;
  for (let k = 1; k < n; k++) {
    const v = a[offset + k * stride]!;
    if (v > bv) {
      bv = v;
      best = k;
    }
  }
  return best;
}
