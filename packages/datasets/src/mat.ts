/**
 * A small reader for MATLAB level-5 MAT-files (the format of `save -v6`/`-v7`, MATLAB's default before
 * 7.3, and Octave's `-mat`): numeric matrices, little- or big-endian, plain or zlib-compressed
 * (`miCOMPRESSED`) elements, the small-element format. Cells, structs, sparse and other classes are
 * listed but not decoded. v7.3 files (HDF5) are recognised and rejected with a clear message.
 * @module
 */
import { allocArray, type DType, Tensor } from "@gradgraph/core";
import { asBytes, type BytesLike, fmt, latin1 } from "./bytes.js";
import { DatasetError } from "./errors.js";
import { DEFAULT_MAX_BYTES, type DeclaredSize, unzlib } from "./gzip.js";

/**
 * The longest variable name accepted, in bytes: 4,096. MATLAB's own limit (`namelengthmax`) is 63
 * characters; a longer name means a corrupt or hostile file.
 */
export const MAT_MAX_NAME_BYTES = 4096;

/** The MATLAB class of a variable (`mxDOUBLE_CLASS` is `"double"`, and so on). */
export type MatClass =
  | "cell"
  | "struct"
  | "object"
  | "char"
  | "sparse"
  | "double"
  | "single"
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "function"
  | "opaque"
  | "unknown";

/** One top-level variable of a MAT-file. */
export interface MatVariable {
  /** The variable's name. */
  readonly name: string;
  /** Its MATLAB class. */
  readonly className: MatClass;
  /** Dimension sizes (at least two: a column vector is `[n, 1]`). */
  readonly dims: readonly number[];
  /**
   * The real part as doubles in MATLAB's column-major order (element `(i, j)` at `i + j * rows`),
   * or `null` for classes this reader does not decode (cell, struct, sparse, ...). Character arrays
   * hold their character codes.
   */
  readonly data: Float64Array | null;
  /** The imaginary part of a complex array, else `null`. */
  readonly imag: Float64Array | null;
  /** MATLAB's logical flag. */
  readonly logical: boolean;
  /** MATLAB's global flag. */
  readonly global: boolean;
}

/** A decoded MAT-file. */
export interface MatFile {
  /** File name used in error messages. */
  readonly file: string;
  /** The 116-byte descriptive text of the header, trailing spaces removed. */
  readonly header: string;
  /** Whether the file is little-endian ("IM" at byte 126). */
  readonly littleEndian: boolean;
  /** The variables in file order. */
  readonly variables: ReadonlyMap<string, MatVariable>;
}

const MI_NAMES: Record<number, string> = {
  1: "miINT8",
  2: "miUINT8",
  3: "miINT16",
  4: "miUINT16",
  5: "miINT32",
  6: "miUINT32",
  7: "miSINGLE",
  9: "miDOUBLE",
  12: "miINT64",
  13: "miUINT64",
  14: "miMATRIX",
  15: "miCOMPRESSED",
  16: "miUTF8",
  17: "miUTF16",
  18: "miUTF32",
};
type Reader = (v: DataView, offset: number, le: boolean) => number;
/** Byte size and reader of each numeric element type (the UTF types hold character codes). */
const MI_NUMERIC: Record<number, [number, Reader]> = {
  1: [1, (v, o) => v.getInt8(o)],
  2: [1, (v, o) => v.getUint8(o)],
  3: [2, (v, o, le) => v.getInt16(o, le)],
  4: [2, (v, o, le) => v.getUint16(o, le)],
  5: [4, (v, o, le) => v.getInt32(o, le)],
  6: [4, (v, o, le) => v.getUint32(o, le)],
  7: [4, (v, o, le) => v.getFloat32(o, le)],
  9: [8, (v, o, le) => v.getFloat64(o, le)],
  12: [8, (v, o, le) => Number(v.getBigInt64(o, le))],
  13: [8, (v, o, le) => Number(v.getBigUint64(o, le))],
  16: [1, (v, o) => v.getUint8(o)],
  17: [2, (v, o, le) => v.getUint16(o, le)],
  18: [4, (v, o, le) => v.getUint32(o, le)],
};
const MX_CLASSES: readonly MatClass[] = [
  "unknown",
  "cell",
  "struct",
  "object",
  "char",
  "sparse",
  "double",
  "single",
  "int8",
  "uint8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "uint64",
  "function",
  "opaque",
];
const NUMERIC = new Set<MatClass>([
  "char",
  "double",
  "single",
  "int8",
  "uint8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "uint64",
]);

function typeName(t: number): string {
  return MI_NAMES[t] ? `${MI_NAMES[t]} (${t})` : `unknown type ${t}`;
}

