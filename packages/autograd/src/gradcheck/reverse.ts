/**
 * The reverse-mode check behind {@link gradcheck} and {@link gradgradcheck}: the Jacobian (or
 * `<u, J v>` along random directions) from `grad` against finite differences.
 * @internal
 * @module
 */
import { type DType, type Feeds, type Graph, Rng, sizeOf } from "@gradgraph/core";
import { checkCotangentNames, type Difference, multiIndexOf, normals, Probe, userVector } from "./probe.js";
import { type EntryInit, fdEntry, type ReportHeader, summarize } from "./report.js";
import {
  GRADCHECK_TOLERANCES,
  type GradcheckEntry,
  type GradcheckMode,
  type GradcheckOptions,
  type GradcheckReport,
  type GradcheckRichardson,
  type GradcheckStep,
} from "./types.js";

/**
 * Options with their defaults resolved and checked.
 * @internal
 */
export interface Settings {
  /** The check's dtype. */
  readonly dtype: DType;
  /** The requested mode (`"auto"` not yet resolved). */
  readonly mode: GradcheckMode;
  /** Base step. */
  readonly eps: number;
  /** Relative tolerance. */
  readonly rtol: number;
  /** Absolute tolerance. */
  readonly atol: number;
  /** Relative rounding error of one evaluation. */
  readonly roundoff: number;
  /** How steps are chosen. */
  readonly step: GradcheckStep;
  /** When differences are extrapolated. */
  readonly richardson: GradcheckRichardson;
  /** Random directions. */
  readonly directions: number;
  /** Evaluation budget of auto mode. */
  readonly autoLimit: number;
  /** Seed of directions, cotangents and missing params. */
  readonly seed: number;
  /** Worst entries kept. */
  readonly topK: number;
}

/**
 * Resolves and validates the common options.
 * @internal
 */
export function resolveSettings(who: string, options: GradcheckOptions): Settings {
  const dtype = options.dtype ?? "float64";
  const defaults = GRADCHECK_TOLERANCES[dtype];
  if (!defaults) throw new RangeError(`${who}: unknown dtype ${JSON.stringify(dtype)}`);
  const s: Settings = {
    dtype,
    mode: options.mode ?? "exhaustive",
    eps: options.eps ?? defaults.eps,
    rtol: options.rtol ?? defaults.rtol,
    atol: options.atol ?? defaults.atol,
    roundoff: options.roundoff ?? defaults.roundoff,
    step: options.step ?? "scaled",
    richardson: options.richardson ?? "auto",
    directions: options.directions ?? 4,
    autoLimit: options.autoLimit ?? 1000,
    seed: options.seed ?? 0,
    topK: options.topK ?? 10,
  };
  if (!(s.eps > 0) || !Number.isFinite(s.eps))
    throw new RangeError(`${who}: eps must be positive, got ${s.eps}`);
  if (!(s.rtol >= 0) || !(s.atol >= 0) || !(s.roundoff >= 0)) {
    throw new RangeError(`${who}: rtol, atol and roundoff must be non-negative`);
  }
  if (s.mode !== "exhaustive" && s.mode !== "random" && s.mode !== "auto") {
    throw new RangeError(`${who}: unknown mode ${JSON.stringify(s.mode)}`);
  }
  if (s.step !== "scaled" && s.step !== "fixed") {
    throw new RangeError(`${who}: unknown step ${JSON.stringify(s.step)} (use "scaled" or "fixed")`);
  }
  if (s.richardson !== "auto" && s.richardson !== "always" && s.richardson !== "never") {
    throw new RangeError(
      `${who}: unknown richardson ${JSON.stringify(s.richardson)} (use "auto", "always" or "never")`,
    );
  }
  if (!Number.isInteger(s.directions) || s.directions < 1) {
    throw new RangeError(`${who}: directions must be a positive integer, got ${s.directions}`);
  }
  return s;
}

/**
 * The header fields of a report.
 * @internal
 */
export function headerOf(
  check: GradcheckReport["check"],
  mode: GradcheckReport["mode"],
  s: Settings,
  probe: Probe,
): ReportHeader {
  return {
    check,
    mode,
    dtype: s.dtype,
    eps: s.eps,
    step: s.step,
    richardson: s.richardson,
    rtol: s.rtol,
    atol: s.atol,
    roundoff: s.roundoff,
    of: probe.ofNames,
    wrt: probe.wrt,
    evaluations: probe.evaluations,
  };
}

