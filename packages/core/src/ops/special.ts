/**
 * Scalar special functions shared by the elementwise ops (`erf`, `gelu`) and kept
 * self-contained: each is used both as a plain function and, through its source text, inside
 * generated (fused) loops, so it may not refer to anything outside its own body.
 * @module
 */

/**
 * The complementary error function `erfc(x) = 1 - erf(x)`, accurate to a few ulps in float64
 * (relative error below 1e-14 over the reals, no cancellation for large positive `x`).
 *
 * `|x| < 2`: the everywhere-positive series `erf(x) = 2/√π e^{-x²} Σ (2x²)^n x / (2n+1)!!`;
 * `|x| >= 2`: the continued fraction `erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))`
 * evaluated bottom-up with 80 terms; `erfc(-x) = 2 - erfc(x)`. NaN gives NaN.
 */
export function erfcScalar(x: number): number {
  const a = x < 0 ? -x : x;
  let r: number;
  if (a < 2) {
    const a2 = a * a;
    let term = a;
    let s = a;
    for (let n = 1; n < 200; n++) {
      term *= (2 * a2) / (2 * n + 1);
      s += term;
      if (term < s * 1e-17) break;
    }
    const erf = 1.1283791670955126 * Math.exp(-a2) * s;
    return x < 0 ? 1 + erf : 1 - erf;
  }
  if (a > 27.3) r = 0;
  else {
    let f = a;
    for (let k = 80; k >= 1; k--) f = a + (k * 0.5) / f;
    r = (0.5641895835477563 * Math.exp(-a * a)) / f;
  }
  if (Number.isNaN(x)) return x;
  return x < 0 ? 2 - r : r;
}

/**
 * The error function `erf(x) = 2/√π ∫₀ˣ e^{-t²} dt`, accurate to a few ulps in float64 (the
 * series of {@link erfcScalar} for `|x| < 2`, `1 - erfc(|x|)` beyond, odd symmetry). NaN gives NaN.
 */
export function erfScalar(x: number): number {
  const a = x < 0 ? -x : x;
  let r: number;
  if (a < 2) {
    const a2 = a * a;
    let term = a;
    let s = a;
    for (let n = 1; n < 200; n++) {
      term *= (2 * a2) / (2 * n + 1);
      s += term;
      if (term < s * 1e-17) break;
    }
    r = 1.1283791670955126 * Math.exp(-a2) * s;
  } else if (a > 6) r = 1;
  else {
    let f = a;
    for (let k = 80; k >= 1; k--) f = a + (k * 0.5) / f;
    r = 1 - (0.5641895835477563 * Math.exp(-a * a)) / f;
  }
  if (Number.isNaN(x)) return x;
  return x < 0 ? -r : r;
}

/** Source text of {@link erfScalar}, a function expression usable inside generated code. */
export const ERF_SOURCE = `(${erfScalar.toString()})`;

/** Source text of {@link erfcScalar}, a function expression usable inside generated code. */
export const ERFC_SOURCE = `(${erfcScalar.toString()})`;
