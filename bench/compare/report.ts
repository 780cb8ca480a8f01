/**
 * Renders bench/RESULTS.md from the cells' results: machine info, one table per workload
 * (medians, min/max, ratios vs gradgraph, memory), the targets with met / not met, the loss
 * agreement between frameworks, gradgraph's memory checks, and failures.
 */

import { BLOCK_BIAS_RANGE } from "./data.js";
import type { CellResult, MatmulEntry, ScalingEntry } from "./measure.js";
import {
  type BlockWorkload,
  blockFlopsPerStep,
  CELLS,
  CNN_BIAS_RANGE,
  type CnnWorkload,
  cnnGeometry,
  FRAMEWORKS,
  type Framework,
  type MatmulWorkload,
  matmulFlops,
  type ScalingWorkload,
  scalingSteps,
  shapeKey,
  VARIANT_LABEL,
  VARIANTS,
  type Variant,
  WORKLOADS,
  type Workload,
} from "./workloads.js";

export interface MachineInfo {
  cpu: string;
  cores: number;
  availableParallelism: number;
  memoryGB: number;
  node: string;
  platform: string;
  loadAverage: number[];
  loadAverageEnd?: number[];
  /** Peer package versions (bench devDependencies). */
  peers: Record<string, string>;
}

export interface ReportInput {
  command: string;
  started: Date;
  finished: Date;
  machine: MachineInfo;
  options: { repeats: number; quick: boolean; timeoutSec: number; only: string[]; frameworks: Framework[] };
  results: CellResult[];
  /** Frameworks the runner did not run, with the reason (numpy without python3/numpy). */
  skipped?: Partial<Record<Framework, string>>;
  /** Later partial runs merged into this one (`--merge`), oldest first; absent for a plain run. */
  merged?: readonly MergeInfo[];
  /** The raw results file the report is rendered from (repository-relative), named in the report. */
  rawFile?: string;
}

/** A partial run merged into an earlier report by `pnpm bench:compare --merge` (see `run.ts`). */
export interface MergeInfo {
  /** The merging run's command line. */
  command: string;
  /** ISO dates of the merging run. */
  started: string;
  finished: string;
  /** The workloads it re-ran: every earlier cell of these was replaced by its cells. */
  workloads: string[];
  repeats: number;
  /** Load average (1/5/15 min) at the start and end of the merging run. */
  loadAverage: number[];
  loadAverageEnd?: number[];
  /** The raw results file it was merged into (repository-relative). */
  base: string;
}

/**
 * Tolerances of the agreement check: losses relative to gradgraph's; matmul outputs: the largest
 * difference of the sampled values relative to the RMS of gradgraph's output.
 */
export const TOLERANCE = { initialLoss: 1e-4, finalLoss: 1e-2, matmul: 1e-3 };

const LABEL: Record<Framework, string> = {
  gradgraph: "gradgraph",
  "tfjs-cpu": "tfjs (cpu)",
  "tfjs-wasm": "tfjs (wasm)",
  jax: "jax-js (wasm, jit)",
  numpy: "numpy (float32, 1 thread)",
};

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Summary {
  framework: Framework;
  workload: string;
  ok: CellResult[];
  failed: CellResult[];
  median: number;
  min: number;
  max: number;
  /** Medians of the `extra` numbers. */
  extra: Record<string, number>;
  first?: CellResult;
}

function summarise(results: readonly CellResult[], workload: string, framework: Framework): Summary | null {
  const mine = results.filter((r) => r.workload === workload && r.framework === framework);
  if (mine.length === 0) return null;
  const ok = mine.filter((r) => r.ok);
  const values = ok.map((r) => r.value);
  const extra: Record<string, number> = {};
  for (const k of Object.keys(ok[0]?.extra ?? {}))
    extra[k] = median(ok.map((r) => r.extra?.[k] ?? Number.NaN));
  return {
    framework,
    workload,
    ok,
    failed: mine.filter((r) => !r.ok),
    median: median(values),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
    extra,
    first: ok[0],
  };
}

const fmt = (x: number | undefined, digits = 3): string =>
  x === undefined || !Number.isFinite(x) ? "–" : x >= 1000 ? x.toFixed(0) : x.toPrecision(digits);
const fmtLoss = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? "–" : x.toPrecision(7);
const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

/** How many times faster gradgraph is than `peer` (>1: gradgraph faster). */
function speedup(w: Workload, gg: Summary | null, peer: Summary | null): number {
  if (!gg || !peer || !gg.ok.length || !peer.ok.length) return Number.NaN;
  return w.metric === "gflops" ? gg.median / peer.median : peer.median / gg.median;
}

/** "N× faster" (≥ 1) or "N× slower". */
function faster(r: number): string {
  if (!Number.isFinite(r)) return "–";
  return r >= 1 ? `${fmt(r)}× faster` : `${fmt(1 / r)}× slower`;
}

function unit(w: Workload): string {
  return w.metric === "gflops" ? "GFLOP/s" : w.metric === "usPerStep" ? "µs / step" : "seconds";
}

interface Target {
  name: string;
  required: string;
  measured: string;
  met: boolean | null;
}

/** One product of the sweep across the repeats of one framework: median GFLOP/s. */
interface SweepCell {
  gflops: number;
  runs: number;
  /** Set when the product was skipped as too slow (estimated seconds per product). */
  skippedEstimate?: number;
  first?: MatmulEntry;
}

const entryKey = (e: { m: number; k: number; n: number; variant: Variant }) => `${shapeKey(e)} ${e.variant}`;

/** Median GFLOP/s per product of the sweep `workload` for `framework` (empty when it did not run). */
function sweepOf(
  results: readonly CellResult[],
  workload: string,
  framework: Framework,
): Map<string, SweepCell> {
  const out = new Map<string, SweepCell>();
  const runs = results.filter((r) => r.ok && r.workload === workload && r.framework === framework && r.sweep);
  const all = new Map<string, MatmulEntry[]>();
  for (const r of runs) for (const e of r.sweep!) all.set(entryKey(e), [...(all.get(entryKey(e)) ?? []), e]);
  for (const [key, es] of all) {
    const measured = es.filter((e) => Number.isFinite(e.gflops));
    const skipped = es.find((e) => e.skippedEstimate !== undefined);
    out.set(key, {
      gflops: median(measured.map((e) => e.gflops)),
      runs: measured.length,
      ...(measured.length === 0 && skipped ? { skippedEstimate: skipped.skippedEstimate } : {}),
      first: measured[0],
    });
  }
  return out;
}

/** One point of a scaling table across the repeats of one framework. */
interface ScalingCell {
  usPerStep: number;
  runs: number;
  first: ScalingEntry;
}

function scalingOf(
  results: readonly CellResult[],
  workload: string,
  framework: Framework,
): Map<number, ScalingCell> {
  const out = new Map<number, ScalingCell>();
  const all = new Map<number, ScalingEntry[]>();
  for (const r of results.filter(
    (r) => r.ok && r.workload === workload && r.framework === framework && r.scaling,
  ))
    for (const e of r.scaling!) all.set(e.point, [...(all.get(e.point) ?? []), e]);
  for (const [point, es] of all)
    out.set(point, { usPerStep: median(es.map((e) => e.usPerStep)), runs: es.length, first: es[0]! });
  return out;
}

