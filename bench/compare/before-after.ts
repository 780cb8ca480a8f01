/**
 * Before/after: gradgraph's comparison cells run from two checkouts, interleaved in one run, so a
 * change can be judged against the code before it on the same (noisy, shared) machine.
 *
 *   node --conditions=@gradgraph/source --import tsx bench/compare/before-after.ts --base DIR \
 *     [--repeats N] [--only A,B,C,D,E]
 *
 * DIR is another checkout with its dependencies installed (e.g. `git worktree add /tmp/base <ref>`
 * then `pnpm install` there). Each repeat runs every workload once in the base checkout and once in
 * this one, alternating which goes first, each cell in a fresh process. Prints medians, ranges and
 * the speed ratio (above 1: this checkout is faster).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type CellResult, RESULT_PREFIX } from "./measure.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const headRoot = path.resolve(here, "../..");

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const baseArg = arg("--base");
if (!baseArg) {
  console.error("usage: before-after.ts --base DIR [--repeats N] [--only A,B,C,D,E]");
  process.exit(2);
}
const baseRoot = path.resolve(baseArg);
if (!existsSync(path.join(baseRoot, "bench/compare/cell.ts"))) {
  console.error(`--base ${baseRoot}: no bench/compare/cell.ts there`);
  process.exit(2);
}
const repeats = Number(arg("--repeats") ?? 3);
if (!Number.isInteger(repeats) || repeats < 1) {
  console.error("--repeats must be a positive integer");
  process.exit(2);
}
const workloads = (arg("--only") ?? "A,B,C,D,E").split(",").map((s) => s.trim());

/** Runs gradgraph's cell for `workload` from checkout `root` in a fresh process. */
function cell(root: string, workload: string): Promise<CellResult> {
  const args = [
    "--expose-gc",
    "--conditions=@gradgraph/source",
    "--import",
    "tsx",
    path.join(root, "bench/compare/cell.ts"),
    "gradgraph",
    workload,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
      if (!line)
        return reject(new Error(`${root} ${workload}: exit ${code} without a result: ${err.trim()}`));
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as CellResult);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, { base: number[]; head: number[]; metric: string }>();
for (let r = 0; r < repeats; r++) {
  for (const w of workloads) {
    const order = r % 2 === 0 ? (["base", "head"] as const) : (["head", "base"] as const);
    for (const side of order) {
      const res = await cell(side === "base" ? baseRoot : headRoot, w);
      const entry = results.get(w) ?? { base: [], head: [], metric: res.metric };
      entry[side].push(res.value);
      results.set(w, entry);
      console.error(`repeat ${r + 1}/${repeats} ${w} ${side}: ${res.value.toPrecision(4)} ${res.metric}`);
    }
  }
}

console.log(`\nbase ${baseRoot}\nhead ${headRoot}\n${repeats} repeat(s), medians [min - max]\n`);
console.log("| workload | metric | base | head | head speed / base |");
console.log("|---|---|---|---|---|");
for (const [w, { base, head, metric }] of results) {
  const b = median(base);
  const h = median(head);
  // gflops: higher is better; seconds and usPerStep: lower is better
  const ratio = metric === "gflops" ? h / b : b / h;
  const fmt = (xs: number[]) =>
    `${median(xs).toPrecision(4)} [${Math.min(...xs).toPrecision(3)} - ${Math.max(...xs).toPrecision(3)}]`;
  console.log(`| ${w} | ${metric} | ${fmt(base)} | ${fmt(head)} | ${ratio.toFixed(3)}x |`);
}
