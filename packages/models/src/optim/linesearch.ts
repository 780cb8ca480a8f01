/**
 * A line search satisfying the strong Wolfe conditions (Nocedal & Wright, "Numerical
 * Optimization", 2nd ed., Algorithms 3.5 and 3.6), with safeguarded cubic interpolation.
 * @module
 */

/** The objective restricted to a line: `phi(alpha) = f(x + alpha d)` and its slope `phi'(alpha) = g(x + alpha d)·d`. */
export type LineFunction = (alpha: number) => { f: number; slope: number };

/** Options of {@link wolfeLineSearch}. */
export interface LineSearchOptions {
  /** Sufficient-decrease (Armijo) constant, 0 < c1 < c2 (default 1e-4). */
  c1?: number;
  /** Curvature constant, c1 < c2 < 1 (default 0.9; use 0.1 for conjugate gradient). */
  c2?: number;
  /** Largest number of `phi` evaluations (default 25). */
  maxEvaluations?: number;
  /** Largest step tried (default 1e10). */
  alphaMax?: number;
  /** Times a non-finite `phi` value may be met (the step is then shrunk) before giving up (default 30). */
  maxNonFinite?: number;
  /**
   * Relative noise level of `phi` (default 1e-10). Values within `fNoise * |f0|` of each other are
   * treated as equal, and a step with `phi(alpha) <= f0 + fNoise * |f0|` passes the decrease test
   * (the "approximate Wolfe" conditions of Hager & Zhang), so that the search is steered by the
   * slope alone once the decrease is below rounding error. Set 0 for the exact conditions.
   */
  fNoise?: number;
}

/** Outcome of {@link wolfeLineSearch}. */
export interface LineSearchResult {
  /**
   * `"ok"`: `alpha` satisfies the strong Wolfe conditions. `"failed"`: no such step was found within
   * the budget (or the bracket shrank to nothing); `alpha` is then the step of the lowest `phi`
   * found below `f0` (the first one on ties) if any, else 0. `"nonfinite"`: `phi` returned NaN/Inf
   * at every step tried (each shrinking the last), or more than `maxNonFinite` times.
   */
  status: "ok" | "failed" | "nonfinite";
  /** Accepted step (0 when nothing decreased `phi`). */
  alpha: number;
  /** `phi(alpha)`. */
  f: number;
  /** `phi'(alpha)`. */
  slope: number;
  /** Number of `phi` evaluations made. */
  evaluations: number;
  /** The step of the last evaluation (callers holding the last point can skip a re-evaluation when it equals `alpha`). */
  lastAlpha: number;
  /** Short explanation when `status` is not `"ok"`. */
  message: string;
}

/** Minimiser of the cubic interpolating (a, fa, da) and (b, fb, db); NaN when it does not exist. */
function cubicMin(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - da * db;
  if (!(disc >= 0)) return Number.NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  const denom = db - da + 2 * d2;
  if (denom === 0) return Number.NaN;
  return b - ((b - a) * (db + d2 - d1)) / denom;
}

/**
 * Finds a step `alpha > 0` along a descent direction that satisfies the strong Wolfe conditions
 * `phi(alpha) <= f0 + c1 alpha slope0` and `|phi'(alpha)| <= c2 |slope0|` (the first relaxed to
 * `phi(alpha) <= f0 + fNoise |f0|` when rounding hides the decrease; see
 * {@link LineSearchOptions.fNoise}): a bracketing phase that
 * extrapolates (cubic, clamped to [1.1, 4] times the last interval) and a zoom phase that
 * interpolates (safeguarded cubic, bisection fallback). A NaN/Inf value of `phi` is treated as a
 * step that went too far: the step is shrunk towards the last finite one.
 *
 * @param phi the objective along the line
 * @param f0 `phi(0)`
 * @param slope0 `phi'(0)`, which must be negative
 * @param alpha0 first trial step (> 0)
 */
