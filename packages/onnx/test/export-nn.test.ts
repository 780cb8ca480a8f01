/**
 * The ONNX mappings of the convolution and pooling ops (src/export/ops/nn.ts), run in ONNX
 * Runtime and compared with gradgraph's own `evaluate`:
 * - each op on random problems from the op test generators (strides, dilations, asymmetric
 *   padding, groups 1, 2 and depthwise, non-square kernels and images), with a concrete or a
 *   symbolic batch (and symbolic channels for pooling, where gradgraph allows them);
 * - values are small dyadic numbers (multiples of 1/4), so every product and sum is exact in
 *   float32 in any order: convolutions, max pooling and their gradients must then agree exactly;
 *   the ops that divide by a window count agree within 1e-5 scaled error (floor 1e-6);
 * - max pooling on values with many ties (the first maximum wins in both);
 * - float64 for the max-pooling ops (ONNX Runtime's CPU provider has no float64 Conv,
 *   ConvTranspose or AveragePool): for the others the float64 model is checked to be the float32
 *   one with float64 types;
 * - whole gradient graphs of a small CNN (`grad`, and `hvp` for second order): every `grad:*`
 *   and `hvp:*` output exactly equal on half-integer data, and on general data as close to the
 *   float64 result as gradgraph's float32 (1e-6 of each tensor's scale).
 */
import { grad, hvp } from "@gradgraph/autograd";
import { convProblemArb, fcParameters, poolProblemArb } from "@gradgraph/autograd/testing";
import {
  castGraph,
  type DType,
  evaluate,
  type Graph,
  GraphBuilder,
  type OpName,
  ParamStore,
  type Shape,
  Tensor,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TensorProto_DataType } from "../src/gen/onnx_pb.js";
import { exportOnnx, exportOnnxModel } from "../src/index.js";
import { maxScaledError, runOrt } from "./helpers/ort.js";

const RUNS = 12;

/**
 * Tensors of `shape` whose values are multiples of `1/denom` in [-max, max] (default: quarters
 * in [-2, 2]): small dyadic numbers, whose products and sums are exact in float32.
 */
function dyadicArb(shape: readonly number[], dtype: DType, max = 2, denom = 4): fc.Arbitrary<Tensor> {
  const n = shape.reduce((p, d) => p * d, 1);
  return fc
    .array(fc.integer({ min: -max * denom, max: max * denom }), { minLength: n, maxLength: n })
    .map((ks) =>
      Tensor.from(
        ks.map((k) => k / denom),
        { shape, dtype },
      ),
    );
}

/** Tensors of `shape` with values in {0, 1, 2}: max-pooling windows full of ties. */
function tiesArb(shape: readonly number[], dtype: DType): fc.Arbitrary<Tensor> {
  const n = shape.reduce((p, d) => p * d, 1);
  return fc
    .array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n })
    .map((ks) => Tensor.from(ks, { shape, dtype }));
}

/** `shape` with its first `symbolic` axes replaced by the dims "N", "C". */
function symbolize(shape: readonly number[], symbolic: number): Shape {
  return shape.map((d, i) => (i < symbolic ? ["N", "C"][i]! : d));
}

/** Ops whose second argument is a weight tensor (no batch axis: it stays concrete). */
const WEIGHTED: readonly OpName[] = ["conv2d", "conv2dTranspose"];

/**
 * A graph of one op on inputs `x0, x1, …`, output `y`. The images' first `symbolic` axes are
 * symbolic (the batch, then the channels); weights stay concrete.
 */
function opGraph(op: OpName, args: readonly Tensor[], attrs: object, dtype: DType, symbolic: number): Graph {
  const b = new GraphBuilder({ dtype });
  const xs = args.map((a, i) =>
    b.input(`x${i}`, symbolize(a.shape, i === 1 && WEIGHTED.includes(op) ? 0 : symbolic)),
  );
  b.output("y", b.op(op as string, xs, attrs));
  return b.build();
}

/** Runs `graph` in gradgraph and (exported) in ONNX Runtime; returns both sets of outputs. */
async function both(graph: Graph, feeds: Record<string, Tensor>, params = new ParamStore()) {
  const ours = evaluate(graph, feeds, { params });
  const theirs = await runOrt(exportOnnx(graph, params), feeds);
  return { ours, theirs };
}

/**
 * Checks one op case: ONNX Runtime's output has gradgraph's shape and agrees exactly (`tol` 0)
 * or within `tol` scaled error (floor 1e-6).
 */
