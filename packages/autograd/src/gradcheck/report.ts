/**
 * Entries, reports and their text form, shared by the gradient checks.
 * @module
 */
import type { GradcheckBlock, GradcheckEntry, GradcheckReport } from "./types.js";

/**
 * What identifies and measures one entry, before its errors are computed: a
 * {@link GradcheckEntry} without the fields {@link fdEntry} and {@link relEntry} derive.
 * @internal
 */
export type EntryInit = Omit<GradcheckEntry, "absError" | "relError" | "allowed" | "tolRatio">;

/**
 * An entry judged against a finite difference: it may err by
 * `max(atol, rtol * max(|analytic|, |numeric|)) + noise`.
 * @internal
 */
export function fdEntry(init: EntryInit, rtol: number, atol: number): GradcheckEntry {
  const scale = Math.max(Math.abs(init.analytic), Math.abs(init.numeric));
  return finish(init, Math.max(atol, rtol * scale) + init.noise, atol);
}

/**
 * An entry comparing two exact derivatives: it may err by `max(tol * scale, floor)`, where `scale`
 * is the magnitude the rounding is relative to (`atol` only floors the reported relative error).
 * @internal
 */
export function relEntry(
  init: EntryInit,
  tol: number,
  scale: number,
  atol: number,
  floor: number,
): GradcheckEntry {
  return finish(init, Math.max(tol * scale, floor), atol);
}

function finish(init: EntryInit, allowed: number, atol: number): GradcheckEntry {
  const absError = Math.abs(init.analytic - init.numeric);
  const scale = Math.max(Math.abs(init.analytic), Math.abs(init.numeric));
  const relError = absError === 0 ? 0 : absError / Math.max(scale, atol);
  const tolRatio = Number.isNaN(absError)
    ? Number.POSITIVE_INFINITY
    : absError === 0
      ? 0
      : allowed > 0
        ? absError / allowed
        : Number.POSITIVE_INFINITY;
  return { ...init, absError, relError, allowed, tolRatio };
}

/**
 * The settings a report records: the fields of a {@link GradcheckReport} that do not come from
 * its entries.
 * @internal
 */
export type ReportHeader = Pick<
  GradcheckReport,
  | "check"
  | "mode"
  | "dtype"
  | "eps"
  | "step"
  | "richardson"
  | "rtol"
  | "atol"
  | "roundoff"
  | "of"
  | "wrt"
  | "evaluations"
>;

const orInf = (x: number) => (Number.isNaN(x) ? Number.POSITIVE_INFINITY : x);

/**
 * Builds a report from its entries: totals, the `topK` worst entries and one block per
 * (`of`, `wrt`) pair.
 * @internal
 */
export function summarize(
  header: ReportHeader,
  entries: readonly GradcheckEntry[],
  topK: number,
): GradcheckReport {
  let maxRelError = 0;
  let maxAbsError = 0;
  let failures = 0;
  let refined = 0;
  let diff2 = 0;
  let sum2 = 0;
  const blocks = new Map<string, { of: string; wrt: string; entries: GradcheckEntry[] }>();
  for (const e of entries) {
    maxRelError = Math.max(maxRelError, orInf(e.relError));
    maxAbsError = Math.max(maxAbsError, orInf(e.absError));
    if (!(e.tolRatio <= 1)) failures++;
    if (e.refined) refined++;
    diff2 += (e.analytic - e.numeric) ** 2;
    sum2 += (e.analytic + e.numeric) ** 2;
    const key = `${e.of}\u0000${e.wrt}`;
    let b = blocks.get(key);
    if (!b) {
      b = { of: e.of, wrt: e.wrt, entries: [] };
      blocks.set(key, b);
    }
    b.entries.push(e);
  }
  const normRelError = diff2 === 0 ? 0 : Math.sqrt(diff2) / Math.sqrt(sum2);
  const byRatio = (a: GradcheckEntry, b: GradcheckEntry) => b.tolRatio - a.tolRatio || 0;
  const worst = [...entries].sort(byRatio).slice(0, topK);
  // blocks in the order of `of`, then of `wrt` ("*" first)
  const rank = (list: readonly string[], name: string) => (name === "*" ? -1 : list.indexOf(name));
  const ordered = [...blocks.values()].sort(
    (a, b) =>
      rank(header.of, a.of) - rank(header.of, b.of) || rank(header.wrt, a.wrt) - rank(header.wrt, b.wrt),
  );
  const blockList: GradcheckBlock[] = ordered.map((b) => {
    let w = b.entries[0]!;
    let fails = 0;
    let rel = 0;
    let abs = 0;
    for (const e of b.entries) {
      if (e.tolRatio > w.tolRatio) w = e;
      if (!(e.tolRatio <= 1)) fails++;
      rel = Math.max(rel, orInf(e.relError));
      abs = Math.max(abs, orInf(e.absError));
    }
    return {
      of: b.of,
      wrt: b.wrt,
      checked: b.entries.length,
      failures: fails,
      maxRelError: rel,
      maxAbsError: abs,
      worst: w,
    };
  });
  return {
    ...header,
    ok: failures === 0,
    checked: entries.length,
    failures,
    maxRelError,
    maxAbsError,
    normRelError,
    worst,
    blocks: blockList,
    refined,
  };
}

