import { type FloatArray, Rng } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { gatherLabels, gatherRows, SET_MIN_VALUES } from "../src/gather.js";

/** The element-by-element copy gatherRows replaced: the reference for every fast path. */
function referenceRows(
  src: ArrayLike<number>,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: FloatArray,
  column: boolean,
): void {
  for (let i = 0; i < count; i++) {
    const r = indices === null ? start + i : indices[start + i]!;
    for (let k = 0; k < rowSize; k++) dst[column ? k * count + i : i * rowSize + k] = src[r * rowSize + k]!;
  }
}

type SrcKind = "float32" | "float64" | "uint8" | "int32" | "array";

/** `rows * rowSize` values of the given kind, with fractions, negatives and large values where it can hold them. */
function source(kind: SrcKind, rows: number, rowSize: number, seed: number): ArrayLike<number> {
  const rng = new Rng(seed);
  const n = rows * rowSize;
  const v = (): number => (kind === "uint8" ? Math.floor(rng.uniform(0, 256)) : rng.normal(0, 1e3) / 7);
  switch (kind) {
    case "float32":
      return Float32Array.from({ length: n }, v);
    case "float64":
      return Float64Array.from({ length: n }, v);
    case "uint8":
      return Uint8Array.from({ length: n }, v);
    case "int32":
      return Int32Array.from({ length: n }, () => Math.round(v()));
    case "array":
      return Array.from({ length: n }, v);
  }
}

function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return new Rng(seed).shuffle(p);
}

/** Indices made of runs of consecutive rows (lengths 1-5) in shuffled order, to exercise run detection. */
function runs(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const blocks: number[][] = [];
  for (let r = 0; r < n; ) {
    const len = Math.min(n - r, 1 + Math.floor(rng.uniform(0, 5)));
    blocks.push(Array.from({ length: len }, (_, k) => r + k));
    r += len;
  }
  return Int32Array.from(Array.from(permutation(blocks.length, seed), (b) => blocks[b]!).flat());
}

/** Copies with gatherRows and with the reference into buffers pre-filled with a sentinel; both must agree bit for bit. */
function expectSameAsReference(
  src: ArrayLike<number>,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dtype: "float32" | "float64",
  column: boolean,
): void {
  const make = () =>
    dtype === "float32" ? new Float32Array(count * rowSize + 3) : new Float64Array(count * rowSize + 3);
  const got = make().fill(-7.5);
  const want = make().fill(-7.5);
  gatherRows(src, rowSize, indices, start, count, got, column);
  referenceRows(src, rowSize, indices, start, count, want, column);
  expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
}

