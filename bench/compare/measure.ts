/**
 * What a cell measures and prints, and the probe that brackets its timed section with heap and
 * GC accounting. Cells print exactly one line starting with {@link RESULT_PREFIX}; anything else
 * on stdout (e.g. tfjs's banner) is ignored by the runner.
 */
import { PerformanceObserver } from "node:perf_hooks";
import type { Batcher, BlockParam, BlockTensor, CnnWeights, Layer } from "./data.js";
import {
  type BlockWorkload,
  type CnnWorkload,
  type Framework,
  type MatmulShape,
  type MatmulWorkload,
  matmulFlops,
  type TrainWorkload,
  VARIANTS,
  type Variant,
} from "./workloads.js";

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
  /** Peak RSS of the process that trained, when it is not this one (numpy's python), MB. */
  readonly rssPeakMB?: number;
  /** Secondary numbers for the report (the fit cells: directSeconds, fitSeconds, fitOverDirect). */
  readonly extra?: Record<string, number>;
}

/** One product of the matmul sweep as a framework measured it. */
export interface MatmulEntry {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly variant: Variant;
  /** Seconds per product (mean over the timed repetitions). */
  readonly seconds: number;
  readonly reps: number;
  readonly gflops: number;
  /** The output at {@link SAMPLES} fixed positions (see {@link samplePositions}), to compare frameworks. */
  readonly sample: number[];
  /** Root mean square of the output (the scale the sample differences are judged against). */
  readonly rms: number;
  /** Set when the product was not run: its estimated seconds (over `maxProductSeconds`). */
  readonly skippedEstimate?: number;
}

/** What one matmul sweep reports. */
export interface MatmulRun {
  readonly entries: MatmulEntry[];
  readonly threads: number;
  readonly notes: string[];
  /** Peak RSS of the process that computed, when it is not this one (numpy's python), MB. */
  readonly rssPeakMB?: number;
}

/** One point of a scaling table (a short training run). */
export interface ScalingEntry {
  /** The varied value: the hidden width or the batch size. */
  readonly point: number;
  readonly width: number;
  readonly batch: number;
  readonly steps: number;
  /** Timed seconds of the steps. */
  readonly seconds: number;
  readonly usPerStep: number;
  readonly initialLoss: number;
  readonly finalLoss: number;
}

