/**
 * `pnpm bench:compare`: runs every (framework, workload) cell in a fresh process, interleaving
 * frameworks round-robin within each repeat, then writes bench/RESULTS.md (medians, min/max,
 * ratios, targets, loss agreement, memory, machine info) and the raw JSON under bench/results/.
 *
 * Options:
 *   --repeats N          repeats per cell (default 3; 1 with --quick)
 *   --only A,B           workloads (default: all; ids A AFIT B B2 BFIT C C1 D D2 E F F2 G G2 WIDTH WIDTH2
 *                        BATCH BATCH2 MEM MNIST; groups: sweep = D,D2, scaling = WIDTH,WIDTH2,BATCH,BATCH2,
 *                        fit = A,AFIT,B,BFIT, cores = B,B2,C,C1, cnn = F,F2, transformer = G,G2)
 *   --frameworks a,b     gradgraph, tfjs-cpu, tfjs-wasm, jax, numpy (aliases: tfjs = both tfjs backends,
 *                        gg, np)
 *   --quick              smoke run: ~1/20 of the steps, short matmul timings up to 512³, few scaling
 *                        steps (not comparable numbers)
 *   --timeout SEC        per-cell limit (default 600); a cell that times out is not repeated
 *   --out FILE           report path (default bench/RESULTS.md; bench/results/RESULTS-quick.md with --quick)
 *   --render FILE.json   only re-render a report from a raw results file written by an earlier run
 *   --merge [FILE.json]  merge this (partial) run into an earlier one instead of reporting it alone: the
 *                        earlier raw results (FILE, default: the raw file named by the report at --out)
 *                        keep their cells of every workload not re-run; the re-run workloads' cells are
 *                        replaced; the merged raw file and the report are written as usual
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { numpyUnavailable, pythonExecutable } from "./cells/numpy.js";
import { type CellResult, RESULT_PREFIX } from "./measure.js";
import { keepHandWritten, type MachineInfo, type MergeInfo, renderReport } from "./report.js";
import { CELLS, FRAMEWORKS, type Framework, WORKLOADS } from "./workloads.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const benchDir = path.resolve(here, "..");
const repoRoot = path.resolve(benchDir, "..");

interface Options {
  repeats: number;
  only: string[];
  frameworks: Framework[];
  quick: boolean;
  timeoutSec: number;
  out: string;
  /** `--merge`: the raw results file to merge into (resolved before any cell runs), or null. */
  merge: string | null;
}

