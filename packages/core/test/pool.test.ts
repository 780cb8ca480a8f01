/**
 * Max and average pooling and their gradient ops: shape rules and their errors, "same" padding,
 * the semantics the module documents (padding never wins, ties go to the first maximum in
 * row-major window order, NaN propagates; average pooling leaves padding out of the count), the
 * adjoint pairs, and the kernels against the reference evaluator on random attribute combinations
 * in float64 and float32.
 */
import { compile, DTYPES, type DType, GraphBuilder, Rng, Tensor, type Value } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { convLen, f32Tensor } from "./helpers/conv-cases.js";
import { mismatch, referenceRun, TOL } from "./helpers/reference.js";

const FC = { seed: 20240607, numRuns: 40 };

/** Explicit pooling attributes and the input and output shapes they give. */
interface PoolCase {
  x: [number, number, number, number];
  y: [number, number, number, number];
  attrs: {
    kernelSize: [number, number];
    strides: [number, number];
    padding: [number, number, number, number];
  };
}

/** Random pooling problems: windows 1-4, strides 1-4 (overlapping, tiling or gapped), padding below the window. */
function poolCaseArb(): fc.Arbitrary<PoolCase> {
  const int = (min: number, max: number) => fc.integer({ min, max });
  return fc
    .record({
      N: int(1, 3),
      C: int(1, 3),
      kh: int(1, 4),
      kw: int(1, 4),
      sh: int(1, 4),
      sw: int(1, 4),
      pad: fc.tuple(int(0, 3), int(0, 3), int(0, 3), int(0, 3)),
      eh: int(0, 6),
      ew: int(0, 6),
    })
    .map((r): PoolCase => {
      const p: [number, number, number, number] = [
        Math.min(r.pad[0], r.kh - 1),
        Math.min(r.pad[1], r.kh - 1),
        Math.min(r.pad[2], r.kw - 1),
        Math.min(r.pad[3], r.kw - 1),
      ];
      const H = Math.max(1, r.kh - p[0] - p[1]) + r.eh;
      const W = Math.max(1, r.kw - p[2] - p[3]) + r.ew;
      return {
        x: [r.N, r.C, H, W],
        y: [r.N, r.C, convLen(H, r.kh, r.sh, 1, p[0], p[1]), convLen(W, r.kw, r.sw, 1, p[2], p[3])],
        attrs: { kernelSize: [r.kh, r.kw], strides: [r.sh, r.sw], padding: p },
      };
    });
}

/** Every pooling op of case `c` on inputs `x`, `v` (x's shape) and `g` (the pooled shape). */
function poolGraph(c: PoolCase, dtype: DType) {
  const b = new GraphBuilder({ dtype });
  const x = b.input("x", c.x);
  const v = b.input("v", c.x);
  const g = b.input("g", c.y);
  const a = c.attrs;
  const outs: Record<string, Value> = {
    max: b.op("maxPool2d", [x], a),
    avg: b.op("avgPool2d", [x], a),
    maxBack: b.op("maxPool2dBackprop", [x, g], a),
    gather: b.op("maxPool2dGather", [x, v], a),
    avgBack: b.op("avgPool2dBackprop", [g], { ...a, inputSize: [c.x[2], c.x[3]] }),
  };
  for (const [k, o] of Object.entries(outs)) b.output(k, o);
  return b.build();
}

function poolFeeds(c: PoolCase, seed: number, ties: boolean) {
  const rng = new Rng(seed);
  const x = f32Tensor(rng, c.x);
  // small integers: many ties, so tie-breaking is compared too
  if (ties) for (let i = 0; i < x.size; i++) x.data[i] = Math.floor(x.data[i]! * 3);
  return { x, v: f32Tensor(rng, c.x), g: f32Tensor(rng, c.y) };
}