async function checkOp(
  op: OpName,
  args: readonly Tensor[],
  attrs: object,
  options: { dtype: DType; symbolic: number; tol: number },
): Promise<void> {
  const feeds = Object.fromEntries(args.map((a, i) => [`x${i}`, a.astype(options.dtype)]));
  const { ours, theirs } = await both(opGraph(op, args, attrs, options.dtype, options.symbolic), feeds);
  const [o, t] = [ours.y!, theirs.y!];
  const what = `${op} ${JSON.stringify(attrs)} on ${args.map((a) => `[${a.shape.join(", ")}]`).join(", ")}`;
  expect(t.shape, what).toEqual(o.shape);
  expect(t.dtype, what).toBe(options.dtype);
  const err = maxScaledError(t, o, 1e-6);
  if (options.tol === 0) expect(err, what).toBe(0);
  else expect(err, what).toBeLessThan(options.tol);
}

// batches up to 3: the grouped filter gradient interleaves images and groups, which a batch of 1 hides
const convArb = fc.record({ p: convProblemArb({ maxBatch: 3 }), symbolic: fc.boolean() });
const poolArb = fc.record({ p: poolProblemArb(), symbolic: fc.integer({ min: 0, max: 2 }) });
const params = (seed: number) => fcParameters({ numRuns: RUNS, seed });

describe("conv2d, conv2dTranspose, conv2dBackpropFilter (float32, exact on dyadic values)", () => {
  it("conv2d maps to Conv (pads reordered to [top, left, bottom, right])", async () => {
    const arb = convArb.chain(({ p, symbolic }) =>
      fc.record({
        p: fc.constant(p),
        symbolic: fc.constant(symbolic),
        x: dyadicArb(p.x, "float32"),
        w: dyadicArb(p.w, "float32"),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ p, symbolic, x, w }) => {
        const attrs = { strides: p.strides, padding: p.padding, dilations: p.dilations, groups: p.groups };
        await checkOp("conv2d", [x, w], attrs, { dtype: "float32", symbolic: symbolic ? 1 : 0, tol: 0 });
      }),
      params(1401),
    );
  });

  it("conv2dTranspose maps to ConvTranspose whose output_padding gives outputSize", async () => {
    const arb = convArb.chain(({ p, symbolic }) =>
      fc.record({
        p: fc.constant(p),
        symbolic: fc.constant(symbolic),
        dy: dyadicArb(p.y, "float32"),
        w: dyadicArb(p.w, "float32"),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ p, symbolic, dy, w }) => {
        const attrs = {
          strides: p.strides,
          padding: p.padding,
          dilations: p.dilations,
          groups: p.groups,
          outputSize: [p.x[2], p.x[3]],
        };
        await checkOp("conv2dTranspose", [dy, w], attrs, {
          dtype: "float32",
          symbolic: symbolic ? 1 : 0,
          tol: 0,
        });
      }),
      params(1402),
    );
  });

  it("conv2dBackpropFilter maps to a Conv of the transposed operands, groups included", async () => {
    const arb = convArb.chain(({ p, symbolic }) =>
      fc.record({
        p: fc.constant(p),
        symbolic: fc.constant(symbolic),
        x: dyadicArb(p.x, "float32"),
        dy: dyadicArb(p.y, "float32"),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ p, symbolic, x, dy }) => {
        const attrs = {
          strides: p.strides,
          padding: p.padding,
          dilations: p.dilations,
          groups: p.groups,
          kernelSize: [p.w[2], p.w[3]],
        };
        await checkOp("conv2dBackpropFilter", [x, dy], attrs, {
          dtype: "float32",
          symbolic: symbolic ? 1 : 0,
          tol: 0,
        });
      }),
      params(1403),
    );
  });

  it("hand-picked geometries: stride 2 with dilation 2, grouped 2x3 kernels, a 1x1 depthwise kernel, big padding", async () => {
    const cases = [
      {
        x: [2, 4, 9, 7],
        w: [6, 2, 2, 3],
        strides: [2, 1],
        padding: [1, 0, 2, 1],
        dilations: [2, 2],
        groups: 2,
      },
      {
        x: [1, 3, 5, 6],
        w: [6, 1, 1, 1],
        strides: [2, 3],
        padding: [0, 1, 1, 0],
        dilations: [1, 1],
        groups: 3,
      },
      {
        x: [2, 2, 3, 3],
        w: [3, 2, 3, 2],
        strides: [1, 1],
        padding: [2, 2, 2, 2],
        dilations: [1, 3],
        groups: 1,
      },
    ] as const;
    const rnd = fc.sample(fc.array(fc.integer({ min: -8, max: 8 }), { minLength: 400, maxLength: 400 }), {
      seed: 14,
      numRuns: 1,
    })[0]!;
    const fill = (shape: readonly number[]) => {
      const n = shape.reduce((p, d) => p * d, 1);
      return Tensor.from(
        Array.from({ length: n }, (_, i) => rnd[i % rnd.length]! / 4),
        { shape, dtype: "float32" },
      );
    };
    for (const c of cases) {
      const attrs = { strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups };
      const x = fill(c.x);
      const w = fill(c.w);
      const y = evaluate(opGraph("conv2d", [x, w], attrs, "float32", 0), { x0: x, x1: w }).y!;
      const dy = fill(y.shape);
      for (const symbolic of [0, 1]) {
        const opts = { dtype: "float32" as const, symbolic, tol: 0 };
        await checkOp("conv2d", [x, w], attrs, opts);
        await checkOp("conv2dTranspose", [dy, w], { ...attrs, outputSize: [c.x[2], c.x[3]] }, opts);
        await checkOp("conv2dBackpropFilter", [x, dy], { ...attrs, kernelSize: [c.w[2], c.w[3]] }, opts);
      }
    }
  });
});

