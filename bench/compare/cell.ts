/**
 * Runs one (framework, workload) cell in this process and prints one JSON line prefixed by
 * `@@RESULT `. Run by bench/compare/run.ts in a fresh process per cell:
 *
 *   node --expose-gc --conditions=@gradgraph/source --import tsx bench/compare/cell.ts <framework> <workload> [--quick]
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Batcher, type Dataset, datasetFrom, makeDataset, makeMatrices, makeWeights } from "./data.js";
import {
  type CellResult,
  type CellRunner,
  checksum,
  Probe,
  peakRssMB,
  RESULT_PREFIX,
  type TrainRun,
} from "./measure.js";
import {
  FRAMEWORKS,
  type Framework,
  matmulFlops,
  quickVersion,
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

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const [framework, id] = args.filter((a) => !a.startsWith("--")) as [Framework, string];
  if (!FRAMEWORKS.includes(framework))
    throw new Error(`unknown framework '${framework}' (${FRAMEWORKS.join(", ")})`);
  const base: Workload | undefined = WORKLOADS[id];
  if (!base) throw new Error(`unknown workload '${id}' (${Object.keys(WORKLOADS).join(", ")})`);
  const w = quick ? quickVersion(base) : base;
  const t0 = performance.now();
  const cell = await runner(framework);
  const probe = new Probe();
  let result: CellResult;
  if (w.kind === "matmul") {
    const { a, b } = makeMatrices(w.n);
    const tSetup = performance.now();
    const run = await cell.matmul(w, a, b, probe);
    await probe.finish();
    const gflops = (s: number) => matmulFlops(w.n) / s / 1e9;
    result = {
      framework,
      workload: w.id,
      ok: true,
      quick,
      metric: "gflops",
      value: gflops(run.seconds.nn),
      seconds: probe.elapsed,
      extra: {
        gflopsNN: gflops(run.seconds.nn),
        gflopsTN: gflops(run.seconds.tn),
        gflopsNT: gflops(run.seconds.nt),
        msNN: run.seconds.nn * 1000,
        msTN: run.seconds.tn * 1000,
        msNT: run.seconds.nt * 1000,
      },
      checksums: { nn: checksum(run.outputs.nn), tn: checksum(run.outputs.tn), nt: checksum(run.outputs.nt) },
      threads: run.threads,
      setupSeconds: (tSetup - t0) / 1000,
      notes: run.notes,
      ...probe.memory(),
    };
  } else {
    const { data, note } = await loadData(w);
    const batcher = new Batcher(data, w.batch);
    const layers = makeWeights(w);
    const run: TrainRun = await cell.train(w, batcher, layers, probe);
    await probe.finish();
    const usPerStep = (run.seconds / w.steps) * 1e6;
    result = {
      framework,
      workload: w.id,
      ok: true,
      quick,
      metric: w.metric,
      value: w.metric === "usPerStep" ? usPerStep : run.seconds,
      seconds: run.seconds,
      steps: w.steps,
      extra: { usPerStep },
      initialLoss: run.initialLoss,
      finalLoss: run.finalLoss,
      threads: run.threads,
      setupSeconds: (performance.now() - t0) / 1000 - run.seconds,
      notes: [note, ...run.notes],
      ...probe.memory(),
    };
  }
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
