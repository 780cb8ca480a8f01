/**
 * `pnpm bench`: benny suites for gradgraph alone.
 *
 * - kernels: float32 matmul n³ for n = 64, 256, 1024 (and 2048 with --matmul-2048), each as A·B, Aᵀ·B
 *   and A·Bᵀ, with GFLOP/s; elementwise add and sigmoid on 1M elements, row softmax of [1000, 1000],
 *   sum of 1M elements; each a compiled plan of one op.
 * - steps: one SGD training step (copy a batch in, forward + backward, in-place update) of workloads
 *   A, B and E from bench/compare (the same networks as `pnpm bench:compare`).
 * - threads: the matmuls at 256 and 1024 (and 2048) again with the worker pool (`enableThreads()`), run
 *   last.
 * - large (only when asked for): build, differentiate, compile and run a 1,000,000-node chain,
 *   timing each phase (see large.ts; `pnpm bench:large` runs it with a larger heap).
 *
 * Results are printed and saved as benny JSON and CSV under bench/results/. Runs in about two minutes.
 * Options: --only kernels,steps,threads,large (large also takes --nodes N, --no-fuse, --runs N);
 * --matmul-2048 adds the 2048³ products to kernels and threads.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compile, GraphBuilder, type Plan, type Value } from "@gradgraph/core";
import { enableThreads, threadCount } from "@gradgraph/core/node";
import b from "benny";
import { buildTrainer } from "./compare/cells/gradgraph.js";
import { Batcher, makeDataset, makeMatrices, makeWeights } from "./compare/data.js";
import { type TrainWorkload, WORKLOADS } from "./compare/workloads.js";
import { largeGraphBenchmark, parseLargeOptions } from "./large.js";

const folder = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");
const cases = { minSamples: 5, maxTime: 2 };
const argv = process.argv.slice(2);
const onlyArg = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
const only = new Set((onlyArg ?? "kernels,steps,threads").split(","));
/** Square matmul sizes of the kernels suite (2048 only when asked: ~0.5 s per product on one core). */
const MATMUL_SIZES = [64, 256, 1024, ...(argv.includes("--matmul-2048") ? [2048] : [])];
const VARIANTS = [
  ["A·B", {}],
  ["Aᵀ·B", { transA: true }],
  ["A·Bᵀ", { transB: true }],
] as const;

type Summary = Awaited<ReturnType<typeof b.suite>>;

