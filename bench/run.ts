/**
 * `pnpm bench`: benny suites for gradgraph alone.
 *
 * - kernels: float32 matmul n³ for n = 64, 256, 1024 (and 2048 with --matmul-2048), each as A·B, Aᵀ·B
 *   and A·Bᵀ, with GFLOP/s; elementwise add and sigmoid on 1M elements, row softmax of [1000, 1000],
 *   sum of 1M elements; each a compiled plan of one op. Then the conv section (also alone: --only conv):
 *   conv2d forward, input gradient (conv2dTranspose) and filter gradient (conv2dBackpropFilter) at
 *   LeNet and small-ResNet shapes, each next to the matmul kernel on the equivalent GEMM (per image
 *   and for the whole batch), with GFLOP/s and the conv / GEMM ratio (target ≥ 60%).
 * - steps: one SGD training step (copy a batch in, forward + backward, in-place update) of workloads
 *   A, B and E from bench/compare (the same networks as `pnpm bench:compare`).
 * - threads: the matmuls at 256 and 1024 (and 2048) again with the worker pool (`enableThreads()`), run
 *   last.
 * - large (only when asked for): build, differentiate, compile and run a 1,000,000-node chain,
 *   timing each phase (see large.ts; `pnpm bench:large` runs it with a larger heap).
 *
 * Results are printed and saved as benny JSON and CSV under bench/results/. Runs in about two minutes.
 * Options: --only kernels,conv,steps,threads,large (kernels includes conv; large also takes --nodes N,
 * --no-fuse, --runs N);
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

/** One convolution of the conv section: x [n, c, h, w], weights [o, c, k, k], stride 1. */
interface ConvShape {
  readonly label: string;
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly o: number;
  readonly k: number;
  readonly padding: "same" | "valid";
}

/** LeNet's two convolutions at batch 64 (workload F) and small-ResNet 3×3 layers at batch 32. */
const CONV_SHAPES: readonly ConvShape[] = [
  { label: "LeNet conv1", n: 64, c: 1, h: 28, w: 28, o: 6, k: 5, padding: "same" },
  { label: "LeNet conv2", n: 64, c: 6, h: 14, w: 14, o: 16, k: 5, padding: "valid" },
  { label: "ResNet 16ch 32×32", n: 32, c: 16, h: 32, w: 32, o: 16, k: 3, padding: "same" },
  { label: "ResNet 32ch 16×16", n: 32, c: 32, h: 16, w: 16, o: 32, k: 3, padding: "same" },
  { label: "ResNet 64ch 8×8", n: 32, c: 64, h: 8, w: 8, o: 64, k: 3, padding: "same" },
];

const CONV_PASSES = ["forward", "input grad", "filter grad"] as const;
type ConvPass = (typeof CONV_PASSES)[number];

/** Conv cases are timed less long than the other kernels (45 of them). */
const convCases = { minSamples: 5, maxTime: 0.75 };

/** Target of the conv section: conv GFLOP/s over the matmul kernel's on the equivalent GEMM. */
const CONV_TARGET = 0.6;

/** Output size, per-image GEMM m×k×n of each pass (the im2col lowering), and the FLOPs of one pass. */
function convGeometry(s: ConvShape) {
  const ho = s.padding === "same" ? s.h : s.h - s.k + 1;
  const wo = s.padding === "same" ? s.w : s.w - s.k + 1;
  const p = ho * wo;
  const kk = s.c * s.k * s.k;
  const gemm: Record<ConvPass, { m: number; k: number; n: number }> = {
    // out [O, P] = W [O, C·k·k] · col [C·k·k, P]
    forward: { m: s.o, k: kk, n: p },
    // dcol [C·k·k, P] = Wᵀ [C·k·k, O] · dy [O, P]
    "input grad": { m: kk, k: s.o, n: p },
    // dW [O, C·k·k] = dy [O, P] · colᵀ [P, C·k·k]
    "filter grad": { m: s.o, k: p, n: kk },
  };
  return { ho, wo, p, kk, gemm, flops: 2 * s.n * s.o * p * kk };
}

const convKey = (s: ConvShape) =>
  `${s.label}: x[${s.n},${s.c},${s.h},${s.w}] w[${s.o},${s.c},${s.k},${s.k}] ${s.padding}`;

/** A plan running one pass of convolution `s` (explicit stride-1 attrs, as the VJP rules build them). */
function convPlan(s: ConvShape, pass: ConvPass): Plan {
  const { ho, wo } = convGeometry(s);
  const p = s.padding === "same" ? (s.k - 1) >> 1 : 0;
  const q = s.padding === "same" ? s.k - 1 - p : 0;
  const attrs = { strides: [1, 1], padding: [p, q, p, q], dilations: [1, 1], groups: 1 };
  const x = [s.n, s.c, s.h, s.w];
  const w = [s.o, s.c, s.k, s.k];
  const dy = [s.n, s.o, ho, wo];
  if (pass === "forward") return opPlan({ x, w }, (g, v) => g.op("conv2d", [v.x!, v.w!], attrs));
  if (pass === "input grad")
    return opPlan({ dy, w }, (g, v) =>
      g.op("conv2dTranspose", [v.dy!, v.w!], { ...attrs, outputSize: [s.h, s.w] }),
    );
  return opPlan({ x, dy }, (g, v) =>
    g.op("conv2dBackpropFilter", [v.x!, v.dy!], { ...attrs, kernelSize: [s.k, s.k] }),
  );
}

