/**
 * Test helpers: where the shared data lives, and builders for small (possibly broken) fixture files.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deflateRawSync, gzipSync, constants as zlibConstants, crc32 as zlibCrc32 } from "node:zlib";
import { zlibSync } from "fflate";
import { expect } from "vitest";
import { DatasetError, type DatasetErrorCode } from "../src/index.js";

/** The repository root (three levels above this file). */
export const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/** The shared data directory (CI: a fresh clone with ../shared beside it). */
export const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(REPO_ROOT, "../shared/datasets");

/** Runs `fn` and checks it throws a DatasetError with `code` whose message contains every `parts`. */
export function expectDatasetError(
  fn: () => unknown,
  code: DatasetErrorCode,
  ...parts: string[]
): DatasetError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return checkDatasetError(caught, code, parts);
}

/** Async variant of {@link expectDatasetError}. */
export async function expectDatasetErrorAsync(
  fn: () => Promise<unknown>,
  code: DatasetErrorCode,
  ...parts: string[]
): Promise<DatasetError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  return checkDatasetError(caught, code, parts);
}

function checkDatasetError(caught: unknown, code: DatasetErrorCode, parts: string[]): DatasetError {
  expect(caught, "expected a DatasetError to be thrown").toBeInstanceOf(DatasetError);
  const e = caught as DatasetError;
  expect(e.code, e.message).toBe(code);
  for (const p of parts) expect(e.message).toContain(p);
  return e;
}

/** Big-endian uint32 bytes. */
function be32(...values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    v.setUint32(4 * i, x, false);
  });
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An IDX image file: `n` images of rows x cols, pixel (k, i) = (k * 31 + i) % 256. */
export function idxImages(n: number, rows = 28, cols = 28, magic = 0x803): Uint8Array {
  const px = new Uint8Array(n * rows * cols);
  for (let i = 0; i < px.length; i++)
    px[i] = (Math.floor(i / (rows * cols)) * 31 + (i % (rows * cols))) % 256;
  return concat(be32(magic, n, rows, cols), px);
}

/** An IDX label file with the given labels. */
export function idxLabels(labels: number[], magic = 0x801): Uint8Array {
  return concat(be32(magic, labels.length), Uint8Array.from(labels));
}

/** gzip at level 1 with Node's zlib (fast; other settings and header than the original files'). A copy, not a Buffer view. */
export function gz(data: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(data, { level: 1 }));
}

// ---- MAT-file writer (level 5), enough to produce valid and broken fixtures ----

/** Options of the MAT fixture writer. */
export interface MatWriteOptions {
  /** Little-endian (default true). */
  le?: boolean;
}

function pad8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** A data element: tag + data (+ padding), or the small format when `small` and it fits. */
export function matElement(
  type: number,
  data: Uint8Array,
  options: MatWriteOptions & { small?: boolean } = {},
): Uint8Array {
  const le = options.le ?? true;
  if (options.small && data.length <= 4) {
    const out = new Uint8Array(8);
    const v = new DataView(out.buffer);
    v.setUint32(0, ((data.length << 16) | type) >>> 0, le);
    out.set(data, 4);
    return out;
  }
  const out = new Uint8Array(8 + pad8(data.length));
  const v = new DataView(out.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, data.length, le);
  out.set(data, 8);
  return out;
}

/** Encodes numbers as the given mi type. */
export function matNumbers(type: number, values: readonly number[], le = true): Uint8Array {
  const size = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8 }[type as 1 | 2 | 3 | 4 | 5 | 6 | 7 | 9];
  const out = new Uint8Array(size * values.length);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    const o = i * size;
    if (type === 1) v.setInt8(o, x);
    else if (type === 2) v.setUint8(o, x);
    else if (type === 3) v.setInt16(o, x, le);
    else if (type === 4) v.setUint16(o, x, le);
    else if (type === 5) v.setInt32(o, x, le);
    else if (type === 6) v.setUint32(o, x, le);
    else if (type === 7) v.setFloat32(o, x, le);
    else v.setFloat64(o, x, le);
  });
  return out;
}

/** Parts of a miMATRIX element, each replaceable to build broken files. */
export interface MatMatrixSpec {
  name: string;
  dims: number[];
  /** Column-major values. */
  values: readonly number[];
  /** mx class code (default 6, double). */
  mxClass?: number;
  /** mi storage type of the real part (default 9, miDOUBLE). */
  storage?: number;
  /** Imaginary part (makes the matrix complex). */
  imag?: readonly number[];
  /** Override the array-flags element. */
  flagsElement?: Uint8Array;
}

/** A miMATRIX element. */
export function matMatrix(spec: MatMatrixSpec, options: MatWriteOptions = {}): Uint8Array {
  const le = options.le ?? true;
  const flags = (spec.mxClass ?? 6) | (spec.imag ? 0x800 : 0);
  const storage = spec.storage ?? 9;
  const body = concat(
    spec.flagsElement ?? matElement(6, matNumbers(6, [flags, 0], le), options),
    matElement(5, matNumbers(5, spec.dims, le), options),
    matElement(1, new TextEncoder().encode(spec.name), { ...options, small: true }),
    matElement(storage, matNumbers(storage, spec.values, le), { ...options, small: true }),
    ...(spec.imag ? [matElement(storage, matNumbers(storage, spec.imag, le), options)] : []),
  );
  return matElement(14, body, options);
}

