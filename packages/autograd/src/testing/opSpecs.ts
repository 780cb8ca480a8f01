/**
 * The op test-spec table: for every op of core's table, how to generate valid arguments and
 * attributes inside the op's smooth domain, and how its gradient is checked. The table is typed
 * exhaustively over `OpName`, so an op without a test spec fails type checking.
 * @module
 */
import {
  type AttrsOf,
  customGradient,
  type GraphBuilder,
  type OpName,
  type Pool2dAttrs,
  sizeOf,
  Tensor,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import {
  axesArb,
  axisArb,
  broadcastableToArb,
  broadcastPairArb,
  broadcastShapesArb,
  type ConvProblem,
  convProblemArb,
  distinctTensorArb,
  gridTensorArb,
  indexTensorArb,
  type PoolProblem,
  permutationArb,
  poolProblemArb,
  shapeArb,
  type TensorConstraints,
  tensorArb,
  valueArb,
} from "./arbitraries.js";

/** One argument of an op under test. */
export interface OpArg {
  /** Its value (float64). */
  readonly value: Tensor;
  /**
   * How its gradient is checked: `"fd"` against central finite differences; `"zero"`: the
   * gradient must be exactly zero (comparisons, `sign`, `stopGradient`, `where`'s condition).
   */
  readonly grad: "fd" | "zero";
  /** Bind it as a graph input (default) or as a param. */
  readonly source?: "input" | "param";
}

/** A generated test case of an op whose attributes are `A`: its arguments and attributes. */
export interface OpTestCase<A> {
  /** Arguments, in the op's input order. */
  readonly args: readonly OpArg[];
  /** Attributes passed to the builder. */
  readonly attrs: Partial<A>;
}

/**
 * How to test an op whose attributes are `A` (a built-in op's {@link OpSpec}, or the spec you give
 * `checkOpGradients` for a user op).
 */
export interface OpTestSpec<A> {
  /** Valid cases inside the op's smooth domain. */
  readonly cases: fc.Arbitrary<OpTestCase<A>>;
  /**
   * Emits the node under test from the arguments' source nodes (default:
   * `b.op(name, xs, attrs)`). Source ops use it to wrap themselves in something differentiable.
   */
  readonly build?: (b: GraphBuilder, xs: readonly Value[], attrs: Partial<A>) => Value;
}

/** A generated test case of built-in op `K`. */
export type OpCase<K extends OpName = OpName> = OpTestCase<AttrsOf<K>>;

/** How to test built-in op `K`. */
export type OpSpec<K extends OpName> = OpTestSpec<AttrsOf<K>>;

/** The op test-spec table type: one entry per op, checked exhaustively by the compiler. */
export type OpSpecTable = { readonly [K in OpName]: OpSpec<K> };

const fd = (value: Tensor): OpArg => ({ value, grad: "fd" });
const unary = <K extends OpName>(c: TensorConstraints, grad: OpArg["grad"] = "fd"): OpSpec<K> =>
  unaryOpSpec<AttrsOf<K>>(c, grad);
const binary = <K extends OpName>(
  ca: TensorConstraints,
  cb: TensorConstraints,
  grads: readonly [OpArg["grad"], OpArg["grad"]] = ["fd", "fd"],
): OpSpec<K> => binaryOpSpec<AttrsOf<K>>(ca, cb, grads);
const zero = (value: Tensor): OpArg => ({ value, grad: "zero" });

/**
 * Test cases for a unary elementwise op (built-in or user-defined): any shape, values as `c`
 * says (e.g. `{ min: 0.2, max: 4 }` for a log-like domain, `{ avoid: [0] }` away from a kink).
 */
export function unaryOpSpec<A = Record<string, never>>(
  c: TensorConstraints = {},
  grad: OpArg["grad"] = "fd",
): OpTestSpec<A> {
  return {
    cases: shapeArb()
      .chain((s) => tensorArb(s, c))
      .map((t) => ({ args: [{ value: t, grad }], attrs: {} })),
  };
}

/**
 * Test cases for a binary elementwise op (built-in or user-defined) on broadcast-compatible
 * shapes, the two arguments' values as `ca` and `cb` say.
 */
export function binaryOpSpec<A = Record<string, never>>(
  ca: TensorConstraints = {},
  cb: TensorConstraints = {},
  grads: readonly [OpArg["grad"], OpArg["grad"]] = ["fd", "fd"],
): OpTestSpec<A> {
  return {
    cases: broadcastPairArb()
      .chain(([sa, sb]) => fc.tuple(tensorArb(sa, ca), tensorArb(sb, cb)))
      .map(([a, b]) => ({
        args: [
          { value: a, grad: grads[0] },
          { value: b, grad: grads[1] },
        ],
        attrs: {},
      })),
  };
}

/**
 * maximum/minimum: `a` on the grid k/2 and `b` on the grid k/2 + 1/4, so no pair ties even
 * after broadcasting and both sides of the kink are exercised.
 */
function kinkedBinary<K extends OpName>(): OpSpec<K> {
  return {
    cases: broadcastPairArb()
      .chain(([sa, sb]) => fc.tuple(gridTensorArb(sa), gridTensorArb(sb, { offset: 0.25 })))
      .map(([a, b]) => ({ args: [fd(a), fd(b)], attrs: {} })),
  };
}

/** Comparisons: small integer grids (ties included); the gradient must be exactly zero. */
function comparison<K extends OpName>(): OpSpec<K> {
  return {
    cases: broadcastPairArb()
      .chain(([sa, sb]) => fc.tuple(gridTensorArb(sa, { step: 1 }), gridTensorArb(sb, { step: 1 })))
      .map(([a, b]) => ({ args: [zero(a), zero(b)], attrs: {} })),
  };
}

/** sum and mean: any axes, keepdims or not. */
function reduction(): OpSpec<"sum" | "mean"> {
  return {
    cases: shapeArb()
      .chain((s) => fc.tuple(tensorArb(s), axesArb(s.length), fc.boolean()))
      .map(([t, axes, keepdims]) => ({ args: [fd(t)], attrs: { axes, keepdims } })),
  };
}

function softmaxLike(): OpSpec<"softmax" | "logSoftmax"> {
  return {
    cases: shapeArb({ minRank: 1 })
      .chain((s) => fc.tuple(tensorArb(s, { min: -3, max: 3 }), axisArb(s.length)))
      .map(([t, axis]) => ({ args: [fd(t)], attrs: { axis } })),
  };
}

const matmulCases = fc
  .record({
    transA: fc.boolean(),
    transB: fc.boolean(),
    batch: broadcastPairArb({ maxRank: 2, maxDim: 2 }),
    M: fc.integer({ min: 1, max: 3 }),
    K: fc.integer({ min: 1, max: 3 }),
    N: fc.integer({ min: 1, max: 3 }),
  })
  .chain(({ transA, transB, batch, M, K, N }) => {
    const sa = [...batch[0], ...(transA ? [K, M] : [M, K])];
    const sb = [...batch[1], ...(transB ? [N, K] : [K, N])];
    return fc
      .tuple(tensorArb(sa), tensorArb(sb))
      .map(([a, b]) => ({ args: [fd(a), fd(b)], attrs: { transA, transB } }));
  });

function primeFactors(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; n > 1; p++) {
    while (n % p === 0) {
      out.push(p);
      n /= p;
    }
  }
  return out;
}

