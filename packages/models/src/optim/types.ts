/**
 * The mini-batch optimizer interface shared by {@link sgd}, {@link momentum} and {@link adam}, and
 * the form of their saved state ({@link OptimizerState}).
 * @module
 */
import type { ParamStore, Tensor } from "@gradgraph/core";

/**
 * The state of a mini-batch optimizer, as {@link Optimizer.getState} returns it and
 * {@link Optimizer.setState} takes it (and as a model file stores it, see `serializeModel`'s
 * `training`): everything an optimizer built with the same options needs to continue exactly where
 * this one stopped. Hyperparameters and the schedule function are not part of it: the resumed run
 * builds its optimizer with the same options.
 */
export interface OptimizerState {
  /** The optimizer's {@link Optimizer.name} (`"sgd"`, `"momentum"`, `"nesterov"`, `"adam"`). */
  readonly name: string;
  /** Steps taken ({@link Optimizer.iterations}): the position of the learning-rate schedule. */
  readonly iterations: number;
  /** The learning rate in use (the constant rate, or the schedule's value at the last step). */
  readonly lr: number;
  /** Names of the per-param buffers, in order: `[]` (sgd), `["velocity"]` (momentum), `["m", "v"]` (adam). */
  readonly slots: readonly string[];
  /**
   * Per param that has received a gradient: the steps it received (Adam's bias-correction count)
   * and its buffers (one per slot, as many elements as the param).
   */
  readonly params: Readonly<Record<string, ParamOptimizerState>>;
}

/** One param's part of an {@link OptimizerState}. */
export interface ParamOptimizerState {
  /** Steps in which this param received a gradient. */
  readonly steps: number;
  /** One buffer per slot of {@link OptimizerState.slots}. */
  readonly buffers: readonly Float64Array[];
}

/**
 * A mini-batch optimizer. It updates the parameter buffers **in place** (the same `Tensor`
 * objects, so compiled plans that bound them see the new values) and allocates nothing per step
 * after the first step for each parameter (its state buffers are made lazily, per parameter).
 */
export interface Optimizer {
  /** Short name, e.g. `"adam"`. */
  readonly name: string;
  /**
   * Applies one update `params[name] -= ...` for every `name` of `grads` (same shapes as the
   * params). Params without a gradient are left alone; a gradient for an unknown param throws.
   */
  step(params: ParamStore, grads: Readonly<Record<string, Tensor>>): void;
  /** Clears internal state (moments, step counts, the schedule's position). */
  reset(): void;
  /**
   * Current learning rate: the constant rate, or with a schedule its value at the last step taken
   * (before the first step, at step 0). Setting it (finite, > 0) replaces a schedule by that constant.
   */
  lr: number;
  /** Steps taken since creation or the last {@link Optimizer.reset}: the schedule's position. */
  readonly iterations: number;
  /** A deep copy of the state (buffers copied), see {@link OptimizerState}. */
  getState(): OptimizerState;
  /**
   * Replaces the state by a copy of `state` (from {@link Optimizer.getState} of an optimizer of the
   * same kind). Throws an {@link OptimizerError} naming what differs when `state` belongs to another
   * kind of optimizer or is malformed.
   */
  setState(state: OptimizerState): void;
}

/**
 * Error raised for an invalid optimizer hyperparameter (a learning rate, momentum or schedule value
 * out of range), a gradient that does not fit its param, or a state given to
 * {@link Optimizer.setState} that belongs to another kind of optimizer. The message names the
 * optimizer, the setting and the value.
 *
 * @example
 * ```ts
 * import { OptimizerError, sgd } from "@gradgraph/models";
 *
 * try {
 *   sgd({ lr: -1 });
 * } catch (e) {
 *   if (e instanceof OptimizerError) console.log(e.message); // sgd: lr must be a finite number > 0, got -1
 * }
 * ```
 */
export class OptimizerError extends Error {
  override name = "OptimizerError";
}