/** Runs `build` on the float64 image `x` of shape `shape`; each output as a flat array. */
function run1(
  shape: number[],
  x: number[],
  build: (b: GraphBuilder, x: Value) => Record<string, Value>,
): Record<string, number[]> {
  const t = Tensor.from(x, { shape, dtype: "float64" });
  const b = new GraphBuilder({ dtype: "float64" });
  for (const [k, v] of Object.entries(build(b, b.input("x", shape)))) b.output(k, v);
  const out = compile(b.build()).run({ x: t });
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v.data)]));
}

const ATTRS = { kernelSize: [2, 2], strides: [1, 1], padding: [0, 0, 0, 0] };

describe("pooling shape rules and errors", () => {
  test("output floor((H + top + bottom - k) / s) + 1; strides default to the window; 'same' gives ceil(H / s)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3, 7, 6]);
    expect(b.maxPool2d(x, 2).shape).toEqual(["N", 3, 3, 3]);
    expect(b.avgPool2d(x, [3, 2], { strides: [2, 1], padding: [1, 2, 0, 1] }).shape).toEqual([
      "N",
      3,
      convLen(7, 3, 2, 1, 1, 2),
      convLen(6, 2, 1, 1, 0, 1),
    ]);
    for (let h = 1; h <= 9; h++)
      for (let k = 1; k <= 4; k++)
        for (let s = 1; s <= 3; s++) {
          const y = b.maxPool2d(b.input(`x${h}${k}${s}`, [1, 1, h, h + 1]), k, {
            strides: s,
            padding: "same",
          });
          expect(y.shape, `h ${h} k ${k} s ${s}`).toEqual([1, 1, Math.ceil(h / s), Math.ceil((h + 1) / s)]);
          const pad = (y.node.attrs as { padding: number[] }).padding;
          expect(pad.every((p) => p < k)).toBe(true);
        }
  });

  test("bad inputs and attributes name the op, the shape and the attribute", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [1, 2, 5, 5]);
    expect(() => b.op("maxPool2d", [b.input("x3", [2, 5, 5])], ATTRS)).toThrow(
      /maxPool2d at node #\d+: input must be rank 4 \[N, C, H, W\], got \[2,5,5\]/,
    );
    expect(() => b.op("avgPool2d", [x], { ...ATTRS, padding: [0, 2, 0, 0] })).toThrow(
      /avgPool2d at node #\d+: padding \[0, 2, 0, 0\] must be smaller than the 2x2 window on every side/,
    );
    expect(() => b.maxPool2d(x, 2, { padding: 2 })).toThrow(
      /padding \[2, 2, 2, 2\] must be smaller than the 2x2 window/,
    );
    expect(() => b.op("maxPool2d", [x], { strides: [1, 1] })).toThrow(
      /maxPool2d at node #\d+: attribute 'kernelSize'/,
    );
    expect(() => b.op("maxPool2d", [x], { kernelSize: [0, 2] })).toThrow(
      /maxPool2d at node #\d+: attribute 'kernelSize' must be a positive integer or \[h, w\] of them, got \[0,2\]/,
    );
    expect(() => b.avgPool2d(x, [6, 2])).toThrow(
      /avgPool2d at node #\d+: the 6x2 window does not fit input \[1,2,5,5\] with padding \[0, 0, 0, 0\]/,
    );
    expect(() => b.op("maxPool2dGather", [x, b.input("v", [1, 2, 5, 4])], ATTRS)).toThrow(
      /maxPool2dGather at node #\d+: values \[1,2,5,4\] must have the input's shape \[1,2,5,5\]/,
    );
    expect(() => b.op("maxPool2dBackprop", [x, b.input("g", [1, 2, 4, 3])], ATTRS)).toThrow(
      /maxPool2dBackprop at node #\d+: the gradient \[1,2,4,3\] must have the pooled shape \[1,2,4,4\]/,
    );
    expect(() =>
      b.op("avgPool2dBackprop", [b.input("g2", [1, 2, 4, 4])], { ...ATTRS, inputSize: [5, 6] }),
    ).toThrow(/avgPool2dBackprop at node #\d+: inputSize \[5, 6\] pools to 4x5, not the gradient's 4x4/);
    expect(() => b.op("avgPool2dBackprop", [b.input("g3", [1, 2, 4, 4])], ATTRS)).toThrow(
      /avgPool2dBackprop at node #\d+: attribute 'inputSize' is required/,
    );
  });
});

