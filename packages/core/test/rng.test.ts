import { Rng } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

const draws = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextUint32());

describe("Rng", () => {
  test("golden values: xoshiro128** seeded through splitmix32, seed 42", () => {
    // Cross-checked once against a C implementation of splitmix32 + xoshiro128** (uint32 arithmetic).
    expect(draws(new Rng(42), 5)).toEqual([2837322924, 544945897, 479756282, 3500138142, 339756180]);
    expect(draws(new Rng(0), 3)).toEqual([3809008728, 1133695204, 53579671]);
  });

  test("the xoshiro128** step matches the reference vectors for state {1,2,3,4}", () => {
    const r = new Rng(0);
    Object.assign(r as unknown as Record<string, number>, { s0: 1, s1: 2, s2: 3, s3: 4 });
    expect(draws(r, 6)).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  test("same seed, same stream; different seeds differ", () => {
    expect(draws(new Rng(7), 100)).toEqual(draws(new Rng(7), 100));
    const a = draws(new Rng(1), 20);
    const b = draws(new Rng(2), 20);
    expect(a).not.toEqual(b);
    expect(a.filter((v, i) => v === b[i]).length).toBeLessThan(2);
    // large seeds use their high bits too
    expect(draws(new Rng(2 ** 40), 5)).not.toEqual(draws(new Rng(0), 5));
  });

  test("outputs are uint32 and next() is in [0, 1)", () => {
    const r = new Rng(3);
    for (let i = 0; i < 10_000; i++) {
      const u = r.nextUint32();
      expect(Number.isInteger(u) && u >= 0 && u < 2 ** 32).toBe(true);
    }
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.next();
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      if (x < 0 || x >= 1) throw new Error(`next() out of range: ${x}`);
    }
    expect(lo).toBeLessThan(1e-3);
    expect(hi).toBeGreaterThan(1 - 1e-3);
  });

  test("uniform(low, high) stays in range and has the right mean", () => {
    const r = new Rng(11);
    let s = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const x = r.uniform(-3, 5);
      if (x < -3 || x >= 5) throw new Error(`uniform out of range: ${x}`);
      s += x;
    }
    expect(Math.abs(s / n - 1)).toBeLessThan(0.03);
  });

  test("normal(): mean ~0, std ~1 over 100k draws; scaled and shifted", () => {
    const r = new Rng(5);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    let tail = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
      if (Math.abs(z) > 1.96) tail++;
    }
    const mean = s / n;
    const std = Math.sqrt(s2 / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(std - 1)).toBeLessThan(0.015);
    expect(Math.abs(tail / n - 0.05)).toBeLessThan(0.005);
    let t = 0;
    for (let i = 0; i < 10_000; i++) t += r.normal(10, 0.5);
    expect(Math.abs(t / 10_000 - 10)).toBeLessThan(0.03);
  });

  test("int(n) is uniform over 0..n-1 and validates n", () => {
    const r = new Rng(9);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => r.int(0)).toThrow(RangeError);
    expect(() => r.int(2.5)).toThrow(/positive integer/);
  });

  test("permutation is a permutation, deterministic by seed", () => {
    const p = new Rng(13).permutation(1000);
    expect(p).toBeInstanceOf(Int32Array);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...new Rng(13).permutation(1000)]).toEqual([...p]);
    expect([...new Rng(13).permutation(0)]).toEqual([]);
    expect([...new Rng(13).permutation(1)]).toEqual([0]);
  });

  test("shuffle is unbiased enough: each position sees each value", () => {
    const r = new Rng(17);
    const seen = Array.from({ length: 4 }, () => new Array<number>(4).fill(0));
    for (let t = 0; t < 8000; t++) {
      const a = r.shuffle([0, 1, 2, 3]);
      a.forEach((v, i) => {
        seen[i]![v]!++;
      });
    }
    for (const row of seen) for (const c of row) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  test("fillUniform / fillNormal write typed arrays; fork is deterministic and independent", () => {
    const r = new Rng(21);
    const a = r.fillUniform(new Float32Array(100), 2, 3);
    expect([...a].every((v) => v >= 2 && v <= 3)).toBe(true);
    const b = new Rng(21).fillNormal(new Float64Array(4));
    const c = new Rng(21).fillNormal(new Float64Array(4));
    expect([...b]).toEqual([...c]);
    const f1 = new Rng(1).fork();
    const f2 = new Rng(1).fork();
    expect(draws(f1, 5)).toEqual(draws(f2, 5));
    const parent = new Rng(1);
    const child = parent.fork();
    expect(draws(child, 5)).not.toEqual(draws(parent, 5));
  });
});
