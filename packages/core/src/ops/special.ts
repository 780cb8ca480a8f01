/**
 * Scalar special functions shared by the elementwise ops (`erf`, `gelu`). Each is used both as a
 * plain function and, through its source text, inside generated (fused) loops, so the fast
 * forms are self-contained: their coefficients are written into the text as number literals.
 *
 * `erfc(z)` for `z >= 0` is `t · exp(-z² + P(t))` with `t = 2 / (2 + z)` and `P` a Chebyshev
 * series in `2t - 1` (the form of Numerical Recipes' `erfccheb`). Its coefficients are computed
 * here, once, when the module loads, from a slow but accurate evaluation (a positive series below
 * 1, a continued fraction of 2000 terms above), by interpolation at Chebyshev nodes. `erf` uses its Taylor
 * series for `|x| < 0.5` (no cancellation near 0) and `1 - erfc(|x|)` beyond. Measured against
 * quadrature, both are within 1e-13 relative over the reals (erfc down to the smallest normal
 * numbers, near z = 26.5; erfc additionally carries the rounding of `z²`, 1e-16 · z² relative).
 * Cost: a 24-term Clenshaw sum and one `exp`, about 80 ns a value (tanh: about 15 ns).
 * @module
 */
import { generateFunction } from "../specialize.js";

/** `erfc(z) · exp(z²)` for `z >= 0`, slowly and accurately (used to fit the fast form). */
function scaledErfcSlow(z: number): number {
  if (z < 1) {
    const z2 = z * z;
    let term = z;
    let s = z;
    for (let n = 1; n < 200; n++) {
      term *= (2 * z2) / (2 * n + 1);
      s += term;
      if (term < s * 1e-17) break;
    }
    // erfc = 1 - 2/√π e^{-z²} s
    return Math.exp(z2) - 1.1283791670955126 * s;
  }
  let f = z;
  for (let k = 2000; k >= 1; k--) f = z + (k * 0.5) / f;
  return 0.5641895835477563 / f;
}

/** Number of Chebyshev nodes the fit uses. */
const NFIT = 48;

/** Number of Chebyshev coefficients kept (the next ones are below 1e-14). */
const NCOF = 24;

/** Chebyshev coefficients of `P(t) = log(erfc(z) e^{z²} / t)`, `z = 2/t - 2`, in `u = 2t - 1`. */
function fitCoefficients(): number[] {
  const values: number[] = [];
  for (let k = 0; k < NFIT; k++) {
    const u = Math.cos((Math.PI * (k + 0.5)) / NFIT);
    const t = (u + 1) / 2;
    const z = 2 / t - 2;
    values.push(Math.log(scaledErfcSlow(z) / t));
  }
  const c: number[] = [];
  for (let j = 0; j < NCOF; j++) {
    let s = 0;
    for (let k = 0; k < NFIT; k++) s += values[k]! * Math.cos((Math.PI * j * (k + 0.5)) / NFIT);
    c.push((2 / NFIT) * s);
  }
  c[0] = c[0]! / 2;
  return c;
}

/** Taylor coefficients of `erf(x) / x` in `x²`: `2/√π (-1)^n / (n! (2n + 1))`. */
function taylorCoefficients(): number[] {
  const c: number[] = [];
  let fact = 1;
  for (let n = 0; n < 16; n++) {
    if (n > 0) fact *= n;
    c.push(((n % 2 ? -1 : 1) * 1.1283791670955126) / (fact * (2 * n + 1)));
  }
  return c;
}

const lit = (v: number) => `(${String(v)})`;

/** Index of the last coefficient whose magnitude exceeds `bound`. */
function lastAbove(c: readonly number[], bound: number): number {
  let k = c.length - 1;
  while (k > 0 && Math.abs(c[k]!) <= bound) k--;
  return k;
}

/** Source of `erfc(|x|)` for a variable `z >= 0` (a Clenshaw sum with literal coefficients). */
function erfcPositiveSource(coef: readonly number[]): string {
  const lines = [
    "const t = 2 / (2 + z);",
    "const u2 = 2 * (2 * t - 1);",
    "let d = 0;",
    "let dd = 0;",
    "let tmp = 0;",
  ];
  for (let j = coef.length - 1; j >= 1; j--)
    lines.push(`tmp = d; d = u2 * d - dd + ${lit(coef[j]!)}; dd = tmp;`);
  lines.push(`const p = (u2 / 2) * d - dd + ${lit(coef[0]!)};`);
  lines.push("const r = t * Math.exp(-z * z + p);");
  return lines.join(" ");
}

const CHEB = fitCoefficients();
const TAYLOR = taylorCoefficients();

/**
 * The 24 Chebyshev coefficients of `erfc` (see the module doc: `erfc(z) = t · exp(-z² + P(t))`,
 * `t = 2 / (2 + z)`, `P` summed by Clenshaw's recurrence in `2t - 1`), as the float64 functions
 * use them; exported so other evaluators (the ONNX exporter's float64 composite) can repeat the
 * same arithmetic.
 */
