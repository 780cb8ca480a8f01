/**
 * The ONNX mappings of activations, special functions, random numbers, indexing and layer
 * normalisation (src/export/ops/special.ts), run in ONNX Runtime and compared with gradgraph's
 * `evaluate`: each op over generated cases (the op test specs), edge values, randomUniform bit for
 * bit, and the gradient graph of a small transformer-style block.
 */
import { grad } from "@gradgraph/autograd";
import { fcParameters, OP_SPECS, type OpCase } from "@gradgraph/autograd/testing";
import {
  type DType,
  evaluate,
  GraphBuilder,
  type OpName,
  ParamStore,
  Tensor,
  uniformAt,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SPECIAL_EMITTERS } from "../src/export/ops/special.js";
import { exportOnnx } from "../src/index.js";
import { maxScaledError, runOrt } from "./helpers/ort.js";

/** The special ops checked over their op-spec cases here (randomUniform has its own bit-exact tests). */
type SpecialOp = Exclude<keyof typeof SPECIAL_EMITTERS, "randomUniform">;

/** Tolerances of maxScaledError: relative above `floor`, absolute (times `floor`) below. */
const TOL = {
  float32: { max: 1e-5, floor: 1e-6 },
  float64: { max: 1e-12, floor: 1e-12 },
} as const;

/** Builds `y = op(args)` in `dtype` (args as inputs x0, x1, … or params), exports it, runs both. */
async function runBoth(
  build: (b: GraphBuilder, xs: readonly Value[]) => Value,
  args: readonly { readonly value: Tensor; readonly source?: "input" | "param" }[],
  dtype: DType,
): Promise<{ ours: Tensor; theirs: Tensor }> {
  const b = new GraphBuilder({ dtype });
  const feeds: Record<string, Tensor> = {};
  const params = new ParamStore();
  const xs = args.map((a, i) => {
    const v = a.value.astype(dtype);
    if (a.source === "param") {
      params.set(`p${i}`, v);
      return b.param(`p${i}`, v.shape);
    }
    feeds[`x${i}`] = v;
    return b.input(`x${i}`, v.shape);
  });
  b.output("y", build(b, xs));
  const graph = b.build();
  const ours = evaluate(graph, feeds, { params }).y!;
  const theirs = (await runOrt(exportOnnx(graph, params), feeds)).y!;
  expect(theirs.shape).toEqual(ours.shape);
  expect(theirs.dtype).toBe(dtype);
  return { ours, theirs };
}

/** One op on explicit inputs: the scaled error of ONNX Runtime against gradgraph. */
async function opError(
  op: SpecialOp,
  values: readonly Tensor[],
  attrs: object,
  dtype: DType,
  floor: number,
): Promise<number> {
  const { ours, theirs } = await runBoth(
    (b, xs) => b.op(op, xs, attrs),
    values.map((value) => ({ value })),
    dtype,
  );
  return maxScaledError(theirs, ours, floor);
}

const f64 = (values: readonly number[], shape: readonly number[] = [values.length]) =>
  Tensor.from([...values], { shape, dtype: "float64" });

/**
 * The comparison floor of a case: `layerNormBackward`'s output can be a small difference of terms
 * of the cotangent's size (a row of two gives `d · eps / var`), so its errors are measured against
 * that size; the other ops are compared element by element.
 */
/**
 * float32 gelu is `0.5·x·(1 + Erf(x/√2))`: `1 + Erf` cancels for negative `x`, so below
 * |gelu| ≈ 0.01 its error is absolute (measured: at most 8.3e-8 over [-10, -1]).
 */
const GELU_F32_FLOOR = 1e-2;

function floorOf(op: SpecialOp, c: OpCase<OpName>, dtype: DType): number {
  const { floor } = TOL[dtype];
  if (op === "gelu" && dtype === "float32") return GELU_F32_FLOOR;
  if (op !== "layerNormBackward") return floor;
  return Math.max(floor, ...Array.from(c.args[1]!.value.data, Math.abs));
}

