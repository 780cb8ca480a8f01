import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  digitsToEx4Labels,
  ex4Images,
  ex4LabelsToDigits,
  matMatrix as getMatrix,
  MAT_MAX_NAME_BYTES,
  parseEx4Data,
  parseEx4Weights,
  readMat,
} from "../src/index.js";
import {
  concat,
  DATA_DIR,
  expectDatasetError,
  matCompressed,
  matElement,
  matFile,
  matMatrix,
  matNumbers,
} from "./helpers.js";

const A = { name: "A", dims: [2, 3], values: [1, 4, 2, 5, 3, 6] }; // [[1,2,3],[4,5,6]] column-major

describe("MAT-file reader", () => {
  it("reads plain and compressed numeric matrices, row-major", () => {
    for (const wrap of [(e: Uint8Array) => e, (e: Uint8Array) => matCompressed(e)]) {
      const mat = readMat(
        matFile([wrap(matMatrix(A)), wrap(matMatrix({ name: "b", dims: [1, 1], values: [7] }))]),
      );
      expect([...mat.variables.keys()]).toEqual(["A", "b"]);
      expect(mat.littleEndian).toBe(true);
      expect(mat.header).toContain("MATLAB 5.0 MAT-file");
      const a = getMatrix(mat, "A", { rows: 2, cols: 3, dtype: "float64" });
      expect(a.toNested()).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      expect(getMatrix(mat, "b").item()).toBe(7);
    }
  });

  it("reads big-endian files, small elements and every numeric storage type", () => {
    const le = false;
    const mat = readMat(
      matFile(
        [matMatrix(A, { le }), matCompressed(matMatrix({ ...A, name: "C", storage: 2 }, { le }), { le })],
        { le },
      ),
    );
    expect(mat.littleEndian).toBe(false);
    expect(Array.from(mat.variables.get("A")!.data!)).toEqual(A.values);
    expect(Array.from(mat.variables.get("C")!.data!)).toEqual(A.values);
    for (const storage of [1, 2, 3, 4, 5, 6, 7, 9]) {
      const v = readMat(
        matFile([matMatrix({ name: "v", dims: [1, 2], values: [3, 1], storage })]),
      ).variables.get("v")!;
      expect(Array.from(v.data!)).toEqual([3, 1]); // 2 values of 1 or 2 bytes use the small element format
    }
    const ints = readMat(
      matFile([matMatrix({ name: "i", dims: [3, 1], values: [-2, 0, 2], mxClass: 12, storage: 5 })]),
    );
    expect(ints.variables.get("i")!.className).toBe("int32");
  });

  it("lists but does not decode non-numeric classes; rejects complex matrices for matMatrix", () => {
    const cell = matElement(
      14,
      concat(
        matElement(6, matNumbers(6, [1, 0])),
        matElement(5, matNumbers(5, [0, 0])),
        matElement(1, new TextEncoder().encode("c")),
      ),
    );
    const mat = readMat(matFile([cell, matMatrix({ ...A, name: "z", imag: [0, 0, 0, 0, 0, 1] })]));
    expect(mat.variables.get("c")!.className).toBe("cell");
    expect(mat.variables.get("c")!.data).toBeNull();
    expect(Array.from(mat.variables.get("z")!.imag!)).toEqual([0, 0, 0, 0, 0, 1]);
    expectDatasetError(
      () => getMatrix(mat, "c"),
      "unsupported",
      "variable 'c' is of class cell: expected a numeric matrix",
    );
    expectDatasetError(() => getMatrix(mat, "z"), "unsupported", "variable 'z' is complex");
  });

  it("reports a missing variable with the variables present", () => {
    const mat = readMat(matFile([matMatrix(A)]), { file: "w.mat" });
    expectDatasetError(
      () => getMatrix(mat, "Theta1"),
      "missing-variable",
      "w.mat: no variable 'Theta1' (variables present: A 2x3 double)",
    );
    expectDatasetError(
      () => getMatrix(mat, "A", { rows: 3 }),
      "bad-shape",
      "w.mat: variable 'A': expected 3xany, found 2x3",
    );
  });

  it("rejects a wrong header", () => {
    const good = matFile([matMatrix(A)]);
    expectDatasetError(
      () => readMat(good.subarray(0, 100), { file: "h.mat" }),
      "truncated",
      "h.mat: MAT-file header truncated: expected 128 bytes, found 100",
    );
    expectDatasetError(
      () => readMat(matFile([], { text: "NOT A MAT FILE" }), { file: "h.mat" }),
      "bad-magic",
      'found "NOT A MAT FILE"',
    );
    expectDatasetError(
      () => readMat(matFile([], { text: "MATLAB 7.3 MAT-file, Platform: GLNXA64" })),
      "unsupported",
      "v7.3 (HDF5)",
    );
    const hdf5 = new Uint8Array(600);
    hdf5.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    expectDatasetError(() => readMat(hdf5), "unsupported", "HDF5");
    const endian = good.slice();
    endian[126] = 0x41;
    expectDatasetError(
      () => readMat(endian, { file: "e.mat" }),
      "bad-magic",
      'e.mat: endian indicator at byte 126: expected "IM" or "MI", found "AM"',
    );
    const version = good.slice();
    version[124] = 2;
    expectDatasetError(
      () => readMat(version),
      "bad-structure",
      "version at byte 124: expected 0x0100, found 0x0102",
    );
  });

  it("rejects a wrong structure with the byte offset of the element", () => {
    expectDatasetError(
      () => readMat(matFile([matElement(9, matNumbers(9, [1, 2]))]), { file: "s.mat" }),
      "bad-structure",
      "s.mat: top-level element at byte 128: expected miMATRIX (14) or miCOMPRESSED (15), found miDOUBLE (9)",
    );
    expectDatasetError(
      () => readMat(matFile([matMatrix({ ...A, flagsElement: matElement(5, matNumbers(5, [6, 0])) })])),
      "bad-structure",
      "array flags of the miMATRIX at byte 128: expected miUINT32 (6) with 8 bytes, found miINT32 (5)",
    );
    expectDatasetError(
      () => readMat(matFile([matMatrix({ ...A, dims: [3, 3] })])),
      "bad-structure",
      "real part of 'A': dimensions 3x3 need 9 values, found 6",
    );
    expectDatasetError(
      () => readMat(matFile([matCompressed(matElement(9, matNumbers(9, [1])))]), { file: "c.mat" }),
      "bad-structure",
      "c.mat: element at byte 0: expected miMATRIX (14), found miDOUBLE (9) (inside the compressed element at byte 128)",
    );
  });

  it("rejects truncated files and corrupt compressed elements", () => {
    const plain = matFile([matMatrix(A)]);
    expectDatasetError(
      () => readMat(plain.subarray(0, plain.length - 16), { file: "t.mat" }),
      "truncated",
      "t.mat: element at byte 128 (miMATRIX (14)) declares",
    );
    const packed = matFile([matCompressed(matMatrix(A))]);
    expectDatasetError(
      () => readMat(packed.subarray(0, packed.length - 5), { file: "t.mat" }),
      "truncated",
      "t.mat",
      "but only",
    );
    const flipped = packed.slice();
    flipped[flipped.length - 1] ^= 0xff; // the Adler-32 trailer
    expectDatasetError(
      () => readMat(flipped, { file: "z.mat" }),
      "corrupt",
      "z.mat: compressed element at byte 128: Adler-32 check failed: expected 0x",
    );
    const header = packed.slice();
    header[136] = 0x12; // zlib header
    expectDatasetError(() => readMat(header), "corrupt", "invalid zlib header");
  });
});

