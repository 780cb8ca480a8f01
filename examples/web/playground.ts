/**
 * The playground's model and training, without the page: the data sets, the 2-H-2 network, one
 * training chunk, the decision-boundary grid, the graphs as DOT and the active kernels. `main.ts`
 * draws them.
 * @module
 */
import * as core from "@gradgraph/core";
import { type LabeledData, makeCircles, makeMoons } from "@gradgraph/datasets";
import { adam, dense, fitAsync, Model, type Optimizer, softmaxCrossEntropy } from "@gradgraph/models";

/** The data sets the page offers. */
export const DATASETS = ["moons", "circles"] as const;
/** A data set's name. */
export type DatasetName = (typeof DATASETS)[number];
/** The hidden activations the page offers. */
export const HIDDEN_ACTIVATIONS = ["tanh", "relu", "sigmoid"] as const;
/** A hidden activation's name. */
export type HiddenActivation = (typeof HIDDEN_ACTIVATIONS)[number];

/** Everything the controls set. */
export interface PlaygroundSettings {
  /** Which two-class data set. */
  readonly dataset: DatasetName;
  /** Units of the hidden layer (1..64). */
  readonly hidden: number;
  /** The hidden layer's activation. */
  readonly activation: HiddenActivation;
  /** Adam's learning rate (> 0). */
  readonly lr: number;
  /** L2 regularisation: the weight decay added to every gradient (`g + l2·p`, >= 0). */
  readonly l2: number;
  /** Points in the data set. */
  readonly samples: number;
  /** Standard deviation of the Gaussian noise of the points. */
  readonly noise: number;
  /** Seed of the data and of the initial weights. */
  readonly seed: number;
}

/** The settings the page starts with. */
export const DEFAULT_SETTINGS: PlaygroundSettings = Object.freeze({
  dataset: "moons",
  hidden: 8,
  activation: "tanh",
  lr: 0.03,
  l2: 0.0001,
  samples: 200,
  noise: 0.1,
  seed: 0,
});

/** Checks settings from the page (or a test) and says which one is wrong. */
export function checkSettings(s: PlaygroundSettings): PlaygroundSettings {
  if (!DATASETS.includes(s.dataset))
    throw new RangeError(`dataset must be one of ${DATASETS.join(", ")}, got '${s.dataset}'`);
  if (!HIDDEN_ACTIVATIONS.includes(s.activation))
    throw new RangeError(`activation must be one of ${HIDDEN_ACTIVATIONS.join(", ")}, got '${s.activation}'`);
  if (!Number.isInteger(s.hidden) || s.hidden < 1 || s.hidden > 64)
    throw new RangeError(`hidden size must be an integer in 1..64, got ${s.hidden}`);
  if (!(Number.isFinite(s.lr) && s.lr > 0))
    throw new RangeError(`learning rate must be a number > 0, got ${s.lr}`);
  if (!(Number.isFinite(s.l2) && s.l2 >= 0)) throw new RangeError(`L2 must be a number >= 0, got ${s.l2}`);
  if (!Number.isInteger(s.samples) || s.samples < 4 || s.samples > 2000)
    throw new RangeError(`samples must be an integer in 4..2000, got ${s.samples}`);
  if (!(Number.isFinite(s.noise) && s.noise >= 0))
    throw new RangeError(`noise must be a number >= 0, got ${s.noise}`);
  return s;
}

/** The points of a data set. */
export function makeData(s: PlaygroundSettings): LabeledData {
  const options = { nSamples: s.samples, noise: s.noise, seed: s.seed };
  return s.dataset === "moons" ? makeMoons(options) : makeCircles({ ...options, factor: 0.5 });
}

/** The 2-H-2 network: a hidden layer, a softmax output, the mean cross-entropy loss. */
export function buildModel(s: PlaygroundSettings): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const h = dense(b, x, s.hidden, { name: "hidden", activation: s.activation });
      const logits = dense(b, h, 2, { name: "out" });
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed: s.seed },
  );
}

/** The x/y extent drawn: the points' bounding box plus a margin. */
export interface Bounds {
  /** Smallest x. */
  readonly x0: number;
  /** Largest x. */
  readonly x1: number;
  /** Smallest y. */
  readonly y0: number;
  /** Largest y. */
  readonly y1: number;
}

/** The points' bounding box with `margin` added on every side. */
export function boundsOf(x: core.Tensor, margin = 0.4): Bounds {
  const d = x.data;
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < d.length; i += 2) {
    x0 = Math.min(x0, d[i]!);
    x1 = Math.max(x1, d[i]!);
    y0 = Math.min(y0, d[i + 1]!);
    y1 = Math.max(y1, d[i + 1]!);
  }
  return { x0: x0 - margin, x1: x1 + margin, y0: y0 - margin, y1: y1 + margin };
}

/** What {@link Trainer.trainAsync} takes. */
export interface TrainAsyncOptions {
  /** Train until this many steps have been taken in all. */
  readonly maxSteps: number;
  /** Stops training (the promise then rejects with the signal's reason, as `fitAsync`'s). */
  readonly signal?: AbortSignal;
  /** Milliseconds of training between two yields to the event loop (`fitAsync`'s default: 16). */
  readonly yieldEveryMs?: number;
}

/** One model in training on one data set, full-batch Adam steps. */
export class Trainer {
  /** The settings it was made with. */
  readonly settings: PlaygroundSettings;
  /** The points. */
  readonly data: LabeledData;
  /** The network. */
  readonly model: Model;
  /**
   * The same network (the same param store, its own compiled plans) for measuring and drawing:
   * `fitAsync` owns {@link Trainer.model}'s plans while its promise is pending.
   */
  readonly view: Model;
  /** Adam with the L2 term as weight decay. */
  readonly optimizer: Optimizer;
  /** The region drawn. */
  readonly bounds: Bounds;
  /** Loss of every step taken (before its update). */
  readonly losses: number[] = [];
  private gridX: core.Tensor | null = null;
  private gridSize = 0;