const OPS: readonly SpecialOp[] = [
  "softplus",
  "log1p",
  "expm1",
  "silu",
  "erf",
  "gelu",
  "geluTanh",
  "leakyRelu",
  "elu",
  "clip",
  "oneHot",
  "gather",
  "scatterAdd",
  "layerNorm",
  "layerNormBackward",
];

describe("exportOnnx: special ops over the op specs' cases, in ONNX Runtime", () => {
  for (const dtype of ["float32", "float64"] as const) {
    for (const op of OPS) {
      it(`${op} (${dtype})`, async () => {
        const { max } = TOL[dtype];
        const cases = OP_SPECS[op].cases as fc.Arbitrary<OpCase<OpName>>;
        await fc.assert(
          fc.asyncProperty(cases, async (c) => {
            const { ours, theirs } = await runBoth((b, xs) => b.op(op, xs, c.attrs), c.args, dtype);
            const err = maxScaledError(theirs, ours, floorOf(op, c, dtype));
            if (!(err < max)) throw new Error(`${op} ${dtype}: scaled error ${err} (limit ${max})`);
          }),
          fcParameters({ numRuns: 12, seed: 1414 }),
        );
      });
    }
  }
});

describe("exportOnnx: edge values", () => {
  const both = ["float32", "float64"] as const;

  it("log1p and expm1 keep their relative accuracy near 0 and their limits", async () => {
    const small = [0, 1e-30, -1e-30, 1e-12, -1e-12, 1e-8, -1e-8, 3e-5, -3e-5, 1e-3, -1e-3, 0.1, -0.1];
    for (const dtype of both) {
      const { floor } = { floor: dtype === "float32" ? 1e-38 : 1e-300 };
      const limit = dtype === "float32" ? 1e-6 : 1e-15;
      const log1pX = f64([...small, -0.5, -0.999, -1, -1.5, 5, 1e10, 1e30, 3e38, Infinity, Number.NaN]);
      expect(await opError("log1p", [log1pX], {}, dtype, floor), `log1p ${dtype}`).toBeLessThan(limit);
      const big = dtype === "float32" ? [80, 85, 88, 89, 100] : [80, 700, 709, 710];
      const expm1X = f64([...small, 1, -1, -20, -100, -800, ...big, Infinity, -Infinity, Number.NaN]);
      expect(await opError("expm1", [expm1X], {}, dtype, floor), `expm1 ${dtype}`).toBeLessThan(limit);
    }
  });

  it("elu keeps its relative accuracy near 0, with an alpha tensor broadcast against x", async () => {
    const x = f64([-1e-8, -1e-4, -1, -20, 0, 1e-8, 2, -3e-6], [2, 4]);
    const alpha = f64([0.5, 1, 2, 1.5], [4]);
    for (const dtype of both) {
      const err = await opError("elu", [x, alpha], {}, dtype, dtype === "float32" ? 1e-38 : 1e-300);
      expect(err, dtype).toBeLessThan(dtype === "float32" ? 1e-6 : 1e-15);
      // the alpha broadcast the other way: x [4] against alpha [2, 4]
      const err2 = await opError(
        "elu",
        [f64([-1e-8, -0.5, 0.25, -3]), f64([1, 2, 3, 4, 5, 6, 7, 8], [2, 4])],
        {},
        dtype,
        1e-38,
      );
      expect(err2, dtype).toBeLessThan(dtype === "float32" ? 1e-6 : 1e-15);
    }
  });

  it("softplus is stable for large |x|", async () => {
    const x = f64([-1000, -100, -30, -5, -1e-8, 0, 1e-8, 5, 30, 100, 1000, 3e38, -3e38, Infinity, -Infinity]);
    for (const dtype of both)
      expect(await opError("softplus", [x], {}, dtype, 1e-300), dtype).toBeLessThan(
        dtype === "float32" ? 1e-6 : 1e-15,
      );
  });

  it("silu, geluTanh, leakyRelu and clip at large |x|, zeros and NaN", async () => {
    const x = f64([-1000, -50, -1e-8, 0, 1e-8, 3, 50, 1000, Number.NaN]);
    for (const dtype of both) {
      const tol = dtype === "float32" ? 1e-6 : 1e-14;
      expect(await opError("silu", [x], {}, dtype, 1e-300), `silu ${dtype}`).toBeLessThan(tol);
      expect(await opError("geluTanh", [x], {}, dtype, 1e-300), `geluTanh ${dtype}`).toBeLessThan(tol);
      const slopes = f64([0.1, -0.2, 2], [3, 1]);
      expect(await opError("leakyRelu", [x, slopes], {}, dtype, 1e-300), `leakyRelu ${dtype}`).toBe(0);
      // bounds broadcast against x, lo > hi gives hi, NaN stays NaN
      const lo = f64([-1, 0.5, 2], [3, 1]);
      const hi = f64([1, 4, 1], [3, 1]);
      expect(await opError("clip", [x, lo, hi], {}, dtype, 1e-300), `clip ${dtype}`).toBe(0);
    }
  });

  it("erf and gelu over [-10, 10]: float64 to 1e-15, float32 gelu relative above x = -2.5, absolute below", async () => {
    const grid = Array.from({ length: 401 }, (_, i) => -10 + i * 0.05);
    const x = f64([...grid, -1e-8, 1e-8, -0.4999, 0.5001, -30, 30, Infinity, -Infinity, Number.NaN]);
    expect(await opError("erf", [x], {}, "float64", 1e-300), "erf float64").toBeLessThan(1e-15);
    expect(await opError("gelu", [x], {}, "float64", 1e-300), "gelu float64").toBeLessThan(1e-14);
    expect(await opError("erf", [x], {}, "float32", 1e-38), "erf float32").toBeLessThan(1e-6);
    // float32 gelu is 0.5·x·(1 + Erf(x/√2)): 1 + Erf cancels for negative x (measured on a grid of
    // step 0.001: relative error 1.1e-6 above x = -2, 3.8e-6 above -2.5, 1.6e-5 above -3, 1 at -6;
    // absolute error at most 8.3e-8 below -1)
    const { ours, theirs } = await runBoth((b, xs) => b.gelu(xs[0]!), [{ value: x }], "float32");
    let rel = 0;
    let abs = 0;
    x.data.forEach((v, i) => {
      const [a, e] = [theirs.data[i]!, ours.data[i]!];
      if (Number.isNaN(v)) expect(a).toBeNaN();
      else if (!Number.isFinite(v)) expect(a).toBe(e);
      else if (v < -2.5) abs = Math.max(abs, Math.abs(a - e));
      else rel = Math.max(rel, Math.abs(a - e) / (Math.abs(e) + 1e-30));
    });
    expect(rel).toBeLessThan(1e-5);
    expect(abs).toBeLessThan(1e-7);
  });

  it("oneHot gives a zero row for -1, out-of-range, fractional and NaN indices", async () => {
    const idx = f64([-1, 0, 1, 2.5, 3, 4, -0.5, Number.NaN, 1e9, 2], [2, 5]);
    for (const dtype of both) {
      const { ours, theirs } = await runBoth((b, xs) => b.oneHot(xs[0]!, 4), [{ value: idx }], dtype);
      expect(Array.from(theirs.data)).toEqual(Array.from(ours.data));
      expect(theirs.shape).toEqual([2, 5, 4]);
    }
  });

  it("scatterAdd accumulates repeated indices; gather reads them", async () => {
    const idx = f64([2, 0, 2, 2, 1, 0], [2, 3]);
    const upd = f64(
      Array.from({ length: 4 * 6 }, (_, i) => i * 0.5 - 3),
      [4, 2, 3],
    );
    for (const dtype of both) {
      const s = await runBoth(
        (b, xs) => b.op("scatterAdd", xs, { axis: 1, shape: [4, 3] }),
        [{ value: idx }, { value: upd }],
        dtype,
      );
      expect(Array.from(s.theirs.data)).toEqual(Array.from(s.ours.data));
      const g = await runBoth(
        (b, xs) => b.op("gather", [xs[1]!, xs[0]!], { axis: -1 }),
        [{ value: idx }, { value: f64([1, 2, 3, 4, 5, 6], [2, 3]) }],
        dtype,
      );
      expect(Array.from(g.theirs.data)).toEqual(Array.from(g.ours.data));
    }
  });

  it("scatterAdd and gather with symbolic dims (in the output shape, in the indices)", async () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const upd = b.input("upd", ["B", 3]);
    const idx = b.input("idx", [3]);
    const idxK = b.input("idxK", ["K"]);
    const updK = b.input("updK", ["K", 2]);
    const into = b.op("scatterAdd", [idx, upd], { axis: 1, shape: ["B", 4] });
    b.output("into", into);
    b.output("byK", b.op("scatterAdd", [idxK, updK], { axis: 0, shape: [3, 2] }));
    b.output("back", b.op("gather", [into, idxK], { axis: -1 }));
    const graph = b.build();
    const feeds = {
      upd: f64([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [5, 3]),
      idx: f64([3, 0, 3]),
      idxK: f64([2, 2, 0, 1, 2, 0, 1]),
      updK: f64(
        Array.from({ length: 14 }, (_, i) => i * 0.25 - 1),
        [7, 2],
      ),
    };
    const ours = evaluate(graph, feeds);
    const theirs = await runOrt(exportOnnx(graph, new ParamStore()), feeds);
    for (const name of ["into", "byK", "back"]) {
      expect(theirs[name]!.shape, name).toEqual(ours[name]!.shape);
      expect(Array.from(theirs[name]!.data), name).toEqual(Array.from(ours[name]!.data));
    }
  });

  it("layerNorm (float64) over a middle axis with a large common offset: two passes", async () => {
    // E[x²] - E[x]² would lose every digit of this variance to the offset
    const x = f64(
      Array.from({ length: 24 }, (_, i) => 1e6 + Math.sin(i) * 0.01),
      [2, 3, 4],
    );
    const gamma = f64([1, 2, 3], [3, 1]);
    const beta = f64([0.5, -0.5, 0], [3, 1]);
    const y = await runBoth(
      (b, xs) => b.layerNorm(xs[0]!, xs[1]!, xs[2]!, { axis: 1, epsilon: 1e-9 }),
      [{ value: x }, { value: gamma }, { value: beta }],
      "float64",
    );
    // the offset leaves about 16 - 8 = 8 significant digits to the deviations, on both sides alike
    expect(maxScaledError(y.theirs, y.ours, 1)).toBeLessThan(1e-6);
  });
});

