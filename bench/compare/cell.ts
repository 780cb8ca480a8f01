/**
 * Runs one (framework, workload) cell in this process and prints one JSON line prefixed by
 * `@@RESULT `. Run by bench/compare/run.ts in a fresh process per cell:
 *
 *   node --expose-gc --conditions=@gradgraph/source --import tsx bench/compare/cell.ts <framework> <workload> [--quick] [--repeat N]
 *
 * --repeat N tells the cell which repeat of the runner it is: the matmul sweep times its largest
 * products in the first repeat only.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  Batcher,
  type Dataset,
  datasetFrom,
  makeBlockWeights,
  makeCnnWeights,
  makeDataset,
  makeSequenceData,
  makeSweepOperands,
  makeWeights,
} from "./data.js";
import {
  type CellResult,
  type CellRunner,
  Probe,
  peakRssMB,
  RESULT_PREFIX,
  type ScalingEntry,
  type ScalingPoint,
  type TrainRun,
} from "./measure.js";
import {
  type BlockWorkload,
  blockFlopsPerStep,
  type CnnWorkload,
  cnnGeometry,
  FRAMEWORKS,
  type Framework,
  type MatmulWorkload,
  matmulFlops,
  quickVersion,
  type ScalingWorkload,
  scalingPoint,
  type TrainWorkload,
  WORKLOADS,
  type Workload,
} from "./workloads.js";

async function runner(framework: Framework): Promise<CellRunner> {
  // imported lazily so that a cell loads only its own framework
  switch (framework) {
    case "gradgraph":
      return (await import("./cells/gradgraph.js")).gradgraphCell;
    case "tfjs-cpu":
      return (await import("./cells/tfjs.js")).tfjsCell("cpu");
    case "tfjs-wasm":
      return (await import("./cells/tfjs.js")).tfjsCell("wasm");
    case "jax":
      return (await import("./cells/jax.js")).jaxCell;
    case "numpy":
      return (await import("./cells/numpy.js")).numpyCell;
  }
}

/** The shared data directory (`GRADGRAPH_DATA_DIR`, else ../shared/datasets beside the repo). */
export function mnistDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env.GRADGRAPH_DATA_DIR, path.resolve(here, "../../../shared/datasets")];
  for (const dir of candidates) {
    if (dir && existsSync(path.join(dir, "mnist", "train-images-idx3-ubyte.gz"))) return dir;
  }
  return null;
}

async function loadData(w: TrainWorkload): Promise<{ data: Dataset; note: string }> {
  if (w.id !== "MNIST")
    return { data: makeDataset(w.data), note: `synthetic ${w.data.n}x${w.data.features}` };
  const dir = mnistDir();
  if (!dir) throw new Error("MNIST files not found (set GRADGRAPH_DATA_DIR to a folder with mnist/*.gz)");
  const { loadMnist } = await import("@gradgraph/datasets/node");
  const { train } = await loadMnist({
    split: "train-validation-test",
    dir,
    download: false,
    dtype: "float32",
  });
  return {
    data: datasetFrom(train.x.data as Float32Array, train.y, 784),
    note: `real MNIST ${train.y.length} images from ${dir}`,
  };
}

type Base = Pick<CellResult, "framework" | "workload" | "ok" | "quick">;

async function matmulCell(
  base: Base,
  full: MatmulWorkload,
  repeat: number,
  cell: CellRunner,
  t0: number,
): Promise<CellResult> {
  // after the first repeat, the largest products are left out (see onceAboveFlops)
  const w =
    repeat > 1 ? { ...full, shapes: full.shapes.filter((s) => matmulFlops(s) <= full.onceAboveFlops) } : full;
  const { a, b } = makeSweepOperands(w.shapes);
  const tSetup = performance.now();
  const probe = new Probe();
  const run = await cell.matmul(w, a, b, probe);
  await probe.finish();
  // the primary number: the median GFLOP/s over every product of the sweep
  const g = run.entries.map((e) => e.gflops).sort((x, y) => x - y);
  return {
    ...base,
    metric: "gflops",
    value: g.length ? g[g.length >> 1]! : Number.NaN,
    seconds: probe.elapsed,
    sweep: run.entries,
    threads: run.threads,
    setupSeconds: (tSetup - t0) / 1000,
    notes: run.notes,
    ...probe.memory(),
    ...(run.rssPeakMB !== undefined ? { rssPeakMB: run.rssPeakMB, external: true } : {}),
  };
}

async function scalingCell(
  base: Base,
  w: ScalingWorkload,
  cell: CellRunner,
  t0: number,
): Promise<CellResult> {
  const points: ScalingPoint[] = [];
  let data: Dataset | null = null;
  for (const point of w.points) {
    const tw = scalingPoint(w, point);
    data ??= makeDataset(tw.data);
    points.push({ point, workload: tw, batcher: new Batcher(data, tw.batch), layers: makeWeights(tw) });
  }
  const probe = new Probe();
  let runs: TrainRun[];
  let rssPeakMB: number | undefined;
  if (cell.scaling) ({ runs, rssPeakMB } = await cell.scaling(points, probe));
  else {
    runs = [];
    for (const p of points) {
      const pr = new Probe();
      runs.push(await cell.train(p.workload, p.batcher, p.layers, pr));
      await pr.finish();
    }
  }
  await probe.finish();
  const entries: ScalingEntry[] = runs.map((r, i) => {
    const { point, workload: tw } = points[i]!;
    return {
      point,
      width: tw.sizes[1]!,
      batch: tw.batch,
      steps: tw.steps,
      seconds: r.seconds,
      usPerStep: (r.seconds / tw.steps) * 1e6,
      initialLoss: r.initialLoss,
      finalLoss: r.finalLoss,
    };
  });
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  return {
    ...base,
    metric: "usPerStep",
    // the primary number: µs per step at the largest point
    value: entries[entries.length - 1]?.usPerStep ?? Number.NaN,
    seconds,
    scaling: entries,
    threads: runs[0]?.threads ?? 0,
    setupSeconds: (performance.now() - t0) / 1000 - seconds,
    notes: [`synthetic ${data?.n}x${data?.features}`, ...(runs[0]?.notes ?? [])],
    ...probe.memory(),
    ...(rssPeakMB !== undefined ? { rssPeakMB, external: true } : {}),
  };
}