  constructor(settings: PlaygroundSettings) {
    this.settings = checkSettings(settings);
    this.data = makeData(settings);
    this.model = buildModel(settings);
    this.view = new Model(this.model.graph, { params: this.model.params });
    this.optimizer = adam({ lr: settings.lr, weightDecay: settings.l2 });
    this.bounds = boundsOf(this.data.x);
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.losses.length;
  }

  /** Takes full-batch steps until `budgetMs` has passed (at least one); returns the last loss. */
  train(budgetMs: number, maxSteps = Number.POSITIVE_INFINITY): number {
    const end = performance.now() + budgetMs;
    let loss = Number.NaN;
    let n = 0;
    do {
      loss = this.model.trainStep(this.data.x, this.data.y, this.optimizer);
      this.losses.push(loss);
      n++;
    } while (n < maxSteps && performance.now() < end);
    return loss;
  }

  /**
   * Trains with `fitAsync` (one full batch per epoch, in file order), which yields to the event loop
   * every {@link TrainAsyncOptions.yieldEveryMs} so the page stays responsive; resolves once
   * {@link TrainAsyncOptions.maxSteps} steps have been taken. Resumable: the optimizer keeps its
   * state, and a later call continues from {@link Trainer.steps}. The steps are those of
   * {@link Trainer.train}, so both give the same losses bit for bit.
   */
  async trainAsync(options: TrainAsyncOptions): Promise<void> {
    if (this.steps >= options.maxSteps) return;
    await fitAsync(this.model, this.data, {
      optimizer: this.optimizer,
      epochs: options.maxSteps,
      initialEpoch: this.steps,
      batchSize: this.data.y.length,
      shuffle: false,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.yieldEveryMs !== undefined ? { yieldEveryMs: options.yieldEveryMs } : {}),
      callbacks: {
        onEpochEnd: (_epoch, logs) => {
          this.losses.push(logs.loss);
        },
      },
    });
  }

  /** The fraction of the points the current boundary classifies correctly. */
  accuracy(): number {
    return this.view.evaluate(this.data.x, this.data.y, { metrics: ["accuracy"] }).accuracy!;
  }

  /**
   * The probability of class 1 on a `size` x `size` grid over {@link Trainer.bounds}, row by row
   * from the top (largest y) down.
   */
  grid(size: number): Float32Array {
    if (!this.gridX || this.gridSize !== size) {
      const xs = new Float32Array(size * size * 2);
      const { x0, x1, y0, y1 } = this.bounds;
      for (let r = 0; r < size; r++) {
        for (let c = 0; c < size; c++) {
          const k = 2 * (r * size + c);
          xs[k] = x0 + ((c + 0.5) / size) * (x1 - x0);
          xs[k + 1] = y1 - ((r + 0.5) / size) * (y1 - y0);
        }
      }
      this.gridX = new core.Tensor([size * size, 2], xs);
      this.gridSize = size;
    }
    const p = this.view.predict(this.gridX).data;
    const out = new Float32Array(size * size);
    for (let i = 0; i < out.length; i++) out[i] = p[2 * i + 1]!;
    return out;
  }

  /** The model's graph (forward pass and loss) as Graphviz DOT. */
  forwardDot(): string {
    return core.toDot(this.model.graph, { title: "forward graph" });
  }

  /** The training graph (forward pass, loss and the gradient of every param) as Graphviz DOT. */
  gradientDot(): string {
    return core.toDot(this.model.trainingGraph, { title: "gradient graph" });
  }
}

/** Which kernels run the plans, as the page shows it. */
export interface BackendDescription {
  /** `"wasm-simd"` when the WebAssembly SIMD kernels are active, else `"js"`. */
  readonly backend: string;
  /** Threads computing matrix products: the page's own plus worker threads serving. */
  readonly threads: number;
  /** Whether the arena's memory is shared (SharedArrayBuffer: worker threads may join). */
  readonly sharedMemory: boolean;
  /** Whether the page is cross-origin isolated (COOP/COEP headers: SharedArrayBuffer available). */
  readonly crossOriginIsolated: boolean;
  /** Why a faster option is unavailable, one sentence each (core's `backendInfo().limitations`). */
  readonly limitations: readonly string[];
}

/** Core's `backendInfo()` plus whether the page is cross-origin isolated. */
export function describeBackend(): BackendDescription {
  const info = core.backendInfo();
  return {
    backend: info.backend,
    threads: info.threads,
    sharedMemory: info.sharedMemory,
    crossOriginIsolated: typeof crossOriginIsolated === "boolean" ? crossOriginIsolated : false,
    limitations: info.limitations,
  };
}

/**
 * Starts `count` Web Workers that join the page's thread in core's matrix kernels (core's
 * `startThreadPool` with a Worker factory over a blob URL of the worker's source). They need shared
 * memory, so only a cross-origin isolated page gets them; returns whether the pool started. Workers
 * join as they load: `backendInfo().threads` counts those serving.
 */
export function startWorkerThreads(count: number): boolean {
  if (typeof Worker === "undefined" || typeof crossOriginIsolated !== "boolean" || !crossOriginIsolated)
    return false;
  return core.startThreadPool(
    (source, events) => {
      const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
      worker.addEventListener("error", (e) => events.exited(e.message || "the worker reported an error"));
      return worker;
    },
    count,
    { canBlock: false },
  );
}
