/**
 * What an ONNX value becomes during import: a run-time gradgraph value, or a value known at
 * import time (constants and the int64 shape plumbing, whose entries may be symbolic dims), and
 * the per-node context op converters work through.
 * @module
 */
import {
  type Dim,
  type DType,
  type GraphBuilder,
  type Pool2dAttrs,
  type Shape,
  shapeToString,
  Tensor,
  type Value,
} from "@gradgraph/core";
import { OnnxError } from "../errors.js";
import {
  type AttributeProto,
  AttributeProto_AttributeType,
  type NodeProto,
  TensorProto_DataType,
} from "../gen/onnx_pb.js";
import { decodeTensor } from "./tensor.js";

const D = TensorProto_DataType;

/**
 * A value known at import time: a constant, or int64 shape data whose entries may be symbolic
 * dims (what `Shape` of an input with a `dim_param` gives).
 */
export interface Known {
  readonly kind: "known";
  /** ONNX element type. */
  readonly elem: number;
  /** Concrete dims. */
  readonly dims: readonly number[];
  /** Row-major entries; strings are symbolic dims. */
  readonly data: readonly Dim[];
}

/**
 * A run-time value: a gradgraph value (float32/float64) standing for an ONNX value of element
 * type `elem` (integers and booleans are held as floats).
 */
export interface Runtime {
  readonly kind: "rt";
  readonly v: Value;
  readonly elem: number;
  /** For a BOOL value: whether it holds exactly 0/1 (else "not zero" is true, as after a Cast to BOOL). */
  readonly exact01?: boolean;
  /** When `v` is an `Expand` of another value: that value (ScatterElements reads its indices through it). */
  readonly expandedFrom?: Value;
  /**
   * The ONNX value is `v` flattened to 1-D, which a symbolic shape cannot state (`N·C·H·W`): it
   * may only be reshaped to a full shape again or index a MaxPool gradient.
   */
  readonly flat?: boolean;
}

/**
 * The `Indices` output of a `MaxPool`: the flat arg-max of each window of `x`. gradgraph has no
 * integer index tensors; the importer reads them where they feed `maxPool2dGather` (a `Gather`)
 * or `maxPool2dBackprop` (a `ScatterElements` add), as gradgraph's exporter writes those ops.
 */
export interface PoolIndices {
  readonly kind: "poolIndices";
  /** The pooled input. */
  readonly x: Value;
  /** The pooling. */
  readonly attrs: Pool2dAttrs;
  /** The pooled shape (the shape of the indices unless flattened). */
  readonly pooled: Shape;
  /** Whether the indices were flattened to 1-D. */
  readonly flat: boolean;
  /** Always INT64. */
  readonly elem: number;
}

/** An imported ONNX value. */
export type ImportValue = Known | Runtime | PoolIndices;

/** A Known from numbers. */
export function known(elem: number, dims: readonly number[], data: readonly Dim[]): Known {
  return { kind: "known", elem, dims: [...dims], data: [...data] };
}

