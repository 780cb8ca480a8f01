/**
 * Every op's kernel against the naive reference evaluator in ./helpers/reference.ts, in float64 and
 * float32, through the real path: GraphBuilder -> compile -> run.
 */
import {
  compile,
  customGradient,
  DTYPES,
  type DType,
  type GraphBuilder,
  OP_NAMES,
  OPS,
  type OpName,
  ParamStore,
  type Shape,
  Tensor,
  type Value,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { mismatch, REFERENCE, referenceRun, TOL } from "./helpers/reference.js";
import { buildGraph, intTensor, Rng, randTensor, seedOf } from "./helpers/util.js";

interface OpCase {
  readonly name: string;
  readonly feeds: Record<string, Tensor<"float64">>;
  /** Declared input shapes where they differ from the fed shapes (symbolic dims). */
  readonly decl?: Record<string, Shape>;
  readonly params?: Record<string, Tensor<"float64">>;
  readonly build: (g: GraphBuilder, v: Record<string, Value>) => Value | Record<string, Value>;
}

const CASES: OpCase[] = [];
const add = (c: OpCase) => CASES.push(c);
const rngFor = (name: string) => new Rng(seedOf(name));
const shapeStr = (s: readonly number[]) => `[${s.join(",")}]`;

// ---- sources ------------------------------------------------------------------------------
add({ name: "input passthrough", feeds: { x: randTensor(rngFor("in"), [2, 3]) }, build: (_g, v) => v.x! });
add({
  name: "param: x @ W + b",
  feeds: { x: randTensor(rngFor("p1"), [4, 3]) },
  params: { W: randTensor(rngFor("p2"), [3, 2]), b: randTensor(rngFor("p3"), [2]) },
  build: (_g, v) => v.x!.matmul(v.W!).add(v.b!),
});
add({
  name: "constant alone",
  feeds: {},
  build: (g) =>
    g.constant([
      [1, 2.5],
      [-3, 4],
    ]),
});
add({
  name: "constant + input",
  feeds: { x: randTensor(rngFor("c1"), [2, 2]) },
  build: (g, v) =>
    g
      .constant([
        [1, 2],
        [3, 4],
      ])
      .add(v.x!),
});
add({ name: "fill alone", feeds: {}, build: (g) => g.fill(0.5, [2, 3]) });
add({
  name: "fill with symbolic shape",
  feeds: { x: randTensor(rngFor("f1"), [4, 3]) },
  decl: { x: ["N", 3] },
  build: (g, v) => g.fill(2.5, ["N", 3]).mul(v.x!),
});
add({ name: "scalar constant", feeds: {}, build: (g) => g.scalar(3) });

// ---- unary elementwise --------------------------------------------------------------------
const UNARY: [OpName, number, number][] = [
  ["neg", -3, 3],
  ["exp", -3, 3],
  ["log", 0.05, 5],
  ["tanh", -3, 3],
  ["sigmoid", -6, 6],
  ["relu", -2, 2],
  ["square", -3, 3],
  ["sqrt", 0, 5],
  ["abs", -3, 3],
  ["sign", -2, 2],
  ["stopGradient", -2, 2],
  ["softplus", -6, 6],
  ["log1p", -0.9, 5],
  ["expm1", -3, 3],
  ["silu", -6, 6],
  ["erf", -4, 4],
  ["gelu", -5, 5],
  ["geluTanh", -5, 5],
];
for (const [op, lo, hi] of UNARY) {
  for (const shape of [[2, 3, 4], [], [5]]) {
    const name = `${op} ${shapeStr(shape)}`;
    const x = randTensor(rngFor(name), shape, lo, hi);
    if (x.size > 1 && lo <= 0) x.data[1] = 0; // exact zero: relu/sign/abs edge
    add({ name, feeds: { x }, build: (g, v) => g.op(op, [v.x!]) });
  }
}

// ---- binary elementwise with broadcasting -------------------------------------------------
type Gen = (rng: Rng, shape: readonly number[]) => Tensor<"float64">;
const anyReal: Gen = (rng, s) => randTensor(rng, s, -3, 3);
const awayFromZero: Gen = (rng, s) => {
  const t = randTensor(rng, s, 0.5, 2);
  for (let i = 0; i < t.size; i++) if (rng.next() < 0.5) t.data[i] = -t.data[i]!;
  return t;
};
const positive: Gen = (rng, s) => randTensor(rng, s, 0.5, 2);
const smallInts: Gen = (rng, s) => intTensor(rng, s, -2, 2);
const BINARY: [OpName, Gen, Gen][] = [
  ["add", anyReal, anyReal],
  ["sub", anyReal, anyReal],
  ["mul", anyReal, anyReal],
  ["div", anyReal, awayFromZero],
  ["pow", positive, anyReal],
  ["maximum", smallInts, anyReal],
  ["minimum", smallInts, anyReal],
  ["greater", smallInts, smallInts],
  ["greaterEqual", smallInts, smallInts],
  ["less", smallInts, smallInts],
  ["lessEqual", smallInts, smallInts],
  ["equal", smallInts, smallInts],
];
/** Broadcasting pairs: same shape, scalar, bias row, column, general, outer product, mixed modes. */
const PAIRS: [number[], number[]][] = [
  [
    [2, 3],
    [2, 3],
  ],
  [[2, 3], []],
  [[], [2, 3]],
  [[2, 3], [3]],
  [[3], [2, 3]],
  [
    [2, 3],
    [2, 1],
  ],
  [
    [2, 1],
    [2, 3],
  ],
  [
    [2, 1, 4],
    [3, 1],
  ],
  [
    [1, 3],
    [2, 1],
  ],
  [
    [3, 4],
    [2, 3, 1],
  ],
  [
    [2, 3],
    [1, 1],
  ],
  [[], []],
];
for (const [op, ga, gb] of BINARY) {
  for (const [sa, sb] of PAIRS) {
    const name = `${op} ${shapeStr(sa)} ${shapeStr(sb)}`;
    const rng = rngFor(name);
    add({ name, feeds: { a: ga(rng, sa), b: gb(rng, sb) }, build: (g, v) => g.op(op, [v.a!, v.b!]) });
  }
}
add({
  name: "add with a number operand",
  feeds: { x: randTensor(rngFor("num"), [2, 3]) },
  build: (_g, v) => v.x!.add(1.5).mul(-2).sub(0.25).div(4),
});

// ---- where ---------------------------------------------------------------------------------
for (const [sc, sa, sb] of [
  [
    [2, 3],
    [2, 3],
    [2, 3],
  ],
  [[2, 1], [3], []],
  [[], [2, 3], [2, 3]],
  [[2, 3], [2, 1, 1], [3]],
] as number[][][]) {
  const name = `where ${shapeStr(sc!)} ${shapeStr(sa!)} ${shapeStr(sb!)}`;
  const rng = rngFor(name);
  const c = intTensor(rng, sc!, -1, 1);
  if (c.size > 1) {
    c.data[0] = 0.5; // non-zero, non-integer: true
    c.data[1] = 0;
  }
  add({
    name,
    feeds: { c, a: anyReal(rng, sa!), b: anyReal(rng, sb!) },
    build: (g, v) => g.where(v.c!, v.a!, v.b!),
  });
}

// ---- matmul ---------------------------------------------------------------------------------
for (const transA of [false, true]) {
  for (const transB of [false, true]) {
    const flags = `${transA ? "A^T" : "A"} ${transB ? "B^T" : "B"}`;
    for (const [M, K, N] of [
      [3, 4, 5],
      [2, 7, 3],
      [1, 1, 1],
      [4, 5, 1],
      [1, 6, 4],
    ] as [number, number, number][]) {
      const name = `matmul ${flags} M${M} K${K} N${N}`;
      const rng = rngFor(name);
      const a = randTensor(rng, transA ? [K, M] : [M, K]);
      const b = randTensor(rng, transB ? [N, K] : [K, N]);
      add({ name, feeds: { a, b }, build: (_g, v) => v.a!.matmul(v.b!, { transA, transB }) });
    }
    for (const [ba, bb] of [
      [[2], [2]],
      [[2], []],
      [[], [2]],
      [[2, 1], [3]],
      [
        [1, 3],
        [2, 1],
      ],
    ] as number[][][]) {
      const [M, K, N] = [3, 5, 2];
      const name = `matmul batched ${flags} ${shapeStr(ba!)} x ${shapeStr(bb!)}`;
      const rng = rngFor(name);
      const a = randTensor(rng, [...ba!, ...(transA ? [K, M] : [M, K])]);
      const b = randTensor(rng, [...bb!, ...(transB ? [N, K] : [K, N])]);
      add({ name, feeds: { a, b }, build: (_g, v) => v.a!.matmul(v.b!, { transA, transB }) });
    }
  }
}

// ---- transpose ------------------------------------------------------------------------------
for (const [shape, perm] of [
  [[2, 3], undefined],
  [
    [2, 3],
    [1, 0],
  ],
  [
    [2, 3],
    [0, 1],
  ],
  [[2, 3, 4], undefined],
  [
    [2, 3, 4],
    [1, 0, 2],
  ],
  [
    [2, 3, 4],
    [2, 0, 1],
  ],
  [
    [2, 3, 4],
    [0, 2, 1],
  ],
  [
    [2, 3, 4, 5],
    [3, 1, 0, 2],
  ],
  [[5], undefined],
  [[], undefined],
] as [number[], number[] | undefined][]) {
  const name = `transpose ${shapeStr(shape)} perm ${perm ? shapeStr(perm) : "default"}`;
  add({ name, feeds: { x: randTensor(rngFor(name), shape) }, build: (_g, v) => v.x!.transpose(perm) });
}

// ---- reshape --------------------------------------------------------------------------------
for (const [from, to] of [
  [
    [2, 3, 4],
    [-1, 4],
  ],
  [
    [2, 3, 4],
    [6, -1],
  ],
  [[2, 3, 4], [24]],
  [
    [2, 3, 4],
    [4, 3, 2],
  ],
  [[1], []],
  [[], [1, 1]],
] as number[][][]) {
  const name = `reshape ${shapeStr(from!)} -> ${shapeStr(to!)}`;
  add({ name, feeds: { x: randTensor(rngFor(name), from!) }, build: (_g, v) => v.x!.reshape(to!) });
}
add({
  name: "reshape then compute (alias feeding a kernel)",
  feeds: { x: randTensor(rngFor("rs"), [2, 6]) },
  build: (_g, v) => v.x!.exp().reshape([3, 4]).mul(2).reshape([-1]).sum(),
});
add({
  name: "reshape with symbolic dim",
  feeds: { x: randTensor(rngFor("rsN"), [3, 6]) },
  decl: { x: ["N", 6] },
  build: (_g, v) => v.x!.reshape(["N", 2, 3]).sum([1]),
});

// ---- broadcastTo ----------------------------------------------------------------------------
for (const [from, to] of [
  [[3], [2, 3]],
  [
    [2, 1],
    [2, 3],
  ],
  [[], [2, 2]],
  [
    [3, 1],
    [2, 3, 4],
  ],
  [
    [1, 4],
    [3, 1, 4],
  ],
  [
    [2, 3],
    [2, 3],
  ],
] as number[][][]) {
  const name = `broadcastTo ${shapeStr(from!)} -> ${shapeStr(to!)}`;
  add({ name, feeds: { x: randTensor(rngFor(name), from!) }, build: (_g, v) => v.x!.broadcastTo(to!) });
}
add({
  name: "broadcastTo symbolic",
  feeds: { x: randTensor(rngFor("bN"), [4, 1]) },
  decl: { x: ["N", 1] },
  build: (_g, v) => v.x!.broadcastTo(["N", 3]),
});

// ---- concat ---------------------------------------------------------------------------------
for (const [shapes, axis] of [
  [
    [
      [2, 3],
      [2, 2],
    ],
    1,
  ],
  [
    [
      [2, 3],
      [1, 3],
      [3, 3],
    ],
    0,
  ],
  [
    [
      [2, 3, 4],
      [1, 3, 4],
    ],
    0,
  ],
  [
    [
      [2, 3, 4],
      [2, 1, 4],
      [2, 2, 4],
    ],
    1,
  ],
  [
    [
      [2, 3, 4],
      [2, 3, 2],
    ],
    2,
  ],
  [
    [
      [2, 3, 4],
      [2, 3, 1],
    ],
    -1,
  ],
  [[[4]], 0],
  [[[2], [0], [3]], 0],
] as [number[][], number][]) {
  const name = `concat axis ${axis} ${shapes.map(shapeStr).join(" ")}`;
  const rng = rngFor(name);
  const feeds = Object.fromEntries(shapes.map((s, i) => [`x${i}`, randTensor(rng, s)]));
  add({
    name,
    feeds,
    build: (g, v) =>
      g.concat(
        shapes.map((_, i) => v[`x${i}`]!),
        axis,
      ),
  });
}

// ---- slice ----------------------------------------------------------------------------------
for (const [shape, begin, end] of [
  [
    [4, 5],
    [1, 2],
    [3, null],
  ],
  [[2, 3, 4], [1], [2]],
  [
    [2, 3, 4],
    [0, 1, 1],
    [2, 3, 3],
  ],
  [
    [4, 5],
    [0, 0],
    [4, 5],
  ],
  [
    [4, 5],
    [2, 0],
    [2, null],
  ],
  [[6], [3], [null]],
  [[], [], []],
] as [number[], number[], (number | null)[]][]) {
  const name = `slice ${shapeStr(shape)} ${JSON.stringify(begin)}:${JSON.stringify(end)}`;
  add({ name, feeds: { x: randTensor(rngFor(name), shape) }, build: (_g, v) => v.x!.slice(begin, end) });
}

// ---- pad ------------------------------------------------------------------------------------
for (const [shape, before, after] of [
  [
    [2, 3],
    [1, 0],
    [0, 2],
  ],
  [[2, 3, 4], [1], [2]],
  [
    [2, 3, 4],
    [0, 1, 2],
    [1, 0, 1],
  ],
  [[4], [0], [0]],
  [[], [], []],
] as [number[], number[], number[]][]) {
  const name = `pad ${shapeStr(shape)} ${JSON.stringify(before)} ${JSON.stringify(after)}`;
  add({ name, feeds: { x: randTensor(rngFor(name), shape) }, build: (g, v) => g.pad(v.x!, before, after) });
}

// ---- reductions -----------------------------------------------------------------------------
const AXES: (number[] | null)[] = [null, [0], [1], [2], [-1], [0, 1], [1, 2], [0, 2], [2, 0], [0, 1, 2], []];
const contiguous = (axes: number[] | null) => {
  if (axes === null) return true;
  const s = [...new Set(axes.map((a) => (a < 0 ? a + 3 : a)))].sort();
  return s.every((a, i) => i === 0 || a === s[i - 1]! + 1);
};
for (const op of ["sum", "mean", "max", "logSumExp"] as const) {
  for (const axes of AXES) {
    if (op === "logSumExp" && !contiguous(axes)) continue;
    for (const keepdims of [false, true]) {
      const name = `${op} [2,3,4] axes ${JSON.stringify(axes)} keepdims ${keepdims}`;
      add({
        name,
        feeds: { x: randTensor(rngFor(name), [2, 3, 4], -3, 3) },
        build: (g, v) => g.op(op, [v.x!], { axes, keepdims }),
      });
    }
  }
  add({
    name: `${op} [5] all`,
    feeds: { x: randTensor(rngFor(`${op}5`), [5]) },
    build: (g, v) => g.op(op, [v.x!], { axes: null, keepdims: false }),
  });
  add({
    name: `${op} [] scalar`,
    feeds: { x: randTensor(rngFor(`${op}s`), []) },
    build: (g, v) => g.op(op, [v.x!], { axes: null, keepdims: false }),
  });
}

// ---- softmax / logSoftmax -------------------------------------------------------------------
for (const op of ["softmax", "logSoftmax"] as const) {
  for (const [shape, axis] of [
    [[2, 3, 4], -1],
    [[2, 3, 4], 0],
    [[2, 3, 4], 1],
    [[5], 0],
    [[3, 1], 1],
  ] as [number[], number][]) {
    const name = `${op} ${shapeStr(shape)} axis ${axis}`;
    add({
      name,
      feeds: { x: randTensor(rngFor(name), shape, -4, 4) },
      build: (g, v) => g.op(op, [v.x!], { axis }),
    });
  }
}

// ---- convolution, pooling, randomUniform (more in conv.test.ts, pool.test.ts, random-op.test.ts) ----
for (const [xs, ws, opts] of [
  [[1, 1, 5, 4], [1, 1, 3, 3], {}],
  [[2, 4, 7, 6], [6, 2, 3, 2], { strides: [2, 1], padding: [1, 0, 2, 1], dilations: [1, 2], groups: 2 }],
  [[1, 3, 6, 5], [6, 1, 3, 3], { padding: "same", strides: 2, groups: 3 }],
  [[2, 3, 4, 5], [2, 3, 1, 1], { strides: [1, 2] }],
] as [number[], number[], Record<string, unknown>][]) {
  const name = `conv2d ${shapeStr(xs)} ${shapeStr(ws)} ${JSON.stringify(opts)}`;
  const rng = rngFor(name);
  add({
    name,
    feeds: { x: randTensor(rng, xs), w: randTensor(rng, ws) },
    build: (g, v) => g.conv2d(v.x!, v.w!, opts),
  });
  const dy = `conv2dTranspose and conv2dBackpropFilter of ${name}`;
  add({
    name: dy,
    feeds: { x: randTensor(rng, xs), w: randTensor(rng, ws) },
    build: (g, v) => {
      const y = g.conv2d(v.x!, v.w!, opts);
      const a = y.node.attrs as Record<string, unknown>;
      const back = g.op("conv2dTranspose", [y, v.w!], { ...a, outputSize: [xs[2]!, xs[3]!] });
      const dw = g.op("conv2dBackpropFilter", [v.x!, y], { ...a, kernelSize: [ws[2]!, ws[3]!] });
      return { back, dw };
    },
  });
}
add({
  name: "conv2dTranspose stride 2 with outputPadding",
  feeds: { x: randTensor(rngFor("convT"), [2, 4, 3, 2]), w: randTensor(rngFor("convTw"), [4, 3, 3, 3]) },
  build: (g, v) => g.conv2dTranspose(v.x!, v.w!, { strides: 2, padding: 1, outputPadding: [1, 0] }),
});
for (const [xs, k, opts] of [
  [[1, 1, 4, 4], 2, {}],
  [[2, 3, 7, 5], [3, 2], { strides: [2, 1], padding: [1, 2, 0, 1] }],
  [[1, 2, 5, 6], 3, { padding: "same", strides: 2 }],
] as [number[], number | [number, number], Record<string, unknown>][]) {
  const name = `pooling ${shapeStr(xs)} ${JSON.stringify(k)} ${JSON.stringify(opts)}`;
  const rng = rngFor(name);
  add({
    name,
    feeds: { x: randTensor(rng, xs), v: randTensor(rng, xs) },
    build: (g, v) => {
      const max = g.maxPool2d(v.x!, k, opts);
      const avg = g.avgPool2d(v.x!, k, opts);
      const a = max.node.attrs as Record<string, unknown>;
      return {
        max,
        avg,
        maxBack: g.op("maxPool2dBackprop", [v.x!, g.tanh(max)], a),
        gather: g.op("maxPool2dGather", [v.x!, v.v!], a),
        avgBack: g.op("avgPool2dBackprop", [g.tanh(avg)], { ...a, inputSize: [xs[2]!, xs[3]!] }),
      };
    },
  });
}
add({
  name: "randomUniform with a symbolic batch",
  feeds: { key: Tensor.from([17], { dtype: "float64" }), x: randTensor(rngFor("ru"), [3, 4]) },
  decl: { x: ["N", 4] },
  build: (g, v) => ({
    u: g.randomUniform(v.key!, ["N", 4], 5),
    y: v.x!.mul(g.randomUniform(v.key!, ["N", 4])),
  }),
});

// ---- issue 13: parametric activations, oneHot, argmax, gather, scatterAdd ----------------------
for (const shape of [[2, 3, 4], [], [5]]) {
  const name = shapeStr(shape);
  const x = randTensor(rngFor(`param-unary ${name}`), shape, -3, 3);
  if (x.size > 2) {
    x.data[1] = 0;
    x.data[2] = -1; // exactly on a clip bound
  }
  add({ name: `leakyRelu ${name}`, feeds: { x }, build: (g, v) => g.leakyRelu(v.x!) });
  add({ name: `leakyRelu slope 0.3 ${name}`, feeds: { x }, build: (g, v) => g.leakyRelu(v.x!, 0.3) });
  add({ name: `elu ${name}`, feeds: { x }, build: (g, v) => g.elu(v.x!) });
  add({ name: `elu alpha 1.7 ${name}`, feeds: { x }, build: (g, v) => g.elu(v.x!, 1.7) });
  add({ name: `clip [-1, 0.5] ${name}`, feeds: { x }, build: (g, v) => g.clip(v.x!, -1, 0.5) });
  add({
    name: `clip twice ${name}`,
    feeds: { x },
    build: (g, v) => g.clip(v.x!, -1, 0.5).add(g.clip(v.x!, 0, 2)),
  });
}
// tensor parameters with broadcasting (and lo > hi in some columns)
for (const [sx, sp] of PAIRS) {
  const name = `${shapeStr(sx)} with ${shapeStr(sp)}`;
  const rng = rngFor(`param-bcast ${name}`);
  const x = randTensor(rng, sx, -3, 3);
  const p = randTensor(rng, sp, -1, 1);
  const q = randTensor(rng, sp, -1, 1);
  add({ name: `leakyRelu ${name}`, feeds: { x, p }, build: (g, v) => g.leakyRelu(v.x!, v.p!) });
  add({ name: `elu ${name}`, feeds: { x, p }, build: (g, v) => g.elu(v.x!, v.p!) });
  add({ name: `clip ${name}`, feeds: { x, p, q }, build: (g, v) => g.clip(v.x!, v.p!, v.q!.add(0.5)) });
}
add({
  name: "oneHot with out-of-range and fractional indices",
  feeds: {
    i: Tensor.from([
      [0, 2, -1],
      [3, 1, 1.5],
    ]),
  },
  build: (g, v) => g.oneHot(v.i!, 3),
});
add({ name: "oneHot of a scalar", feeds: { i: Tensor.from(2) }, build: (g, v) => g.oneHot(v.i!, 4) });
add({
  name: "argmax with ties, every axis",
  feeds: { x: intTensor(rngFor("argmax"), [3, 4, 2], -1, 1) },
  build: (g, v) => ({
    a0: g.argmax(v.x!, 0),
    a1: g.argmax(v.x!, 1, true),
    a2: g.argmax(v.x!, -1),
  }),
});
for (const [xs, axis, is] of [
  [[5], 0, [3]],
  [[4, 3], 0, [2, 3]],
  [[4, 3], 1, [5]],
  [[2, 3, 4], 1, []],
  [[2, 3, 4], -1, [2, 2]],
] as [number[], number, number[]][]) {
  const name = `${shapeStr(xs)} axis ${axis} indices ${shapeStr(is)}`;
  const n = xs[axis < 0 ? axis + xs.length : axis]!;
  const idx = intTensor(rngFor(`gather ${name}`), is, 0, n - 1);
  if (idx.size > 1) idx.data[1] = idx.data[0]!; // a repeated index
  const x = randTensor(rngFor(`gather x ${name}`), xs);
  add({ name: `gather ${name}`, feeds: { x, i: idx }, build: (g, v) => g.gather(v.x!, v.i!, axis) });
  const a = axis < 0 ? axis + xs.length : axis;
  const us = [...xs.slice(0, a), ...is, ...xs.slice(a + 1)];
  const u = randTensor(rngFor(`scatter u ${name}`), us);
  add({
    name: `scatterAdd ${name}`,
    feeds: { u, i: idx },
    build: (g, v) => g.scatterAdd(v.i!, v.u!, axis, xs),
  });
}

// ---- layerNorm (gamma/beta as params) and layerNormBackward: every axis, a one-element axis, a symbolic batch
for (const [shape, axis, decl] of [
  [[2, 3, 4], -1],
  [[2, 3, 4], 0],
  [[2, 3, 4], 1],
  [[5], 0],
  [[3, 1], 1],
  [[4, 6], -1, ["N", 6]],
  [[4, 3, 2], -2, ["N", 3, 2]],
] as [number[], number, Shape?][]) {
  const name = `layerNorm ${shapeStr(shape)} axis ${axis}${decl ? " symbolic batch" : ""}`;
  const a = axis < 0 ? axis + shape.length : axis;
  const ps = [shape[a]!, ...shape.slice(a + 1).map(() => 1)];
  add({
    name,
    feeds: { x: randTensor(rngFor(name), shape, -3, 5) },
    ...(decl ? { decl: { x: decl } } : {}),
    params: { g: randTensor(rngFor(`${name} g`), ps), b: randTensor(rngFor(`${name} b`), ps) },
    build: (g, v) => g.layerNorm(v.x!, v.g!, v.b!, { axis, epsilon: a === 0 ? 0.25 : 1e-5 }),
  });
  add({
    name: `layerNormBackward ${shapeStr(shape)} axis ${axis}${decl ? " symbolic batch" : ""}`,
    feeds: { x: randTensor(rngFor(`${name} bx`), shape, -3, 5), d: randTensor(rngFor(`${name} d`), shape) },
    ...(decl ? { decl: { x: decl, d: decl } } : {}),
    build: (g, v) => g.op("layerNormBackward", [v.x!, v.d!], { axis, epsilon: a === 0 ? 0.25 : 1e-5 }),
  });
}

// ---- customGradient: the identity on the wrapped value (its kernel only runs when pinned) ----
for (const pinned of [false, true]) {
  const name = `customGradient ${pinned ? "as the output" : "inside"} [2,3]`;
  add({
    name,
    feeds: { x: randTensor(rngFor(name), [2, 3]), w: randTensor(rngFor(`${name}w`), [3]) },
    build: (g, v) => {
      const y = customGradient(
        g,
        [v.x!, v.w!],
        (b, x, w) => b.mul(b.tanh(x), w),
        ({ g: ct }) => [ct, ct],
      );
      return pinned ? y : y.square();
    },
  });
}

// ---- running ---------------------------------------------------------------------------------

function runCase(c: OpCase, dtype: DType) {
  const graph = buildGraph((g) => {
    const v: Record<string, Value> = {};
    for (const [k, t] of Object.entries(c.feeds)) v[k] = g.input(k, c.decl?.[k] ?? t.shape);
    for (const [k, t] of Object.entries(c.params ?? {})) v[k] = g.param(k, t.shape);
    const out = c.build(g, v);
    if (typeof (out as Value).id === "number") g.output("out", out as Value);
    else for (const [k, o] of Object.entries(out)) g.output(k, o);
  }, dtype);
  const feeds = Object.fromEntries(Object.entries(c.feeds).map(([k, t]) => [k, t.astype(dtype)]));
  const params = new ParamStore(Object.entries(c.params ?? {}).map(([k, t]) => [k, t.astype(dtype)]));
  return { graph, feeds, params };
}

describe.each(DTYPES)("kernels match the reference (%s)", (dtype) => {
  test.each(CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const { graph, feeds, params } = runCase(c, dtype);
    const exe = compile(graph, { params });
    const expected = referenceRun(graph, feeds, params);
    // run twice: buffers are reused between runs and must not leak state
    for (let rep = 0; rep < 2; rep++) {
      const out = exe.run(feeds);
      for (const [k, ref] of Object.entries(expected)) {
        const t = out[k]!;
        expect(t.dtype).toBe(dtype);
        const err = mismatch(t, ref, TOL[dtype]);
        expect(err, `${c.name} output ${k} (${dtype})`).toBeNull();
      }
    }
  });
});

