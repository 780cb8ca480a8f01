/**
 * fast-check arbitraries for shapes and tensors.
 * @module
 */
import { type ConcreteShape, type DType, sizeOf, Tensor } from "@gradgraph/core";
import fc from "fast-check";

/** Constraints of {@link shapeArb}. */
export interface ShapeConstraints {
  /** Smallest rank (default 0: scalars included). */
  minRank?: number;
  /** Largest rank (default 3). */
  maxRank?: number;
  /** Smallest dimension (default 1). */
  minDim?: number;
  /** Largest dimension (default 3). */
  maxDim?: number;
}

/** Concrete shapes; shrinks towards low rank and dims of `minDim`. */
export function shapeArb(constraints: ShapeConstraints = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 3, minDim = 1, maxDim = 3 } = constraints;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * A shape that broadcasts to `out`: some leading axes dropped and some axes set to 1.
 * Shrinks towards `out` itself.
 */
export function broadcastableToArb(out: readonly number[]): fc.Arbitrary<number[]> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    )
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
}

/**
 * `count` shapes that broadcast together (numpy rules), e.g. `[[2,3], [3]]` or `[[2,1], [1,3]]`;
 * the broadcast result has rank `minRank..maxRank` and dims `minDim..maxDim`.
 */
export function broadcastShapesArb(
  count: number,
  constraints: ShapeConstraints = {},
): fc.Arbitrary<number[][]> {
  return shapeArb(constraints).chain((out) =>
    fc.array(broadcastableToArb(out), { minLength: count, maxLength: count }),
  );
}

/** Two shapes that broadcast together; see {@link broadcastShapesArb}. */
export function broadcastPairArb(constraints: ShapeConstraints = {}): fc.Arbitrary<[number[], number[]]> {
  return broadcastShapesArb(2, constraints).map(([a, b]) => [a!, b!] as [number[], number[]]);
}

/** Constraints of {@link valueArb} and {@link tensorArb}. */
export interface ValueConstraints {
  /** Smallest value (default -2). */
  min?: number;
  /** Largest value (default 2). */
  max?: number;
  /**
   * Points to keep away from (kinks, poles): a value closer than `margin` to one of them is moved
   * to exactly `margin` away, on its own side (so it may exceed `min`/`max` by up to `margin`).
   */
  avoid?: readonly number[];
  /** Distance kept from the `avoid` points (default 0.1). */
  margin?: number;
}

/** Moves `v` to at least `margin` away from each point of `avoid`. */
export function keepAway(v: number, avoid: readonly number[], margin: number): number {
  for (const p of avoid) {
    if (Math.abs(v - p) < margin) v = v >= p ? p + margin : p - margin;
  }
  return v;
}

/**
 * Numbers in `[min, max]` on a grid of 1/1000 (uniform over the range, short to print), kept away
 * from the `avoid` points; shrinks towards 0, or the bound nearest it. (`fc.double` is not used:
 * it draws uniformly over bit patterns, so most of its values are tiny and gradients are
 * only ever probed near zero.)
 */
export function valueArb(constraints: ValueConstraints = {}): fc.Arbitrary<number> {
  const { min = -2, max = 2, avoid = [], margin = 0.1 } = constraints;
  const arb = fc
    .integer({ min: Math.ceil(min * 1000), max: Math.floor(max * 1000) })
    .map((k) => (k === 0 ? 0 : k / 1000));
  return avoid.length ? arb.map((v) => keepAway(v, avoid, margin)) : arb;
}

/** Options of {@link tensorArb}. */
export interface TensorConstraints extends ValueConstraints {
  /** Element type (default float64). */
  dtype?: DType;
  /**
   * All elements pairwise at least `spacing` apart (no ties, for max-reductions): values are
   * distinct multiples of `spacing` (default 0.25) inside `[min, max]` widened as needed.
   */
  distinct?: boolean;
  /** Spacing of distinct values (default 0.25). */
  spacing?: number;
}

/** Tensors of a fixed shape with values as {@link ValueConstraints} says. */
export function tensorArb(shape: ConcreteShape, constraints: TensorConstraints = {}): fc.Arbitrary<Tensor> {
  const n = sizeOf(shape);
  const dtype = constraints.dtype ?? "float64";
  const make = (values: readonly number[]) => Tensor.from(values, { shape, dtype });
  if (constraints.distinct) {
    const spacing = constraints.spacing ?? 0.25;
    const lo = Math.ceil((constraints.min ?? -2) / spacing);
    const hi = Math.max(Math.floor((constraints.max ?? 2) / spacing), lo + n - 1);
    return fc
      .uniqueArray(fc.integer({ min: lo, max: hi }), { minLength: n, maxLength: n })
      .map((ks) => make(ks.map((k) => k * spacing)));
  }
  return fc.array(valueArb(constraints), { minLength: n, maxLength: n }).map(make);
}