function parseArgs(argv: readonly string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
    return v;
  };
  const known = new Set([
    "--repeats",
    "--only",
    "--frameworks",
    "--quick",
    "--timeout",
    "--out",
    "--render",
    "--merge",
    "--help",
  ]);
  for (const a of argv) if (a.startsWith("--") && !known.has(a)) throw new Error(`unknown option ${a}`);
  if (argv.includes("--help")) {
    console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("*/")[0]);
    process.exit(0);
  }
  const quick = argv.includes("--quick");
  const groups: Record<string, string[]> = {
    SWEEP: ["D", "D2"],
    SCALING: ["WIDTH", "WIDTH2", "BATCH", "BATCH2"],
    FIT: ["A", "AFIT", "B", "BFIT"],
    CORES: ["B", "B2", "C", "C1"],
    CNN: ["F", "F2"],
    TRANSFORMER: ["G", "G2"],
  };
  const asked = new Set(
    (get("--only") ?? Object.keys(WORKLOADS).join(","))
      .split(",")
      .map((s) => s.trim().toUpperCase())
      .filter(Boolean)
      .flatMap((s) => groups[s] ?? [s]),
  );
  for (const id of asked)
    if (!WORKLOADS[id])
      throw new Error(
        `unknown workload ${id} (${Object.keys(WORKLOADS).join(", ")}; groups ${Object.keys(groups).join(", ").toLowerCase()})`,
      );
  // in report order
  const only = Object.keys(WORKLOADS).filter((id) => asked.has(id));
  const aliases: Record<string, Framework[]> = {
    gg: ["gradgraph"],
    gradgraph: ["gradgraph"],
    tfjs: ["tfjs-cpu", "tfjs-wasm"],
    "tfjs-cpu": ["tfjs-cpu"],
    "tfjs-wasm": ["tfjs-wasm"],
    jax: ["jax"],
    "jax-js": ["jax"],
    numpy: ["numpy"],
    np: ["numpy"],
  };
  const fw = (get("--frameworks") ?? FRAMEWORKS.join(","))
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .flatMap((s) => {
      const f = aliases[s];
      if (!f) throw new Error(`unknown framework ${s} (${Object.keys(aliases).join(", ")})`);
      return f;
    });
  const frameworks = FRAMEWORKS.filter((f) => fw.includes(f));
  const repeats = Number(get("--repeats") ?? (quick ? 1 : 3));
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error("--repeats must be a positive integer");
  const timeoutSec = Number(get("--timeout") ?? 600);
  const out = path.resolve(
    get("--out") ??
      (quick ? path.join(benchDir, "results", "RESULTS-quick.md") : path.join(benchDir, "RESULTS.md")),
  );
  const mergeAt = argv.indexOf("--merge");
  const mergeArg =
    mergeAt >= 0 && argv[mergeAt + 1] && !argv[mergeAt + 1]!.startsWith("--") ? argv[mergeAt + 1]! : null;
  const merge = mergeAt < 0 ? null : mergeArg ? path.resolve(mergeArg) : baseOfReport(out);
  return { repeats, only, frameworks, quick, timeoutSec, out, merge };
}

const RESULTS_DIR = path.join(benchDir, "results");

/** The raw file of a run started at `started` (as the runner names it). */
function rawPathOf(started: Date): string {
  return path.join(RESULTS_DIR, `compare-${started.toISOString().replace(/[:.]/g, "-")}.json`);
}

/**
 * The raw results file behind the report `out`: the file its "Raw results:" line names, else (reports
 * written before that line existed) the file of the run its "Generated by … on <date>" line names.
 */
function baseOfReport(out: string): string {
  const shown = path.relative(repoRoot, out);
  const hint = "name the raw results file to merge into: --merge bench/results/compare-<date>.json";
  if (!existsSync(out)) throw new Error(`--merge: no report at ${shown} to merge into; ${hint}`);
  const md = readFileSync(out, "utf8");
  const named = /^Raw results: `([^`]+\.json)`/m.exec(md);
  const generated = /^Generated by `[^`]*` on (\d{4}-\d\d-\d\dT[\d:.]+Z)/m.exec(md);
  const file = named
    ? path.resolve(repoRoot, named[1]!)
    : generated
      ? rawPathOf(new Date(generated[1]!))
      : null;
  if (!file) throw new Error(`--merge: ${shown} names no raw results file; ${hint}`);
  if (!existsSync(file))
    throw new Error(
      `--merge: ${shown} was rendered from ${path.relative(repoRoot, file)}, which is not here (bench/results/ is not committed); ${hint}`,
    );
  return file;
}

/** Reads a raw results file and checks that it is one. */
function readRaw(file: string): RawResults {
  const raw = JSON.parse(readFileSync(file, "utf8")) as RawResults;
  if (!Array.isArray(raw.results) || !raw.options || !raw.machine || !raw.started)
    throw new Error(`${path.relative(repoRoot, file)} is not a bench:compare raw results file`);
  return raw;
}

/** Throws unless a run with `quick` may be merged into `base` (quick runs only into quick runs). */
function checkMergeable(base: RawResults, baseFile: string, quick: boolean): void {
  if (base.options.quick !== quick)
    throw new Error(
      `--merge: cannot merge a ${quick ? "--quick" : "full"} run into a ${base.options.quick ? "--quick" : "full"} one (${path.relative(repoRoot, baseFile)})`,
    );
}

