/**
 * Fault injection: random byte flips, truncations and appended garbage applied to every file format the
 * package reads (IDX raw and gzip'd, gzip itself on both decoders, the digits CSV plain and gzip'd, .mat
 * plain, compressed and big-endian, plus slices of the real shared files). Each damaged file must give
 * either a correct result or a `DatasetError` with a message naming the file: never another kind of
 * error (TypeError, RangeError, a stack overflow), never a hang, and never a result larger than the
 * stated bound.
 *
 * The bound: a decoder never produces more than its limit (the size the header declares, else
 * `maxBytes`), checked chunk by chunk before the output buffer grows; parsed results hold at most
 * 8 bytes per byte of decompressed content (a `.mat` miINT8 value becomes a float64). The suite also
 * checks that the process's peak RSS grows by less than {@link RSS_BOUND_MIB} over all cases.
 *
 * Runs a fixed seed by default; `GRADGRAPH_FC_RUNS` / `GRADGRAPH_FC_SEED` change the number of cases
 * and the seed (as in the other packages' property tests).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DatasetError,
  gunzip,
  MnistImageDecoder,
  mnistFromBytes,
  parseDigits,
  parseEx4Weights,
  parseIdx,
  parseMnistImages,
  parseMnistLabels,
  readMat,
} from "../src/index.js";
import { gunzipFile, streamDataFile } from "../src/node.js";
import {
  concat,
  DATA_DIR,
  fcParams,
  gz,
  idxImages,
  idxLabels,
  matCompressed,
  matFile,
  matMatrix,
  peakRssMiB,
} from "./helpers.js";

/** The file name every case passes; every DatasetError must name it. */
const FILE = "fuzzed-file";
/** Longest a single case may take (generous: the fixtures decode in well under 10 ms). */
const CASE_MS = 2000;
/** How much the peak RSS may grow over the whole suite. */
const RSS_BOUND_MIB = 200;
/**
 * Allowance for the decoders' transient buffers in one case, on top of 8 bytes per content or input
 * byte: one inflate step (16 KiB of input can inflate to at most 1032 x 16 KiB, about 16.1 MiB, and
 * fflate may double its buffer once while producing it).
 */
const TRANSIENT_BYTES = 34 * 2 ** 20;

/** A damage to apply: byte flips, a truncation, appended garbage, or flips then a truncation. */
type Damage =
  | { kind: "flip"; flips: Flip[] }
  | { kind: "truncate"; keep: number }
  | { kind: "append"; extra: Uint8Array }
  | { kind: "flip+truncate"; flips: Flip[]; keep: number };
/** XOR `xor` into byte `at` (modulo the length), or into one of the last 16 bytes (trailers, sizes). */
type Flip = { at: number; xor: number; nearEnd: boolean };

const flipsArb = fc.array(
  fc.record({
    at: fc.nat({ max: 2 ** 31 - 1 }),
    xor: fc.integer({ min: 1, max: 255 }),
    nearEnd: fc.boolean(),
  }),
  { minLength: 1, maxLength: 4 },
);
/** `keep` as a fraction of the length so that short and long files are cut anywhere. */
const keepArb = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

function damageArb(length: number): fc.Arbitrary<Damage> {
  const keep = keepArb.map((f) => Math.floor(f * length));
  return fc.oneof(
    { weight: 4, arbitrary: flipsArb.map((flips) => ({ kind: "flip" as const, flips })) },
    { weight: 2, arbitrary: keep.map((k) => ({ kind: "truncate" as const, keep: k })) },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 64 })
        .map((extra) => ({ kind: "append" as const, extra })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(flipsArb, keep)
        .map(([flips, k]) => ({ kind: "flip+truncate" as const, flips, keep: k })),
    },
  );
}