describe("MAT-file limits (issue 9)", () => {
  it("a 300 kB variable name is refused naming the file, the byte offset and the limit (no stack overflow)", () => {
    expect(MAT_MAX_NAME_BYTES).toBe(4096);
    const long = matMatrix({ name: "x".repeat(300_000), dims: [1, 1], values: [1] });
    expectDatasetError(
      () => readMat(matFile([long]), { file: "long.mat" }),
      "bad-structure",
      "long.mat: array name of the miMATRIX at byte 128 is 300,000 bytes long: expected at most 4,096 bytes (MAT_MAX_NAME_BYTES)",
    );
    expectDatasetError(
      () => readMat(matFile([matCompressed(long)]), { file: "long.mat" }),
      "bad-structure",
      "long.mat: array name of the miMATRIX at byte 0 is 300,000 bytes long",
      "(inside the compressed element at byte 128)",
    );
    const ok = readMat(matFile([matMatrix({ name: "y".repeat(4096), dims: [1, 1], values: [2] })]));
    expect([...ok.variables.keys()][0]!.length).toBe(4096);
  });

  it("maxBytes also bounds the decoded values (8 bytes each as float64), before allocating them", () => {
    const bytes = matFile([
      matMatrix({ name: "u", dims: [1000, 1], values: new Array(1000).fill(7), storage: 2 }),
    ]);
    expect(readMat(bytes, { maxBytes: 8016 }).variables.get("u")!.data!.length).toBe(1000);
    expectDatasetError(
      () => readMat(bytes, { file: "u.mat", maxBytes: 4000 }),
      "too-large",
      "u.mat: real part of 'u' at byte 176: 1,000 values take 8,000 bytes as float64, more than the 3,984 bytes left of the limit maxBytes = 4,000 bytes",
    );
  });

  it("negative dimensions are refused", () => {
    expectDatasetError(
      () => readMat(matFile([matMatrix({ ...A, dims: [-2, -3] })]), { file: "neg.mat" }),
      "bad-structure",
      "neg.mat: dimensions of the miMATRIX at byte 128: expected sizes >= 0, found -2x-3",
    );
  });
});

