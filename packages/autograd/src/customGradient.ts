/**
 * Custom gradients per call (like `jax.custom_vjp` or `tf.customGrad`): wrap a sub-graph built
 * with builder ops and give it a hand-written VJP rule. The implementation lives in
 * `@gradgraph/core` (the `customGradient` op and its rule graphs are part of the IR, so graphs
 * holding one parse and compile without this package); it is re-exported here, beside `grad`.
 * @module
 */
export {
  type CustomGradientOptions,
  type CustomJvp,
  type CustomJvpArgs,
  type CustomVjp,
  type CustomVjpArgs,
  customGradient,
} from "@gradgraph/core";
