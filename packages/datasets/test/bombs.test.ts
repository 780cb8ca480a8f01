/**
 * Decompression bombs: small files that inflate to hundreds of MiB. Every decoder must stop as soon as
 * the output exceeds what the header (or a stated limit) allows, without holding the inflated data.
 * The bombs are generated here (half a megabyte each, see `gzipBomb`); nothing is committed.
 *
 * Memory is checked with the process's peak RSS (`maxRSS`, a high-water mark): vitest runs each test
 * file in its own process, and the tests that should stay small come first.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DATASET_FILES,
  DIGITS_MAX_BYTES,
  gunzip,
  parseDigits,
  parseIdx,
  parseMnistImages,
  parseMnistLabels,
  readMat,
  unzlib,
} from "../src/index.js";
import { type FetchLike, gunzipFile, loadDigits, readFiles } from "../src/node.js";
import {
  concat,
  expectDatasetError,
  expectDatasetErrorAsync,
  gzipBomb,
  idxLabels,
  MIB,
  matFile,
  matMatrix,
  peakRssMiB,
  zlibBomb,
} from "./helpers.js";

/** The bomb: about 0.5 MB of gzip inflating to 512 MiB. */
const BOMB_MIB = 512;
/** How much the peak RSS may grow while a bomb is refused (one inflate chunk and change). */
const SMALL_MIB = 100;

const TMP = mkdtempSync(path.join(os.tmpdir(), "gradgraph-bombs-"));
afterAll(() => rm(TMP, { recursive: true, force: true }));

const offline: FetchLike = async () => {
  throw new TypeError("fetch failed");
};

/** Runs `fn` (sync or async) and returns how much the peak RSS grew meanwhile, in MiB. */
async function peakGrowth(fn: () => unknown): Promise<number> {
  const before = peakRssMiB();
  await fn();
  return peakRssMiB() - before;
}

/** Writes `bytes` as `rel` in a fresh data directory; returns loader options reading only that directory. */
function dataDir(rel: string, bytes: Uint8Array) {
  const dir = mkdtempSync(path.join(TMP, "d"));
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), bytes);
  return { dir, cacheDir: path.join(dir, "cache"), env: {}, fetch: offline, file: path.join(dir, rel) };
}

const labelsBomb = gzipBomb(idxLabels(Array.from({ length: 1000 }, (_, i) => i % 10)), BOMB_MIB);
const zerosBomb = gzipBomb(new Uint8Array(0), BOMB_MIB);