function damage(original: Uint8Array, d: Damage): Uint8Array {
  if (d.kind === "append") return concat(original, d.extra);
  const out = original.slice();
  if (d.kind !== "truncate") {
    for (const f of d.flips) {
      const at = f.nearEnd ? out.length - 1 - (f.at % Math.min(16, out.length)) : f.at % out.length;
      out[at] ^= f.xor;
    }
  }
  return d.kind === "flip" ? out : out.subarray(0, d.keep);
}

/** Total bytes of the typed arrays reachable from a parse result (tensors, labels, .mat variables). */
function resultBytes(r: unknown, seen = new Set<unknown>()): number {
  if (r === null || typeof r !== "object" || seen.has(r)) return 0;
  seen.add(r);
  if (ArrayBuffer.isView(r)) return r.byteLength;
  if (r instanceof Map) return [...r.values()].reduce((a: number, v) => a + resultBytes(v, seen), 0);
  return Object.values(r).reduce((a: number, v) => a + resultBytes(v, seen), 0);
}

/**
 * A SHA-256 over a parse result (keys, primitive values and typed-array bytes, in order): comparing
 * results this way is native-fast, where a deep `toEqual` walks every array element on the JS heap.
 */
function fingerprint(r: unknown): string {
  const h = createHash("sha256");
  const walk = (v: unknown): void => {
    if (ArrayBuffer.isView(v)) {
      h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of v instanceof Map ? v : Object.entries(v)) {
        h.update(`{${String(k)}}`);
        walk(x);
      }
    } else {
      h.update(`(${typeof v}:${String(v)})`);
    }
  };
  walk(r);
  return h.digest("hex");
}

/** Checks that a thrown value is a clear DatasetError naming the file. */
function expectClearError(e: unknown): void {
  if (!(e instanceof DatasetError)) {
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new Error(`expected a DatasetError, got ${what}`);
  }
  expect(e.message).toContain(FILE);
  expect(e.message.length).toBeGreaterThan(FILE.length + 10);
}

interface Format {
  /** The undamaged file. */
  bytes: Uint8Array;
  /** Parses it (sync or async). */
  parse: (bytes: Uint8Array) => unknown;
  /** Decompressed content size, for the result bound. */
  contentBytes: number;
  /**
   * For formats whose content is protected by a checksum (gzip CRC-32, zlib Adler-32): a successful
   * parse of damaged bytes must equal the parse of the original.
   */
  checksummed?: boolean;
}

/** One property per format: damage the file, parse, and check the outcome. */
function faultProperty(f: Format) {
  let reference: string | undefined;
  return fc.asyncProperty(damageArb(f.bytes.length), async (d) => {
    reference ??= fingerprint(await f.parse(f.bytes));
    const bytes = damage(f.bytes, d);
    const bound = 8 * (f.contentBytes + bytes.length) + 1024;
    const t = performance.now();
    // ArrayBuffer memory allocated during the case and not yet collected: a lower bound on what the
    // case allocated (a collection in between can only make it smaller), so exceeding the bound is real.
    const buffersBefore = process.memoryUsage().arrayBuffers;
    let result: unknown;
    try {
      result = await f.parse(bytes);
    } catch (e) {
      expectClearError(e);
      return;
    } finally {
      expect(performance.now() - t, "one case took too long").toBeLessThan(CASE_MS);
      const grew = process.memoryUsage().arrayBuffers - buffersBefore;
      expect(grew, "ArrayBuffer bytes allocated by one case").toBeLessThanOrEqual(bound + TRANSIENT_BYTES);
    }
    expect(resultBytes(result)).toBeLessThanOrEqual(bound);
    if (f.checksummed) expect(fingerprint(result)).toBe(reference);
  });
}

// ---- the fixtures, all generated here ----

const labels = Array.from({ length: 50 }, (_, i) => (i * 7) % 10);
const labelsRaw = idxLabels(labels);
const imagesRaw = idxImages(4);
const int16Idx = (() => {
  const v = new DataView(new ArrayBuffer(4 + 8 + 2 * 12));
  v.setUint32(0, 0x0b02);
  v.setUint32(4, 3);
  v.setUint32(8, 4);
  for (let i = 0; i < 12; i++) v.setInt16(12 + 2 * i, i * 1000 - 5000);
  return new Uint8Array(v.buffer);
})();

