/**
 * Learning-rate schedules: plain functions from the optimizer's step count to a learning rate,
 * usable by every mini-batch optimizer ({@link sgd}, {@link momentum}, {@link adam}) through their
 * `lr` option. A schedule holds no state: its position is the optimizer's
 * {@link Optimizer.iterations}, which is saved with the rest of the optimizer state
 * ({@link Optimizer.getState}), so a resumed run continues the schedule exactly.
 * @module
 */
import { OptimizerError } from "./types.js";

/**
 * A learning-rate schedule: the learning rate of the optimizer step numbered `step` (from 0: the
 * number of steps taken before it). It must be a pure function of `step` (same step, same bits),
 * returning a finite number >= 0; the optimizer checks every value and throws an
 * {@link OptimizerError} for anything else. Any function of that shape can be given as an
 * optimizer's `lr`, e.g. `(s) => Math.max(cosine(s), 1e-6)`.
 */
export type LearningRateSchedule = (step: number) => number;

function need(ok: boolean, fn: string, what: string, value: unknown): void {
  if (!ok) throw new OptimizerError(`${fn}: ${what}, got ${String(value)}`);
}

const isFinitePositive = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;
const isStepCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Options of {@link constantLr}. */
export interface ConstantLrOptions {
  /** Steps of linear warm-up before the constant rate (default 0); see {@link CosineDecayOptions.warmupSteps}. */
  warmupSteps?: number;
}

/**
 * The constant learning rate `lr` (after an optional linear warm-up: `lr·(s+1)/W` at step `s < W`).
 * @example
 * const opt = sgd({ lr: constantLr(0.1, { warmupSteps: 100 }) });
 */
export function constantLr(lr: number, options: ConstantLrOptions = {}): LearningRateSchedule {
  need(isFinitePositive(lr), "constantLr", "lr must be a finite number > 0", lr);
  const w = options.warmupSteps ?? 0;
  need(isStepCount(w), "constantLr", "warmupSteps must be an integer >= 0", w);
  return (s) => (s < w ? (lr * (s + 1)) / w : lr);
}

/** Options of {@link stepDecay}. */
export interface StepDecayOptions {
  /** The initial learning rate (finite, > 0). */
  lr: number;
  /** Steps between two decays (integer >= 1). */
  stepSize: number;
  /** Factor applied at every decay, in (0, 1] (default 0.1). */
  gamma?: number;
}

/**
 * Step decay (PyTorch's `StepLR`): `lr · gamma^floor(s / stepSize)` at step `s`.
 * @example
 * // lr 0.1 for steps 0..999, 0.01 for 1000..1999, ...
 * const opt = momentum({ lr: stepDecay({ lr: 0.1, stepSize: 1000 }) });
 */
export function stepDecay(options: StepDecayOptions): LearningRateSchedule {
  const { lr, stepSize } = options;
  const gamma = options.gamma ?? 0.1;
  need(isFinitePositive(lr), "stepDecay", "lr must be a finite number > 0", lr);
  need(
    Number.isSafeInteger(stepSize) && stepSize >= 1,
    "stepDecay",
    "stepSize must be an integer >= 1",
    stepSize,
  );
  need(isFinitePositive(gamma) && gamma <= 1, "stepDecay", "gamma must be in (0, 1]", gamma);
  return (s) => lr * gamma ** Math.floor(s / stepSize);
}

/** Options of {@link exponentialDecay}. */
export interface ExponentialDecayOptions {
  /** The initial learning rate (finite, > 0). */
  lr: number;
  /** Factor applied every `decaySteps` steps, in (0, 1]. */
  decayRate: number;
  /** Steps over which the rate is multiplied by `decayRate` (default 1). */
  decaySteps?: number;
  /** Decay in whole periods (`floor(s / decaySteps)`) instead of continuously (default false). */
  staircase?: boolean;
}

/**
 * Exponential decay (Keras' `ExponentialDecay`): `lr · decayRate^(s / decaySteps)` at step `s`
 * (with `staircase`, the exponent is `floor(s / decaySteps)`).
 * @example
 * const opt = adam({ lr: exponentialDecay({ lr: 1e-3, decayRate: 0.5, decaySteps: 1000 }) });
 */
export function exponentialDecay(options: ExponentialDecayOptions): LearningRateSchedule {
  const { lr, decayRate } = options;
  const decaySteps = options.decaySteps ?? 1;
  const staircase = options.staircase ?? false;
  need(isFinitePositive(lr), "exponentialDecay", "lr must be a finite number > 0", lr);
  need(
    isFinitePositive(decayRate) && decayRate <= 1,
    "exponentialDecay",
    "decayRate must be in (0, 1]",
    decayRate,
  );
  need(
    isFinitePositive(decaySteps),
    "exponentialDecay",
    "decaySteps must be a finite number > 0",
    decaySteps,
  );
  return staircase
    ? (s) => lr * decayRate ** Math.floor(s / decaySteps)
    : (s) => lr * decayRate ** (s / decaySteps);
}

/** Options of {@link cosineDecay}. */
export interface CosineDecayOptions {
  /** The peak learning rate (finite, > 0), reached at the end of the warm-up. */
  lr: number;
  /** Steps of the whole run, warm-up included (integer > `warmupSteps`). */
  totalSteps: number;
  /**
   * Steps of linear warm-up (default 0): at step `s < W` the rate is `lr·(s+1)/W`, so the last
   * warm-up step uses `lr` and the first step uses `lr/W`.
   */
  warmupSteps?: number;
  /** The rate the cosine falls to at `totalSteps` and keeps afterwards (default 0, must be < `lr`). */
  minLr?: number;
}

/**
 * Cosine decay with linear warm-up (Loshchilov & Hutter's SGDR without restarts): after the warm-up,
 * at step `s` the rate is `minLr + (lr - minLr)·(1 + cos(π·(s - W)/(T - W)))/2`, from `lr` at
 * `s = W` down to `minLr` at `s = T` (and `minLr` afterwards). With `minLr` 0 it is computed as
 * `lr·0.5·(1 + cos((π·(s - W))/(T - W)))`. A rate of exactly 0 (at `s >= T` with `minLr` 0) makes
 * that step a no-op for the gradient part of the update.
 * @example
 * const opt = adam({ lr: cosineDecay({ lr: 2e-3, totalSteps: epochs * batches, warmupSteps: 500 }) });
 */
export function cosineDecay(options: CosineDecayOptions): LearningRateSchedule {
  const { lr, totalSteps } = options;
  const w = options.warmupSteps ?? 0;
  const minLr = options.minLr ?? 0;
  need(isFinitePositive(lr), "cosineDecay", "lr must be a finite number > 0", lr);
  need(isStepCount(w), "cosineDecay", "warmupSteps must be an integer >= 0", w);
  need(
    Number.isSafeInteger(totalSteps) && totalSteps > w,
    "cosineDecay",
    `totalSteps must be an integer > warmupSteps (${w})`,
    totalSteps,
  );
  need(
    typeof minLr === "number" && Number.isFinite(minLr) && minLr >= 0 && minLr < lr,
    "cosineDecay",
    `minLr must be a finite number in [0, lr = ${lr})`,
    minLr,
  );
  const span = totalSteps - w;
  const range = lr - minLr;
  return (s) => {
    if (s < w) return (lr * (s + 1)) / w;
    const t = Math.min(s - w, span);
    const c = 1 + Math.cos((Math.PI * t) / span);
    return minLr === 0 ? lr * 0.5 * c : minLr + range * 0.5 * c;
  };
}
