/**
 * `@gradgraph/core`: tensors, seeded RNG, the immutable graph IR and its builder,
 * the op table and the compiler/executor.
 * @packageDocumentation
 */

export { axpy } from "./backend/blas.js";
export { setConvGridPaths } from "./backend/conv.js";
export { type BackendInfo, backendInfo } from "./backend/info.js";
export {
  allocKernelArray,
  type GemmKernel,
  relaxedSimdSupported,
  setWasmEnabled,
  type WasmBackend,
  type WasmKernels,
  wasmBackend,
} from "./backend/memory.js";
export {
  startThreadPool,
  stopThreadPool,
  type ThreadPoolOptions,
  threadCount,
  type WorkerEvents,
  type WorkerFactory,
  type WorkerLike,
} from "./backend/threads.js";
export * from "./builder.js";
export * from "./compile.js";
export * from "./customGradient.js";
export * from "./dtype.js";
export * from "./graph.js";
export * from "./init.js";
export * from "./ops/define.js";
export * from "./ops/index.js";
export * from "./params.js";
export * from "./print.js";
export * from "./rng.js";
export * from "./serialize.js";
export * from "./shape.js";
export * from "./specialize.js";
export * from "./subgraph.js";
export * from "./tensor.js";
export * from "./topo.js";
export * from "./transforms.js";