/** A synthetic digits CSV: 1,797 rows of 64 pixel values 0..16 and a label, some written as "5.0". */
const digitsCsv = (() => {
  const lines: string[] = [];
  for (let r = 0; r < 1797; r++) {
    const row = Array.from({ length: 64 }, (_, c) => String((r * 13 + c * 7) % 17));
    if (r % 5 === 0) row[3] = `${row[3]}.0`;
    lines.push(`${row.join(",")},${r % 10}`);
  }
  return new TextEncoder().encode(`${lines.join("\n")}\n`);
})();

const A = { name: "A", dims: [2, 3], values: [1, 4, 2, 5, 3, 6] };
const B = { name: "Bee", dims: [3, 2], values: [0.5, -1, 2, 3e10, -4, 5], storage: 7 };
const matPlain = matFile([matMatrix(A), matMatrix({ ...B, storage: 9 })]);
const matZ = matFile([matCompressed(matMatrix(A)), matCompressed(matMatrix({ ...B, storage: 9 }))]);
const matBE = matFile(
  [matMatrix(A, { le: false }), matCompressed(matMatrix(B, { le: false }), { le: false })],
  {
    le: false,
  },
);

const shared = (rel: string) => new Uint8Array(readFileSync(path.join(DATA_DIR, rel)));

/** A directory for the cases that stream from a file: every case writes `<dir>/<FILE>` afresh. */
const STREAM_DIR = mkdtempSync(path.join(os.tmpdir(), "gradgraph-fault-"));
afterAll(() => rmSync(STREAM_DIR, { recursive: true, force: true }));

/** Writes `b` as a file and decodes its images as `loadMnist` does (streamed from disk, chunk by chunk). */
async function streamImages(b: Uint8Array) {
  const p = path.join(STREAM_DIR, FILE);
  writeFileSync(p, b);
  let decoder: MnistImageDecoder | undefined;
  await streamDataFile(p, (f) => {
    decoder = new MnistImageDecoder({
      file: p,
      plausibleBytes: f.gzip ? 64 * f.size : f.size,
      rows: [0, 2, 3],
    });
    const d = decoder;
    return (chunk) => d.push(chunk);
  });
  return decoder!.finish();
}

/** Decodes images pushed in 37-byte pieces, keeping images 1 and 3. */
function imagesInPieces(b: Uint8Array) {
  const d = new MnistImageDecoder({ file: FILE, rows: [1, 3] });
  for (let at = 0; at < b.length; at += 37) d.push(b.subarray(at, at + 37));
  return d.finish();
}

