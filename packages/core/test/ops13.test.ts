/**
 * The issue-13 ops beyond the reference comparison of ops.test.ts: erf against known values and
 * quadrature, numerically hard inputs, fused and unfused loops agreeing, attribute validation,
 * oneHot/argmax edge cases, gather/scatterAdd with repeated and bad indices, and serialization.
 */
import {
  compile,
  DTYPES,
  type DType,
  erfcScalar,
  erfScalar,
  type GraphBuilder,
  graphToJSON,
  parseGraph,
  printPlan,
  ShapeError,
  setWasmEnabled,
  Tensor,
  type Value,
  wasmBackend,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { buildGraph } from "./helpers/util.js";

function run1(
  dtype: DType,
  values: unknown,
  build: (g: GraphBuilder, x: Value) => Value,
  fuse = true,
): number[] {
  const x = Tensor.from(values as number[], { dtype });
  const graph = buildGraph((g) => {
    g.output("y", build(g, g.input("x", x.shape)));
  }, dtype);
  return Array.from(compile(graph, { fuse }).run({ x }).y!.data);
}

/** `2/√π ∫₀ˣ exp(-t²) dt` by composite Simpson with 20000 intervals (error far below 1e-13). */
function erfBySimpson(x: number): number {
  const n = 20000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe("erf", () => {
  // values from Abramowitz & Stegun table 7.1 / mpmath, to 16 digits
  const KNOWN: [number, number][] = [
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [2.5, 0.999593047982555],
    [3, 0.9999779095030014],
  ];

  test.each(DTYPES)("known values through the kernel (%s), odd symmetry, saturation", (dtype) => {
    const xs = KNOWN.map(([x]) => x);
    const input = [...xs, ...xs.map((x) => -x), 0, 7, -30];
    // the JavaScript loop; float32 WebAssembly SIMD (within 2 ulps) is in simd-special.test.ts
    setWasmEnabled(false);
    let got: number[];
    try {
      got = run1(dtype, input, (g, x) => g.erf(x));
    } finally {
      setWasmEnabled(true);
    }
    const tol = dtype === "float64" ? 1e-15 : 1e-7;
    KNOWN.forEach(([, v], i) => {
      expect(relErr(got[i]!, v)).toBeLessThanOrEqual(tol);
      expect(relErr(got[i + xs.length]!, -v)).toBeLessThanOrEqual(tol);
    });
    expect(got.slice(-3)).toEqual([0, 1, -1]);
  });

  test("the float32 loops' shorter series round like the float64 ones: erf and gelu within one float32 step", () => {
    const xs = Array.from({ length: 4001 }, (_, i) => Math.fround(-8 + i * 0.004));
    const ref = (f: (x: number) => number) => xs.map((x) => Math.fround(f(x)));
    // the JavaScript loops; float32 WebAssembly SIMD (2-4 ulps) is in simd-special.test.ts
    setWasmEnabled(false);
    let e32: number[];
    let g32: number[];
    try {
      e32 = run1("float32", xs, (g, x) => g.erf(x));
      g32 = run1("float32", xs, (g, x) => g.gelu(x));
    } finally {
      setWasmEnabled(true);
    }
    const eRef = ref(erfScalar);
    const gRef = ref((x) => 0.5 * x * erfcScalar(-x * Math.SQRT1_2));
    const ulp = (v: number) => Math.max(Math.abs(v) * 2 ** -23, 1e-45);
    xs.forEach((_, i) => {
      expect(Math.abs(e32[i]! - eRef[i]!)).toBeLessThanOrEqual(ulp(eRef[i]!));
      expect(Math.abs(g32[i]! - gRef[i]!)).toBeLessThanOrEqual(ulp(gRef[i]!));
    });
    // float64 loops use the full series: the same bits as the scalar functions
    const xs64 = xs.map((x) => x + 1e-9);
    expect(run1("float64", xs64, (g, x) => g.erf(x))).toEqual(xs64.map(erfScalar));
  });

  test("erf and erfc agree with quadrature to 1e-13 relative (float64), erfc keeps its relative accuracy", () => {
    fc.assert(
      fc.property(fc.integer({ min: -5000, max: 5000 }), (k) => {
        const x = k / 1000;
        const ref = erfBySimpson(x);
        expect(Math.abs(erfScalar(x) - ref)).toBeLessThanOrEqual(1e-13 * Math.max(Math.abs(ref), 1e-3));
        expect(Math.abs(erfcScalar(x) - (1 - ref))).toBeLessThanOrEqual(2e-13);
      }),
      { numRuns: 200, seed: 13 },
    );
    // deep tail: erfc(x) ~ exp(-x²)/(x√π) (1 - 1/(2x²) + 3/(4x⁴) - 15/(8x⁶) + 105/(16x⁸))
    for (const x of [8, 12, 20]) {
      const u = 1 / (2 * x * x);
      const asym =
        (Math.exp(-x * x) / (x * Math.sqrt(Math.PI))) * (1 - u + 3 * u * u - 15 * u ** 3 + 105 * u ** 4);
      // the first term left out, 945 u⁵, bounds the error of the truncated series
      expect(relErr(erfcScalar(x), asym)).toBeLessThan(945 * u ** 5 + 1e-14);
    }
    expect(Number.isNaN(erfScalar(Number.NaN))).toBe(true);
    expect(Number.isNaN(erfcScalar(Number.NaN))).toBe(true);
    expect([erfcScalar(Number.POSITIVE_INFINITY), erfcScalar(Number.NEGATIVE_INFINITY)]).toEqual([0, 2]);
  });
});

describe.each(DTYPES)("hard inputs (%s)", (dtype) => {
  const tol = dtype === "float64" ? 1e-14 : 1e-6;
  const close = (got: number[], want: number[]) => {
    want.forEach((w, i) => {
      expect(relErr(got[i]!, w), `element ${i}: ${got[i]} vs ${w}`).toBeLessThanOrEqual(tol);
    });
  };

  test("softplus is stable for large |x| and exact in its tails", () => {
    const got = run1(dtype, [-1000, -40, 0, 40, 1000], (g, x) => g.softplus(x));
    close(got, [0, Math.exp(-40), Math.LN2, 40, 1000]);
    expect(got[0]).toBe(0);
  });

  test("log1p and expm1 keep relative accuracy near 0", () => {
    close(
      run1(dtype, [1e-10, -1e-12], (g, x) => g.log1p(x)),
      [1e-10 - 5e-21, -1e-12 - 5e-25],
    );
    close(
      run1(dtype, [1e-10, -1e-12], (g, x) => g.expm1(x)),
      [1e-10 + 5e-21, -1e-12 + 5e-25],
    );
  });

  test("silu and gelu saturate without NaN; gelu keeps relative accuracy for negative x", () => {
    const s = run1(dtype, [-1000, 1000], (g, x) => g.silu(x));
    expect(s[0]).toBe(-0);
    expect(s[1]).toBe(1000);
    // gelu(-5) = -5 Φ(-5) = -5 · 2.866515718791939e-7
    const gl = run1(dtype, [-5, -40, 40], (g, x) => g.gelu(x));
    close(gl.slice(0, 1), [-5 * 2.866515718791939e-7]);
    expect(gl.slice(1)).toEqual([-0, 40]);
    // the tanh form at 0 and far out
    expect(run1(dtype, [0, 30, -30], (g, x) => g.geluTanh(x))).toEqual([0, 30, -0]);
  });

  test("NaN propagates through every new unary op", () => {
    const ops: ((g: GraphBuilder, x: Value) => Value)[] = [
      (g, x) => g.softplus(x),
      (g, x) => g.log1p(x),
      (g, x) => g.expm1(x),
      (g, x) => g.silu(x),
      (g, x) => g.erf(x),
      (g, x) => g.gelu(x),
      (g, x) => g.geluTanh(x),
      (g, x) => g.leakyRelu(x),
      (g, x) => g.elu(x),
      (g, x) => g.clip(x, -1, 1),
    ];
    for (const op of ops) expect(Number.isNaN(run1(dtype, [Number.NaN], op)[0])).toBe(true);
  });

  test("fused chains and attribute ops give the unfused results (bit for bit in float64)", () => {
    const xs = [-3.5, -1.25, -0.5, 0, 0.3, 1, 2.75, 4];
    const chain = (g: GraphBuilder, x: Value) =>
      g.add(
        g.gelu(g.silu(g.softplus(g.erf(x)))),
        g.clip(g.leakyRelu(g.elu(g.geluTanh(g.expm1(g.log1p(g.mul(g.abs(x), 0.5))))), 0.2), -0.5, 1.5),
      );
    const fused = run1(dtype, xs, chain, true);
    const plain = run1(dtype, xs, chain, false);
    // a fused float32 loop keeps its intermediates in float64 (no rounding between ops)
    if (dtype === "float64") expect(fused).toEqual(plain);
    else
      close(
        fused,
        plain.map((v) => v || 1e-30),
      );
  });
});

describe("parametric activations", () => {
  test("defaults: leakyRelu slope 0.01, elu alpha 1; clip bounds inclusive", () => {
    expect(run1("float64", [-2, 3], (g, x) => g.leakyRelu(x))).toEqual([-0.02, 3]);
    expect(run1("float64", [-1, 3], (g, x) => g.elu(x))).toEqual([Math.expm1(-1), 3]);
    expect(run1("float64", [-5, 0.25, 5, -1, 2], (g, x) => g.clip(x, -1, 2))).toEqual([-1, 0.25, 2, -1, 2]);
  });

  test("parameters are tensors that broadcast (per-channel slope, per-column bounds); lo > hi gives hi", () => {
    const x = [
      [-2, -1, 0.5],
      [3, -4, 6],
    ];
    expect(run1("float64", x, (g, v) => g.leakyRelu(v, g.constant([[0.5], [0.25]])))).toEqual([
      -1, -0.5, 0.5, 3, -1, 6,
    ]);
    expect(run1("float64", x, (g, v) => g.clip(v, g.constant([-1, 0, 1]), g.constant([1, 2, 0])))).toEqual([
      -1, 0, 0, 1, 0, 0,
    ]);
  });

  test("single-use parametric activations fuse into their neighbours", () => {
    const graph = buildGraph((g) => {
      const x = g.input("x", [4]);
      g.output("y", g.clip(g.leakyRelu(g.elu(g.mul(x, 2), 0.5), 0.1), -1, 1));
    });
    const plan = compile(graph).plan({ x: [4] });
    expect(plan.stats.steps).toBe(1);
    const out = plan.run({ x: Tensor.from([-3, -0.1, 0.2, 4]) }).y!.toArray();
    const ref = [-3, -0.1, 0.2, 4].map((v) => {
      const e = 2 * v > 0 ? 2 * v : 0.5 * Math.expm1(2 * v);
      const l = e > 0 ? e : 0.1 * e;
      return Math.min(Math.max(l, -1), 1);
    });
    expect(out).toEqual(ref);
  });

  test("bad attributes are rejected with the op and the field named", () => {
    const bad = (build: (g: GraphBuilder, x: Value) => Value) => () =>
      buildGraph((g) => {
        g.output("y", build(g, g.input("x", [2])));
      });
    expect(bad((g, x) => g.oneHot(x, 0))).toThrow(/oneHot at node #\d+: 'depth' must be a positive integer/);
    expect(bad((g, x) => g.argmax(x, 1))).toThrow(/argmax at node #\d+: axis 1 is out of range for rank 1/);
    expect(bad((g, x) => g.gather(x, x, 2))).toThrow(/gather at node #\d+: axis 2 is out of range/);
    expect(bad((g, x) => g.clip(x, g.constant([0, 1, 2]), 1))).toThrow(ShapeError);
  });

  test("attributes survive serialization", () => {
    const graph = buildGraph((g) => {
      const x = g.input("x", [3]);
      g.output("y", g.add(g.clip(g.leakyRelu(x, 0.3), -1, 1), g.elu(x, 0.7)));
    });
    const back = parseGraph(graphToJSON(graph));
    const x = Tensor.from([-2, 0.5, 3]);
    expect(compile(back).run({ x }).y!.toArray()).toEqual(compile(graph).run({ x }).y!.toArray());
  });
});

describe.each(DTYPES)("oneHot, argmax (%s)", (dtype) => {
  test("oneHot: zero rows for indices outside [0, depth) or not integers", () => {
    const got = run1(dtype, [1, -1, 3, 0.5, Number.NaN, 2], (g, x) => g.oneHot(x, 3));
    expect(got).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  test("argmax: ties go to the first index, NaN counts as the largest, keepdims", () => {
    const x = [
      [1, 3, 3, 0],
      [2, 2, 2, 2],
      [-1, Number.NaN, 5, Number.NaN],
    ];
    expect(run1(dtype, x, (g, v) => g.argmax(v))).toEqual([1, 0, 1]);
    expect(run1(dtype, x, (g, v) => g.argmax(v, 0))).toEqual([1, 2, 2, 2]);
    const graph = buildGraph((g) => {
      g.output("y", g.argmax(g.input("x", [3, 4]), 1, true));
    }, dtype);
    expect(compile(graph).run({ x: Tensor.from(x, { dtype }) }).y!.shape).toEqual([3, 1]);
  });
});

describe.each(DTYPES)("gather and scatterAdd (%s)", (dtype) => {
  const table = [
    [0, 1],
    [10, 11],
    [20, 21],
  ];

  function gatherRun(indices: number[], shape: number[] = [indices.length]) {
    const graph = buildGraph((g) => {
      g.output("y", g.gather(g.input("x", [3, 2]), g.input("i", shape), 0));
    }, dtype);
    return compile(graph).run({
      x: Tensor.from(table, { dtype }),
      i: Tensor.from(indices, { shape, dtype }),
    }).y!;
  }

  test("an embedding lookup: [2, 2] indices of a [3, 2] table give [2, 2, 2]; repeats allowed", () => {
    const y = gatherRun([2, 0, 2, 2], [2, 2]);
    expect(y.shape).toEqual([2, 2, 2]);
    expect(y.toArray()).toEqual([20, 21, 0, 1, 20, 21, 20, 21]);
  });

  test("a bad index stops the run with a RangeError naming the index and the range", () => {
    expect(() => gatherRun([0, 3])).toThrow(
      /gather: index 3 at position 1 of the indices is not an integer in \[0, 3\)/,
    );
    expect(() => gatherRun([-1])).toThrow(RangeError);
    expect(() => gatherRun([1.5])).toThrow(/index 1.5/);
    // the plan names the failing node in front of the kernel's message
    expect(() => gatherRun([0, 3])).toThrow(/^#\d+ .*gather.*: gather: index 3/);
  });

  test("scatterAdd accumulates repeated indices and leaves untouched rows at 0", () => {
    const graph = buildGraph((g) => {
      g.output("y", g.scatterAdd(g.input("i", [4]), g.input("u", [4, 2]), 0, [3, 2]));
    }, dtype);
    const out = compile(graph).run({
      i: Tensor.from([2, 0, 2, 2], { dtype }),
      u: Tensor.from(
        [
          [1, 2],
          [3, 4],
          [5, 6],
          [7, 8],
        ],
        { dtype },
      ),
    }).y!;
    expect(out.shape).toEqual([3, 2]);
    expect(Array.from(out.data)).toEqual([3, 4, 0, 0, 13, 16]);
    expect(() =>
      compile(graph).run({ i: Tensor.from([0, 0, 5, 0], { dtype }), u: Tensor.zeros([4, 2], dtype) }),
    ).toThrow(/scatterAdd: index 5 at position 2/);
  });

  test("scatterAdd rejects updates of the wrong shape", () => {
    expect(() =>
      buildGraph((g) => {
        g.output("y", g.scatterAdd(g.input("i", [4]), g.input("u", [3, 2]), 0, [3, 2]));
      }, dtype),
    ).toThrow(ShapeError);
  });
});

describe.skipIf(!wasmBackend())("leakyRelu and clip in WebAssembly SIMD loops (float32)", () => {
  const xs = [0, -0, Number.NaN, 1, -1, 2.5, -3, 0.75, -0.2, 4, -4.5, 0.1, -0.1];
  const graph = buildGraph((g) => {
    const x = g.input("x", [xs.length]);
    const s = g.input("s", [xs.length]);
    g.output(
      "y",
      g.add(g.clip(g.leakyRelu(x, s), g.neg(s), 1), g.mul(g.leakyRelu(x, 0.2), g.clip(x, -0.5, s))),
    );
  }, "float32");
  const feeds = {
    x: Tensor.from(xs, { dtype: "float32" }),
    s: Tensor.from(
      xs.map((_, i) => (i % 3) * 0.3 - 0.1),
      { dtype: "float32" },
    ),
  };

  function runWith(wasm: boolean): { values: number[]; plan: string } {
    setWasmEnabled(wasm);
    try {
      const exe = compile(graph);
      const plan = exe.plan({ x: [xs.length], s: [xs.length] });
      return { values: Array.from(plan.run(feeds).y!.data), plan: printPlan(plan) };
    } finally {
      setWasmEnabled(true);
    }
  }

  test("one fused SIMD loop, equal to the JavaScript loop (NaN and signed zeros included)", () => {
    const simd = runWith(true);
    const js = runWith(false);
    expect(simd.plan).toMatch(/\[wasm-simd\]/);
    expect(js.plan).not.toMatch(/wasm-simd/);
    expect(simd.plan.match(/^ +\d+ +%/gm)).toHaveLength(1); // one step: the whole expression fused
    simd.values.forEach((v, i) => {
      const ref = js.values[i]!;
      if (Number.isNaN(ref)) expect(v).toBeNaN();
      else if (ref === 0) expect(Object.is(v, ref), `element ${i}: ${v} vs ${ref}`).toBe(true);
      else expect(v).toBeCloseTo(ref, 5);
    });
  });
});