/**
 * One random direction per target (normal, unit norm over the given targets together), scaled
 * per coordinate by `max(1, |x|)` with scaled steps; null for targets not in `only`.
 * @internal
 */
export function randomDirection(
  probe: Probe,
  rng: Rng,
  scaled: boolean,
  only?: number,
): { v: (Float64Array | null)[]; enlarged: boolean } {
  const v = probe.targets.map((t, k) => (only === undefined || only === k ? new Float64Array(t.size) : null));
  let norm = 0;
  for (const vk of v) {
    if (!vk) continue;
    rng.fillNormal(vk);
    for (let i = 0; i < vk.length; i++) norm += vk[i]! * vk[i]!;
  }
  norm = Math.sqrt(norm) || 1;
  let enlarged = false;
  v.forEach((vk, k) => {
    if (!vk) return;
    const x0 = probe.targets[k]!.x0;
    for (let i = 0; i < vk.length; i++) {
      const scale = scaled ? Math.max(1, Math.abs(x0[i]!)) : 1;
      if (scale > 1) enlarged = true;
      vk[i] = (vk[i]! / norm) * scale;
    }
  });
  return { v, enlarged };
}

/**
 * `dot(a, b)`.
 * @internal
 */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** `sum |a_i| * b_i`. */
function absDot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]!) * b[i]!;
  return s;
}

/**
 * The reverse-mode Jacobian, row by row: `rows[i][r][k]` is row `r` of output `i` restricted to
 * target `k` (one reverse pass per output coordinate).
 * @internal
 */
export function reverseJacobian(probe: Probe): Float64Array[][][] {
  return probe.ofShapes.map((shape, i) => {
    const m = sizeOf(shape);
    const rows: Float64Array[][] = [];
    const u = new Float64Array(m);
    for (let r = 0; r < m; r++) {
      u.fill(0);
      u[r] = 1;
      rows.push(probe.vjp(i, u));
    }
    return rows;
  });
}

/**
 * Judges `make(d)` with the coarse difference, or with the refined one when `richardson` asks for
 * it: always, or in auto mode when the step was `enlarged` by the scaling (a step above `eps` has a
 * larger truncation error, which the extrapolation removes) or when an entry fails.
 * @internal
 */
export function judged(
  richardson: GradcheckRichardson,
  enlarged: boolean,
  coarse: Difference,
  refine: (coarse: Difference) => Difference,
  make: (d: Difference) => GradcheckEntry[],
): GradcheckEntry[] {
  if (richardson === "always" || (richardson === "auto" && enlarged)) return make(refine(coarse));
  const entries = make(coarse);
  if (richardson === "never" || entries.every((e) => e.tolRatio <= 1)) return entries;
  return make(refine(coarse));
}

/**
 * The {@link Probe} of a check: `options`' `of`, `wrt`, `params` and VJP `rules`, with the
 * resolved settings' seed, dtype and roundoff.
 * @internal
 */
export function probeOf(
  who: string,
  graph: Graph,
  feeds: Feeds,
  options: Pick<GradcheckOptions, "of" | "wrt" | "params" | "rules">,
  s: Settings,
): Probe {
  return new Probe(graph, feeds, {
    who,
    of: options.of,
    wrt: options.wrt,
    params: options.params,
    seed: s.seed,
    dtype: s.dtype,
    roundoff: s.roundoff,
    rules: options.rules,
  });
}

/**
 * {@link judged} entries of coordinate `e` of target `k`, differenced with its step
 * (`probe.stepOf`, scaled or not as `s.step` says).
 * @internal
 */
export function judgedCoordinate(
  probe: Probe,
  s: Settings,
  k: number,
  e: number,
  make: (d: Difference) => GradcheckEntry[],
): GradcheckEntry[] {
  const h = probe.stepOf(k, e, s.eps, s.step === "scaled");
  return judged(
    s.richardson,
    h > s.eps,
    probe.coordinate(k, e, h),
    (c) => probe.coordinate(k, e, h, c),
    make,
  );
}