describe("op table coverage", () => {
  test("OP_NAMES lists exactly the keys of OPS", () => {
    expect([...OP_NAMES].sort()).toEqual(Object.keys(OPS).sort());
    for (const name of OP_NAMES) expect(OPS[name].name).toBe(name);
  });

  test("every op has a reference implementation", () => {
    const missing = OP_NAMES.filter((op) => typeof (REFERENCE as Record<string, unknown>)[op] !== "function");
    expect(missing).toEqual([]);
    expect(Object.keys(REFERENCE).sort()).toEqual([...OP_NAMES].sort());
  });

  test("every op is exercised by at least one kernel case", () => {
    const used = new Set<string>();
    for (const c of CASES) for (const n of runCase(c, "float64").graph.nodes) used.add(n.op);
    expect(OP_NAMES.filter((op) => !used.has(op))).toEqual([]);
  });

  test("every op declares arity, kind, attrs and a shape rule; kernels exist unless source", () => {
    for (const name of OP_NAMES) {
      const def = OPS[name];
      expect(typeof def.shape, name).toBe("function");
      expect(typeof def.attrs, name).toBe("function");
      if (def.kind === "source") expect(def.kernel, name).toBeNull();
      else expect(typeof def.kernel, name).toBe("function");
    }
  });
});