/** A reshape target of the same size: the prime factors spread over 0-3 axes, ones sprinkled in, maybe one -1. */
const reshapeCases = shapeArb().chain((s) => {
  const factors = primeFactors(s.reduce((p, d) => p * d, 1));
  return fc
    .record({
      x: tensorArb(s),
      rank: fc.integer({ min: factors.length ? 1 : 0, max: 3 }),
      bins: fc.array(fc.nat(), { minLength: factors.length, maxLength: factors.length }),
      infer: fc.option(fc.nat(), { nil: null }),
    })
    .map(({ x, rank, bins, infer }) => {
      const target: number[] = new Array<number>(rank).fill(1);
      factors.forEach((f, i) => {
        target[bins[i]! % rank] = target[bins[i]! % rank]! * f;
      });
      if (infer !== null && rank > 0) target[infer % rank] = -1;
      return { args: [fd(x)], attrs: { shape: target } };
    });
});

const broadcastToCases = shapeArb().chain((out) =>
  broadcastableToArb(out)
    .chain((s) => tensorArb(s))
    .map((x) => ({ args: [fd(x)], attrs: { shape: out } })),
);

const concatCases = shapeArb({ minRank: 1 }).chain((base) =>
  fc
    .record({
      axis: axisArb(base.length),
      widths: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
    })
    .chain(({ axis, widths }) => {
      const a = axis < 0 ? axis + base.length : axis;
      const shapes = widths.map((w) => base.map((d, i) => (i === a ? w : d)));
      return fc
        .tuple(...shapes.map((s) => tensorArb(s)))
        .map((ts) => ({ args: ts.map(fd), attrs: { axis } }));
    }),
);