/**
 * {@link judged} entries along the direction `v` (from {@link randomDirection}, `enlarged` when
 * its scaling made the step larger than `eps`).
 * @internal
 */
export function judgedDirection(
  probe: Probe,
  s: Settings,
  v: readonly (Float64Array | null)[],
  enlarged: boolean,
  make: (d: Difference) => GradcheckEntry[],
): GradcheckEntry[] {
  return judged(s.richardson, enlarged, probe.direction(v, s.eps), (c) => probe.direction(v, s.eps, c), make);
}

/**
 * The first-order check on an arbitrary graph (`gradcheck`, and `gradgradcheck` on the gradient
 * graph): see {@link gradcheck}.
 * @internal
 */
export function runGradcheck(
  graph: Graph,
  feeds: Feeds,
  options: GradcheckOptions,
  check: "gradcheck" | "gradgradcheck",
): GradcheckReport {
  const s = resolveSettings(check, options);
  const probe = probeOf(check, graph, feeds, options, s);
  try {
    const given = options.cotangents ?? {};
    checkCotangentNames(check, given, probe.ofNames);
    const fixed = probe.ofNames.map((name, i) =>
      Object.hasOwn(given, name)
        ? userVector(check, `cotangent of '${name}'`, given[name]!, probe.ofShapes[i]!)
        : null,
    );
    const contracted = fixed.some((u) => u !== null);
    let mode: GradcheckReport["mode"];
    if (s.mode === "auto") {
      const cost = (contracted ? probe.ofShapes.length : probe.outputSize) + 2 * probe.inputSize;
      mode = cost <= s.autoLimit ? "exhaustive" : "random";
    } else mode = s.mode;
    const entries =
      mode === "exhaustive"
        ? contracted
          ? exhaustiveContracted(probe, s, fixed)
          : exhaustive(probe, s)
        : random(probe, s, fixed, options.perBlock ?? false);
    return summarize(headerOf(check, mode, s, probe), entries, s.topK);
  } finally {
    probe.dispose();
  }
}

/** Every entry of the Jacobian of every output with respect to every target. */
function exhaustive(probe: Probe, s: Settings): GradcheckEntry[] {
  const rows = reverseJacobian(probe);
  const entries: GradcheckEntry[] = [];
  probe.targets.forEach((t, k) => {
    for (let e = 0; e < t.size; e++) {
      const multiIndex = multiIndexOf(e, t.shape);
      const make = (d: Difference): GradcheckEntry[] => {
        const out: GradcheckEntry[] = [];
        probe.ofShapes.forEach((shape, i) => {
          const ri = rows[i]!;
          for (let r = 0; r < ri.length; r++) {
            const init: EntryInit = {
              kind: "coordinate",
              of: probe.ofNames[i]!,
              outIndex: r,
              outMultiIndex: multiIndexOf(r, shape),
              wrt: t.name,
              index: e,
              multiIndex,
              analytic: ri[r]![k]![e]!,
              numeric: d.d[i]![r]!,
              noise: d.noise[i]![r]!,
              refined: d.refined,
            };
            out.push(fdEntry(init, s.rtol, s.atol));
          }
        });
        return out;
      };
      entries.push(...judgedCoordinate(probe, s, k, e, make));
    }
  });
  return entries;
}

/** Cotangents of every output: the given ones, else ones for a scalar and random values otherwise. */
function cotangentsOf(probe: Probe, fixed: readonly (Float64Array | null)[], rng: Rng): Float64Array[] {
  return probe.ofShapes.map((shape, i) => {
    const given = fixed[i];
    if (given) return given;
    const n = sizeOf(shape);
    return n === 1 && probe.ofShapes.length === 1 ? new Float64Array([1]) : normals(rng, n);
  });
}

