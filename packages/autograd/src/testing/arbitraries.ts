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