/** What one file may decode, shared by the readers of its elements (see {@link MatOptions.maxBytes}). */
interface Budget {
  /** The limit for each of the two totals below. */
  readonly max: number;
  /** Bytes decompressed from miCOMPRESSED elements so far. */
  inflated: number;
  /** Bytes of float64 values decoded so far (8 per value). */
  decoded: number;
}

/**
 * For the zlib decoder's `declaredSize` option: the size of the miMATRIX element at the start of a
 * compressed element, read from its tag, so that inflation stops as soon as the output exceeds it.
 */
function compressedElementSize(
  le: boolean,
  file: string,
  what: string,
): (head: Uint8Array) => DeclaredSize | undefined {
  return (head) => {
    if (head.length < 8) return undefined;
    const view = new DataView(head.buffer, head.byteOffset, 8);
    const w = view.getUint32(0, le);
    const small = w >>> 16 !== 0;
    const type = small ? w & 0xffff : w;
    if (type !== 14) {
      throw new DatasetError(
        "bad-structure",
        file,
        `element at byte 0: expected miMATRIX (14), found ${typeName(type)} (inside the ${what})`,
      );
    }
    const nbytes = small ? w >>> 16 : view.getUint32(4, le);
    return { bytes: 8 + Math.ceil(nbytes / 8) * 8, by: "its miMATRIX tag" };
  };
}

interface Tag {
  type: number;
  nbytes: number;
  /** Offset of the element's data. */
  data: number;
  /** Offset of the next element (after padding). */
  next: number;
}

/** Reads elements from one buffer (the file, or one inflated compressed element). */
class ElementReader {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly le: boolean,
    readonly file: string,
    /** Describes where `bytes` sits, e.g. "" for the file, " (inside the compressed element at byte 128)". */
    readonly context: string,
    readonly budget: Budget,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(code: "truncated" | "bad-structure" | "unsupported" | "too-large", detail: string): never {
    throw new DatasetError(code, this.file, `${detail}${this.context}`);
  }

  tag(pos: number, end: number, what: string): Tag {
    if (pos + 8 > end) {
      this.fail(
        "truncated",
        `${what} at byte ${pos}: expected an 8-byte element tag, found ${end - pos} bytes`,
      );
    }
    const w = this.view.getUint32(pos, this.le);
    if (w >>> 16 !== 0) {
      // Small data element: type and size packed in 4 bytes, up to 4 data bytes in the next 4.
      const nbytes = w >>> 16;
      if (nbytes > 4)
        this.fail("bad-structure", `${what} at byte ${pos}: small element claims ${nbytes} bytes (max 4)`);
      return { type: w & 0xffff, nbytes, data: pos + 4, next: pos + 8 };
    }
    const nbytes = this.view.getUint32(pos + 4, this.le);
    const data = pos + 8;
    if (data + nbytes > end) {
      this.fail(
        "truncated",
        `${what} at byte ${pos} (${typeName(w)}) declares ${fmt(nbytes)} data bytes but only ${fmt(end - data)} remain`,
      );
    }
    // Compressed elements are not padded; all others are padded to a multiple of 8 bytes.
    const next = w === 15 ? data + nbytes : Math.min(end, data + Math.ceil(nbytes / 8) * 8);
    return { type: w, nbytes, data, next };
  }

  numbers(t: Tag, what: string): Float64Array {
    const numeric = MI_NUMERIC[t.type];
    if (numeric === undefined) {
      this.fail(
        "bad-structure",
        `${what} at byte ${t.data - 8}: expected a numeric element, found ${typeName(t.type)}`,
      );
    }
    const [size, read] = numeric;
    if (t.nbytes % size !== 0) {
      this.fail(
        "bad-structure",
        `${what}: ${fmt(t.nbytes)} bytes is not a whole number of ${typeName(t.type)} values`,
      );
    }
    const count = t.nbytes / size;
    const b = this.budget;
    if (b.decoded + 8 * count > b.max) {
      this.fail(
        "too-large",
        `${what} at byte ${t.data - 8}: ${fmt(count)} values take ${fmt(8 * count)} bytes as float64, more than the ${fmt(b.max - b.decoded)} bytes left of the limit maxBytes = ${fmt(b.max)} bytes (all values of the file together; raise maxBytes if the file is genuine)`,
      );
    }
    b.decoded += 8 * count;
    const out = new Float64Array(count);
    for (let i = 0; i < out.length; i++) out[i] = read(this.view, t.data + i * size, this.le);
    return out;
  }

