/**
 * Streaming decode: gzip into a consumer (`gunzipInto`), MNIST images decoded chunk by chunk into
 * their final floats (`MnistImageDecoder`, with a choice of rows), files streamed from disk
 * (`streamDataFile`), and the loaders' `trainSize` and ex4 row selection, which must give exactly the
 * data the full decode gives.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { crc32 } from "../src/gzip.js";
import {
  DATASET_FILES,
  ex4FromMnist,
  gunzip,
  gunzipInto,
  MnistImageDecoder,
  mnistFromBytes,
  parseMnistImages,
  parseMnistSet,
  splitMnist,
} from "../src/index.js";
import { loadEx4, loadMnist, streamDataFile } from "../src/node.js";
import {
  concat,
  DATA_DIR,
  expectDatasetError,
  expectDatasetErrorAsync,
  gz,
  idxImages,
  idxLabels,
} from "./helpers.js";

const TMP = mkdtempSync(path.join(os.tmpdir(), "gradgraph-stream-"));
afterAll(() => rm(TMP, { recursive: true, force: true }));
let fileNo = 0;
/** Writes `bytes` to a fresh file; returns its path. */
function file(bytes: Uint8Array, name = "f"): string {
  const dir = path.join(TMP, String(fileNo++));
  mkdirSync(dir);
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Pushes `bytes` to a decoder in pieces of the given sizes (cycled). */
function decodeInPieces(
  bytes: Uint8Array,
  sizes: number[],
  o: ConstructorParameters<typeof MnistImageDecoder>[0] = {},
) {
  const d = new MnistImageDecoder(o);
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    d.push(bytes.subarray(at, at + n));
    at += n;
  }
  return d.finish();
}

/** The SHA-256 of a typed array's bytes: compares millions of values natively (toEqual walks them one by one). */
function digest(a: ArrayBufferView): string {
  return createHash("sha256")
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest("hex");
}

/** Rows `rows` of a `[n, f]` float array. */
function rowsOf(x: Float32Array, f: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * f);
  for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i]! * f, (rows[i]! + 1) * f), i * f);
  return out;
}

describe("crc32 and gunzipInto", () => {
  it("crc32 continues over chunks", () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 13) & 255);
    expect(crc32(data.subarray(300), crc32(data.subarray(0, 300)))).toBe(crc32(data));
  });

  it("hands the same bytes to the consumer as gunzip returns, and checks the trailer", () => {
    const payload = idxImages(30);
    const packed = gz(payload);
    const chunks: Uint8Array[] = [];
    const n = gunzipInto(packed, (c) => chunks.push(c.slice()), "p.gz");
    expect(n).toBe(payload.length);
    expect(concat(...chunks)).toEqual(gunzip(packed));
    const bad = packed.slice();
    bad[bad.length - 6] ^= 0xff; // the stored CRC-32
    expectDatasetError(() => gunzipInto(bad, () => {}, "p.gz"), "corrupt", "p.gz: gzip CRC-32 check failed");
    // a consumer's own error passes through as it is
    expect(() =>
      gunzipInto(packed, () => {
        throw new TypeError("consumer");
      }),
    ).toThrow(TypeError);
  });

  it("stops at the size the content declares, with a forwarding consumer too", () => {
    expectDatasetError(
      () =>
        parseMnistImages(gz(concat(idxImages(1).subarray(0, 16), new Uint8Array(2 << 20))), { file: "i.gz" }),
      "too-large",
      "i.gz: gzip data exceeds 800 bytes, the size the IDX header declares",
    );
  });
});

