/**
 * Types and default tolerances shared by {@link gradcheck}, {@link gradgradcheck} and
 * {@link jvpcheck} (re-exported from `gradcheck.ts`).
 * @module
 */
import type { DType, Feed, NodeId, ParamStore } from "@gradgraph/core";
import type { JvpRules } from "../jvp/types.js";
import type { VjpRules } from "../vjp/types.js";

/**
 * How a check probes the derivative:
 * - `"exhaustive"`: the full Jacobian, entry by entry (one finite difference per `wrt` coordinate,
 *   one reverse pass per `of` coordinate);
 * - `"random"`: random directions `v` over the `wrt` coordinates and random cotangents `u` over
 *   the `of` coordinates, comparing `<u, J v>` (a few evaluations whatever the graph's size);
 * - `"auto"`: exhaustive when that costs at most {@link GradcheckOptions.autoLimit} evaluations,
 *   else random.
 */
export type GradcheckMode = "exhaustive" | "random" | "auto";

/**
 * How the finite-difference step of a coordinate is chosen: `"scaled"` (default) uses
 * `eps * max(1, |x|)` for a coordinate of value `x` (a relative step for large values), `"fixed"`
 * uses `eps` everywhere.
 */
export type GradcheckStep = "scaled" | "fixed";

/**
 * When the central difference is refined by Richardson extrapolation (central differences at `h`
 * and `h/2` combined as `(4 D(h/2) - D(h)) / 3`, which cancels the `h^2` error term):
 * `"auto"` (default) only for entries the plain central difference puts out of tolerance (two
 * more evaluations each), `"always"` for every entry, `"never"`.
 */
export type GradcheckRichardson = "auto" | "always" | "never";

/** Step size and tolerances used for one dtype. */
export interface GradcheckTolerance {
  /** Base finite-difference step (scaled by `max(1, |x|)` with the default {@link GradcheckStep}). */
  readonly eps: number;
  /** Relative tolerance. */
  readonly rtol: number;
  /** Absolute tolerance (also the floor of the relative error's denominator). */
  readonly atol: number;
  /**
   * Relative rounding error assumed for one evaluation of an output value (the dtype's unit
   * roundoff times a safety factor). The finite difference's rounding error it implies,
   * `roundoff * (|f(x + h)| + |f(x - h)|) / 2h` (three times that with Richardson extrapolation),
   * is added to the error an entry may have, so that large outputs do not fail correct gradients.
   */
  readonly roundoff: number;
  /**
   * Relative tolerance of the forward/reverse consistency entries of {@link jvpcheck} (both sides
   * are exact derivatives, so only rounding separates them).
   */
  readonly consistencyTol: number;
  /**
   * Absolute floor of the error a consistency entry of {@link jvpcheck} may have (a derivative that
   * is zero up to rounding, e.g. of a shift-invariant function, differs by rounding on both sides).
   */
  readonly consistencyAtol: number;
}

/**
 * Default step and tolerances per dtype. An entry passes when
 * `|analytic - numeric| <= max(atol, rtol * max(|analytic|, |numeric|)) + noise`, where `noise` is
 * the rounding error of the finite difference (see {@link GradcheckTolerance.roundoff}).
 *
 * - `float64` (the default): a central difference with step `h` errs by about
 *   `eps_mach * |f| / h` (rounding) plus `h^2 * |f'''| / 6` (truncation); with `h = 1e-5` (near the
 *   cube root of the machine epsilon) both are near `1e-11` for values of order 1. `roundoff` is
 *   16 units of roundoff (`16 * 2^-53`).
 * - `float32`: the graph runs in float32 (to check the float32 kernels too); rounding is about
 *   `1e-7 * |f| / h`, hence the larger step and loose tolerances.
 */
export const GRADCHECK_TOLERANCES: Readonly<Record<DType, GradcheckTolerance>> = Object.freeze({
  float64: Object.freeze({
    eps: 1e-5,
    rtol: 1e-6,
    atol: 1e-8,
    roundoff: 8 * 2 ** -53,
    consistencyTol: 1e-9,
    consistencyAtol: 1e-12,
  }),
  float32: Object.freeze({
    eps: 1e-3,
    rtol: 2e-2,
    atol: 1e-3,
    roundoff: 4 * 2 ** -24,
    consistencyTol: 1e-3,
    consistencyAtol: 1e-6,
  }),
});

