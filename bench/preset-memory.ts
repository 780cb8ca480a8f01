/**
 * Peak memory of the MNIST examples, each run through the real CLI with its default options:
 *
 *   node --conditions=@gradgraph/source --import tsx bench/preset-memory.ts [options]
 *
 * Every example whose registry entry says `data: "mnist"` (nielsen, ng-ex4, relu-softmax) runs in a
 * fresh child process exactly as `pnpm example <name>` runs it: the command of the root
 * package.json's `example` script, from the repository root, with `--json` and a temporary `--out`.
 * The data comes from `GRADGRAPH_DATA_DIR` (else `../shared/datasets` beside the repository).
 *
 * Reported per example, as a markdown table on stdout:
 * - peak RSS: the CLI process's own high-water mark (`peakRssMiB` in its `--json` line, from
 *   `process.resourceUsage().maxRSS`). It covers the example's worker thread, which shares the
 *   process, and it is exact: the kernel records it, nothing is sampled. A checkout whose CLI does
 *   not report it yet (`--root` on an older commit) is measured with `/usr/bin/time`'s maximum
 *   resident set size of the same process instead, which is the same kernel figure.
 * - tree peak: the largest sum of the resident sizes of the child and all its descendants, sampled
 *   from /proc every 10 ms (Linux only; with `--pnpm` it includes pnpm's own process). Sampling can
 *   miss a short spike, so it is a lower bound; it shows that nothing else is started.
 * - wall seconds of the whole child process, and the example's headline metric, so that a change
 *   that alters the results shows up next to its memory.
 * With `--repeats n` each example runs n times (interleaved) and the table gives the median and the
 * largest peak: the peak moves by a few MiB from run to run with the garbage collector's timing.
 *
 * Options:
 *   --only a,b       examples to run (default: every MNIST example)
 *   --repeats n      runs per example (default 1)
 *   --pnpm           run `pnpm example <name>` itself (the tree then includes pnpm)
 *   --root dir       the checkout whose CLI runs (default: this one), e.g. a worktree of a base commit
 *   --max-mib m      exit with code 1 when a peak RSS is above m MiB (a check for CI)
 *   --data-dir dir   the data directory (default $GRADGRAPH_DATA_DIR, else ../shared/datasets)
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EXAMPLES } from "../examples/src/registry.js";

/** What one run of an example gave. */
export interface MemoryRun {
  /** The example's name. */
  readonly example: string;
  /** The CLI process's peak RSS in MiB (its `peakRssMiB`). */
  readonly peakRssMiB: number;
  /** The largest sampled sum of the RSS of the child's process tree, in MiB (0 where /proc is missing). */
  readonly treePeakMiB: number;
  /** Wall seconds of the child process. */
  readonly seconds: number;
  /** The example's final metrics (from its `--json` line). */
  readonly metrics: Readonly<Record<string, unknown>>;
}

const HERE = fileURLToPath(new URL(".", import.meta.url));
const MIB = 1024 * 1024;

/** `/usr/bin/time`, which reports the maximum RSS of the process it runs, when installed. */
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

/**
 * The RSS in bytes of `pid` and of every process descended from it (Linux /proc), or 0; without
 * `pid` itself when `skipRoot` (a `/usr/bin/time` wrapper).
 */
function treeRss(pid: number, skipRoot = false): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const status = readFileSync(`/proc/${e}/status`, "utf8");
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
      rss.set(Number(e), kb * 1024);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  let total = skipRoot ? -(rss.get(pid) ?? 0) : 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    total += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

/** The command of the root package.json's `example` script, as program and arguments. */
function exampleCommand(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  const words = pkg.scripts.example!.split(/\s+/).filter(Boolean);
  if (words[0] !== "node") throw new Error(`unexpected example script: ${pkg.scripts.example}`);
  return [process.execPath, ...words.slice(1)];
}

