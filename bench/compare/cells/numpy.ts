/**
 * numpy cell: float32 numpy on one core, in a python child process (`numpy_cell.py`). The Node side
 * writes the data, the initial weights (or the matmul operands) and a job description to a temp
 * folder as raw float32 files (`np.fromfile`), so python trains on exactly the batches and weights
 * the other frameworks get; python times its own loop (`time.perf_counter`) and prints its result.
 *
 * The child's environment drops OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (set on these machines, they
 * pin OpenBLAS to a slower kernel) and sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
 * MKL_NUM_THREADS to 1. `GRADGRAPH_BENCH_PYTHON` overrides the interpreter (default `python3`).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Dataset, Layer } from "../data.js";
import type { CellRunner, MatmulEntry, MatmulRun, Probe, ScalingPoint, TrainRun } from "../measure.js";
import type { TrainWorkload } from "../workloads.js";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "numpy_cell.py");
const PREFIX = "@@NUMPY ";

/** The interpreter the numpy cell runs. */
export function pythonExecutable(): string {
  return process.env.GRADGRAPH_BENCH_PYTHON || "python3";
}

/** The child's environment: one BLAS thread, no pinned OpenBLAS core type or L2 size. */
export function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  env.OPENBLAS_NUM_THREADS = "1";
  env.OMP_NUM_THREADS = "1";
  env.MKL_NUM_THREADS = "1";
  return env;
}

/** Runs `python -c code` with {@link pythonEnv}; resolves with its stdout, rejects with a reason. */
export function runPython(args: readonly string[], timeoutMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pythonExecutable(), args, { env: pythonEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = timeoutMs > 0 ? setTimeout(() => child.kill("SIGKILL"), timeoutMs) : null;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${pythonExecutable()}: ${e.message}`));
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${pythonExecutable()} exited with ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`,
          ),
        );
    });
  });
}

/**
 * Null when python3 with numpy is available, else why not (the runner then skips the numpy cells
 * and says so in the report).
 */
export async function numpyUnavailable(): Promise<string | null> {
  try {
    const v = await runPython(
      ["-c", "import numpy, sys; print(numpy.__version__, sys.version.split()[0])"],
      30_000,
    );
    const [np, py] = v.trim().split(" ");
    return np && py ? null : `unexpected answer from ${pythonExecutable()}: ${v.trim()}`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

interface PythonAnswer {
  numpy: string;
  blas: string;
  python: string;
  rssPeakMB: number;
  runs?: { seconds: number; initialLoss: number; finalLoss: number }[];
  entries?: MatmulEntry[];
}

/** Writes `files` and `job.json` to a fresh temp folder, runs the script on it, removes the folder. */
async function runJob(job: object, files: Record<string, Float32Array>): Promise<PythonAnswer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "gradgraph-numpy-"));
  try {
    for (const [name, data] of Object.entries(files)) {
      // raw little-endian float32 (every platform Node runs this bench on is little-endian)
      writeFileSync(path.join(dir, name), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    writeFileSync(path.join(dir, "job.json"), JSON.stringify(job));
    const out = await runPython([SCRIPT, dir]);
    const line = out.split("\n").find((l) => l.startsWith(PREFIX));
    if (!line) throw new Error(`numpy_cell.py printed no result: ${out.slice(-500)}`);
    return JSON.parse(line.slice(PREFIX.length)) as PythonAnswer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function notesOf(a: PythonAnswer): string[] {
  return [`numpy ${a.numpy} (${a.blas}), python ${a.python}, one BLAS thread`];
}

/** The job entry of one training run and its weight files. */
function trainSpec(
  w: TrainWorkload,
  layers: readonly Layer[],
  prefix: string,
  files: Record<string, Float32Array>,
) {
  layers.forEach((layer, l) => {
    files[`${prefix}W${l}.f32`] = layer.W;
    files[`${prefix}b${l}.f32`] = layer.b;
  });
  return {
    prefix,
    sizes: w.sizes,
    hidden: w.hidden,
    loss: w.loss,
    batch: w.batch,
    steps: w.steps,
    stepSize: w.stepSize,
  };
}

async function trainMany(
  data: Dataset,
  points: readonly { workload: TrainWorkload; layers: readonly Layer[] }[],
  probe: Probe,
): Promise<{ runs: TrainRun[]; rssPeakMB: number }> {
  const files: Record<string, Float32Array> = { "x.f32": data.x, "y.f32": data.y };
  const specs = points.map((p, i) => trainSpec(p.workload, p.layers, `p${i}_`, files));
  probe.start();
  const a = await runJob({ kind: "train", n: data.n, features: data.features, points: specs }, files);
  probe.stop();
  const runs = (a.runs ?? []).map(
    (r): TrainRun => ({ ...r, threads: 0, notes: notesOf(a), rssPeakMB: a.rssPeakMB }),
  );
  if (runs.length !== points.length)
    throw new Error(`numpy_cell.py returned ${runs.length} runs of ${points.length}`);
  return { runs, rssPeakMB: a.rssPeakMB };
}

export const numpyCell: CellRunner = {
  async train(w, batcher, layers, probe): Promise<TrainRun> {
    if ((w.warmupSteps ?? 1) !== 1) throw new Error("numpy cell: only one warm-up step is supported");
    const { runs } = await trainMany(batcher.data, [{ workload: w, layers }], probe);
    return runs[0]!;
  },

  async matmul(w, a, b, probe): Promise<MatmulRun> {
    probe.start();
    const ans = await runJob(
      {
        kind: "matmul",
        shapes: w.shapes.map(({ m, k, n }) => ({ m, k, n })),
        budgetSeconds: w.budgetSeconds,
        maxReps: w.maxReps,
        maxProductSeconds: w.maxProductSeconds,
      },
      { "a.f32": a, "b.f32": b },
    );
    probe.stop();
    // python's JSON has null for the seconds and GFLOP/s of a skipped product
    const entries = (ans.entries ?? []).map((e) => ({
      ...e,
      seconds: e.seconds ?? Number.NaN,
      gflops: e.gflops ?? Number.NaN,
    }));
    return {
      entries,
      threads: 0,
      notes: [...notesOf(ans), "products with @ (a.T / b.T views: BLAS transposes, no copy)"],
      rssPeakMB: ans.rssPeakMB,
    };
  },

  async scaling(points: readonly ScalingPoint[], probe) {
    const data = points[0]!.batcher.data;
    if (points.some((p) => p.batcher.data !== data))
      throw new Error("numpy cell: scaling points must share their data");
    return trainMany(data, points, probe);
  },
};
