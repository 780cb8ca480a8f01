/**
 * The fused `layerNorm` op: its kernel against a hand loop in both dtypes over the last and other
 * axes, numerical soundness with a large common offset, symbolic batch dims (one plan, several
 * batch sizes), the shape rule's and the attributes' errors, and the builder/Value methods.
 */
import {
  compile,
  DTYPES,
  type DType,
  GraphBuilder,
  graphToJSON,
  layerNormParamShape,
  ParamStore,
  parseGraph,
  printPlan,
  ShapeError,
  setWasmEnabled,
  Tensor,
  wasmBackend,
} from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { Rng, randTensor, seedOf } from "./helpers/util.js";

/** The hand loop: `x` as `[outer, n, inner]`, each line's mean and biased variance in float64. */
function handLayerNorm(
  x: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
): number[] {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const n = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out = new Array<number>(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const idx = (r: number) => (o * n + r) * inner + i;
      let mean = 0;
      for (let r = 0; r < n; r++) mean += x[idx(r)]!;
      mean /= n;
      let v = 0;
      for (let r = 0; r < n; r++) v += (x[idx(r)]! - mean) ** 2;
      v /= n;
      for (let r = 0; r < n; r++) {
        out[idx(r)] = ((x[idx(r)]! - mean) / Math.sqrt(v + eps)) * gamma[r]! + beta[r]!;
      }
    }
  }
  return out;
}

function runLayerNorm(
  dtype: DType,
  x: Tensor,
  axis: number,
  gamma: Tensor,
  beta: Tensor,
  epsilon?: number,
): Float32Array | Float64Array {
  const b = new GraphBuilder({ dtype });
  const xv = b.input("x", x.shape);
  const g = b.param("g", gamma.shape);
  const bt = b.param("b", beta.shape);
  b.output("y", b.layerNorm(xv, g, bt, epsilon === undefined ? { axis } : { axis, epsilon }));
  const params = new ParamStore([
    ["g", gamma.astype(dtype)],
    ["b", beta.astype(dtype)],
  ]);
  return compile(b.build(), { params }).run({ x: x.astype(dtype) }).y!.data;
}

const CASES: [number[], number][] = [
  [[6, 16], -1],
  [[2, 3, 5], 2],
  [[2, 3, 5], 1],
  [[4, 3, 2], 0],
  [[7], 0],
  [[3, 1], -1],
];