describe("decompression bombs", () => {
  it("the bombs are what the issue describes: about 0.5 MB inflating to 512 MiB", () => {
    expect(labelsBomb.length).toBeLessThan(600_000);
    const isize = new DataView(labelsBomb.buffer).getUint32(labelsBomb.length - 4, true);
    expect(isize).toBe((1008 + BOMB_MIB * MIB) % 2 ** 32);
  });

  it("portable path: a bomb of zeros fails on its first bytes (no IDX magic number)", async () => {
    const grew = await peakGrowth(() =>
      expectDatasetError(
        () => parseMnistImages(zerosBomb, { file: "zeros.gz" }),
        "bad-magic",
        "zeros.gz: wrong magic number at byte 0: expected 0x00000803",
      ),
    );
    expect(grew).toBeLessThan(SMALL_MIB);
  });

  it("portable path (fflate): IDX labels stop at the size the IDX header declares", async () => {
    const grew = await peakGrowth(() =>
      expectDatasetError(
        () => parseMnistLabels(labelsBomb, { file: "bomb-labels.gz" }),
        "too-large",
        "bomb-labels.gz: gzip data exceeds 1,008 bytes, the size the IDX header declares (dimensions [1000] of uint8)",
        "decompression stopped at",
      ),
    );
    expect(grew).toBeLessThan(SMALL_MIB);
    expectDatasetError(
      () => parseIdx(labelsBomb, { file: "b.gz" }),
      "too-large",
      "b.gz",
      "exceeds 1,008 bytes",
    );
  });

  it("Node path (zlib): a local MNIST file stops at the size its IDX header declares", async () => {
    const spec = DATASET_FILES.mnist.find((s) => s.path.endsWith("t10k-labels-idx1-ubyte.gz"))!;
    const o = dataDir(spec.path, labelsBomb);
    const grew = await peakGrowth(() =>
      expectDatasetErrorAsync(
        () => readFiles([spec], o),
        "too-large",
        `${o.file}: gzip data exceeds 1,008 bytes, the size the IDX header declares`,
      ),
    );
    expect(grew).toBeLessThan(SMALL_MIB);
  });

  it("digits CSV: both paths stop at the stated bound DIGITS_MAX_BYTES", async () => {
    expect(DIGITS_MAX_BYTES).toBe(4 * MIB);
    const grew = await peakGrowth(() =>
      expectDatasetError(
        () => parseDigits(zerosBomb, { file: "digits-bomb.csv.gz" }),
        "too-large",
        "digits-bomb.csv.gz: gzip data exceeds 4,194,304 bytes, the limit maxBytes",
      ),
    );
    expect(grew).toBeLessThan(SMALL_MIB);
    const o = dataDir("sklearn-digits/digits.csv.gz", zerosBomb);
    const grewNode = await peakGrowth(() =>
      expectDatasetErrorAsync(
        () => loadDigits(o),
        "too-large",
        `${o.file}: gzip data exceeds 4,194,304 bytes`,
      ),
    );
    expect(grewNode).toBeLessThan(SMALL_MIB);
  });

  it(".mat miCOMPRESSED: stops at the size the miMATRIX tag declares; a huge tag fails at once", async () => {
    const inner = matMatrix({ name: "A", dims: [2, 3], values: [1, 4, 2, 5, 3, 6] });
    const compressed = (z: Uint8Array) => {
      const tag = new Uint8Array(8);
      new DataView(tag.buffer).setUint32(0, 15, true);
      new DataView(tag.buffer).setUint32(4, z.length, true);
      return matFile([concat(tag, z)]);
    };
    const bomb = compressed(zlibBomb(inner, 400));
    const grew = await peakGrowth(() =>
      expectDatasetError(
        () => readMat(bomb, { file: "bomb.mat" }),
        "too-large",
        `bomb.mat: compressed element at byte 128 exceeds ${inner.length} bytes, the size its miMATRIX tag declares`,
      ),
    );
    expect(grew).toBeLessThan(SMALL_MIB);
    // A tag declaring ~4 GiB: refused as soon as the tag is out, naming the limit and the option.
    const hugeTag = new Uint8Array(8);
    new DataView(hugeTag.buffer).setUint32(0, 14, true);
    new DataView(hugeTag.buffer).setUint32(4, 0xfffffff0, true);
    const grewTag = await peakGrowth(() =>
      expectDatasetError(
        () => readMat(compressed(zlibBomb(hugeTag, 400)), { file: "huge.mat", maxBytes: 16 * MIB }),
        "too-large",
        "huge.mat: compressed element at byte 128: its miMATRIX tag declares 4,294,967,288 bytes, more than the limit maxBytes = 16,777,216 bytes",
      ),
    );
    expect(grewTag).toBeLessThan(SMALL_MIB);
    expectDatasetError(
      () => unzlib(zlibBomb(new Uint8Array(0), 64), "z", "zlib data", { maxBytes: MIB }),
      "too-large",
      "z: zlib data exceeds 1,048,576 bytes, the limit maxBytes",
    );
  });

  it("generic gunzip: the maxBytes option, on both paths", async () => {
    const grew = await peakGrowth(async () => {
      expectDatasetError(
        () => gunzip(zerosBomb, "g.gz", { maxBytes: 8 * MIB }),
        "too-large",
        "g.gz: gzip data exceeds 8,388,608 bytes, the limit maxBytes",
      );
      await expectDatasetErrorAsync(
        () => gunzipFile(zerosBomb, "g.gz", { maxBytes: 8 * MIB }),
        "too-large",
        "g.gz: gzip data exceeds 8,388,608 bytes, the limit maxBytes",
      );
    });
    expect(grew).toBeLessThan(SMALL_MIB);
  });

  // Last: this one may inflate up to the default limit (256 MiB), which raises the peak for later tests.
  it("generic gunzip without options stops at the default limit (256 MiB), not at 512 MiB", async () => {
    const grew = await peakGrowth(() =>
      expectDatasetError(
        () => gunzip(zerosBomb, "g.gz"),
        "too-large",
        "g.gz: gzip data exceeds 268,435,456 bytes, the limit maxBytes",
      ),
    );
    expect(grew).toBeLessThan(256 + SMALL_MIB);
  });
});
