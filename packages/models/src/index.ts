/**
 * `@gradgraph/models`: layers that emit graph nodes (dense and convolutional, batch normalisation,
 * dropout), losses, initialisers, the {@link Model} wrapper,
 * training loops ({@link fit}, {@link fitFullBatch}) with callbacks and early stopping, optimizers,
 * metrics and save/load. Every gradient comes from `@gradgraph/autograd`.
 * @packageDocumentation
 */
export * from "./callbacks.js";
export * from "./cnn.js";
export * from "./fit.js";
export type { Features, TargetData, Targets } from "./gather.js";
export * from "./init.js";
export * from "./io.js";
export * from "./layers.js";
export * from "./losses.js";
export * from "./metrics.js";
export * from "./model.js";
export * from "./modes.js";
export * from "./optim/index.js";
export * from "./presets/index.js";
export * from "./recurrent.js";
export * from "./sequence.js";
