/**
 * Hand-built ONNX models for the importer's tests: nodes, initializers and a serialised model.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { type Shape, Tensor } from "@gradgraph/core";
import {
  GraphProtoSchema,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  type TensorProto,
  TensorProto_DataType,
  type ValueInfoProto,
} from "../../src/gen/onnx_pb.js";
import { attribute, type OnnxAttr, tensorProto, tensorValueInfo } from "../../src/proto.js";

export const F = TensorProto_DataType.FLOAT;
export const I64 = TensorProto_DataType.INT64;

/** An ONNX node (default domain). */
export function node(
  opType: string,
  input: readonly string[],
  output: readonly string[],
  attrs: Readonly<Record<string, OnnxAttr>> = {},
  extra: { name?: string; domain?: string } = {},
): NodeProto {
  return create(NodeProtoSchema, {
    name: extra.name ?? `${opType}_${output[0]}`,
    opType,
    domain: extra.domain ?? "",
    input: [...input],
    output: [...output],
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  });
}

/** A float32 initializer. */
export function floats(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  return tensorProto(name, F, dims, values);
}

/** An int64 initializer (1-D unless `dims` says otherwise). */
export function int64s(
  name: string,
  values: readonly number[],
  dims: readonly number[] = [values.length],
): TensorProto {
  return tensorProto(name, I64, dims, values);
}

/** Options of {@link buildModel}. */
export interface ModelSpec {
  readonly inputs: Readonly<Record<string, Shape>>;
  readonly outputs: readonly string[];
  readonly nodes: readonly NodeProto[];
  readonly initializers?: readonly TensorProto[];
  readonly opset?: number;
  readonly irVersion?: number;
  readonly inputInfos?: readonly ValueInfoProto[];
}

/** A serialised float32 ONNX model. */
export function buildModel(spec: ModelSpec): Uint8Array {
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: BigInt(spec.irVersion ?? 8),
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(spec.opset ?? 18) })],
      producerName: "import-test",
      graph: create(GraphProtoSchema, {
        name: "test",
        node: [...spec.nodes],
        initializer: [...(spec.initializers ?? [])],
        input: [
          ...Object.entries(spec.inputs).map(([name, shape]) => tensorValueInfo(name, F, shape)),
          ...(spec.inputInfos ?? []),
        ],
        output: spec.outputs.map((name) => tensorValueInfo(name, F, null)),
      }),
    }),
  );
}

/** Deterministic values in [lo, hi) (a small LCG), as a float32 tensor of `shape`. */
export function randomTensor(shape: readonly number[], seed: number, lo = -2, hi = 2): Tensor {
  let s = (seed * 2654435761 + 12345) >>> 0;
  const n = shape.reduce((a, d) => a * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return new Tensor([...shape], data);
}
