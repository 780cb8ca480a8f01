/**
 * randomUniform: a counter-based stream, so the same key gives the same numbers (in every plan,
 * dtype and batch size), another key or salt gives others; values are multiples of 2^-24 in
 * [0, 1) and look uniform; symbolic shapes work; bad attributes are reported.
 */
import { compile, type Dim, type DType, GraphBuilder, Tensor, uniformAt } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

/** The values of `randomUniform(key, shape, salt)` from a fresh compiled graph (batch `N` bound by `x`). */
function draw(key: number, shape: Dim[], salt = 0, dtype: DType = "float64", n?: number): number[] {
  const b = new GraphBuilder({ dtype });
  const k = b.input("key", [1]);
  const feeds: Record<string, Tensor> = { key: Tensor.from([key], { dtype }) };
  if (n !== undefined) {
    b.input("x", ["N"]);
    feeds.x = Tensor.zeros([n], dtype);
  }
  b.output("u", b.randomUniform(k, shape, salt));
  const exe = compile(b.build());
  const out = Array.from(exe.run(feeds).u!.data);
  exe.dispose();
  return out;
}

describe("randomUniform", () => {
  test("the same key and salt give the same values in every plan and run; element i is uniformAt(key, salt, i)", () => {
    const a = draw(42, [3, 5], 7);
    expect(draw(42, [3, 5], 7)).toEqual(a);
    expect(draw(42, [15], 7)).toEqual(a); // the shape only lays the stream out
    expect(a).toEqual(a.map((_, i) => uniformAt(42, 7, i)));
    const b = new GraphBuilder({ dtype: "float64" });
    b.output("u", b.randomUniform(b.input("key", []), [4]));
    const exe = compile(b.build());
    const first = Array.from(exe.run({ key: Tensor.from(9, { dtype: "float64" }) }).u!.data);
    exe.run({ key: Tensor.from(10, { dtype: "float64" }) });
    expect(Array.from(exe.run({ key: Tensor.from(9, { dtype: "float64" }) }).u!.data)).toEqual(first);
    exe.dispose();
  });

  test("another key or another salt gives different values", () => {
    const n = 4096;
    const base = draw(1, [n]);
    for (const other of [draw(2, [n]), draw(-1, [n]), draw(1, [n], 1), draw(1, [n], -1), draw(0, [n])]) {
      const same = base.filter((v, i) => v === other[i]).length;
      expect(same).toBeLessThan(n / 100);
    }
  });

  test("the key is rounded to the nearest integer; negative keys are streams of their own", () => {
    expect(draw(2.7, [8])).toEqual(draw(3, [8]));
    expect(draw(3.4, [8])).toEqual(draw(3, [8]));
    expect(draw(-5, [8])).toEqual(Array.from({ length: 8 }, (_, i) => uniformAt(-5, 0, i)));
  });

  test("values are multiples of 2^-24 in [0, 1), the same in float32 and float64", () => {
    const v64 = draw(123, [2, 50, 50], 3);
    const v32 = draw(123, [2, 50, 50], 3, "float32");
    expect(v32).toEqual(v64);
    const bad = v64.filter((v) => !(v >= 0 && v < 1 && Number.isInteger(v * 2 ** 24)));
    expect(bad).toEqual([]);
  });

  test("10^5 values look uniform: mean, variance, histogram, low bit, neighbours, neighbouring keys", () => {
    const n = 100_000;
    const u = draw(2024, [n], 11);
    const next = draw(2025, [n], 11);
    const mean = u.reduce((s, v) => s + v, 0) / n;
    const variance = u.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    // standard errors: mean 0.0009, variance 0.00024
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
    const bins = new Array<number>(20).fill(0);
    for (const v of u) bins[Math.floor(v * 20)]!++;
    const chi2 = bins.reduce((s, c) => s + (c - n / 20) ** 2 / (n / 20), 0);
    expect(chi2).toBeLessThan(60); // 19 degrees of freedom: mean 19, standard deviation 6.2
    const odd = u.filter((v) => (v * 2 ** 24) % 2 === 1).length / n;
    expect(Math.abs(odd - 0.5)).toBeLessThan(0.01);
    const corr = (a: number[], b: number[]) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (a[i]! - 0.5) * (b[i]! - 0.5);
      return s / a.length / (1 / 12);
    };
    // correlation standard error 1/sqrt(n) = 0.003
    expect(Math.abs(corr(u.slice(1), u.slice(0, -1)))).toBeLessThan(0.02);
    expect(Math.abs(corr(u, next))).toBeLessThan(0.02);
  });

  test("symbolic shapes: each batch size gets the stream's first elements", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const key = b.input("key", []);
    b.output("u", b.randomUniform(key, ["N", 3], 5));
    b.output("y", x.mul(b.randomUniform(key, ["N", 3], 6)));
    const exe = compile(b.build());
    const k = Tensor.from(77, { dtype: "float64" });
    for (const n of [2, 5, 1]) {
      const out = exe.run({ x: Tensor.full([n, 3], 2, "float64"), key: k });
      expect(out.u!.shape).toEqual([n, 3]);
      expect(Array.from(out.u!.data)).toEqual(Array.from({ length: 3 * n }, (_, i) => uniformAt(77, 5, i)));
      expect(Array.from(out.y!.data)).toEqual(
        Array.from({ length: 3 * n }, (_, i) => 2 * uniformAt(77, 6, i)),
      );
    }
    exe.dispose();
    expect(draw(8, ["N", 2], 0, "float64", 4)).toEqual(
      Array.from({ length: 8 }, (_, i) => uniformAt(8, 0, i)),
    );
  });

  test("bad keys and attributes are reported with the op's name", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const key = b.input("key", [1]);
    expect(() => b.randomUniform(b.input("k2", [2]), [3])).toThrow(
      /randomUniform at node #\d+: the key must be a scalar, got \[2\]/,
    );
    expect(() => b.randomUniform(key, [3], 1.5)).toThrow(
      /randomUniform at node #\d+: attribute 'salt' must be an integer, got 1.5/,
    );
    expect(() => b.randomUniform(key, [3], 0, "int8" as DType)).toThrow(
      /randomUniform at node #\d+: invalid dtype "int8"/,
    );
    expect(() => b.randomUniform(key, [3, -1])).toThrow(/randomUniform at node #\d+: invalid shape \[3,-1\]/);
  });
});