  /** Parses the sub-elements of the miMATRIX whose data spans [start, end). Returns null for an empty one. */
  matrix(start: number, end: number): MatVariable | null {
    if (start === end) return null;
    const at = `miMATRIX at byte ${start - 8}`;
    const flagsTag = this.tag(start, end, `array flags of the ${at}`);
    if (flagsTag.type !== 6 || flagsTag.nbytes !== 8) {
      this.fail(
        "bad-structure",
        `array flags of the ${at}: expected miUINT32 (6) with 8 bytes, found ${typeName(flagsTag.type)} with ${flagsTag.nbytes} bytes`,
      );
    }
    const flags = this.view.getUint32(flagsTag.data, this.le);
    const className = MX_CLASSES[flags & 0xff] ?? "unknown";
    const complex = (flags & 0x800) !== 0;
    const dimsTag = this.tag(flagsTag.next, end, `dimensions of the ${at}`);
    if (dimsTag.type !== 5 || dimsTag.nbytes < 8 || dimsTag.nbytes % 4 !== 0) {
      this.fail(
        "bad-structure",
        `dimensions of the ${at}: expected miINT32 (5) with at least 2 values, found ${typeName(dimsTag.type)} with ${dimsTag.nbytes} bytes`,
      );
    }
    const dims = Array.from(this.numbers(dimsTag, "dimensions"));
    if (dims.some((n) => n < 0)) {
      this.fail("bad-structure", `dimensions of the ${at}: expected sizes >= 0, found ${dims.join("x")}`);
    }
    const nameTag = this.tag(dimsTag.next, end, `array name of the ${at}`);
    if (nameTag.type !== 1 && nameTag.type !== 2) {
      this.fail(
        "bad-structure",
        `array name of the ${at}: expected miINT8 (1), found ${typeName(nameTag.type)}`,
      );
    }
    if (nameTag.nbytes > MAT_MAX_NAME_BYTES) {
      this.fail(
        "bad-structure",
        `array name of the ${at} is ${fmt(nameTag.nbytes)} bytes long: expected at most ${fmt(MAT_MAX_NAME_BYTES)} bytes (MAT_MAX_NAME_BYTES)`,
      );
    }
    const name = latin1(this.bytes.subarray(nameTag.data, nameTag.data + nameTag.nbytes));
    const base = { name, className, dims, logical: (flags & 0x200) !== 0, global: (flags & 0x400) !== 0 };
    if (!NUMERIC.has(className)) return { ...base, data: null, imag: null };
    const count = dims.reduce((a, b) => a * b, 1);
    const part = (pos: number, which: string): [Float64Array, number] => {
      const t = this.tag(pos, end, `${which} part of '${name}'`);
      const data = this.numbers(t, `${which} part of '${name}'`);
      if (data.length !== count) {
        this.fail(
          "bad-structure",
          `${which} part of '${name}': dimensions ${dims.join("x")} need ${fmt(count)} values, found ${fmt(data.length)}`,
        );
      }
      return [data, t.next];
    };
    const [data, next] = part(nameTag.next, "real");
    const imag = complex ? part(next, "imaginary")[0] : null;
    return { ...base, data, imag };
  }
}

/** Options of {@link readMat}. */
export interface MatOptions {
  /** File name used in error messages (default `"<mat file>"`). */
  file?: string;
  /**
   * Limit, in bytes, on each of two totals for the whole file (default 256 MiB, `DEFAULT_MAX_BYTES`):
   * the data decompressed from all miCOMPRESSED elements, and the decoded values of all variables
   * (8 bytes each, as float64). Inflating an element also stops as soon as its output exceeds the size
   * its miMATRIX tag declares. Exceeding either is a `too-large` {@link DatasetError}.
   */
  maxBytes?: number;
}

/**
 * Reads a level-5 MAT-file.
 * @throws DatasetError naming the file on a bad header, truncation, a corrupt compressed element or a
 *   structure that does not follow the format (with the byte offset of the offending element)
 */
