/** The liveness pool's best-fit free lists. */
import { describe, expect, test } from "vitest";
import { BufferPool, type PoolSlot } from "../../src/compile/pool.js";
import { Rng } from "../helpers/util.js";

function pool(f32: number[], f64: number[] = []) {
  const made: { dtype: string; capacity: number }[] = [];
  const p = new BufferPool({ float32: f32, float64: f64 }, (dtype, capacity) => {
    made.push({ dtype, capacity });
    const buf = dtype === "float32" ? new Float32Array(capacity) : new Float64Array(capacity);
    return { buf, id: made.length - 1 };
  });
  return { p, made };
}

describe("BufferPool", () => {
  test("best fit: the smallest free buffer that is large enough, else a new one", () => {
    const { p, made } = pool([10, 20, 30, 15, 25]);
    const a = p.take("float32", 10);
    const b = p.take("float32", 20);
    const c = p.take("float32", 30);
    expect(made.map((m) => m.capacity)).toEqual([10, 20, 30]);
    p.give(c);
    p.give(a);
    p.give(b);
    expect(p.take("float32", 15)).toBe(b); // 20 fits best (10 is too small, 30 is larger)
    expect(p.take("float32", 25)).toBe(c);
    expect(p.take("float32", 10)).toBe(a);
    expect(p.take("float32", 10).buf.length).toBe(10); // nothing free: a new one
    expect(p.allocated).toBe(70);
  });

  test("dtypes have separate lists; an empty value gets one element; sizes must be announced", () => {
    const { p } = pool([4], [4, 0]);
    const d = p.take("float64", 4);
    p.give(d);
    expect(p.take("float32", 4)).not.toBe(d);
    expect(p.take("float64", 0).buf.length).toBe(4); // the free float64 buffer fits
    expect(p.take("float64", 0).buf.length).toBe(1);
    expect(() => p.take("float32", 7)).toThrow(/pool size 7 was not announced/);
  });

  test("the most recently freed of equal buffers comes back first", () => {
    const { p } = pool([8, 8, 8]);
    const [a, b, c] = [p.take("float32", 8), p.take("float32", 8), p.take("float32", 8)];
    p.give(a);
    p.give(c);
    p.give(b);
    expect([p.take("float32", 8), p.take("float32", 8), p.take("float32", 8)]).toEqual([b, c, a]);
  });

  test("random sequences: same capacities and allocations as a linear best-fit scan", () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const sizes = Array.from({ length: 200 }, () => 1 + rng.int(rng.int(2) ? 8 : 300));
      const { p } = pool(sizes);
      const live: PoolSlot[] = [];
      const free: number[] = []; // the reference: capacities in a plain list
      let refAllocated = 0;
      for (const size of sizes) {
        let best = -1;
        for (let i = 0; i < free.length; i++)
          if (free[i]! >= size && (best < 0 || free[i]! < free[best]!)) best = i;
        const expected = best >= 0 ? free.splice(best, 1)[0]! : size;
        if (best < 0) refAllocated += size;
        const slot = p.take("float32", size);
        expect(slot.buf.length).toBe(expected);
        live.push(slot);
        while (live.length && rng.int(3) === 0) {
          const s = live.splice(rng.int(live.length), 1)[0]!;
          free.push(s.buf.length);
          p.give(s);
        }
      }
      expect(p.allocated).toBe(refAllocated);
    }
  });

  test("200,000 buffers alive at once, then all reused", () => {
    // (a free-list scan per request made this take minutes; the test times out long before)
    const half = Array.from({ length: 200_000 }, (_, i) => 16 + (i % 7));
    const { p } = pool([...half, ...half]);
    const slots = half.map((s) => p.take("float32", s));
    for (const s of slots) p.give(s);
    for (const s of half) p.take("float32", s);
    expect(p.allocated).toBe(half.reduce((a, b) => a + b, 0));
  });
});
