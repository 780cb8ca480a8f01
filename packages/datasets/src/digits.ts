/**
 * scikit-learn's digits: 1,797 8x8 images with integer values 0..16 (the test set of the UCI "Optical
 * Recognition of Handwritten Digits" data), from scikit-learn's `digits.csv.gz`.
 * @module
 */
import { allocArray, type DType, Tensor } from "@gradgraph/core";
import { asBytes, type BytesLike, fmt } from "./bytes.js";
import { DatasetError } from "./errors.js";
import { maybeGunzip } from "./gzip.js";
import type { ImageSet } from "./types.js";

/** Number of rows of scikit-learn's digits. */
export const DIGITS_ROWS = 1797;

/**
 * The default limit on the decompressed size of `digits.csv.gz`: 4 MiB. The real CSV is 264,712 bytes
 * (1,797 rows of 65 small integers); 4 MiB leaves room for other spellings ("5.0", CRLF) and stops a
 * decompression bomb early.
 */
export const DIGITS_MAX_BYTES = 4 * 1024 * 1024;

/** Options of {@link parseDigits}. */
export interface DigitsOptions {
  /** File name used in error messages (default `"digits.csv.gz"`). */
  file?: string;
  /** Element type of `x` (default `"float32"`). */
  dtype?: DType;
  /** Largest decompressed size accepted for gzip'd input, in bytes (default {@link DIGITS_MAX_BYTES}, 4 MiB). */
  maxBytes?: number;
}

/**
 * Parses scikit-learn's `digits.csv.gz` (or the uncompressed CSV, as bytes or text): 1,797 rows of 65
 * comma-separated numbers, 64 pixels (8x8, row-major, integers 0..16) then the label 0..9.
 * Returns `x` `[1797, 64]` with the raw values 0..16 (not scaled), `images` `[1797, 8, 8]` (same data)
 * and `y`.
 * @throws DatasetError naming the file, line and column on a malformed row, a value out of range or a
 *   wrong row count
 */
export function parseDigits(input: BytesLike | string, options: DigitsOptions = {}): ImageSet {
  const file = options.file ?? "digits.csv.gz";
  const d =
    typeof input === "string"
      ? new TextEncoder().encode(input)
      : maybeGunzip(asBytes(input), file, { maxBytes: options.maxBytes ?? DIGITS_MAX_BYTES });
  const cols = 65;
  const x = allocArray(options.dtype ?? "float32", DIGITS_ROWS * 64);
  const y = new Uint8Array(DIGITS_ROWS);
  let row = 0;
  let col = 0;
  let i = 0;
  const n = d.length;
  const where = () => `line ${row + 1}, column ${col + 1}`;
  while (i < n) {
    // Skip a blank line (also handles a trailing newline and CRLF).
    if (col === 0 && (d[i] === 10 || d[i] === 13)) {
      i++;
      continue;
    }
    if (row >= DIGITS_ROWS) {
      throw new DatasetError(
        "count-mismatch",
        file,
        `expected ${fmt(DIGITS_ROWS)} rows, found more (${where()})`,
      );
    }
    // One number: digits, optionally ".digits" (the CSV writes integers, possibly as "5.0").
    const start = i;
    let v = 0;
    while (i < n && d[i]! >= 48 && d[i]! <= 57) v = v * 10 + d[i++]! - 48;
    let frac = false;
    if (i < n && d[i] === 46) {
      i++;
      while (i < n && d[i]! >= 48 && d[i]! <= 57) if (d[i++] !== 48) frac = true;
    }
    if (i === start) {
      const found = i < n ? JSON.stringify(String.fromCharCode(d[i]!)) : "end of file";
      throw new DatasetError("bad-value", file, `${where()}: expected a number, found ${found}`);
    }
    const max = col < 64 ? 16 : 9;
    if (frac || v > max) {
      const text = new TextDecoder().decode(d.subarray(start, i));
      throw new DatasetError(
        "bad-value",
        file,
        `${where()}: expected ${col < 64 ? "a pixel value 0..16" : "a label 0..9"}, found ${text}`,
      );
    }
    if (col < 64) x[row * 64 + col] = v;
    else y[row] = v;
    col++;
    const sep = i < n ? d[i] : 10;
    if (col < cols) {
      if (sep !== 44) {
        throw new DatasetError(
          "bad-structure",
          file,
          `line ${row + 1}: expected ${cols} values, found ${col}`,
        );
      }
    } else if (sep !== 10 && sep !== 13) {
      throw new DatasetError("bad-structure", file, `line ${row + 1}: expected ${cols} values, found more`);
    } else {
      row++;
      col = 0;
    }
    i++;
  }
  if (row !== DIGITS_ROWS) {
    throw new DatasetError("count-mismatch", file, `expected ${fmt(DIGITS_ROWS)} rows, found ${fmt(row)}`);
  }
  return { x: new Tensor([DIGITS_ROWS, 64], x), y, images: new Tensor([DIGITS_ROWS, 8, 8], x) };
}