/** Prints a compact table: ops/s, time per op, margin, samples. */
function report(summary: Summary): void {
  console.log(`\n${summary.name}`);
  for (const r of summary.results) {
    const us = 1e6 / r.ops;
    const per = us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`;
    console.log(
      `  ${r.name.padEnd(34)} ${r.ops.toFixed(1).padStart(12)} ops/s  ${per.padStart(10)}/op  ±${r.margin.toFixed(2)}%  (${r.samples} samples)`,
    );
  }
}

function saves(file: string) {
  return [
    b.save({ file, folder, format: "json", details: false }),
    b.save({ file, folder, format: "csv", details: false }),
  ];
}

/** A plan of one op over fresh inputs filled with deterministic values in [-1, 1). */
function opPlan(
  shapes: Record<string, number[]>,
  build: (g: GraphBuilder, xs: Record<string, Value>) => Value,
): Plan {
  const g = new GraphBuilder({ dtype: "float32" });
  const xs: Record<string, Value> = {};
  for (const [name, shape] of Object.entries(shapes)) xs[name] = g.input(name, shape);
  g.output("out", build(g, xs));
  const plan = compile(g.build()).plan(shapes);
  let seed = 1;
  for (const t of Object.values(plan.inputs)) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
      d[i] = (seed >>> 8) / 8388608 - 1;
    }
  }
  plan.run();
  return plan;
}

/** The three products of n×n matrices (A·B, Aᵀ·B, A·Bᵀ) as benny cases, each its own plan. */
function matmulCases(sizes: readonly number[]) {
  return sizes.flatMap((n) => {
    const { a, b: bm } = makeMatrices(n);
    return VARIANTS.map(([label, opts]) => {
      const p = opPlan({ a: [n, n], b: [n, n] }, (_g, x) => x.a!.matmul(x.b!, opts));
      p.inputs.a!.data.set(a);
      p.inputs.b!.data.set(bm);
      return b.add(`matmul ${n} ${label}`, () => p.run());
    });
  });
}

/** Prints GFLOP/s of every `matmul <n> <variant>` case of a suite. */
function reportGflops(summary: Summary): void {
  for (const r of summary.results) {
    const m = /^matmul (\d+) /.exec(r.name);
    if (!m) continue;
    const n = Number(m[1]);
    console.log(`  ${r.name.padEnd(34)} ${((r.ops * 2 * n ** 3) / 1e9).toFixed(1).padStart(8)} GFLOP/s`);
  }
}

async function kernels(): Promise<void> {
  const M = 1 << 20;
  const add = opPlan({ a: [M], b: [M] }, (_g, x) => x.a!.add(x.b!));
  const sig = opPlan({ a: [M] }, (_g, x) => x.a!.sigmoid());
  const soft = opPlan({ a: [1000, 1000] }, (_g, x) => x.a!.softmax());
  const sum = opPlan({ a: [M] }, (_g, x) => x.a!.sum());
  const summary = await b.suite(
    "kernels (float32, one core)",
    ...matmulCases(MATMUL_SIZES),
    b.add("add 1M", () => add.run()),
    b.add("sigmoid 1M", () => sig.run()),
    b.add("softmax rows [1000, 1000]", () => soft.run()),
    b.add("sum 1M", () => sum.run()),
    b.configure({ cases, minDisplayPrecision: 2 }),
    b.cycle(),
    ...saves("kernels"),
  );
  report(summary);
  reportGflops(summary);
}

/** One training step of a workload: fill batch `s` (cycling), run, update in place. */
function stepFn(id: string): () => void {
  const w = WORKLOADS[id] as TrainWorkload;
  const data = makeDataset({ ...w.data, n: Math.min(w.data.n, Math.max(w.batch * 20, 200)) });
  const batcher = new Batcher(data, w.batch);
  const t = buildTrainer(w, makeWeights(w));
  let s = 0;
  return () => {
    batcher.fill(s++, t.x, t.y);
    t.plan.run();
    t.update(w.stepSize);
  };
}

async function steps(): Promise<void> {
  const summary = await b.suite(
    "training steps (one SGD step, one core)",
    b.add("A: 784-30-10 sigmoid, batch 10", stepFn("A")),
    b.add("B: 784-90-10 relu/softmax, batch 100", stepFn("B")),
    b.add("E: 64-32-16-10 sigmoid, batch 1", stepFn("E")),
    b.configure({ cases, minDisplayPrecision: 2 }),
    b.cycle(),
    ...saves("steps"),
  );
  report(summary);
}

async function threads(): Promise<void> {
  const want = enableThreads();
  const deadline = performance.now() + 10_000;
  while (threadCount() < want && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const summary = await b.suite(
    `threads (${threadCount()} worker(s) + main)`,
    ...matmulCases(MATMUL_SIZES.filter((n) => n >= 256)),
    b.configure({ cases, minDisplayPrecision: 2 }),
    b.cycle(),
    ...saves("threads"),
  );
  report(summary);
  reportGflops(summary);
}

const t0 = performance.now();
if (only.has("kernels")) await kernels();
if (only.has("steps")) await steps();
if (only.has("large")) largeGraphBenchmark(parseLargeOptions(argv));
if (only.has("threads")) await threads();
console.log(`\nbench: done in ${((performance.now() - t0) / 1000).toFixed(0)} s; results in ${folder}`);
process.exit(0);
