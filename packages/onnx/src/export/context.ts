/**
 * The state of one export: the ONNX nodes and initializers emitted so far, fresh value names,
 * cached constants, and the run-time values of symbolic dims. Op emitters (./ops/*.ts) write
 * through it, so each one is a few lines of "which ONNX nodes compute this gradgraph node".
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type DType,
  describeNode,
  type Graph,
  type GraphNode,
  type NodeId,
  type Shape,
} from "@gradgraph/core";
import { OnnxError } from "../errors.js";
import { type NodeProto, NodeProtoSchema, type TensorProto, TensorProto_DataType } from "../gen/onnx_pb.js";
import { attribute, type OnnxAttr, onnxElemType, tensorProto } from "../proto.js";

/** Where a symbolic dim can be read at run time: axis `axis` of graph input `input`. */
export interface DimSource {
  /** The ONNX graph input's name. */
  readonly input: string;
  /** The axis holding the dim. */
  readonly axis: number;
}

/** The largest int64 an ONNX `Slice` end may be given to mean "to the end" (2^62, exact in a double). */
export const SLICE_TO_END = 2 ** 62;

/**
 * The state of one ONNX export: the ONNX nodes and initializers emitted so far, fresh value names,
 * cached constants, and the run-time values of symbolic dims. Users meet it when exporting a user op
 * (one registered with `defineOp`): a {@link CustomOpExporter} in `exportOnnx`'s `customOps` option is
 * given the context, the gradgraph node and its inputs' ONNX value names, writes standard ONNX nodes
 * with `ctx.op(opType, inputs, attrs)` (constants with `ctx.scalar`/`ctx.float`, shapes with
 * `ctx.shape`) and returns the ONNX value name of the node's output.
 *
 * @example
 * ```ts
 * import { defineOp } from "@gradgraph/core";
 * import { type CustomOpExporter, exportOnnx } from "@gradgraph/onnx";
 *
 * // softsign(x) = x / (1 + |x|), a user op
 * const softsign = defineOp({
 *   name: "my.softsign",
 *   arity: 1,
 *   elementwise: { expr: (x) => `(${x} / (1 + Math.abs(${x})))`, fn: (x) => x / (1 + Math.abs(x)) },
 *   vjp: ({ b, g, x }) => [b.div(g, b.square(b.add(1, b.abs(x[0]))))],
 * });
 * // its ONNX form: three standard nodes
 * const softsignOnnx: CustomOpExporter = (ctx, node, x) =>
 *   ctx.op("Div", [x[0], ctx.op("Add", [ctx.scalar(1, node.dtype), ctx.op("Abs", [x[0]])])]);
 *
 * const bytes = exportOnnx(graph, params, { customOps: { [softsign.name]: softsignOnnx } });
 * ```
 */
export class ExportContext {
  /** ONNX nodes emitted so far, in topological order. */
  readonly nodes: NodeProto[] = [];
  /** Initializers emitted so far (params and constants). */
  readonly initializers: TensorProto[] = [];
  /** The ONNX value name of each gradgraph node's output (filled as nodes are exported). */
  private readonly values = new Map<NodeId, string>();
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  private readonly dimValues = new Map<string, string>();
  /** Names and doc of the gradgraph node being exported (set by the export loop). */
  private prefix = "";
  private doc = "";

  /**
   * @param graph The graph being exported.
   * @param dimSources For every symbolic dim, the graph input and axis it is read from.
   * @param reserved Names the export must not reuse for internal values (graph inputs, params, outputs).
   */
  constructor(
    readonly graph: Graph,
    private readonly dimSources: ReadonlyMap<string, DimSource>,
    reserved: Iterable<string>,
  ) {
    for (const r of reserved) this.used.add(r);
  }

  /** Starts exporting `node`: names and doc strings of the ONNX nodes emitted next derive from it. */
  begin(node: GraphNode): void {
    this.prefix = node.name ? `${node.name}` : `${node.op}_${node.id}`;
    this.doc = `gradgraph ${describeNode(node)}`;
  }

  /** Records the ONNX value computing node `id`'s output. */
  bind(id: NodeId, value: string): void {
    this.values.set(id, value);
  }

  /** The ONNX value computing node `id`'s output (it must have been exported already). */
  value(id: NodeId): string {
    const v = this.values.get(id);
    if (v === undefined) throw new OnnxError(`internal: node #${id} has not been exported yet`);
    return v;
  }

  /** Node `id` of the graph. */
  node(id: NodeId): GraphNode {
    return this.graph.nodes[id]!;
  }

  /** A value name not used yet, derived from the current node (`hint` names the step). */
  fresh(hint: string): string {
    const base = `${this.prefix}/${hint}`;
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Claims `name` for a value (throws when it is taken). */
  claim(name: string): string {
    if (this.used.has(name)) throw new OnnxError(`the ONNX value name '${name}' is used twice`);
    this.used.add(name);
    return name;
  }

  /**
   * Emits one ONNX node `opType` (default domain) and returns its first output's name. Empty
   * input names mean "input omitted" (ONNX's optional inputs).
   */
  op(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, OnnxAttr>> = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0]!;
  }

