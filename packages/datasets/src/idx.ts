/**
 * The IDX format of the MNIST files: a big-endian header (magic number, dimension sizes) followed by
 * the elements. Works on bytes, so it runs in browsers too; gzip input is detected and decompressed.
 * @module
 */
import { allocArray, type DType, Tensor } from "@gradgraph/core";
import type { BytesLike } from "./bytes.js";
import { fmt, hex32 } from "./bytes.js";
import { DatasetError } from "./errors.js";
import { type DeclaredSize, maybeGunzip } from "./gzip.js";

/** Element types of the IDX format (the third byte of the magic number: 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e). */
export type IdxElementType = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

/** A decoded IDX file: element type, dimension sizes and the elements in row-major order. */
export interface IdxArray {
  /** The element type named by the magic number. */
  readonly type: IdxElementType;
  /** Dimension sizes, outermost first (e.g. `[60000, 28, 28]`). */
  readonly shape: readonly number[];
  /** The elements, row-major, converted to host byte order. */
  readonly data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Options of the IDX parsers. */
export interface IdxOptions {
  /** File name used in error messages (default `"<idx data>"`). */
  file?: string;
  /**
   * Largest decompressed size accepted for gzip'd input, in bytes (default 256 MiB, `DEFAULT_MAX_BYTES`).
   * Decompression also stops as soon as the output exceeds the size the IDX header declares.
   */
  maxBytes?: number;
}

const IDX_TYPES: Record<number, [IdxElementType, number]> = {
  8: ["uint8", 1],
  9: ["int8", 1],
  11: ["int16", 2],
  12: ["int32", 4],
  13: ["float32", 4],
  14: ["float64", 8],
};

interface IdxHeader {
  type: IdxElementType;
  size: number;
  shape: number[];
  dataOffset: number;
}

/** Checks the magic number (bytes 0-3); returns the element type, its size and the rank. */
function readMagic(d: Uint8Array, file: string): [IdxElementType, number, number] {
  if (d.length < 4) {
    throw new DatasetError(
      "truncated",
      file,
      `IDX header truncated: expected at least 4 bytes, found ${d.length}`,
    );
  }
  const t = IDX_TYPES[d[2]!];
  const rank = d[3]!;
  if (d[0] !== 0 || d[1] !== 0 || t === undefined || rank === 0) {
    const magic = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0, false);
    throw new DatasetError(
      "bad-magic",
      file,
      `not an IDX file: expected a magic number 0x0000TTNN (TT in 08,09,0b,0c,0d,0e; NN >= 1) at byte 0, found ${hex32(magic)}`,
    );
  }
  return [t[0], t[1], rank];
}

function readHeader(d: Uint8Array, file: string): IdxHeader {
  const [type, size, rank] = readMagic(d, file);
  const dataOffset = 4 + 4 * rank;
  if (d.length < dataOffset) {
    throw new DatasetError(
      "truncated",
      file,
      `IDX header truncated: ${rank} dimensions need ${dataOffset} header bytes, found ${d.length}`,
    );
  }
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  return { type, size, shape, dataOffset };
}

/** The byte length of a whole IDX file with header `h`. */
function idxLength(h: IdxHeader): number {
  return h.dataOffset + h.shape.reduce((a, b) => a * b, 1) * h.size;
}

function checkLength(d: Uint8Array, h: IdxHeader, file: string): number {
  const count = h.shape.reduce((a, b) => a * b, 1);
  const expected = idxLength(h);
  if (d.length !== expected) {
    throw new DatasetError(
      d.length < expected ? "truncated" : "length-mismatch",
      file,
      `IDX length mismatch: dimensions [${h.shape.join(",")}] of ${h.type} need ${fmt(expected)} bytes, found ${fmt(d.length)}`,
    );
  }
  return count;
}

/**
 * For the decoders' `declaredSize` option: reads the size of the whole IDX file from its header once the
 * first decompressed bytes are out, so that gzip decompression stops as soon as the output exceeds it.
 * @param file file name for messages
 * @param expected an MNIST magic number to check at once (as {@link parseMnistImages} and
 *   {@link parseMnistLabels} do), so that a file of zeros fails on its first bytes
 * @throws DatasetError `bad-magic` when the first 4 bytes are not an IDX (or the expected) magic number
 */
export function idxDeclaredSize(
  file: string,
  expected?: { magic: number; what: string },
): (head: Uint8Array) => DeclaredSize | undefined {
  return (head) => {
    if (head.length < 4) return undefined;
    if (expected) expectMagic(head, expected.magic, expected.what, file);
    const [, , rank] = readMagic(head, file);
    if (head.length < 4 + 4 * rank) return undefined;
    const h = readHeader(head, file);
    return {
      bytes: idxLength(h),
      by: "the IDX header",
      detail: `dimensions [${h.shape.join(",")}] of ${h.type}`,
    };
  };
}

