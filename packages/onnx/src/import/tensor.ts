/**
 * Decoding ONNX TensorProtos (initializers, `Constant` values, attribute tensors) into plain
 * numbers, with every size checked against the declared dims and element type.
 * @module
 */
import { OnnxError } from "../errors.js";
import { type TensorProto, TensorProto_DataLocation, TensorProto_DataType } from "../gen/onnx_pb.js";
import { elementBytes } from "../proto.js";

/** A decoded tensor: its ONNX element type, concrete dims and row-major values. */
export interface DecodedTensor {
  /** The ONNX element type (`TensorProto_DataType`). */
  readonly elem: TensorProto_DataType;
  /** Concrete dims. */
  readonly dims: readonly number[];
  /** Row-major values (int64 values beyond 2^53 are rounded to the nearest double). */
  readonly data: Float64Array;
}

const D = TensorProto_DataType;

/** The name of an ONNX element type, for messages (`FLOAT`, `INT64`, or the number when unknown). */
export function elemName(t: number): string {
  return D[t] ?? `element type ${t}`;
}

/** True for the float element types gradgraph computes in (FLOAT, DOUBLE). */
export function isFloatElem(t: number): boolean {
  return t === D.FLOAT || t === D.DOUBLE;
}

/** True for the integer element types the importer reads (as shape data, indices or constants). */
export function isIntElem(t: number): boolean {
  return (
    t === D.INT64 ||
    t === D.INT32 ||
    t === D.INT16 ||
    t === D.INT8 ||
    t === D.UINT8 ||
    t === D.UINT16 ||
    t === D.UINT32 ||
    t === D.UINT64
  );
}

/** The largest element count the importer decodes (2^31 - 1): beyond it a file is corrupt for us. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** Concrete dims of a TensorProto (checked non-negative and of a sane total size). */
function tensorDims(t: TensorProto, what: string): number[] {
  const dims = t.dims.map((d) => {
    if (d < 0n || d > BigInt(MAX_ELEMENTS))
      throw new OnnxError(`${what}: invalid dim ${d} in [${t.dims.join(", ")}]`);
    return Number(d);
  });
  let n = 1;
  for (const d of dims) n *= d;
  if (n > MAX_ELEMENTS)
    throw new OnnxError(
      `${what}: dims [${dims.join(", ")}] give ${n} elements, more than the importer reads`,
    );
  return dims;
}

/**
 * Decodes `t`. `raw_data` is read through a DataView at its own byte offset (protobuf decoders
 * hand out unaligned views into the file); `float_data`, `double_data`, `int32_data`,
 * `int64_data` and `uint64_data` are read as the ONNX spec assigns them to element types.
 * @throws OnnxError naming `what` for external data, an element type the importer does not read,
 * or data whose size does not match the dims (both sizes given).
 */
export function decodeTensor(t: TensorProto, what: string): DecodedTensor {
  if (t.dataLocation === TensorProto_DataLocation.EXTERNAL || t.externalData.length > 0)
    throw new OnnxError(`${what}: external data (a separate weights file) is not supported`);
  if (t.segment !== undefined) throw new OnnxError(`${what}: segmented tensors are not supported`);
  const elem = t.dataType as TensorProto_DataType;
  const size = elementBytes(elem);
  if (size === null) throw new OnnxError(`${what}: element type ${elemName(elem)} is not supported`);
  const dims = tensorDims(t, what);
  const n = dims.reduce((a, d) => a * d, 1);
  const raw = t.rawData;
  if (raw.length > 0) {
    if (raw.length !== n * size)
      throw new OnnxError(
        `${what}: raw_data has ${raw.length} bytes but dims [${dims.join(", ")}] of ${elemName(elem)} need ${n * size} bytes`,
      );
    const out = new Float64Array(n);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) out[i] = readRaw(view, elem, i);
    return { elem, dims, data: out };
  }
  const [field, values] = typedField(t, elem);
  if (values.length !== n)
    throw new OnnxError(
      `${what}: ${values.length === 0 ? `no data (neither raw_data nor ${field})` : `${field} holds ${values.length} values`} but dims [${dims.join(", ")}] need ${n} values`,
    );
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(values[i]!);
  if (elem === D.FLOAT) for (let i = 0; i < n; i++) out[i] = Math.fround(out[i]!);
  if (elem === D.BOOL) for (let i = 0; i < n; i++) out[i] = out[i] ? 1 : 0;
  return { elem, dims, data: out };
}

function readRaw(view: DataView, elem: number, i: number): number {
  switch (elem) {
    case D.FLOAT:
      return view.getFloat32(4 * i, true);
    case D.DOUBLE:
      return view.getFloat64(8 * i, true);
    case D.INT64:
      return Number(view.getBigInt64(8 * i, true));
    case D.UINT64:
      return Number(view.getBigUint64(8 * i, true));
    case D.INT32:
      return view.getInt32(4 * i, true);
    case D.UINT32:
      return view.getUint32(4 * i, true);
    case D.INT16:
      return view.getInt16(2 * i, true);
    case D.UINT16:
      return view.getUint16(2 * i, true);
    case D.INT8:
      return view.getInt8(i);
    case D.BOOL:
      return view.getUint8(i) ? 1 : 0;
    default:
      return view.getUint8(i);
  }
}

/** The typed field ONNX assigns to `elem`, with its name ("" when the tensor has none set). */
function typedField(t: TensorProto, elem: number): [string, readonly (number | bigint)[]] {
  if (elem === D.FLOAT) return ["float_data", t.floatData];
  if (elem === D.DOUBLE) return ["double_data", t.doubleData];
  if (elem === D.INT64) return ["int64_data", t.int64Data];
  if (elem === D.UINT32 || elem === D.UINT64) return ["uint64_data", t.uint64Data];
  return ["int32_data", t.int32Data];
}
