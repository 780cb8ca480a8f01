/**
 * Recognising composites gradgraph's exporter writes for ops ONNX lacks, so they import back as
 * the one gradgraph op they stand for:
 *
 * - `randomUniform`: uint32 murmur hashing with `BitwiseXor`/`BitShift`, which gradgraph cannot
 *   compute as floats;
 * - `avgPool2dBackprop` and `conv2dBackpropFilter`: they fold the batch into another dim
 *   (`[N·C, 1, H, W]` planes, `g·N` channels), which a symbolic batch cannot state as a
 *   gradgraph shape. (With a concrete batch they also import node by node.)
 *
 * The exporter marks every ONNX node with the gradgraph node it comes from (`doc_string`
 * "gradgraph #12 randomUniform ..."); a group is accepted only when its structure is the
 * exporter's (the nodes and constants each recogniser reads are there, and the nodes kept for
 * use outside the group do not read the nodes replaced). Otherwise the group's nodes import one
 * by one, or fail as unsupported.
 * @module
 */
import type { GraphProto, NodeProto } from "../gen/onnx_pb.js";
import { decodeTensor } from "./tensor.js";

/** The gradgraph ops recognised. */
export type CompositeOp = "randomUniform" | "avgPool2dBackprop" | "conv2dBackpropFilter";

/** One recognised composite: its final node becomes one gradgraph node. */
export interface Composite {
  /** Index of the group's final node. */
  readonly final: number;
  /** The gradgraph op. */
  readonly op: CompositeOp;
  /** ONNX values of the op's inputs, in order. */
  readonly inputs: readonly string[];
  /** The op's attributes read from the group's constants and node attributes. */
  readonly attrs: Readonly<Record<string, unknown>>;
  /** For randomUniform: the ONNX value holding the output shape (known at import time). */
  readonly shape?: string;
}

/** The recognised composites (by final node), and the indices of the nodes the importer skips. */
export interface Composites {
  readonly composites: ReadonlyMap<number, Composite>;
  readonly skipped: ReadonlySet<number>;
}