describe("gatherRows", () => {
  const kinds: SrcKind[] = ["float32", "float64", "uint8", "int32", "array"];
  // below and above the size at which a block is copied with set()
  const rowSizes = [1, 3, SET_MIN_VALUES - 1, SET_MIN_VALUES, 784];
  const rows = 57;

  it("copies rows in order (one block) as the element-wise loop does, for every source and destination type", () => {
    for (const kind of kinds) {
      for (const rowSize of rowSizes) {
        const src = source(kind, rows, rowSize, rowSize);
        for (const dtype of ["float32", "float64"] as const) {
          for (const [start, count] of [
            [0, rows],
            [5, 10],
            [56, 1],
            [0, 1],
          ] as const) {
            expectSameAsReference(src, rowSize, null, start, count, dtype, false);
          }
        }
      }
    }
  });

  it("copies shuffled rows and runs of consecutive rows as the element-wise loop does", () => {
    for (const kind of kinds) {
      for (const rowSize of rowSizes) {
        const src = source(kind, rows, rowSize, 100 + rowSize);
        for (const indices of [permutation(rows, rowSize), runs(rows, rowSize)]) {
          for (const dtype of ["float32", "float64"] as const) {
            for (const [start, count] of [
              [0, rows],
              [3, 20],
              [10, 1],
            ] as const) {
              expectSameAsReference(src, rowSize, indices, start, count, dtype, false);
            }
          }
        }
      }
    }
  });

  it("transposes into the column convention (several batch sizes, single rows and columns)", () => {
    for (const kind of kinds) {
      for (const rowSize of [1, 2, 10, 784]) {
        const src = source(kind, rows, rowSize, 200 + rowSize);
        for (const indices of [null, permutation(rows, 3)]) {
          for (const count of [1, 2, 15, 16, 17, 53]) {
            for (const dtype of ["float32", "float64"] as const) {
              expectSameAsReference(src, rowSize, indices, 1, count, dtype, true);
            }
          }
        }
      }
    }
  });

  it("rounds float64 sources into float32 buffers as assignment does", () => {
    const src = Float64Array.of(
      0.1,
      1 / 3,
      1e-46,
      3.4028236e38,
      Number.NaN,
      -0,
      16777217,
      Number.POSITIVE_INFINITY,
    );
    const rowSize = src.length;
    const big = new Float64Array(rowSize * SET_MIN_VALUES);
    for (let r = 0; r < SET_MIN_VALUES; r++) big.set(src, r * rowSize);
    for (const s of [src, big]) {
      const n = s.length / rowSize;
      const got = new Float32Array(s.length);
      gatherRows(s, rowSize, null, 0, n, got, false);
      const want = new Float32Array(s.length);
      for (let i = 0; i < s.length; i++) want[i] = s[i]!;
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
      expect(Object.is(got[5], -0)).toBe(true);
    }
  });

  it("writes nothing outside the batch and nothing for an empty batch", () => {
    const src = source("float32", 10, 100, 1);
    const dst = new Float32Array(1000).fill(9);
    gatherRows(src, 100, null, 3, 0, dst, false);
    gatherRows(src, 100, permutation(10, 1), 3, 0, dst, true);
    expect(dst.every((v) => v === 9)).toBe(true);
    gatherRows(src, 100, null, 2, 4, dst, false);
    expect(dst.subarray(400).every((v) => v === 9)).toBe(true);
  });
});

describe("gatherLabels", () => {
  function referenceLabels(
    labels: ArrayLike<number>,
    classes: number,
    indices: Int32Array | null,
    start: number,
    count: number,
    column: boolean,
  ): Float64Array {
    const out = new Float64Array(count * classes);
    for (let i = 0; i < count; i++) {
      const l = labels[indices === null ? start + i : indices[start + i]!]!;
      if (classes === 1) out[i] = l;
      else out[column ? l * count + i : i * classes + l] = 1;
    }
    return out;
  }

  it("one-hot encodes rows and columns, and copies the label itself for one class", () => {
    const n = 40;
    const rng = new Rng(4);
    const u8 = Uint8Array.from({ length: n }, () => Math.floor(rng.uniform(0, 10)));
    for (const labels of [u8, Int32Array.from(u8), Array.from(u8)]) {
      for (const indices of [null, permutation(n, 2)]) {
        for (const column of [false, true]) {
          for (const classes of [1, 10]) {
            const dst = new Float64Array(17 * classes).fill(5);
            gatherLabels(labels, classes, indices, 6, 17, dst, column);
            expect(Array.from(dst)).toEqual(
              Array.from(referenceLabels(labels, classes, indices, 6, 17, column)),
            );
          }
        }
      }
    }
  });

  it("throws a RangeError for a label outside [0, classes) or not an integer", () => {
    const dst = new Float32Array(30);
    for (const bad of [10, -1, 2.5, Number.NaN, 255]) {
      const labels = [0, 1, bad];
      for (const column of [false, true]) {
        expect(() => gatherLabels(labels, 10, null, 0, 3, dst, column)).toThrow(RangeError);
        expect(() => gatherLabels(labels, 10, Int32Array.of(2, 0, 1), 0, 3, dst, column)).toThrow(
          /is not a class index in \[0, 10\)/,
        );
      }
    }
    expect(() => gatherLabels(Uint8Array.of(3, 200), 10, null, 0, 2, dst, false)).toThrow(/label 200/);
  });
});