/** The worst of a list of (value, where) pairs, by `better` (the comparison of the target). */
function worstOf(xs: readonly { v: number; at: string }[], higherIsBetter: boolean) {
  const ok = xs.filter((x) => Number.isFinite(x.v));
  if (!ok.length) return null;
  return ok.reduce((w, x) => ((higherIsBetter ? x.v < w.v : x.v > w.v) ? x : w));
}

export function renderReport(input: ReportInput): string {
  const { results, machine, options } = input;
  const skipped = input.skipped ?? {};
  const ids = Object.keys(WORKLOADS).filter((id) => results.some((r) => r.workload === id));
  const S = (id: string, f: Framework) => summarise(results, id, f);
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);

  push("# gradgraph vs peers: comparison results", "");
  if (options.quick) {
    push(
      "> **Quick smoke run** (`--quick`): about 1/20 of the steps, short matmul timings and sizes up to 512, few",
      "> scaling steps. It proves that every cell runs; its numbers are not comparable with the full workloads or",
      "> the targets.",
      "",
    );
  }
  push(
    `Generated by \`${input.command}\` on ${input.started.toISOString()} ` +
      `(${((input.finished.getTime() - input.started.getTime()) / 60000).toFixed(1)} min). ` +
      `${options.repeats} repeat(s) per cell, each cell in a fresh process, frameworks interleaved ` +
      `round-robin within each repeat; medians with [min – max]. Per-cell limit ${options.timeoutSec} s.`,
    "",
  );
  for (const m of input.merged ?? []) {
    const minutes = (new Date(m.finished).getTime() - new Date(m.started).getTime()) / 60000;
    push(
      `Merged: workload(s) ${m.workloads.join(", ")} re-run by \`${m.command}\` on ${m.started} (${minutes.toFixed(1)} min, ` +
        `${m.repeats} repeat(s), load average ${m.loadAverage.map((l) => l.toFixed(2)).join(" / ")} at start` +
        `${m.loadAverageEnd ? `, ${m.loadAverageEnd.map((l) => l.toFixed(2)).join(" / ")} at end` : ""}); ` +
        "every earlier cell of those workloads was replaced, so ratios within a workload still come from one run.",
      "",
    );
  }
  push(
    "## Machine",
    "",
    "| | |",
    "|---|---|",
    `| CPU | ${machine.cpu} |`,
    `| cores | ${machine.cores} (availableParallelism ${machine.availableParallelism}) |`,
    `| memory | ${machine.memoryGB.toFixed(1)} GB |`,
    `| Node | ${machine.node} |`,
    `| OS | ${machine.platform} |`,
    `| load average (1/5/15 min) at start | ${machine.loadAverage.map((l) => l.toFixed(2)).join(" / ")} |`,
  );
  if (machine.loadAverageEnd) {
    push(`| load average at end | ${machine.loadAverageEnd.map((l) => l.toFixed(2)).join(" / ")} |`);
  }
  push(
    `| peers | ${Object.entries(machine.peers)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")} |`,
  );
  const numpyNote = results
    .find((r) => r.ok && r.framework === "numpy")
    ?.notes?.find((n) => n.startsWith("numpy "));
  if (numpyNote) push(`| numpy | ${numpyNote} (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset) |`);
  for (const [f, why] of Object.entries(skipped)) push(`| ${LABEL[f as Framework]} | **not run**: ${why} |`);
  push("");
  const load = Math.max(
    ...machine.loadAverage,
    ...(machine.loadAverageEnd ?? []),
    ...(input.merged ?? []).flatMap((m) => [...m.loadAverage, ...(m.loadAverageEnd ?? [])]),
  );
  if (load > machine.cores * 0.75) {
    push(
      `> The machine was busy (load average up to ${load.toFixed(1)} on ${machine.cores} cores): timings are noisy, and the`,
      "> two-core cells (B2, C, D2, F2, G2, WIDTH2, BATCH2) cannot gain much while other processes use the second core.",
      "",
    );
  }

  // ---- targets -------------------------------------------------------------------------
  const targets: Target[] = [];
  const notMeasured = (why = "not measured"): Pick<Target, "measured" | "met"> => ({
    measured: why,
    met: null,
  });
  const missing = (...fs: Framework[]) => {
    const f = fs.find((x) => skipped[x]);
    return f ? `not run (${f} unavailable: see Failures)` : "not measured";
  };
  /** gradgraph on `ggId` is at least `need`× faster than `peer` on `peerId` (time or GFLOP/s). */
  const ratioTarget = (name: string, ggId: string, peerId: string, peer: Framework, need: number) => {
    if (!ids.includes(ggId) && !ids.includes(peerId)) return;
    const gg = S(ggId, "gradgraph");
    const p = S(peerId, peer);
    const w = WORKLOADS[ggId]!;
    const r =
      gg?.ok.length && p?.ok.length
        ? w.metric === "gflops"
          ? gg.median / p.median
          : p.median / gg.median
        : Number.NaN;
    targets.push({
      name,
      required: `≥ ${need}× faster`,
      ...(Number.isFinite(r) ? { measured: `${r.toFixed(2)}×`, met: r >= need } : notMeasured(missing(peer))),
    });
  };
  /** gradgraph time on `ggId` / numpy time on `npId` ≤ `limit`. */
  const numpyTarget = (name: string, ggId: string, npId: string, limit: number) => {
    if (!ids.includes(ggId) && !ids.includes(npId)) return;
    const gg = S(ggId, "gradgraph");
    const np = S(npId, "numpy");
    const r = gg?.ok.length && np?.ok.length ? gg.median / np.median : Number.NaN;
    targets.push({
      name,
      required: `gradgraph time ≤ ${limit}× numpy's`,
      ...(Number.isFinite(r)
        ? { measured: `${r.toFixed(2)}× (${fmt(gg!.median)} s vs ${fmt(np!.median)} s)`, met: r <= limit }
        : notMeasured(missing("numpy"))),
    });
  };
  /** Time on `oneId` / time on `twoId` (gradgraph) ≥ `need`. */
  const coresTarget = (name: string, oneId: string, twoId: string, need: number) => {
    if (!ids.includes(oneId) && !ids.includes(twoId)) return;
    const one = S(oneId, "gradgraph");
    const two = S(twoId, "gradgraph");
    const r = one?.ok.length && two?.ok.length ? one.median / two.median : Number.NaN;
    targets.push({
      name,
      required: `two cores ≥ ${need}× one core`,
      ...(Number.isFinite(r)
        ? { measured: `${r.toFixed(2)}× (${fmt(one!.median)} s → ${fmt(two!.median)} s)`, met: r >= need }
        : notMeasured()),
    });
  };

  ratioTarget("A: gradgraph vs jax-js (jit)", "A", "A", "jax", 4);
  numpyTarget("A: gradgraph (one core) vs numpy", "A", "A", 1.15);
  ratioTarget("B: gradgraph vs tfjs (wasm)", "B", "B", "tfjs-wasm", 3);
  numpyTarget("B: gradgraph (one core) vs numpy", "B", "B", 2.2);
  coresTarget("B: two cores (B2) vs one core (B)", "B", "B2", 1.7);
  ratioTarget("C: gradgraph (two cores) vs jax-js (jit)", "C", "C", "jax", 2);
  ratioTarget("C: gradgraph (one core, C1) vs jax-js (jit)", "C1", "C", "jax", 2.5);
  numpyTarget("C: gradgraph (one core, C1) vs numpy", "C1", "C", 3.2);
  coresTarget("C: two cores (C) vs one core (C1)", "C1", "C", 1.7);

  // the matmul sweep
  const sweep: Partial<Record<Framework | "gradgraph2", Map<string, SweepCell>>> = {};
  if (ids.includes("D") || ids.includes("D2")) {
    for (const f of CELLS.D ?? []) sweep[f] = sweepOf(results, "D", f);
    sweep.gradgraph2 = sweepOf(results, "D2", "gradgraph");
  }
  const sweepShapes = (WORKLOADS.D as MatmulWorkload).shapes;
  const keys = sweepShapes.flatMap((sh) =>
    VARIANTS.map((v) => ({ sh, v, key: entryKey({ ...sh, variant: v }) })),
  );
  const where = (sh: { m: number; k: number; n: number }, v: Variant) =>
    `${shapeKey(sh)} ${VARIANT_LABEL[v]}`;
  const g1 = sweep.gradgraph;
  const g2 = sweep.gradgraph2;
  if (g1?.size) {
    const at = keys
      .filter((x) => g1.has(x.key))
      .map((x) => ({ v: g1.get(x.key)!.gflops, at: where(x.sh, x.v) }));
    const worst = worstOf(at, true);
    const below = at.filter((x) => !(x.v >= 40)).length;
    targets.push({
      name: "D: matmul f32 one core, every size and variant",
      required: "≥ 40 GFLOP/s",
      ...(worst
        ? {
            measured: `worst ${fmt(worst.v)} (${worst.at}); ${at.length - below}/${at.length} products ≥ 40`,
            met: below === 0,
          }
        : notMeasured()),
    });
    for (const peer of ["tfjs-wasm", "jax"] as const) {
      const ps = sweep[peer];
      if (!ps?.size) {
        targets.push({
          name: `D: matmul one core vs ${LABEL[peer]}, every size`,
          required: "≥ 1.5×",
          ...notMeasured(),
        });
        continue;
      }
      const both = keys.filter((x) => g1.has(x.key) && ps.has(x.key));
      const at = both.map((x) => ({
        v: g1.get(x.key)!.gflops / ps.get(x.key)!.gflops,
        at: where(x.sh, x.v),
      }));
      const tooSlow = both.filter((x) => ps.get(x.key)!.skippedEstimate !== undefined).length;
      const worst = worstOf(at, true);
      const measured = at.filter((x) => Number.isFinite(x.v));
      const below = measured.filter((x) => x.v < 1.5).length;
      targets.push({
        name: `D: matmul one core vs ${LABEL[peer]}, every size and variant`,
        required: "≥ 1.5× its GFLOP/s",
        ...(worst
          ? {
              measured:
                `worst ${worst.v.toFixed(2)}× (${worst.at}); ${measured.length - below}/${measured.length} products ≥ 1.5×` +
                (tooSlow ? `; ${tooSlow} skipped as too slow for ${LABEL[peer]}` : ""),
              met: below === 0,
            }
          : notMeasured()),
      });
    }
  }
  if (g1?.size && g2?.size) {
    const big = keys.filter(
      (x) => x.sh.label === "square" && x.sh.m >= 512 && g1.has(x.key) && g2.has(x.key),
    );
    const at = big.map((x) => ({ v: g2.get(x.key)!.gflops / g1.get(x.key)!.gflops, at: where(x.sh, x.v) }));
    const worst = worstOf(at, true);
    targets.push({
      name: "D2: matmul two cores vs one core, squares from 512³ up",
      required: "≥ 1.85×",
      ...(worst
        ? {
            measured: `worst ${worst.v.toFixed(2)}× (${worst.at}); ${at.filter((x) => x.v >= 1.85).length}/${at.length} products ≥ 1.85×`,
            met: at.every((x) => x.v >= 1.85),
          }
        : notMeasured(
            options.quick ? "not measured (quick runs stop at 512³: see the table)" : "not measured",
          )),
    });
  }
  // the earlier 512³ targets, read from the sweep
  for (const [id, sw, need] of [
    ["D", g1, 20],
    ["D2", g2, 35],
  ] as const) {
    const cell = (v: Variant) =>
      sw?.get(entryKey({ m: 512, k: 512, n: 512, variant: v }))?.gflops ?? Number.NaN;
    if (!sw?.size || !Number.isFinite(cell("nn"))) continue;
    const cores = id === "D" ? "one core" : "two cores";
    targets.push({
      name: `${id}: matmul 512³ A·B f32, ${cores}`,
      required: `≥ ${need} GFLOP/s`,
      measured: fmt(cell("nn")),
      met: cell("nn") >= need,
    });
    const worst = Math.min(cell("tn"), cell("nt")) / cell("nn");
    targets.push({
      name: `${id}: 512³ transposed variants, ${cores}`,
      required: "≥ 80% of A·B",
      measured: `Aᵀ·B ${fmt(cell("tn"))}, A·Bᵀ ${fmt(cell("nt"))} GFLOP/s (worst ${(worst * 100).toFixed(0)}%)`,
      met: worst >= 0.8,
    });
  }
  ratioTarget("E: per-sample step vs tfjs (cpu)", "E", "E", "tfjs-cpu", 20);
  ratioTarget("F: CNN step, gradgraph (one core) vs tfjs (wasm)", "F", "F", "tfjs-wasm", 2);
  ratioTarget("F: CNN step, gradgraph (one core) vs jax-js (jit)", "F", "F", "jax", 2);
  coresTarget("F: two cores (F2) vs one core (F)", "F", "F2", 1.7);
  ratioTarget("G: Transformer block step, gradgraph (one core) vs tfjs (wasm)", "G", "G", "tfjs-wasm", 2);
  ratioTarget("G: Transformer block step, gradgraph (one core) vs jax-js (jit)", "G", "G", "jax", 2);

  // width and batch scaling
  const widthGG = scalingOf(results, "WIDTH", "gradgraph");
  const widthJax = scalingOf(results, "WIDTH", "jax");
  if (ids.includes("WIDTH")) {
    const W = WORKLOADS.WIDTH as ScalingWorkload;
    const at = W.points
      .filter((p) => widthGG.has(p) && widthJax.has(p))
      .map((p) => ({ v: widthJax.get(p)!.usPerStep / widthGG.get(p)!.usPerStep, at: `W = ${p}` }));
    const worst = worstOf(at, true);
    targets.push({
      name: "width: one-core step vs jax-js, every width 32-2048",
      required: "≥ 2× faster",
      ...(worst
        ? {
            measured: `worst ${worst.v.toFixed(2)}× (${worst.at}); ${at.filter((x) => x.v >= 2).length}/${at.length} widths ≥ 2×`,
            met: at.length === W.points.length && at.every((x) => x.v >= 2),
          }
        : notMeasured()),
    });
  }

  // fit overhead: the fit cells time paired epochs (fit and the plan driven directly) in one process
  const fitOverhead = (fitId: string) => {
    const f = S(fitId, "gradgraph");
    return f?.ok.length ? median(f.ok.map((r) => r.extra?.fitOverDirect ?? Number.NaN)) - 1 : Number.NaN;
  };
  for (const [fitId, planId] of [
    ["AFIT", "A"],
    ["BFIT", "B"],
  ] as const) {
    if (!ids.includes(fitId)) continue;
    const f = S(fitId, "gradgraph");
    const r = fitOverhead(fitId);
    targets.push({
      name: `${planId}: \`fit\` vs the plan driven directly (${fitId})`,
      required: "fit adds ≤ 3%",
      ...(Number.isFinite(r)
        ? {
            measured: `${r >= 0 ? "+" : ""}${(r * 100).toFixed(2)}% (${fmt(f!.extra.directSeconds)} s → ${fmt(f!.extra.fitSeconds)} s, best epochs)`,
            met: r <= 0.03,
          }
        : notMeasured()),
    });
  }

  {
    const mem = S("MEM", "gradgraph");
    if (mem?.first) {
      const growth = median(mem.ok.map((r) => r.heapAfterMB - r.heapBeforeMB));
      const gcs = Math.max(...mem.ok.map((r) => r.gcCount));
      targets.push({
        name: "memory: heap flat over an epoch (workload B)",
        required: "heap growth < 1 MB, no GC during the epoch",
        measured: `${growth.toFixed(3)} MB, ${gcs} GC(s)`,
        met: growth < 1 && gcs === 0,
      });
    }
    const mn = S("MNIST", "gradgraph");
    if (mn) {
      const rss = mn.ok.length ? Math.max(...mn.ok.map((r) => r.rssPeakMB)) : Number.NaN;
      targets.push({
        name: "memory: peak RSS training on real MNIST",
        required: "< 400 MB",
        measured: mn.ok.length ? `${rss.toFixed(0)} MB` : `not run: ${mn.failed[0]?.error ?? "?"}`,
        met: mn.ok.length ? rss < 400 : null,
      });
    }
  }
  push("## Targets", "");
  if (options.quick) push("_Quick run: indicative only._", "");
  push("| target | required | measured | |", "|---|---|---|---|");
  for (const t of targets) {
    push(
      `| ${t.name} | ${t.required} | ${t.measured} | ${t.met === null ? "n/a" : t.met ? "met" : "**not met**"} |`,
    );
  }
  push(
    "",
    'Ratios are medians over the repeats, measured side by side in this run. "one core": gradgraph without its',
    'worker pool (A, B, C1, D, F, G, WIDTH); "two cores": with `enableThreads()` (B2, C, D2, F2, G2, WIDTH2). The peers run on',
    "one thread in Node; numpy is forced to one BLAS thread.",
    "",
  );

  // ---- per workload --------------------------------------------------------------------
  push("## Workloads", "");
  const special = new Set(["MEM", "MNIST", "AFIT", "BFIT", "D", "D2", "WIDTH", "WIDTH2", "BATCH", "BATCH2"]);
  for (const id of ids) {
    const w = WORKLOADS[id]!;
    if (special.has(id) || w.kind !== "train") continue;
    push(`### ${id}: ${w.title}`, "");
    push(
      `Layers ${w.sizes.join("-")}, ${w.hidden} hidden, loss ${w.loss}, batch ${w.batch}, ` +
        `${results.find((r) => r.workload === id && r.ok)?.steps ?? w.steps} steps, SGD step ${w.stepSize.toPrecision(4)} ` +
        `(${w.stepSizeNote}), init ${w.init}; data ${w.data.n}×${w.data.features} synthetic.`,
      "",
    );
    const gg = S(id, "gradgraph");
    const fws = FRAMEWORKS.filter((f) => (CELLS[id] ?? []).includes(f) && S(id, f));
    push(
      `| framework | ${unit(w)} [min – max] | ${w.metric === "usPerStep" ? "seconds" : "µs / step"} | gradgraph vs it | final loss | workers | peak RSS MB | heap Δ MB (no GC) | GCs | runs |`,
      "|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const f of fws) {
      const s = S(id, f)!;
      const r = f === "gradgraph" ? "–" : faster(speedup(w, gg, s));
      const ext = s.first?.external;
      const heap = median(s.ok.map((x) => x.heapAfterMB - x.heapBeforeMB));
      const gcs = median(s.ok.map((x) => x.gcCount));
      push(
        `| ${LABEL[f]} | ${s.ok.length ? `${fmt(s.median)} [${fmt(s.min)} – ${fmt(s.max)}]` : "failed"} | ` +
          `${fmt(w.metric === "usPerStep" ? median(s.ok.map((x) => x.seconds)) : s.extra.usPerStep)} | ${r} | ${fmtLoss(s.first?.finalLoss)} | ${s.first?.threads ?? "–"} | ` +
          `${fmt(s.first ? Math.max(...s.ok.map((x) => x.rssPeakMB)) : undefined)} | ${ext ? "–" : fmt(heap, 2)} | ${ext || !Number.isFinite(gcs) ? "–" : Math.round(gcs)} | ` +
          `${s.ok.length}/${s.ok.length + s.failed.length} |`,
      );
    }
    push("");
  }

  // ---- the CNN and Transformer block workloads: one core, two cores, peers ----------------
  /** The table of a workload run by gradgraph on one core (`id`), on two (`id2`) and by the peers. */
  const pairTable = (id: string, id2: string, intro: string, flopsPerStep: number, flopsNote: string) => {
    const w = WORKLOADS[id]!;
    push(
      `### ${id}, ${id2}: ${w.title.replace(", one core", "")}`,
      "",
      `${intro} GFLOP/s: ${(flopsPerStep / 1e6).toFixed(0)} MFLOP per step (${flopsNote}) over the measured time. ` +
        "gradgraph vs it: its time over gradgraph one core's (for gradgraph 2 cores: the two-core speed-up, one core's time over two cores').",
      "",
      "| framework | seconds [min – max] | ms / step | GFLOP/s | gradgraph (1 core) vs it | final loss | workers | peak RSS MB | heap Δ MB (no GC) | GCs | runs |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
    );
    const gg = S(id, "gradgraph");
    const rows: [string, Summary | null][] = [
      ["gradgraph 1 core", gg],
      ["gradgraph 2 cores", S(id2, "gradgraph")],
      ...FRAMEWORKS.filter((f) => f !== "gradgraph" && (CELLS[id] ?? []).includes(f)).map(
        (f): [string, Summary | null] => [LABEL[f], S(id, f)],
      ),
    ];
    for (const [label, s] of rows) {
      if (!s) continue;
      if (!s.ok.length) {
        const err = (s.failed[0]?.error ?? "?").replace(/\|/g, "\\|");
        push(`| ${label} | failed: ${err} | | | | | | | | | 0/${s.failed.length} |`);
        continue;
      }
      const heap = median(s.ok.map((x) => x.heapAfterMB - x.heapBeforeMB));
      const gcs = median(s.ok.map((x) => x.gcCount));
      push(
        `| ${label} | ${fmt(s.median)} [${fmt(s.min)} – ${fmt(s.max)}] | ${fmt(s.extra.usPerStep / 1000)} | ${fmt(s.extra.gflops)} | ` +
          `${s === gg ? "–" : label === "gradgraph 2 cores" ? `two cores ${fmt(gg?.ok.length ? gg.median / s.median : Number.NaN)}×` : faster(speedup(w, gg, s))} | ${fmtLoss(s.first?.finalLoss)} | ${s.first?.threads ?? "–"} | ` +
          `${fmt(Math.max(...s.ok.map((x) => x.rssPeakMB)))} | ${fmt(heap, 2)} | ${Number.isFinite(gcs) ? Math.round(gcs) : "–"} | ` +
          `${s.ok.length}/${s.ok.length + s.failed.length} |`,
      );
    }
  };
  for (const [id, id2] of [["F", "F2"]] as const) {
    if (!ids.includes(id) && !ids.includes(id2)) continue;
    const w = WORKLOADS[id] as CnnWorkload;
    const geo = cnnGeometry(w);
    const steps = results.find((r) => (r.workload === id || r.workload === id2) && r.ok)?.steps ?? w.steps;
    const layers = w.convs
      .map(
        (l, i) =>
          `conv ${l.kernel}×${l.kernel} ${l.padding} ${geo.convs[i]!.input[0]}→${l.filters} (${geo.convs[i]!.conv.join("×")}) + relu + max pool ${l.pool} (${geo.convs[i]!.pooled.join("×")})`,
      )
      .join(", ");
    pairTable(
      id,
      id2,
      `Input ${w.image.join("×")} (the MNIST-shaped synthetic rows read as images), ${layers}, flatten ${geo.flat}, dense ` +
        `${geo.denseSizes.join("-")} (relu between), mean softmax cross-entropy; batch ${w.batch}, ${steps} steps, SGD step ` +
        `${w.stepSize} (${w.stepSizeNote}); Glorot uniform weights, biases uniform in ±${CNN_BIAS_RANGE} (seed ${w.weightSeed}), identical in every ` +
        "framework.",
      geo.flopsPerStep,
      "each conv and dense product forward, input and weight gradient; no input gradient for the images",
    );
    const tfNote = S(id, "tfjs-wasm")?.first?.notes?.find((n) => n.startsWith("tf.conv2d's own gradient"));
    if (tfNote) push("", `tfjs (wasm): ${tfNote.replace(/\|/g, "\\|")}.`);
    push("");
  }
  for (const [id, id2] of [["G", "G2"]] as const) {
    if (!ids.includes(id) && !ids.includes(id2)) continue;
    const w = WORKLOADS[id] as BlockWorkload;
    const steps = results.find((r) => (r.workload === id || r.workload === id2) && r.ok)?.steps ?? w.steps;
    pairTable(
      id,
      id2,
      `Input x [${w.batch}, ${w.seqLen}, ${w.width}] (${w.data.n} seeded standard-normal sequences, batches in file order), one ` +
        `pre-norm encoder block: h = x + attn(ln1(x)), out = h + W2·gelu(W1·ln2(h) + b1) + b2, ${w.heads} heads of ${w.width / w.heads}, ` +
        `q/k/v/o projections with biases, layer norms with gamma and beta (epsilon ${w.epsilon.toExponential(0)}), MLP ${w.width}-${w.mlpDim}-${w.width} ` +
        `with exact (erf) GELU; loss: mean squared error against a seeded target of the same shape; batch ${w.batch}, ${steps} steps, ` +
        `SGD step ${w.stepSize} (${w.stepSizeNote}) on all 16 params; Glorot uniform matrices, biases and betas uniform in ` +
        `±${BLOCK_BIAS_RANGE}, gammas in 1 ± ${2 * BLOCK_BIAS_RANGE} (seed ${w.weightSeed}), identical in every framework. gradgraph ` +
        "builds it with `transformerEncoderBlock` from `@gradgraph/models`.",
      blockFlopsPerStep(w),
      "the q, k, v and o projections, q·kᵀ, weights·v and the two MLP layers, each forward and both gradients",
    );
    push("");
  }

  // ---- matmul sweep --------------------------------------------------------------------
  if (g1 || g2) {
    const D = WORKLOADS.D as MatmulWorkload;
    const cols: [Framework | "gradgraph2", string][] = [
      ["gradgraph", "gradgraph 1 core"],
      ["gradgraph2", "gradgraph 2 cores"],
      ["tfjs-wasm", "tfjs (wasm)"],
      ["jax", "jax-js"],
      ["numpy", "numpy"],
    ];
    const shown = cols.filter(([f]) => sweep[f]?.size);
    const runs = (f: Framework | "gradgraph2") =>
      results.filter(
        (r) =>
          r.workload === (f === "gradgraph2" ? "D2" : "D") &&
          r.framework === (f === "gradgraph2" ? "gradgraph" : f),
      );
    push(
      `### D, D2: float32 matmul sweep`,
      "",
      "C[m, n] = op(A) · op(B) with inner dimension k (m×k×n), 2·m·k·n FLOPs. Aᵀ·B reads A stored [k, m], A·Bᵀ reads",
      "B stored [n, k]. Each product: one untimed warm-up, then timed until " +
        `${D.budgetSeconds} s (${options.quick ? "quick: 0.05 s, " : ""}at least one product, at most ${D.maxReps}); ` +
        `median GFLOP/s over the repeats; products over ${(D.onceAboveFlops / 1e9).toFixed(0)} GFLOP (4096³) are timed in the first repeat only. ` +
        `"–" not run; "skip": a peer's product estimated over ${D.maxProductSeconds} s from its rate at the previous size ` +
        "(gradgraph is never skipped). Ratios: gradgraph one core's GFLOP/s over the other's.",
      "",
      `| m×k×n | shape | op | ${shown.map(([, l]) => l).join(" | ")} | 2 cores / 1 | vs tfjs (wasm) | vs jax-js | vs numpy |`,
      `|---|---|---|${shown.map(() => "---|").join("")}---|---|---|---|`,
    );
    const val = (f: Framework | "gradgraph2", key: string) => {
      const c = sweep[f]?.get(key);
      if (!c) return "–";
      if (c.skippedEstimate !== undefined) return `skip (~${fmt(c.skippedEstimate, 2)} s)`;
      return fmt(c.gflops);
    };
    const ratio = (
      a: Map<string, SweepCell> | undefined,
      b: Map<string, SweepCell> | undefined,
      key: string,
    ) => {
      const x = a?.get(key)?.gflops;
      const y = b?.get(key)?.gflops;
      return x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y)
        ? `${(x / y).toFixed(2)}×`
        : "–";
    };
    for (const { sh, v, key } of keys) {
      if (!shown.some(([f]) => sweep[f]?.has(key))) continue;
      push(
        `| ${shapeKey(sh)} | ${sh.label} | ${VARIANT_LABEL[v]} | ${shown.map(([f]) => val(f, key)).join(" | ")} | ` +
          `${ratio(g2, g1, key)} | ${ratio(g1, sweep["tfjs-wasm"], key)} | ${ratio(g1, sweep.jax, key)} | ${ratio(g1, sweep.numpy, key)} |`,
      );
    }
    push(
      "",
      "| framework | sweep seconds (warm-ups included), first repeat | later repeats (no 4096³), median | peak RSS MB | runs |",
      "|---|---|---|---|---|",
    );
    const bigKey = (r: CellResult) => (r.sweep ?? []).some((e) => matmulFlops(e) > D.onceAboveFlops);
    for (const [f, l] of shown) {
      const rs = runs(f);
      const ok = rs.filter((r) => r.ok);
      const first = ok.find(bigKey) ?? ok[0];
      const later = ok.filter((r) => r !== first);
      push(
        `| ${l} | ${fmt(first?.seconds)} | ${later.length ? fmt(median(later.map((r) => r.seconds))) : "–"} | ` +
          `${fmt(ok.length ? Math.max(...ok.map((r) => r.rssPeakMB)) : undefined)} | ${ok.length}/${rs.length} |`,
      );
    }
    const ran = sweepShapes.filter((sh) =>
      VARIANTS.some(
        (v) => g1?.has(entryKey({ ...sh, variant: v })) || g2?.has(entryKey({ ...sh, variant: v })),
      ),
    );
    const flopsTotal = ran.reduce((t, sh) => t + 3 * matmulFlops(sh), 0);
    push(
      "",
      `One product of every shape and variant above: ${(flopsTotal / 1e9).toFixed(0)} GFLOP; each framework runs each once untimed, then as often as its budget allows.`,
      "",
    );
  }

  // ---- scaling tables ------------------------------------------------------------------
  for (const [id, id2] of [
    ["WIDTH", "WIDTH2"],
    ["BATCH", "BATCH2"],
  ] as const) {
    if (!ids.includes(id) && !ids.includes(id2)) continue;
    const w = WORKLOADS[id] as ScalingWorkload;
    const cols: [string, Map<number, ScalingCell>][] = [
      ["gradgraph 1 core", scalingOf(results, id, "gradgraph")],
      ["gradgraph 2 cores", scalingOf(results, id2, "gradgraph")],
      ["tfjs (wasm)", scalingOf(results, id, "tfjs-wasm")],
      ["jax-js", scalingOf(results, id, "jax")],
      ["numpy", scalingOf(results, id, "numpy")],
    ];
    const shown = cols.filter(([, m]) => m.size);
    const [, one] = cols[0]!;
    const [, two] = cols[1]!;
    const jax = cols[3]![1];
    const np = cols[4]![1];
    const axis = w.axis === "width" ? "W" : "batch";
    push(
      `### ${id}: ${w.title.replace(", one core", "")}`,
      "",
      `µs per SGD step (batch in, forward + backward, update), median over the repeats. ${
        w.axis === "width" ? `Batch ${w.fixed}` : `W = ${w.fixed}`
      }; each point trains from its own seeded Glorot weights for the listed steps after one untimed warm-up step ` +
        "(the same steps for every framework, so the final losses are compared below). Lead: jax-js's time over gradgraph's.",
      "",
      `| ${axis} | steps | ${shown.map(([l]) => l).join(" | ")} | lead over jax-js (1 core) | lead over jax-js (2 cores) | gradgraph 1 core vs numpy |`,
      `|---|---|${shown.map(() => "---|").join("")}---|---|---|`,
    );
    const lead = (a: Map<number, ScalingCell>, b: Map<number, ScalingCell>, p: number) => {
      const x = a.get(p)?.usPerStep;
      const y = b.get(p)?.usPerStep;
      return x !== undefined && y !== undefined ? `${(x / y).toFixed(2)}×` : "–";
    };
    for (const p of w.points) {
      const steps = scalingSteps(
        options.quick ? { ...w, flopBudget: w.flopBudget / 20, minSteps: 2, maxSteps: 10 } : w,
        w.axis === "width" ? p : w.fixed,
        w.axis === "batch" ? p : w.fixed,
      );
      push(
        `| ${p} | ${shown[0]?.[1].get(p)?.first.steps ?? steps} | ${shown.map(([, m]) => fmt(m.get(p)?.usPerStep)).join(" | ")} | ` +
          `${lead(jax, one, p)} | ${lead(jax, two, p)} | ${lead(np, one, p)} |`,
      );
    }
    push("");
  }

  // ---- fit overhead --------------------------------------------------------------------
  if (ids.includes("AFIT") || ids.includes("BFIT")) {
    push(
      "### AFIT, BFIT: `@gradgraph/models`' `fit` vs the plan driven directly",
      "",
      "The same network, weights and batches: a `Model` of the same graph (with a predictions output) trained by one",
      "`fit` epoch with `sgd({ lr })`, `batchSize` as the workload, `shuffle: false` (so the batches are the direct",
      "cell's, in file order) and the other options at their defaults (the non-finite loss check with its per-epoch",
      "param checkpoint); the training plan is compiled before. In the same process the cell also runs the direct",
      "cell's loop on its own plan: pairs of epochs (direct and fit, alternating which goes first, each from the initial",
      "weights), so both see the same machine. Overhead: the best fit epoch over the best direct one (the least disturbed",
      "of each; median over the repeats); the median of the per-pair ratios is shown beside it. One core.",
      "The plain A / B cells time their first epoch after a single warm-up step (V8 still optimising the loop): the",
      "paired epochs, mostly later ones, run faster than that.",
      "",
      "| workload | direct, best s / epoch | fit, best s / epoch | fit overhead | median per-pair ratio | plain cell (A / B), s | final loss (direct) | final loss (fit) | runs |",
      "|---|---|---|---|---|---|---|---|---|",
    );
    for (const [fitId, planId] of [
      ["AFIT", "A"],
      ["BFIT", "B"],
    ] as const) {
      const f = S(fitId, "gradgraph");
      const d = S(planId, "gradgraph");
      if (!f) continue;
      const over = fitOverhead(fitId);
      push(
        `| ${planId} | ${fmt(f.extra.directSeconds)} | ${fmt(f.extra.fitSeconds)} | ` +
          `${Number.isFinite(over) ? `${over >= 0 ? "+" : ""}${(over * 100).toFixed(2)}%` : "–"} | ` +
          `${fmt(f.extra.medianPairRatio)} | ` +
          `${d?.ok.length ? `${fmt(d.median)} [${fmt(d.min)} – ${fmt(d.max)}]` : "–"} | ${fmtLoss(d?.first?.finalLoss)} | ${fmtLoss(f.first?.finalLoss)} | ` +
          `${f.ok.length}/${f.ok.length + f.failed.length} |`,
      );
    }
    push("");
  }

  // ---- loss agreement ------------------------------------------------------------------
  push(
    "## Loss agreement",
    "",
    "Every framework starts from the same weights and sees the same batches, so the losses must agree up to",
    "float32 rounding. Initial = loss at the initial weights on batch 0 (the warm-up step, no update); final =",
    `loss of the last step. Tolerances (relative to gradgraph): initial ${TOLERANCE.initialLoss}, final ${TOLERANCE.finalLoss}. Matmul: 16 sampled`,
    `output values per product, largest difference relative to the RMS of gradgraph's output, tolerance ${TOLERANCE.matmul}.`,
    "",
    "| workload | framework | initial loss | rel. diff | final loss | rel. diff | agrees |",
    "|---|---|---|---|---|---|---|",
  );
  const lossRow = (
    id: string,
    label: string,
    r: { initialLoss?: number; finalLoss?: number },
    ref: { initialLoss?: number; finalLoss?: number },
  ) => {
    const di = rel(r.initialLoss!, ref.initialLoss!);
    const df = rel(r.finalLoss!, ref.finalLoss!);
    const ok = di <= TOLERANCE.initialLoss && df <= TOLERANCE.finalLoss;
    push(
      `| ${id} | ${label} | ${fmtLoss(r.initialLoss)} | ${di.toExponential(1)} | ${fmtLoss(r.finalLoss)} | ` +
        `${df.toExponential(1)} | ${ok ? "yes" : "**no**"} |`,
    );
  };
  for (const id of ids) {
    const w = WORKLOADS[id]!;
    if (w.kind !== "train" && w.kind !== "cnn" && w.kind !== "block") continue;
    if (id === "F2" || id === "G2") {
      const oneId = id.slice(0, 1);
      const two = S(id, "gradgraph")?.first;
      const one = S(oneId, "gradgraph")?.first;
      if (two && one) lossRow(id, `gradgraph 2 cores (vs ${oneId}, one core)`, two, one);
      continue;
    }
    if (id === "AFIT" || id === "BFIT") {
      const f = S(id, "gradgraph")?.first;
      const d = S(id === "AFIT" ? "A" : "B", "gradgraph")?.first;
      if (f && d) lossRow(id, "gradgraph via fit (vs the direct cell)", f, d);
      continue;
    }
    const gg = S(id, "gradgraph")?.first;
    if (!gg || (CELLS[id]?.length ?? 0) < 2) continue;
    for (const f of FRAMEWORKS) {
      const r = S(id, f)?.first;
      if (r) lossRow(id, LABEL[f], r, gg);
    }
    // repeats of one framework must agree with each other too (determinism)
    for (const f of FRAMEWORKS) {
      const s = S(id, f);
      if (!s || s.ok.length < 2) continue;
      const spread = Math.max(...s.ok.map((r) => rel(r.finalLoss!, s.first!.finalLoss!)));
      if (spread > 0)
        push(`| ${id} | ${LABEL[f]} (repeats) | | | spread across repeats | ${spread.toExponential(1)} | |`);
    }
  }
  // scaling points: worst point per framework (two-core gradgraph against one-core gradgraph)
  for (const [id, id2] of [
    ["WIDTH", "WIDTH2"],
    ["BATCH", "BATCH2"],
  ] as const) {
    const ref = scalingOf(results, id, "gradgraph");
    if (!ref.size) continue;
    const others: [string, Map<number, ScalingCell>][] = [
      ["gradgraph 2 cores", scalingOf(results, id2, "gradgraph")],
      ...(["tfjs-wasm", "jax", "numpy"] as const).map((f): [string, Map<number, ScalingCell>] => [
        LABEL[f],
        scalingOf(results, id, f),
      ]),
    ];
    for (const [label, m] of others) {
      if (!m.size) continue;
      let worst: { p: number; di: number; df: number; e: ScalingEntry } | null = null;
      for (const [p, c] of m) {
        const r = ref.get(p);
        if (!r) continue;
        const di = rel(c.first.initialLoss, r.first.initialLoss);
        const df = rel(c.first.finalLoss, r.first.finalLoss);
        if (
          !worst ||
          df / TOLERANCE.finalLoss + di / TOLERANCE.initialLoss >
            worst.df / TOLERANCE.finalLoss + worst.di / TOLERANCE.initialLoss
        )
          worst = { p, di, df, e: c.first };
      }
      if (!worst) continue;
      const ok = worst.di <= TOLERANCE.initialLoss && worst.df <= TOLERANCE.finalLoss;
      push(
        `| ${id} (worst of ${m.size} points: ${axisName(id)} ${worst.p}) | ${label} | ${fmtLoss(worst.e.initialLoss)} | ${worst.di.toExponential(1)} | ` +
          `${fmtLoss(worst.e.finalLoss)} | ${worst.df.toExponential(1)} | ${ok ? "yes" : "**no**"} |`,
      );
    }
  }
  // matmul sweep: sampled outputs against gradgraph one core
  if (g1?.size) {
    const others: [string, Map<string, SweepCell> | undefined][] = [
      ["gradgraph 2 cores", g2],
      ...(["tfjs-wasm", "jax", "numpy"] as const).map((f): [string, Map<string, SweepCell> | undefined] => [
        LABEL[f],
        sweep[f],
      ]),
    ];
    for (const [label, m] of others) {
      if (!m?.size) continue;
      let worst = 0;
      let at = "";
      let n = 0;
      for (const { sh, v, key } of keys) {
        const a = m.get(key)?.first;
        const r = g1.get(key)?.first;
        if (!a || !r || !a.sample.length || !r.sample.length) continue;
        n++;
        const d = Math.max(...a.sample.map((x, j) => Math.abs(x - r.sample[j]!))) / Math.max(r.rms, 1e-30);
        if (d >= worst) {
          worst = d;
          at = where(sh, v);
        }
      }
      if (!n) continue;
      push(
        `| D (${n} products; worst ${at}) | ${label} | – | – | sampled outputs | ${worst.toExponential(1)} | ${worst <= TOLERANCE.matmul ? "yes" : "**no**"} |`,
      );
    }
  }
  push("");

  // ---- memory --------------------------------------------------------------------------
  const memRows = ["MEM", "MNIST"].map((id) => S(id, "gradgraph")).filter((s): s is Summary => s !== null);
  if (memRows.length) {
    push(
      "## gradgraph memory",
      "",
      "Workload B trained for one epoch after 50 untimed warm-up steps (so V8 has optimised the loop). Heap numbers",
      "come from `process.memoryUsage().heapUsed` (with `--expose-gc`: full GC before the epoch; after it, once",
      "without and once with a GC); GCs are the collections V8 reported during the epoch; peak RSS is",
      "`process.resourceUsage().maxRSS` (the whole process: Node, tsx, the data set as float32, the plan).",
      "",
      "| cell | data | heap before MB | heap after (no GC) MB | growth MB | bytes / step | after GC MB | GCs | peak RSS MB | s / epoch |",
      "|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const s of memRows) {
      if (!s.first) {
        push(`| ${s.workload} | not run: ${s.failed[0]?.error ?? "?"} | | | | | | | | |`);
        continue;
      }
      const r = s.first;
      const growth = r.heapAfterMB - r.heapBeforeMB;
      push(
        `| ${s.workload} | ${r.notes?.[0] ?? ""} | ${r.heapBeforeMB.toFixed(2)} | ${r.heapAfterMB.toFixed(2)} | ` +
          `${growth.toFixed(3)} | ${((growth * 1024 * 1024) / (r.steps ?? 1)).toFixed(0)} | ${r.heapAfterGcMB.toFixed(2)} | ` +
          `${r.gcCount} | ${r.rssPeakMB.toFixed(0)} | ${fmt(r.seconds)} |`,
      );
    }
    push("");
  }

  // ---- failures ------------------------------------------------------------------------
  const failed = results.filter((r) => !r.ok);
  push("## Failures and timeouts", "");
  if (failed.length === 0 && Object.keys(skipped).length === 0)
    push("None: every cell ran to completion.", "");
  else {
    push("| workload | framework | error |", "|---|---|---|");
    for (const r of failed)
      push(`| ${r.workload} | ${r.framework} | ${(r.error ?? "").replace(/\|/g, "\\|")} |`);
    for (const [f, why] of Object.entries(skipped))
      push(`| all | ${f} | not run: ${why.replace(/\|/g, "\\|")} |`);
    push("");
  }

  // ---- notes ---------------------------------------------------------------------------
  push(
    "## Notes",
    "",
    "- workers: helper threads besides the main one (gradgraph's pool; the peers run on one thread in Node).",
    "- heap Δ / GCs in the workload tables cover the whole timed section, including V8's one-off allocations while",
    "  it optimises the loop in the first steps; the steady state is in the gradgraph memory section. numpy runs in",
    "  a python child process: its peak RSS is python's (`ru_maxrss`), heap and GCs do not apply (–).",
    "- Timed section: the whole run of SGD steps (per step: copy the batch in, forward + backward, update), after",
    "  one untimed warm-up step at the initial weights (compiles plans / jit, loads kernels). Data generation, weight",
    "  upload and compilation are excluded (reported as setup in the raw JSON).",
    "- gradgraph: builder → `grad` → `compile` → one plan per batch shape; batches copied into `plan.inputs`; SGD in",
    "  place on the ParamStore buffers. Two-core cells (B2, C, D2, F2, G2, WIDTH2, BATCH2) call `enableThreads()` from",
    "  `@gradgraph/core/node`. AFIT / BFIT train through `@gradgraph/models`' `fit` instead. F / F2: the core",
    "  builder's `conv2d`, `maxPool2d`, `matmul` (NCHW, weights [O, C, k, k]). G / G2: `transformerEncoderBlock`",
    "  from `@gradgraph/models` (its `layerNorm` and `multiHeadAttention`, exact GELU).",
    "- G in jax-js and tfjs: the same block written with their ops (batched `matmul` over [N, h, T, dk] heads,",
    "  softmax, layer norm from means, GELU `0.5·z·(1 + erf(z/√2))`: jax-js's `nn.gelu(…, { approximate: false })`,",
    "  `tf.erf` in tfjs), weights stored [in, out] in every framework.",
    "- tfjs: `@tensorflow/tfjs` (full package, for gradients) with `tf.setBackend('cpu' | 'wasm')`;",
    "  `optimizer.minimize` inside `tf.tidy`; `dataSync()` at the end. The wasm backend runs single-threaded",
    "  in Node (no threaded binary without cross-origin isolation; `getThreadsCount()` = 1). tfjs-node is not used.",
    "- jax-js: `init('wasm')`, `valueAndGrad` + SGD update inside one `jit`; `blockUntilReady` every 10 steps",
    "  and at the end. Node has no global `Worker`, so jax-js's wasm backend runs on one thread. F: `lax.conv`",
    "  (NCHW) and max pooling by `lax.reduceWindow(h, np.max, …)`.",
    "- F in tfjs: NHWC (tfjs-wasm's Conv2D rejects NCHW), filters as [k, k, C, O], the first dense layer's rows",
    "  permuted to tfjs's flatten order. tfjs-wasm 4.22 has no `Conv2DBackpropFilter` kernel, so `tf.conv2d`'s own",
    "  gradient fails there; the cell then supplies the filter gradient as a `tf.conv2d` of the transposed input",
    "  and output gradient (`tf.customGrad`; input gradient by `tf.conv2dTranspose`) and says so in the F section.",
    "- numpy: float32 arrays, hand-written backprop (`a.T @ dz`, `dz @ W.T`, in-place `W -= step * dW`), timed in",
    "  python with `time.perf_counter`; data and weights passed as raw float32 files. One BLAS thread",
    "  (OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1, MKL_NUM_THREADS=1); OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE",
    "  removed from its environment (they pin OpenBLAS to a slower kernel on these machines).",
    "- Matmul sweep (D, D2): tfjs (wasm) reads the last product of each timed run with `dataSync` (products run in",
    "  order); jax-js blocks on every product; tfjs (cpu) is left out (far too slow for the large sizes).",
    "- Data: synthetic MNIST-shaped (50,000 × 784, ~81% zeros, values k/255; 10,000 rows for the scaling tables)",
    "  and digits-shaped (1,797 × 64, values k/16) sets with labels from a fixed random linear teacher, generated",
    "  from fixed seeds identically in every process (bench/compare/data.ts). Batches are taken in file order.",
    "  G: 3,200 standard-normal sequences [16, 64] with targets tanh((x_t + mean_t x)·M) for a fixed random M.",
    "",
    input.rawFile
      ? `Raw results: \`${input.rawFile}\` (not committed; \`--merge\` reads it to update this report).`
      : "Raw per-cell JSON is written to `bench/results/compare-<date>.json` (not committed).",
    "",
  );
  return lines.join("\n");
}

