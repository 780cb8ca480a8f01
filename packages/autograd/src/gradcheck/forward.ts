/**
 * {@link jvpcheck}: forward mode (`jvp`) against reverse mode (`grad`) and finite differences.
 * @module
 */
import { type Feeds, type Graph, Rng, sizeOf } from "@gradgraph/core";
import { type Difference, multiIndexOf, normals, type Probe } from "./probe.js";
import { type EntryInit, fdEntry, relEntry, summarize } from "./report.js";
import {
  dot,
  headerOf,
  judgedCoordinate,
  judgedDirection,
  probeOf,
  randomDirection,
  resolveSettings,
  reverseJacobian,
} from "./reverse.js";
import {
  GRADCHECK_TOLERANCES,
  type GradcheckEntry,
  type GradcheckReport,
  type JvpcheckOptions,
} from "./types.js";

const WHO = "jvpcheck";

/**
 * Checks forward mode, like `jax.test_util.check_grads(modes=["fwd", "rev"])` and torch's
 * `check_forward_ad`: `jvp` of the `of` outputs with respect to `wrt` is compared
 *
 * - with reverse mode: `<u, J v>` from `jvp` must equal `<J^T u, v>` from `grad`, for random
 *   directions `v` and cotangents `u` per (`of`, `wrt`) pair (random mode), or every Jacobian
 *   entry from one against the other (exhaustive mode; `"auto"`, the default, picks it for small
 *   graphs). Both sides are exact, so they may differ by rounding only: `consistencyTol` times
 *   the magnitude involved (the larger sum of absolute terms of the two dot products, or the
 *   entry, and at least the largest such magnitude over the output's blocks), and at least
 *   `consistencyAtol`. These are the `"consistency"` entries;
 * - with finite differences (unless `finiteDifferences: false`): every element of `J v` against
 *   the central difference along `v` (the `"tangent"` entries), with gradcheck's tolerances,
 *   rounding allowance and Richardson refinement.
 *
 * A wrong JVP rule fails both; a wrong VJP rule fails the consistency entries only (check it with
 * {@link gradcheck}). `rules` overrides VJP rules, `jvpRules` JVP rules. In random mode each
 * direction costs one forward-mode run and two (finite-difference) forward runs per `wrt` entry
 * and one reverse pass per `of` entry.
 * @param graph any graph; it is cast to `options.dtype` (float64 by default)
 * @param feeds values of the inputs (any dtype; converted)
 * @param options what to check and how (see {@link JvpcheckOptions})
 * @returns a report whose `analytic` values come from `jvp` and `numeric` values are the
 *   references (finite differences, or reverse mode for consistency entries)
 * @example
 * const report = jvpcheck(graph, { x }, { of: ["logits", "loss"], wrt: ["x", "W"] });
 * if (!report.ok) console.log(formatGradcheckReport(report));
 */
