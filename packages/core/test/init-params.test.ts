import { GraphBuilder, initTensor, ParamStore, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

const stats = (t: Tensor) => {
  const a = t.toArray();
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  return { mean, std, min: Math.min(...a), max: Math.max(...a) };
};

describe("initTensor", () => {
  test("glorotUniform lies within ±sqrt(6/(in+out)) and fills the range", () => {
    const t = initTensor({ kind: "glorotUniform" }, [300, 200], "float64", new Rng(1));
    const e = Math.sqrt(6 / 500);
    const s = stats(t);
    expect(s.min).toBeGreaterThanOrEqual(-e);
    expect(s.max).toBeLessThanOrEqual(e);
    expect(s.min).toBeLessThan(-0.99 * e);
    expect(s.max).toBeGreaterThan(0.99 * e);
    expect(Math.abs(s.mean)).toBeLessThan(0.01 * e);
    expect(s.std).toBeCloseTo(e / Math.sqrt(3), 3);
    // explicit fans (Ng's column-vector convention: W is [out, in + 1])
    const u = initTensor({ kind: "glorotUniform", fanIn: 401, fanOut: 25 }, [25, 401], "float32", new Rng(1));
    const eps = Math.sqrt(6 / 426);
    expect(stats(u).max).toBeLessThanOrEqual(eps);
    expect(stats(u).max).toBeGreaterThan(0.99 * eps);
    expect(u.dtype).toBe("float32");
  });

  test("scaledNormal has std ~ 1/sqrt(fanIn)", () => {
    const t = initTensor({ kind: "scaledNormal" }, [400, 250], "float64", new Rng(2));
    const s = stats(t);
    expect(Math.abs(s.mean)).toBeLessThan(0.002);
    expect(Math.abs(s.std - 1 / 20) / (1 / 20)).toBeLessThan(0.02);
    const u = initTensor({ kind: "scaledNormal", fanIn: 16 }, [400, 250], "float64", new Rng(2));
    expect(Math.abs(stats(u).std - 0.25) / 0.25).toBeLessThan(0.02);
  });

  test("normal, uniform, zeros, ones, constant, values", () => {
    const n = stats(initTensor({ kind: "normal", mean: 3, std: 0.5 }, [100_00], "float64", new Rng(3)));
    expect(Math.abs(n.mean - 3)).toBeLessThan(0.02);
    expect(Math.abs(n.std - 0.5)).toBeLessThan(0.02);
    const u = stats(initTensor({ kind: "uniform", low: 2, high: 4 }, [10_000], "float64", new Rng(3)));
    expect(u.min).toBeGreaterThanOrEqual(2);
    expect(u.max).toBeLessThan(4);
    expect(Math.abs(u.mean - 3)).toBeLessThan(0.03);
    expect(initTensor({ kind: "zeros" }, [3], "float64", new Rng(0)).toArray()).toEqual([0, 0, 0]);
    expect(initTensor({ kind: "ones" }, [2], "float32", new Rng(0)).toArray()).toEqual([1, 1]);
    expect(initTensor({ kind: "constant", value: -2 }, [2], "float64", new Rng(0)).toArray()).toEqual([
      -2, -2,
    ]);
    const v = initTensor({ kind: "values", values: [1, 2, 3, 4] }, [2, 2], "float64", new Rng(0));
    expect(v.toNested()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(() => initTensor({ kind: "values", values: [1] }, [2], "float64", new Rng(0))).toThrow(
      /init values: 1 values for 2 elements/,
    );
  });

  test("debugSin equals MATLAB's reshape(sin(1:numel), size) / 10 (column-major)", () => {
    const t = initTensor({ kind: "debugSin" }, [3, 2], "float64", new Rng(0));
    // MATLAB fills down the columns: W(1,1)=sin(1), W(2,1)=sin(2), W(3,1)=sin(3), W(1,2)=sin(4), ...
    expect(t.get(0, 0)).toBe(Math.sin(1) / 10);
    expect(t.get(1, 0)).toBe(Math.sin(2) / 10);
    expect(t.get(2, 0)).toBe(Math.sin(3) / 10);
    expect(t.get(0, 1)).toBe(Math.sin(4) / 10);
    expect(t.get(2, 1)).toBe(Math.sin(6) / 10);
    expect(t.toArray()).toEqual([1, 4, 2, 5, 3, 6].map((k) => Math.sin(k) / 10));
    expect(t.get(0, 0)).toBeCloseTo(0.0841470985, 10);
    expect(t.get(0, 1)).toBeCloseTo(-0.0756802495, 10);
    // ex4's debugInitializeWeights(5, 3): a 5x4 matrix
    const w = initTensor({ kind: "debugSin" }, [5, 4], "float64", new Rng(0));
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 4; j++) expect(w.get(i, j)).toBe(Math.sin(j * 5 + i + 1) / 10);
    // vectors and higher ranks: column-major over all dims
    expect(initTensor({ kind: "debugSin" }, [4], "float64", new Rng(0)).toArray()).toEqual(
      [1, 2, 3, 4].map((k) => Math.sin(k) / 10),
    );
    const r3 = initTensor({ kind: "debugSin" }, [2, 3, 2], "float64", new Rng(0));
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 2; k++) expect(r3.get(i, j, k)).toBe(Math.sin(1 + i + 2 * j + 6 * k) / 10);
    // deterministic: no randomness consumed
    const r = new Rng(5);
    initTensor({ kind: "debugSin" }, [3, 3], "float64", r);
    expect(r.nextUint32()).toBe(new Rng(5).nextUint32());
  });

  test("determinism by seed", () => {
    const a = initTensor({ kind: "glorotUniform" }, [4, 5], "float32", new Rng(42));
    const b = initTensor({ kind: "glorotUniform" }, [4, 5], "float32", new Rng(42));
    const c = initTensor({ kind: "glorotUniform" }, [4, 5], "float32", new Rng(43));
    expect(a.toArray()).toEqual(b.toArray());
    expect(a.toArray()).not.toEqual(c.toArray());
  });
});