async function trainCell(base: Base, w: TrainWorkload, cell: CellRunner, t0: number): Promise<CellResult> {
  const { data, note } = await loadData(w);
  const batcher = new Batcher(data, w.batch);
  const layers = makeWeights(w);
  const probe = new Probe();
  const run: TrainRun = await cell.train(w, batcher, layers, probe);
  return trainResult(base, w, run, probe, t0, note);
}

/**
 * The result of a training cell once `probe` has finished: `run` over `w.steps` steps, the value
 * by `w.metric`; `flopsPerStep`, when given, adds `extra.gflops`; `note` leads the notes.
 */
async function trainResult(
  base: Base,
  w: { readonly metric: "seconds" | "usPerStep"; readonly steps: number },
  run: TrainRun,
  probe: Probe,
  t0: number,
  note: string,
  flopsPerStep?: number,
): Promise<CellResult> {
  await probe.finish();
  const usPerStep = (run.seconds / w.steps) * 1e6;
  const gflops: Record<string, number> =
    flopsPerStep === undefined ? {} : { gflops: (flopsPerStep * w.steps) / run.seconds / 1e9 };
  return {
    ...base,
    metric: w.metric,
    value: w.metric === "usPerStep" ? usPerStep : run.seconds,
    seconds: run.seconds,
    steps: w.steps,
    extra: { usPerStep, ...gflops, ...run.extra },
    initialLoss: run.initialLoss,
    finalLoss: run.finalLoss,
    threads: run.threads,
    setupSeconds: (performance.now() - t0) / 1000 - run.seconds,
    notes: [note, ...run.notes],
    ...probe.memory(),
    ...(run.rssPeakMB !== undefined ? { rssPeakMB: run.rssPeakMB, external: true } : {}),
  };
}

async function cnnCell(base: Base, w: CnnWorkload, cell: CellRunner, t0: number): Promise<CellResult> {
  if (!cell.cnn) throw new Error(`${base.framework} has no CNN cell`);
  const [c, h, wd] = w.image;
  if (w.data.features !== c * h * wd)
    throw new Error(
      `workload ${w.id}: ${w.data.features} features per row, the image ${c}×${h}×${wd} needs ${c * h * wd}`,
    );
  const data = makeDataset(w.data);
  const batcher = new Batcher(data, w.batch);
  const weights = makeCnnWeights(w);
  const probe = new Probe();
  const run: TrainRun = await cell.cnn(w, batcher, weights, probe);
  return trainResult(
    base,
    w,
    run,
    probe,
    t0,
    `synthetic ${data.n}x${data.features} as ${c}×${h}×${wd} images`,
    cnnGeometry(w).flopsPerStep,
  );
}

async function blockCell(base: Base, w: BlockWorkload, cell: CellRunner, t0: number): Promise<CellResult> {
  if (!cell.block) throw new Error(`${base.framework} has no Transformer block cell`);
  if (w.width % w.heads !== 0)
    throw new Error(`workload ${w.id}: ${w.heads} heads do not divide width ${w.width}`);
  const data = makeSequenceData(w);
  const batcher = new Batcher(data, w.batch);
  const weights = makeBlockWeights(w);
  const probe = new Probe();
  const run: TrainRun = await cell.block(w, batcher, weights, probe);
  return trainResult(
    base,
    w,
    run,
    probe,
    t0,
    `synthetic ${data.n} sequences of ${w.seqLen}×${w.width}`,
    blockFlopsPerStep(w),
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  // --repeat N: which repeat of the runner this cell is (1 when run by hand)
  const repeatAt = args.indexOf("--repeat");
  const repeat = repeatAt >= 0 ? Number(args[repeatAt + 1]) : 1;
  const [framework, id] = args.filter(
    (a, i) => !a.startsWith("--") && (repeatAt < 0 || i !== repeatAt + 1),
  ) as [Framework, string];
  if (!FRAMEWORKS.includes(framework))
    throw new Error(`unknown framework '${framework}' (${FRAMEWORKS.join(", ")})`);
  const full: Workload | undefined = WORKLOADS[id];
  if (!full) throw new Error(`unknown workload '${id}' (${Object.keys(WORKLOADS).join(", ")})`);
  const w = quick ? quickVersion(full) : full;
  const t0 = performance.now();
  const cell = await runner(framework);
  const base: Base = { framework, workload: w.id, ok: true, quick };
  const result =
    w.kind === "matmul"
      ? await matmulCell(base, w, repeat, cell, t0)
      : w.kind === "scaling"
        ? await scalingCell(base, w, cell, t0)
        : w.kind === "cnn"
          ? await cnnCell(base, w, cell, t0)
          : w.kind === "block"
            ? await blockCell(base, w, cell, t0)
            : await trainCell(base, w, cell, t0);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
    const failed = {
      framework: args[0],
      workload: args[1],
      ok: false,
      error: `${e.name}: ${e.message}`.slice(0, 2000),
      rssPeakMB: peakRssMB(),
    };
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(failed)}\n`);
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
