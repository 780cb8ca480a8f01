import { Rng } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { makeCircles, makeMoons, NumpyRandomState } from "../src/index.js";

// Reference values printed by numpy 2.4 (legacy RandomState streams are frozen across numpy versions).
describe("NumpyRandomState", () => {
  it("reproduces np.random.seed(0) random_sample, randn and permutation", () => {
    const rs = new NumpyRandomState(0);
    expect([rs.random(), rs.random(), rs.random()]).toEqual([
      0.5488135039273248, 0.7151893663724195, 0.6027633760716439,
    ]);
    expect(Array.from(new NumpyRandomState(0).randn(6))).toEqual([
      1.764052345967664, 0.4001572083672233, 0.9787379841057392, 2.240893199201458, 1.8675579901499675,
      -0.977277879876411,
    ]);
    expect(Array.from(new NumpyRandomState(7).permutation(10))).toEqual([8, 5, 0, 2, 1, 9, 7, 3, 6, 4]);
    expect(() => new NumpyRandomState(-1)).toThrow(RangeError);
  });
});

describe("makeMoons", () => {
  it("with numpy: true equals np.random.seed(0); make_moons(200, noise=0.20) (the tutorial's data)", () => {
    const { x, y } = makeMoons({ nSamples: 200, noise: 0.2, seed: 0, numpy: true, dtype: "float64" });
    expect(x.shape).toEqual([200, 2]);
    const expected = [
      [0.7434611761955393, 0.46465632837724596],
      [1.6575566177861694, -0.6320315690978895],
      [-0.15878874793151554, 0.2558446471363228],
    ];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 2; j++) expect(x.get(i, j)).toBeCloseTo(expected[i]![j]!, 12);
    expect(Array.from(y.subarray(0, 10))).toEqual([0, 1, 1, 0, 1, 1, 0, 1, 0, 1]);
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < 200; i++) {
      sx += x.get(i, 0);
      sy += x.get(i, 1);
    }
    expect(sx).toBeCloseTo(97.18469025131239, 9);
    expect(sy).toBeCloseTo(51.773376577821146, 9);
    expect(y.reduce((a, b) => a + b, 0)).toBe(100);
  });

  it("is reproducible with a fixed seed and differs across seeds", () => {
    const a = makeMoons({ nSamples: 50, noise: 0.1, seed: 3 });
    const b = makeMoons({ nSamples: 50, noise: 0.1, seed: 3 });
    const c = makeMoons({ nSamples: 50, noise: 0.1, seed: 4 });
    expect(a.x.data).toEqual(b.x.data);
    expect(a.y).toEqual(b.y);
    expect(a.x.data).not.toEqual(c.x.data);
    const rng = new Rng(3);
    expect(makeMoons({ nSamples: 50, noise: 0.1, rng }).x.data).toEqual(a.x.data);
    expect(a.x.dtype).toBe("float32");
  });

  it("has the documented geometry: outer (cos t, sin t), inner (1 - cos t, 0.5 - sin t), t in [0, pi]", () => {
    const { x, y } = makeMoons({ nSamples: 101, seed: 1, dtype: "float64" });
    expect(y.filter((v) => v === 0).length).toBe(50);
    expect(y.filter((v) => v === 1).length).toBe(51);
    for (let i = 0; i < 101; i++) {
      const [px, py] = [x.get(i, 0), x.get(i, 1)];
      if (y[i] === 0) {
        expect(Math.hypot(px, py)).toBeCloseTo(1, 12);
        expect(py).toBeGreaterThanOrEqual(-1e-12);
      } else {
        expect(Math.hypot(px - 1, py - 0.5)).toBeCloseTo(1, 12);
        expect(py).toBeLessThanOrEqual(0.5 + 1e-12);
      }
    }
    const ordered = makeMoons({ nSamples: 6, shuffle: false, dtype: "float64" });
    expect(Array.from(ordered.y)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(ordered.x.get(0, 0)).toBe(1); // t = 0
    expect(ordered.x.get(2, 0)).toBe(-1); // t = pi
    expect(ordered.x.get(3, 0)).toBe(0); // inner, t = 0
    expect(ordered.x.get(3, 1)).toBe(0.5);
    expect(makeMoons({ nSamples: [2, 5], shuffle: false }).y.length).toBe(7);
  });

  it("adds Gaussian noise with the requested standard deviation", () => {
    const clean = makeMoons({ nSamples: 4000, seed: 5, dtype: "float64" });
    const noisy = makeMoons({ nSamples: 4000, noise: 0.3, seed: 5, dtype: "float64" });
    // Same seed: same shuffle, so the difference is the noise alone.
    expect(noisy.y).toEqual(clean.y);
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < 8000; i++) {
      const d = noisy.x.data[i]! - clean.x.data[i]!;
      s += d;
      s2 += d * d;
    }
    expect(s / 8000).toBeCloseTo(0, 1);
    expect(Math.sqrt(s2 / 8000)).toBeCloseTo(0.3, 1);
    expect(() => makeMoons({ noise: -1 })).toThrow(RangeError);
  });
});

describe("makeCircles", () => {
  it("with numpy: true equals RandomState(42) make_circles(101, noise=0.05, factor=0.5)", () => {
    const { x, y } = makeCircles({
      nSamples: 101,
      noise: 0.05,
      factor: 0.5,
      seed: 42,
      numpy: true,
      dtype: "float64",
    });
    const expected = [
      [-0.2181847445827417, -0.4783487353212157],
      [0.4319005855494594, 0.35406997912405475],
      [-0.1843135860300388, 0.4903049912814306],
    ];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 2; j++) expect(x.get(i, j)).toBeCloseTo(expected[i]![j]!, 12);
    expect(Array.from(y.subarray(0, 10))).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(y.reduce((a, b) => a + b, 0)).toBe(51);
  });

  it("puts label 0 on the unit circle and label 1 on the circle of radius factor", () => {
    const { x, y } = makeCircles({ nSamples: 40, factor: 0.3, seed: 2, dtype: "float64" });
    for (let i = 0; i < 40; i++) expect(Math.hypot(x.get(i, 0), x.get(i, 1))).toBeCloseTo(y[i] ? 0.3 : 1, 12);
    expect(() => makeCircles({ factor: 1 })).toThrow(RangeError);
  });
});