/** The attributes of a pooling problem. */
function poolAttrs(p: {
  kernelSize: readonly number[];
  strides: readonly number[];
  padding: readonly number[];
}) {
  return { kernelSize: p.kernelSize, strides: p.strides, padding: p.padding };
}

describe("pooling (exact except where a window count divides; max pooling also in float64)", () => {
  for (const dtype of ["float32", "float64"] as const) {
    it(`maxPool2d maps to MaxPool, ties to the first maximum (${dtype})`, async () => {
      const arb = poolArb.chain(({ p, symbolic }) =>
        fc.record({
          p: fc.constant(p),
          symbolic: fc.constant(symbolic),
          x: fc.oneof(dyadicArb(p.x, dtype), tiesArb(p.x, dtype)),
        }),
      );
      await fc.assert(
        fc.asyncProperty(arb, async ({ p, symbolic, x }) => {
          await checkOp("maxPool2d", [x], poolAttrs(p), { dtype, symbolic, tol: 0 });
        }),
        params(1404),
      );
    });

    it(`maxPool2dBackprop maps to MaxPool indices + ScatterElements(add) (${dtype})`, async () => {
      const arb = poolArb.chain(({ p, symbolic }) =>
        fc.record({
          p: fc.constant(p),
          symbolic: fc.constant(symbolic),
          x: tiesArb(p.x, dtype),
          g: dyadicArb(p.y, dtype),
        }),
      );
      await fc.assert(
        fc.asyncProperty(arb, async ({ p, symbolic, x, g }) => {
          await checkOp("maxPool2dBackprop", [x, g], poolAttrs(p), { dtype, symbolic, tol: 0 });
        }),
        params(1405),
      );
    });

    it(`maxPool2dGather maps to MaxPool indices + Gather (${dtype})`, async () => {
      const arb = poolArb.chain(({ p, symbolic }) =>
        fc.record({
          p: fc.constant(p),
          symbolic: fc.constant(symbolic),
          x: tiesArb(p.x, dtype),
          v: dyadicArb(p.x, dtype),
        }),
      );
      await fc.assert(
        fc.asyncProperty(arb, async ({ p, symbolic, x, v }) => {
          await checkOp("maxPool2dGather", [x, v], poolAttrs(p), { dtype, symbolic, tol: 0 });
        }),
        params(1406),
      );
    });
  }

  it("avgPool2d maps to AveragePool(count_include_pad=0) (float32)", async () => {
    const arb = poolArb.chain(({ p, symbolic }) =>
      fc.record({ p: fc.constant(p), symbolic: fc.constant(symbolic), x: dyadicArb(p.x, "float32") }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ p, symbolic, x }) => {
        await checkOp("avgPool2d", [x], poolAttrs(p), { dtype: "float32", symbolic, tol: 1e-5 });
      }),
      params(1407),
    );
  });

  it("avgPool2dBackprop maps to Div(count) + ConvTranspose(ones) per plane (float32)", async () => {
    const arb = poolArb.chain(({ p, symbolic }) =>
      fc.record({ p: fc.constant(p), symbolic: fc.constant(symbolic), g: dyadicArb(p.y, "float32") }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ p, symbolic, g }) => {
        const attrs = { ...poolAttrs(p), inputSize: [p.x[2], p.x[3]] };
        await checkOp("avgPool2dBackprop", [g], attrs, { dtype: "float32", symbolic, tol: 1e-5 });
      }),
      params(1408),
    );
  });

  it("maxPool2d: a window of ties picks its first maximum in row-major order, as gradgraph does", async () => {
    // 3x3 windows, stride 2, padding 1: overlapping windows share their tied maxima
    const x = Tensor.from([2, 0, 2, 2, 1, 1, 2, 2, 0, 2, 2, 1, 0, 2, 2, 2, 1, 0, 2, 2, 1, 2, 2, 2, 2], {
      shape: [1, 1, 5, 5],
      dtype: "float32",
    });
    const g = Tensor.from([1, 2, 4, 8, 16, 32, 64, 128, 256], { shape: [1, 1, 3, 3], dtype: "float32" });
    const attrs = { kernelSize: [3, 3], strides: [2, 2], padding: [1, 1, 1, 1] };
    await checkOp("maxPool2dBackprop", [x, g], attrs, { dtype: "float32", symbolic: 2, tol: 0 });
    const v = Tensor.from(
      Array.from({ length: 25 }, (_, i) => i),
      { shape: [1, 1, 5, 5], dtype: "float32" },
    );
    await checkOp("maxPool2dGather", [x, v], attrs, { dtype: "float32", symbolic: 1, tol: 0 });
  });
});

