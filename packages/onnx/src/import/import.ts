/**
 * `importOnnx`: an ONNX model as a gradgraph graph and the values of its params. The model is
 * validated completely before anything is built, and every problem found in one pass is reported
 * in one OnnxError, so a caller never receives a partial graph.
 * @module
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import {
  type DType,
  type Graph,
  GraphBuilder,
  ParamStore,
  type Shape,
  Tensor,
  type Value,
} from "@gradgraph/core";
import { OnnxError } from "../errors.js";
import {
  type GraphProto,
  type ModelProto,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  TensorProto_DataType,
} from "../gen/onnx_pb.js";
import { type Composite, findComposites } from "./composites.js";
import { CONVERTERS, type In } from "./ops.js";
import { type DecodedTensor, decodeTensor, elemName, isFloatElem, isIntElem } from "./tensor.js";
import { type ImportValue, type Known, known, NodeContext } from "./values.js";

const D = TensorProto_DataType;

/** The default-domain (`ai.onnx`) opsets {@link importOnnx} reads: 11 to 21. */
export const ONNX_IMPORT_OPSETS = { min: 11, max: 21 } as const;

/** The ONNX ops (default domain) {@link importOnnx} reads, in alphabetical order. */
export const ONNX_IMPORT_OPS: readonly string[] = Object.freeze(Object.keys(CONVERTERS).sort());

/** The ONNX IR versions {@link importOnnx} reads: 3 (the first with opset imports) to 13. */
export const ONNX_IMPORT_IR_VERSIONS = { min: 3, max: 13 } as const;

/** Options of {@link importOnnx}. */
export interface ImportOnnxOptions {
  /**
   * The float type of the imported graph; every float value is computed in it, so Casts between
   * FLOAT and DOUBLE become no-ops. Default: float64 when the model's first float graph input (or,
   * without one, its first float initializer) is DOUBLE, else float32.
   */
  readonly dtype?: DType;
  /**
   * Which float initializers become trainable params (the others are embedded as constants): a
   * list of names, or a predicate given each float initializer's name and dims. Default: every
   * float initializer of rank >= 1 except a BatchNormalization's running mean and variance and
   * the constants gradgraph's exporter writes (named `const/...`). Initializers that are also
   * graph inputs (overridable initializers) are always params.
   */
  readonly params?: readonly string[] | ((name: string, dims: readonly number[]) => boolean);
  /** Shapes of graph inputs, replacing the model's (for inputs declared without a shape or rank). */
  readonly inputShapes?: Readonly<Record<string, Shape>>;
}

/** What {@link importOnnx} returns. */
export interface ImportedOnnx {
  /** The graph: ONNX graph inputs as inputs, params as params, ONNX graph outputs as outputs (same names). */
  readonly graph: Graph;
  /** The params' values (the graph declares them with zeros initialisers). */
  readonly params: ParamStore;
  /** Names of the graph inputs, in the model's order. */
  readonly inputs: readonly string[];
  /** Names of the graph outputs, in the model's order. */
  readonly outputs: readonly string[];
  /** Names of the initializers embedded as constants rather than params. */
  readonly constants: readonly string[];
  /** The model's default-domain opset. */
  readonly opset: number;
  /** The model's IR version. */
  readonly irVersion: number;
  /** `producer_name` and `producer_version` of the model. */
  readonly producer: string;
}

/**
 * Reads an ONNX model (serialised ModelProto bytes, e.g. a file or a `fetch` response's
 * `arrayBuffer()`) as a gradgraph graph and its params, for the
 * supported subset of ONNX (default-domain opsets {@link ONNX_IMPORT_OPSETS}, the ops
 * {@link ONNX_IMPORT_OPS}). Graph inputs keep their names and `dim_param`s become symbolic dims;
 * graph outputs keep their names. Integer and boolean values are held as floats of the graph's
 * dtype (an integer graph input becomes a float input); a Cast from float to an integer type
 * assumes integer-valued data (indices, argmax results), as gradgraph's own exports have.
 * Integer shape computations are evaluated at import time.
 * @throws OnnxError for bytes that do not decode, a model that decodes but is incomplete (no
 * graph, a node input never defined, a graph output never produced), an opset outside the
 * supported range, nodes of other domains or unsupported ops (every one listed with its name and
 * op type), attributes the importer cannot honour, and initializers whose data does not match
 * their dims (naming both sizes). Never a partial result.
 */