/** Wraps an element as miCOMPRESSED (zlib, unpadded). */
export function matCompressed(element: Uint8Array, options: MatWriteOptions = {}): Uint8Array {
  const z = zlibSync(element);
  const out = new Uint8Array(8 + z.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 15, options.le ?? true);
  v.setUint32(4, z.length, options.le ?? true);
  out.set(z, 8);
  return out;
}

/** A whole MAT-file: 128-byte header then the elements. */
export function matFile(
  elements: Uint8Array[],
  options: MatWriteOptions & { text?: string } = {},
): Uint8Array {
  const le = options.le ?? true;
  const header = new Uint8Array(128).fill(0x20);
  header.set(
    new TextEncoder().encode(
      options.text ?? "MATLAB 5.0 MAT-file, Platform: test, Created by gradgraph tests",
    ),
  );
  new DataView(header.buffer).setUint16(124, 0x0100, le);
  header.set(new TextEncoder().encode(le ? "IM" : "MI"), 126);
  return concat(header, ...elements);
}

// ---- decompression bombs, built without ever holding the inflated data ----

/** One mebibyte. */
export const MIB = 1 << 20;

/**
 * A raw deflate stream of `prefix` followed by `zeroMiB` MiB of zero bytes. One MiB of zeros is
 * compressed once (about 1 kB, ending in a full flush so it is byte-aligned and self-contained) and
 * repeated, so a 512 MiB bomb costs half a megabyte and no large buffer.
 */
export function deflateBomb(prefix: Uint8Array, zeroMiB: number): Uint8Array {
  const flush = { finishFlush: zlibConstants.Z_FULL_FLUSH };
  const mib = new Uint8Array(deflateRawSync(new Uint8Array(MIB), flush));
  return concat(
    new Uint8Array(deflateRawSync(prefix, flush)),
    ...Array.from({ length: zeroMiB }, () => mib),
    new Uint8Array(deflateRawSync(new Uint8Array(0))), // the final (empty) block
  );
}

/** A valid gzip file (right CRC-32 and length) whose content is `prefix` then `zeroMiB` MiB of zeros. */
export function gzipBomb(prefix: Uint8Array, zeroMiB: number): Uint8Array {
  const zeros = new Uint8Array(MIB);
  let crc = zlibCrc32(prefix);
  for (let i = 0; i < zeroMiB; i++) crc = zlibCrc32(zeros, crc);
  const trailer = new Uint8Array(8);
  const v = new DataView(trailer.buffer);
  v.setUint32(0, crc >>> 0, true);
  v.setUint32(4, (prefix.length + zeroMiB * MIB) >>> 0, true);
  return concat(Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255), deflateBomb(prefix, zeroMiB), trailer);
}

/** A valid zlib stream (right Adler-32) whose content is `prefix` then `zeroMiB` MiB of zeros. */
export function zlibBomb(prefix: Uint8Array, zeroMiB: number): Uint8Array {
  let a = 1;
  let b = 0;
  for (const x of prefix) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  b = (b + a * ((zeroMiB * MIB) % 65521)) % 65521; // each zero byte adds a to b
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, ((b << 16) | a) >>> 0, false);
  return concat(Uint8Array.of(0x78, 0x9c), deflateBomb(prefix, zeroMiB), trailer);
}

/** Peak resident memory of this process so far in MiB (a high-water mark: it never goes down). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

// ---- property-test settings (the same variables as @gradgraph/autograd/testing's fcParameters) ----

/**
 * fast-check run parameters from `GRADGRAPH_FC_RUNS` (scales `numRuns`, relative to 30 as in autograd)
 * and `GRADGRAPH_FC_SEED` (an integer, or `random`); fixed seed by default so CI is reproducible.
 * (datasets does not depend on autograd, so its helper is not imported; this reads the variables the
 * same way.)
 */
export function fcParams(numRuns: number): { seed: number; numRuns: number } {
  const runs = process.env.GRADGRAPH_FC_RUNS?.trim();
  const seedVar = process.env.GRADGRAPH_FC_SEED?.trim();
  let n = numRuns;
  if (runs) {
    const r = Number(runs);
    if (!Number.isInteger(r) || r <= 0)
      throw new RangeError(`GRADGRAPH_FC_RUNS must be a positive integer, got ${runs}`);
    n = Math.max(1, Math.round((numRuns * r) / 30));
  }
  let seed = 20240607;
  if (seedVar === "random") seed = (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;
  else if (seedVar) {
    seed = Number(seedVar);
    if (!Number.isInteger(seed))
      throw new RangeError(`GRADGRAPH_FC_SEED must be an integer or 'random', got ${seedVar}`);
  }
  return { seed, numRuns: n };
}
