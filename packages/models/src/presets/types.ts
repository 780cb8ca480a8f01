/**
 * The shape every tutorial preset shares: a name, a credit, default hyperparameters (the
 * tutorial's own) that can each be overridden, a `build` that makes the network as a {@link Model},
 * and a `run` that trains it on already-loaded data and returns everything needed to print or plot
 * the tutorial's results.
 * @module
 */
import type { Tensor } from "@gradgraph/core";
import type { History } from "../callbacks.js";
import type { NonFiniteLossError } from "../fit.js";
import type { Model } from "../model.js";

/** Where a preset comes from. */
export interface PresetCredit {
  /** The original tutorial (author and title). */
  readonly tutorial: string;
  /**
   * The Chinese blog post the preset was rebuilt from (absent for a preset that rebuilds no post,
   * such as `"lenet-mnist"`).
   */
  readonly post?: string;
  /** Link to the original tutorial or post, when known. */
  readonly url?: string;
  /**
   * The copy of the post kept with the project (`/work/shared/seeds/<file>`, see SEEDS.md); absent
   * when there is no post.
   */
  readonly seedFile?: string;
}

/**
 * A flag a caller can raise to stop training after the current batch (the examples CLI raises it on
 * Ctrl-C). `{ stopped: true }` and an `AbortSignal` (`aborted`) both work.
 */
export interface StopSignal {
  /** Raised by the caller to stop. */
  readonly stopped?: boolean;
  /** The same, for an `AbortSignal`. */
  readonly aborted?: boolean;
}

/** Progress of one training step, passed to {@link PresetHooks.onBatchEnd}. */
export interface BatchProgress {
  /** Which model of the run is training (e.g. `"H=3"` in the moons sweep); empty for single-model presets. */
  readonly stage: string;
  /** Epoch (or full-batch pass / optimizer iteration) index, from 0. */
  readonly epoch: number;
  /** Total epochs of this stage. */
  readonly epochs: number;
  /** Batch index within the epoch, from 0. */
  readonly batch: number;
  /** Batches per epoch. */
  readonly batches: number;
  /** The batch loss, computed before the update (in the loss's own reduction). */
  readonly loss: number;
}

/** Callbacks and controls of a preset run. All optional. */
export interface PresetHooks {
  /**
   * After each epoch (per-sample and mini-batch presets), pass (moons) or optimizer iteration (Ng),
   * with that epoch's logs (`loss`, `accuracy`, `val_loss`, `val_accuracy`, ...). `stage` names the
   * model being trained when a run trains several (the moons sweep: `"H=3"`, `"logistic"`).
   */
  onEpochEnd?(epoch: number, logs: Readonly<Record<string, number>>, stage: string): void;
  /** After every optimisation step (progress bars). The object is reused: copy what you keep. */
  onBatchEnd?(progress: BatchProgress): void;
  /** Each line the tutorial would print (`[INFO] epoch=100, loss=...`, `Epoch 3 : 9412 / 10000`, ...). */
  onLog?(line: string): void;
  /**
   * Stop flag, checked after every batch. When it is raised, training ends after the current batch and
   * `run` resolves with the partial history and `stopped: true`. An epoch stopped before its last
   * batch is rolled back (the params return to the end of the last complete epoch, and
   * `history.partialEpoch` counts the discarded batches), so the model and every result describe
   * exactly `history.epochs` epochs. While a signal is given, mini-batch
   * and gradient-descent loops yield to the event loop every {@link PresetHooks.yieldEveryMs} so that
   * a Ctrl-C handler gets a chance to run. (Ng's conjugate-gradient run is synchronous inside the
   * minimizer: it sees the flag between iterations but cannot yield.)
   */
  signal?: StopSignal;
  /** How often (ms) to yield to the event loop while a `signal` is given (default 100). */
  yieldEveryMs?: number;
}

/** What every preset run returns besides its own results. */
export interface PresetRunBase<H> {
  /** The hyperparameters used (defaults merged with the overrides). */
  readonly hyperparameters: Readonly<H>;
  /** Wall time of the run in milliseconds (training and the evaluations it makes). */
  readonly timeMs: number;
  /** True when the stop signal or a non-finite loss ended the run early. */
  readonly stopped: boolean;
  /**
   * Set when training stopped at the first non-finite (NaN or infinite) loss: where it appeared and
   * how many epochs the model kept. Presets do not throw it: they roll the model back to the last
   * finite checkpoint (as `fit` does), finish their evaluations on it, and resolve with this set.
   */
  readonly nonFinite: NonFiniteLossError | null;
  /** The lines the tutorial would print, in order (also sent to {@link PresetHooks.onLog}). */
  readonly log: readonly string[];
}

/** Predictions on an evaluation set, for confusion matrices and image grids. */
export interface ClassPredictions {
  /** Predicted class of each sample. */
  readonly predicted: Int32Array;
  /** True class of each sample. */
  readonly actual: Int32Array;
  /** The model's outputs, `[n, classes]`, sample-major. */
  readonly outputs: Tensor;
}

/** A trained model with its per-epoch history. */
export interface TrainedModel {
  /** The trained model (params updated in place). */
  readonly model: Model;
  /** Per-epoch logs. */
  readonly history: History;
}

/**
 * A tutorial network as a reusable recipe.
 * @typeParam H - hyperparameters (every field has a default, the tutorial's)
 * @typeParam D - the data `run` takes (already loaded, so presets also run in browsers)
 * @typeParam R - what `run` returns
 */
export interface Preset<H extends object, D, R> {
  /**
   * Kebab-case id (`"digits-sigmoid"`, `"moons"`, `"nielsen-mnist"`, `"ng-ex4"`, `"relu-softmax-mnist"`,
   * `"lenet-mnist"`, `"rnn-mnist"`).
   */
  readonly name: string;
  /** A one-line title. */
  readonly title: string;
  /** The tutorial it rebuilds. */
  readonly credit: PresetCredit;
  /** The tutorial's hyperparameters. */
  readonly defaults: Readonly<H>;
  /** One line per hyperparameter saying what it is (for CLI help). */
  readonly parameterDocs: { readonly [K in keyof H]-?: string };
  /** Builds the untrained network (graph, loss and initial params) for the given hyperparameters. */
  build(overrides?: Partial<H>): Model;
  /**
   * Trains on `data` with the defaults merged with `overrides` and returns the results. Unknown or
   * invalid hyperparameters throw a RangeError naming them.
   */
  run(data: D, overrides?: Partial<H>, hooks?: PresetHooks): Promise<R>;
}
