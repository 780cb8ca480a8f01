/**
 * What a cell measures and prints, and the probe that brackets its timed section with heap and
 * GC accounting. Cells print exactly one line starting with {@link RESULT_PREFIX}; anything else
 * on stdout (e.g. tfjs's banner) is ignored by the runner.
 */
import { PerformanceObserver } from "node:perf_hooks";
import type { Batcher, Layer } from "./data.js";
import type { Framework, MatmulWorkload, TrainWorkload } from "./workloads.js";

/** The marker of a cell's result line. */
export const RESULT_PREFIX = "@@RESULT ";

/** What one training run reports back to the cell driver. */
export interface TrainRun {
  /** Wall time of the timed steps, seconds. */
  readonly seconds: number;
  /** Loss at the initial weights on batch 0 (the warm-up step, no update). */
  readonly initialLoss: number;
  /** Loss of the last timed step (before its update). */
  readonly finalLoss: number;
  /** Threads used besides the main one (0: one core). */
  readonly threads: number;
  readonly notes: string[];
}

/** What one matmul run reports: seconds per product per variant and the last outputs. */
export interface MatmulRun {
  readonly seconds: { readonly nn: number; readonly tn: number; readonly nt: number };
  readonly outputs: { readonly nn: Float32Array; readonly tn: Float32Array; readonly nt: Float32Array };
  readonly threads: number;
  readonly notes: string[];
}

/** The JSON line a cell prints. */
export interface CellResult {
  readonly framework: Framework;
  readonly workload: string;
  readonly ok: boolean;
  readonly quick: boolean;
  /** "seconds" (whole run), "usPerStep" or "gflops". */
  readonly metric: "seconds" | "usPerStep" | "gflops";
  /** The primary number in the metric's unit (for D: GFLOP/s of A·B). */
  readonly value: number;
  /** Timed wall time, seconds. */
  readonly seconds: number;
  readonly steps?: number;
  /** Secondary numbers (D: gflops of each variant; E: seconds). */
  readonly extra?: Record<string, number>;
  readonly initialLoss?: number;
  readonly finalLoss?: number;
  /** Sums of each matmul output, to check that frameworks agree. */
  readonly checksums?: Record<string, number>;
  readonly threads?: number;
  /** Peak resident set size of the process, MB (includes the data set and the framework). */
  readonly rssPeakMB: number;
  /** heapUsed after a full GC just before the timed section, MB. */
  readonly heapBeforeMB: number;
  /** heapUsed just after the timed section, before any GC, MB. */
  readonly heapAfterMB: number;
  /** heapUsed after a full GC after the timed section, MB. */
  readonly heapAfterGcMB: number;
  /** Garbage collections observed during the timed section (0 means no allocation pressure). */
  readonly gcCount: number;
  /** Setup time before the timed section (data, weights, compile, warm-up), seconds. */
  readonly setupSeconds: number;
  readonly notes?: string[];
  readonly error?: string;
}

const MB = 1024 * 1024;

function fullGc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

/** Brackets a timed section: full GC and heap snapshot before, GC count and heap after. */
export class Probe {
  heapBefore = 0;
  heapAfter = 0;
  heapAfterGc = 0;
  private gcs = 0;
  private readonly observer: PerformanceObserver;
  private t0 = Number.POSITIVE_INFINITY;
  private t1 = Number.POSITIVE_INFINITY;
  elapsed = 0;

  constructor() {
    // entries arrive asynchronously, so count them by their start time (inside the timed window)
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.startTime >= this.t0 && e.startTime <= this.t1) this.gcs++;
      }
    });
    this.observer.observe({ entryTypes: ["gc"] });
  }

  /** Call right before the timed section. */
  start(): void {
    fullGc();
    this.heapBefore = process.memoryUsage().heapUsed;
    this.gcs = 0;
    this.t1 = Number.POSITIVE_INFINITY;
    this.t0 = performance.now();
  }

  /** Call right after the timed section; returns the elapsed seconds. */
  stop(): number {
    this.t1 = performance.now();
    this.elapsed = (this.t1 - this.t0) / 1000;
    this.heapAfter = process.memoryUsage().heapUsed;
    return this.elapsed;
  }

  /** Collects GC entries delivered asynchronously, then runs a full GC; call after {@link stop}. */
  async finish(): Promise<void> {
    await new Promise((r) => setTimeout(r, 20));
    this.observer.disconnect();
    fullGc();
    this.heapAfterGc = process.memoryUsage().heapUsed;
  }

  get gcCount(): number {
    return this.gcs;
  }

  /** Heap numbers in MB and peak RSS. */
  memory(): Pick<CellResult, "rssPeakMB" | "heapBeforeMB" | "heapAfterMB" | "heapAfterGcMB" | "gcCount"> {
    return {
      rssPeakMB: peakRssMB(),
      heapBeforeMB: this.heapBefore / MB,
      heapAfterMB: this.heapAfter / MB,
      heapAfterGcMB: this.heapAfterGc / MB,
      gcCount: this.gcs,
    };
  }
}

/** Peak resident set size of this process in MB (Linux reports maxRSS in kilobytes). */
export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Sum of all elements (float64 accumulation). */
export function checksum(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

/** What a framework's cell module provides. */
export interface CellRunner {
  /** Trains `w` from `layers` on the batches of `batcher`; brackets the timed steps with `probe`. */
  train(w: TrainWorkload, batcher: Batcher, layers: readonly Layer[], probe: Probe): Promise<TrainRun>;
  /** Times the three products of workload D; brackets them with `probe`. */
  matmul(w: MatmulWorkload, a: Float32Array, b: Float32Array, probe: Probe): Promise<MatmulRun>;
}