/** A plan of one A·B product [m, k] · [k, n]. */
function gemmPlan(m: number, k: number, n: number): Plan {
  return opPlan({ a: [m, k], b: [k, n] }, (_g, v) => v.a!.matmul(v.b!));
}

const gemmName = (g: { m: number; k: number; n: number }) => `${g.m}×${g.k}×${g.n}`;

/**
 * The conv section: every shape and pass as a compiled plan of one op, next to the matmul kernel
 * (A·B) on the pass's per-image GEMM and on the whole-batch GEMM (n = batch·Ho·Wo for forward and
 * input grad, k = batch·Ho·Wo for filter grad; the same FLOPs as the convolution). Prints GFLOP/s
 * and conv / GEMM.
 */
async function convKernels(): Promise<void> {
  const rows: {
    name: string;
    shape: ConvShape;
    pass: ConvPass;
    flops: number;
    img: string;
    batch: string;
  }[] = [];
  const gemmFlops = new Map<string, number>();
  const adds: ReturnType<typeof b.add>[] = [];
  const addGemm = (g: { m: number; k: number; n: number }) => {
    const name = `gemm ${gemmName(g)}`;
    if (gemmFlops.has(name)) return name;
    gemmFlops.set(name, 2 * g.m * g.k * g.n);
    const plan = gemmPlan(g.m, g.k, g.n);
    adds.push(b.add(name, () => plan.run()));
    return name;
  };
  for (const shape of CONV_SHAPES) {
    const geo = convGeometry(shape);
    for (const pass of CONV_PASSES) {
      const name = `conv ${pass} ${convKey(shape)}`;
      const plan = convPlan(shape, pass);
      adds.push(b.add(name, () => plan.run()));
      const g = geo.gemm[pass];
      const whole = pass === "filter grad" ? { ...g, k: g.k * shape.n } : { ...g, n: g.n * shape.n };
      rows.push({ name, shape, pass, flops: geo.flops, img: addGemm(g), batch: addGemm(whole) });
    }
  }
  const summary = await b.suite(
    "conv (float32, one core): conv2d forward, input and filter gradients vs the matmul kernel",
    ...adds,
    b.configure({ cases: convCases, minDisplayPrecision: 2 }),
    b.cycle(),
    ...saves("conv"),
  );
  report(summary);
  const ops = new Map(summary.results.map((r) => [r.name, r.ops]));
  const gf = (name: string, flops: number) => ((ops.get(name) ?? Number.NaN) * flops) / 1e9;
  console.log(
    `\n  GFLOP/s; GEMM: the matmul kernel (A·B) on the pass's im2col product per image (×batch) and on the whole batch at once; target: conv ≥ ${CONV_TARGET * 100}% of the GEMM`,
  );
  console.log(
    `  ${"shape".padEnd(58)} ${"pass".padEnd(11)} ${"conv".padStart(6)}  ${"GEMM / image".padStart(22)} ${"conv/GEMM".padStart(9)}  ${"GEMM whole batch".padStart(24)} ${"conv/GEMM".padStart(9)}`,
  );
  let below = 0;
  for (const r of rows) {
    const conv = gf(r.name, r.flops);
    const img = gf(r.img, gemmFlops.get(r.img)!);
    const whole = gf(r.batch, gemmFlops.get(r.batch)!);
    const ratio = (x: number) => `${((conv / x) * 100).toFixed(0)}%`.padStart(9);
    if (!(conv >= CONV_TARGET * Math.max(img, whole))) below++;
    console.log(
      `  ${convKey(r.shape).padEnd(58)} ${r.pass.padEnd(11)} ${conv.toFixed(1).padStart(6)}  ` +
        `${`${r.img.slice(5)} ${img.toFixed(1)}`.padStart(22)} ${ratio(img)}  ${`${r.batch.slice(5)} ${whole.toFixed(1)}`.padStart(24)} ${ratio(whole)}`,
    );
  }
  console.log(
    `  ${rows.length - below}/${rows.length} passes at ≥ ${CONV_TARGET * 100}% of the faster of their two GEMMs`,
  );
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
if (only.has("kernels") || only.has("conv")) await convKernels();
if (only.has("steps")) await steps();
if (only.has("large")) largeGraphBenchmark(parseLargeOptions(argv));
if (only.has("threads")) await threads();
console.log(`\nbench: done in ${((performance.now() - t0) / 1000).toFixed(0)} s; results in ${folder}`);
process.exit(0);
