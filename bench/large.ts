/**
 * `pnpm bench:large`: how building, differentiating and compiling scale to a million nodes.
 *
 * Builds a chain of `--nodes` alternating unary ops (abs, neg) on a vector scaled by a parameter,
 * takes the gradient of its sum with respect to the parameter with `grad`, compiles the training
 * graph and runs it, printing the time of each phase and the plan's statistics. Every derivative
 * in the chain is ±1, so the gradient is exactly ±x: the one check (a million-step plan that
 * computes a wrong value fails loudly). Options: `--nodes N` (default 1,000,000), `--no-fuse`,
 * `--runs N` (timed runs, default 5).
 * Also `pnpm bench --only large` (same code, the default heap).
 */
import { pathToFileURL } from "node:url";
import { grad } from "@gradgraph/autograd";
import { compile, GraphBuilder, ParamStore, Tensor, type Value } from "@gradgraph/core";

/** Options of {@link largeGraphBenchmark}. */
export interface LargeOptions {
  /** Unary ops in the chain. */
  nodes: number;
  /** Fuse elementwise groups (the default). */
  fuse: boolean;
  /** Timed runs after the first. */
  runs: number;
}

const WIDTH = 16;

function seconds(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(2)} s`;
}

function memory(): string {
  const m = process.memoryUsage();
  return `heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MB, rss ${(m.rss / 2 ** 20).toFixed(0)} MB`;
}

/** Runs the phases one after the other and prints each one's time. */
export function largeGraphBenchmark(o: LargeOptions): void {
  const n = o.nodes.toLocaleString("en-US");
  console.log(
    `\nlarge graph: a chain of ${n} unary ops (abs, neg) on f32[${WIDTH}] and its gradient; fuse ${o.fuse}`,
  );
  const row = (phase: string, time: string, note = "") =>
    console.log(`  ${phase.padEnd(18)} ${time.padStart(9)}  ${note}`);

  let t0 = performance.now();
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("x", [WIDTH]);
  const w = b.param("w", [WIDTH], { init: { kind: "uniform", low: 0.5, high: 1.5 } });
  let v: Value = x.mul(w);
  for (let i = 0; i < o.nodes; i++) v = i % 2 === 0 ? v.abs() : v.neg();
  b.output("loss", v.sum());
  const graph = b.build();
  row("build", seconds(t0), `${graph.nodes.length.toLocaleString("en-US")} nodes; ${memory()}`);

  t0 = performance.now();
  const train = grad(graph, "loss", ["w"]);
  row("grad", seconds(t0), `${train.nodes.length.toLocaleString("en-US")} nodes; ${memory()}`);

  t0 = performance.now();
  const params = ParamStore.init(train, 1);
  const exe = compile(train, { params, fuse: o.fuse });
  const plan = exe.plan({ x: [WIDTH] });
  const s = plan.stats;
  row(
    "compile",
    seconds(t0),
    `${s.steps.toLocaleString("en-US")} steps, ${s.fused.toLocaleString("en-US")} fused, pool ${s.pooledElements.toLocaleString("en-US")} of ${s.unpooledElements.toLocaleString("en-US")} elements; ${memory()}`,
  );

  const feed = Tensor.from(
    Array.from({ length: WIDTH }, (_, i) => Math.sin(i + 1)),
    { dtype: "float32" },
  );
  t0 = performance.now();
  let out = plan.run({ x: feed });
  row("first run", seconds(t0));
  t0 = performance.now();
  for (let r = 0; r < o.runs; r++) out = plan.run({ x: feed });
  const per = (performance.now() - t0) / Math.max(o.runs, 1);
  row(
    `run (mean of ${o.runs})`,
    `${(per / 1000).toFixed(3)} s`,
    `${((per * 1e6) / s.steps).toFixed(0)} ns/step`,
  );
  const gw = out["grad:w"]!.data;
  gw.forEach((g, i) => {
    if (Math.abs(g) !== Math.abs(feed.data[i]!))
      throw new Error(`grad:w[${i}] is ${g}, expected ±${feed.data[i]}`);
  });
  console.log(`  loss ${out.loss!.item().toPrecision(6)}, grad:w[0] ${gw[0]!.toPrecision(6)}`);
  plan.dispose();
}

/** `--nodes N --no-fuse --runs N` from argv. */
export function parseLargeOptions(argv: readonly string[]): LargeOptions {
  const value = (flag: string, dflt: number) => {
    const i = argv.indexOf(flag);
    if (i < 0) return dflt;
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer`);
    return v;
  };
  return { nodes: value("--nodes", 1_000_000), fuse: !argv.includes("--no-fuse"), runs: value("--runs", 5) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  largeGraphBenchmark(parseLargeOptions(process.argv.slice(2)));
}