describe("exportOnnx: randomUniform bit for bit", () => {
  const KEYS = [
    0,
    1,
    7,
    2.5,
    -3,
    -2.5,
    0.5,
    -0.5,
    0.49999999999999994,
    123456789,
    2 ** 31 + 5,
    -(2 ** 33) - 1,
  ];

  for (const dtype of ["float32", "float64"] as const) {
    it(`a symbolic batch, keys of shape [] and [1, 1], several salts (${dtype})`, async () => {
      const b = new GraphBuilder({ dtype });
      const x = b.input("x", ["B", 3]);
      const key = b.input("key", []);
      const key2 = b.input("key2", [1, 1]);
      b.output("r", b.randomUniform(key, ["B", 3, 5], -123456));
      b.output("r2", b.randomUniform(key2, [4, "B"], 77, dtype === "float32" ? "float64" : "float32"));
      b.output("masked", x.mul(b.randomUniform(key, ["B", 3], 5)));
      const graph = b.build();
      const bytes = exportOnnx(graph, new ParamStore());
      for (const k of KEYS) {
        const batch = 1 + (Math.abs(Math.trunc(k)) % 3);
        const feeds = {
          x: Tensor.full([batch, 3], 1.5, dtype),
          key: Tensor.full([], k, dtype),
          key2: Tensor.full([1, 1], -k, dtype),
        };
        const ours = evaluate(graph, feeds);
        const theirs = await runOrt(bytes, feeds);
        for (const name of ["r", "r2", "masked"]) {
          expect(theirs[name]!.shape, `${name} key ${k}`).toEqual(ours[name]!.shape);
          expect(Array.from(theirs[name]!.data), `${name} key ${k}`).toEqual(Array.from(ours[name]!.data));
        }
        // and against the documented stream itself (the key as the graph's dtype holds it)
        const kr = Math.round(feeds.key.data[0]!);
        expect(Array.from(theirs.r!.data.slice(0, 8))).toEqual(
          Array.from({ length: 8 }, (_, i) => uniformAt(kr, -123456, i)),
        );
      }
    });
  }
});