describe("MnistImageDecoder", () => {
  const raw = idxImages(7);
  const whole = parseMnistImages(raw);

  it("gives the same floats whatever the chunk sizes, exactly pixel / 255", () => {
    for (const sizes of [[1], [3, 17], [16], [15, 1000], [784], [raw.length]]) {
      expect(decodeInPieces(raw, sizes).data).toEqual(whole.data);
    }
    expect(whole.shape).toEqual([7, 784]);
    for (const i of [0, 100, 784 * 3 + 5]) expect(whole.data[i]).toBe(Math.fround(raw[16 + i]! / 255));
    const f64 = decodeInPieces(raw, [100], { dtype: "float64" });
    expect(f64.dtype).toBe("float64");
    expect(f64.data[785]).toBe(raw[16 + 785]! / 255);
  });

  it("keeps only the rows asked for, in order (an array, or a function of the count)", () => {
    const f = 784;
    const rows = [0, 2, 3, 6];
    for (const sizes of [[5], [784], [1000, 3]]) {
      const t = decodeInPieces(raw, sizes, { rows });
      expect(t.shape).toEqual([4, 784]);
      expect(t.data).toEqual(rowsOf(whole.data as Float32Array, f, rows));
    }
    let seen = -1;
    const t = decodeInPieces(raw, [64], {
      rows: (count) => {
        seen = count;
        return [5];
      },
    });
    expect(seen).toBe(7);
    expect(t.data).toEqual(rowsOf(whole.data as Float32Array, f, [5]));
    expect(decodeInPieces(raw, [50], { rows: [] }).shape).toEqual([0, 784]);
    expect(parseMnistImages(gz(raw), { rows: [1, 4] }).data).toEqual(
      rowsOf(whole.data as Float32Array, f, [1, 4]),
    );
  });

  it("reports header, shape and length problems with the file name", () => {
    const d = new MnistImageDecoder({ file: "x.idx" });
    expectDatasetError(() => d.push(idxLabels([1, 2])), "bad-magic", "x.idx: wrong magic number at byte 0");
    expectDatasetError(
      () => decodeInPieces(raw.subarray(0, 3), [2], { file: "x" }),
      "truncated",
      "x: IDX header truncated",
    );
    expectDatasetError(
      () => decodeInPieces(raw.subarray(0, 10), [4], { file: "x" }),
      "truncated",
      "3 dimensions need 16 header bytes",
    );
    expectDatasetError(
      () => decodeInPieces(idxImages(2, 20, 20), [9], { file: "x" }),
      "bad-shape",
      "x: image size: expected 28x28",
    );
    expectDatasetError(
      () => decodeInPieces(raw.subarray(0, raw.length - 1), [100], { file: "x" }),
      "truncated",
      "x: IDX length mismatch: dimensions [7,28,28] of uint8 need 5,504 bytes, found 5,503",
    );
    expectDatasetError(
      () => decodeInPieces(concat(raw, new Uint8Array(3)), [1000], { file: "x", rows: [1] }),
      "length-mismatch",
      "found 5,507",
    );
    expectDatasetError(
      () => decodeInPieces(raw, [100], { file: "x", rows: [2, 7] }),
      "count-mismatch",
      "x: image 7 was asked for, but the IDX header declares 7 images",
    );
    expect(() => decodeInPieces(raw, [100], { rows: [3, 3] })).toThrow(RangeError);
    expect(() => decodeInPieces(raw, [100], { rows: [1.5] })).toThrow(RangeError);
  });

  it("a header declaring more than the input can hold does not allocate it up front", () => {
    // 1,000,000 images declared, 7 present: with plausibleBytes the result grows with the pixels
    const lying = raw.slice();
    new DataView(lying.buffer).setUint32(4, 1_000_000);
    const d = new MnistImageDecoder({ file: "l", plausibleBytes: lying.length });
    d.push(lying);
    expectDatasetError(() => d.finish(), "truncated", "l: IDX length mismatch");
  });
});

describe("streamDataFile", () => {
  const raw = idxImages(12);
  const decodeFile = async (p: string, o: Parameters<typeof streamDataFile>[2] = {}) => {
    let d: MnistImageDecoder | undefined;
    const info: { gzip?: boolean; size?: number } = {};
    const n = await streamDataFile(
      p,
      (f) => {
        Object.assign(info, f);
        d = new MnistImageDecoder({ file: p });
        return (c) => d!.push(c);
      },
      o,
    );
    return { x: d!.finish(), n, info };
  };

  it("decodes gzip'd and raw files the same as the in-memory parser", async () => {
    const expected = parseMnistImages(raw).data;
    const g = await decodeFile(file(gz(raw)));
    expect(g.info).toMatchObject({ gzip: true });
    expect(g.n).toBe(raw.length);
    expect(g.x.data).toEqual(expected);
    const r = await decodeFile(file(raw));
    expect(r.info).toMatchObject({ gzip: false, size: raw.length });
    expect(r.x.data).toEqual(expected);
    // files larger than one read (64 KiB), both kinds
    const many = idxImages(300);
    expect((await decodeFile(file(gz(many)))).x.data).toEqual(parseMnistImages(many).data);
    expect((await decodeFile(file(many))).x.data).toEqual(parseMnistImages(many).data);
  });

  it("damaged gzip files: the portable decoder's precise message, with the path", async () => {
    const packed = gz(idxImages(100));
    const t = file(packed.subarray(0, packed.length - 500));
    await expectDatasetErrorAsync(() => decodeFile(t), "truncated", `${t}: gzip data ends early`);
    const bad = packed.slice();
    bad[bad.length - 6] ^= 0xff;
    const c = file(bad);
    await expectDatasetErrorAsync(
      () => decodeFile(c),
      "corrupt",
      `${c}: gzip CRC-32 check failed: expected 0x`,
    );
    const trailing = file(concat(packed, new Uint8Array([0, 1, 2])));
    await expectDatasetErrorAsync(
      () => decodeFile(trailing),
      "corrupt",
      `${trailing}: 3 bytes of unexpected data after the end of the gzip data at byte ${packed.length.toLocaleString("en-US")}`,
    );
    const missing = path.join(TMP, "nothing-here");
    await expectDatasetErrorAsync(() => decodeFile(missing), "unreadable", missing);
  });

  it("limits and the consumer's errors stop the stream", async () => {
    const bomb = file(gz(concat(idxImages(1).subarray(0, 16), new Uint8Array(4 << 20))));
    await expectDatasetErrorAsync(
      () => decodeFile(bomb, { limits: { declaredSize: () => ({ bytes: 800, by: "a test" }) } }),
      "too-large",
      "exceeds 800 bytes, the size a test declares",
    );
    const p = file(gz(raw));
    await expect(
      streamDataFile(p, () => () => {
        throw new TypeError("consumer says no");
      }),
    ).rejects.toThrow("consumer says no");
  });

  it("verify: the SHA-256 is checked while streaming (file digest, or content digest)", async () => {
    const spec = DATASET_FILES.mnist.find((s) => s.path.endsWith("t10k-images-idx3-ubyte.gz"))!;
    const real = path.join(DATA_DIR, spec.path);
    await streamDataFile(real, () => () => {}, { verify: spec });
    const other = file(gz(raw));
    await expectDatasetErrorAsync(
      () => streamDataFile(other, () => () => {}, { verify: spec }),
      "checksum-mismatch",
      `${other}: SHA-256 mismatch: expected ${spec.sha256}, found `,
    );
    // a spec without a file digest is checked on the decompressed content
    const contentSpec = { ...spec, sha256: null, contentSha256: "0".repeat(64) };
    await expectDatasetErrorAsync(
      () => streamDataFile(other, () => () => {}, { verify: contentSpec }),
      "checksum-mismatch",
      "SHA-256 of the uncompressed content mismatch",
    );
  });
});