const DOC = /^gradgraph (#\d+) (randomUniform|avgPool2dBackprop|conv2dBackpropFilter)\b/;
const KEY_MUL = 0x9e3779b1;

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The inverse of an odd number modulo 2^32 (Newton's iteration). */
function inverse(c: number): number {
  let x = c;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(c, x));
  return x;
}

/** The salt `s` (as a 32-bit integer) with `fmix32(s) = v`. */
function unfmix32(v: number): number {
  let h = v ^ (v >>> 16);
  h = Math.imul(h, inverse(0xc2b2ae35));
  h = h ^ (h >>> 13) ^ (h >>> 26);
  h = Math.imul(h, inverse(0x85ebca6b));
  return (h ^ (h >>> 16)) | 0;
}

/** What a recogniser sees of the graph. */
interface View {
  readonly nodes: readonly NodeProto[];
  /** Small integer initializers (scalars and short vectors), decoded. */
  readonly ints: ReadonlyMap<string, readonly number[]>;
  /** The node producing each value. */
  readonly producer: ReadonlyMap<string, number>;
}

/** A recogniser's result, before the kept/skipped split. */
type Found = Omit<Composite, "final">;

/** An INTS attribute of `n` as numbers, or undefined. */
function ints(n: NodeProto, name: string): number[] | undefined {
  const a = n.attribute.find((x) => x.name === name);
  return a ? a.ints.map((v) => Number(v)) : undefined;
}

/** An INT attribute of `n`, or `dflt`. */
function int(n: NodeProto, name: string, dflt: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : dflt;
}

/** ONNX `[t, l, b, r]` pads as gradgraph's `[t, b, l, r]`, or null. */
function padding(p: readonly number[] | undefined): [number, number, number, number] | null {
  if (p?.length !== 4) return null;
  return [p[0]!, p[2]!, p[1]!, p[3]!];
}

function pair(v: readonly number[] | undefined): [number, number] | null {
  return v && v.length === 2 ? [v[0]!, v[1]!] : null;
}

/** Finds gradgraph's composites in `g`. */
export function findComposites(g: GraphProto): Composites {
  const composites = new Map<number, Composite>();
  const skipped = new Set<number>();
  const groups = new Map<string, { op: CompositeOp; idx: number[] }>();
  g.node.forEach((n, i) => {
    const m = DOC.exec(n.docString);
    if (!m) return;
    const group = groups.get(m[1]!) ?? { op: m[2] as CompositeOp, idx: [] };
    group.idx.push(i);
    groups.set(m[1]!, group);
  });
  if (groups.size === 0) return { composites, skipped };
  const intsMap = new Map<string, number[]>();
  for (const t of g.initializer)
    if (t.dims.length <= 1 && (t.dims[0] ?? 1n) <= 8n) {
      try {
        intsMap.set(t.name, Array.from(decodeTensor(t, t.name).data));
      } catch {
        // a malformed constant: no composite reads it, and validation reports it
      }
    }
  const producer = new Map<string, number>();
  g.node.forEach((n, i) => {
    for (const o of n.output) producer.set(o, i);
  });
  const view: View = { nodes: g.node, ints: intsMap, producer };
  const usedOutside = (inGroup: ReadonlySet<number>) => {
    const used = new Set<string>(g.output.map((o) => o.name));
    g.node.forEach((n, i) => {
      if (!inGroup.has(i)) for (const x of n.input) used.add(x);
    });
    return used;
  };
  for (const { op, idx: all } of groups.values()) {
    // the group ends at its last non-Identity node (an output's Identity carries the same doc string)
    let end = all.length - 1;
    while (end >= 0 && g.node[all[end]!]!.opType === "Identity") end--;
    if (end < 0) continue;
    const idx = all.slice(0, end + 1);
    const found =
      op === "randomUniform"
        ? randomUniform(view, idx)
        : op === "avgPool2dBackprop"
          ? avgPool(view, idx)
          : filter(view, idx);
    if (!found) continue;
    const split = keptAndSkipped(view, idx, found, usedOutside(new Set(idx)));
    if (!split) continue;
    composites.set(idx[idx.length - 1]!, { final: idx[idx.length - 1]!, ...found });
    for (const i of split) skipped.add(i);
  }
  return { composites, skipped };
}

/**
 * The group's nodes to skip: all but the final one and those kept because the composite's shape
 * input or a node outside the group reads them; null when a kept node reads a skipped one.
 */
function keptAndSkipped(
  view: View,
  idx: readonly number[],
  found: Found,
  used: ReadonlySet<string>,
): number[] | null {
  const { nodes, producer } = view;
  const inGroup = new Set(idx);
  const final = idx[idx.length - 1]!;
  const keep = new Set<number>();
  const need = (name: string) => {
    const p = producer.get(name);
    if (p === undefined || !inGroup.has(p) || keep.has(p) || p === final) return;
    keep.add(p);
    for (const x of nodes[p]!.input) if (x) need(x);
  };
  if (found.shape !== undefined) need(found.shape);
  for (const i of idx)
    if (i !== final && nodes[i]!.output.some((o) => used.has(o))) need(nodes[i]!.output[0]!);
  const skip = idx.filter((i) => i !== final && !keep.has(i));
  const skippedOutputs = new Set(skip.flatMap((i) => nodes[i]!.output));
  for (const i of keep) if (nodes[i]!.input.some((x) => skippedOutputs.has(x))) return null;
  // the op's inputs come from outside the replaced nodes
  for (const x of found.inputs) if (skippedOutputs.has(x)) return null;
  return skip;
}

/** randomUniform: the key enters the first node; the salt is mixed into `key · 0x9e3779b1`; a final Reshape. */
function randomUniform(view: View, idx: readonly number[]): Found | null {
  const { nodes, ints: k, producer } = view;
  const last = nodes[idx[idx.length - 1]!]!;
  const first = nodes[idx[0]!]!;
  if (last.opType !== "Reshape" || last.input.length < 2) return null;
  if ((first.opType !== "Cast" && first.opType !== "Floor") || !first.input[0]) return null;
  let saltMix: number | undefined;
  for (const i of idx) {
    const n = nodes[i]!;
    if (n.opType !== "BitwiseXor") continue;
    const p = producer.get(n.input[0] ?? "");
    const mul = p === undefined ? undefined : nodes[p];
    const mix = k.get(n.input[1] ?? "");
    if (mul?.opType === "Mul" && k.get(mul.input[1] ?? "")?.[0] === KEY_MUL && mix?.length === 1)
      saltMix = mix[0];
  }
  if (saltMix === undefined || !idx.some((i) => nodes[i]!.opType === "BitShift")) return null;
  const salt = unfmix32(saltMix);
  if (fmix32(salt) !== saltMix) return null;
  return { op: "randomUniform", inputs: [first.input[0]], attrs: { salt }, shape: last.input[1]! };
}

/** avgPool2dBackprop: Div by the window counts, Reshape to planes, ConvTranspose with ones, Reshape back. */
function avgPool(view: View, idx: readonly number[]): Found | null {
  const { nodes, ints: k, producer } = view;
  const group = idx.map((i) => nodes[i]!);
  const last = group[group.length - 1]!;
  const div = group[0]!;
  const convs = group.filter((n) => n.opType === "ConvTranspose");
  if (last.opType !== "Reshape" || div.opType !== "Div" || !div.input[0] || convs.length !== 1) return null;
  const ct = convs[0]!;
  const planes = producer.get(ct.input[0] ?? "");
  const planeShape = planes === undefined ? undefined : k.get(nodes[planes]!.input[1] ?? "");
  const kernelSize = pair(ints(ct, "kernel_shape"));
  const strides = pair(ints(ct, "strides"));
  const pads = padding(ints(ct, "pads"));
  const outPad = pair(ints(ct, "output_padding") ?? [0, 0]);
  if (planeShape?.length !== 4 || !kernelSize || !strides || !pads || !outPad) return null;
  const [ho, wo] = [planeShape[2]!, planeShape[3]!];
  const size = (i: number, n: number) =>
    strides[i]! * (n - 1) + outPad[i]! + kernelSize[i]! - pads[2 * i]! - pads[2 * i + 1]!;
  return {
    op: "avgPool2dBackprop",
    inputs: [div.input[0]],
    attrs: { kernelSize, strides, padding: pads, inputSize: [size(0, ho), size(1, wo)] },
  };
}

/** conv2dBackpropFilter: x and dy transposed (x split by group), Conv with strides and dilations swapped, Slice, Transpose. */
function filter(view: View, idx: readonly number[]): Found | null {
  const { nodes, ints: k, producer } = view;
  const group = idx.map((i) => nodes[i]!);
  const last = group[group.length - 1]!;
  const first = group[0]!;
  const convs = group.filter((n) => n.opType === "Conv");
  const slices = group.filter((n) => n.opType === "Slice");
  if (last.opType !== "Transpose" || convs.length !== 1 || slices.length !== 1 || !first.input[0])
    return null;
  const conv = convs[0]!;
  const dyt = producer.get(conv.input[1] ?? "");
  const dy = dyt === undefined ? undefined : nodes[dyt];
  if (dy?.opType !== "Transpose" || !dy.input[0]) return null;
  const strides = pair(ints(conv, "dilations"));
  const dilations = pair(ints(conv, "strides"));
  const pads = padding(ints(conv, "pads"));
  const kernelSize = pair(k.get(slices[0]!.input[2] ?? ""));
  if (!strides || !dilations || !pads || !kernelSize) return null;
  return {
    op: "conv2dBackpropFilter",
    inputs: [first.input[0], dy.input[0]],
    attrs: { strides, padding: pads, dilations, groups: int(conv, "group", 1), kernelSize },
  };
}
