/**
 * The mini-batch optimizer interface shared by {@link sgd}, {@link momentum} and {@link adam}.
 * @module
 */
import type { ParamStore, Tensor } from "@gradgraph/core";

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
  /** Clears internal state (moments, step counts). */
  reset(): void;
  /** Current learning rate (schedules may change it; must stay finite and > 0). */
  lr: number;
}

/** Error raised for an invalid optimizer hyperparameter or a gradient that does not fit its param. */
export class OptimizerError extends Error {
  override name = "OptimizerError";
}