/** `J^T u` coordinate by coordinate against the finite differences of `<u, f>`. */
function exhaustiveContracted(
  probe: Probe,
  s: Settings,
  fixed: readonly (Float64Array | null)[],
): GradcheckEntry[] {
  const u = cotangentsOf(probe, fixed, new Rng(s.seed ^ 0xc07a));
  const g = probe.targets.map((t) => new Float64Array(t.size));
  u.forEach((ui, i) => {
    probe.vjp(i, ui).forEach((gk, k) => {
      const acc = g[k]!;
      for (let e = 0; e < acc.length; e++) acc[e]! += gk[e]!;
    });
  });
  const of = probe.ofNames.length === 1 ? probe.ofNames[0]! : "*";
  const entries: GradcheckEntry[] = [];
  probe.targets.forEach((t, k) => {
    for (let e = 0; e < t.size; e++) {
      const make = (d: Difference): GradcheckEntry[] => [
        fdEntry(
          {
            kind: "coordinate",
            of,
            outIndex: -1,
            outMultiIndex: [],
            wrt: t.name,
            index: e,
            multiIndex: multiIndexOf(e, t.shape),
            analytic: g[k]![e]!,
            numeric: u.reduce((acc, ui, i) => acc + dot(ui, d.d[i]!), 0),
            noise: u.reduce((acc, ui, i) => acc + absDot(ui, d.noise[i]!), 0),
            refined: d.refined,
          },
          s.rtol,
          s.atol,
        ),
      ];
      entries.push(...judgedCoordinate(probe, s, k, e, make));
    }
  });
  return entries;
}

/** `<J^T u, v>` against the finite difference of `<u, f>` along `v`, for random `u` and `v`. */
function random(
  probe: Probe,
  s: Settings,
  fixed: readonly (Float64Array | null)[],
  perBlock: boolean,
): GradcheckEntry[] {
  const rng = new Rng(s.seed ^ 0x5eed);
  const rngU = new Rng(s.seed ^ 0xc07a);
  const scaled = s.step === "scaled";
  const single = probe.ofShapes.length === 1 && sizeOf(probe.ofShapes[0]!) === 1 && !fixed[0];
  // a cotangent that is the same for every direction needs one reverse pass only
  const constant = probe.ofShapes.map((shape, i) => fixed[i] !== null || (single && sizeOf(shape) === 1));
  const cache = new Map<number, Float64Array[]>();
  const vjp = (i: number, u: Float64Array) => {
    if (!constant[i]) return probe.vjp(i, u);
    let g = cache.get(i);
    if (!g) {
      g = probe.vjp(i, u);
      cache.set(i, g);
    }
    return g;
  };
  const entries: GradcheckEntry[] = [];
  const outIndex = single ? 0 : -1;
  for (let d = 0; d < s.directions; d++) {
    const u = cotangentsOf(probe, fixed, rngU);
    if (!perBlock) {
      const { v, enlarged } = randomDirection(probe, rng, scaled);
      let analytic = 0;
      u.forEach((ui, i) => {
        vjp(i, ui).forEach((gk, k) => {
          analytic += dot(gk, v[k]!);
        });
      });
      const make = (diff: Difference): GradcheckEntry[] => [
        fdEntry(
          {
            kind: "direction",
            of: probe.ofNames.length === 1 ? probe.ofNames[0]! : "*",
            outIndex,
            outMultiIndex: [],
            wrt: "*",
            index: d,
            multiIndex: [],
            analytic,
            numeric: u.reduce((acc, ui, i) => acc + dot(ui, diff.d[i]!), 0),
            noise: u.reduce((acc, ui, i) => acc + absDot(ui, diff.noise[i]!), 0),
            refined: diff.refined,
          },
          s.rtol,
          s.atol,
        ),
      ];
      entries.push(...judgedDirection(probe, s, v, enlarged, make));
      continue;
    }
    const g = u.map((ui, i) => vjp(i, ui));
    probe.targets.forEach((t, k) => {
      const { v, enlarged } = randomDirection(probe, rng, scaled, k);
      const make = (diff: Difference): GradcheckEntry[] =>
        u.map((ui, i) =>
          fdEntry(
            {
              kind: "direction",
              of: probe.ofNames[i]!,
              outIndex,
              outMultiIndex: [],
              wrt: t.name,
              index: d,
              multiIndex: [],
              analytic: dot(g[i]![k]!, v[k]!),
              numeric: dot(ui, diff.d[i]!),
              noise: absDot(ui, diff.noise[i]!),
              refined: diff.refined,
            },
            s.rtol,
            s.atol,
          ),
        );
      entries.push(...judgedDirection(probe, s, v, enlarged, make));
    });
  }
  return entries;
}
