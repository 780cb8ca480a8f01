/**
 * Full-batch minimisation of a smooth function of a flat vector: L-BFGS and nonlinear conjugate
 * gradient (Polak–Ribière+, as in Rasmussen's `fmincg` used by Andrew Ng's ex4), both driven by a
 * strong-Wolfe line search ({@link wolfeLineSearch}).
 * @module
 */
import { type LineFunction, type LineSearchOptions, wolfeLineSearch } from "./linesearch.js";

/** The objective: returns `f(x)` and writes its gradient into `g` (same length as `x`). Must not keep `x`. */
export type Objective = (x: Float64Array, g: Float64Array) => number;

/** Progress report passed to {@link MinimizeOptions.onIteration}. */
export interface IterationInfo {
  /** Iterations (line searches) completed so far, from 1. */
  iteration: number;
  /** Objective value after this iteration. */
  f: number;
  /** Infinity norm (largest absolute component) of the gradient after this iteration. */
  gradNorm: number;
  /** Objective evaluations so far (including the one at the start point). */
  evaluations: number;
  /** Step length accepted by this iteration's line search (along the search direction). */
  step: number;
}

/** Options of {@link minimize}. */
export interface MinimizeOptions {
  /** `"lbfgs"` (default) or `"cg"` (Polak–Ribière+ conjugate gradient). */
  method?: "lbfgs" | "cg";
  /**
   * Largest number of iterations (default 1000). One iteration is one line search along one search
   * direction followed by a move, so `maxIter` matches the positive `length` argument of `fmincg`
   * (which counts line searches) and scipy's `maxiter`. Each iteration usually costs 1–3 evaluations.
   */
  maxIter?: number;
  /** Largest number of objective evaluations (default `20 * maxIter + 20`). */
  maxEvaluations?: number;
  /** Converged when the largest absolute gradient component is `<= gtol` (default 1e-6). */
  gtol?: number;
  /**
   * Converged when an iteration reduces f by at most `ftol * max(|f_old|, |f_new|, 1)` (scipy's
   * L-BFGS-B test). Default 1e-12 for L-BFGS and 0 (off) for CG, whose single iterations can make
   * tiny progress far from the optimum. 0 disables the test.
   */
  ftol?: number;
  /** L-BFGS history size: the number of correction pairs kept (default 10). */
  memory?: number;
  /** Line search sufficient-decrease constant (default 1e-4). */
  c1?: number;
  /** Line search curvature constant (default 0.9 for L-BFGS, 0.1 for CG). */
  c2?: number;
  /**
   * Relative noise level of f for the line search (default 1e-10): raise it (e.g. to 1e-6) when f
   * is computed in float32. See {@link LineSearchOptions.fNoise}.
   */
  fNoise?: number;
  /** Called after each iteration; return `false` to stop (the result then has `converged: false`). */
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks that return nothing must be accepted
  onIteration?: (info: IterationInfo) => void | boolean;
}

/** Outcome of {@link minimize}. */
export interface MinimizeResult {
  /** The best point found (a new array; `x0` is not changed). */
  x: Float64Array;
  /** `f(x)`. */
  f: number;
  /** Iterations (line searches that moved `x`) completed. */
  iterations: number;
  /** Objective evaluations made, including the one at `x0`. */
  evaluations: number;
  /** True when stopped by the `gtol` or `ftol` test (or the gradient was zero at the start). */
  converged: boolean;
  /** Why it stopped. */
  message: string;
  /** `f` at the start point followed by `f` after each iteration (length `iterations + 1`). */
  history: number[];
}

/**
 * Error thrown by {@link minimize} when the objective returns NaN or Inf (as the value or in the
 * gradient) at the start point, or at every trial step of a line search (each step shorter than the
 * last). `iteration` and `evaluations` say how far it got.
 *
 * @example
 * ```ts
 * import { minimize, MinimizeError } from "@gradgraph/models";
 *
 * const objective = (x: Float64Array, g: Float64Array) => {
 *   g[0] = 1 / (x[0] - 1);
 *   return Math.log(x[0] - 1); // NaN for x < 1
 * };
 * try {
 *   minimize(objective, Float64Array.of(0));
 * } catch (e) {
 *   if (e instanceof MinimizeError) console.log(e.iteration, e.message);
 *   // 0 minimize: the objective returned f = NaN at the start point (iteration 0)
 * }
 * ```
 */