export function importOnnx(bytes: Uint8Array | ArrayBuffer, options: ImportOnnxOptions = {}): ImportedOnnx {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  } catch (e) {
    throw new OnnxError(
      `importOnnx: the bytes are not a valid ONNX model (truncated or corrupt protobuf): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return importOnnxModel(model, options);
}

/** {@link importOnnx} of a decoded ModelProto message. */
export function importOnnxModel(model: ModelProto, options: ImportOnnxOptions = {}): ImportedOnnx {
  try {
    return importChecked(model, options);
  } catch (e) {
    if (e instanceof OnnxError) throw e;
    throw new OnnxError(`importOnnx: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The import, as named steps: validate the whole model (structure, opsets, ops, initializers)
 * before building anything, declare the graph's sources, convert the nodes, bind the outputs.
 */
function importChecked(model: ModelProto, options: ImportOnnxOptions): ImportedOnnx {
  const ir = Number(model.irVersion);
  if (ir < ONNX_IMPORT_IR_VERSIONS.min || ir > ONNX_IMPORT_IR_VERSIONS.max)
    throw new OnnxError(
      `importOnnx: IR version ${model.irVersion} is not supported (supported: ${ONNX_IMPORT_IR_VERSIONS.min} to ${ONNX_IMPORT_IR_VERSIONS.max})`,
    );
  const g = model.graph;
  if (!g) throw new OnnxError("importOnnx: the model has no graph (an empty or truncated file?)");
  const opset = defaultOpset(model);
  checkStructure(g);
  const composites = findComposites(g);
  checkOps(g, model, composites.skipped);
  const inits = decodeInitializers(g);
  const dtype = options.dtype ?? defaultDType(g, inits);

  const b = new GraphBuilder({ dtype });
  const sources = declareSources(b, g, inits, trainableSet(g, model, inits, options), options);
  const materialised = new WeakMap<Known, Value>();
  convertNodes(b, g, opset, composites, sources.values, materialised);
  const outputs = bindOutputs(b, g, opset, sources.values, materialised);
  return {
    graph: b.build(),
    params: sources.params,
    inputs: sources.inputs,
    outputs,
    constants: sources.constants,
    opset,
    irVersion: ir,
    producer: `${model.producerName}${model.producerVersion ? ` ${model.producerVersion}` : ""}`,
  };
}

/** Every initializer decoded (and size-checked) up front, by name. */
function decodeInitializers(g: GraphProto): Map<string, DecodedTensor> {
  const inits = new Map<string, DecodedTensor>();
  for (const [i, t] of g.initializer.entries()) {
    const what = `initializer '${t.name}' (#${i})`;
    if (!t.name) throw new OnnxError(`importOnnx: initializer #${i} has no name`);
    const d = decodeTensor(t, `importOnnx: ${what}`);
    if (!isFloatElem(d.elem) && !isIntElem(d.elem) && d.elem !== D.BOOL)
      throw new OnnxError(`importOnnx: ${what} has element type ${elemName(d.elem)}, which is not supported`);
    inits.set(t.name, d);
  }
  return inits;
}

/** The graph's sources: its inputs, the trainable initializers as params, the others as constants. */
interface Sources {
  readonly values: Map<string, ImportValue>;
  readonly inputs: string[];
  readonly params: ParamStore;
  readonly constants: string[];
}

/** Declares graph inputs (initializers that are also inputs are params) and used initializers. */
function declareSources(
  b: GraphBuilder,
  g: GraphProto,
  inits: ReadonlyMap<string, DecodedTensor>,
  trainable: ReadonlySet<string>,
  options: ImportOnnxOptions,
): Sources {
  const dtype = b.dtype;
  const used = new Set<string>([...g.node.flatMap((n) => n.input), ...g.output.map((o) => o.name)]);
  const values = new Map<string, ImportValue>();
  const inputs: string[] = [];
  for (const vi of g.input) {
    if (inits.has(vi.name)) continue;
    const [shape, elem] = inputType(vi, options);
    values.set(vi.name, { kind: "rt", v: b.input(vi.name, shape, dtype), elem, exact01: true });
    inputs.push(vi.name);
  }
  const params = new ParamStore();
  const constants: string[] = [];
  for (const [name, t] of inits) {
    if (!used.has(name) || values.has(name)) continue;
    if (trainable.has(name)) {
      const v = b.param(name, [...t.dims], { dtype, init: { kind: "zeros" } });
      params.set(
        name,
        new Tensor([...t.dims], dtype === "float32" ? Float32Array.from(t.data) : Float64Array.from(t.data)),
      );
      values.set(name, { kind: "rt", v, elem: t.elem });
    } else {
      values.set(name, known(t.elem, t.dims, Array.from(t.data)));
      constants.push(name);
    }
  }
  return { values, inputs, params, constants };
}

/**
 * Converts every node in order (recognised composites as one op each), recording each output's
 * value in `values`. Conversion errors are collected, so one OnnxError lists every node that
 * failed; a node whose input failed is skipped (its error would only repeat that one).
 */
function convertNodes(
  b: GraphBuilder,
  g: GraphProto,
  opset: number,
  composites: ReturnType<typeof findComposites>,
  values: Map<string, ImportValue>,
  materialised: WeakMap<Known, Value>,
): void {
  const failed = new Set<string>();
  const errors: string[] = [];
  for (const [i, node] of g.node.entries()) {
    if (composites.skipped.has(i)) continue;
    const ins: In[] = node.input.map((n) => (n === "" ? undefined : values.get(n)));
    const composite = composites.composites.get(i);
    if ((composite?.inputs ?? node.input).some((n) => failed.has(n))) {
      for (const o of node.output) failed.add(o);
      continue;
    }
    const ctx = new NodeContext(b, b.dtype, opset, node, materialised);
    try {
      const before = b.size;
      const r = composite ? compositeOp(ctx, composite, values) : CONVERTERS[node.opType]!(ctx, ins);
      const outs: readonly In[] = Array.isArray(r) ? r : [r as In];
      node.output.forEach((name, k) => {
        if (name === "") return;
        const v = outs[k];
        if (v === undefined) throw ctx.error(`output #${k} ('${name}') is not supported`);
        if (v.kind === "rt" && v.v.id >= before && !v.v.node.name) v.v.named(name);
        values.set(name, v);
      });
    } catch (e) {
      const msg =
        e instanceof OnnxError ? e.message : `${ctx.label}: ${e instanceof Error ? e.message : String(e)}`;
      errors.push(msg);
      for (const o of node.output) failed.add(o);
    }
  }
  if (errors.length > 0)
    throw new OnnxError(
      `importOnnx: ${errors.length} node${errors.length === 1 ? "" : "s"} could not be imported:\n  ${errors.join("\n  ")}`,
    );
}

/** Makes every ONNX graph output a graph output of the same name; returns their names. */
function bindOutputs(
  b: GraphBuilder,
  g: GraphProto,
  opset: number,
  values: ReadonlyMap<string, ImportValue>,
  materialised: WeakMap<Known, Value>,
): string[] {
  const outCtx = new NodeContext(
    b,
    b.dtype,
    opset,
    create(NodeProtoSchema, { name: "graph outputs", opType: "output" }),
    materialised,
  );
  return g.output.map((o) => {
    b.output(o.name, outCtx.rt(values.get(o.name)!));
    return o.name;
  });
}

/** The default-domain opset, checked against the supported range. */
function defaultOpset(model: ModelProto): number {
  const entries = model.opsetImport.filter((o) => o.domain === "" || o.domain === "ai.onnx");
  if (entries.length === 0)
    throw new OnnxError(
      "importOnnx: the model imports no default-domain opset (opset_import has no '' / 'ai.onnx' entry)",
    );
  const versions = new Set(entries.map((o) => Number(o.version)));
  if (versions.size > 1)
    throw new OnnxError(
      `importOnnx: the default domain is imported at several opsets: ${[...versions].join(", ")}`,
    );
  const v = [...versions][0]!;
  if (!(v >= ONNX_IMPORT_OPSETS.min && v <= ONNX_IMPORT_OPSETS.max))
    throw new OnnxError(
      `importOnnx: opset ${v} of the default domain is not supported (supported: ${ONNX_IMPORT_OPSETS.min} to ${ONNX_IMPORT_OPSETS.max})`,
    );
  return v;
}

/** Names defined before use, each defined once, every graph output produced. */
function checkStructure(g: GraphProto): void {
  const issues: string[] = [];
  const defined = new Set<string>();
  const define = (name: string, what: string) => {
    if (!name) issues.push(`${what} has an empty name`);
    else if (defined.has(name)) issues.push(`${what} defines '${name}', which is already defined`);
    else defined.add(name);
  };
  const initNames = new Set(g.initializer.map((t) => t.name));
  for (const t of g.initializer) define(t.name, `initializer '${t.name}'`);
  for (const vi of g.input) if (!initNames.has(vi.name)) define(vi.name, `graph input '${vi.name}'`);
  if (g.sparseInitializer.length > 0) issues.push("sparse initializers are not supported");
  const producedLater = new Map<string, number>();
  g.node.forEach((n, i) => {
    for (const o of n.output) if (o) producedLater.set(o, i);
  });
  g.node.forEach((n, i) => {
    const label = nodeLabel(n, i);
    for (const x of n.input) {
      if (x === "" || defined.has(x)) continue;
      const later = producedLater.get(x);
      issues.push(
        later !== undefined && later >= i
          ? `${label} uses '${x}' before the node that computes it (nodes must be in topological order)`
          : `${label} uses '${x}', which is never defined`,
      );
    }
    for (const o of n.output) if (o) define(o, label);
  });
  if (g.output.length === 0) issues.push("the graph has no outputs");
  for (const o of g.output)
    if (!defined.has(o.name)) issues.push(`graph output '${o.name}' is never produced`);
  if (issues.length > 0)
    throw new OnnxError(
      `importOnnx: the model is incomplete or malformed:\n  ${issues.slice(0, 50).join("\n  ")}${issues.length > 50 ? `\n  ... and ${issues.length - 50} more` : ""}`,
    );
}

/** Every node of another domain or of an unsupported op, listed in one error. */
function checkOps(g: GraphProto, model: ModelProto, skipped: ReadonlySet<number>): void {
  const bad: string[] = [];
  const imported = new Set(model.opsetImport.map((o) => o.domain));
  g.node.forEach((n, i) => {
    if (skipped.has(i)) return;
    const label = nodeLabel(n, i);
    if (n.domain !== "" && n.domain !== "ai.onnx")
      bad.push(
        `${label}: domain '${n.domain}' is not supported (only the default domain ai.onnx)${imported.has(n.domain) ? "" : "; the model does not even import it"}`,
      );
    else if (!Object.hasOwn(CONVERTERS, n.opType)) bad.push(`${label}: op ${n.opType} is not supported`);
  });
  if (bad.length === 0) return;
  const random = g.node.some((n) => n.opType === "BitwiseXor" || n.opType === "BitShift");
  throw new OnnxError(
    `importOnnx: ${bad.length} node${bad.length === 1 ? "" : "s"} cannot be imported:\n  ${bad.join("\n  ")}${
      random
        ? "\n(BitwiseXor/BitShift on uint32 is how gradgraph exports randomUniform; the importer reads it back only as gradgraph wrote it, with its doc strings)"
        : ""
    }`,
  );
}

function nodeLabel(n: NodeProto, i: number): string {
  return `node '${n.name || n.output[0] || `#${i}`}' (${n.domain && n.domain !== "ai.onnx" ? `${n.domain}.` : ""}${n.opType})`;
}

function defaultDType(g: GraphProto, inits: ReadonlyMap<string, DecodedTensor>): DType {
  for (const vi of g.input) {
    const t = vi.type?.value;
    if (t?.case === "tensorType" && isFloatElem(t.value.elemType))
      return t.value.elemType === D.DOUBLE ? "float64" : "float32";
  }
  for (const t of inits.values()) if (isFloatElem(t.elem)) return t.elem === D.DOUBLE ? "float64" : "float32";
  return "float32";
}

/** The shape and element type of a graph input. */
function inputType(vi: GraphProto["input"][number], options: ImportOnnxOptions): [Shape, number] {
  const what = `importOnnx: graph input '${vi.name}'`;
  const t = vi.type?.value;
  if (t?.case !== "tensorType")
    throw new OnnxError(`${what} is not a tensor (sequences, maps and optionals are not supported)`);
  const elem = t.value.elemType;
  if (!isFloatElem(elem) && !isIntElem(elem) && elem !== D.BOOL)
    throw new OnnxError(`${what} has element type ${elemName(elem)}, which is not supported`);
  const override =
    options.inputShapes && Object.hasOwn(options.inputShapes, vi.name)
      ? options.inputShapes[vi.name]
      : undefined;
  if (override) return [[...override], elem];
  if (!t.value.shape)
    throw new OnnxError(`${what} has no shape (rank unknown); give it in options.inputShapes`);
  const shape = t.value.shape.dim.map((d, axis) => {
    if (d.value.case === "dimValue") {
      const n = Number(d.value.value);
      if (!Number.isSafeInteger(n) || n < 0)
        throw new OnnxError(`${what}: invalid dim ${d.value.value} on axis ${axis}`);
      return n;
    }
    if (d.value.case === "dimParam" && d.value.value) return d.value.value;
    return `${vi.name}:${axis}`;
  });
  return [shape, elem];
}

/** The initializers that become params. */
function trainableSet(
  g: GraphProto,
  model: ModelProto,
  inits: ReadonlyMap<string, DecodedTensor>,
  options: ImportOnnxOptions,
): Set<string> {
  const out = new Set<string>();
  const floatInit = (name: string) => {
    const t = inits.get(name);
    return t !== undefined && isFloatElem(t.elem);
  };
  for (const vi of g.input) if (floatInit(vi.name)) out.add(vi.name);
  const p = options.params;
  if (Array.isArray(p)) {
    for (const name of p) {
      if (!inits.has(name))
        throw new OnnxError(`importOnnx: options.params names '${name}', which is not an initializer`);
      if (!floatInit(name))
        throw new OnnxError(`importOnnx: options.params names '${name}', which is not a float initializer`);
      out.add(name);
    }
    return out;
  }
  const stats = new Set(
    g.node
      .filter((n) => n.opType === "BatchNormalization")
      .flatMap((n) => [n.input[3] ?? "", n.input[4] ?? ""]),
  );
  const gradgraph = model.producerName === "gradgraph";
  for (const [name, t] of inits) {
    if (!isFloatElem(t.elem)) continue;
    const keep =
      typeof p === "function"
        ? p(name, t.dims)
        : t.dims.length > 0 && !stats.has(name) && !(gradgraph && name.startsWith("const/"));
    if (keep) out.add(name);
  }
  return out;
}

/** The gradgraph node a recognised composite stands for (see ./composites.ts). */
function compositeOp(ctx: NodeContext, c: Composite, values: ReadonlyMap<string, ImportValue>): ImportValue {
  const inputs = c.inputs.map((name, k) => ctx.float(values.get(name), `#${k} ('${name}')`));
  const attrs: Record<string, unknown> = { ...c.attrs };
  if (c.shape !== undefined) attrs.shape = [...ctx.known(values.get(c.shape), "'shape'").data];
  if (c.op === "randomUniform") attrs.dtype = ctx.dtype;
  return ctx.out(ctx.b.op(c.op, inputs, attrs));
}