/** The JSON line a cell prints. */
export interface CellResult {
  readonly framework: Framework;
  readonly workload: string;
  readonly ok: boolean;
  readonly quick: boolean;
  /** "seconds" (whole run), "usPerStep" or "gflops". */
  readonly metric: "seconds" | "usPerStep" | "gflops";
  /** The primary number in the metric's unit (D, D2: median GFLOP/s over the sweep's products). */
  readonly value: number;
  /** Timed wall time, seconds. */
  readonly seconds: number;
  readonly steps?: number;
  /** Secondary numbers (training: usPerStep; AFIT/BFIT: directSeconds, fitSeconds, fitOverDirect). */
  readonly extra?: Record<string, number>;
  readonly initialLoss?: number;
  readonly finalLoss?: number;
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
  /** The matmul sweep's products (workloads D, D2). */
  readonly sweep?: MatmulEntry[];
  /** The scaling tables' points (workloads WIDTH, BATCH and their two-core twins). */
  readonly scaling?: ScalingEntry[];
  /** The heap and GC numbers do not describe the framework (numpy runs in a python child process). */
  readonly external?: boolean;
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

/** Output values compared between frameworks per product. */
export const SAMPLES = 16;

/** The flat indices (row-major [m, n]) of the output values sampled per product. */
export function samplePositions(m: number, n: number): number[] {
  const size = m * n;
  return Array.from({ length: SAMPLES }, (_, j) =>
    Math.min(size - 1, Math.floor(((j + 0.5) * size) / SAMPLES)),
  );
}

/** The sampled values and the RMS of a product's output. */
export function sampleOutput(c: ArrayLike<number>, m: number, n: number): { sample: number[]; rms: number } {
  let ss = 0;
  for (let i = 0; i < m * n; i++) ss += c[i]! * c[i]!;
  return { sample: samplePositions(m, n).map((i) => c[i]!), rms: Math.sqrt(ss / (m * n)) };
}

/**
 * One product of the sweep, prepared by a framework (operands uploaded, function compiled). `run`
 * computes it `reps` times back to back and returns once all are complete (the framework forces
 * completion its own way: tfjs `dataSync` of the last, jax-js `blockUntilReady` of each).
 */
export interface Product {
  run(reps: number): void | Promise<void>;
  /** The last product's output, row-major [m, n]. */
  output(): Float32Array | Promise<Float32Array>;
  dispose(): void;
}

/**
 * Prepares one product: `a` and `b` are the operands (already cut to m·k and k·n values) in the
 * variant's layout: A·B: A [m, k], B [k, n]; Aᵀ·B: A [k, m]; A·Bᵀ: B [n, k].
 */
export type ProductFactory = (
  shape: MatmulShape,
  variant: Variant,
  a: Float32Array,
  b: Float32Array,
) => Product | Promise<Product>;

/**
 * The sweep's timing protocol, shared by the JS frameworks (numpy's python script follows the same).
 * For each shape and variant: one untimed warm-up product (jit compiles, memory grows: jax-js's first
 * product of a new shape runs 2-3× slower), then timed runs of 1, 1, 2, 4, 8, ... products until the
 * timed total reaches the budget or maxReps products; the time per product is the total over all.
 * With `skipSlow` (the peers; never gradgraph), a product whose time, estimated from the framework's
 * rate on the previous shape of the same variant, exceeds `maxProductSeconds` is skipped and reported
 * as such (tfjs-wasm's transposed products run at a few GFLOP/s or less: its 4096³ Aᵀ·B would take
 * minutes).
 */
export async function timeSweep(
  w: MatmulWorkload,
  a: Float32Array,
  b: Float32Array,
  make: ProductFactory,
  probe: Probe,
  skipSlow = true,
): Promise<MatmulEntry[]> {
  const entries: MatmulEntry[] = [];
  const lastRate: Partial<Record<Variant, number>> = {};
  probe.start();
  for (const shape of w.shapes) {
    const { m, k, n } = shape;
    const av = a.subarray(0, m * k);
    const bv = b.subarray(0, k * n);
    const flops = matmulFlops(shape);
    for (const variant of VARIANTS) {
      const rate = lastRate[variant];
      const estimate = rate ? flops / (rate * 1e9) : 0;
      if (skipSlow && estimate > w.maxProductSeconds) {
        entries.push({
          m,
          k,
          n,
          variant,
          seconds: Number.NaN,
          reps: 0,
          gflops: Number.NaN,
          sample: [],
          rms: 0,
          skippedEstimate: estimate,
        });
        continue;
      }
      const p = await make(shape, variant, av, bv);
      await p.run(1);
      let reps = 0;
      let chunk = 1;
      let total = 0;
      while (total < w.budgetSeconds && reps < w.maxReps) {
        const c = Math.min(chunk, w.maxReps - reps);
        const t0 = performance.now();
        await p.run(c);
        total += (performance.now() - t0) / 1000;
        reps += c;
        if (reps > 1) chunk *= 2;
      }
      const seconds = total / reps;
      const out = await p.output();
      p.dispose();
      const gflops = flops / seconds / 1e9;
      lastRate[variant] = gflops;
      entries.push({ m, k, n, variant, seconds, reps, gflops, ...sampleOutput(out, m, n) });
    }
  }
  probe.stop();
  return entries;
}

/** What a framework's cell module provides. */
export interface CellRunner {
  /** Trains `w` from `layers` on the batches of `batcher`; brackets the timed steps with `probe`. */
  train(w: TrainWorkload, batcher: Batcher, layers: readonly Layer[], probe: Probe): Promise<TrainRun>;
  /**
   * Trains the convolutional network `w` from `weights` on the batches of `batcher` (rows of
   * channels·height·width features, channels first); brackets the timed steps with `probe`.
   * Optional: a framework without it is reported as failed on the CNN workloads.
   */
  cnn?(w: CnnWorkload, batcher: Batcher, weights: CnnWeights, probe: Probe): Promise<TrainRun>;
  /**
   * Trains the Transformer block `w` from `weights` (see `makeBlockWeights`) on the sequences of
   * `batcher` (rows of T·D inputs and T·D targets); brackets the timed steps with `probe`. Optional:
   * a framework without it is reported as failed on the block workloads.
   */
  block?(
    w: BlockWorkload,
    batcher: Batcher,
    weights: Readonly<Record<BlockParam, BlockTensor>>,
    probe: Probe,
  ): Promise<TrainRun>;
  /** Times the matmul sweep `w` on the operands `a`, `b` (see {@link makeSweepOperands}); brackets it with `probe`. */
  matmul(w: MatmulWorkload, a: Float32Array, b: Float32Array, probe: Probe): Promise<MatmulRun>;
  /**
   * Runs the points of a scaling table in this process (optional: by default the cell calls
   * {@link CellRunner.train} once per point). Each point brings its workload, batches and weights.
   */
  scaling?(points: readonly ScalingPoint[], probe: Probe): Promise<{ runs: TrainRun[]; rssPeakMB?: number }>;
}

/** One point of a scaling table as handed to a cell. */
export interface ScalingPoint {
  readonly point: number;
  readonly workload: TrainWorkload;
  readonly batcher: Batcher;
  readonly layers: readonly Layer[];
}
