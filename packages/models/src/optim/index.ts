/**
 * Optimizers: mini-batch ({@link sgd}, {@link momentum}, {@link adam}) updating params in place,
 * with learning-rate schedules ({@link cosineDecay}, {@link stepDecay}, {@link exponentialDecay}),
 * and full-batch {@link minimize} (L-BFGS, conjugate gradient) over a flat vector.
 * @module
 */
export * from "./flatten.js";
export * from "./linesearch.js";
export * from "./minimize.js";
export * from "./schedules.js";
export * from "./sgd.js";
export * from "./types.js";