/** Runs one example through the CLI and measures it. */
export async function measure(
  name: string,
  o: { root: string; dataDir: string; pnpm: boolean },
): Promise<MemoryRun> {
  const out = mkdtempSync(join(tmpdir(), `gradgraph-mem-${name}-`));
  const args = [name, "--json", "--out", join(out, "files")];
  const command = [...(o.pnpm ? ["pnpm", "example"] : exampleCommand(o.root)), ...args];
  // /usr/bin/time writes the child's maximum RSS (KiB) to a file, apart from its output
  const timeFile = join(out, "maxrss");
  if (TIME) command.unshift(TIME, "-f", "%M", "-o", timeFile);
  const [cmd, ...rest] = command;
  const started = performance.now();
  const child = spawn(cmd!, rest, {
    cwd: o.root,
    env: { ...process.env, GRADGRAPH_DATA_DIR: o.dataDir, CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  let treePeak = 0;
  const sampler = setInterval(() => {
    if (child.pid !== undefined) treePeak = Math.max(treePeak, treeRss(child.pid, TIME !== null));
  }, 10);
  const code = await new Promise<number | null>((done, fail) => {
    child.on("error", fail);
    child.on("close", done);
  });
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  const timeKiB =
    TIME && existsSync(timeFile) ? Number(readFileSync(timeFile, "utf8").trim().split("\n").at(-1)) : null;
  rmSync(out, { recursive: true, force: true });
  const last = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !last.startsWith("{")) {
    throw new Error(
      `${name}: exit code ${code}\n${stderr.trim()}\n${stdout.trim().split("\n").slice(-3).join("\n")}`,
    );
  }
  const summary = JSON.parse(last) as { peakRssMiB?: number; metrics: Record<string, unknown> };
  // an older CLI without peakRssMiB: /usr/bin/time's figure for the same process (not with --pnpm,
  // where it would be pnpm's)
  const peak = summary.peakRssMiB ?? (timeKiB !== null && !o.pnpm ? timeKiB / 1024 : null);
  if (peak === null)
    throw new Error(`${name}: the CLI's --json line has no peakRssMiB (and no /usr/bin/time)`);
  return {
    example: name,
    peakRssMiB: Math.round(peak * 10) / 10,
    treePeakMiB: treePeak / MIB,
    seconds,
    metrics: summary.metrics,
  };
}

/** The MNIST examples of the registry (those the goal "under 400 MB" is about). */
export function mnistExamples(): string[] {
  return EXAMPLES.filter((e) => e.data === "mnist").map((e) => e.name);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The headline metric of an example's results, for the table. */
function headline(metrics: Readonly<Record<string, unknown>>): string {
  for (const key of ["testAccuracy", "trainAccuracy"]) {
    const v = metrics[key];
    if (typeof v === "number") return `${key} ${v}`;
  }
  return "";
}

/** The markdown table of the runs, one row per example. */
export function table(runs: readonly MemoryRun[], repeats: number): string {
  const names = [...new Set(runs.map((r) => r.example))];
  const mb = (mib: number) => `${mib.toFixed(0)} MiB (${((mib * MIB) / 1e6).toFixed(0)} MB)`;
  const lines = [
    repeats > 1
      ? `| example | peak RSS, median of ${repeats} | largest | tree peak (sampled) | wall s (median) | result |`
      : "| example | peak RSS | tree peak (sampled) | wall s | result |",
    repeats > 1 ? "|---|---|---|---|---|---|" : "|---|---|---|---|---|",
  ];
  for (const name of names) {
    const rs = runs.filter((r) => r.example === name);
    const peaks = rs.map((r) => r.peakRssMiB);
    const tree = Math.max(...rs.map((r) => r.treePeakMiB));
    const cells = [
      `\`${name}\``,
      mb(median(peaks)),
      ...(repeats > 1 ? [mb(Math.max(...peaks))] : []),
      tree > 0 ? mb(tree) : "n/a",
      median(rs.map((r) => r.seconds)).toFixed(1),
      headline(rs[0]!.metrics),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

function parseArgs(argv: readonly string[]) {
  const o = {
    only: null as string[] | null,
    repeats: 1,
    pnpm: false,
    root: resolve(HERE, ".."),
    maxMib: null as number | null,
    dataDir: process.env.GRADGRAPH_DATA_DIR ?? resolve(HERE, "../../shared/datasets"),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--only") o.only = value().split(",").filter(Boolean);
    else if (a === "--repeats") o.repeats = Number(value());
    else if (a === "--pnpm") o.pnpm = true;
    else if (a === "--root") o.root = resolve(value());
    else if (a === "--max-mib") o.maxMib = Number(value());
    else if (a === "--data-dir") o.dataDir = resolve(value());
    else throw new Error(`unknown option ${a} (see the comment at the top of bench/preset-memory.ts)`);
  }
  if (!Number.isInteger(o.repeats) || o.repeats < 1) throw new Error("--repeats must be an integer >= 1");
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const all = mnistExamples();
  const names = o.only ?? all;
  for (const n of names)
    if (!all.includes(n)) throw new Error(`'${n}' is not an MNIST example (${all.join(", ")})`);
  if (!existsSync(join(o.dataDir, "mnist")))
    throw new Error(`no MNIST in ${o.dataDir} (set GRADGRAPH_DATA_DIR)`);
  const runs: MemoryRun[] = [];
  for (let rep = 0; rep < o.repeats; rep++) {
    for (const name of names) {
      const r = await measure(name, o);
      process.stderr.write(
        `${name} (run ${rep + 1}/${o.repeats}): peak RSS ${r.peakRssMiB} MiB, tree ${r.treePeakMiB.toFixed(1)} MiB, ${r.seconds.toFixed(1)} s, ${headline(r.metrics)}\n`,
      );
      runs.push(r);
    }
  }
  console.log(table(runs, o.repeats));
  if (o.maxMib !== null) {
    const over = runs.filter((r) => r.peakRssMiB > o.maxMib!);
    if (over.length) {
      process.stderr.write(
        `over ${o.maxMib} MiB: ${over.map((r) => `${r.example} ${r.peakRssMiB} MiB`).join(", ")}\n`,
      );
      process.exitCode = 1;
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