export function readMat(bytes: BytesLike, options: MatOptions = {}): MatFile {
  const file = options.file ?? "<mat file>";
  const d = asBytes(bytes);
  if (d.length >= 8 && d[0] === 0x89 && d[1] === 0x48 && d[2] === 0x44 && d[3] === 0x46) {
    throw new DatasetError(
      "unsupported",
      file,
      "an HDF5 file, not a level-5 MAT-file (re-save with save(..., '-v7'))",
    );
  }
  if (d.length < 128) {
    throw new DatasetError(
      "truncated",
      file,
      `MAT-file header truncated: expected 128 bytes, found ${d.length}`,
    );
  }
  const header = latin1(d.subarray(0, 116)).replace(/[\s\0]+$/, "");
  if (!header.startsWith("MATLAB")) {
    throw new DatasetError(
      "bad-magic",
      file,
      `not a level-5 MAT-file: expected header text "MATLAB 5.0 MAT-file..." at byte 0, found ${JSON.stringify(header.slice(0, 20))}`,
    );
  }
  if (header.startsWith("MATLAB 7.3")) {
    throw new DatasetError(
      "unsupported",
      file,
      "MAT-file v7.3 (HDF5) is not supported: expected a level-5 file (re-save with save(..., '-v7'))",
    );
  }
  const endian = String.fromCharCode(d[126]!, d[127]!);
  if (endian !== "IM" && endian !== "MI") {
    throw new DatasetError(
      "bad-magic",
      file,
      `endian indicator at byte 126: expected "IM" or "MI", found ${JSON.stringify(endian)}`,
    );
  }
  const le = endian === "IM";
  const version = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint16(124, le);
  if (version !== 0x0100) {
    throw new DatasetError(
      "bad-structure",
      file,
      `version at byte 124: expected 0x0100, found 0x${version.toString(16).padStart(4, "0")}`,
    );
  }
  const budget: Budget = { max: options.maxBytes ?? DEFAULT_MAX_BYTES, inflated: 0, decoded: 0 };
  if (!(budget.max >= 0)) throw new RangeError(`maxBytes must be a number of bytes >= 0, got ${budget.max}`);
  const top: ElementReader = new ElementReader(d, le, file, "", budget);
  const variables = new Map<string, MatVariable>();
  for (let pos = 128; pos < d.length; ) {
    const t = top.tag(pos, d.length, "element");
    let v: MatVariable | null;
    if (t.type === 14) {
      v = top.matrix(t.data, t.data + t.nbytes);
    } else if (t.type === 15) {
      const what = `compressed element at byte ${pos}`;
      const limitText =
        budget.inflated === 0
          ? "the limit maxBytes"
          : `what is left of the limit maxBytes (${fmt(budget.max)} bytes for all compressed elements together)`;
      const inflated = unzlib(
        d.subarray(t.data, t.data + t.nbytes),
        file,
        what,
        { maxBytes: budget.max - budget.inflated, declaredSize: compressedElementSize(le, file, what) },
        limitText,
      );
      budget.inflated += inflated.length;
      const inner: ElementReader = new ElementReader(inflated, le, file, ` (inside the ${what})`, budget);
      const it = inner.tag(0, inner.bytes.length, "element");
      if (it.type !== 14) {
        inner.fail("bad-structure", `element at byte 0: expected miMATRIX (14), found ${typeName(it.type)}`);
      }
      v = inner.matrix(it.data, it.data + it.nbytes);
    } else {
      top.fail(
        "bad-structure",
        `top-level element at byte ${pos}: expected miMATRIX (14) or miCOMPRESSED (15), found ${typeName(t.type)}`,
      );
    }
    if (v) variables.set(v.name, v);
    pos = t.next;
  }
  return { file, header, littleEndian: le, variables };
}

function describe(v: MatVariable): string {
  return `${v.name} ${v.dims.join("x")} ${v.className}`;
}

/** Options of {@link matMatrix}. */
export interface MatMatrixOptions {
  /** Required number of rows (checked when given). */
  rows?: number;
  /** Required number of columns (checked when given). */
  cols?: number;
  /** Element type of the returned tensor (default `"float32"`). */
  dtype?: DType;
}

/**
 * Returns a 2-D numeric variable as a row-major tensor `[rows, cols]` (MATLAB's `A(i, j)` at
 * `t.get(i - 1, j - 1)`).
 * @throws DatasetError `missing-variable` listing the variables present; `unsupported` for a
 *   non-numeric or complex variable; `bad-shape` when the dimensions differ from `rows`/`cols`
 */
export function matMatrix(mat: MatFile, name: string, options: MatMatrixOptions = {}): Tensor {
  const v = mat.variables.get(name);
  if (!v) {
    const present = [...mat.variables.values()].map(describe).join(", ") || "none";
    throw new DatasetError(
      "missing-variable",
      mat.file,
      `no variable '${name}' (variables present: ${present})`,
    );
  }
  if (!v.data) {
    throw new DatasetError(
      "unsupported",
      mat.file,
      `variable '${name}' is of class ${v.className}: expected a numeric matrix`,
    );
  }
  if (v.imag)
    throw new DatasetError("unsupported", mat.file, `variable '${name}' is complex: expected a real matrix`);
  const dims = v.dims;
  const want = `${options.rows ?? "any"}x${options.cols ?? "any"}`;
  if (
    dims.length !== 2 ||
    (options.rows !== undefined && dims[0] !== options.rows) ||
    (options.cols !== undefined && dims[1] !== options.cols)
  ) {
    throw new DatasetError(
      "bad-shape",
      mat.file,
      `variable '${name}': expected ${want}, found ${dims.join("x")}`,
    );
  }
  const [rows, cols] = dims as [number, number];
  const out = allocArray(options.dtype ?? "float32", rows * cols);
  const src = v.data;
  for (let j = 0; j < cols; j++) {
    const col = j * rows;
    for (let i = 0; i < rows; i++) out[i * cols + j] = src[col + i]!;
  }
  return new Tensor([rows, cols], out);
}