/** Per axis `[begin, end)` with `end` possibly `null`; the lists may be shorter than the rank. */
const sliceCases = shapeArb().chain((s) =>
  fc
    .record({
      x: tensorArb(s),
      ranges: fc.tuple(
        ...s.map((d) =>
          fc
            .tuple(fc.integer({ min: 0, max: d - 1 }), fc.integer({ min: 1, max: d }), fc.boolean())
            .map(([p, q, open]) => {
              const begin = Math.min(p, q - 1);
              return { begin, end: open && q === d ? null : Math.max(q, begin + 1) };
            }),
        ),
      ),
      keep: fc.integer({ min: 0, max: s.length }),
    })
    .map(({ x, ranges, keep }) => ({
      args: [fd(x)],
      attrs: {
        begin: ranges.slice(0, keep).map((r) => r.begin),
        end: ranges.slice(0, keep).map((r) => r.end),
      },
    })),
);

const padCases = shapeArb().chain((s) =>
  fc
    .record({
      x: tensorArb(s),
      before: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: s.length }),
      after: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: s.length }),
    })
    .map(({ x, before, after }) => ({ args: [fd(x)], attrs: { before, after } })),
);

/** Contiguous axes only: the logSumExp kernel rejects non-contiguous ones. */
const logSumExpCases = shapeArb().chain((s) => {
  const rank = s.length;
  const axes: fc.Arbitrary<number[] | null> =
    rank === 0
      ? fc.constant(null)
      : fc.option(
          fc
            .tuple(fc.integer({ min: 0, max: rank - 1 }), fc.integer({ min: 0, max: rank - 1 }))
            .map(([p, q]) => Array.from({ length: Math.abs(p - q) + 1 }, (_, i) => Math.min(p, q) + i)),
          { nil: null },
        );
  return fc
    .tuple(tensorArb(s, { min: -3, max: 3 }), axes, fc.boolean())
    .map(([x, ax, keepdims]) => ({ args: [fd(x)], attrs: { axes: ax, keepdims } }));
});

const maxCases = shapeArb()
  .chain((s) => fc.tuple(tensorArb(s, { distinct: true }), axesArb(s.length), fc.boolean()))
  .map(([x, axes, keepdims]) => ({ args: [fd(x)], attrs: { axes, keepdims } }));

const transposeCases = shapeArb({ maxRank: 4 }).chain((s) =>
  fc
    .tuple(tensorArb(s), fc.option(permutationArb(s.length), { nil: null }))
    .map(([x, perm]) => ({ args: [fd(x)], attrs: { perm } })),
);