// ---- numerically hard inputs ----------------------------------------------------------------

function run1(dtype: DType, values: number[][], build: (g: GraphBuilder, x: Value) => Value): number[] {
  const x = Tensor.from(values, { dtype });
  const graph = buildGraph((g) => {
    g.output("y", build(g, g.input("x", x.shape)));
  }, dtype);
  return compile(graph).run({ x }).y!.toArray();
}

describe.each(DTYPES)("stability with large inputs (%s)", (dtype) => {
  const rtol = dtype === "float32" ? 1e-6 : 1e-13;
  const close = (got: number[], want: number[]) => {
    expect(got.every(Number.isFinite)).toBe(true);
    for (let i = 0; i < want.length; i++) {
      expect(Math.abs(got[i]! - want[i]!), `element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(
        rtol * Math.max(1, Math.abs(want[i]!)),
      );
    }
  };
  const e = [1, Math.E, Math.E ** 2];
  const sm = e.map((v) => v / (e[0]! + e[1]! + e[2]!));

  test("softmax shifts by the max", () => {
    close(
      run1(dtype, [[1000, 1001, 1002]], (g, x) => g.softmax(x)),
      sm,
    );
    close(
      run1(dtype, [[-1000, -999, -998]], (g, x) => g.softmax(x)),
      sm,
    );
    close(
      run1(dtype, [[-1000], [-1000]], (g, x) => g.softmax(x, 0)),
      [0.5, 0.5],
    );
  });

  test("logSoftmax shifts by the max", () => {
    close(
      run1(dtype, [[1000, 1000]], (g, x) => g.logSoftmax(x)),
      [-Math.LN2, -Math.LN2],
    );
    close(
      run1(dtype, [[1000, 1001, 1002]], (g, x) => g.logSoftmax(x)),
      sm.map(Math.log),
    );
  });

  test("logSumExp shifts by the max", () => {
    close(
      run1(dtype, [[1000, 1000]], (g, x) => g.logSumExp(x)),
      [1000 + Math.LN2],
    );
    close(
      run1(
        dtype,
        [
          [-1000, -1000],
          [1000, 999],
        ],
        (g, x) => g.logSumExp(x, 1, true),
      ),
      [-1000 + Math.LN2, 1000 + Math.log1p(Math.exp(-1))],
    );
    close(
      run1(
        dtype,
        [
          [-1000, 1000],
          [-1000, 1000],
        ],
        (g, x) => g.logSumExp(x, 0),
      ),
      [-1000 + Math.LN2, 1000 + Math.LN2],
    );
  });

  test("sigmoid saturates without NaN", () => {
    expect(run1(dtype, [[-1000, 0, 1000]], (g, x) => g.sigmoid(x))).toEqual([0, 0.5, 1]);
  });

  test("max and logSumExp propagate -Infinity and NaN like numpy", () => {
    expect(run1(dtype, [[-Infinity, -Infinity]], (g, x) => g.max(x))).toEqual([-Infinity]);
    expect(run1(dtype, [[-Infinity, -Infinity]], (g, x) => g.logSumExp(x))).toEqual([-Infinity]);
    expect(run1(dtype, [[1, Number.NaN, 3]], (g, x) => g.max(x))[0]).toBeNaN();
    const m = run1(
      dtype,
      [
        [1, Number.NaN],
        [2, 3],
      ],
      (g, x) => g.max(x, 0),
    );
    expect(m[0]).toBe(2);
    expect(m[1]).toBeNaN();
    const nonContiguous = run1(
      dtype,
      [
        [1, Number.NaN],
        [2, 3],
      ],
      (g, x) => g.max(x.reshape([2, 1, 2]), [0, 2]),
    );
    expect(nonContiguous[0]).toBeNaN();
  });
});