/** Options of {@link gradcheck} (and the base of the other checks' options). */
export interface GradcheckOptions {
  /**
   * The output(s) to differentiate: output names or node ids (default: the graph's only output,
   * or its first one). Any shape: a non-scalar output, or several outputs, are checked through
   * their whole Jacobian (exhaustive mode) or through random cotangents (random mode).
   */
  of?: NodeId | string | readonly (NodeId | string)[];
  /**
   * Names of the params and inputs to check (default: every param `of` depends on). Inputs are
   * perturbed through the fed values.
   */
  wrt?: readonly string[];
  /**
   * Param values (copied, never changed). Params missing from it are initialised from their
   * declared initialisers with an Rng seeded by {@link GradcheckOptions.seed}.
   */
  params?: ParamStore;
  /** See {@link GradcheckMode} (default `"exhaustive"`). */
  mode?: GradcheckMode;
  /** Number of random directions in random mode (default 4). */
  directions?: number;
  /**
   * Random mode: one random direction per (`of`, `wrt`) pair instead of one over all of them, so
   * the report says which pair is wrong. Costs one reverse pass per `of` entry and two forward
   * evaluations per `wrt` entry per direction (default false).
   */
  perBlock?: boolean;
  /** Largest number of evaluations `"auto"` mode spends on an exhaustive check (default 1000). */
  autoLimit?: number;
  /**
   * Fixed cotangents `u`, by `of` name (default: none). With them the check compares the
   * vector-Jacobian product `J^T u` (the gradient of `<u, f>`) instead of the whole Jacobian
   * (exhaustive mode), or uses them instead of random cotangents (random mode). An `of` entry
   * missing from the record gets ones if it is a scalar, else random values.
   */
  cotangents?: Readonly<Record<string, Feed>>;
  /** Seed of the random directions and cotangents and of missing params' initialisation (default 0). */
  seed?: number;
  /**
   * The dtype the check runs in (default `"float64"`). `"float32"` runs the float32 kernels,
   * with the loose {@link GRADCHECK_TOLERANCES} of that dtype.
   */
  dtype?: DType;
  /** Base finite-difference step (default from {@link GRADCHECK_TOLERANCES}; Ng's ex4 uses 1e-4). */
  eps?: number;
  /** See {@link GradcheckStep} (default `"scaled"`). */
  step?: GradcheckStep;
  /** See {@link GradcheckRichardson} (default `"auto"`). */
  richardson?: GradcheckRichardson;
  /** Relative tolerance (default from {@link GRADCHECK_TOLERANCES}). */
  rtol?: number;
  /** Absolute tolerance (default from {@link GRADCHECK_TOLERANCES}). */
  atol?: number;
  /** Relative rounding error of one evaluation (default from {@link GRADCHECK_TOLERANCES}; 0 disables the noise allowance). */
  roundoff?: number;
  /** How many of the worst entries the report keeps (default 10). */
  topK?: number;
  /** VJP rules overriding the built-in ones while computing the analytic gradient (see `GradOptions.rules` of `grad`). */
  rules?: VjpRules;
}

/** Options of {@link gradgradcheck}. */
export interface GradgradcheckOptions extends GradcheckOptions {
  /**
   * The cotangents `u` of the first-order gradient `J^T u` (torch's `grad_outputs`), by `of` name.
   * Missing ones are ones for a scalar `of` (the gradient itself) and random values for others.
   */
  cotangents?: Readonly<Record<string, Feed>>;
  /**
   * Fixed cotangents of the second-order pass, by `wrt` name (the vector `w` of `w^T H`): with
   * them the check compares the gradient of `<w, grad f>` (a Hessian-vector product) with finite
   * differences instead of the whole second-order Jacobian. Default: none (full Jacobian in
   * exhaustive mode, random cotangents in random mode).
   */
  gradCotangents?: Readonly<Record<string, Feed>>;
  /**
   * Also check the derivatives with respect to the first-order cotangents of non-scalar `of`
   * entries (as torch's gradgradcheck does; the gradient is linear in them). Default true.
   */
  checkCotangents?: boolean;
}

/** Options of {@link jvpcheck}. */
export interface JvpcheckOptions extends Omit<GradcheckOptions, "perBlock" | "cotangents"> {
  /** JVP rules overriding the built-in ones (see `JvpOptions.rules` of `jvp`); `rules` overrides VJP rules. */
  jvpRules?: JvpRules;
  /** Also compare `J v` from `jvp` with finite differences element by element (default true). */
  finiteDifferences?: boolean;
  /** Relative tolerance of the consistency entries (default from {@link GRADCHECK_TOLERANCES}). */
  consistencyTol?: number;
  /** Absolute floor of the consistency entries' tolerance (default from {@link GRADCHECK_TOLERANCES}). */
  consistencyAtol?: number;
}

/**
 * What an entry compares:
 * - `"coordinate"`: one Jacobian entry `d of[outIndex] / d wrt[index]` (or, with cotangents, one
 *   coordinate of `J^T u`) against a finite difference;
 * - `"direction"`: `<u, J v>` along a random direction against a finite difference;
 * - `"tangent"` ({@link jvpcheck}): one element of `J v` from `jvp` against a finite difference;
 * - `"consistency"` ({@link jvpcheck}): forward mode against reverse mode, `<u, J v>` from `jvp`
 *   against `<J^T u, v>` from `grad` (or one Jacobian entry from each, in exhaustive mode).
 */