describe("trainSize and row selection give exactly the full decode's data", () => {
  const trainImages = idxImages(20);
  const trainLabels = idxLabels(Array.from({ length: 20 }, (_, i) => (i * 3) % 10));
  const files = {
    trainImages: gz(trainImages),
    trainLabels: gz(trainLabels),
    testImages: idxImages(4),
    testLabels: idxLabels([1, 2, 3, 4]),
  };

  it("mnistFromBytes and splitMnist", () => {
    const full = mnistFromBytes(files, { split: "train-validation-test", validationSize: 5 });
    const cut = mnistFromBytes(files, { split: "train-validation-test", validationSize: 5, trainSize: 6 });
    expect(cut.train.x.shape).toEqual([6, 784]);
    expect(cut.train.x.data).toEqual(full.train.x.data.subarray(0, 6 * 784));
    expect(cut.train.y).toEqual(full.train.y.subarray(0, 6));
    expect(cut.validation.x.data).toEqual(full.validation.x.data);
    expect(cut.validation.y).toEqual(full.validation.y);
    expect(cut.validation.images.shape).toEqual([5, 28, 28]);
    const tt = mnistFromBytes(files, { trainSize: 3 });
    expect(tt.train.y).toEqual(full.train.y.subarray(0, 3));
    expect(mnistFromBytes(files, { trainSize: 1000 }).train.y.length).toBe(20); // capped
    const all = parseMnistSet(files.trainImages, files.trainLabels);
    const s = splitMnist(all, full.test, { split: "train-validation-test", validationSize: 5, trainSize: 6 });
    expect(s.train.x.data).toEqual(cut.train.x.data);
    expect(s.validation.x.data).toEqual(cut.validation.x.data);
    expect(() => mnistFromBytes(files, { trainSize: 0 })).toThrow(/trainSize must be an integer >= 1/);
    const picked = parseMnistSet(files.trainImages, files.trainLabels, { rows: [4, 9] });
    expect(picked.y).toEqual(Uint8Array.from([all.y[4]!, all.y[9]!]));
    expectDatasetError(
      () => parseMnistSet(files.trainImages, gz(idxLabels([1, 2])), { imageFile: "i", labelFile: "l" }),
      "count-mismatch",
      "i + l: image/label count mismatch: 20 images but 2 labels",
    );
  });

  it("loadMnist with trainSize, and loadEx4, on the shared files", async () => {
    const o = { dir: DATA_DIR, download: false } as const;
    const cut = await loadMnist({ ...o, split: "train-validation-test", trainSize: 1000 });
    const test = cut.test;
    expect(cut.train.x.shape).toEqual([1000, 784]);
    expect(cut.validation.x.shape).toEqual([10_000, 784]);
    expect(test.x.shape).toEqual([10_000, 784]);
    const full = await loadMnist({ ...o, split: "train-validation-test" });
    expect(digest(cut.train.x.data)).toBe(digest(full.train.x.data.subarray(0, 1000 * 784)));
    expect(cut.train.y).toEqual(full.train.y.subarray(0, 1000));
    expect(digest(cut.validation.x.data)).toBe(digest(full.validation.x.data));
    expect(digest(cut.validation.y)).toBe(digest(full.validation.y));
    expect(digest(test.x.data)).toBe(digest(full.test.x.data));
    // streamed from disk through zlib = the portable in-memory parser on the same file
    const t10k = readFileSync(path.join(DATA_DIR, "mnist/t10k-images-idx3-ubyte.gz"));
    expect(digest(test.x.data)).toBe(digest(parseMnistImages(t10k).data));
    // ex4 decodes only the 5,000 images it picks: the same result as picking from all 60,000
    const std = await loadMnist(o);
    const ex4 = await loadEx4(o);
    const reference = ex4FromMnist(std.train);
    expect(digest(ex4.x.data)).toBe(digest(reference.x.data));
    expect(digest(ex4.y)).toBe(digest(reference.y));
  }, 60_000);
});