export function wolfeLineSearch(
  phi: LineFunction,
  f0: number,
  slope0: number,
  alpha0: number,
  options: LineSearchOptions = {},
): LineSearchResult {
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? 0.9;
  const maxEval = options.maxEvaluations ?? 25;
  const alphaMax = options.alphaMax ?? 1e10;
  const maxNonFinite = options.maxNonFinite ?? 30;
  const epsF = (options.fNoise ?? 1e-10) * Math.abs(f0);
  if (!(c1 > 0 && c1 < c2 && c2 < 1))
    throw new RangeError(`line search needs 0 < c1 < c2 < 1, got c1=${c1}, c2=${c2}`);
  if (!(slope0 < 0))
    throw new RangeError(`line search needs a descent direction (slope ${slope0} is not < 0)`);
  if (!(alpha0 > 0) || !Number.isFinite(alpha0))
    throw new RangeError(`line search needs a first step > 0, got ${alpha0}`);

  let evals = 0;
  let nonFinite = 0;
  let finite = 0;
  let lastAlpha = 0;
  // best point seen with a decrease (fallback when the search fails)
  let bestA = 0;
  let bestF = f0;
  let bestS = slope0;
  const evalAt = (a: number): { f: number; slope: number } | null => {
    evals++;
    lastAlpha = a;
    const r = phi(a);
    if (!Number.isFinite(r.f) || !Number.isFinite(r.slope)) {
      nonFinite++;
      return null;
    }
    finite++;
    if (r.f < bestF) {
      bestA = a;
      bestF = r.f;
      bestS = r.slope;
    }
    return r;
  };
  const done = (alpha: number, f: number, slope: number): LineSearchResult => ({
    status: "ok",
    alpha,
    f,
    slope,
    evaluations: evals,
    lastAlpha,
    message: "",
  });
  const fail = (message: string): LineSearchResult => {
    const status = nonFinite > maxNonFinite || (finite === 0 && nonFinite > 0) ? "nonfinite" : "failed";
    return { status, alpha: bestA, f: bestF, slope: bestS, evaluations: evals, lastAlpha, message };
  };
  const armijo = (a: number, f: number): boolean => f <= f0 + c1 * a * slope0 || f <= f0 + epsF;
  const curvature = (s: number): boolean => Math.abs(s) <= -c2 * slope0;

  const zoom = (
    lo: number,
    flo: number,
    slo: number,
    hi: number,
    fhi: number,
    shi: number,
  ): LineSearchResult => {
    while (evals < maxEval) {
      const width = Math.abs(hi - lo);
      if (width <= 1e-16 * Math.max(1, Math.abs(lo), Math.abs(hi))) return fail("bracket shrank to nothing");
      const left = Math.min(lo, hi);
      const right = Math.max(lo, hi);
      let a = Number.isFinite(fhi) ? cubicMin(lo, flo, slo, hi, fhi, shi) : Number.NaN;
      if (!(a >= left + 0.1 * width && a <= right - 0.1 * width)) a = (lo + hi) / 2;
      const r = evalAt(a);
      if (r === null) {
        if (nonFinite > maxNonFinite) return fail("objective kept returning NaN or Inf");
        hi = a;
        fhi = Number.NaN;
        shi = Number.NaN;
        continue;
      }
      if (!armijo(a, r.f) || r.f > flo + epsF) {
        hi = a;
        fhi = r.f;
        shi = r.slope;
      } else {
        if (curvature(r.slope)) return done(a, r.f, r.slope);
        if (r.slope * (hi - lo) >= 0) {
          hi = lo;
          fhi = flo;
          shi = slo;
        }
        lo = a;
        flo = r.f;
        slo = r.slope;
      }
    }
    return fail(`no strong-Wolfe step within ${maxEval} evaluations`);
  };

  let prevA = 0;
  let prevF = f0;
  let prevS = slope0;
  let a = Math.min(alpha0, alphaMax);
  let first = true;
  while (evals < maxEval) {
    const r = evalAt(a);
    if (r === null) {
      if (nonFinite > maxNonFinite) return fail("objective kept returning NaN or Inf");
      // too far: shrink towards the last finite point and try again
      a = prevA + (a - prevA) / 2;
      continue;
    }
    if (!armijo(a, r.f) || (!first && r.f > prevF + epsF)) return zoom(prevA, prevF, prevS, a, r.f, r.slope);
    if (curvature(r.slope)) return done(a, r.f, r.slope);
    if (r.slope >= 0) return zoom(a, r.f, r.slope, prevA, prevF, prevS);
    if (a >= alphaMax)
      return fail(`step reached alphaMax ${alphaMax} without satisfying the curvature condition`);
    const d = a - prevA;
    let next = cubicMin(prevA, prevF, prevS, a, r.f, r.slope);
    const minNext = a + 1.1 * d;
    const maxNext = a + 4 * d;
    if (!(next >= minNext && next <= maxNext))
      next = Number.isFinite(next) && next > maxNext ? maxNext : minNext;
    prevA = a;
    prevF = r.f;
    prevS = r.slope;
    a = Math.min(next, alphaMax);
    first = false;
  }
  return fail(`no strong-Wolfe step within ${maxEval} evaluations`);
}
