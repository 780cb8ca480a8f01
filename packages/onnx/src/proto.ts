/**
 * Small constructors over the generated ONNX protobuf types (src/gen/onnx_pb.ts, made by
 * protoc-gen-es from the vendored proto/onnx.proto): attributes, value infos and tensors.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { DType, Shape } from "@gradgraph/core";
import {
  type AttributeProto,
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  type TensorProto,
  TensorProto_DataType,
  TensorProtoSchema,
  TypeProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from "./gen/onnx_pb.js";

/** The ONNX operator set gradgraph writes (the default domain `ai.onnx`). */
export const ONNX_OPSET = 18;

/**
 * The ONNX IR version gradgraph writes: 8, the version that goes with opset 18. (The vendored
 * onnx.proto declares IR 14, which ONNX Runtime 1.30 still rejects.)
 */
export const ONNX_IR_VERSION = 8;

/**
 * An ONNX attribute value as the exporter writes it: a number is an INT, a number array INTS, a
 * string STRING; `{ float }` and `{ floats }` are FLOAT(S) and `{ tensor }` a TENSOR.
 */
export type OnnxAttr =
  | number
  | readonly number[]
  | string
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly tensor: TensorProto };

/** Builds an AttributeProto. */
export function attribute(name: string, v: OnnxAttr): AttributeProto {
  const T = AttributeProto_AttributeType;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`attribute '${name}': ${v} is not an integer`);
    return create(AttributeProtoSchema, { name, type: T.INT, i: BigInt(v) });
  }
  if (typeof v === "string")
    return create(AttributeProtoSchema, { name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (isNumberArray(v))
    return create(AttributeProtoSchema, { name, type: T.INTS, ints: v.map((x) => BigInt(x)) });
  if ("float" in v) return create(AttributeProtoSchema, { name, type: T.FLOAT, f: v.float });
  if ("floats" in v) return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: [...v.floats] });
  return create(AttributeProtoSchema, { name, type: T.TENSOR, t: v.tensor });
}

function isNumberArray(v: unknown): v is readonly number[] {
  return Array.isArray(v);
}

/** The ONNX element type of a gradgraph dtype. */
export function onnxElemType(dtype: DType): TensorProto_DataType {
  return dtype === "float32" ? TensorProto_DataType.FLOAT : TensorProto_DataType.DOUBLE;
}

/** A tensor-typed ValueInfoProto; symbolic dims become `dim_param`s. */
export function tensorValueInfo(
  name: string,
  elemType: TensorProto_DataType,
  shape: Shape | null,
  docString = "",
): ValueInfoProto {
  const dims = shape?.map((d) =>
    typeof d === "number"
      ? { value: { case: "dimValue" as const, value: BigInt(d) } }
      : { value: { case: "dimParam" as const, value: d } },
  );
  return create(ValueInfoProtoSchema, {
    name,
    docString,
    type: create(TypeProtoSchema, {
      value: { case: "tensorType", value: { elemType, ...(dims ? { shape: { dim: dims } } : {}) } },
    }),
  });
}

/** Bytes per element in `raw_data` of the element types gradgraph writes or reads, or null for others. */
export function elementBytes(t: number): number | null {
  const D = TensorProto_DataType;
  switch (t) {
    case D.FLOAT:
    case D.INT32:
    case D.UINT32:
      return 4;
    case D.DOUBLE:
    case D.INT64:
    case D.UINT64:
      return 8;
    case D.INT16:
    case D.UINT16:
      return 2;
    case D.BOOL:
    case D.INT8:
    case D.UINT8:
      return 1;
    default:
      return null;
  }
}

/** The element types {@link tensorProto} writes. */
const WRITTEN = new Set<TensorProto_DataType>([
  TensorProto_DataType.FLOAT,
  TensorProto_DataType.DOUBLE,
  TensorProto_DataType.INT64,
  TensorProto_DataType.INT32,
  TensorProto_DataType.UINT32,
  TensorProto_DataType.BOOL,
]);

/**
 * A TensorProto holding `values` (little-endian `raw_data`). `dtype` is FLOAT, DOUBLE, INT64,
 * INT32, UINT32 or BOOL.
 */
export function tensorProto(
  name: string,
  dtype: TensorProto_DataType,
  dims: readonly number[],
  values: ArrayLike<number>,
): TensorProto {
  const D = TensorProto_DataType;
  const n = values.length;
  const size = WRITTEN.has(dtype) ? elementBytes(dtype) : null;
  if (size === null) throw new Error(`tensor '${name}': unsupported element type ${D[dtype]}`);
  const raw = new Uint8Array(n * size);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (dtype === D.FLOAT) view.setFloat32(4 * i, v, true);
    else if (dtype === D.DOUBLE) view.setFloat64(8 * i, v, true);
    else if (dtype === D.INT64) view.setBigInt64(8 * i, BigInt(v), true);
    else if (dtype === D.INT32) view.setInt32(4 * i, v, true);
    else if (dtype === D.UINT32) view.setUint32(4 * i, v >>> 0, true);
    else raw[i] = v ? 1 : 0;
  }
  return create(TensorProtoSchema, { name, dataType: dtype, dims: dims.map((d) => BigInt(d)), rawData: raw });
}