describe("exportOnnx: randomUniform over the op spec's cases (keys, salts, shapes), bit for bit", () => {
  for (const dtype of ["float32", "float64"] as const) {
    it(dtype, async () => {
      await fc.assert(
        fc.asyncProperty(OP_SPECS.randomUniform.cases, async (c) => {
          // the spec multiplies the numbers into x; both products round once, so they agree exactly
          const { ours, theirs } = await runBoth(
            (b, xs) => b.mul(xs[1]!, b.op("randomUniform", [xs[0]!], { ...c.attrs, dtype })),
            c.args,
            dtype,
          );
          expect(Array.from(theirs.data)).toEqual(Array.from(ours.data));
        }),
        fcParameters({ numRuns: 15, seed: 1414 }),
      );
    });
  }
});

describe("exportOnnx: the gradient graph of a transformer-style block", () => {
  for (const dtype of ["float32", "float64"] as const) {
    it(`layerNorm → matmul → gelu → sum, with every gradient (${dtype})`, async () => {
      const b = new GraphBuilder({ dtype });
      const x = b.input("x", ["B", 4, 6]);
      const gamma = b.param("gamma", [6], { init: { kind: "normal", std: 0.5 } });
      const beta = b.param("beta", [6], { init: { kind: "normal", std: 0.5 } });
      const w = b.param("w", [6, 8], { init: { kind: "normal", std: 0.5 } });
      const g2 = b.param("g2", [4, 1], { init: { kind: "normal", std: 0.5 } });
      const b2 = b.param("b2", [4, 1], { init: { kind: "normal", std: 0.5 } });
      // a second layerNorm over the token axis (not the last), as in a mixer block
      const h = x.layerNorm(gamma, beta).matmul(w).gelu().layerNorm(g2, b2, { axis: 1 });
      b.output("loss", h.mul(h).sum());
      const fwd = b.build();
      const graph = grad(fwd, "loss", ["x", "gamma", "beta", "w", "g2", "b2"]);
      const params = ParamStore.init(graph, 14);
      const xs = Tensor.from(
        Array.from({ length: 2 * 4 * 6 }, (_, i) => Math.sin(i * 1.7) * 2),
        { shape: [2, 4, 6], dtype },
      );
      const ours = evaluate(graph, { x: xs }, { params });
      const theirs = await runOrt(exportOnnx(graph, params), { x: xs });
      const names = Object.keys(graph.outputs);
      expect(names).toHaveLength(7);
      for (const name of names) {
        const scale = Math.max(...Array.from(ours[name]!.data, Math.abs));
        // float32: the gradients sum terms that cancel (through two layer norms), so their
        // rounding is measured against the output's scale; float64: nearly element by element
        const err = maxScaledError(theirs[name]!, ours[name]!, dtype === "float32" ? scale : scale * 1e-3);
        expect(err, `${name} (${dtype})`).toBeLessThan(dtype === "float32" ? 1e-5 : 1e-12);
      }
    });
  }
});
