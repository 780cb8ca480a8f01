/**
 * numpy's legacy random stream (`np.random.seed(s)` / `np.random.RandomState(s)`): the MT19937 generator
 * with numpy's seeding, `random_sample`, the polar-method `standard_normal` and `shuffle`. It exists so that
 * the tutorials' data and initial weights can be reproduced bit for bit: `np.random.seed(0);
 * make_moons(200, noise=0.2)` is `makeMoons({ nSamples: 200, noise: 0.2, seed: 0, numpy: true })`.
 * For new work prefer `Rng` from `@gradgraph/core`.
 * @module
 */

/** An array-like of numbers that can be written to (a typed array or a number[]). */
export interface MutableNumbers {
  /** Number of elements. */
  readonly length: number;
  /** Element access. */
  [i: number]: number;
}

const N = 624;
const M = 397;

/**
 * A reimplementation of numpy's legacy `RandomState` (MT19937), seeded like `np.random.seed(seed)`. It
 * gives numpy's own bits for `random`, `standardNormal`/`normal`/`randn`, `permutation` and `shuffle`,
 * so a tutorial written against numpy's seeded stream (its data and its initial weights) can be
 * reproduced number for number; `makeMoons` and `makeCircles` draw from it with `numpy: true`
 * (scikit-learn's own points). For new code without a numpy stream to match, core's `Rng` is the seeded
 * generator gradgraph uses elsewhere.
 *
 * @example
 * ```ts
 * import { NumpyRandomState } from "@gradgraph/datasets";
 *
 * const rs = new NumpyRandomState(0); // np.random.seed(0)
 * rs.random(); // 0.5488135039273248, as np.random.random()
 * rs.randn(2); // [0.7415917408091613, 1.5529137219128164], as np.random.randn(2) next
 * rs.permutation(5); // Int32Array [0, 2, 1, 4, 3], as np.random.permutation(5) next
 * ```
 */
export class NumpyRandomState {
  private readonly mt = new Uint32Array(N);
  private pos = N;
  private spare: number | null = null;

  /** @param seed an integer in 0..2^32-1, as accepted by `np.random.seed` */
  constructor(seed = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`numpy seeds must be integers in 0..2^32-1, got ${seed}`);
    }
    const mt = this.mt;
    mt[0] = seed;
    for (let i = 1; i < N; i++) {
      const p = mt[i - 1]!;
      mt[i] = (Math.imul(1812433253, p ^ (p >>> 30)) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.mt;
    const mix = (a: number, b: number, c: number): number => {
      const y = (a & 0x80000000) | (b & 0x7fffffff);
      return (c ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
    };
    let i = 0;
    for (; i < N - M; i++) mt[i] = mix(mt[i]!, mt[i + 1]!, mt[i + M]!);
    for (; i < N - 1; i++) mt[i] = mix(mt[i]!, mt[i + 1]!, mt[i + M - N]!);
    mt[N - 1] = mix(mt[N - 1]!, mt[0]!, mt[M - 1]!);
    this.pos = 0;
  }

  /** The next raw 32-bit output (numpy's `genrand_int32`). */
  nextUint32(): number {
    if (this.pos >= N) this.twist();
    let y = this.mt[this.pos++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform double in [0, 1) with 53 random bits (`np.random.random_sample()`). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A standard normal draw (`np.random.standard_normal()`, the legacy polar method, which caches a spare). */
  standardNormal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.random() - 1;
      x2 = 2 * this.random() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.spare = f * x1;
    return f * x2;
  }

  /** A normal draw with mean `loc` and standard deviation `scale` (`np.random.normal(loc, scale)`). */
  normal(loc = 0, scale = 1): number {
    return loc + scale * this.standardNormal();
  }

  /** `n` standard normal draws in order (`np.random.randn(n)`; for `randn(a, b)` use `n = a*b`, row-major). */
  randn(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.standardNormal();
    return out;
  }

  /** A uniform integer in [0, max] by masked rejection sampling (numpy's `random_interval`), max < 2^32. */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    let v: number;
    do v = (this.nextUint32() & mask) >>> 0;
    while (v > max);
    return v;
  }

  /** Shuffles `a` in place as `np.random.shuffle` does for a 1-D array, and returns it. */
  shuffle<T extends MutableNumbers>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.interval(i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1 (`np.random.permutation(n)`). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}
