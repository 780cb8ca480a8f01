/**
 * `exportOnnx`: a gradgraph graph (and the values of its params) as an ONNX ModelProto.
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  describeNode,
  type Graph,
  type GraphNode,
  isOpName,
  type OpName,
  type ParamStore,
  pruneGraph,
  shapesEqual,
  shapeToString,
} from "@gradgraph/core";
import { OnnxError } from "../errors.js";
import {
  GraphProtoSchema,
  type ModelProto,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
} from "../gen/onnx_pb.js";
import { ONNX_IR_VERSION, ONNX_OPSET, onnxElemType, tensorProto, tensorValueInfo } from "../proto.js";
import { type DimSource, ExportContext } from "./context.js";
import { EMITTERS } from "./table.js";

/** The version written as the model's `producer_version`. */
export const GRADGRAPH_VERSION = "0.1.0";

/**
 * Emits the ONNX nodes of a user op (one registered with `defineOp`): reads the inputs' ONNX
 * values `x`, writes nodes through `ctx`, returns the ONNX value of the node's output.
 */
export type CustomOpExporter = (ctx: ExportContext, node: GraphNode, x: readonly string[]) => string;

/** Options of {@link exportOnnx}. */
export interface ExportOnnxOptions {
  /** The graph outputs to export (default: all); the graph is pruned to what they need. */
  readonly outputs?: readonly string[];
  /**
   * Write params as graph inputs fed at run time instead of initializers holding their values
   * (`params` may then be null). Training steps use this, so every call can be fed the current
   * weights: ONNX Runtime's JavaScript API cannot override initializers. Default false.
   */
  readonly paramsAsInputs?: boolean;
  /** The ONNX graph's name (default `"gradgraph"`). */
  readonly name?: string;
  /** The model's doc string. */
  readonly docString?: string;
  /** Key/value metadata stored in the model (`metadata_props`). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Exporters for user ops (keyed by the op's registered name). */
  readonly customOps?: Readonly<Record<string, CustomOpExporter>>;
}

/**
 * Exports `graph` as an ONNX model (opset {@link ONNX_OPSET}, IR version {@link ONNX_IR_VERSION})
 * and returns its serialised bytes. Inputs become graph inputs (symbolic dims as `dim_param`s),
 * params become initializers holding their values from `params` (float32 or float64, as
 * declared), outputs keep their names, and every ONNX node carries the gradgraph node it comes
 * from in its name and doc string. Ops without a single ONNX counterpart are written as small
 * composites of standard ops (see the package README's table).
 * @throws OnnxError naming the node when an op cannot be exported (a user op without an entry in
 * `options.customOps`, a symbolic dim no input carries), or the param when a value is missing or
 * has the wrong shape.
 */
export function exportOnnx(
  graph: Graph,
  params: ParamStore | null,
  options: ExportOnnxOptions = {},
): Uint8Array {
  return toBinary(ModelProtoSchema, exportOnnxModel(graph, params, options));
}

/** {@link exportOnnx} without the serialisation: the ModelProto message itself. */
export function exportOnnxModel(
  graph: Graph,
  params: ParamStore | null,
  options: ExportOnnxOptions = {},
): ModelProto {
  const outputs = options.outputs ?? Object.keys(graph.outputs);
  for (const o of outputs)
    if (!Object.hasOwn(graph.outputs, o))
      throw new OnnxError(
        `exportOnnx: no output named '${o}' (outputs: ${Object.keys(graph.outputs).join(", ")})`,
      );
  if (outputs.length === 0) throw new OnnxError("exportOnnx: the graph has no outputs to export");
  const g = pruneGraph(graph, outputs);
  const inputNames = new Map(Object.entries(g.inputs).map(([name, id]) => [id, name]));
  const paramNames = new Map(Object.entries(g.params).map(([name, spec]) => [spec.node, name]));
  const ctx = new ExportContext(g, dimSources(g), [
    ...inputNames.values(),
    ...paramNames.values(),
    ...outputs,
  ]);

  for (const node of g.nodes) {
    ctx.begin(node);
    if (node.op === "input") ctx.bind(node.id, inputNames.get(node.id)!);
    else if (node.op === "param") {
      const name = paramNames.get(node.id)!;
      ctx.bind(node.id, options.paramsAsInputs ? name : paramInitializer(ctx, node, name, params));
    } else ctx.bind(node.id, emitNode(ctx, node, options));
  }

  const outputInfos = outputs.map((name) => {
    const node = g.nodes[g.outputs[name]!]!;
    ctx.begin(node);
    ctx.emit("Identity", [ctx.value(node.id)], [name]);
    return tensorValueInfo(name, onnxElemType(node.dtype), node.shape, describeNode(node));
  });
  const inputInfos = [...inputNames].map(([id, name]) => {
    const node = g.nodes[id]!;
    return tensorValueInfo(name, onnxElemType(node.dtype), node.shape);
  });
  if (options.paramsAsInputs)
    for (const [id, name] of paramNames) {
      const node = g.nodes[id]!;
      inputInfos.push(tensorValueInfo(name, onnxElemType(node.dtype), node.shape, "param"));
    }

  return create(ModelProtoSchema, {
    irVersion: BigInt(ONNX_IR_VERSION),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(ONNX_OPSET) })],
    producerName: "gradgraph",
    producerVersion: GRADGRAPH_VERSION,
    docString: options.docString ?? "",
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) =>
      create(StringStringEntryProtoSchema, { key, value }),
    ),
    graph: create(GraphProtoSchema, {
      name: options.name ?? "gradgraph",
      node: ctx.nodes,
      initializer: ctx.initializers,
      input: inputInfos,
      output: outputInfos,
    }),
  });
}

/** For each symbolic dim, the first graph input (and axis) that has it. */
function dimSources(g: Graph): Map<string, DimSource> {
  const out = new Map<string, DimSource>();
  for (const [name, id] of Object.entries(g.inputs)) {
    g.nodes[id]!.shape.forEach((d, axis) => {
      if (typeof d === "string" && !out.has(d)) out.set(d, { input: name, axis });
    });
  }
  return out;
}

/** Writes param `name`'s value as an initializer (checking it against the declaration). */
function paramInitializer(
  ctx: ExportContext,
  node: GraphNode,
  name: string,
  params: ParamStore | null,
): string {
  if (!params?.has(name))
    throw new OnnxError(`exportOnnx: param '${name}' has no value in the ParamStore (initialise it first)`);
  const t = params.get(name);
  if (!shapesEqual(t.shape, node.shape))
    throw new OnnxError(
      `exportOnnx: param '${name}' is declared ${shapeToString(node.shape)} but its value is ${shapeToString(t.shape)}`,
    );
  ctx.initializer(tensorProto(name, onnxElemType(node.dtype), t.shape, t.data));
  return name;
}

/** Emits one non-source node through the op table or a user op's exporter. */
function emitNode(ctx: ExportContext, node: GraphNode, options: ExportOnnxOptions): string {
  const x = node.inputs.map((id) => ctx.value(id));
  if (isOpName(node.op)) {
    const emit = EMITTERS[node.op as OpName] as (
      c: ExportContext,
      n: GraphNode,
      x: readonly string[],
    ) => string;
    return emit(ctx, node, x);
  }
  const custom = options.customOps?.[node.op];
  if (custom && Object.hasOwn(options.customOps!, node.op)) return custom(ctx, node, x);
  throw new OnnxError(
    `exportOnnx: ${describeNode(node)} is a user op with no ONNX exporter; pass one as options.customOps['${node.op}']`,
  );
}