const whereCases = broadcastShapesArb(3)
  .chain(([sc, sa, sb]) =>
    fc.tuple(
      fc
        .array(fc.constantFrom(0, 1, -2.5), { minLength: sizeOf(sc!), maxLength: sizeOf(sc!) })
        .map((v) => Tensor.from(v, { shape: sc!, dtype: "float64" })),
      tensorArb(sa!),
      tensorArb(sb!),
    ),
  )
  .map(([c, a, b]) => ({ args: [zero(c), fd(a), fd(b)], attrs: {} }));

/** A convolution problem's attributes (`strides`, `padding`, `dilations`, `groups`). */
function convAttrsOf(p: ConvProblem) {
  return { strides: p.strides, padding: p.padding, dilations: p.dilations, groups: p.groups };
}

/** conv2d: `x` an input, the weights a param (as in a network); both checked by finite differences. */
const conv2dCases: fc.Arbitrary<OpCase<"conv2d">> = convProblemArb().chain((p) =>
  fc
    .tuple(tensorArb(p.x), tensorArb(p.w))
    .map(([x, w]) => ({ args: [fd(x), { value: w, grad: "fd", source: "param" }], attrs: convAttrsOf(p) })),
);

/** conv2dTranspose: the output cotangent `dy` and the weights; `outputSize` is the convolution's input size. */
const conv2dTransposeCases: fc.Arbitrary<OpCase<"conv2dTranspose">> = convProblemArb().chain((p) =>
  fc.tuple(tensorArb(p.y), tensorArb(p.w)).map(([dy, w]) => ({
    args: [fd(dy), fd(w)],
    attrs: { ...convAttrsOf(p), outputSize: [p.x[2], p.x[3]] as const },
  })),
);

/** conv2dBackpropFilter: the convolution's input and output cotangent; `kernelSize` from the weights. */
const conv2dBackpropFilterCases: fc.Arbitrary<OpCase<"conv2dBackpropFilter">> = convProblemArb().chain((p) =>
  fc.tuple(tensorArb(p.x), tensorArb(p.y)).map(([x, dy]) => ({
    args: [fd(x), fd(dy)],
    attrs: { ...convAttrsOf(p), kernelSize: [p.w[2], p.w[3]] as const },
  })),
);

/** A pooling problem's attributes; strides left to their default (the window) when they equal it. */
function poolAttrsOf(p: PoolProblem): Partial<Pool2dAttrs> {
  const dflt = p.strides[0] === p.kernelSize[0] && p.strides[1] === p.kernelSize[1];
  return dflt
    ? { kernelSize: p.kernelSize, padding: p.padding }
    : { kernelSize: p.kernelSize, strides: p.strides, padding: p.padding };
}

/** maxPool2d on distinct values (no ties, so the arg-max is stable under finite differences). */
const maxPool2dCases: fc.Arbitrary<OpCase<"maxPool2d">> = poolProblemArb().chain((p) =>
  distinctTensorArb(p.x).map((x) => ({ args: [fd(x)], attrs: poolAttrsOf(p) })),
);

/** maxPool2dBackprop `(x, g)` and maxPool2dGather `(x, v)`: `x` only picks the arg-max, so its gradient is zero. */
function maxPoolRouted(routed: (p: PoolProblem) => readonly number[]): fc.Arbitrary<OpTestCase<Pool2dAttrs>> {
  return poolProblemArb().chain((p) =>
    fc
      .tuple(distinctTensorArb(p.x), tensorArb(routed(p)))
      .map(([x, v]) => ({ args: [zero(x), fd(v)], attrs: poolAttrsOf(p) })),
  );
}

const avgPool2dCases: fc.Arbitrary<OpCase<"avgPool2d">> = poolProblemArb().chain((p) =>
  tensorArb(p.x).map((x) => ({ args: [fd(x)], attrs: poolAttrsOf(p) })),
);

