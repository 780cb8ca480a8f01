/**
 * scikit-learn's two-class toy generators `make_moons` and `make_circles`, with a seeded generator.
 * @module
 */
import { allocArray, type DType, Rng, Tensor } from "@gradgraph/core";
import { NumpyRandomState } from "./numpy-random.js";
import type { LabeledData } from "./types.js";

/** Options of {@link makeMoons} and {@link makeCircles} (scikit-learn's parameters, camel-cased). */
export interface TwoClassOptions {
  /**
   * Total number of points (default 100), split as sklearn does: `floor(n/2)` in the outer shape
   * (label 0), the rest in the inner one (label 1); or `[nOuter, nInner]`.
   */
  nSamples?: number | readonly [number, number];
  /** Standard deviation of the Gaussian noise added to every coordinate (default: no noise). */
  noise?: number;
  /** Shuffle the points (default true); unshuffled, the outer points come first. */
  shuffle?: boolean;
  /** Seed of the generator (default 0). Ignored when `rng` is given. */
  seed?: number;
  /** A generator to draw from (advances it), instead of a fresh one seeded with `seed`. */
  rng?: Rng;
  /**
   * Draw from numpy's legacy stream instead of gradgraph's `Rng`, reproducing
   * `np.random.seed(seed); sklearn.datasets.make_*(...)` (up to the last bit of `cos`/`sin`).
   */
  numpy?: boolean;
  /** Element type of `x` (default `"float32"`). */
  dtype?: DType;
}

/** Options of {@link makeCircles}. */
export interface CirclesOptions extends TwoClassOptions {
  /** Radius of the inner circle relative to the outer one, in [0, 1) (default 0.8). */
  factor?: number;
}

function counts(n: TwoClassOptions["nSamples"]): [number, number] {
  const total = typeof n === "object" ? 0 : (n ?? 100);
  const [a, b] = typeof n === "object" ? n : [Math.floor(total / 2), total - Math.floor(total / 2)];
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0) {
    throw new RangeError(
      `nSamples must be a non-negative integer or a pair of them, got ${JSON.stringify(n)}`,
    );
  }
  return [a, b];
}

/** `np.linspace(0, stop, num, endpoint)`. */
function linspace(stop: number, num: number, endpoint: boolean): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? stop / div : 0;
  for (let i = 0; i < num; i++) out[i] = i * step;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * Builds the two shapes the way sklearn does: `nOut` outer points `(cos t, sin t)` (label 0) and `nIn`
 * inner points `inner(t)` (label 1), `t` from `np.linspace(0, stop, n, endpoint)`; then shuffles and adds
 * noise (in that order, drawing from one stream) and packs the result.
 */
function twoShapes(
  options: TwoClassOptions,
  stop: number,
  endpoint: boolean,
  inner: (t: number) => readonly [number, number],
): LabeledData {
  if (options.numpy && options.rng) throw new RangeError("give either rng or numpy: true, not both");
  const noise = options.noise;
  if (noise !== undefined && !(noise >= 0)) throw new RangeError(`noise must be >= 0, got ${noise}`);
  const [nOut, nIn] = counts(options.nSamples);
  const n = nOut + nIn;
  const points = new Float64Array(2 * n);
  const to = linspace(stop, nOut, endpoint);
  const ti = linspace(stop, nIn, endpoint);
  for (let i = 0; i < nOut; i++) points.set([Math.cos(to[i]!), Math.sin(to[i]!)], 2 * i);
  for (let i = 0; i < nIn; i++) points.set(inner(ti[i]!), 2 * (nOut + i));
  const gen = options.numpy
    ? new NumpyRandomState(options.seed ?? 0)
    : (options.rng ?? new Rng(options.seed ?? 0));
  const order = (options.shuffle ?? true) ? gen.permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
  const x = allocArray(options.dtype ?? "float32", 2 * n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = order[i]!;
    y[i] = j < nOut ? 0 : 1;
    // Noise is added in float64 before rounding to the output type, as sklearn adds it to float64 data.
    for (let k = 0; k < 2; k++) {
      const v = points[2 * j + k]!;
      x[2 * i + k] = noise === undefined ? v : v + gen.normal(0, noise);
    }
  }
  return { x: new Tensor([n, 2], x), y };
}

/**
 * Two interleaving half circles (scikit-learn's `make_moons`). Before noise, the outer moon (label 0) is
 * `(cos t, sin t)` and the inner moon (label 1) is `(1 - cos t, 0.5 - sin t)`, each with `t` evenly spaced
 * over [0, pi] (endpoints included). Returns `x` `[n, 2]` and `y`.
 */
export function makeMoons(options: TwoClassOptions = {}): LabeledData {
  return twoShapes(options, Math.PI, true, (t) => [1 - Math.cos(t), 1 - Math.sin(t) - 0.5]);
}

/**
 * A large circle containing a smaller one (scikit-learn's `make_circles`). Before noise, the outer circle
 * (label 0) has radius 1 and the inner circle (label 1) radius `factor`; angles are evenly spaced over
 * [0, 2 pi) (end point excluded). Returns `x` `[n, 2]` and `y`.
 */
export function makeCircles(options: CirclesOptions = {}): LabeledData {
  const factor = options.factor ?? 0.8;
  if (!(factor >= 0 && factor < 1)) throw new RangeError(`factor must be in [0, 1), got ${factor}`);
  return twoShapes(options, 2 * Math.PI, false, (t) => [Math.cos(t) * factor, Math.sin(t) * factor]);
}