/** The element count of `dims`. */
export function countOf(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Largest Known the importer folds at import time; larger results are computed at run time. */
export const MAX_FOLD = 1 << 16;

/** Per-node context of the importer: the builder, the node, its attributes and value helpers. */
export class NodeContext {
  private readonly attrs = new Map<string, AttributeProto>();

  constructor(
    /** The builder of the imported graph. */
    readonly b: GraphBuilder,
    /** The gradgraph float type every float value is computed in. */
    readonly dtype: DType,
    /** The model's default-domain opset. */
    readonly opset: number,
    /** The node being converted. */
    readonly node: NodeProto,
    private readonly materialised: WeakMap<Known, Value>,
  ) {
    for (const a of node.attribute) this.attrs.set(a.name, a);
  }

  /** `'name' (OpType)` for messages. */
  get label(): string {
    return `node '${this.node.name || this.node.output[0] || "?"}' (${this.node.opType})`;
  }

  /** An OnnxError naming this node. */
  error(message: string): OnnxError {
    return new OnnxError(`${this.label}: ${message}`);
  }

  /** True when attribute `name` is present. */
  has(name: string): boolean {
    return this.attrs.has(name);
  }

  private attr(name: string, type: AttributeProto_AttributeType): AttributeProto | undefined {
    const a = this.attrs.get(name);
    if (a === undefined) return undefined;
    if (a.refAttrName) throw this.error(`attribute '${name}' refers to a function attribute`);
    if (a.type !== type && a.type !== AttributeProto_AttributeType.UNDEFINED)
      throw this.error(
        `attribute '${name}' is ${AttributeProto_AttributeType[a.type] ?? a.type}, expected ${AttributeProto_AttributeType[type]}`,
      );
    return a;
  }

  /** An INT attribute. */
  int(name: string, dflt: number): number {
    const a = this.attr(name, AttributeProto_AttributeType.INT);
    return a === undefined
      ? dflt
      : safeInt(a.i, () => this.error(`attribute '${name}' = ${a.i} is out of range`));
  }

  /** An INTS attribute, or undefined. */
  ints(name: string): number[] | undefined {
    const a = this.attr(name, AttributeProto_AttributeType.INTS);
    return a?.ints.map((v) => safeInt(v, () => this.error(`attribute '${name}' holds ${v}, out of range`)));
  }

  /** A FLOAT attribute. */
  floatAttr(name: string, dflt: number): number {
    const a = this.attr(name, AttributeProto_AttributeType.FLOAT);
    return a === undefined ? dflt : a.f;
  }

  /** A STRING attribute. */
  string(name: string, dflt: string): string {
    const a = this.attr(name, AttributeProto_AttributeType.STRING);
    return a === undefined ? dflt : new TextDecoder().decode(a.s);
  }

  /** A TENSOR attribute, decoded, or undefined. */
  tensor(name: string): Known | undefined {
    const a = this.attr(name, AttributeProto_AttributeType.TENSOR);
    if (a === undefined) return undefined;
    if (!a.t) throw this.error(`attribute '${name}' holds no tensor`);
    const t = decodeTensor(a.t, `${this.label} attribute '${name}'`);
    return known(t.elem, t.dims, Array.from(t.data));
  }

  /** The gradgraph value of `x` (a Known becomes a constant node, once). */
  rt(x: ImportValue): Value {
    if (x.kind === "rt") {
      if (x.flat)
        throw this.error(
          `the 1-D flattening of a ${shapeToString(x.v.shape)} value is used as data; with symbolic dims it can only be reshaped back or index a MaxPool gradient`,
        );
      if (x.elem === D.BOOL && x.exact01 === false) return this.normalisedBool(x.v);
      return x.v;
    }
    if (x.kind === "poolIndices")
      throw this.error(
        "a MaxPool Indices output is read only by a Gather from the flattened input (maxPool2dGather) or a ScatterElements add into it (maxPool2dBackprop)",
      );
    const hit = this.materialised.get(x);
    if (hit) return hit;
    const sym = x.data.find((d) => typeof d === "string");
    if (sym !== undefined)
      throw this.error(
        `a shape value holding the symbolic dim '${sym}' is used as data; only shape inputs (Reshape, Expand, ConstantOfShape, ...) may take it`,
      );
    const values = x.data as number[];
    const v =
      x.dims.length === 0
        ? this.b.scalar(values[0]!, this.dtype)
        : this.b.constant(Tensor.from(values, { shape: x.dims, dtype: "float64" }), this.dtype);
    this.materialised.set(x, v);
    return v;
  }

  /** A BOOL value held as "not zero" as exact 0/1. */
  normalisedBool(v: Value): Value {
    return this.b.sub(1, this.b.equal(v, 0));
  }

  /** `x`, which must be known at import time (`what` names the input in messages). */
  known(x: ImportValue | undefined, what: string): Known {
    if (x === undefined) throw this.error(`input ${what} is missing`);
    if (x.kind !== "known")
      throw this.error(
        `input ${what} must be known when the model is imported (a constant or shape data), not computed at run time`,
      );
    return x;
  }

  /** Integer entries of a known input (symbolic dims rejected). */
  knownInts(x: ImportValue | undefined, what: string): number[] {
    const k = this.known(x, what);
    return k.data.map((d) => {
      if (typeof d === "string")
        throw this.error(`input ${what} holds the symbolic dim '${d}' where a number is needed`);
      if (!Number.isFinite(d) && Math.abs(d) !== Infinity) throw this.error(`input ${what} holds ${d}`);
      return d;
    });
  }

  /** A run-time float value from an input; integer and boolean inputs are accepted as their numbers. */
  float(x: ImportValue | undefined, what: string): Value {
    if (x === undefined) throw this.error(`input ${what} is missing`);
    return this.rt(x);
  }

  /** Wraps a gradgraph value as a run-time float result. */
  out(v: Value, elem: number = this.dtype === "float32" ? D.FLOAT : D.DOUBLE): Runtime {
    return { kind: "rt", v, elem };
  }

  /** The shape of an input, run-time or known. */
  shapeOf(x: ImportValue): Shape {
    if (x.kind === "known") return x.dims;
    if (x.kind === "poolIndices") {
      if (x.flat) throw this.error("the shape of flattened MaxPool Indices is not a gradgraph shape");
      return x.pooled;
    }
    if (x.flat) this.rt(x);
    return x.v.shape;
  }

  /** Normalises `axis` against `rank`, naming the attribute when out of range. */
  axis(axis: number, rank: number, what = "axis"): number {
    if (!Number.isInteger(axis) || axis < -rank || axis >= rank)
      throw this.error(`${what} ${axis} is out of range for rank ${rank}`);
    return axis < 0 ? axis + rank : axis;
  }

  /** A concrete dim of a shape, or an error naming what needs it. */
  concrete(shape: Shape, axis: number, what: string): number {
    const d = shape[axis];
    if (typeof d !== "number")
      throw this.error(`${what} needs a concrete size on axis ${axis} of ${shapeToString(shape)}`);
    return d;
  }
}

function safeInt(v: bigint, err: () => OnnxError): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    // int64 extremes mean "to the end" / "from the start" in Slice-like attributes
    if (v >= 2n ** 53n) return Number.MAX_SAFE_INTEGER;
    if (v <= -(2n ** 53n)) return -Number.MAX_SAFE_INTEGER;
    throw err();
  }
  return n;
}
