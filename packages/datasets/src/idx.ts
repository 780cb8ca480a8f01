/**
 * The IDX format of the MNIST files: a big-endian header (magic number, dimension sizes) followed by
 * the elements. Works on bytes, so it runs in browsers too; gzip input is detected and decompressed.
 * @module
 */
import { allocArray, type DType, type FloatArray, Tensor } from "@gradgraph/core";
import type { BytesLike } from "./bytes.js";
import { asBytes, fmt, hex32 } from "./bytes.js";
import { DatasetError } from "./errors.js";
import { type DeclaredSize, gunzipInto, isGzip, maybeGunzip, plausibleOutputBytes } from "./gzip.js";

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
  /**
   * The images to keep, as ascending indices into the file (default: all); see
   * {@link MnistImageDecoderOptions.rows}. The others are checked and skipped, never stored.
   */
  rows?: MnistImageDecoderOptions["rows"];
}

/** The IDX magic number of MNIST image files, with its description for messages. */
const IMAGES_MAGIC = { magic: 0x803, what: "IDX3 unsigned-byte images" };
/** Header bytes of an IDX3 file: the magic number and three dimension sizes. */
const IMAGES_HEADER = 16;

/**
 * Parses an MNIST image file (`*-images-idx3-ubyte`, gzip'd or raw): magic 0x00000803, count, 28, 28,
 * then count·784 pixels. Returns a tensor of shape `[count, 784]` (or `[rows.length, 784]` with `rows`)
 * with pixels scaled to [0, 1] (pixel / 255; 0 = background, 1 = ink).
 *
 * gzip'd input is decompressed chunk by chunk straight into the returned tensor (see
 * {@link MnistImageDecoder}): the decompressed bytes are never held in one buffer.
 * @throws DatasetError on a wrong magic number, wrong image size, truncation or length mismatch
 */
export function parseMnistImages(bytes: BytesLike, options: MnistImageOptions = {}): Tensor {
  const file = options.file ?? "<mnist images>";
  const d = asBytes(bytes);
  const gz = isGzip(d);
  const decoder = new MnistImageDecoder({
    file,
    dtype: options.dtype,
    imageSize: options.imageSize,
    rows: options.rows,
    plausibleBytes: gz ? plausibleOutputBytes(d.length) : d.length,
  });
  if (gz) {
    gunzipInto(d, (chunk) => decoder.push(chunk), file, {
      maxBytes: options.maxBytes,
      declaredSize: idxDeclaredSize(file, IMAGES_MAGIC),
    });
  } else decoder.push(d);
  return decoder.finish();
}

/** Options of {@link MnistImageDecoder}. */
export interface MnistImageDecoderOptions {
  /** File name used in error messages (default `"<mnist images>"`). */
  file?: string;
  /** Element type of the result (default `"float32"`). */
  dtype?: DType;
  /** Expected image height and width (default 28). */
  imageSize?: number;
  /**
   * The images to keep (default: all): strictly ascending indices into the file, or a function that gets
   * the number of images the header declares, once it is read, and returns them (or `undefined` for all).
   * The function may throw to stop decoding, e.g. when the count differs from that of the labels.
   */
  rows?: ArrayLike<number> | ((count: number) => ArrayLike<number> | undefined);
  /**
   * The most decompressed bytes that are plausible for the input (e.g. 64 times the size of a gzip file):
   * the result is allocated at once when the size the header declares is within this, else it grows as
   * pixels arrive, so that a damaged header cannot make a small file allocate much. Default: no limit.
   */
  plausibleBytes?: number;
}

/**
 * Decodes an MNIST image file (raw IDX bytes, e.g. the output of a decompressor) pushed in chunks of any
 * size, converting each pixel to `pixel / 255` in the final array as it arrives: with a streaming
 * decompressor (`gunzipInto`, or Node's zlib in `@gradgraph/datasets/node`) neither the file nor its
 * decompressed bytes are ever held whole. The header is checked as soon as its bytes are in (magic number
 * first, then the image size), the length when {@link MnistImageDecoder.finish} is called.
 * @example
 * const decoder = new MnistImageDecoder({ file: "t10k-images-idx3-ubyte.gz" });
 * gunzipInto(bytes, (chunk) => decoder.push(chunk), "t10k-images-idx3-ubyte.gz");
 * const x = decoder.finish(); // [10000, 784]
 */
export class MnistImageDecoder {
  private readonly file: string;
  private readonly dtype: DType;
  private readonly size: number;
  private readonly plausible: number;
  private readonly select: MnistImageDecoderOptions["rows"];
  private readonly head = new Uint8Array(IMAGES_HEADER);
  /** Bytes pushed so far. */
  private n = 0;
  /** Images in the file (from the header), or -1 before it is read. */
  private images = -1;
  private shape: number[] = [];
  private px = 0;
  /** The kept images (ascending), or null for all. */
  private rows: Int32Array | null = null;
  private kept = 0;
  /** Index into `rows` of the next kept image at or after the current position. */
  private nextRow = 0;
  private out: FloatArray | null = null;
  private lut: FloatArray | null = null;

  /** @param options the file name, element type, image size, images to keep and allocation bound */
  constructor(options: MnistImageDecoderOptions = {}) {
    this.file = options.file ?? "<mnist images>";
    this.dtype = options.dtype ?? "float32";
    this.size = options.imageSize ?? 28;
    this.plausible = options.plausibleBytes ?? Number.POSITIVE_INFINITY;
    this.select = options.rows;
  }

  /** The number of images the header declares, or -1 while it has not been read. */
  get count(): number {
    return this.images;
  }

  /** Bytes pushed so far. */
  get length(): number {
    return this.n;
  }