/** avgPool2dBackprop: the pooled cotangent; `inputSize` is the pooled image's size. */
const avgPool2dBackpropCases: fc.Arbitrary<OpCase<"avgPool2dBackprop">> = poolProblemArb().chain((p) =>
  tensorArb(p.y).map((g) => ({
    args: [fd(g)],
    attrs: { ...poolAttrsOf(p), inputSize: [p.x[2], p.x[3]] as const },
  })),
);

/**
 * randomUniform: a scalar integer key (gradient exactly zero) and a tensor `x` the random numbers
 * multiply (so the node sits in a differentiable graph), with any salt.
 */
const randomUniformCases: fc.Arbitrary<OpCase<"randomUniform">> = fc
  .record({
    shape: shapeArb(),
    keyShape: fc.constantFrom<number[][]>([], [1], [1, 1]),
    key: fc.integer({ min: -1000, max: 1000 }),
    salt: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  })
  .chain(({ shape, keyShape, key, salt }) =>
    tensorArb(shape).map((x) => ({
      args: [zero(Tensor.full(keyShape, key, "float64")), fd(x)],
      attrs: { shape, salt, dtype: "float64" as const },
    })),
  );

/** A source op's case: one argument of any shape that the source node is combined with. */
function sourceCases<K extends OpName>(source: OpArg["source"]): fc.Arbitrary<OpCase<K>> {
  return shapeArb()
    .chain((s) => tensorArb(s))
    .map((x) => ({ args: [{ value: x, grad: "fd", source }], attrs: {} }));
}

/**
 * clip: `x`, `lo` and `hi` on three interleaved grids of step 0.75 (offsets 0.25, 0 and 0.5), so
 * no two of them tie even after broadcasting; `lo > hi` happens and is checked too (all to `hi`).
 */
const clipCases = broadcastShapesArb(3)
  .chain(([sx, sl, sh]) =>
    fc.tuple(
      gridTensorArb(sx!, { step: 0.75, offset: 0.25, max: 2.5 }),
      gridTensorArb(sl!, { step: 0.75, offset: 0, max: 2.5 }),
      gridTensorArb(sh!, { step: 0.75, offset: 0.5, max: 2.5 }),
    ),
  )
  .map(([x, lo, hi]) => ({ args: [fd(x), fd(lo), fd(hi)], attrs: {} }));

/** oneHot: integer indices in `[-1, depth]` (out of range on both sides included); zero gradient. */
const oneHotCases = fc
  .tuple(shapeArb(), fc.integer({ min: 1, max: 4 }))
  .chain(([s, depth]) => indexTensorArb(s, -1, depth).map((t) => ({ args: [zero(t)], attrs: { depth } })));

/** argmax: distinct values (ties are tested with the kernels), any axis; zero gradient. */
const argmaxCases = shapeArb({ minRank: 1 })
  .chain((s) => fc.tuple(tensorArb(s, { distinct: true }), axisArb(s.length), fc.boolean()))
  .map(([x, axis, keepdims]) => ({ args: [zero(x)], attrs: { axis, keepdims } }));

/**
 * layerNorm: `x` with pairwise distinct values (spacing 0.25, so a row of two or more has a
 * variance bounded away from 0 and the derivatives stay moderate), `gamma` and `beta` of the
 * axis' size followed by ones, PyTorch's epsilon or a large one; all three by finite differences.
 */
const layerNormCases = shapeArb({ minRank: 1 }).chain((s) =>
  fc.tuple(axisArb(s.length), fc.constantFrom(1e-5, 0.5)).chain(([axis, epsilon]) => {
    const a = axis < 0 ? axis + s.length : axis;
    const ps = [s[a]!, ...s.slice(a + 1).map(() => 1)];
    return fc
      .tuple(tensorArb(s, { distinct: true }), tensorArb(ps), tensorArb(ps))
      .map(([x, gamma, beta]) => ({ args: [fd(x), fd(gamma), fd(beta)], attrs: { axis, epsilon } }));
  }),
);