/**
 * `base` with the cells of `run` merged in: every cell of a workload in `rerun` is dropped from
 * `base` and `run`'s cells are added (so every ratio within a workload still compares cells of one
 * run); the workload list is the union in report order, and the merge is recorded in `merged`.
 */
export function mergeRuns(
  base: RawResults,
  baseFile: string,
  run: RawResults,
  rerun: readonly string[],
): RawResults {
  checkMergeable(base, baseFile, run.options.quick);
  const again = new Set(rerun);
  const only = new Set([...base.options.only, ...rerun]);
  const info: MergeInfo = {
    command: run.command,
    started: new Date(run.started).toISOString(),
    finished: new Date(run.finished).toISOString(),
    workloads: [...rerun],
    repeats: run.options.repeats,
    loadAverage: run.machine.loadAverage,
    ...(run.machine.loadAverageEnd ? { loadAverageEnd: run.machine.loadAverageEnd } : {}),
    base: path.relative(repoRoot, baseFile),
  };
  return {
    ...base,
    options: {
      ...base.options,
      only: Object.keys(WORKLOADS).filter((id) => only.has(id)),
      out: run.options.out,
    },
    results: [...base.results.filter((r) => !again.has(r.workload)), ...run.results],
    skipped: { ...base.skipped, ...run.skipped },
    merged: [...(base.merged ?? []), info],
  };
}

/** Runs one cell in a fresh Node process; resolves with its result line (or a failure record). */
function runCell(
  framework: Framework,
  workload: string,
  quick: boolean,
  timeoutSec: number,
  repeat: number,
): Promise<CellResult> {
  const args = [
    "--expose-gc",
    "--conditions=@gradgraph/source",
    "--import",
    "tsx",
    path.join(here, "cell.ts"),
    framework,
    workload,
    ...(quick ? ["--quick"] : []),
    "--repeat",
    String(repeat),
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutSec * 1000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
      const failure = (error: string): CellResult =>
        ({ framework, workload, ok: false, error }) as unknown as CellResult;
      if (timedOut) return resolve(failure(`timeout after ${timeoutSec} s`));
      if (!line) {
        const tail = stderr.trim().split("\n").slice(-5).join(" | ");
        return resolve(failure(`exit ${code ?? signal} without a result: ${tail}`));
      }
      try {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as CellResult);
      } catch (e) {
        resolve(failure(`unparsable result line: ${String(e)}`));
      }
    });
  });
}

function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  const pkg = JSON.parse(readFileSync(path.join(benchDir, "package.json"), "utf8")) as {
    devDependencies?: Record<string, string>;
  };
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGB: os.totalmem() / 1024 ** 3,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg(),
    peers: pkg.devDependencies ?? {},
  };
}

/**
 * The raw file a run writes next to its report. Fields added later are optional, so older files
 * still render and merge: `merged` (the partial runs merged in, see {@link mergeRuns}) and
 * `options.merge`.
 */
export interface RawResults {
  command: string;
  started: string | Date;
  finished: string | Date;
  machine: MachineInfo;
  options: Omit<Options, "merge"> & { merge?: string | null };
  results: CellResult[];
  skipped?: Partial<Record<Framework, string>>;
  merged?: MergeInfo[];
}

/** Renders `raw` (read from or written to `file`) as a report at `target`. */
/**
 * Renders `raw` (read from or written to `file`) as a report at `target`. With `keep`, the
 * hand-written "## " sections of the report already at `target` are carried over (see
 * {@link keepHandWritten}); `--merge` does this.
 */
function writeReport(raw: RawResults, file: string, target: string, keep = false): void {
  let md = renderReport({
    ...raw,
    started: new Date(raw.started),
    finished: new Date(raw.finished),
    rawFile: path.relative(repoRoot, file),
  });
  if (keep && existsSync(target)) md = keepHandWritten(readFileSync(target, "utf8"), md);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, md);
}