/**
 * Tensors whose values lie on the grid `offset + k * step` (`k` an integer, `|value| <= max`).
 * Two tensors with offsets differing by `step / 2` never tie, even after broadcasting
 * (used for `maximum`/`minimum`).
 */
export function gridTensorArb(
  shape: ConcreteShape,
  options: { step?: number; offset?: number; max?: number } = {},
): fc.Arbitrary<Tensor> {
  const { step = 0.5, offset = 0, max = 2 } = options;
  const k = Math.floor(max / step);
  return fc
    .array(fc.integer({ min: -k, max: k }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) })
    .map((ks) =>
      Tensor.from(
        ks.map((i) => offset + i * step),
        { shape, dtype: "float64" },
      ),
    );
}

/** A permutation of `0..n-1`. */
export function permutationArb(n: number): fc.Arbitrary<number[]> {
  const ids = Array.from({ length: n }, (_, i) => i);
  return fc.shuffledSubarray(ids, { minLength: n, maxLength: n });
}

/** An axis of a tensor of rank `rank >= 1`, possibly negative (`-rank..rank-1`). */
export function axisArb(rank: number): fc.Arbitrary<number> {
  return fc.integer({ min: -rank, max: rank - 1 });
}

/**
 * Reduction axes for rank `rank`: `null` (all), or a subset written with random signs
 * (and possibly repeated), so attribute normalisation is exercised too.
 */
export function axesArb(rank: number): fc.Arbitrary<number[] | null> {
  if (rank === 0) return fc.constantFrom(null, [] as number[]);
  return fc.option(
    fc
      .subarray(
        Array.from({ length: rank }, (_, i) => i),
        { minLength: 0 },
      )
      .chain((axes) =>
        fc
          .array(fc.boolean(), { minLength: axes.length, maxLength: axes.length })
          .map((neg) => axes.map((a, i) => (neg[i] ? a - rank : a))),
      ),
    { nil: null },
  );
}

/** A small 2-D convolution problem (NCHW): operand shapes and explicit attributes, all consistent. */
export interface ConvProblem {
  /** Input `[N, C, H, W]`. */
  readonly x: [number, number, number, number];
  /** Weights `[O, C/groups, kh, kw]`. */
  readonly w: [number, number, number, number];
  /** Output `[N, O, Ho, Wo]`. */
  readonly y: [number, number, number, number];
  /** `[h, w]` window steps. */
  readonly strides: [number, number];
  /** Zero padding `[top, bottom, left, right]` (asymmetric in general). */
  readonly padding: [number, number, number, number];
  /** `[h, w]` tap spacing. */
  readonly dilations: [number, number];
  /** Channel groups: 1, 2, or the channel count (depthwise). */
  readonly groups: number;
}

/** Limits of {@link convProblemArb} and {@link poolProblemArb}. */
export interface ConvProblemConstraints {
  /** Largest batch (default 2). */
  maxBatch?: number;
  /** Largest image height and width (default 7; exceeded only where the smallest image that fits the kernel is larger). */
  maxSize?: number;
  /** Largest kernel height and width (default 3). */
  maxKernel?: number;
  /** Largest stride (default 2). */
  maxStride?: number;
  /** Largest dilation (default 2; convolutions only). */
  maxDilation?: number;
  /** Largest padding of one side (default 2 for convolutions; pooling keeps each side below the window). */
  maxPad?: number;
}

/** The smallest size that fits (`base`) plus up to `extra` more, capped at `max` unless `base` exceeds it. */
function grow(base: number, extra: number, max: number): number {
  return base + Math.min(extra, Math.max(0, max - base));
}