describe("float64 convolutions and average pooling: the float32 model's nodes with float64 types", () => {
  // ONNX Runtime's CPU provider has no float64 Conv, ConvTranspose or AveragePool kernel, so these
  // models cannot run there; they must be the float32 models (verified numerically above) retyped.
  it("conv2d, conv2dTranspose, conv2dBackpropFilter, avgPool2d and avgPool2dBackprop", () => {
    const graphOf = (dtype: DType) => {
      const b = new GraphBuilder({ dtype });
      const x = b.input("x", ["N", 4, 7, 6]);
      const w = b.param("w", [6, 2, 3, 2]);
      const attrs = { strides: [2, 1], padding: [1, 0, 2, 1], dilations: [1, 2], groups: 2 };
      const y = b.op("conv2d", [x, w], attrs);
      b.output("t", b.op("conv2dTranspose", [y, w], { ...attrs, outputSize: [7, 6] }));
      b.output("f", b.op("conv2dBackpropFilter", [x, y], { ...attrs, kernelSize: [3, 2] }));
      b.output(
        "a",
        b.op("avgPool2dBackprop", [y], {
          kernelSize: [2, 2],
          strides: [1, 1],
          padding: [1, 0, 0, 1],
          inputSize: [3, 7],
        }),
      );
      b.output("p", b.avgPool2d(y, [2, 3], { strides: [1, 2], padding: [1, 0, 0, 2] }));
      const g = b.build();
      return exportOnnxModel(g, ParamStore.init(g, 1)).graph!;
    };
    const [f32, f64] = [graphOf("float32"), graphOf("float64")];
    const strip = (nodes: typeof f32.node) =>
      nodes.map((n) => ({
        op: n.opType,
        input: n.input.map((i) => i.replace("float64", "float32").replace("f64_", "f32_")),
        attribute: n.attribute,
      }));
    expect(strip(f64.node)).toEqual(strip(f32.node));
    expect(f64.node.map((n) => n.opType)).toContain("Conv");
    expect(f64.node.map((n) => n.opType)).toContain("ConvTranspose");
    expect(
      f64.input.every(
        (v) =>
          v.type?.value.case !== "tensorType" || v.type.value.value.elemType === TensorProto_DataType.DOUBLE,
      ),
    ).toBe(true);
    expect(f64.initializer.filter((t) => t.dataType === TensorProto_DataType.FLOAT)).toEqual([]);
  });
});