export type GradcheckEntryKind = "coordinate" | "direction" | "tangent" | "consistency";

/** One compared quantity. */
export interface GradcheckEntry {
  /** What is compared (see {@link GradcheckEntryKind}). */
  readonly kind: GradcheckEntryKind;
  /** The output (`of`) name; `"*"` when the entry mixes several outputs (random cotangents over all of them). */
  readonly of: string;
  /** Flat row-major index into `of` (0 for a scalar); -1 when the entry is contracted with a cotangent. */
  readonly outIndex: number;
  /** The same index per axis (empty for a scalar and for contracted entries). */
  readonly outMultiIndex: readonly number[];
  /** The param or input name (`"*"` for a random direction over all of them). */
  readonly wrt: string;
  /** Flat row-major index into `wrt`; in random mode, the direction's number. */
  readonly index: number;
  /** The same index per axis (empty for a scalar and in random mode). */
  readonly multiIndex: readonly number[];
  /** The value under test: the reverse-mode derivative (`jvp`'s, in {@link jvpcheck}). */
  readonly analytic: number;
  /** The reference: the finite difference (reverse mode's, for `"consistency"` entries). */
  readonly numeric: number;
  /** `|analytic - numeric|`. */
  readonly absError: number;
  /** `|analytic - numeric| / max(|analytic|, |numeric|, atol)`. */
  readonly relError: number;
  /** The error allowed: `max(atol, rtol * max(|analytic|, |numeric|)) + noise` (see {@link GRADCHECK_TOLERANCES}). */
  readonly allowed: number;
  /** The finite difference's estimated rounding error included in `allowed` (0 for consistency entries). */
  readonly noise: number;
  /** True when `numeric` is a Richardson extrapolation (see {@link GradcheckRichardson}). */
  readonly refined: boolean;
  /** `absError / allowed`; above 1 fails (NaN counts as infinite). */
  readonly tolRatio: number;
}

/** Summary of the entries of one (`of`, `wrt`) pair. */
export interface GradcheckBlock {
  /** The output name (`"*"` for entries over all outputs). */
  readonly of: string;
  /** The param or input name (`"*"` for directions over all of them). */
  readonly wrt: string;
  /** Entries compared. */
  readonly checked: number;
  /** Entries out of tolerance. */
  readonly failures: number;
  /** Largest {@link GradcheckEntry.relError}. */
  readonly maxRelError: number;
  /** Largest {@link GradcheckEntry.absError}. */
  readonly maxAbsError: number;
  /** The entry with the largest {@link GradcheckEntry.tolRatio}. */
  readonly worst: GradcheckEntry;
}

/** The result of {@link gradcheck}, {@link gradgradcheck} and {@link jvpcheck}. */
export interface GradcheckReport {
  /** Which check produced it. */
  readonly check: "gradcheck" | "gradgradcheck" | "jvpcheck";
  /** True when every entry is within tolerance. */
  readonly ok: boolean;
  /** The mode used (`"auto"` resolved). */
  readonly mode: Exclude<GradcheckMode, "auto">;
  /** The dtype the check ran in. */
  readonly dtype: DType;
  /** The base step used. */
  readonly eps: number;
  /** How steps were chosen. */
  readonly step: GradcheckStep;
  /** When Richardson extrapolation was used. */
  readonly richardson: GradcheckRichardson;
  /** The relative tolerance used. */
  readonly rtol: number;
  /** The absolute tolerance used. */
  readonly atol: number;
  /** The relative rounding error assumed per evaluation. */
  readonly roundoff: number;
  /** Outputs checked (for {@link gradgradcheck}, the gradient outputs `grad:<name>`). */
  readonly of: readonly string[];
  /** Names checked. */
  readonly wrt: readonly string[];
  /** Number of entries compared. */
  readonly checked: number;
  /** Number of entries out of tolerance. */
  readonly failures: number;
  /** Largest {@link GradcheckEntry.relError}. */
  readonly maxRelError: number;
  /** Largest {@link GradcheckEntry.absError}. */
  readonly maxAbsError: number;
  /**
   * `||analytic - numeric|| / ||analytic + numeric||` over all entries (Euclidean norms; 0 when
   * both are zero): the summary figure of Andrew Ng's ex4, where a correct gradient gives < 1e-9.
   */
  readonly normRelError: number;
  /** The worst entries (largest {@link GradcheckEntry.tolRatio} first), at most `topK`. */
  readonly worst: readonly GradcheckEntry[];
  /** One summary per (`of`, `wrt`) pair, in the order of `of`, then of `wrt`. */
  readonly blocks: readonly GradcheckBlock[];
  /** Number of entries whose finite difference was refined by Richardson extrapolation. */
  readonly refined: number;
  /** Number of graph evaluations run (forward passes, reverse passes and forward-mode passes). */
  readonly evaluations: number;
}