/** The output length of a convolution or pooling along one axis. */
function convLength(size: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

/**
 * Small convolution problems covering strides, asymmetric padding, dilation, groups 1, 2 and
 * depthwise (with a channel multiplier), 1x1 kernels and non-square images; the (dilated) kernel
 * always fits the padded image. Shrinks towards a 1x1 kernel on a 1x1 image with one channel.
 */
export function convProblemArb(constraints: ConvProblemConstraints = {}): fc.Arbitrary<ConvProblem> {
  const {
    maxBatch = 2,
    maxSize = 7,
    maxKernel = 3,
    maxStride = 2,
    maxDilation = 2,
    maxPad = 2,
  } = constraints;
  const int = (min: number, max: number) => fc.integer({ min, max });
  return fc
    .record({
      N: int(1, maxBatch),
      grouping: fc.constantFrom<"one" | "two" | "depthwise">("one", "two", "depthwise"),
      channels: int(1, 4),
      perGroupIn: int(1, 2),
      perGroupOut: int(1, 2),
      kh: int(1, maxKernel),
      kw: int(1, maxKernel),
      sh: int(1, maxStride),
      sw: int(1, maxStride),
      dh: int(1, maxDilation),
      dw: int(1, maxDilation),
      pad: fc.tuple(int(0, maxPad), int(0, maxPad), int(0, maxPad), int(0, maxPad)),
      eh: int(0, 3),
      ew: int(0, 3),
    })
    .map((r): ConvProblem => {
      let groups: number;
      let C: number;
      let O: number;
      if (r.grouping === "one") {
        groups = 1;
        C = r.channels;
        O = r.perGroupOut;
      } else if (r.grouping === "two") {
        groups = 2;
        C = 2 * r.perGroupIn;
        O = 2 * r.perGroupOut;
      } else {
        groups = r.channels;
        C = r.channels;
        O = r.channels * r.perGroupOut;
      }
      const [pt, pb, pl, pr] = r.pad;
      const H = grow(Math.max(1, r.dh * (r.kh - 1) + 1 - pt - pb), r.eh, maxSize);
      const W = grow(Math.max(1, r.dw * (r.kw - 1) + 1 - pl - pr), r.ew, maxSize);
      const Ho = convLength(H, r.kh, r.sh, r.dh, pt, pb);
      const Wo = convLength(W, r.kw, r.sw, r.dw, pl, pr);
      return {
        x: [r.N, C, H, W],
        w: [O, C / groups, r.kh, r.kw],
        y: [r.N, O, Ho, Wo],
        strides: [r.sh, r.sw],
        padding: [pt, pb, pl, pr],
        dilations: [r.dh, r.dw],
        groups,
      };
    });
}

/** A small 2-D pooling problem (NCHW): shapes and explicit attributes, all consistent. */
export interface PoolProblem {
  /** Input `[N, C, H, W]`. */
  readonly x: [number, number, number, number];
  /** Output `[N, C, Ho, Wo]`. */
  readonly y: [number, number, number, number];
  /** Window `[h, w]`. */
  readonly kernelSize: [number, number];
  /** Window steps `[h, w]` (may differ from the window: overlapping or gapped windows). */
  readonly strides: [number, number];
  /** Padding `[top, bottom, left, right]`, each side smaller than the window. */
  readonly padding: [number, number, number, number];
}

/**
 * Small pooling problems: windows up to `maxKernel`, strides up to `maxStride` + 1 (so windows
 * overlap, tile, or skip pixels), asymmetric padding smaller than the window, non-square images.
 */
export function poolProblemArb(constraints: ConvProblemConstraints = {}): fc.Arbitrary<PoolProblem> {
  const { maxBatch = 2, maxSize = 7, maxKernel = 3, maxStride = 2 } = constraints;
  const int = (min: number, max: number) => fc.integer({ min, max });
  return fc
    .record({
      N: int(1, maxBatch),
      C: int(1, 3),
      kh: int(1, maxKernel),
      kw: int(1, maxKernel),
      sh: int(1, maxStride + 1),
      sw: int(1, maxStride + 1),
      pad: fc.tuple(
        int(0, maxKernel - 1),
        int(0, maxKernel - 1),
        int(0, maxKernel - 1),
        int(0, maxKernel - 1),
      ),
      eh: int(0, 4),
      ew: int(0, 4),
    })
    .map((r): PoolProblem => {
      const pt = Math.min(r.pad[0], r.kh - 1);
      const pb = Math.min(r.pad[1], r.kh - 1);
      const pl = Math.min(r.pad[2], r.kw - 1);
      const pr = Math.min(r.pad[3], r.kw - 1);
      const H = grow(Math.max(1, r.kh - pt - pb), r.eh, maxSize);
      const W = grow(Math.max(1, r.kw - pl - pr), r.ew, maxSize);
      return {
        x: [r.N, r.C, H, W],
        y: [r.N, r.C, convLength(H, r.kh, r.sh, 1, pt, pb), convLength(W, r.kw, r.sw, 1, pl, pr)],
        kernelSize: [r.kh, r.kw],
        strides: [r.sh, r.sw],
        padding: [pt, pb, pl, pr],
      };
    });
}

/**
 * Tensors of `shape` whose values are pairwise distinct (a shuffled grid spread over about
 * `[-2, 2]`, spacing at most 0.25), for max pooling without ties at any size.
 */
export function distinctTensorArb(shape: ConcreteShape): fc.Arbitrary<Tensor> {
  const n = sizeOf(shape);
  const spacing = Math.min(0.25, 4 / Math.max(n, 1));
  return permutationArb(n).map((p) =>
    Tensor.from(
      p.map((k) => (k - Math.floor(n / 2)) * spacing),
      { shape, dtype: "float64" },
    ),
  );
}

/**
 * Integer-valued float64 tensors of `shape` with values in `[min, max]` (repeats allowed): indices
 * for `gather`, `scatterAdd` and `oneHot`.
 */
export function indexTensorArb(shape: ConcreteShape, min: number, max: number): fc.Arbitrary<Tensor> {
  return fc
    .array(fc.integer({ min, max }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) })
    .map((ks) => Tensor.from(ks, { shape, dtype: "float64" }));
}