  /**
   * Takes the next bytes of the file (the chunk is not kept).
   * @throws DatasetError on a wrong magic number or image size, or what a `rows` function throws
   */
  push(chunk: Uint8Array): void {
    let at = 0;
    if (this.n < IMAGES_HEADER) {
      const take = Math.min(IMAGES_HEADER - this.n, chunk.length);
      this.head.set(chunk.subarray(0, take), this.n);
      const before = this.n;
      this.n += take;
      at = take;
      if (before < 4 && this.n >= 4) expectMagic(this.head, IMAGES_MAGIC.magic, IMAGES_MAGIC.what, this.file);
      if (this.n < IMAGES_HEADER) return;
      this.start();
    }
    if (at < chunk.length) this.pixels(chunk, at);
  }

  /** Reads the header: checks the image size, picks the rows, allocates the result. */
  private start(): void {
    const h = readHeader(this.head, this.file);
    const [count, rows, cols] = h.shape as [number, number, number];
    if (rows !== this.size || cols !== this.size) {
      throw new DatasetError(
        "bad-shape",
        this.file,
        `image size: expected ${this.size}x${this.size} (bytes 8-15), found ${rows}x${cols}`,
      );
    }
    this.images = count;
    this.shape = h.shape;
    this.px = rows * cols;
    const wanted = typeof this.select === "function" ? this.select(count) : this.select;
    if (wanted !== undefined) {
      const list = Int32Array.from(wanted);
      for (let i = 0; i < list.length; i++) {
        const r = list[i]!;
        if (!Number.isInteger(wanted[i]) || r < 0 || (i > 0 && r <= list[i - 1]!)) {
          throw new RangeError(
            `MnistImageDecoder: rows must be strictly ascending image indices >= 0, found ${wanted[i]} at position ${i}`,
          );
        }
        if (r >= count) {
          throw new DatasetError(
            "count-mismatch",
            this.file,
            `image ${fmt(r)} was asked for, but the IDX header declares ${fmt(count)} images`,
          );
        }
      }
      this.rows = list;
    }
    this.kept = this.rows ? this.rows.length : count;
    const elements = this.kept * this.px;
    const bpe = this.dtype === "float32" ? 4 : 8;
    // allocate the result at once when the file can plausibly hold it; else grow it with the pixels
    const declared = IMAGES_HEADER + count * this.px;
    this.out = allocArray(
      this.dtype,
      declared <= this.plausible ? elements : Math.min(elements, 65536 / bpe),
    );
    const lut = allocArray(this.dtype, 256);
    for (let v = 0; v < 256; v++) lut[v] = v / 255; // exactly what converting, then dividing, gives
    this.lut = lut;
  }

  /** Converts the pixel bytes `chunk[at..]` into the result. */
  private pixels(chunk: Uint8Array, at: number): void {
    const px = this.px;
    const rows = this.rows;
    const end = IMAGES_HEADER + this.images * px; // bytes beyond are counted (a length error), not read
    let b = this.n - IMAGES_HEADER; // index of chunk[at] among the pixel bytes
    const stop = Math.min(chunk.length, at + Math.max(0, end - this.n));
    this.n += chunk.length - at;
    if (!rows) {
      this.convert(chunk, at, stop, b); // every image kept: pixel byte b goes to element b
      return;
    }
    while (at < stop) {
      const image = Math.floor(b / px);
      while (this.nextRow < rows.length && rows[this.nextRow]! < image) this.nextRow++;
      if (this.nextRow >= rows.length) return; // nothing more to keep (the rest is only counted)
      const next = rows[this.nextRow]!;
      if (next !== image) {
        // skip to the start of the next kept image
        const skip = Math.min(stop - at, next * px - b);
        at += skip;
        b += skip;
        continue;
      }
      const rowEnd = Math.min(stop, at + (image + 1) * px - b);
      this.convert(chunk, at, rowEnd, this.nextRow * px + (b - image * px));
      b += rowEnd - at;
      at = rowEnd;
    }
  }

  /** Writes `chunk[from..to)` as floats from element `o` of the result on. */
  private convert(chunk: Uint8Array, from: number, to: number, o: number): void {
    const lut = this.lut!;
    let out = this.out!;
    if (o + (to - from) > out.length) out = this.grow(o + (to - from));
    for (let i = from; i < to; i++) out[o++] = lut[chunk[i]!]!;
  }

  /** Grows the result (only when the header's size was not plausible for the input). */
  private grow(need: number): FloatArray {
    const size = Math.min(this.kept * this.px, Math.max(need, 2 * this.out!.length));
    const next = allocArray(this.dtype, size);
    next.set(this.out!);
    this.out = next;
    return next;
  }

  /**
   * Checks that the file had exactly the bytes its header declares and returns the images as a
   * `[kept, pixels]` tensor.
   * @throws DatasetError on a truncated header or file, or extra bytes after the pixels
   */
  finish(): Tensor {
    if (this.n < IMAGES_HEADER) {
      const d = this.head.subarray(0, this.n);
      expectMagic(d, IMAGES_MAGIC.magic, IMAGES_MAGIC.what, this.file);
      readHeader(d, this.file); // throws: the header is truncated
    }
    const expected = IMAGES_HEADER + this.images * this.px;
    if (this.n !== expected) {
      throw new DatasetError(
        this.n < expected ? "truncated" : "length-mismatch",
        this.file,
        `IDX length mismatch: dimensions [${this.shape.join(",")}] of uint8 need ${fmt(expected)} bytes, found ${fmt(this.n)}`,
      );
    }
    return new Tensor([this.kept, this.px], this.out!);
  }
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