/** layerNormBackward: `x` as for layerNorm, any cotangent `d` of its shape; both by finite differences. */
const layerNormBackwardCases = shapeArb({ minRank: 1 }).chain((s) =>
  fc
    .tuple(axisArb(s.length), fc.constantFrom(1e-5, 0.5), tensorArb(s, { distinct: true }), tensorArb(s))
    .map(([axis, epsilon, x, d]) => ({ args: [fd(x), fd(d)], attrs: { axis, epsilon } })),
);

/** gather: `x` checked by finite differences, indices (repeats included) with zero gradient. */
const gatherCases = shapeArb({ minRank: 1 }).chain((s) =>
  fc.tuple(tensorArb(s), axisArb(s.length), shapeArb({ maxRank: 2 })).chain(([x, axis, is]) => {
    const n = s[axis < 0 ? axis + s.length : axis]!;
    return indexTensorArb(is, 0, n - 1).map((idx) => ({ args: [fd(x), zero(idx)], attrs: { axis } }));
  }),
);

/** scatterAdd: indices (repeats included) with zero gradient, updates checked by finite differences. */
const scatterAddCases = shapeArb({ minRank: 1 }).chain((s) =>
  fc.tuple(axisArb(s.length), shapeArb({ maxRank: 2 })).chain(([axis, is]) => {
    const a = axis < 0 ? axis + s.length : axis;
    const us = [...s.slice(0, a), ...is, ...s.slice(a + 1)];
    return fc
      .tuple(indexTensorArb(is, 0, s[a]! - 1), tensorArb(us))
      .map(([idx, upd]) => ({ args: [zero(idx), fd(upd)], attrs: { axis, shape: s } }));
  }),
);

/**
 * The op test-spec table. Domains (issue-13 ops: see the comments of their cases; `leakyRelu`
 * and `elu` inputs 0.1 away from 0, their parameters checked by finite differences too): `log`/`sqrt` positive inputs, `div` denominators with
 * `|b| >= 0.5`, `pow` bases in `[0.5, 2]`, `relu`/`abs`/`sign` inputs kept 0.1 away from 0,
 * `maximum`/`minimum` on interleaved grids (no ties), `max` and max pooling on distinct values;
 * comparisons, `sign`, `stopGradient`, `where`'s condition, the pooled image `x` of
 * `maxPool2dBackprop`/`maxPool2dGather` (it only picks the arg-max) and `randomUniform`'s key must
 * get exactly zero gradient. Convolutions and pooling draw small problems from
 * {@link convProblemArb} and {@link poolProblemArb} (strides 1-2, asymmetric padding, dilation
 * 1-2, groups 1, 2 and depthwise, 1x1 kernels, non-square images).
 */
