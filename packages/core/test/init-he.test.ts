import { checkInit, GraphBuilder, initTensor, ParamStore, Rng, type Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

const stats = (t: Tensor) => {
  const a = t.toArray();
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  return { mean, std, min: Math.min(...a), max: Math.max(...a) };
};

describe("He initialisers and convolution fans", () => {
  test("heNormal has std sqrt(2 / fanIn); rank-4 weights take fanIn = in-channels x kh x kw", () => {
    // [out 64, in 8, 5, 5]: fanIn 200
    const t = initTensor({ kind: "heNormal" }, [64, 8, 5, 5], "float64", new Rng(1));
    const s = stats(t);
    const want = Math.sqrt(2 / 200);
    expect(Math.abs(s.mean)).toBeLessThan(0.05 * want);
    expect(Math.abs(s.std - want) / want).toBeLessThan(0.03);
    const u = initTensor({ kind: "heNormal", fanIn: 50 }, [400, 250], "float64", new Rng(1));
    expect(Math.abs(stats(u).std - 0.2) / 0.2).toBeLessThan(0.02);
    // 2-D: the fan-in is the first dim, as for the other kinds
    const v = initTensor({ kind: "heNormal" }, [800, 100], "float64", new Rng(2));
    expect(Math.abs(stats(v).std - Math.sqrt(2 / 800)) / Math.sqrt(2 / 800)).toBeLessThan(0.02);
  });

  test("heUniform lies within ±sqrt(6 / fanIn) and fills the range", () => {
    const t = initTensor({ kind: "heUniform" }, [32, 4, 3, 3], "float32", new Rng(3));
    const e = Math.sqrt(6 / 36);
    const s = stats(t);
    expect(s.min).toBeGreaterThanOrEqual(-e);
    expect(s.max).toBeLessThanOrEqual(e);
    expect(s.min).toBeLessThan(-0.98 * e);
    expect(s.max).toBeGreaterThan(0.98 * e);
    expect(t.dtype).toBe("float32");
  });

  test("glorotUniform of a rank-4 weight uses the receptive field times the channels", () => {
    const t = initTensor({ kind: "glorotUniform" }, [16, 6, 5, 5], "float64", new Rng(4));
    const e = Math.sqrt(6 / (6 * 25 + 16 * 25));
    const s = stats(t);
    expect(s.max).toBeLessThanOrEqual(e);
    expect(s.max).toBeGreaterThan(0.98 * e);
    expect(s.min).toBeLessThan(-0.98 * e);
  });

  test("validation, serialisation through a graph, determinism", () => {
    expect(checkInit({ kind: "heNormal" })).toEqual({ kind: "heNormal" });
    expect(checkInit({ kind: "heUniform", fanIn: 3 })).toEqual({ kind: "heUniform", fanIn: 3 });
    expect(() => checkInit({ kind: "heNormal", fanOut: 3 })).toThrow(/unexpected field 'fanOut'/);
    expect(() => checkInit({ kind: "heUniform", fanIn: "3" })).toThrow(/init 'fanIn' is "3", not a number/);
    const b = new GraphBuilder();
    b.param("w", [4, 2, 3, 3], { init: { kind: "heNormal" } });
    const g = b.build();
    expect(ParamStore.init(g, 5).get("w").toArray()).toEqual(ParamStore.init(g, 5).get("w").toArray());
    expect(ParamStore.init(g, 5).get("w").toArray()).not.toEqual(ParamStore.init(g, 6).get("w").toArray());
  });
});