const FORMATS: Record<string, Format & { runs: number }> = {
  "IDX labels, raw": {
    bytes: labelsRaw,
    parse: (b) => parseMnistLabels(b, { file: FILE }),
    contentBytes: labelsRaw.length,
    runs: 150,
  },
  "IDX labels, gzip": {
    bytes: gz(labelsRaw),
    parse: (b) => parseMnistLabels(b, { file: FILE }),
    contentBytes: labelsRaw.length,
    checksummed: true,
    runs: 150,
  },
  "IDX images, raw": {
    bytes: imagesRaw,
    parse: (b) => parseMnistImages(b, { file: FILE }),
    contentBytes: imagesRaw.length,
    runs: 100,
  },
  "IDX images, gzip": {
    bytes: gz(imagesRaw),
    parse: (b) => parseMnistImages(b, { file: FILE }),
    contentBytes: imagesRaw.length,
    checksummed: true,
    runs: 150,
  },
  "IDX images, gzip, streamed from a file through zlib (as loadMnist)": {
    bytes: gz(imagesRaw),
    parse: streamImages,
    contentBytes: imagesRaw.length,
    checksummed: true,
    runs: 100,
  },
  "IDX images, raw, streamed from a file (as loadMnist)": {
    bytes: imagesRaw,
    parse: streamImages,
    contentBytes: imagesRaw.length,
    runs: 60,
  },
  "IDX images, raw, in 37-byte pieces (MnistImageDecoder, rows)": {
    bytes: imagesRaw,
    parse: imagesInPieces,
    contentBytes: imagesRaw.length,
    runs: 100,
  },
  "IDX int16, raw (parseIdx)": {
    bytes: int16Idx,
    parse: (b) => parseIdx(b, { file: FILE }),
    contentBytes: int16Idx.length,
    runs: 100,
  },
  "IDX int16, gzip (parseIdx)": {
    bytes: gz(int16Idx),
    parse: (b) => parseIdx(b, { file: FILE }),
    contentBytes: int16Idx.length,
    checksummed: true,
    runs: 100,
  },
  "MNIST set from bytes (four gzip files, the labels damaged)": {
    bytes: gz(idxLabels(labels.slice(0, 4))),
    parse: (b) =>
      mnistFromBytes(
        {
          trainImages: gz(imagesRaw),
          trainLabels: b,
          testImages: imagesRaw,
          testLabels: idxLabels([1, 2, 3, 4]),
        },
        { names: { trainLabels: FILE } },
      ),
    contentBytes: 2 * imagesRaw.length + 16,
    checksummed: true,
    runs: 60,
  },
  "gzip, portable decoder": {
    bytes: gz(digitsCsv.subarray(0, 3000)),
    parse: (b) => gunzip(b, FILE),
    contentBytes: 3000,
    checksummed: true,
    runs: 200,
  },
  "gzip, Node zlib decoder": {
    bytes: gz(digitsCsv.subarray(0, 3000)),
    parse: (b) => gunzipFile(b, FILE),
    contentBytes: 3000,
    checksummed: true,
    runs: 200,
  },
  "digits CSV, plain": {
    bytes: digitsCsv,
    parse: (b) => parseDigits(b, { file: FILE }),
    contentBytes: digitsCsv.length,
    runs: 60,
  },
  "digits CSV, gzip": {
    bytes: gz(digitsCsv),
    parse: (b) => parseDigits(b, { file: FILE }),
    contentBytes: digitsCsv.length,
    checksummed: true,
    runs: 60,
  },
  ".mat, plain": {
    bytes: matPlain,
    parse: (b) => readMat(b, { file: FILE }),
    contentBytes: matPlain.length,
    runs: 150,
  },
  ".mat, miCOMPRESSED": {
    bytes: matZ,
    parse: (b) => readMat(b, { file: FILE }),
    contentBytes: 2 * matPlain.length,
    runs: 150,
  },
  ".mat, big-endian, mixed": {
    bytes: matBE,
    parse: (b) => readMat(b, { file: FILE }),
    contentBytes: 2 * matPlain.length,
    runs: 150,
  },
  "shared t10k-labels-idx1-ubyte.gz": {
    bytes: shared("mnist/t10k-labels-idx1-ubyte.gz"),
    parse: (b) => parseMnistLabels(b, { file: FILE }),
    contentBytes: 10_008,
    checksummed: true,
    runs: 40,
  },
  "shared ex4weights.mat (two miCOMPRESSED elements)": {
    bytes: shared("ng-ex4/ex4weights.mat"),
    parse: (b) => parseEx4Weights(b, { file: FILE }),
    contentBytes: 82_408,
    runs: 40,
  },
};

describe("fault injection: damaged files give a result or a clear DatasetError", () => {
  let rssBefore = 0;
  beforeAll(() => {
    rssBefore = peakRssMiB();
  });
  afterAll(() => {
    expect(peakRssMiB() - rssBefore, "peak RSS growth over the suite (MiB)").toBeLessThan(RSS_BOUND_MIB);
  });

  for (const [name, f] of Object.entries(FORMATS)) {
    it(name, async () => {
      await fc.assert(faultProperty(f), fcParams(f.runs));
    });
  }
});