describe.each(DTYPES)("layerNorm forward against a hand loop (%s)", (dtype) => {
  it.each(CASES)("%j axis %i", (shape, axis) => {
    const rng = new Rng(seedOf(`ln ${shape} ${axis}`));
    const a = axis < 0 ? axis + shape.length : axis;
    const ps = layerNormParamShape(shape, a) as number[];
    const x = randTensor(rng, shape, -3, 5).astype(dtype);
    const gamma = randTensor(rng, ps).astype(dtype);
    const beta = randTensor(rng, ps).astype(dtype);
    const got = runLayerNorm(dtype, x, axis, gamma, beta);
    const want = handLayerNorm(x.data, shape, a, gamma.data, beta.data, 1e-5);
    const tol = dtype === "float64" ? 1e-12 : 2e-6;
    got.forEach((v, i) => {
      expect(Math.abs(v - want[i]!), `element ${i}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!)));
    });
  });

  it("the default axis is the last and the default epsilon 1e-5 (PyTorch's)", () => {
    const x = Tensor.from([[1, 2, 4, 9]], { dtype });
    const ones = Tensor.from([1, 1, 1, 1], { dtype });
    const zeros = Tensor.from([0, 0, 0, 0], { dtype });
    const b = new GraphBuilder({ dtype });
    const xv = b.input("x", [1, 4]);
    b.output("y", xv.layerNorm(b.constant(ones), b.constant(zeros)));
    const got = compile(b.build()).run({ x }).y!.data;
    // mean 4, biased variance (9 + 4 + 0 + 25) / 4 = 9.5
    const want = [1, 2, 4, 9].map((v) => (v - 4) / Math.sqrt(9.5 + 1e-5));
    got.forEach((v, i) => {
      expect(v).toBeCloseTo(want[i]!, dtype === "float64" ? 14 : 6);
    });
  });

  it("a row of equal values gives beta (zero variance: x - mean is exactly 0)", () => {
    const x = Tensor.from([[3, 3, 3]], { dtype });
    const got = runLayerNorm(dtype, x, -1, Tensor.from([2, 2, 2]), Tensor.from([0.5, -1, 0.25]));
    expect(Array.from(got)).toEqual([0.5, -1, 0.25]);
  });
});

describe("layerNorm numerics", () => {
  it("a large common offset does not cancel the variance (two passes, not E[x²] - E[x]²)", () => {
    // rows 1e8 + small values: E[x²] - E[x]² loses every digit of a variance near 1 in float64
    const rng = new Rng(3);
    const small = randTensor(rng, [4, 32], -1, 1);
    const x = Tensor.from(
      Array.from(small.data, (v) => 1e8 + v),
      { shape: [4, 32] },
    );
    const ones = Tensor.from(new Array(32).fill(1));
    const zeros = Tensor.from(new Array(32).fill(0));
    const got = runLayerNorm("float64", x, -1, ones, zeros);
    // equals the normalisation of the small parts up to their rounding when 1e8 was added (~1e-8)
    const want = handLayerNorm(small.data, [4, 32], 1, ones.data, zeros.data, 1e-5);
    got.forEach((v, i) => {
      expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6);
    });
  });

  it("float32 with an offset of 1e4 keeps float32 accuracy", () => {
    const rng = new Rng(4);
    const x = Tensor.from(
      Array.from(randTensor(rng, [8, 64], -1, 1).data, (v) => 1e4 + v),
      { shape: [8, 64], dtype: "float32" },
    );
    const gamma = randTensor(rng, [64]);
    const beta = randTensor(rng, [64]);
    const got = runLayerNorm("float32", x, -1, gamma, beta);
    // the reference from the float32 inputs, in float64
    const want = handLayerNorm(
      x.data,
      [8, 64],
      1,
      gamma.astype("float32").data,
      beta.astype("float32").data,
      1e-5,
    );
    got.forEach((v, i) => {
      expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(want[i]!)));
    });
  });
});

describe("layerNorm with symbolic dims", () => {
  it("one plan runs several batch sizes (last axis and axis 1 of [N, 3, 2])", () => {
    for (const [decl, axis] of [
      [["N", 8], -1],
      [["N", 3, 2], 1],
    ] as [(number | string)[], number][]) {
      const a = axis < 0 ? axis + decl.length : axis;
      const ps = layerNormParamShape(decl, a) as number[];
      const rng = new Rng(seedOf(`sym ${decl}`));
      const gamma = randTensor(rng, ps);
      const beta = randTensor(rng, ps);
      const b = new GraphBuilder({ dtype: "float64" });
      const xv = b.input("x", decl);
      b.output("y", b.layerNorm(xv, b.param("g", ps), b.param("b", ps), { axis }));
      const exe = compile(b.build(), {
        params: new ParamStore([
          ["g", gamma],
          ["b", beta],
        ]),
      });
      for (const n of [1, 5, 2]) {
        const shape = [n, ...(decl.slice(1) as number[])];
        const x = randTensor(rng, shape);
        const got = exe.run({ x }).y!;
        expect(got.shape).toEqual(shape);
        const want = handLayerNorm(x.data, shape, a, gamma.data, beta.data, 1e-5);
        got.data.forEach((v, i) => {
          expect(v).toBeCloseTo(want[i]!, 12);
        });
      }
    }
  });

  it("is one kernel step in the plan", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 16]);
    b.output("y", b.layerNorm(x, b.param("g", [16]), b.param("b", [16])));
    const graph = b.build();
    const text = printPlan(compile(graph, { params: ParamStore.init(graph, 0) }).plan({ x: [4, 16] }));
    expect(text.match(/layerNorm/g)?.length).toBe(1);
    expect(text).not.toMatch(/\bmean\b|\bsqrt\b/);
  });
});

describe("layerNorm in WebAssembly SIMD (float32, last axis)", () => {
  /** Forward and input-gradient kernels on `[rows, n]`, with the WebAssembly kernels on or off. */
  function both(wasm: boolean, rows: number, n: number): { y: number[]; dx: number[]; plan: string } {
    const rng = new Rng(seedOf(`wasm ${rows} ${n}`));
    const feeds = {
      x: randTensor(rng, [rows, n], -3, 5).astype("float32"),
      d: randTensor(rng, [rows, n]).astype("float32"),
    };
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", n]);
    const d = b.input("d", ["N", n]);
    b.output("y", b.layerNorm(x, b.param("g", [n]), b.param("b", [n]), { epsilon: 0.01 }));
    b.output("dx", b.op("layerNormBackward", [x, d], { axis: -1, epsilon: 0.01 }));
    const graph = b.build();
    setWasmEnabled(wasm);
    try {
      const params = new ParamStore([
        ["g", randTensor(rng, [n]).astype("float32")],
        ["b", randTensor(rng, [n]).astype("float32")],
      ]);
      const plan = compile(graph, { params }).plan({ x: [rows, n], d: [rows, n] });
      const out = plan.run(feeds);
      return { y: Array.from(out.y!.data), dx: Array.from(out.dx!.data), plan: printPlan(plan) };
    } finally {
      setWasmEnabled(true);
    }
  }

  it.skipIf(!wasmBackend())(
    "gives the JavaScript loops' bits for row lengths with and without a tail",
    () => {
      for (const [rows, n] of [
        [5, 64],
        [3, 7],
        [4, 1],
        [2, 6],
        [1, 13],
      ] as const) {
        const js = both(false, rows, n);
        const wasm = both(true, rows, n);
        expect(wasm.y, `forward [${rows},${n}]`).toEqual(js.y);
        expect(wasm.dx, `backward [${rows},${n}]`).toEqual(js.dx);
      }
    },
  );
});

describe("layerNorm shape rule and attributes", () => {
  const build = (
    xs: (number | string)[],
    gs: (number | string)[],
    bs: (number | string)[],
    attrs: { axis?: number; epsilon?: number } = {},
    dtypes: [DType, DType] = ["float64", "float64"],
  ) => {
    const b = new GraphBuilder({ dtype: "float64" });
    return () =>
      b.layerNorm(b.input("x", xs), b.input("g", gs, dtypes[0]), b.input("b", bs, dtypes[1]), attrs);
  };

  it("gamma and beta must have the axis' size then ones; the error names the op, shapes and axis", () => {
    expect(build([2, 3], [3], [3])).not.toThrow();
    expect(build([2, 3, 4], [3, 1], [3, 1], { axis: 1 })).not.toThrow();
    expect(build(["N", 4], [4], [4])).not.toThrow();
    expect(build([2, 3], [2], [3])).toThrow(ShapeError);
    expect(build([2, 3], [2], [3])).toThrow(
      /^layerNorm at node #3: gamma has shape \[2\] but normalising axis -1 of input \[2,3\] needs \[3\]/,
    );
    expect(build([2, 3, 4], [3, 1], [3], { axis: 1 })).toThrow(
      /^layerNorm at node #3: beta has shape \[3\] but normalising axis 1 of input \[2,3,4\] needs \[3,1\]/,
    );
    // broadcastable is not enough: gamma must not have leading axes or a wrong trailing size
    expect(build([2, 3], [1, 3], [3])).toThrow(/gamma has shape \[1,3\]/);
    expect(build([2, 3, 4], [3, 4], [3, 1], { axis: 1 })).toThrow(/needs \[3,1\]/);
  });

  it("rejects an out-of-range axis, mixed dtypes and a bad epsilon", () => {
    expect(build([2, 3], [3], [3], { axis: 2 })).toThrow(
      /^layerNorm at node #3: axis 2 is out of range for input \[2,3\] \(rank 2\)/,
    );
    expect(build([], [], [], { axis: -1 })).toThrow(
      /layerNorm at node #3: axis -1 is out of range for input \[\]/,
    );
    expect(build([2, 3], [3], [3], {}, ["float32", "float64"])).toThrow(/layerNorm at node #3: mixed dtypes/);
    expect(build([2, 3], [3], [3], { epsilon: -1 })).toThrow(
      /^layerNorm at node #3: attribute 'epsilon' must be a finite number >= 0, got -1/,
    );
    expect(build([2, 3], [3], [3], { epsilon: Number.NaN })).toThrow(/'epsilon' must be a finite number/);
    expect(build([2, 3], [3], [3], { axis: 0.5 })).toThrow(
      /layerNorm at node #3: attribute 'axis' must be an integer, got 0.5/,
    );
  });

  it("survives a JSON round trip (attributes and results)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3, 2]);
    b.output("y", b.layerNorm(x, b.param("g", [3, 1]), b.param("b", [3, 1]), { axis: 1, epsilon: 0.125 }));
    const graph = b.build();
    const again = parseGraph(graphToJSON(graph));
    expect(again.nodes.find((n) => n.op === "layerNorm")?.attrs).toEqual({ axis: 1, epsilon: 0.125 });
    const rng = new Rng(9);
    const params = new ParamStore([
      ["g", randTensor(rng, [3, 1])],
      ["b", randTensor(rng, [3, 1])],
    ]);
    const feeds = { x: randTensor(rng, [2, 3, 2]) };
    expect(compile(again, { params }).run(feeds).y!.data).toEqual(
      compile(graph, { params }).run(feeds).y!.data,
    );
  });

  it("stores its attributes normalised on the node", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const y = b.layerNorm(b.input("x", [2, 3]), b.input("g", [3]), b.input("b", [3]));
    b.output("y", y);
    const node = b.build().nodes[y.id]!;
    expect(node.op).toBe("layerNorm");
    expect(node.attrs).toEqual({ axis: -1, epsilon: 1e-5 });
  });
});