export class MinimizeError extends Error {
  override name = "MinimizeError";
  /** The iteration being computed (0: the start point). */
  readonly iteration: number;
  /** Objective evaluations made so far. */
  readonly evaluations: number;
  /** @internal */
  constructor(message: string, iteration: number, evaluations: number) {
    super(message);
    this.iteration = iteration;
    this.evaluations = evaluations;
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normInf(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

function allFinite(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`minimize: ${name} must be an integer >= 1, got ${v}`);
}

function checkNonNegative(name: string, v: number): void {
  if (!(v >= 0) || !Number.isFinite(v))
    throw new RangeError(`minimize: ${name} must be a finite number >= 0, got ${v}`);
}

/**
 * Minimises `fun` from `x0` with L-BFGS (two-loop recursion, initial Hessian scaled by
 * `s·y / y·y`) or Polak–Ribière+ conjugate gradient; both use a strong-Wolfe line search.
 *
 * - The first step (and any restart) goes along steepest descent with length `min(1, 1/‖g‖₂)`.
 *   L-BFGS then tries the unit step; CG scales the previous step by the ratio of slopes (at most
 *   100 times larger), as `fmincg` does.
 * - A direction that is not a descent direction resets to steepest descent (L-BFGS also forgets
 *   its history); a failed line search along a non-steepest direction retries along steepest
 *   descent; a failure along steepest descent stops with `converged: false`.
 * - L-BFGS skips correction pairs with non-positive curvature (`s·y <= 1e-10 ‖s‖ ‖y‖`).
 * - NaN/Inf at the start point throws a {@link MinimizeError} naming iteration 0. Inside a line
 *   search NaN/Inf means "too far" and the step is halved towards the last finite point; when every
 *   trial step of a line search gives NaN/Inf, a `MinimizeError` names the iteration.
 * - A gradient already within `gtol` at `x0` returns at once with `converged: true`, 0 iterations.
 *
 * @example
 * const r = minimize((x, g) => { g[0] = 2 * (x[0] - 3); return (x[0] - 3) ** 2; }, new Float64Array([0]));
 * // r.x[0] ≈ 3
 */
export function minimize(fun: Objective, x0: Float64Array, options: MinimizeOptions = {}): MinimizeResult {
  const method = options.method ?? "lbfgs";
  if (method !== "lbfgs" && method !== "cg") {
    throw new RangeError(`minimize: unknown method ${JSON.stringify(method)} (expected "lbfgs" or "cg")`);
  }
  const maxIter = options.maxIter ?? 1000;
  checkPositiveInt("maxIter", maxIter);
  const maxEval = options.maxEvaluations ?? 20 * maxIter + 20;
  checkPositiveInt("maxEvaluations", maxEval);
  const gtol = options.gtol ?? 1e-6;
  checkNonNegative("gtol", gtol);
  const ftol = options.ftol ?? (method === "lbfgs" ? 1e-12 : 0);
  checkNonNegative("ftol", ftol);
  const m = options.memory ?? 10;
  checkPositiveInt("memory", m);
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? (method === "cg" ? 0.1 : 0.9);
  if (!(c1 > 0 && c1 < c2 && c2 < 1))
    throw new RangeError(`minimize: needs 0 < c1 < c2 < 1, got c1=${c1}, c2=${c2}`);

  const fNoise = options.fNoise ?? 1e-10;
  checkNonNegative("fNoise", fNoise);
  const n = x0.length;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  const xt = new Float64Array(n); // trial point
  const gt = new Float64Array(n); // gradient at the trial point
  const d = new Float64Array(n); // search direction
  let evaluations = 0;
  let iteration = 0;

  let f = fun(x, g);
  evaluations++;
  if (!Number.isFinite(f) || !allFinite(g)) {
    throw new MinimizeError(
      `minimize: the objective returned ${Number.isFinite(f) ? "a non-finite gradient" : `f = ${f}`} at the start point (iteration 0)`,
      0,
      evaluations,
    );
  }
  const history = [f];
  const result = (converged: boolean, message: string): MinimizeResult => ({
    x,
    f,
    iterations: iteration,
    evaluations,
    converged,
    message,
    history,
  });
  let gnorm = normInf(g);
  if (gnorm <= gtol) {
    return result(
      true,
      gnorm === 0 ? "gradient is zero at the start point" : "gradient norm <= gtol at the start point",
    );
  }

  // L-BFGS history (circular buffers)
  const S = method === "lbfgs" ? Array.from({ length: m }, () => new Float64Array(n)) : [];
  const Y = method === "lbfgs" ? Array.from({ length: m }, () => new Float64Array(n)) : [];
  const rho = new Float64Array(m);
  const alphaBuf = new Float64Array(m);
  let stored = 0;
  let head = 0; // index of the next slot to write
  let gamma = 1;
  // CG state
  const gPrev = new Float64Array(method === "cg" ? n : 0);

  // the lowest point of the current line search (used when the search fails but still decreased f)
  const xb = new Float64Array(n);
  const gb = new Float64Array(n);
  let fb = f;
  const phi: LineFunction = (alpha) => {
    for (let i = 0; i < n; i++) xt[i] = x[i]! + alpha * d[i]!;
    const ft = fun(xt, gt);
    evaluations++;
    const slope = dot(gt, d);
    if (ft < fb && Number.isFinite(ft) && Number.isFinite(slope)) {
      fb = ft;
      xb.set(xt);
      gb.set(gt);
    }
    return { f: ft, slope };
  };

  const steepest = (): number => {
    for (let i = 0; i < n; i++) d[i] = -g[i]!;
    stored = 0;
    head = 0;
    const g2 = Math.sqrt(dot(g, g));
    return Math.min(1, 1 / g2);
  };

  let alpha0 = steepest();
  let isSteepest = true;
  let slope = dot(g, d);

  while (true) {
    if (iteration >= maxIter) return result(false, `reached maxIter (${maxIter}) iterations`);
    if (evaluations >= maxEval) return result(false, `reached maxEvaluations (${maxEval}) evaluations`);
    if (!(slope < 0)) {
      // not a descent direction: restart along steepest descent
      alpha0 = steepest();
      isSteepest = true;
      slope = dot(g, d);
    }
    fb = f;
    const ls = wolfeLineSearch(phi, f, slope, alpha0, {
      c1,
      c2,
      fNoise,
      maxEvaluations: Math.min(25, maxEval - evaluations),
    });
    if (ls.status === "nonfinite") {
      throw new MinimizeError(
        `minimize: the objective kept returning NaN or Inf during the line search of iteration ${iteration + 1} ` +
          `(after ${evaluations} evaluations; every trial step, each shorter than the last, gave NaN or Inf)`,
        iteration + 1,
        evaluations,
      );
    }
    if (ls.status === "failed" && ls.alpha === 0) {
      if (!isSteepest) {
        alpha0 = steepest();
        isSteepest = true;
        slope = dot(g, d);
        continue;
      }
      return result(gnorm <= gtol, `line search failed in iteration ${iteration + 1}: ${ls.message}`);
    }
    // accept the step: a Wolfe step (the last point evaluated), or on failure the lowest point found
    const alpha = ls.alpha;
    let fNew = ls.f;
    if (ls.status === "failed") {
      xt.set(xb);
      gt.set(gb);
      fNew = fb;
    } else if (ls.lastAlpha !== alpha) {
      fNew = phi(alpha).f; // not reached with the current line search, which accepts its last point
    }
    const fOld = f;
    if (method === "lbfgs") {
      const s = S[head]!;
      const y = Y[head]!;
      for (let i = 0; i < n; i++) {
        s[i] = xt[i]! - x[i]!;
        y[i] = gt[i]! - g[i]!;
      }
      const sy = dot(s, y);
      const yy = dot(y, y);
      if (sy > 1e-10 * Math.sqrt(dot(s, s) * yy)) {
        rho[head] = 1 / sy;
        gamma = sy / yy;
        head = (head + 1) % m;
        stored = Math.min(stored + 1, m);
      }
    } else {
      gPrev.set(g);
    }
    x.set(xt);
    g.set(gt);
    f = fNew;
    iteration++;
    history.push(f);
    gnorm = normInf(g);
    const stop = options.onIteration?.({ iteration, f, gradNorm: gnorm, evaluations, step: alpha });
    if (gnorm <= gtol) return result(true, "gradient norm <= gtol");
    if (ftol > 0 && fOld - f <= ftol * Math.max(Math.abs(fOld), Math.abs(f), 1)) {
      return result(true, "relative reduction of f <= ftol");
    }
    if (stop === false) return result(false, "stopped by onIteration");

    if (ls.status === "failed") {
      // the best decreasing point was taken without the Wolfe conditions: restart cleanly
      alpha0 = steepest();
      isSteepest = true;
      slope = dot(g, d);
      continue;
    }
    const slopeOld = slope;
    if (method === "lbfgs") {
      // two-loop recursion: d = -H g
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      for (let k = 0, j = (head - 1 + m) % m; k < stored; k++, j = (j - 1 + m) % m) {
        const a = rho[j]! * dot(S[j]!, d);
        alphaBuf[j] = a;
        const y = Y[j]!;
        for (let i = 0; i < n; i++) d[i] = d[i]! - a * y[i]!;
      }
      if (stored > 0) for (let i = 0; i < n; i++) d[i] = d[i]! * gamma;
      for (let k = 0, j = (head - stored + m) % m; k < stored; k++, j = (j + 1) % m) {
        const b = rho[j]! * dot(Y[j]!, d);
        const s = S[j]!;
        const c = alphaBuf[j]! - b;
        for (let i = 0; i < n; i++) d[i] = d[i]! + c * s[i]!;
      }
      isSteepest = stored === 0;
      slope = dot(g, d);
      alpha0 = stored === 0 ? Math.min(1, 1 / Math.sqrt(dot(g, g))) : 1;
    } else {
      // Polak–Ribière+: beta = max(0, g·(g - gPrev) / gPrev·gPrev), with Powell's restart test:
      // back to steepest descent when successive gradients are far from orthogonal.
      let gg = 0;
      let ggp = 0;
      let den = 0;
      for (let i = 0; i < n; i++) {
        gg += g[i]! * g[i]!;
        ggp += g[i]! * gPrev[i]!;
        den += gPrev[i]! * gPrev[i]!;
      }
      const beta = den > 0 && Math.abs(ggp) < 0.2 * gg ? Math.max(0, (gg - ggp) / den) : 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]! + beta * d[i]!;
      isSteepest = beta === 0;
      slope = dot(g, d);
      // scale the previous step by the ratio of slopes (at most 100x), like fmincg
      alpha0 = slope < 0 ? alpha * Math.min(100, slopeOld / slope) : alpha;
    }
  }
}
