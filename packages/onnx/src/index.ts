/**
 * ONNX interop: {@link exportOnnx} writes any gradgraph graph (an inference graph, or a whole
 * training step with its gradients) as an ONNX model that ONNX Runtime runs; {@link importOnnx} reads
 * ONNX models back as a gradgraph graph and params that can be differentiated and trained.
 * @module
 */
export { OnnxError } from "./errors.js";
export { type DimSource, ExportContext, SLICE_TO_END } from "./export/context.js";
export {
  type CustomOpExporter,
  type ExportOnnxOptions,
  exportOnnx,
  exportOnnxModel,
  GRADGRAPH_VERSION,
} from "./export/export.js";
export {
  type ImportedOnnx,
  type ImportOnnxOptions,
  importOnnx,
  importOnnxModel,
  ONNX_IMPORT_IR_VERSIONS,
  ONNX_IMPORT_OPS,
  ONNX_IMPORT_OPSETS,
} from "./import/import.js";
export { ONNX_IR_VERSION, ONNX_OPSET, type OnnxAttr } from "./proto.js";
export {
  type ExportedTrainingStep,
  exportTrainingStep,
  type OnnxAdam,
  type OnnxOptimizer,
  type OnnxSgd,
  TRAINING_STEP_NAMES,
  type TrainingStep,
  type TrainingStepOptions,
  trainingStepGraph,
} from "./training.js";