describe("ex4 files", () => {
  it("reads the course's ex4weights.mat: Theta1 25x401, Theta2 10x26", () => {
    const bytes = readFileSync(path.join(DATA_DIR, "ng-ex4/ex4weights.mat"));
    const mat = readMat(bytes, { file: "ex4weights.mat" });
    expect(mat.header).toContain("Created on: Tue Oct 18 14:57:02 2011");
    const w = parseEx4Weights(bytes, { dtype: "float64" });
    expect(w.theta1.shape).toEqual([25, 401]);
    expect(w.theta2.shape).toEqual([10, 26]);
    // Values printed by the course material (Theta1(1,1), Theta1(1,2), Theta2(1,1), Theta2(1,2)).
    expect(w.theta1.get(0, 0)).toBeCloseTo(-2.25623899e-2, 10);
    expect(w.theta1.get(0, 1)).toBeCloseTo(-1.05624163e-8, 16);
    expect(w.theta2.get(0, 0)).toBeCloseTo(-0.76100352, 8);
    expect(w.theta2.get(0, 1)).toBeCloseTo(-1.21244498, 8);
    expect(parseEx4Weights(bytes).theta1.dtype).toBe("float32");
    const noTheta2 = matFile([
      matCompressed(matMatrix({ name: "Theta1", dims: [25, 401], values: new Array(25 * 401).fill(0) })),
    ]);
    expectDatasetError(
      () => parseEx4Weights(noTheta2, { file: "w.mat" }),
      "missing-variable",
      "w.mat: no variable 'Theta2' (variables present: Theta1 25x401 double)",
    );
  });

  it("reads an ex4data1-style file (X m x 400, y m x 1 in 1..10)", () => {
    const m = 3;
    const x = Array.from({ length: m * 400 }, (_, i) => i / 1200);
    const file = (y: number[]) =>
      matFile([
        matCompressed(matMatrix({ name: "X", dims: [m, 400], values: x })),
        matCompressed(matMatrix({ name: "y", dims: [y.length, 1], values: y, storage: 2 })),
      ]);
    const d = parseEx4Data(file([10, 1, 9]), { dtype: "float64" });
    expect(d.source).toBe("ex4data1.mat");
    expect(d.x.shape).toEqual([3, 400]);
    expect(d.x.get(1, 2)).toBe(x[1 + 2 * m]); // row-major from column-major storage
    expect(Array.from(d.y)).toEqual([10, 1, 9]);
    expect(Array.from(ex4LabelsToDigits(d.y))).toEqual([0, 1, 9]);
    expect(Array.from(digitsToEx4Labels([0, 1, 9]))).toEqual([10, 1, 9]);
    expectDatasetError(
      () => parseEx4Data(file([10, 0, 9]), { file: "d.mat" }),
      "bad-value",
      "d.mat: y(2): expected a label 1..10 (10 = digit 0), found 0",
    );
    expectDatasetError(
      () => parseEx4Data(file([10, 1]), { file: "d.mat" }),
      "count-mismatch",
      "'X' has 3 rows but 'y' has 2 labels",
    );
  });

  it("ex4Images turns column-major rows into row-major images", () => {
    const row = Float64Array.from({ length: 400 }, (_, i) => i); // pixel (r, c) stored at c * 20 + r
    const img = ex4Images(
      getMatrix(readMat(matFile([matMatrix({ name: "X", dims: [1, 400], values: Array.from(row) })])), "X", {
        dtype: "float64",
      }),
    );
    expect(img.shape).toEqual([1, 20, 20]);
    expect(img.get(0, 3, 5)).toBe(5 * 20 + 3);
  });
});