export const ERFC_CHEBYSHEV: readonly number[] = Object.freeze(CHEB);

/** The 16 Taylor coefficients of `erf(x) / x` in `x²` that the float64 `erf` uses for `|x| < 0.5`. */
export const ERF_TAYLOR: readonly number[] = Object.freeze(TAYLOR);

/**
 * The Chebyshev series of `erfc` shortened for float32 results (12 coefficients, in `2t - 1` with
 * `t = 2 / (2 + z)`; see the module doc): terms below 1e-8 are dropped, which keeps the error
 * (measured: below 1e-8 relative) under float32's rounding (6e-8 relative) and makes the function
 * about twice as fast. Used by the float32 JavaScript loops and the WebAssembly SIMD kernels
 * (`backend/elementwise-wasm.ts`).
 */
export const CHEB_F32: readonly number[] = CHEB.slice(0, lastAbove(CHEB, 1e-8) + 1);

/**
 * The Taylor series of `erf(x) / x` in `x²` shortened for float32 results (used for `|x| < 0.5`):
 * terms below 1e-9 at `|x| = 0.5` are dropped. Shared like `CHEB_F32`.
 */
export const TAYLOR_F32: readonly number[] = TAYLOR.slice(
  0,
  TAYLOR.findIndex((c, n) => Math.abs(c) * 0.25 ** n < 1e-9) + 1,
);

function erfcSource(cheb: readonly number[]): string {
  return `(function erfc(x) { const z = x < 0 ? -x : x; ${erfcPositiveSource(cheb)} if (x !== x) return x; return x < 0 ? 2 - r : r; })`;
}

function erfSource(cheb: readonly number[], taylor: readonly number[]): string {
  let horner = lit(taylor[taylor.length - 1]!);
  for (let n = taylor.length - 2; n >= 0; n--) horner = `(${horner} * x2 + ${lit(taylor[n]!)})`;
  return `(function erf(x) { const z = x < 0 ? -x : x; if (z < 0.5) { const x2 = x * x; return x * ${horner}; } ${erfcPositiveSource(cheb)} if (x !== x) return x; return x < 0 ? r - 1 : 1 - r; })`;
}

/** Source text of the fast `erfc`, a self-contained function expression. */
export const ERFC_SOURCE = erfcSource(CHEB);

/** Source text of the fast `erf`, a self-contained function expression. */
export const ERF_SOURCE = erfSource(CHEB, TAYLOR);

/**
 * Functions that generated elementwise loops call by name (`__gg_erf(x)`, `__gg_erfc(x)`): a loop
 * whose expression uses one declares it once, outside the loop, with the source for the loop's
 * dtype. (A function expression written inside the loop body was created anew for every element,
 * and cost 1.8x the hoisted call.) float32 loops get the shortened series.
 */
export const ELEMENTWISE_HELPERS: Readonly<
  Record<string, { readonly float64: string; readonly float32: string }>
> = {
  __gg_erf: { float64: ERF_SOURCE, float32: erfSource(CHEB_F32, TAYLOR_F32) },
  __gg_erfc: { float64: ERFC_SOURCE, float32: erfcSource(CHEB_F32) },
};

/** The same arithmetic as {@link ERFC_SOURCE}, for runtimes where code generation is forbidden. */
function erfcFallback(x: number): number {
  const z = x < 0 ? -x : x;
  if (Number.isNaN(x)) return x;
  const t = 2 / (2 + z);
  const u2 = 2 * (2 * t - 1);
  let d = 0;
  let dd = 0;
  for (let j = CHEB.length - 1; j >= 1; j--) {
    const tmp = d;
    d = u2 * d - dd + CHEB[j]!;
    dd = tmp;
  }
  const r = t * Math.exp(-z * z + ((u2 / 2) * d - dd + CHEB[0]!));
  return x < 0 ? 2 - r : r;
}

/** The same arithmetic as {@link ERF_SOURCE}, for runtimes where code generation is forbidden. */
function erfFallback(x: number): number {
  const z = x < 0 ? -x : x;
  if (z < 0.5) {
    const x2 = x * x;
    let h = TAYLOR[TAYLOR.length - 1]!;
    for (let n = TAYLOR.length - 2; n >= 0; n--) h = h * x2 + TAYLOR[n]!;
    return x * h;
  }
  if (Number.isNaN(x)) return x;
  const r = erfcFallback(z);
  return x < 0 ? r - 1 : 1 - r;
}

/**
 * The complementary error function `erfc(x) = 1 - erf(x)`, about 1e-15 relative over the reals
 * (no cancellation for large positive `x`; `erfc(-x) = 2 - erfc(x)`). NaN gives NaN.
 */
export const erfcScalar: (x: number) => number = generateFunction(ERFC_SOURCE, () => erfcFallback);

/** The error function `erf(x) = 2/√π ∫₀ˣ exp(-t²) dt`, about 1e-15 relative over the reals. NaN gives NaN. */
export const erfScalar: (x: number) => number = generateFunction(ERF_SOURCE, () => erfFallback);
