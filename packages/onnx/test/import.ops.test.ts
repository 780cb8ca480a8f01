import { evaluate, graphToJSON, type Shape, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import type { NodeProto, TensorProto } from "../src/gen/onnx_pb.js";
import { TensorProto_DataType } from "../src/gen/onnx_pb.js";
import { importOnnx, ONNX_IMPORT_OPS } from "../src/index.js";
import { tensorProto, tensorValueInfo } from "../src/proto.js";
import { buildModel, F, floats, I64, int64s, node, randomTensor } from "./helpers/onnx-build.js";
import { maxScaledError, runOrt } from "./helpers/ort.js";

/** One hand-built model: inputs (declared shape, fed shape), nodes, initializers, outputs. */
interface Case {
  readonly name: string;
  readonly inputs: Readonly<Record<string, [declared: Shape, fed: number[]]>>;
  readonly nodes: readonly NodeProto[];
  readonly initializers?: readonly TensorProto[];
  readonly outputs: readonly string[];
  readonly opset?: number;
  /** Range of the random inputs (default [-2, 2)). */
  readonly range?: [number, number];
  /** Tolerance of the scaled error (default 1e-5, floor 1e-6). */
  readonly tol?: number;
}

const rnd = (name: string, dims: number[], seed: number, lo = -1, hi = 1) =>
  floats(name, dims, randomTensor(dims, seed, lo, hi).data);

const N = "N";
const CASES: Case[] = [
  {
    name: "Gemm alpha beta transB",
    inputs: {
      a: [
        [N, 3],
        [4, 3],
      ],
    },
    initializers: [rnd("w", [5, 3], 1), rnd("c", [5], 2)],
    nodes: [node("Gemm", ["a", "w", "c"], ["y"], { alpha: { float: 0.5 }, beta: { float: 2 }, transB: 1 })],
    outputs: ["y"],
  },
  {
    name: "Gemm transA, no C",
    inputs: {
      a: [
        [3, 4],
        [3, 4],
      ],
    },
    initializers: [rnd("w", [3, 2], 3)],
    nodes: [node("Gemm", ["a", "w"], ["y"], { transA: 1 })],
    outputs: ["y"],
  },
  {
    name: "MatMul batched and 1-D",
    inputs: {
      a: [
        [N, 2, 3],
        [2, 2, 3],
      ],
      v: [[3], [3]],
    },
    initializers: [rnd("w", [3, 4], 4)],
    nodes: [
      node("MatMul", ["a", "w"], ["y"]),
      node("MatMul", ["v", "w"], ["z"]),
      node("MatMul", ["a", "v"], ["u"]),
    ],
    outputs: ["y", "z", "u"],
  },
  {
    name: "Add Sub Mul Div broadcasting, Max Min Sum Mean",
    inputs: {
      a: [
        [N, 3],
        [2, 3],
      ],
      b: [[3], [3]],
    },
    nodes: [
      node("Add", ["a", "b"], ["s"]),
      node("Sub", ["b", "a"], ["d"]),
      node("Mul", ["a", "b"], ["m"]),
      node("Div", ["a", "s"], ["q"]),
      node("Max", ["a", "b", "s"], ["mx"]),
      node("Min", ["a", "b"], ["mn"]),
      node("Sum", ["a", "b", "b"], ["sm"]),
      node("Mean", ["a", "b"], ["me"]),
    ],
    outputs: ["s", "d", "m", "q", "mx", "mn", "sm", "me"],
  },
  {
    name: "Pow, Log, Sqrt, Reciprocal (positive inputs)",
    inputs: {
      a: [
        [N, 4],
        [3, 4],
      ],
      b: [[4], [4]],
    },
    range: [0.2, 2],
    nodes: [
      node("Pow", ["a", "b"], ["p"]),
      node("Log", ["a"], ["l"]),
      node("Sqrt", ["a"], ["s"]),
      node("Reciprocal", ["a"], ["r"]),
    ],
    outputs: ["p", "l", "s", "r"],
  },
  {
    name: "unary activations",
    inputs: {
      x: [
        [N, 5],
        [3, 5],
      ],
    },
    range: [-3, 3],
    nodes: ["Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Sign", "Erf", "Softplus", "Identity"].map((op) =>
      node(op, ["x"], [op.toLowerCase()]),
    ),
    outputs: ["relu", "sigmoid", "tanh", "exp", "abs", "neg", "sign", "erf", "softplus", "identity"],
  },
  {
    name: "LeakyRelu, Elu, PRelu, Clip (inputs and one-sided)",
    inputs: {
      x: [
        [N, 3, 2],
        [2, 3, 2],
      ],
    },
    range: [-3, 3],
    initializers: [rnd("slope", [3, 1], 5, 0, 0.5), floats("lo", [], [-0.5]), floats("hi", [], [1.25])],
    nodes: [
      node("LeakyRelu", ["x"], ["lr"], { alpha: { float: 0.2 } }),
      node("Elu", ["x"], ["elu"], { alpha: { float: 0.7 } }),
      node("PRelu", ["x", "slope"], ["pr"]),
      node("Clip", ["x", "lo", "hi"], ["c"]),
      node("Clip", ["x", "", "hi"], ["c2"]),
    ],
    outputs: ["lr", "elu", "pr", "c", "c2"],
  },
  {
    name: "Softmax and LogSoftmax per axis",
    inputs: {
      x: [
        [N, 3, 4],
        [2, 3, 4],
      ],
    },
    nodes: [node("Softmax", ["x"], ["s"], { axis: 1 }), node("LogSoftmax", ["x"], ["l"])],
    outputs: ["s", "l"],
  },
  {
    name: "Softmax at opset 11 on the last axis",
    opset: 11,
    inputs: {
      x: [
        [N, 4],
        [3, 4],
      ],
    },
    nodes: [node("Softmax", ["x"], ["s"]), node("LogSoftmax", ["x"], ["l"], { axis: -1 })],
    outputs: ["s", "l"],
  },
  {
    name: "Conv with asymmetric pads, strides, dilations and bias",
    inputs: {
      x: [
        [N, 2, 7, 6],
        [2, 2, 7, 6],
      ],
    },
    initializers: [rnd("w", [4, 2, 3, 3], 6), rnd("b", [4], 7)],
    nodes: [
      node("Conv", ["x", "w", "b"], ["y"], {
        pads: [1, 0, 2, 1],
        strides: [2, 1],
        dilations: [1, 2],
        kernel_shape: [3, 3],
      }),
    ],
    outputs: ["y"],
  },
  {
    name: "Conv groups and auto_pad SAME_UPPER / SAME_LOWER / VALID",
    inputs: {
      x: [
        [N, 4, 6, 5],
        [2, 4, 6, 5],
      ],
    },
    initializers: [rnd("w", [6, 2, 2, 3], 8)],
    nodes: [
      node("Conv", ["x", "w"], ["u"], { auto_pad: "SAME_UPPER", strides: [2, 2], group: 2 }),
      node("Conv", ["x", "w"], ["l"], { auto_pad: "SAME_LOWER", strides: [1, 2], group: 2 }),
      node("Conv", ["x", "w"], ["v"], { auto_pad: "VALID", group: 2 }),
    ],
    outputs: ["u", "l", "v"],
  },
  {
    name: "ConvTranspose with pads, output_padding, groups, output_shape",
    inputs: {
      x: [
        [N, 4, 3, 4],
        [2, 4, 3, 4],
      ],
    },
    initializers: [rnd("w", [4, 3, 3, 2], 9), rnd("b", [6], 10)],
    nodes: [
      node("ConvTranspose", ["x", "w", "b"], ["y"], {
        strides: [2, 3],
        pads: [1, 0, 0, 1],
        output_padding: [1, 2],
        group: 2,
      }),
      node("ConvTranspose", ["x", "w"], ["z"], { strides: [2, 2], output_shape: [6, 8], group: 2 }),
      node("ConvTranspose", ["x", "w"], ["s"], { strides: [2, 2], auto_pad: "SAME_UPPER", group: 2 }),
    ],
    outputs: ["y", "z", "s"],
  },
  {
    name: "MaxPool, AveragePool, ceil_mode without effect, global pools",
    inputs: {
      x: [
        [N, 3, 7, 7],
        [2, 3, 7, 7],
      ],
    },
    nodes: [
      node("MaxPool", ["x"], ["m"], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
      node("MaxPool", ["x"], ["mc"], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }),
      node("AveragePool", ["x"], ["a"], { kernel_shape: [2, 3], strides: [2, 1], pads: [1, 0, 0, 1] }),
      node("AveragePool", ["x"], ["a1"], { kernel_shape: [2, 2], strides: [2, 2], count_include_pad: 1 }),
      node("MaxPool", ["x"], ["su"], { kernel_shape: [3, 2], strides: [2, 2], auto_pad: "SAME_UPPER" }),
      node("AveragePool", ["x"], ["sl"], { kernel_shape: [2, 3], strides: [2, 3], auto_pad: "SAME_LOWER" }),
      node("GlobalAveragePool", ["x"], ["g"]),
      node("GlobalMaxPool", ["x"], ["gm"]),
    ],
    outputs: ["m", "mc", "a", "a1", "su", "sl", "g", "gm"],
  },
  {
    name: "Flatten, Reshape (0 and -1), Transpose",
    inputs: {
      x: [
        [N, 2, 3, 2],
        [2, 2, 3, 2],
      ],
      z: [
        [4, 3, 2],
        [4, 3, 2],
      ],
    },
    initializers: [int64s("shape", [0, -1, 2]), int64s("shape2", [-1, 3])],
    nodes: [
      node("Flatten", ["x"], ["f"], { axis: 1 }),
      node("Reshape", ["x", "shape"], ["r"]),
      node("Transpose", ["x"], ["t"], { perm: [0, 2, 3, 1] }),
      node("Transpose", ["r"], ["t2"]),
      node("Flatten", ["z"], ["f0"], { axis: 0 }),
      node("Reshape", ["f0", "shape2"], ["r2"]),
    ],
    outputs: ["f", "r", "t", "t2", "r2"],
  },
  {
    name: "Concat, Slice (negative, axes), Pad, Expand",
    inputs: {
      x: [
        [N, 3, 4],
        [2, 3, 4],
      ],
      y: [
        [N, 2, 4],
        [2, 2, 4],
      ],
      c: [
        [3, 1],
        [3, 1],
      ],
    },
    initializers: [
      int64s("starts", [-3, 1]),
      int64s("ends", [-1, 1000]),
      int64s("axes", [2, 1]),
      int64s("pads", [0, 1, 0, 0, 2, 1]),
      floats("pval", [], [-1.5]),
      int64s("eshape", [2, 3, 4]),
    ],
    nodes: [
      node("Concat", ["x", "y"], ["cat"], { axis: 1 }),
      node("Slice", ["cat", "starts", "ends", "axes"], ["s"]),
      node("Pad", ["x", "pads"], ["p"]),
      node("Pad", ["x", "pads", "pval"], ["pv"]),
      node("Expand", ["c", "eshape"], ["e"]),
    ],
    outputs: ["cat", "s", "p", "pv", "e"],
  },
  {
    name: "Squeeze and Unsqueeze (axes inputs, opset 13+)",
    inputs: {
      x: [
        [N, 1, 3],
        [2, 1, 3],
      ],
    },
    initializers: [int64s("a1", [1]), int64s("a2", [0, -1])],
    nodes: [node("Squeeze", ["x", "a1"], ["s"]), node("Unsqueeze", ["s", "a2"], ["u"])],
    outputs: ["s", "u"],
  },
  {
    name: "Squeeze, Unsqueeze and ReduceSum with axes attributes (opset 11)",
    opset: 11,
    inputs: {
      x: [
        [N, 1, 3],
        [2, 1, 3],
      ],
    },
    nodes: [
      node("Squeeze", ["x"], ["s"], { axes: [1] }),
      node("Unsqueeze", ["s"], ["u"], { axes: [0] }),
      node("ReduceSum", ["x"], ["r"], { axes: [2], keepdims: 0 }),
      node("ReduceMean", ["x"], ["m"], { axes: [0, 2] }),
    ],
    outputs: ["s", "u", "r", "m"],
  },
  {
    name: "reductions at opset 18 (axes inputs, keepdims, all axes, noop)",
    inputs: {
      x: [
        [N, 3, 4],
        [2, 3, 4],
      ],
    },
    initializers: [int64s("ax", [1]), int64s("ax2", [-1, 0]), int64s("none", [])],
    nodes: [
      node("ReduceSum", ["x", "ax"], ["s"], { keepdims: 0 }),
      node("ReduceMean", ["x", "ax2"], ["m"]),
      node("ReduceMax", ["x", "ax"], ["mx"]),
      node("ReduceMin", ["x", "ax"], ["mn"], { keepdims: 0 }),
      node("ReduceLogSumExp", ["x"], ["lse"]),
      node("ReduceSumSquare", ["x", "ax2"], ["ss"], { keepdims: 0 }),
      node("ReduceSum", ["x", "none"], ["noop"], { noop_with_empty_axes: 1 }),
    ],
    outputs: ["s", "m", "mx", "mn", "lse", "ss", "noop"],
  },
  {
    name: "reductions at opset 13 (axes attributes but ReduceSum's input)",
    opset: 13,
    inputs: {
      x: [
        [N, 3, 4],
        [2, 3, 4],
      ],
    },
    initializers: [int64s("ax", [2])],
    nodes: [
      node("ReduceSum", ["x", "ax"], ["s"]),
      node("ReduceMean", ["x"], ["m"], { axes: [1], keepdims: 0 }),
      node("ReduceMax", ["x"], ["mx"], { axes: [-1] }),
      node("ReduceLogSumExp", ["x"], ["l"], { axes: [1, 2] }),
    ],
    outputs: ["s", "m", "mx", "l"],
  },
  {
    name: "ArgMax, comparisons, Not, Where and Casts",
    inputs: {
      x: [
        [N, 4],
        [3, 4],
      ],
      y: [
        [N, 4],
        [3, 4],
      ],
    },
    initializers: [
      floats("specials", [4], [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1, Number.NaN]),
    ],
    nodes: [
      node("ArgMax", ["x"], ["am"], { axis: 1, keepdims: 0 }),
      node("Cast", ["am"], ["amf"], { to: F }),
      node("Greater", ["x", "y"], ["g"]),
      node("Cast", ["g"], ["gf"], { to: F }),
      node("LessOrEqual", ["x", "y"], ["le"]),
      node("Not", ["le"], ["nle"]),
      node("Cast", ["nle"], ["nlef"], { to: F }),
      node("Where", ["g", "x", "y"], ["w"]),
      node("Cast", ["x"], ["xb"], { to: 9 }),
      node("Cast", ["xb"], ["xbf"], { to: F }),
      node("Cast", ["x"], ["xd"], { to: 11 }),
      node("Cast", ["xd"], ["xdf"], { to: F }),
      node("Equal", ["x", "x"], ["eq"]),
      node("Cast", ["eq"], ["eqf"], { to: F }),
      node("Less", ["x", "y"], ["ls"]),
      node("GreaterOrEqual", ["x", "y"], ["ge"]),
      node("Cast", ["ls"], ["lsf"], { to: F }),
      node("Add", ["x", "specials"], ["big"]),
      node("IsInf", ["big"], ["inf"]),
      node("Cast", ["inf"], ["inff"], { to: F }),
      node("IsInf", ["big"], ["pinf"], { detect_negative: 0 }),
      node("Cast", ["pinf"], ["pinff"], { to: F }),
      node("IsNaN", ["big"], ["isnan"]),
      node("Cast", ["isnan"], ["isnanf"], { to: F }),
      node("Cast", ["ge"], ["gef"], { to: F }),
    ],
    outputs: ["amf", "gf", "nlef", "w", "xbf", "xdf", "eqf", "lsf", "gef", "inff", "pinff", "isnanf"],
  },
  {
    name: "Gather (negative indices, axis 1, scalar index) and ScatterElements add",
    inputs: {
      x: [
        [N, 4, 3],
        [2, 4, 3],
      ],
      u: [
        [N, 2, 3],
        [2, 2, 3],
      ],
      z: [
        [2, 4, 3],
        [2, 4, 3],
      ],
      v: [
        [2, 2, 3],
        [2, 2, 3],
      ],
    },
    initializers: [
      int64s("idx", [3, -4, 1]),
      int64s("one", [2], []),
      int64s("sidx", [3, 1], [1, 2, 1]),
      int64s("kidx", [3, 3, 3, 1, 1, 1, 3, 3, 3, 1, 1, 1], [2, 2, 3]),
    ],
    nodes: [
      node("Gather", ["x", "idx"], ["g"], { axis: 1 }),
      node("Gather", ["x", "one"], ["g0"], { axis: -1 }),
      node("Shape", ["u"], ["ushape"]),
      node("Expand", ["sidx", "ushape"], ["eidx"]),
      node("Shape", ["x"], ["xshape"]),
      node("ConstantOfShape", ["xshape"], ["zeros"], { value: { tensor: floats("", [1], [0]) } }),
      node("ScatterElements", ["zeros", "eidx", "u"], ["sc"], { axis: 1, reduction: "add" }),
      node("ScatterElements", ["x", "eidx", "u"], ["sc2"], { axis: -2, reduction: "add" }),
      node("ScatterElements", ["z", "kidx", "v"], ["sc3"], { axis: 1, reduction: "add" }),
    ],
    outputs: ["g", "g0", "sc", "sc2", "sc3"],
  },
  {
    name: "BatchNormalization (inference) and Dropout",
    inputs: {
      x: [
        [N, 3, 4, 2],
        [2, 3, 4, 2],
      ],
    },
    initializers: [
      rnd("scale", [3], 11),
      rnd("bias", [3], 12),
      rnd("mean", [3], 13),
      rnd("var", [3], 14, 0.5, 2),
    ],
    nodes: [
      node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn"], { epsilon: { float: 1e-3 } }),
      node("Dropout", ["bn"], ["d"]),
    ],
    outputs: ["bn", "d"],
  },
  {
    name: "LayerNormalization on the last axis and on the last two",
    inputs: {
      x: [
        [N, 3, 4],
        [2, 3, 4],
      ],
    },
    initializers: [rnd("g", [4], 15), rnd("b", [4], 16), rnd("g2", [3, 4], 17), rnd("b2", [3, 4], 18)],
    nodes: [
      node("LayerNormalization", ["x", "g", "b"], ["ln"], { epsilon: { float: 1e-4 } }),
      node("LayerNormalization", ["x", "g2", "b2"], ["ln2"], { axis: -2 }),
      node("LayerNormalization", ["x", "g"], ["ln3"]),
    ],
    outputs: ["ln", "ln2", "ln3"],
  },
  {
    name: "shape plumbing: Shape, Gather, Unsqueeze, Concat, Reshape, Expand, ConstantOfShape, Constant",
    inputs: {
      x: [
        [N, 2, 3],
        [3, 2, 3],
      ],
    },
    initializers: [int64s("zero", [0], []), int64s("six", [6]), int64s("ax0", [0])],
    nodes: [
      node("Shape", ["x"], ["sh"]),
      node("Gather", ["sh", "zero"], ["n"], { axis: 0 }),
      node("Unsqueeze", ["n", "ax0"], ["n1"]),
      node("Concat", ["n1", "six"], ["target"], { axis: 0 }),
      node("Reshape", ["x", "target"], ["r"]),
      node("Shape", ["x"], ["sh01"], { start: 0, end: 1 }),
      node("Concat", ["sh01", "six"], ["t2"], { axis: 0 }),
      node("ConstantOfShape", ["t2"], ["ones"], { value: { tensor: floats("", [1], [1.5]) } }),
      node("Constant", [], ["k"], { value: { tensor: floats("", [6], [1, 2, 3, 4, 5, 6]) } }),
      node("Mul", ["ones", "k"], ["ok"]),
      node("Add", ["r", "ok"], ["y"]),
      node("Constant", [], ["col"], { value: { tensor: floats("", [1, 6], [0, 1, 0, 1, 0, 1]) } }),
      node("Expand", ["col", "target"], ["ex"]),
    ],
    outputs: ["y", "ex"],
  },
  {
    name: "Split: equal parts, given sizes, num_outputs with a smaller last part",
    inputs: {
      x: [
        [N, 6, 5],
        [2, 6, 5],
      ],
    },
    initializers: [int64s("sizes", [1, 4])],
    nodes: [
      node("Split", ["x"], ["a", "b", "c"], { axis: 1, num_outputs: 3 }),
      node("Split", ["x", "sizes"], ["d", "e"], { axis: -1 }),
      node("Split", ["x"], ["f", "g"], { axis: 2, num_outputs: 2 }),
    ],
    outputs: ["a", "b", "c", "d", "e", "f", "g"],
  },
  {
    name: "Split at opset 13: equal parts without sizes",
    opset: 13,
    inputs: {
      x: [
        [N, 6],
        [2, 6],
      ],
    },
    nodes: [node("Split", ["x"], ["a", "b"], { axis: 1 })],
    outputs: ["a", "b"],
  },
  {
    name: "HardSigmoid, HardSwish, Tile, Dropout's mask, ConstantOfShape's default value",
    inputs: {
      x: [
        [N, 2, 3],
        [2, 2, 3],
      ],
    },
    range: [-5, 5],
    initializers: [int64s("reps", [1, 3, 2]), int64s("shape", [2, 3])],
    nodes: [
      node("HardSigmoid", ["x"], ["hs"], { alpha: { float: 0.3 }, beta: { float: 0.4 } }),
      node("HardSwish", ["x"], ["hw"]),
      node("Tile", ["x", "reps"], ["t"]),
      node("Dropout", ["x"], ["d", "mask"]),
      node("Cast", ["mask"], ["maskf"], { to: F }),
      node("ConstantOfShape", ["shape"], ["z"]),
      node("Add", ["d", "z"], ["dz"]),
    ],
    outputs: ["hs", "hw", "t", "maskf", "dz"],
  },
  {
    name: "Size and Range folded at import time",
    inputs: {
      x: [
        [2, 3],
        [2, 3],
      ],
    },
    initializers: [int64s("zero", [0], []), int64s("two", [2], [])],
    nodes: [
      node("Size", ["x"], ["n"]),
      node("Range", ["zero", "n", "two"], ["r"]),
      node("Cast", ["r"], ["rf"], { to: F }),
      node("Add", ["x", "rf"], ["y"]),
    ],
    outputs: ["y"],
  },
  {
    name: "Gelu (opset 20, exact and tanh)",
    opset: 20,
    inputs: {
      x: [
        [N, 5],
        [3, 5],
      ],
    },
    range: [-3, 3],
    nodes: [node("Gelu", ["x"], ["g"]), node("Gelu", ["x"], ["t"], { approximate: "tanh" })],
    outputs: ["g", "t"],
  },
];

describe("importOnnx: each supported op against ONNX Runtime", () => {
  it("the cases below cover every op of ONNX_IMPORT_OPS", () => {
    const used = new Set(CASES.flatMap((c) => c.nodes.map((n) => n.opType)));
    expect(ONNX_IMPORT_OPS.filter((op) => !used.has(op))).toEqual([]);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const bytes = buildModel({
        inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, [declared]]) => [k, declared])),
        outputs: c.outputs,
        nodes: c.nodes,
        initializers: c.initializers ?? [],
        opset: c.opset ?? 18,
      });
      const [lo, hi] = c.range ?? [-2, 2];
      const feeds: Record<string, Tensor> = {};
      Object.entries(c.inputs).forEach(([k, [, fed]], i) => {
        feeds[k] = randomTensor(fed, 100 + i, lo, hi);
      });
      const imported = importOnnx(bytes);
      expect(imported.outputs).toEqual(c.outputs);
      const ours = evaluate(imported.graph, feeds, { params: imported.params });
      const theirs = await runOrt(bytes, feeds, { noOptimize: true });
      for (const name of c.outputs) {
        expect(ours[name]!.shape, name).toEqual(theirs[name]!.shape);
        expect(maxScaledError(ours[name]!, theirs[name]!, 1e-6), name).toBeLessThan(c.tol ?? 1e-5);
      }
    });
  }

  it("keeps input and output names, symbolic dims and the param values", () => {
    const bytes = buildModel({
      inputs: { features: ["batch", 3] },
      outputs: ["scores"],
      initializers: [floats("W", [3, 2], [1, 2, 3, 4, 5, 6]), floats("bias", [2], [0.5, -0.5])],
      nodes: [node("Gemm", ["features", "W", "bias"], ["scores"])],
    });
    const m = importOnnx(bytes);
    expect(Object.keys(m.graph.inputs)).toEqual(["features"]);
    expect(m.graph.nodes[m.graph.inputs.features!]!.shape).toEqual(["batch", 3]);
    expect(Object.keys(m.graph.outputs)).toEqual(["scores"]);
    expect(m.graph.nodes[m.graph.outputs.scores!]!.shape).toEqual(["batch", 2]);
    expect(Object.keys(m.graph.params)).toEqual(["W", "bias"]);
    expect(Array.from(m.params.get("W").data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(m.opset).toBe(18);
    expect(m.producer).toBe("import-test");
    // an ArrayBuffer works too, and importing is deterministic
    const again = importOnnx(bytes.slice().buffer);
    expect(graphToJSON(again.graph)).toEqual(graphToJSON(m.graph));
  });

  it("reads float_data and unaligned raw_data", () => {
    const w = floats("W", [2, 2], [1.5, -2, 3.25, 4]);
    const raw = new Uint8Array(w.rawData.length + 1);
    raw.set(w.rawData, 1);
    w.rawData = raw.subarray(1); // a view at an odd byte offset
    const b = floats("b", [2], []);
    b.rawData = new Uint8Array(0);
    b.floatData = [0.25, -0.75];
    const bytes = buildModel({
      inputs: { x: [N, 2] },
      outputs: ["y"],
      initializers: [w, b],
      nodes: [node("MatMul", ["x", "W"], ["xw"]), node("Add", ["xw", "b"], ["y"])],
    });
    // the decoder hands out raw_data as views into the file: read at every alignment
    for (let offset = 0; offset < 8; offset++) {
      const shifted = new Uint8Array(bytes.length + offset);
      shifted.set(bytes, offset);
      const m = importOnnx(shifted.subarray(offset));
      expect(Array.from(m.params.get("W").data)).toEqual([1.5, -2, 3.25, 4]);
      expect(Array.from(m.params.get("b").data)).toEqual([0.25, -0.75]);
    }
  });

  it("reads double_data and int64_data", () => {
    const w = tensorProto("W", TensorProto_DataType.DOUBLE, [2], []);
    w.rawData = new Uint8Array(0);
    w.doubleData = [0.1, -3];
    const i = int64s("i", []);
    i.rawData = new Uint8Array(0);
    i.dims = [1n];
    i.int64Data = [1n];
    const bytes = buildModel({
      inputs: { x: [N, 2] },
      outputs: ["y"],
      initializers: [w, i],
      nodes: [node("Gather", ["x", "i"], ["g"], { axis: 1 }), node("Mul", ["g", "W"], ["y"])],
    });
    const m = importOnnx(bytes, { dtype: "float64" });
    expect(Array.from(m.params.get("W").data)).toEqual([0.1, -3]);
    const y = evaluate(m.graph, { x: new Tensor([1, 2], Float64Array.from([5, 7])) }, { params: m.params })
      .y!;
    expect(Array.from(y.data)).toEqual([0.7000000000000001, -21]);
  });
});

