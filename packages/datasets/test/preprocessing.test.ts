import { Rng, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import {
  BatchIterator,
  labelCounts,
  MinMaxScaler,
  oneHot,
  StandardScaler,
  splitIndices,
  takeRows,
  trainTestSplit,
} from "../src/index.js";

/** n rows of 3 features: row i is [i, 10 * i, 7]; labels i % k. */
function toy(n: number, k = 3) {
  const x = Tensor.zeros([n, 3], "float64");
  for (let i = 0; i < n; i++) x.data.set([i, 10 * i, 7], 3 * i);
  return { x, y: Uint8Array.from({ length: n }, (_, i) => i % k) };
}

describe("labels", () => {
  it("oneHot and labelCounts", () => {
    const t = oneHot([2, 0, 1], 3);
    expect(t.dtype).toBe("float32");
    expect(t.toNested()).toEqual([
      [0, 0, 1],
      [1, 0, 0],
      [0, 1, 0],
    ]);
    expect(oneHot([1], 2, { dtype: "float64" }).dtype).toBe("float64");
    expect(() => oneHot([3], 3)).toThrow(/label 0 is 3/);
    expect(labelCounts([0, 2, 2, 5])).toEqual([1, 0, 2, 0, 0, 1]);
    expect(labelCounts([1], 4)).toEqual([0, 1, 0, 0]);
  });
});

describe("trainTestSplit", () => {
  it("splits like sklearn: test = ceil(0.25 n), disjoint, covering, seeded", () => {
    const { x, y } = toy(1797, 10);
    const s = trainTestSplit(x, y, { seed: 1 });
    expect(s.xTest.shape).toEqual([450, 3]);
    expect(s.xTrain.shape).toEqual([1347, 3]);
    const all = [...s.trainIndices, ...s.testIndices].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 1797 }, (_, i) => i));
    for (let i = 0; i < 20; i++) {
      const r = s.trainIndices[i]!;
      expect(s.xTrain.get(i, 0)).toBe(r);
      expect(s.yTrain[i]).toBe(r % 10);
    }
    expect(trainTestSplit(x, y, { seed: 1 }).testIndices).toEqual(s.testIndices);
    expect(trainTestSplit(x, y, { seed: 2 }).testIndices).not.toEqual(s.testIndices);
    expect(trainTestSplit(x, y, { rng: new Rng(1) }).testIndices).toEqual(s.testIndices);
  });

  it("stratifies: each class split in proportion", () => {
    const n = 1000;
    const y = Uint8Array.from({ length: n }, (_, i) => (i < 700 ? 0 : i < 900 ? 1 : 2));
    const x = Tensor.zeros([n, 1]);
    const s = trainTestSplit(x, y, { testSize: 0.3, seed: 4, stratify: true });
    expect(labelCounts(s.yTest, 3)).toEqual([210, 60, 30]);
    expect(labelCounts(s.yTrain, 3)).toEqual([490, 140, 70]);
    // Not grouped by class after splitting.
    expect(new Set(s.yTest.subarray(0, 30)).size).toBeGreaterThan(1);
    const odd = splitIndices(10, { testSize: 3, stratify: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], seed: 0 });
    expect(odd.test.length).toBe(3);
    expect(odd.train.length).toBe(7);
  });

  it("stratifies large classes without spreading them into a call (no stack overflow)", () => {
    const n = 1_000_000;
    const y = new Uint8Array(n);
    y.fill(1, n / 2);
    const s = splitIndices(n, { stratify: y, testSize: 0.5, seed: 1 });
    expect(s.test.length).toBe(n / 2);
    expect(s.train.length).toBe(n / 2);
  });

  it("supports counts, trainSize and no shuffling", () => {
    expect(splitIndices(10, { testSize: 2, trainSize: 5, seed: 0 }).train.length).toBe(5);
    const ordered = splitIndices(10, { trainSize: 0.7, shuffle: false });
    expect(Array.from(ordered.train)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(ordered.test)).toEqual([7, 8, 9]);
    expect(() => splitIndices(10, { testSize: 6, trainSize: 6 })).toThrow(/exceeds/);
    expect(() => splitIndices(10, { testSize: 1.5 })).toThrow(RangeError);
    expect(() => splitIndices(10, { shuffle: false, stratify: new Uint8Array(10) })).toThrow(/shuffle/);
  });

  it("takeRows keeps trailing dimensions", () => {
    const t = Tensor.from([
      [[1], [2]],
      [[3], [4]],
      [[5], [6]],
    ]);
    expect(takeRows(t, [2, 0]).toNested()).toEqual([
      [[5], [6]],
      [[1], [2]],
    ]);
  });
});

