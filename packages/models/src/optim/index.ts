/**
 * Optimizers: mini-batch ({@link sgd}, {@link momentum}, {@link adam}) updating params in place,
 * and full-batch {@link minimize} (L-BFGS, conjugate gradient) over a flat vector.
 * @module
 */
export * from "./flatten.js";
export * from "./linesearch.js";
export * from "./minimize.js";
export * from "./sgd.js";
export * from "./types.js";