describe("importOnnx: initializers, inputs and options", () => {
  const bn = () =>
    buildModel({
      inputs: { x: [N, 2, 3, 3] },
      outputs: ["y"],
      initializers: [
        floats("s", [2], [1, 2]),
        floats("b", [2], [0, 1]),
        floats("m", [2], [0.5, -0.5]),
        floats("v", [2], [1, 4]),
        floats("k", [], [3]),
      ],
      nodes: [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]), node("Mul", ["bn", "k"], ["y"])],
    });

  it("by default: float initializers of rank >= 1 are params, scalars and batch-norm statistics constants", () => {
    const m = importOnnx(bn());
    expect(Object.keys(m.graph.params)).toEqual(["s", "b"]);
    expect([...m.constants].sort()).toEqual(["k", "m", "v"]);
  });

  it("options.params chooses the params by name or predicate; overridable initializers are always params", () => {
    expect(Object.keys(importOnnx(bn(), { params: ["m", "k"] }).graph.params)).toEqual(["m", "k"]);
    const byRank = importOnnx(bn(), { params: (name, dims) => dims.length === 0 || name === "v" });
    expect(Object.keys(byRank.graph.params)).toEqual(["v", "k"]);
    expect(() => importOnnx(bn(), { params: ["nope"] })).toThrow(
      /options\.params names 'nope', which is not an initializer/,
    );
    const withIndices = buildModel({
      inputs: { x: [N, 3] },
      outputs: ["y"],
      initializers: [int64s("i", [0]), floats("w", [1], [2])],
      nodes: [node("Gather", ["x", "i"], ["g"], { axis: 1 }), node("Add", ["g", "w"], ["y"])],
      inputInfos: [tensorValueInfo("w", F, [1])],
    });
    expect(() => importOnnx(withIndices, { params: ["i"] })).toThrow(/'i', which is not a float initializer/);
    // 'w' is also a graph input (an overridable initializer): a param even when the predicate says no
    expect(Object.keys(importOnnx(withIndices, { params: () => false }).graph.params)).toEqual(["w"]);
  });

  it("integer graph inputs become float inputs holding the integers (token ids into Gather)", () => {
    const bytes = buildModel({
      inputs: {},
      inputInfos: [tensorValueInfo("ids", I64, [N, 2])],
      outputs: ["e"],
      initializers: [floats("emb", [4, 3], [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32])],
      nodes: [node("Gather", ["emb", "ids"], ["e"])],
    });
    const m = importOnnx(bytes);
    const ids = new Tensor([1, 2], Float32Array.from([3, 1]));
    expect(Array.from(evaluate(m.graph, { ids }, { params: m.params }).e!.data)).toEqual([
      30, 31, 32, 10, 11, 12,
    ]);
  });

  it("Reshape's allowzero (opset 14+): a 0 is a zero-length dim, not a copy", () => {
    const model = (allowzero: number) =>
      buildModel({
        inputs: { x: [0, 3] },
        outputs: ["y"],
        initializers: [int64s("shape", [3, 0])],
        nodes: [node("Reshape", ["x", "shape"], ["y"], { allowzero }, { name: "r" })],
      });
    const m = importOnnx(model(1));
    expect(m.graph.nodes[m.graph.outputs.y!]!.shape).toEqual([3, 0]);
    expect(evaluate(m.graph, { x: Tensor.zeros([0, 3]) }).y!.shape).toEqual([3, 0]);
    // without allowzero the 0 copies the input's dim 1 (3): 9 elements from 0
    expect(() => importOnnx(model(0))).toThrow(/node 'r' \(Reshape\): .*cannot reshape \[0,3\] into \[3,3\]/);
  });

  it("options.dtype and options.inputShapes", () => {
    const noShape = tensorValueInfo("x", F, null);
    const bytes = buildModel({
      inputs: {},
      inputInfos: [noShape],
      outputs: ["y"],
      initializers: [floats("w", [2, 2], [1, 2, 3, 4])],
      nodes: [node("MatMul", ["x", "w"], ["y"])],
    });
    expect(() => importOnnx(bytes)).toThrow(
      /graph input 'x' has no shape \(rank unknown\); give it in options\.inputShapes/,
    );
    const m = importOnnx(bytes, { dtype: "float64", inputShapes: { x: ["B", 2] } });
    expect(m.graph.nodes[m.graph.inputs.x!]!.shape).toEqual(["B", 2]);
    expect(m.params.get("w").dtype).toBe("float64");
    const y = evaluate(m.graph, { x: new Tensor([1, 2], Float64Array.from([1, 1])) }, { params: m.params })
      .y!;
    expect(Array.from(y.data)).toEqual([4, 6]);
  });
});