describe("max pooling semantics", () => {
  test("padding never wins: an all-negative image pools to its own pixels", () => {
    const out = run1([1, 1, 2, 2], [-3, -2, -5, -4], (b, x) => ({
      y: b.maxPool2d(x, 2, { strides: 2, padding: 1 }),
    }));
    expect(out.y).toEqual([-3, -2, -5, -4]);
  });

  test("ties go to the first maximum in row-major window order (the gradient shows where)", () => {
    const out = run1([1, 1, 3, 3], new Array(9).fill(1), (b, x) => {
      const y = b.maxPool2d(x, 2, { strides: 1, padding: [1, 0, 0, 0] });
      return { y, dx: b.op("maxPool2dBackprop", [x, b.ones(y.shape)], y.node.attrs) };
    });
    expect(out.y).toEqual(new Array(6).fill(1));
    // windows start at rows -1 (first real row 0), 0 and 1 and at columns 0 and 1
    expect(out.dx).toEqual([2, 2, 0, 1, 1, 0, 0, 0, 0]);
    const mixed = run1([1, 1, 2, 2], [2, 5, 5, 1], (b, x) => {
      const y = b.maxPool2d(x, 2);
      return { dx: b.op("maxPool2dBackprop", [x, b.ones(y.shape)], y.node.attrs) };
    });
    expect(mixed.dx).toEqual([0, 1, 0, 0]);
  });

  test("NaN propagates (the first NaN of a window is its arg-max); -Infinity is an ordinary value", () => {
    const out = run1(
      [1, 1, 2, 4],
      [1, Number.NaN, 7, -Infinity, Number.NaN, 3, -Infinity, -Infinity],
      (b, x) => {
        const y = b.maxPool2d(x, 2);
        return { y, dx: b.op("maxPool2dBackprop", [x, b.ones(y.shape)], y.node.attrs) };
      },
    );
    expect(Number.isNaN(out.y![0])).toBe(true);
    expect(out.y![1]).toBe(7);
    expect(out.dx).toEqual([0, 1, 1, 0, 0, 0, 0, 0]);
    const allNegInf = run1([1, 1, 1, 2], [-Infinity, -Infinity], (b, x) => {
      const y = b.maxPool2d(x, [1, 2]);
      return { y, dx: b.op("maxPool2dBackprop", [x, b.ones(y.shape)], y.node.attrs) };
    });
    expect(allNegInf.y).toEqual([-Infinity]);
    expect(allNegInf.dx).toEqual([1, 0]);
  });
});

describe("average pooling leaves padding out of the count", () => {
  test("a constant image pools to the constant everywhere, borders included", () => {
    const out = run1([1, 1, 3, 5], new Array(15).fill(2), (b, x) => ({
      y: b.avgPool2d(x, 3, { strides: [1, 2], padding: [1, 2, 2, 1] }),
    }));
    expect(out.y!.length).toBeGreaterThan(0);
    expect(out.y!.every((v) => v === 2)).toBe(true);
  });

  test("border windows average their real pixels; the gradient shares each cotangent among them", () => {
    const x = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const out = run1([1, 1, 3, 3], x, (b, xv) => {
      const y = b.avgPool2d(xv, 3, { strides: 1, padding: 1 });
      return {
        y,
        dx: b.op("avgPool2dBackprop", [b.ones(y.shape)], { ...(y.node.attrs as object), inputSize: [3, 3] }),
      };
    });
    const mean = (...v: number[]) => v.reduce((s, q) => s + q, 0) / v.length;
    expect(out.y![0]).toBeCloseTo(mean(0, 1, 3, 4), 14);
    expect(out.y![1]).toBeCloseTo(mean(0, 1, 2, 3, 4, 5), 14);
    expect(out.y![4]).toBeCloseTo(mean(...x), 14);
    // pixel (0,0) lies in windows of 4, 6, 6 and 9 real pixels
    expect(out.dx![0]).toBeCloseTo(1 / 4 + 2 / 6 + 1 / 9, 14);
    // the centre lies in all nine windows
    expect(out.dx![4]).toBeCloseTo(4 / 4 + 4 / 6 + 1 / 9, 14);
  });
});