function render(file: string, out: string | undefined): void {
  const raw = readRaw(file);
  const target = path.resolve(out ?? raw.options.out);
  writeReport(raw, path.resolve(file), target);
  console.log(`wrote ${path.relative(repoRoot, target)} from ${file}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const renderFrom = argv.indexOf("--render");
  if (renderFrom >= 0) {
    const outAt = argv.indexOf("--out");
    render(argv[renderFrom + 1] ?? "", outAt >= 0 ? argv[outAt + 1] : undefined);
    return;
  }
  const opts = parseArgs(argv);
  // read the run to merge into before spending minutes on cells
  const base = opts.merge ? readRaw(opts.merge) : null;
  if (base && opts.merge) {
    checkMergeable(base, opts.merge, opts.quick);
    console.log(`bench:compare: will merge into ${path.relative(repoRoot, opts.merge)}`);
  }
  const skipped: Partial<Record<Framework, string>> = {};
  const wanted = (f: Framework) => opts.only.some((id) => CELLS[id]?.includes(f));
  if (opts.frameworks.includes("numpy") && wanted("numpy")) {
    const why = await numpyUnavailable();
    if (why) {
      skipped.numpy = `${pythonExecutable()} with numpy unavailable (${why})`;
      console.log(`bench:compare: skipping the numpy cells: ${skipped.numpy}`);
    }
  }
  const cells: [string, Framework[]][] = opts.only
    .map((id): [string, Framework[]] => [
      id,
      (CELLS[id] ?? []).filter((f) => opts.frameworks.includes(f) && !skipped[f]),
    ])
    .filter(([, fws]) => fws.length > 0);
  const total = cells.reduce((n, [, f]) => n + f.length, 0) * opts.repeats;
  const machine = machineInfo();
  const started = new Date();
  console.log(
    `bench:compare: ${total} cells (${opts.repeats} repeat(s)${opts.quick ? ", quick" : ""}) on ${machine.cpu}, ` +
      `${machine.cores} cores, load ${machine.loadAverage.map((l) => l.toFixed(2)).join(" ")}`,
  );
  const results: CellResult[] = [];
  const timedOut = new Set<string>();
  let done = 0;
  for (let rep = 0; rep < opts.repeats; rep++) {
    for (const [id, fws] of cells) {
      // round-robin: rotate the framework order each repeat, so no framework always runs first
      const order = fws.map((_, k) => fws[(k + rep) % fws.length]!);
      for (const fw of order) {
        done++;
        const key = `${fw}/${id}`;
        if (timedOut.has(key)) {
          console.log(`[${done}/${total}] ${key} skipped (timed out before)`);
          continue;
        }
        const t0 = performance.now();
        const r = await runCell(fw, id, opts.quick, opts.timeoutSec, rep + 1);
        const wall = ((performance.now() - t0) / 1000).toFixed(1);
        results.push(r);
        if (!r.ok && r.error?.startsWith("timeout")) timedOut.add(key);
        const shown = r.ok
          ? `${r.value.toPrecision(4)} ${r.metric}${r.finalLoss !== undefined ? `, loss ${r.finalLoss.toPrecision(6)}` : ""}`
          : `FAILED: ${r.error}`;
        console.log(`[${done}/${total}] rep ${rep + 1} ${key}: ${shown} (${wall} s wall)`);
      }
    }
  }
  const finished = new Date();
  machine.loadAverageEnd = os.loadavg();
  const command = `pnpm bench:compare${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  const thisRun: RawResults = { command, started, finished, machine, options: opts, results, skipped };
  const out =
    base && opts.merge
      ? mergeRuns(
          base,
          opts.merge,
          thisRun,
          cells.map(([id]) => id),
        )
      : thisRun;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const raw = rawPathOf(started);
  writeFileSync(raw, `${JSON.stringify(out, null, 2)}\n`);
  writeReport(out, raw, opts.out, opts.merge !== null);
  console.log(`wrote ${path.relative(repoRoot, opts.out)} and ${path.relative(repoRoot, raw)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