function num(x: number): string {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? x.toPrecision(8) : x.toExponential(6);
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join("  ")
      .trimEnd(),
  );
}

/** Options of {@link formatGradcheckReport}. */
export interface FormatGradcheckOptions {
  /**
   * Print the per-(`of`, `wrt`) summary table (default: when the report has several outputs or a
   * non-scalar one).
   */
  blocks?: boolean;
}

/**
 * Formats a report as text: a header, the per-block summary when there are several outputs, and
 * the worst entries, e.g.
 * ```text
 * gradcheck exhaustive float64: FAILED, 3 of 38 entries out of tolerance (rtol 1e-6, atol 1e-8, eps 1e-4*max(1,|x|))
 * max rel error 0.4172, max abs error 0.0132, ||a-n||/||a+n|| 0.105, 77 evaluations
 * wrt      index       analytic         numeric          rel error
 * Theta1   7 [1,3]     0.0123           0.0211           0.4172     FAIL
 * ```
 * Entries of a non-scalar or multi-output check get `of` and `out` columns (`out` is `-` for an
 * entry contracted with a cotangent); {@link jvpcheck} reports get a `kind` column and label the
 * two values `jvp` and `reference`.
 */
export function formatGradcheckReport(report: GradcheckReport, options: FormatGradcheckOptions = {}): string {
  const status = report.ok
    ? "ok"
    : `FAILED, ${report.failures} of ${report.checked} entries out of tolerance`;
  // reports built by older code (or by hand) may lack the newer fields
  const step = report.step ?? "fixed";
  const epsText = `${report.eps.toExponential()}${step === "scaled" ? "*max(1,|x|)" : ""}`;
  const refined = report.refined ?? 0;
  const head = [
    `${report.check ?? "gradcheck"} ${report.mode} ${report.dtype}: ${status}${report.ok ? ` (${report.checked} entries)` : ""} (rtol ${report.rtol.toExponential()}, atol ${report.atol.toExponential()}, eps ${epsText})`,
    `max rel error ${num(report.maxRelError)}, max abs error ${num(report.maxAbsError)}, ||a-n||/||a+n|| ${num(
      report.normRelError,
    )}, ${report.evaluations} evaluations${refined ? `, ${refined} entries refined by Richardson extrapolation` : ""}`,
  ];
  const multi =
    (report.of?.length ?? 1) > 1 || report.worst.some((e) => (e.outIndex ?? 0) !== 0 || e.of === "*");
  const lines = [...head];
  const blocks = report.blocks ?? [];
  if ((options.blocks ?? multi) && blocks.length) {
    lines.push(
      ...table([
        ["of", "wrt", "entries", "failures", "max rel error", "worst tol ratio"],
        ...blocks.map((b) => [
          b.of,
          b.wrt,
          String(b.checked),
          String(b.failures),
          num(b.maxRelError),
          num(b.worst.tolRatio),
        ]),
      ]),
      "",
    );
  }
  const jvpReport = report.check === "jvpcheck";
  const rows = report.worst.map((e) => {
    // in random mode an entry's index is the direction's number
    const direction = e.kind === "direction" || report.mode === "random";
    const cells = [
      e.wrt === "*" ? "direction" : e.wrt,
      direction ? `#${e.index}` : `${e.index} [${e.multiIndex.join(",")}]`,
      num(e.analytic),
      num(e.numeric),
      num(e.relError),
      e.tolRatio <= 1 ? "" : "FAIL",
    ];
    const out = multi
      ? [e.of, e.outIndex < 0 ? "-" : `${e.outIndex} [${(e.outMultiIndex ?? []).join(",")}]`]
      : [];
    return [...(jvpReport ? [e.kind] : []), ...out, ...cells];
  });
  const titles = [
    ...(jvpReport ? ["kind"] : []),
    ...(multi ? ["of", "out"] : []),
    "wrt",
    "index",
    jvpReport ? "jvp" : "analytic",
    jvpReport ? "reference" : "numeric",
    "rel error",
    "",
  ];
  lines.push(...table([titles, ...rows]));
  return lines.join("\n");
}