function graphWithParams() {
  const g = new GraphBuilder({ dtype: "float64" });
  const x = g.input("x", [2]);
  const W = g.param("W", [2, 2], { init: { kind: "normal" } });
  const b = g.param("b", [2], { init: { kind: "uniform", low: -1, high: 1 } });
  g.output("y", x.reshape([1, 2]).matmul(W).add(b));
  return g.build();
}

describe("ParamStore", () => {
  test("init draws every param in declaration order, deterministically", () => {
    const graph = graphWithParams();
    const p = ParamStore.init(graph, 9);
    expect(p.names()).toEqual(["W", "b"]);
    expect(p.size).toBe(2);
    expect(p.count).toBe(6);
    expect(p.get("W").shape).toEqual([2, 2]);
    expect(p.get("W").dtype).toBe("float64");
    expect(ParamStore.init(graph, 9).get("b").toArray()).toEqual(p.get("b").toArray());
    expect(ParamStore.init(graph, 10).get("b").toArray()).not.toEqual(p.get("b").toArray());
    // the same stream as drawing by hand in declaration order
    const rng = new Rng(9);
    const W = initTensor({ kind: "normal" }, [2, 2], "float64", rng);
    const b = initTensor({ kind: "uniform", low: -1, high: 1 }, [2], "float64", rng);
    expect(p.get("W").toArray()).toEqual(W.toArray());
    expect(p.get("b").toArray()).toEqual(b.toArray());
    // an Rng object is consumed
    const shared = new Rng(9);
    ParamStore.init(graph, shared);
    expect(shared.nextUint32()).not.toBe(new Rng(9).nextUint32());
  });

  test("initMissing keeps existing tensors", () => {
    const graph = graphWithParams();
    const W = Tensor.full([2, 2], 7, "float64");
    const p = new ParamStore([["W", W]]).initMissing(graph, 1);
    expect(p.get("W")).toBe(W);
    expect(p.has("b")).toBe(true);
  });

  test("set copies into the existing buffer; shapes must match", () => {
    const p = new ParamStore([["W", Tensor.zeros([2], "float64")]]);
    const W = p.get("W");
    const data = W.data;
    p.set("W", Tensor.from([3, 4]));
    expect(p.get("W")).toBe(W);
    expect(W.data).toBe(data);
    expect(W.toArray()).toEqual([3, 4]);
    expect(() => p.set("W", Tensor.from([1, 2, 3]))).toThrow(/param 'W': shape \[3\] does not match \[2\]/);
    const fresh = Tensor.from([1]);
    p.set("new", fresh);
    expect(p.get("new")).toBe(fresh);
    expect(() => p.get("missing")).toThrow(/no param named 'missing' \(known: W, new\)/);
  });

  test("clone is deep; copyFrom copies values in place; from/toRecord/entries", () => {
    const p = ParamStore.from({ W: Tensor.from([1, 2]), b: Tensor.from([3]) });
    const c = p.clone();
    expect(c.get("W")).not.toBe(p.get("W"));
    expect(c.get("W").toArray()).toEqual([1, 2]);
    c.get("W").data[0] = 100;
    expect(p.get("W").data[0]).toBe(1);
    const Wbuf = p.get("W").data;
    p.copyFrom(c);
    expect(p.get("W").data).toBe(Wbuf);
    expect(p.get("W").toArray()).toEqual([100, 2]);
    expect(Object.keys(p.toRecord())).toEqual(["W", "b"]);
    expect(p.entries().map(([k]) => k)).toEqual(["W", "b"]);
  });
});
