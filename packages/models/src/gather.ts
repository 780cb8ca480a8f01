/**
 * Allocation-free copies of sample rows into a plan's input buffers, in either data convention.
 * @module
 */
import type { FloatArray, Tensor } from "@gradgraph/core";

/** Targets of a data set: a tensor with one row per sample, or integer class labels. */
export type Targets = Tensor | Uint8Array | Int32Array | readonly number[];

/**
 * Copies rows `indices[start .. start+count)` of `src` (row size `rowSize`) into `dst`.
 * `column: false` writes them as rows (`[count, rowSize]`), `column: true` as columns
 * (`[rowSize, count]`, Nielsen's convention). With `indices === null` rows are taken in order.
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
  if (!column) {
    for (let i = 0; i < count; i++) {
      const r = indices === null ? start + i : indices[start + i]!;
      const s = r * rowSize;
      const o = i * rowSize;
      for (let k = 0; k < rowSize; k++) dst[o + k] = src[s + k]!;
    }
  } else {
    for (let i = 0; i < count; i++) {
      const r = indices === null ? start + i : indices[start + i]!;
      const s = r * rowSize;
      for (let k = 0; k < rowSize; k++) dst[k * count + i] = src[s + k]!;
    }
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
  for (let i = 0; i < count; i++) {
    const l = labels[indices === null ? start + i : indices[start + i]!]!;
    if (!(l >= 0 && l < classes) || !Number.isInteger(l)) {
      throw new RangeError(`label ${l} is not a class index in [0, ${classes})`);
    }
    dst[column ? l * count + i : i * classes + l] = 1;
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