export function jvpcheck(graph: Graph, feeds: Feeds = {}, options: JvpcheckOptions = {}): GradcheckReport {
  const s = resolveSettings(WHO, { ...options, mode: options.mode ?? "auto" });
  const tol = options.consistencyTol ?? GRADCHECK_TOLERANCES[s.dtype].consistencyTol;
  const cAtol = options.consistencyAtol ?? GRADCHECK_TOLERANCES[s.dtype].consistencyAtol;
  if (!(tol >= 0)) throw new RangeError(`${WHO}: consistencyTol must be non-negative, got ${tol}`);
  if (!(cAtol >= 0)) throw new RangeError(`${WHO}: consistencyAtol must be non-negative, got ${cAtol}`);
  const fd = options.finiteDifferences ?? true;
  const probe = probeOf(WHO, graph, feeds, options, s);
  try {
    const runJvp = probe.jvpRunner(options.jvpRules);
    let mode: GradcheckReport["mode"];
    if (s.mode === "auto") {
      const n = probe.inputSize;
      mode = probe.outputSize + n * (fd ? 3 : 1) <= s.autoLimit ? "exhaustive" : "random";
    } else mode = s.mode;
    const scaled = s.step === "scaled";
    const entries: GradcheckEntry[] = [];

    // Both sides of a consistency entry are exact derivatives, so they differ by rounding only,
    // relative to the magnitudes involved: the entry's, its output's largest block (an entry that
    // cancels to ~0 next to entries of order 1 carries their rounding) and `consistencyAtol`.
    const consistency = (init: EntryInit, scale: number, outputScale: number) =>
      relEntry(init, tol, Math.max(scale, outputScale), s.atol, cAtol);
    if (mode === "exhaustive") {
      const rows = reverseJacobian(probe);
      // forward-mode columns: columns[k][e][i] is column e of target k, for output i
      const columns = probe.targets.map((t, k) => {
        const basis = probe.targets.map(() => null as Float64Array | null);
        const v = new Float64Array(t.size);
        basis[k] = v;
        const out: Float64Array[][] = [];
        for (let e = 0; e < t.size; e++) {
          v.fill(0);
          v[e] = 1;
          out.push(runJvp(basis));
        }
        return out;
      });
      const outputMax = probe.ofShapes.map((shape, i) => {
        let max = 0;
        probe.targets.forEach((t, k) => {
          for (let e = 0; e < t.size; e++) {
            for (let r = 0; r < sizeOf(shape); r++) {
              max = Math.max(max, Math.abs(columns[k]![e]![i]![r]!), Math.abs(rows[i]![r]![k]![e]!));
            }
          }
        });
        return max;
      });
      probe.targets.forEach((t, k) => {
        probe.ofShapes.forEach((shape, i) => {
          for (let e = 0; e < t.size; e++) {
            for (let r = 0; r < sizeOf(shape); r++) {
              const a = columns[k]![e]![i]![r]!;
              const b = rows[i]![r]![k]![e]!;
              const init: EntryInit = {
                kind: "consistency",
                of: probe.ofNames[i]!,
                outIndex: r,
                outMultiIndex: multiIndexOf(r, shape),
                wrt: t.name,
                index: e,
                multiIndex: multiIndexOf(e, t.shape),
                analytic: a,
                numeric: b,
                noise: 0,
                refined: false,
              };
              entries.push(consistency(init, Math.max(Math.abs(a), Math.abs(b)), outputMax[i]!));
            }
          }
        });
        if (!fd) return;
        for (let e = 0; e < t.size; e++) {
          const make = (d: Difference) =>
            tangentEntries(probe, s, columns[k]![e]!, d, t.name, e, multiIndexOf(e, t.shape));
          entries.push(...judgedCoordinate(probe, s, k, e, make));
        }
      });
    } else {
      const rng = new Rng(s.seed ^ 0x7a9e);
      const rngU = new Rng(s.seed ^ 0xc07a);
      for (let d = 0; d < s.directions; d++) {
        const u = probe.ofShapes.map((shape) => normals(rngU, sizeOf(shape)));
        const g = u.map((ui, i) => probe.vjp(i, ui));
        // per target: its direction, J v, and per output the two dot products with their scales
        const blocks = probe.targets.map((t, k) => {
          const { v, enlarged } = randomDirection(probe, rng, scaled, k);
          const jv = runJvp(v);
          const products = u.map((ui, i) => {
            let scale = 0;
            for (let r = 0; r < ui.length; r++) scale += Math.abs(ui[r]! * jv[i]![r]!);
            let scale2 = 0;
            for (let e = 0; e < t.size; e++) scale2 += Math.abs(g[i]![k]![e]! * v[k]![e]!);
            return {
              forward: dot(ui, jv[i]!),
              reverse: dot(g[i]![k]!, v[k]!),
              scale: Math.max(scale, scale2),
            };
          });
          return { v, enlarged, jv, products };
        });
        const outputMax = u.map((_, i) => Math.max(...blocks.map((bk) => bk.products[i]!.scale)));
        probe.targets.forEach((t, k) => {
          const { v, enlarged, jv, products } = blocks[k]!;
          products.forEach((p, i) => {
            const init: EntryInit = {
              kind: "consistency",
              of: probe.ofNames[i]!,
              outIndex: -1,
              outMultiIndex: [],
              wrt: t.name,
              index: d,
              multiIndex: [],
              analytic: p.forward,
              numeric: p.reverse,
              noise: 0,
              refined: false,
            };
            entries.push(consistency(init, p.scale, outputMax[i]!));
          });
          if (!fd) return;
          const make = (diff: Difference) => tangentEntries(probe, s, jv, diff, t.name, d, []);
          entries.push(...judgedDirection(probe, s, v, enlarged, make));
        });
      }
    }
    return summarize(headerOf(WHO, mode, s, probe), entries, s.topK);
  } finally {
    probe.dispose();
  }
}

/** The elements of `J v` (`jv`, per output) against the finite difference `d` along `v`. */
function tangentEntries(
  probe: Probe,
  s: { readonly rtol: number; readonly atol: number },
  jv: readonly Float64Array[],
  d: Difference,
  wrt: string,
  index: number,
  multiIndex: readonly number[],
): GradcheckEntry[] {
  const out: GradcheckEntry[] = [];
  probe.ofShapes.forEach((shape, i) => {
    const a = jv[i]!;
    for (let r = 0; r < a.length; r++) {
      out.push(
        fdEntry(
          {
            kind: "tangent",
            of: probe.ofNames[i]!,
            outIndex: r,
            outMultiIndex: multiIndexOf(r, shape),
            wrt,
            index,
            multiIndex,
            analytic: a[r]!,
            numeric: d.d[i]![r]!,
            noise: d.noise[i]![r]!,
            refined: d.refined,
          },
          s.rtol,
          s.atol,
        ),
      );
    }
  });
  return out;
}