describe("pooling kernels against the reference, random attributes", () => {
  test.each(DTYPES)("%s, distinct values and many ties", (dtype) => {
    fc.assert(
      fc.property(poolCaseArb(), fc.nat(), fc.boolean(), (c, seed, ties) => {
        const feeds = poolFeeds(c, seed, ties);
        const graph = poolGraph(c, dtype);
        const ref = referenceRun(graph, feeds);
        const exe = compile(graph);
        const out = exe.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.astype(dtype)])));
        for (const [k, r] of Object.entries(ref)) {
          expect(mismatch(out[k]!, r, TOL[dtype]), `${k} ${JSON.stringify(c)} ties ${ties}`).toBeNull();
        }
        exe.dispose();
      }),
      FC,
    );
  });

  test.each(DTYPES)(
    "%s, 2x2 stride-2 windows (the straight-line and SIMD paths) with ties and NaNs",
    (dtype) => {
      const plain = fc
        .record({
          N: fc.integer({ min: 1, max: 3 }),
          C: fc.integer({ min: 1, max: 3 }),
          H: fc.integer({ min: 2, max: 12 }),
          W: fc.integer({ min: 2, max: 21 }),
        })
        .map(
          ({ N, C, H, W }): PoolCase => ({
            x: [N, C, H, W],
            y: [N, C, Math.floor(H / 2), Math.floor(W / 2)],
            attrs: { kernelSize: [2, 2], strides: [2, 2], padding: [0, 0, 0, 0] },
          }),
        );
      fc.assert(
        fc.property(plain, fc.nat(), (c, seed) => {
          const feeds = poolFeeds(c, seed, true);
          const rng = new Rng(seed ^ 0x3c3c);
          for (let i = 0; i < feeds.x.size; i++) if (rng.next() < 0.05) feeds.x.data[i] = Number.NaN;
          const graph = poolGraph(c, dtype);
          const ref = referenceRun(graph, feeds);
          const exe = compile(graph);
          const out = exe.run(
            Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.astype(dtype)])),
          );
          for (const [k, r] of Object.entries(ref)) {
            expect(mismatch(out[k]!, r, TOL[dtype]), `${k} ${JSON.stringify(c.x)}`).toBeNull();
          }
          exe.dispose();
        }),
        FC,
      );
    },
  );

  test("adjoint pairs in float64: <avgPool(x), g> = <x, avgPoolBackprop(g)>, <gather(x, v), g> = <v, maxPoolBackprop(x, g)>", () => {
    fc.assert(
      fc.property(poolCaseArb(), fc.nat(), (c, seed) => {
        const feeds = poolFeeds(c, seed, false);
        const out = compile(poolGraph(c, "float64")).run(feeds);
        const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
          let s = 0;
          let abs = 0;
          for (let i = 0; i < a.length; i++) {
            s += a[i]! * b[i]!;
            abs += Math.abs(a[i]! * b[i]!);
          }
          return { s, abs };
        };
        const a1 = dot(out.avg!.data, feeds.g.data);
        const a2 = dot(feeds.x.data, out.avgBack!.data);
        expect(Math.abs(a1.s - a2.s)).toBeLessThanOrEqual(1e-13 * Math.max(a1.abs, a2.abs));
        const m1 = dot(out.gather!.data, feeds.g.data);
        const m2 = dot(feeds.v.data, out.maxBack!.data);
        expect(Math.abs(m1.s - m2.s)).toBeLessThanOrEqual(1e-13 * Math.max(m1.abs, m2.abs));
        // maxPool2d(x) is the gather of x itself
        expect(Array.from(out.max!.data)).toEqual(
          Array.from(compile(poolGraph(c, "float64")).run({ ...feeds, v: feeds.x }).gather!.data),
        );
      }),
      { ...FC, numRuns: 25 },
    );
  });
});
