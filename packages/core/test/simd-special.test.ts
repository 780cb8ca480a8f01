/**
 * float32 erf, gelu, geluTanh (and exp inside their groups) in WebAssembly SIMD: accuracy against
 * the float64 functions rounded to float32, on the vector body and the scalar tail.
 */
import {
  compile,
  erfcScalar,
  erfScalar,
  type Graph,
  GraphBuilder,
  printPlan,
  setWasmEnabled,
  type Value,
  wasmBackend,
} from "@gradgraph/core";
import { afterEach, describe, expect, test } from "vitest";

const f32 = Math.fround;
const MIN_NORMAL = 2 ** -126;

/** The spacing of float32 values at `|v|` (2^-149 in the subnormal range and at 0). */
function ulp(v: number): number {
  const a = Math.abs(f32(v));
  if (a < MIN_NORMAL) return 2 ** -149;
  const e = Math.floor(Math.log2(a));
  // log2 may round up just below a power of two
  return 2 ** ((2 ** e > a ? e - 1 : e) - 23);
}

/** Runs a one-input graph on `x` (and `g`, if the graph has it); returns the output and the plan text. */
function run(graph: Graph, x: Float32Array, g?: Float32Array): { y: Float32Array; plan: string } {
  const exe = compile(graph);
  const shapes: Record<string, number[]> = { x: [x.length] };
  if (g) shapes.g = [g.length];
  const plan = exe.plan(shapes);
  plan.inputs.x!.data.set(x);
  if (g) plan.inputs.g!.data.set(g);
  const y = Float32Array.from(plan.run().y!.toArray());
  const text = printPlan(plan);
  exe.dispose();
  return { y, plan: text };
}

function unaryGraph(op: (b: GraphBuilder, x: Value) => Value): Graph {
  const b = new GraphBuilder();
  b.output("y", op(b, b.input("x", ["n"])));
  return b.build();
}

/** The fused expression of gelu's derivative times `g`: g·(Φ(x) + x·φ(x)), as autograd builds it. */
function geluBackwardGraph(): Graph {
  const b = new GraphBuilder();
  const x = b.input("x", ["n"]);
  const g = b.input("g", ["n"]);
  const cdf = b.mul(0.5, b.add(1, b.erf(b.mul(x, Math.SQRT1_2))));
  const pdf = b.mul(1 / Math.sqrt(2 * Math.PI), b.exp(b.mul(b.square(x), -0.5)));
  b.output("y", b.mul(g, b.add(cdf, b.mul(x, pdf))));
  return b.build();
}

/** 20,001 points on [-10, 10], then extremes, signed zeros, tiny and subnormal values, ±Inf, NaN. */
function points(): Float32Array {
  const xs: number[] = [];
  for (let i = 0; i <= 20000; i++) xs.push(-10 + i / 1000);
  for (const s of [1, -1])
    for (const m of [
      1e-45, 1e-40, 1e-38, 1e-30, 1e-12, 1e-7, 1e-3, 0.4999, 0.5, 0.5001, 3.4e38, 1e30, 26, 14, 12,
    ])
      xs.push(s * m);
  xs.push(0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN);
  // an odd length: the last elements run in the scalar tail
  if (xs.length % 4 === 0) xs.push(0.25);
  return Float32Array.from(xs);
}

/** Largest error in float32 ulps of `y` against `ref` (float64), allowing `floor(i)` absolute; checks NaN, ±Inf and signed zeros exactly. */
function worstUlps(
  x: Float32Array,
  y: Float32Array,
  ref: (x: number, i: number) => number,
  floor = (_i: number) => 0,
) {
  let worst = 0;
  let at = 0;
  for (let i = 0; i < x.length; i++) {
    const r = f32(ref(x[i]!, i));
    const v = y[i]!;
    if (Number.isNaN(r) || !Number.isFinite(r) || r === 0) {
      if (Number.isNaN(r)) expect(v, `x = ${x[i]}`).toBeNaN();
      else if (r === 0 && floor(i) === 0)
        expect(Object.is(v, r) || Math.abs(v) <= 2 ** -149, `x = ${x[i]}`).toBe(true);
      else if (r !== 0) expect(v, `x = ${x[i]}`).toBe(r);
      if (r !== 0) continue;
    }
    const fl = floor(i);
    if (fl === Number.POSITIVE_INFINITY) continue;
    const e = Math.max(0, Math.abs(v - r) - fl) / ulp(r);
    if (e > worst) {
      worst = e;
      at = x[i]!;
    }
  }
  return { worst, at };
}