/**
 * Decodes any IDX file (gzip'd or raw): checks the magic number and that the byte length matches the
 * dimensions exactly.
 * @throws DatasetError naming the file on a bad magic number, truncation or length mismatch
 */
export function parseIdx(bytes: BytesLike, options: IdxOptions = {}): IdxArray {
  const file = options.file ?? "<idx data>";
  const d = maybeGunzip(bytes, file, { maxBytes: options.maxBytes, declaredSize: idxDeclaredSize(file) });
  const h = readHeader(d, file);
  const count = checkLength(d, h, file);
  const body = d.subarray(h.dataOffset);
  if (h.type === "uint8") return { type: h.type, shape: h.shape, data: body.slice() };
  if (h.type === "int8") return { type: h.type, shape: h.shape, data: new Int8Array(body.slice().buffer) };
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (h.type) {
    case "int16": {
      const a = new Int16Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getInt16(2 * i, false);
      return { type: h.type, shape: h.shape, data: a };
    }
    case "int32": {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getInt32(4 * i, false);
      return { type: h.type, shape: h.shape, data: a };
    }
    case "float32": {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getFloat32(4 * i, false);
      return { type: h.type, shape: h.shape, data: a };
    }
    default: {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getFloat64(8 * i, false);
      return { type: h.type, shape: h.shape, data: a };
    }
  }
}

/** Checks the exact magic number of an MNIST file, with a hint when the other kind of file was given. */
function expectMagic(d: Uint8Array, expected: number, what: string, file: string): void {
  if (d.length < 4)
    throw new DatasetError(
      "truncated",
      file,
      `IDX header truncated: expected at least 4 bytes, found ${d.length}`,
    );
  const magic = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0, false);
  if (magic !== expected) {
    const hint = magic === 0x803 ? " (an image file)" : magic === 0x801 ? " (a label file)" : "";
    throw new DatasetError(
      "bad-magic",
      file,
      `wrong magic number at byte 0: expected ${hex32(expected)} (${what}), found ${hex32(magic)}${hint}`,
    );
  }
}

/** Options of {@link parseMnistImages}. */
export interface MnistImageOptions extends IdxOptions {
  /** Element type of the returned tensor (default `"float32"`). */
  dtype?: DType;
  /** Expected image height and width (default 28: MNIST, Fashion-MNIST, KMNIST). */
  imageSize?: number;
}

/**
 * Parses an MNIST image file (`*-images-idx3-ubyte`, gzip'd or raw): magic 0x00000803, count, 28, 28,
 * then count·784 pixels. Returns a tensor of shape `[count, 784]` with pixels scaled to [0, 1]
 * (pixel / 255; 0 = background, 1 = ink).
 * @throws DatasetError on a wrong magic number, wrong image size, truncation or length mismatch
 */
export function parseMnistImages(bytes: BytesLike, options: MnistImageOptions = {}): Tensor {
  const file = options.file ?? "<mnist images>";
  const size = options.imageSize ?? 28;
  const magic = { magic: 0x803, what: "IDX3 unsigned-byte images" };
  const d = maybeGunzip(bytes, file, {
    maxBytes: options.maxBytes,
    declaredSize: idxDeclaredSize(file, magic),
  });
  expectMagic(d, magic.magic, magic.what, file);
  const h = readHeader(d, file);
  const [n, rows, cols] = h.shape as [number, number, number];
  if (rows !== size || cols !== size) {
    throw new DatasetError(
      "bad-shape",
      file,
      `image size: expected ${size}x${size} (bytes 8-15), found ${rows}x${cols}`,
    );
  }
  checkLength(d, h, file);
  const px = rows * cols;
  const out = allocArray(options.dtype ?? "float32", n * px);
  out.set(d.subarray(h.dataOffset)); // native uint8 -> float conversion, then an exact v / 255 in place
  for (let i = 0; i < out.length; i++) out[i] /= 255;
  return new Tensor([n, px], out);
}

/**
 * Parses an MNIST label file (`*-labels-idx1-ubyte`, gzip'd or raw): magic 0x00000801, count, then
 * count labels, each checked to be in 0..9.
 * @throws DatasetError on a wrong magic number, truncation, length mismatch or a label above 9
 */
export function parseMnistLabels(bytes: BytesLike, options: IdxOptions = {}): Uint8Array {
  const file = options.file ?? "<mnist labels>";
  const magic = { magic: 0x801, what: "IDX1 unsigned-byte labels" };
  const d = maybeGunzip(bytes, file, {
    maxBytes: options.maxBytes,
    declaredSize: idxDeclaredSize(file, magic),
  });
  expectMagic(d, magic.magic, magic.what, file);
  const h = readHeader(d, file);
  const n = checkLength(d, h, file);
  const labels = d.slice(h.dataOffset);
  for (let i = 0; i < n; i++) {
    if (labels[i]! > 9) {
      throw new DatasetError(
        "bad-value",
        file,
        `label ${i} at byte ${h.dataOffset + i}: expected a digit 0..9, found ${labels[i]}`,
      );
    }
  }
  return labels;
}
