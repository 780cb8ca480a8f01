/**
 * The one error type of the ONNX package.
 * @module
 */

/**
 * Raised for anything the ONNX exporter or importer cannot do: a graph node without an ONNX
 * mapping, a corrupt or truncated file, an unsupported opset, node or attribute, an initializer
 * whose data does not match its shape. The message names the node, initializer or byte concerned.
 *
 * @example
 * ```ts
 * import { importOnnx, OnnxError } from "@gradgraph/onnx";
 *
 * try {
 *   importOnnx(new Uint8Array([1, 2, 3]));
 * } catch (e) {
 *   if (e instanceof OnnxError) console.log(e.message); // says what is wrong with the bytes
 * }
 * ```
 */
export class OnnxError extends Error {
  override name = "OnnxError";
}