describe("gradient graphs of a small CNN run in ONNX Runtime", () => {
  /**
   * x [N, 2, 9, 8] -> conv 3x2 (asymmetric padding) -> [N, 4, 8, 8] -> grouped conv (stride
   * [2, 1], dilation [1, 2]) -> [N, 4, 4, 6] -> maxPool 2x2 (stride 1, padded) -> avgPool 2x2
   * (stride 2, padding top and left: windows of 1, 2 and 4 pixels, the last column unread) ->
   * [N, 4, 2, 3] -> square -> sum. Polynomial but for the max pooling, and the window counts are
   * powers of two, so with half-integer data every value is exact in float32.
   */
  function cnn(): Graph {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 2, 9, 8]);
    const w1 = b.param("w1", [4, 2, 3, 2]);
    const w2 = b.param("w2", [4, 2, 2, 2]);
    const h1 = b.conv2d(x, w1, { padding: [1, 0, 0, 1] });
    const h2 = b.conv2d(h1, w2, { strides: [2, 1], dilations: [1, 2], groups: 2 });
    const m = b.maxPool2d(h2, [2, 2], { strides: 1, padding: [0, 1, 1, 0] });
    const a = b.avgPool2d(m, 2, { strides: 2, padding: [1, 0, 1, 0] });
    b.output("loss", b.sum(a.square()));
    return b.build();
  }

  /** Params and input in {-1, -0.5, 0, 0.5, 1} (the batch is symbolic in the graph; 3 images fed). */
  function data(graph: Graph) {
    const params = new ParamStore();
    const sample = (shape: number[], seed: number) =>
      fc.sample(dyadicArb(shape, "float32", 1, 2), { seed, numRuns: 1 })[0]!;
    params.set("w1", sample([4, 2, 3, 2], 1));
    params.set("w2", sample([4, 2, 2, 2], 2));
    const feeds: Record<string, Tensor> = { x: sample([3, 2, 9, 8], 3) };
    expect(Object.keys(graph.params).sort()).toEqual(["w1", "w2"]);
    return { params, feeds };
  }

  /** The ops of `graph`. */
  const opsOf = (graph: Graph) => new Set(graph.nodes.map((n) => n.op));

  it("grad: loss and every grad:* output agree (conv2dTranspose, conv2dBackpropFilter, both pool backprops)", async () => {
    const base = cnn();
    const g = grad(base, "loss", ["w1", "w2", "x"]);
    for (const op of ["conv2dTranspose", "conv2dBackpropFilter", "maxPool2dBackprop", "avgPool2dBackprop"])
      expect(opsOf(g).has(op as OpName), op).toBe(true);
    const { params, feeds } = data(base);
    const { ours, theirs } = await both(g, feeds, params);
    const names = Object.keys(g.outputs);
    expect(names.sort()).toEqual(["grad:w1", "grad:w2", "grad:x", "loss"]);
    for (const name of names) {
      expect(theirs[name]!.shape, name).toEqual(ours[name]!.shape);
      expect(maxScaledError(theirs[name]!, ours[name]!, 1e-6), name).toBe(0);
    }
  });

  it("grad on general data: ONNX Runtime is as close to the float64 result as float32 allows", async () => {
    const base = cnn();
    const g = grad(base, "loss", ["w1", "w2", "x"]);
    // scattered values in [-1, 1], no structure
    const wave = (shape: number[], phase: number) => {
      const n = shape.reduce((p, d) => p * d, 1);
      return Tensor.from(
        Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + phase)),
        { shape, dtype: "float32" },
      );
    };
    const params = new ParamStore();
    params.set("w1", wave([4, 2, 3, 2], 1));
    params.set("w2", wave([4, 2, 2, 2], 2));
    const x = wave([3, 2, 9, 8], 3);
    const theirs = await runOrt(exportOnnx(g, params), { x });
    const params64 = new ParamStore();
    for (const name of params.names()) params64.set(name, params.get(name).astype("float64"));
    const ref = evaluate(castGraph(g, "float64"), { x: x.astype("float64") }, { params: params64 });
    for (const name of Object.keys(g.outputs)) {
      const [t, e] = [theirs[name]!.data, ref[name]!.data];
      const scale = Math.max(...Array.from(e, Math.abs));
      const err = Math.max(...Array.from(t, (v, k) => Math.abs(v - e[k]!)));
      // float32 sums of a few hundred terms: within 1e-6 of the tensor's scale (measured: at most about 4e-7)
      expect(err / scale, name).toBeLessThan(1e-6);
    }
  });

  it("hvp: the Hessian-vector products (maxPool2dGather and convolutions of convolutions) agree", async () => {
    const base = cnn();
    const h = hvp(base, "loss", ["w1", "w2"]);
    expect(opsOf(h).has("maxPool2dGather")).toBe(true);
    const { params, feeds } = data(base);
    const sample = (shape: number[], seed: number) =>
      fc.sample(dyadicArb(shape, "float32", 1, 2), { seed, numRuns: 1 })[0]!;
    feeds["tangent:w1"] = sample([4, 2, 3, 2], 4);
    feeds["tangent:w2"] = sample([4, 2, 2, 2], 5);
    const { ours, theirs } = await both(h, feeds, params);
    const names = Object.keys(h.outputs).filter((n) => n.startsWith("grad:") || n.startsWith("hvp:"));
    expect(names.length).toBe(4);
    for (const name of names) {
      expect(theirs[name]!.shape, name).toEqual(ours[name]!.shape);
      expect(maxScaledError(theirs[name]!, ours[name]!, 1e-6), name).toBe(0);
    }
  });
});