function axisName(id: string): string {
  return (WORKLOADS[id] as ScalingWorkload).axis === "width" ? "W" : "batch";
}

/** The "## " headings {@link renderReport} writes (other top-level sections are written by hand). */
const RENDERED_SECTIONS = new Set([
  "Machine",
  "Targets",
  "Workloads",
  "Loss agreement",
  "gradgraph memory",
  "Failures and timeouts",
  "Notes",
]);

/** Splits a report into its preamble and its "## " sections (heading text, lines including the heading). */
function sections(md: string): { preamble: string[]; sections: { title: string; lines: string[] }[] } {
  const preamble: string[] = [];
  const out: { title: string; lines: string[] }[] = [];
  for (const line of md.split("\n")) {
    if (line.startsWith("## ")) out.push({ title: line.slice(3).trim(), lines: [line] });
    else if (out.length) out[out.length - 1]!.lines.push(line);
    else preamble.push(line);
  }
  return { preamble, sections: out };
}

/**
 * `rendered` with the hand-written top-level sections of `previous` (a "## " section whose heading
 * the renderer does not write, e.g. notes on the gaps added after a run) carried over, each placed
 * after the section it followed in `previous` (the nearest earlier one that `rendered` has), else
 * before "Notes". Used by `--merge`, so that updating some workloads keeps what was written by hand.
 * Hand-written "### " subsections inside a rendered section are not kept.
 */
export function keepHandWritten(previous: string, rendered: string): string {
  const old = sections(previous);
  const now = sections(rendered);
  const has = new Set(now.sections.map((x) => x.title));
  let anchor: string | null = null;
  const after = new Map<string | null, { title: string; lines: string[] }[]>();
  for (const sec of old.sections) {
    if (RENDERED_SECTIONS.has(sec.title) || has.has(sec.title)) {
      if (has.has(sec.title)) anchor = sec.title;
      continue;
    }
    after.set(anchor, [...(after.get(anchor) ?? []), sec]);
  }
  if (!after.size) return rendered;
  const lines = [...now.preamble];
  for (const sec of now.sections) {
    if (sec.title === "Notes" && after.has(null)) for (const h of after.get(null)!) lines.push(...h.lines);
    lines.push(...sec.lines);
    for (const h of after.get(sec.title) ?? []) lines.push(...h.lines);
  }
  if (!has.has("Notes")) for (const h of after.get(null) ?? []) lines.push(...h.lines);
  return lines.join("\n");
}