export const OP_SPECS: OpSpecTable = {
  input: { cases: sourceCases("input"), build: (_b, xs) => xs[0]! },
  param: { cases: sourceCases("param"), build: (_b, xs) => xs[0]! },
  constant: {
    cases: shapeArb()
      .chain((s) => fc.tuple(tensorArb(s), tensorArb(s)))
      .map(([x, c]) => ({
        args: [fd(x)],
        attrs: { shape: [...c.shape], values: Array.from(c.data), dtype: "float64" as const },
      })),
    build: (b, xs, attrs) => b.mul(xs[0]!, b.op("constant", [], attrs)),
  },
  fill: {
    cases: shapeArb()
      .chain((s) => fc.tuple(tensorArb(s), broadcastableToArb(s), valueArb()))
      .map(([x, shape, value]) => ({ args: [fd(x)], attrs: { value, shape, dtype: "float64" as const } })),
    build: (b, xs, attrs) => b.mul(xs[0]!, b.op("fill", [], attrs)),
  },
  neg: unary({}),
  exp: unary({ min: -3, max: 3 }),
  log: unary({ min: 0.2, max: 4 }),
  tanh: unary({ min: -3, max: 3 }),
  sigmoid: unary({ min: -4, max: 4 }),
  relu: unary({ avoid: [0] }),
  square: unary({}),
  sqrt: unary({ min: 0.2, max: 4 }),
  abs: unary({ avoid: [0] }),
  sign: unary({ avoid: [0] }, "zero"),
  add: binary({}, {}),
  sub: binary({}, {}),
  mul: binary({}, {}),
  div: binary({}, { min: -2, max: 2, avoid: [0], margin: 0.5 }),
  pow: binary({ min: 0.5, max: 2 }, { min: -2, max: 2 }),
  maximum: kinkedBinary(),
  minimum: kinkedBinary(),
  greater: comparison(),
  greaterEqual: comparison(),
  less: comparison(),
  lessEqual: comparison(),
  equal: comparison(),
  where: { cases: whereCases },
  matmul: { cases: matmulCases },
  transpose: { cases: transposeCases },
  reshape: { cases: reshapeCases },
  broadcastTo: { cases: broadcastToCases },
  concat: { cases: concatCases },
  slice: { cases: sliceCases },
  pad: { cases: padCases },
  sum: reduction(),
  mean: reduction(),
  max: { cases: maxCases },
  softmax: softmaxLike(),
  logSoftmax: softmaxLike(),
  logSumExp: { cases: logSumExpCases },
  conv2d: { cases: conv2dCases },
  conv2dTranspose: { cases: conv2dTransposeCases },
  conv2dBackpropFilter: { cases: conv2dBackpropFilterCases },
  maxPool2d: { cases: maxPool2dCases },
  maxPool2dBackprop: { cases: maxPoolRouted((p) => p.y) },
  maxPool2dGather: { cases: maxPoolRouted((p) => p.x) },
  avgPool2d: { cases: avgPool2dCases },
  avgPool2dBackprop: { cases: avgPool2dBackpropCases },
  // the key (first) argument only seeds the stream: its gradient is exactly zero
  randomUniform: {
    cases: randomUniformCases,
    build: (b, xs, attrs) => b.mul(xs[1]!, b.op("randomUniform", [xs[0]!], attrs)),
  },
  stopGradient: unary({}, "zero"),
  // a two-input sub-graph `a * tanh(c)` (broadcasting) whose hand-written rule is its derivative
  customGradient: {
    cases: binaryOpSpec({}, { min: -2, max: 2 }).cases.map((c) => ({ args: c.args, attrs: {} })),
    build: (b, xs) =>
      customGradient(
        b,
        xs,
        (b, a, c) => b.mul(a, b.tanh(c)),
        ({ b, x, g }) => {
          const t = b.tanh(x[1]!);
          return [b.mul(g, t), b.mul(g, b.mul(x[0]!, b.sub(1, b.square(t))))];
        },
        { name: "mulTanh" },
      ),
  },
  softplus: unary({ min: -4, max: 4 }),
  log1p: unary({ min: -0.6, max: 3 }),
  expm1: unary({ min: -3, max: 3 }),
  silu: unary({ min: -4, max: 4 }),
  erf: unary({ min: -2.5, max: 2.5 }),
  gelu: unary({ min: -3, max: 3 }),
  geluTanh: unary({ min: -3, max: 3 }),
  leakyRelu: binary({ min: -3, max: 3, avoid: [0] }, { min: -0.5, max: 0.5 }),
  elu: binary({ min: -3, max: 3, avoid: [0] }, { min: 0.2, max: 2 }),
  clip: { cases: clipCases },
  oneHot: { cases: oneHotCases },
  argmax: { cases: argmaxCases },
  gather: { cases: gatherCases },
  scatterAdd: { cases: scatterAddCases },
  layerNorm: { cases: layerNormCases },
  layerNormBackward: { cases: layerNormBackwardCases },
};