describe("scalers", () => {
  it("MinMaxScaler fits on train and applies the same map to test", () => {
    const train = Tensor.from([
      [0, 10, 5],
      [2, 30, 5],
      [4, 20, 5],
    ]);
    const test = Tensor.from([[1, 40, 6]]);
    const s = new MinMaxScaler();
    expect(s.fitTransform(train).toNested()).toEqual([
      [0, 0, 0],
      [0.5, 1, 0],
      [1, 0.5, 0],
    ]);
    expect(s.transform(test).toNested()).toEqual([[0.25, 1.5, 1]]);
    expect(s.inverseTransform(s.transform(test)).toNested()).toEqual([[1, 40, 6]]);
    expect(Array.from(s.dataMin!)).toEqual([0, 10, 5]);
    const g = new MinMaxScaler({ perFeature: false, featureRange: [-1, 1] }).fit(train);
    expect(g.transform(Tensor.from([[0, 30, 15]])).toNested()).toEqual([[-1, 1, 0]]);
    const inPlace = Tensor.from([[4, 20, 5]]);
    expect(s.transformInPlace(inPlace)).toBe(inPlace);
    expect(inPlace.toNested()).toEqual([[1, 0.5, 0]]);
    expect(() => new MinMaxScaler().transform(test)).toThrow(/fit/);
    expect(() => s.transform(Tensor.from([[1, 2]]))).toThrow(/3 features/);
  });

  it("StandardScaler gives zero mean and unit (population) std on train", () => {
    const { x } = toy(50);
    const s = new StandardScaler();
    const z = s.fitTransform(x);
    for (const k of [0, 1]) {
      let m = 0;
      let v = 0;
      for (let i = 0; i < 50; i++) m += z.get(i, k) / 50;
      for (let i = 0; i < 50; i++) v += (z.get(i, k) - m) ** 2 / 50;
      expect(m).toBeCloseTo(0, 12);
      expect(v).toBeCloseTo(1, 12);
    }
    expect(z.get(3, 2)).toBe(0); // constant feature only centred
    expect(s.inverseTransform(z).get(7, 1)).toBeCloseTo(70, 10);
    expect(s.std![0]).toBeCloseTo(Math.sqrt((50 * 50 - 1) / 12), 10);
  });
});

describe("BatchIterator", () => {
  it("visits every row once per epoch, reusing the same tensors", () => {
    const data = toy(23, 4);
    const it = new BatchIterator(data, { batchSize: 5, seed: 3, dtype: "float32" });
    expect(it.numBatches).toBe(5);
    const seen: number[] = [];
    const xs = new Set<Tensor>();
    let last: { size: number; shape: readonly number[] } | null = null;
    for (const b of it) {
      xs.add(b.x);
      for (let i = 0; i < b.size; i++) {
        const r = b.indices[i]!;
        seen.push(r);
        expect(b.x.get(i, 1)).toBe(10 * r);
        expect(b.labels![i]).toBe(r % 4);
        expect(b.y.get(i, r % 4)).toBe(1);
      }
      expect(b.epoch).toBe(1);
      last = { size: b.size, shape: b.x.shape };
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(xs.size).toBe(2); // one full-batch tensor, one for the last (3-row) batch
    expect(last).toEqual({ size: 3, shape: [3, 3] });
    expect([...it][0]!.epoch).toBe(2);
  });

  it("yields identical objects and buffers across batches and epochs", () => {
    const it = new BatchIterator(toy(20), { batchSize: 5 });
    const a = [...it].map((b) => b.x);
    const b = [...it].map((b) => b.x);
    expect(new Set([...a, ...b]).size).toBe(1);
    expect(a[0]!.dtype).toBe("float64");
    const full = it.batches().next().value!;
    const y = full.y;
    expect(it.batches().next().value!.y).toBe(y);
  });

  it("shuffles reproducibly per seed, differently per epoch; file order without shuffle", () => {
    // Batches are reused objects: read them inside the loop.
    const order = (it: BatchIterator) => {
      const out: number[] = [];
      for (const b of it) out.push(...b.indices);
      return out;
    };
    const a = new BatchIterator(toy(30), { batchSize: 7, seed: 9 });
    const b = new BatchIterator(toy(30), { batchSize: 7, seed: 9 });
    const e1 = order(a);
    expect(order(b)).toEqual(e1);
    expect(order(a)).not.toEqual(e1);
    const plain = new BatchIterator(toy(30), { batchSize: 7, shuffle: false });
    expect(order(plain)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it("drops the last partial batch on request", () => {
    const it = new BatchIterator(toy(23), { batchSize: 5, dropLast: true });
    const sizes: number[] = [];
    for (const b of it) sizes.push(b.size);
    expect(sizes).toEqual([5, 5, 5, 5]);
  });

  it("produces index targets, tensor targets and converts dtypes", () => {
    const data = toy(6, 3);
    const idx = [
      ...new BatchIterator(data, { batchSize: 6, targets: "index", shuffle: false, dtype: "float32" }),
    ][0]!;
    expect(idx.y.shape).toEqual([6]);
    expect(idx.y.dtype).toBe("float32");
    expect(Array.from(idx.y.data)).toEqual([0, 1, 2, 0, 1, 2]);
    const targets = Tensor.from(
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      { dtype: "float32" },
    );
    const t = [];
    for (const b of new BatchIterator(
      { x: Tensor.zeros([3, 1]), y: targets },
      { batchSize: 2, shuffle: false },
    )) {
      t.push({ y: b.y.toNested(), labels: b.labels });
    }
    expect(t).toEqual([
      {
        y: [
          [1, 2],
          [3, 4],
        ],
        labels: null,
      },
      { y: [[5, 6]], labels: null },
    ]);
    const wide = new BatchIterator(data, { batchSize: 2, numClasses: 5 });
    expect(wide.numClasses).toBe(5);
    expect([...wide][0]!.y.shape).toEqual([2, 5]);
    expect(() => new BatchIterator(data, { batchSize: 2, numClasses: 2 })).toThrow(/label 2/);
    expect(() => new BatchIterator(data, { batchSize: 0 })).toThrow(RangeError);
    expect(() => new BatchIterator({ x: data.x, y: new Uint8Array(2) }, { batchSize: 2 })).toThrow(/rows/);
  });
});
