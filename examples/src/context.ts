/**
 * What an example receives when it runs ({@link ExampleContext}) and what it returns
 * ({@link ExampleResult}), plus the stop flag shared between the CLI and the training thread.
 * @module
 */
import { join, relative } from "node:path";
import { toJson, writeFileAtomic, writeJsonAtomic } from "./files.js";
import type { ExampleOptions } from "./options.js";
import { type TopLevelSpec, writeChart } from "./plots.js";
import type { Reporter } from "./progress.js";
import type { TrainingSummary } from "./training.js";

/** Why training was asked to stop early. */
export type StopReason = "interrupt" | "time-limit";

/** Values of the shared stop flag (an `Int32Array` over a `SharedArrayBuffer`, element 0). */
export const STOP = { none: 0, interrupt: 1, timeLimit: 2 } as const;

/** Reads a stop flag. */
export function stopReasonOf(flag: Int32Array): StopReason | null {
  const v = Atomics.load(flag, 0);
  return v === STOP.interrupt ? "interrupt" : v === STOP.timeLimit ? "time-limit" : null;
}

/** The ONNX model an example wrote for `--onnx` (see `onnx.ts`), as the `--json` summary reports it. */
export interface OnnxWritten {
  /** The path as given on the command line. */
  readonly path: string;
  /** Its size in bytes. */
  readonly bytes: number;
}

/** Everything an example needs: its options, where to write, how to report, when to stop. */
export interface ExampleContext {
  /** The example's name (`moons`, `custom`, ...). */
  readonly name: string;
  /** Parsed options (defaults filled in). */
  readonly options: ExampleOptions;
  /** The output directory (absolute). */
  readonly outDir: string;
  /** Progress bars and lines. */
  readonly reporter: Reporter;
  /**
   * True once Ctrl-C (or `--time-limit`) asked training to stop. Training loops check it after
   * every batch (e.g. a `fit` callback returning `false`), then the example writes what it has.
   */
  shouldStop(): boolean;
  /** Why training is stopping, or null. */
  stopReason(): StopReason | null;
  /** Prints one line. */
  log(line: string): void;
  /** Writes `<outDir>/<file>` as JSON; returns the path. */
  writeJson(file: string, value: unknown): Promise<string>;
  /** Writes `<outDir>/<file>` as text; returns the path. */
  writeText(file: string, text: string | Uint8Array): Promise<string>;
  /** Renders a vega-lite spec to `<outDir>/<name>.svg` and `.png`; returns the paths. */
  chart(name: string, spec: TopLevelSpec): Promise<string[]>;
  /** Records a file written by other means (e.g. by an external tool) in {@link ExampleContext.files}. */
  addFile(path: string): void;
  /** The files written so far, relative to `outDir`. */
  readonly files: readonly string[];
  /** Records the ONNX model written for `--onnx` (reported in the CLI's `--json` summary). */
  recordOnnx(written: OnnxWritten): void;
  /** The ONNX model written for `--onnx` so far, or null. */
  onnx(): OnnxWritten | null;
}

/** What an example returns: the settings it used and its final numbers. */
export interface ExampleResult {
  /** Hyperparameters actually used (defaults filled in). */
  readonly hyper: Readonly<Record<string, unknown>>;
  /** Final metrics (accuracy, loss, ...), JSON-serialisable. */
  readonly metrics: Readonly<Record<string, unknown>>;
  /** How training ended and which weights the outputs hold (training examples). */
  readonly training?: TrainingSummary;
  /**
   * Set when the run failed after writing its outputs (training stopped at a non-finite loss): the
   * CLI prints it and exits with code 1.
   */
  readonly failure?: string;
}

/** An example: `run` does the work and writes its files through the context. */
export interface ExampleModule {
  /** Runs the example. */
  run(ctx: ExampleContext): Promise<ExampleResult>;
}

/**
 * How a context writes a chart: render `spec` to `<outDir>/<name>.svg` and `.png` now, or record it
 * to be rendered later (the CLI renders them once the example's thread is gone); resolves to the
 * two paths.
 */
export type ChartWriter = (name: string, spec: TopLevelSpec) => Promise<string[]>;

/** A chart an example asked for, to be rendered later (see {@link ChartWriter}). */
export interface ChartRequest {
  /** The chart's file name without extension. */
  readonly name: string;
  /** The vega-lite spec. */
  readonly spec: TopLevelSpec;
}

/**
 * Makes a context writing into `outDir`, reading stop requests from `flag`. Charts are rendered
 * and written at once unless `writeChartAs` says otherwise.
 */
export function createContext(
  name: string,
  options: ExampleOptions,
  outDir: string,
  reporter: Reporter,
  flag: Int32Array,
  writeChartAs: ChartWriter = (chartName, spec) => writeChart(outDir, chartName, spec),
): ExampleContext {
  const files: string[] = [];
  let onnx: OnnxWritten | null = null;
  const record = (path: string) => {
    const rel = relative(outDir, path);
    if (!files.includes(rel)) files.push(rel);
    return path;
  };
  return {
    name,
    options,
    outDir,
    reporter,
    files,
    shouldStop: () => Atomics.load(flag, 0) !== STOP.none,
    stopReason: () => stopReasonOf(flag),
    log: (line) => reporter.log(line),
    addFile: (path) => {
      record(path);
    },
    recordOnnx: (written) => {
      onnx = { path: written.path, bytes: written.bytes };
    },
    onnx: () => onnx,
    async writeJson(file, value) {
      const path = join(outDir, file);
      await writeJsonAtomic(path, value);
      return record(path);
    },
    async writeText(file, text) {
      const path = join(outDir, file);
      await writeFileAtomic(path, text);
      return record(path);
    },
    async chart(chartName, spec) {
      const paths = await writeChartAs(chartName, spec);
      for (const p of paths) record(p);
      return paths;
    },
  };
}

export { toJson };
