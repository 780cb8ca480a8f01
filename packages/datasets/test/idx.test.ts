import { describe, expect, it } from "vitest";
import { adler32, crc32 } from "../src/gzip.js";
import {
  gunzip,
  isGzip,
  maybeGunzip,
  mnistFromBytes,
  parseIdx,
  parseMnistImages,
  parseMnistLabels,
  parseMnistSet,
  splitMnist,
} from "../src/index.js";
import { concat, expectDatasetError, gz, idxImages, idxLabels } from "./helpers.js";

describe("checksums", () => {
  it("crc32 and adler32 match the standard check values", () => {
    const data = new TextEncoder().encode("123456789");
    expect(crc32(data)).toBe(0xcbf43926);
    expect(adler32(data)).toBe(0x091e01de);
    expect(crc32(new Uint8Array(0))).toBe(0);
    // Lengths that exercise both the 8-byte loop and the tail.
    const big = Uint8Array.from({ length: 1003 }, (_, i) => (i * 7) & 255);
    let c = -1;
    for (const b of big) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    expect(crc32(big)).toBe(~c >>> 0);
  });
});

describe("gunzip", () => {
  const payload = idxLabels([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  const packed = gz(payload);

  it("round-trips and is detected", () => {
    expect(isGzip(packed)).toBe(true);
    expect(isGzip(payload)).toBe(false);
    expect(gunzip(packed)).toEqual(payload);
    expect(gunzip(packed.slice().buffer as ArrayBuffer)).toEqual(payload);
    expect(maybeGunzip(payload)).toBe(payload);
  });

  it("rejects truncated gzip, naming the file", () => {
    const big = gz(idxImages(20));
    for (const keep of [big.length - 1, big.length - 5, big.length - 9, Math.floor(big.length / 2), 30]) {
      const e = expectDatasetError(
        () => gunzip(big.subarray(0, keep), "images.gz"),
        "truncated",
        "images.gz: gzip data ends early",
      );
      expect(e.file).toBe("images.gz");
    }
    expectDatasetError(
      () => gunzip(packed.subarray(0, 12), "labels.gz"),
      "truncated",
      "labels.gz: gzip data truncated: expected at least 18 bytes, found 12",
    );
  });

  it("rejects a corrupt CRC with expected and found values", () => {
    const bad = packed.slice();
    bad[bad.length - 8] ^= 0xff;
    expectDatasetError(
      () => gunzip(bad, "x.gz"),
      "corrupt",
      "x.gz",
      "CRC-32 check failed: expected 0x",
      "found 0x",
    );
  });

  it("rejects corrupt deflate data and a wrong length trailer", () => {
    const big = gz(idxImages(20));
    const bad = big.slice();
    for (let i = 40; i < 60; i++) bad[i] ^= 0x5a;
    const e = expectDatasetError(() => gunzip(bad, "img.gz"), "corrupt", "img.gz");
    expect(e.message).toMatch(/corrupt|check failed/);
    const len = packed.slice();
    len[len.length - 1] = 1; // ISIZE now ~16 MB
    expectDatasetError(
      () => gunzip(len, "x.gz"),
      "corrupt",
      "length check failed",
      `found ${payload.length}`,
    );
  });

  it("trailing data after the gzip member: names the file and the byte where the gzip data ends", () => {
    const cases = [Uint8Array.of(7, 1, 2), new Uint8Array(5), new Uint8Array(100).fill(0x41), packed];
    for (const extra of cases) {
      const e = expectDatasetError(
        () => gunzip(concat(packed, extra), "t.gz"),
        "corrupt",
        `t.gz: ${extra.length} bytes of unexpected data after the end of the gzip data at byte ${packed.length}`,
        `the file has ${packed.length + extra.length} bytes`,
      );
      expect(e.message).not.toContain("trailer says");
    }
    expectDatasetError(() => gunzip(concat(packed, packed), "t.gz"), "corrupt", "a second gzip member");
  });

  it("rejects non-gzip data and unknown methods", () => {
    expectDatasetError(
      () => gunzip(payload, "p"),
      "bad-magic",
      "p: not gzip data: expected bytes 1f 8b at byte 0, found 00 00",
    );
    const m = packed.slice();
    m[2] = 7;
    expectDatasetError(() => gunzip(m, "m.gz"), "unsupported", "expected 8 (deflate) at byte 2, found 7");
  });
});

describe("IDX parsing", () => {
  it("parses images (gzip or raw) into [n, 784] floats in [0, 1] with pixel / 255", () => {
    const raw = idxImages(3);
    for (const bytes of [raw, gz(raw)]) {
      const x = parseMnistImages(bytes, { file: "img" });
      expect(x.shape).toEqual([3, 784]);
      expect(x.dtype).toBe("float32");
      expect(x.get(1, 2)).toBe(Math.fround(33 / 255));
      expect(x.get(0, 255)).toBe(1);
    }
    expect(parseMnistImages(raw, { dtype: "float64" }).get(1, 2)).toBe(33 / 255);
  });

  it("parses labels and generic IDX arrays of every element type", () => {
    expect(Array.from(parseMnistLabels(gz(idxLabels([3, 1, 4]))))).toEqual([3, 1, 4]);
    const header = (type: number, ...dims: number[]) => {
      const h = new DataView(new ArrayBuffer(4 + 4 * dims.length));
      h.setUint32(0, (type << 8) | dims.length);
      dims.forEach((d, i) => {
        h.setUint32(4 + 4 * i, d);
      });
      return new Uint8Array(h.buffer);
    };
    const body = (size: number, set: (v: DataView, i: number) => void, n: number) => {
      const v = new DataView(new ArrayBuffer(size * n));
      for (let i = 0; i < n; i++) set(v, i);
      return new Uint8Array(v.buffer);
    };
    const cases: [number, number, (v: DataView, i: number) => void, number[]][] = [
      [0x08, 1, (v, i) => v.setUint8(i, 250 + i), [250, 251, 252, 253, 254, 255]],
      [0x09, 1, (v, i) => v.setInt8(i, -i), [0, -1, -2, -3, -4, -5]],
      [0x0b, 2, (v, i) => v.setInt16(2 * i, -300 * i), [0, -300, -600, -900, -1200, -1500]],
      [0x0c, 4, (v, i) => v.setInt32(4 * i, 70000 * i), [0, 70000, 140000, 210000, 280000, 350000]],
      [0x0d, 4, (v, i) => v.setFloat32(4 * i, i / 2), [0, 0.5, 1, 1.5, 2, 2.5]],
      [0x0e, 8, (v, i) => v.setFloat64(8 * i, i / 3), [0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3]],
    ];
    for (const [type, size, set, expected] of cases) {
      const a = parseIdx(concat(header(type, 2, 3), body(size, set, 6)));
      expect(a.shape).toEqual([2, 3]);
      expect(Array.from(a.data)).toEqual(expected);
    }
  });

  it("rejects wrong magic numbers with expected vs found", () => {
    expectDatasetError(
      () => parseMnistLabels(idxImages(2), { file: "train-labels-idx1-ubyte" }),
      "bad-magic",
      "train-labels-idx1-ubyte: wrong magic number at byte 0: expected 0x00000801 (IDX1 unsigned-byte labels), found 0x00000803 (an image file)",
    );
    expectDatasetError(
      () => parseMnistImages(gz(idxLabels([1, 2])), { file: "imgs.gz" }),
      "bad-magic",
      "imgs.gz",
      "expected 0x00000803",
      "found 0x00000801 (a label file)",
    );
    expectDatasetError(
      () => parseIdx(new TextEncoder().encode("hello world")),
      "bad-magic",
      "not an IDX file",
    );
  });

  it("rejects wrong dimensions, wrong lengths and truncated files", () => {
    expectDatasetError(
      () => parseMnistImages(idxImages(2, 27, 28), { file: "f" }),
      "bad-shape",
      "f: image size: expected 28x28",
      "found 27x28",
    );
    const raw = idxImages(2);
    expectDatasetError(
      () => parseMnistImages(raw.subarray(0, raw.length - 100), { file: "f" }),
      "truncated",
      "f: IDX length mismatch: dimensions [2,28,28] of uint8 need 1,584 bytes, found 1,484",
    );
    expectDatasetError(
      () => parseMnistImages(concat(raw, new Uint8Array(3)), { file: "f" }),
      "length-mismatch",
      "need 1,584 bytes, found 1,587",
    );
    expectDatasetError(
      () => parseMnistLabels(idxLabels([1, 2, 3]).subarray(0, 6)),
      "truncated",
      "header truncated",
    );
    expectDatasetError(
      () => parseMnistLabels(new Uint8Array([0, 0])),
      "truncated",
      "expected at least 4 bytes, found 2",
    );
  });

  it("rejects labels outside 0..9 with their position", () => {
    expectDatasetError(
      () => parseMnistLabels(idxLabels([1, 2, 12]), { file: "l" }),
      "bad-value",
      "l: label 2 at byte 10: expected a digit 0..9, found 12",
    );
  });

  it("rejects an image/label count mismatch, naming both files", () => {
    expectDatasetError(
      () =>
        parseMnistSet(gz(idxImages(3)), gz(idxLabels([1, 2, 3, 4])), {
          imageFile: "a.gz",
          labelFile: "b.gz",
        }),
      "count-mismatch",
      "a.gz + b.gz: image/label count mismatch: 3 images but 4 labels",
    );
  });

  it("assembles splits from bytes, with views for the validation split", () => {
    const labels = Array.from({ length: 12 }, (_, i) => i % 10);
    const files = {
      trainImages: gz(idxImages(12)),
      trainLabels: gz(idxLabels(labels)),
      testImages: idxImages(4),
      testLabels: idxLabels([1, 2, 3, 4]),
    };
    const std = mnistFromBytes(files);
    expect(std.train.x.shape).toEqual([12, 784]);
    expect(std.train.images.shape).toEqual([12, 28, 28]);
    expect(std.train.images.data).toBe(std.train.x.data);
    expect(std.test.y.length).toBe(4);
    const tv = mnistFromBytes(files, { split: "train-validation-test", validationSize: 5 });
    expect(tv.train.x.shape).toEqual([7, 784]);
    expect(tv.validation.x.shape).toEqual([5, 784]);
    expect(Array.from(tv.validation.y)).toEqual(labels.slice(7));
    expect(tv.validation.x.data[0]).toBe(std.train.x.get(7, 0));
    expect(tv.validation.x.data.buffer).toBe(tv.train.x.data.buffer); // a view, not a copy
    expect(() =>
      splitMnist(std.train, std.test, { split: "train-validation-test", validationSize: 12 }),
    ).toThrow(RangeError);
    expectDatasetError(
      () => mnistFromBytes({ ...files, testLabels: idxLabels([1]) }),
      "count-mismatch",
      "t10k-images-idx3-ubyte.gz + t10k-labels-idx1-ubyte.gz",
    );
  });
});
