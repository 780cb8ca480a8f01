import {
  allocArray,
  broadcastAxes,
  broadcastShapes,
  copyInto,
  dtypeOfArray,
  isConcrete,
  isDType,
  isValidDim,
  normalizeAxis,
  resolveShape,
  ShapeError,
  shapesEqual,
  shapeToString,
  sizeOf,
  stridesOf,
  Tensor,
  tryBroadcastShapes,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";

describe("Tensor.from", () => {
  test("nested arrays give row-major data and the nested shape", () => {
    const t = Tensor.from([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float64");
    expect(t.data).toBeInstanceOf(Float64Array);
    expect(t.toArray()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.rank).toBe(2);
    expect(t.size).toBe(6);
  });

  test("rank 3, scalars and empty arrays", () => {
    const t = Tensor.from([
      [[1], [2]],
      [[3], [4]],
    ]);
    expect(t.shape).toEqual([2, 2, 1]);
    expect(t.toArray()).toEqual([1, 2, 3, 4]);
    const s = Tensor.from(7);
    expect(s.shape).toEqual([]);
    expect(s.rank).toBe(0);
    expect(s.item()).toBe(7);
    expect(Tensor.from([]).shape).toEqual([0]);
    expect(Tensor.from([[], []]).shape).toEqual([2, 0]);
  });

  test("dtype option and flat values with a shape", () => {
    const t = Tensor.from([1.1, 2, 3, 4, 5, 6], { shape: [3, 2], dtype: "float32" });
    expect(t.dtype).toBe("float32");
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.shape).toEqual([3, 2]);
    expect(t.get(0, 0)).toBe(Math.fround(1.1));
    expect(t.get(2, 1)).toBe(6);
    expect(() => Tensor.from([1, 2, 3], { shape: [2, 2] })).toThrow(
      /3 values given for shape \[2,2\] \(needs 4\)/,
    );
  });

  test("a typed array without a shape is a vector", () => {
    const t = Tensor.from(new Float32Array([1, 2, 3]));
    expect(t.shape).toEqual([3]);
    expect(t.dtype).toBe("float64");
    expect(t.toArray()).toEqual([1, 2, 3]);
    const u = Tensor.from(new Float64Array([1, 2, 3, 4]), { shape: [2, 2], dtype: "float32" });
    expect(u.toNested()).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  test("ragged arrays throw a ShapeError naming the path", () => {
    expect(() => Tensor.from([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => Tensor.from([[1, 2], [3]])).toThrow(/ragged array: expected 2 elements at \[1\]/);
    expect(() => Tensor.from([[1, 2], 3] as never)).toThrow(/expected 2 elements at \[1\]/);
    expect(() => Tensor.from([1, [2]] as never)).toThrow(/ragged array: expected a number at \[1\]/);
    expect(() =>
      Tensor.from([
        [
          [1, 2],
          [3, 4],
        ],
        [
          [5, 6],
          [7, 8, 9],
        ],
      ]),
    ).toThrow(/at \[1\]\[1\]/);
  });
});

describe("Tensor methods", () => {
  const t = Tensor.from([
    [1, 2, 3],
    [4, 5, 6],
  ]);

  test("constructor validates shape and length", () => {
    expect(() => new Tensor([2, 2], new Float64Array(3))).toThrow(
      /tensor data has 3 elements but shape \[2,2\] needs 4/,
    );
    expect(() => new Tensor([-1], new Float64Array(0))).toThrow(/invalid tensor shape \[-1\]/);
    expect(() => new Tensor([1.5], new Float64Array(1))).toThrow(ShapeError);
    expect(Object.isFrozen(t.shape)).toBe(true);
  });

  test("zeros, full, scalar", () => {
    const z = Tensor.zeros([2, 2]);
    expect(z.dtype).toBe("float32");
    expect(z.toArray()).toEqual([0, 0, 0, 0]);
    expect(Tensor.full([3], 2.5, "float64").toArray()).toEqual([2.5, 2.5, 2.5]);
    const s = Tensor.scalar(4);
    expect(s.shape).toEqual([]);
    expect(s.dtype).toBe("float64");
    expect(s.item()).toBe(4);
  });

  test("get is bounds-checked and row-major", () => {
    expect(t.get(0, 0)).toBe(1);
    expect(t.get(0, 2)).toBe(3);
    expect(t.get(1, 0)).toBe(4);
    expect(t.get(1, 2)).toBe(6);
    expect(() => t.get(2, 0)).toThrow(RangeError);
    expect(() => t.get(0, 3)).toThrow(/index 3 out of range for axis 1 of shape \[2,3\]/);
    expect(() => t.get(-1, 0)).toThrow(RangeError);
    expect(() => t.get(0.5, 0)).toThrow(RangeError);
    expect(() => t.get(0)).toThrow(/index of rank 1 for tensor of shape \[2,3\]/);
    expect(Tensor.scalar(3).get()).toBe(3);
  });

  test("item needs exactly one element", () => {
    expect(Tensor.from([[5]]).item()).toBe(5);
    expect(() => t.item()).toThrow(/item\(\) needs one element, tensor has shape \[2,3\]/);
  });

  test("reshape shares data; clone copies", () => {
    const r = t.reshape([3, 2]);
    expect(r.shape).toEqual([3, 2]);
    expect(r.data).toBe(t.data);
    expect(r.get(2, 1)).toBe(6);
    expect(() => t.reshape([4])).toThrow(ShapeError);
    const c = t.clone();
    expect(c.data).not.toBe(t.data);
    expect(c.toArray()).toEqual(t.toArray());
    c.data[0] = 100;
    expect(t.data[0]).toBe(1);
  });

  test("astype converts and copies", () => {
    const x = Tensor.from([0.1, 2], { dtype: "float64" });
    const f = x.astype("float32");
    expect(f.dtype).toBe("float32");
    expect(f.data).toBeInstanceOf(Float32Array);
    expect(f.data[0]).toBe(Math.fround(0.1));
    const back = f.astype("float64");
    expect(back.data[0]).toBe(Math.fround(0.1));
    expect(back.data).not.toBe(x.data);
    expect(x.astype("float64").data).not.toBe(x.data);
  });

  test("toNested inverts from", () => {
    const nested = [
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      [
        [7, 8],
        [9, 10],
        [11, 12],
      ],
    ];
    expect(Tensor.from(nested).toNested()).toEqual(nested);
    expect(Tensor.scalar(2).toNested()).toBe(2);
    expect(Tensor.from([1, 2]).toNested()).toEqual([1, 2]);
    expect(t.toString()).toBe("Tensor(float64 [2,3])");
  });

  test("copyInto checks sizes", () => {
    const dst = new Float32Array(3);
    expect(copyInto(dst, [1, 2, 3])).toBe(dst);
    expect(Array.from(dst)).toEqual([1, 2, 3]);
    copyInto(dst, new Float64Array([4, 5, 6]));
    expect(Array.from(dst)).toEqual([4, 5, 6]);
    expect(() => copyInto(dst, [1])).toThrow(/copy of 1 elements into 3/);
  });
});

describe("dtype helpers", () => {
  test("isDType, allocArray, dtypeOfArray", () => {
    expect(isDType("float32")).toBe(true);
    expect(isDType("float64")).toBe(true);
    expect(isDType("int32")).toBe(false);
    expect(isDType(undefined)).toBe(false);
    expect(allocArray("float32", 3)).toBeInstanceOf(Float32Array);
    expect(allocArray("float64", 2)).toBeInstanceOf(Float64Array);
    expect(dtypeOfArray(new Float32Array(1))).toBe("float32");
    expect(dtypeOfArray(new Float64Array(1))).toBe("float64");
  });
});

describe("shapes", () => {
  test("shapeToString, sizeOf, stridesOf", () => {
    expect(shapeToString([])).toBe("[]");
    expect(shapeToString(["N", 784])).toBe("[N,784]");
    expect(sizeOf([])).toBe(1);
    expect(sizeOf([2, 3, 4])).toBe(24);
    expect(sizeOf([2, 0, 4])).toBe(0);
    expect(stridesOf([2, 3, 4])).toEqual([12, 4, 1]);
    expect(stridesOf([5])).toEqual([1]);
    expect(stridesOf([])).toEqual([]);
    expect(stridesOf([3, 1, 2])).toEqual([2, 2, 1]);
  });

  test("isConcrete, isValidDim, shapesEqual", () => {
    expect(isConcrete([2, 3])).toBe(true);
    expect(isConcrete(["N", 3])).toBe(false);
    expect(isValidDim(0)).toBe(true);
    expect(isValidDim("N")).toBe(true);
    expect(isValidDim(-1)).toBe(false);
    expect(isValidDim(1.5)).toBe(false);
    expect(isValidDim("")).toBe(false);
    expect(isValidDim(null)).toBe(false);
    expect(shapesEqual(["N", 3], ["N", 3])).toBe(true);
    expect(shapesEqual(["N", 3], ["M", 3])).toBe(false);
    expect(shapesEqual([3], [3, 1])).toBe(false);
    expect(shapesEqual([], [])).toBe(true);
  });

  test.each([
    [
      [2, 3],
      [2, 3],
      [2, 3],
    ],
    [[2, 3], [], [2, 3]],
    [[], [2, 3], [2, 3]],
    [[2, 3], [3], [2, 3]],
    [
      [2, 1],
      [2, 3],
      [2, 3],
    ],
    [
      [2, 1, 4],
      [3, 1],
      [2, 3, 4],
    ],
    [
      [1, 3],
      [2, 1],
      [2, 3],
    ],
    [
      [5, 1, 1],
      [1, 4, 1],
      [5, 4, 1],
    ],
    [[0], [1], [0]],
    [
      [2, 0],
      [2, 1],
      [2, 0],
    ],
  ])("broadcastShapes(%j, %j) = %j", (a, b, want) => {
    expect(broadcastShapes(a, b)).toEqual(want);
    expect(tryBroadcastShapes(b, a)).toEqual(want);
  });

  test("symbolic dims broadcast with 1 and with themselves", () => {
    expect(broadcastShapes(["N", 3], [3])).toEqual(["N", 3]);
    expect(broadcastShapes(["N", 1], [1, 4])).toEqual(["N", 4]);
    expect(broadcastShapes(["N", 3], ["N", 1])).toEqual(["N", 3]);
    expect(broadcastShapes([1, 3], ["N", 3])).toEqual(["N", 3]);
    expect(tryBroadcastShapes(["N", 3], ["M", 3])).toBeNull();
    expect(tryBroadcastShapes(["N"], [5])).toBeNull();
  });

  test("incompatible shapes", () => {
    expect(tryBroadcastShapes([2, 3], [4])).toBeNull();
    expect(tryBroadcastShapes([2, 3], [3, 3])).toBeNull();
    expect(() => broadcastShapes([2, 3], [4])).toThrow(ShapeError);
    expect(() => broadcastShapes([2, 3], [4])).toThrow(
      /shapes \[2,3\] and \[4\] cannot be broadcast together/,
    );
  });

  test("broadcastAxes lists leading and stretched axes", () => {
    expect(broadcastAxes([3], [2, 3])).toEqual([0]);
    expect(broadcastAxes([2, 1], [2, 3])).toEqual([1]);
    expect(broadcastAxes([], [2, 3])).toEqual([0, 1]);
    expect(broadcastAxes([2, 3], [2, 3])).toEqual([]);
    expect(broadcastAxes([3, 1], [2, 3, 4])).toEqual([0, 2]);
    expect(broadcastAxes([1, 1], [1, 4])).toEqual([1]);
    expect(broadcastAxes([1], ["N", 1])).toEqual([0]);
    expect(broadcastAxes(["N", 1], ["N", 5])).toEqual([1]);
    expect(broadcastAxes([1, 5], ["N", 5])).toEqual([0]);
  });

  test("normalizeAxis", () => {
    expect(normalizeAxis(0, 3)).toBe(0);
    expect(normalizeAxis(2, 3)).toBe(2);
    expect(normalizeAxis(-1, 3)).toBe(2);
    expect(normalizeAxis(-3, 3)).toBe(0);
    expect(() => normalizeAxis(3, 3)).toThrow(/axis 3 is out of range for rank 3/);
    expect(() => normalizeAxis(-4, 3)).toThrow(ShapeError);
    expect(() => normalizeAxis(0, 0)).toThrow(ShapeError);
    expect(() => normalizeAxis(0.5, 3)).toThrow(ShapeError);
  });

  test("resolveShape", () => {
    const dims = new Map([
      ["N", 32],
      ["T", 7],
    ]);
    expect(resolveShape(["N", 784], dims)).toEqual([32, 784]);
    expect(resolveShape(["T", "N", 2], dims)).toEqual([7, 32, 2]);
    expect(resolveShape([], dims)).toEqual([]);
    expect(() => resolveShape(["B", 3], dims)).toThrow(/symbolic dimension 'B' has no value/);
  });
});