const gelu64 = (x: number) => 0.5 * x * erfcScalar(-x * Math.SQRT1_2);
const GELU_TANH_C = Math.sqrt(2 / Math.PI);
const tanhArg = (x: number) => GELU_TANH_C * (x + 0.044715 * x * x * x);
/** geluTanh as defined (the float64 op's formula), which cancels for negative x. */
const geluTanhDefined = (x: number) => 0.5 * x * (1 + Math.tanh(tanhArg(x)));
/** The same function without cancellation: x·σ(2u). */
const geluTanhStable = (x: number) => {
  const u = tanhArg(x);
  if (x >= 0) return x / (1 + Math.exp(-2 * u));
  const e = Math.exp(2 * u);
  return (x * e) / (1 + e);
};

describe.skipIf(!wasmBackend())("float32 erf, gelu and geluTanh in WebAssembly SIMD", () => {
  afterEach(() => setWasmEnabled(true));
  const x = points();

  test("the plan runs them (and gelu's backward group) as wasm-simd; exp without them stays js", () => {
    for (const op of ["erf", "gelu", "geluTanh"] as const) {
      const { plan } = run(
        unaryGraph((b, v) => b.mul(b[op](v), 2)),
        x,
      );
      expect(plan).toMatch(
        new RegExp(`= mul\\(${op}\\(%\\d+\\), %\\d+\\) : f32\\[\\d+\\] -> b\\d+ {2}\\[wasm-simd\\]`),
      );
    }
    const back = run(geluBackwardGraph(), x, new Float32Array(x.length).fill(1)).plan;
    expect(back).toMatch(/= mul\(%\d+, add\(mul\(%\d+, add\(%\d+, erf\(.*exp\(.*\[wasm-simd\]/);
    const exp = run(
      unaryGraph((b, v) => b.add(b.exp(v), 1)),
      x,
    ).plan;
    expect(exp).toMatch(/add\(exp\(%\d+\), %\d+\) : f32\[\d+\] -> b\d+ {2}\[js\]/);
    setWasmEnabled(false);
    expect(
      run(
        unaryGraph((b, v) => b.erf(v)),
        x,
      ).plan,
    ).toMatch(/erf\(%\d+\) : f32\[\d+\] -> b\d+ {2}\[js\]/);
  });

  test("erf is within 2 ulps of the float64 function", () => {
    const { y } = run(
      unaryGraph((b, v) => b.erf(v)),
      x,
    );
    const { worst, at } = worstUlps(x, y, erfScalar);
    expect(worst, `at ${at}`).toBeLessThanOrEqual(2);
    expect(Object.is(y[x.indexOf(-0)], -0) || Object.is(y[x.lastIndexOf(0)], -0)).toBe(true);
  });

  test("gelu is within 4 ulps of the float64 function (negative inputs keep their relative accuracy)", () => {
    const { y } = run(
      unaryGraph((b, v) => b.gelu(v)),
      x,
    );
    const { worst, at } = worstUlps(x, y, gelu64);
    expect(worst, `at ${at}`).toBeLessThanOrEqual(4);
    // gelu(-10) is -7.6e-23, not 0
    expect(y[0]! / f32(gelu64(-10))).toBeCloseTo(1, 6);
  });

  test("geluTanh is within 4 ulps of x·σ(2u), and of 0.5·x·(1 + tanh u) up to that formula's own cancellation", () => {
    const { y } = run(
      unaryGraph((b, v) => b.geluTanh(v)),
      x,
    );
    const stable = worstUlps(x, y, geluTanhStable);
    expect(stable.worst, `at ${stable.at}`).toBeLessThanOrEqual(4);
    // the defined formula loses |x|·2^-53 absolutely to 1 + tanh(u) for negative x
    const defined = worstUlps(x, y, geluTanhDefined, (i) => 4 * Math.abs(x[i]!) * 2 ** -53);
    expect(defined.worst, `at ${defined.at}`).toBeLessThanOrEqual(4);
  });

  test("gelu's backward group is within 4 ulps of float64 for x >= 0, plus 2^-22·|g| below 0 where Φ(x) + x·φ(x) cancels", () => {
    const g = Float32Array.from(x, (_, i) => f32(0.5 + ((i * 7919) % 1000) / 1000));
    const { y } = run(geluBackwardGraph(), x, g);
    const ref = (v: number, i: number) =>
      g[i]! *
      (0.5 * (1 + erfScalar(v * Math.SQRT1_2)) + v * (1 / Math.sqrt(2 * Math.PI)) * Math.exp(v * v * -0.5));
    // x >= 0: both terms are positive, nothing cancels
    const pos = x.map((v) => (v >= 0 ? 1 : 0));
    const plain = worstUlps(x, y, ref, (i) => (pos[i] ? 0 : Number.POSITIVE_INFINITY));
    expect(plain.worst, `at ${plain.at}`).toBeLessThanOrEqual(4);
    // below 0, Φ(x) + x·φ(x) is a difference (zero near x = -0.75, tiny below -5): float32 rounds
    // erf (ulp 6e-8 near -1) before 1 + erf cancels, and x² before exp; allowed: 2^-22·|g| absolute
    const all = worstUlps(x, y, ref, (i) => 2 ** -22 * Math.abs(g[i]!));
    expect(all.worst, `at ${all.at}`).toBeLessThanOrEqual(4);
    // without the allowance the error near -5.6 is far above 4 ulps (the JavaScript loop, in
    // float64, would be within 1: this also shows the float32 SIMD path ran)
    expect(worstUlps(x, y, ref).worst).toBeGreaterThan(1000);
  });

  test("the scalar tail gives the vector body's bits", () => {
    // the same values at every offset of a length-7 array: lanes 0-3 vector, 4-6 tail
    const vals = [-7.25, -1.5, -0.3, 1e-40, 0.7, 2.5, Number.NaN, -0, 9.5];
    for (const op of ["erf", "gelu", "geluTanh"] as const) {
      const graph = unaryGraph((b, v) => b[op](v));
      const want = new Map<number, number>();
      for (let shift = 0; shift < vals.length; shift++) {
        const xs = Float32Array.from({ length: 7 }, (_, i) => vals[(i + shift) % vals.length]!);
        const { y } = run(graph, xs);
        xs.forEach((xv, i) => {
          if (Number.isNaN(xv)) {
            expect(y[i]).toBeNaN();
            return;
          }
          const key = Object.is(xv, -0) ? -12345 : xv;
          const bits = new Uint32Array(Float32Array.of(y[i]!).buffer)[0]!;
          if (want.has(key)) expect(bits, `${op}(${xv}) at ${i}`).toBe(want.get(key));
          else want.set(key, bits);
        });
      }
    }
  });

  test("per-row loops (a bias row, a column) with a row length not a multiple of 4 agree with the JavaScript loop", () => {
    const b = new GraphBuilder();
    const xv = b.input("x", [5, 13]);
    const bias = b.input("g", [13]);
    const col = b.constant(Array.from({ length: 5 }, (_, i) => [0.5 + i]));
    b.output("y", b.add(b.gelu(b.add(xv, bias)), b.mul(b.geluTanh(b.mul(xv, col)), b.erf(xv))));
    const graph = b.build();
    const xs = Float32Array.from({ length: 65 }, (_, i) => -6 + i * 0.19);
    const gs = Float32Array.from({ length: 13 }, (_, i) => -1 + i * 0.15);
    const runRows = () => {
      const exe = compile(graph);
      const plan = exe.plan({ x: [5, 13], g: [13] });
      plan.inputs.x!.data.set(xs);
      plan.inputs.g!.data.set(gs);
      const y = Float32Array.from(plan.run().y!.toArray());
      const text = printPlan(plan);
      exe.dispose();
      return { y, text };
    };
    const simd = runRows();
    expect(simd.text).toMatch(/gelu\(.*\[wasm-simd\]/);
    setWasmEnabled(false);
    const js = runRows().y;
    simd.y.forEach((v, i) => {
      expect(Math.abs(v - js[i]!), `element ${i}`).toBeLessThanOrEqual(8 * ulp(js[i]!) + 2 ** -22);
    });
  });

  test("agrees with the JavaScript loop to float32 precision", () => {
    const graph = unaryGraph((b, v) => b.add(b.gelu(v), b.mul(b.erf(v), b.geluTanh(v))));
    const xs = x.subarray(0, 20001);
    const simd = run(graph, xs).y;
    setWasmEnabled(false);
    const js = run(graph, xs).y;
    simd.forEach((v, i) => {
      expect(Math.abs(v - js[i]!), `x = ${xs[i]}`).toBeLessThanOrEqual(8 * ulp(js[i]!) + 2 ** -22);
    });
  });
});