  /** Emits one ONNX node with `outputs` outputs; returns their names. */
  opN(
    opType: string,
    inputs: readonly string[],
    outputs: number,
    attrs: Readonly<Record<string, OnnxAttr>> = {},
  ): string[] {
    const outs = Array.from({ length: outputs }, (_, k) =>
      this.fresh(outputs === 1 ? opType : `${opType}.${k}`),
    );
    this.emit(opType, inputs, outs, attrs);
    return outs;
  }

  /** Emits one ONNX node writing the given output names. */
  emit(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs: Readonly<Record<string, OnnxAttr>> = {},
  ): void {
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    this.nodes.push(
      create(NodeProtoSchema, {
        name: `${this.prefix}/${opType}#${this.nodes.length}`,
        opType,
        domain: "",
        input: [...inputs],
        output: [...outputs],
        attribute: attribute_,
        docString: this.doc,
      }),
    );
  }

  /** Adds an initializer (e.g. a param) under an exact name. */
  initializer(t: TensorProto): void {
    this.initializers.push(t);
  }

  /** A cached constant initializer. */
  private constant(key: string, make: (name: string) => TensorProto, hint: string): string {
    const hit = this.constants.get(key);
    if (hit !== undefined) return hit;
    let name = `const/${hint}`;
    for (let k = 1; this.used.has(name); k++) name = `const/${hint}_${k}`;
    this.used.add(name);
    this.initializers.push(make(name));
    this.constants.set(key, name);
    return name;
  }

  /** An int64 constant: a 1-D tensor of `values`, or a scalar when `scalar` is true. */
  int64(values: readonly number[], scalar = false): string {
    if (scalar && values.length !== 1) throw new OnnxError("internal: an int64 scalar takes one value");
    const dims = scalar ? [] : [values.length];
    return this.constant(
      `i64:${scalar ? "s" : "v"}:${values.join(",")}`,
      (name) => tensorProto(name, TensorProto_DataType.INT64, dims, values),
      scalar ? `i64_${values[0]}` : `i64_[${values.join(",")}]`,
    );
  }

  /** A float constant of `dtype` with `dims` (default: a scalar). */
  float(values: readonly number[], dtype: DType, dims: readonly number[] = []): string {
    const key = `${dtype}:${dims.join("x")}:${values.map((v) => (Object.is(v, -0) ? "-0" : String(v))).join(",")}`;
    const hint =
      values.length === 1 ? `${dtype === "float32" ? "f32" : "f64"}_${values[0]}` : `${dtype}_tensor`;
    return this.constant(key, (name) => tensorProto(name, onnxElemType(dtype), dims, values), hint);
  }

  /** A float TensorProto (not an initializer), e.g. for `ConstantOfShape`'s `value` attribute. */
  constantTensor(values: readonly number[], dtype: DType, dims: readonly number[] = [1]): TensorProto {
    return tensorProto("", onnxElemType(dtype), dims, values);
  }

  /** A float scalar constant of `dtype`. */
  scalar(value: number, dtype: DType): string {
    return this.float([value], dtype);
  }

  /** A constant of another element type (uint32 for the random-number composite, for example). */
  typed(values: readonly number[], elemType: TensorProto_DataType, dims: readonly number[] = []): string {
    return this.constant(
      `t${elemType}:${dims.join("x")}:${values.join(",")}`,
      (name) => tensorProto(name, elemType, dims, values),
      `${TensorProto_DataType[elemType].toLowerCase()}_${values.length === 1 ? values[0] : "tensor"}`,
    );
  }

  /** A 1-D int64 tensor `[d]` holding symbolic dim `sym` at run time. */
  dim(sym: string): string {
    const hit = this.dimValues.get(sym);
    if (hit !== undefined) return hit;
    const src = this.dimSources.get(sym);
    if (!src)
      throw new OnnxError(
        `${this.doc.replace(/^gradgraph /, "")}: the symbolic dim '${sym}' is the dim of no graph input, so an ONNX model cannot know its value`,
      );
    const saved = [this.prefix, this.doc];
    this.prefix = `dim/${sym}`;
    const v = this.op("Shape", [src.input], { start: src.axis, end: src.axis + 1 });
    [this.prefix, this.doc] = saved as [string, string];
    this.dimValues.set(sym, v);
    return v;
  }

  /** A 1-D int64 tensor holding `shape` (a constant when concrete, else built from the dims at run time). */
  shape(shape: Shape): string {
    if (shape.every((d) => typeof d === "number")) return this.int64(shape as readonly number[]);
    const parts: string[] = [];
    let run: number[] = [];
    for (const d of shape) {
      if (typeof d === "number") run.push(d);
      else {
        if (run.length > 0) parts.push(this.int64(run));
        run = [];
        parts.push(this.dim(d));
      }
    }
    if (run.length > 0) parts.push(this.int64(run));
    return parts.length === 1 ? parts[0]! : this.op("Concat", parts, { axis: 0 });
  }

  /** Casts `x` to `to`. */
  cast(x: string, to: TensorProto_DataType): string {
    return this.op("Cast", [x], { to });
  }

  /** Casts `x` to the float type of `dtype`. */
  toFloat(x: string, dtype: DType): string {
    return this.cast(x, onnxElemType(dtype));
  }
}
