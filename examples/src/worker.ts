/**
 * The training thread. The CLI runs each example here, in a worker, so that its own thread stays
 * free: it draws the progress bars and handles Ctrl-C while training runs synchronously. A stop
 * request reaches the example through a shared flag it checks after every batch.
 *
 * Charts are not rendered here: the example's `ctx.chart` calls are recorded and sent with the
 * result, and the CLI renders them after this thread has ended, so that the data sets, models and
 * WebAssembly memory of the run are released before vega and resvg are loaded.
 * @module
 */
import { mkdir } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import { type ChartRequest, createContext, type OnnxWritten, stopReasonOf } from "./context.js";
import type { ExampleOptions } from "./options.js";
import { chartPaths } from "./plots.js";
import { type ProgressEvent, Reporter } from "./progress.js";
import { findExample } from "./registry.js";
import type { TrainingSummary } from "./training.js";

/** What the CLI hands the worker. */
export interface WorkerInput {
  /** Example name. */
  readonly name: string;
  /** Parsed options. */
  readonly options: ExampleOptions;
  /** Absolute output directory. */
  readonly outDir: string;
  /** The stop flag (element 0; see `STOP`). */
  readonly flag: Int32Array;
}

/** Messages from the worker. */
export type WorkerMessage =
  | { readonly kind: "progress"; readonly event: ProgressEvent }
  | {
      readonly kind: "result";
      readonly hyper: Readonly<Record<string, unknown>>;
      readonly metrics: Readonly<Record<string, unknown>>;
      readonly files: readonly string[];
      readonly seconds: number;
      readonly stopReason: string | null;
      readonly training: TrainingSummary | null;
      readonly failure: string | null;
      /** The ONNX model written for `--onnx`, or null. */
      readonly onnx: OnnxWritten | null;
      /** The charts to render, in the order the example asked for them. */
      readonly charts: readonly ChartRequest[];
    }
  | {
      readonly kind: "error";
      readonly message: string;
      readonly stack?: string;
      readonly name?: string;
      /** The charts asked for before the error, to render all the same. */
      readonly charts: readonly ChartRequest[];
    };

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("worker.ts must run in a worker thread (use cli.ts)");
  const input = workerData as WorkerInput;
  const post = (m: WorkerMessage) => port.postMessage(m);
  const reporter = new Reporter((event) => post({ kind: "progress", event }));
  const def = findExample(input.name);
  const charts: ChartRequest[] = [];
  try {
    if (!def) throw new Error(`unknown example '${input.name}'`);
    await mkdir(input.outDir, { recursive: true }); // checked by the CLI already (checkOutputDir)
    const mod = await def.load();
    const ctx = createContext(input.name, input.options, input.outDir, reporter, input.flag, (name, spec) => {
      charts.push({ name, spec });
      return Promise.resolve(chartPaths(input.outDir, name));
    });
    const t0 = performance.now();
    const result = await mod.run(ctx);
    reporter.stop();
    post({
      kind: "result",
      hyper: result.hyper,
      metrics: result.metrics,
      files: [...ctx.files],
      seconds: (performance.now() - t0) / 1000,
      stopReason: result.training?.stopReason === "non-finite" ? "non-finite" : stopReasonOf(input.flag),
      training: result.training ?? null,
      failure: result.failure ?? null,
      onnx: ctx.onnx(),
      charts,
    });
  } catch (e) {
    reporter.stop();
    const err = e instanceof Error ? e : new Error(String(e));
    post({ kind: "error", message: err.message, stack: err.stack, name: err.name, charts });
  }
}

void main();
