/**
 * Recognising gradgraph's exported `randomUniform` composite (uint32 murmur hashing with
 * `BitwiseXor`/`BitShift`, which gradgraph cannot compute as floats) so it imports back as one
 * `randomUniform` node. The exporter marks every ONNX node with the gradgraph node it comes from
 * (`doc_string` "gradgraph #12 randomUniform ..."); a group is accepted only when its structure
 * is the exporter's: the key enters through its first node, the salt is the uint32 constant
 * mixed into `key · 0x9e3779b1`, and the group ends in the `Reshape` to the output shape.
 * @module
 */
import type { GraphProto, NodeProto } from "../gen/onnx_pb.js";
import { TensorProto_DataType } from "../gen/onnx_pb.js";
import { decodeTensor } from "./tensor.js";

/** One recognised composite. */
export interface RandomComposite {
  /** Index of the final `Reshape` node, which becomes the `randomUniform` node. */
  readonly final: number;
  /** The ONNX value of the key. */
  readonly key: string;
  /** The salt (a 32-bit integer). */
  readonly salt: number;
}

/** The recognised composites, and the indices of their nodes that the importer skips. */
export interface RandomComposites {
  readonly composites: ReadonlyMap<number, RandomComposite>;
  readonly skipped: ReadonlySet<number>;
}

const DOC = /^gradgraph (#\d+) randomUniform\b/;
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

/** Finds gradgraph's randomUniform composites in `g`. */
export function findRandomComposites(g: GraphProto): RandomComposites {
  const composites = new Map<number, RandomComposite>();
  const skipped = new Set<number>();
  const groups = new Map<string, number[]>();
  g.node.forEach((n, i) => {
    const m = DOC.exec(n.docString);
    if (m) groups.set(m[1]!, [...(groups.get(m[1]!) ?? []), i]);
  });
  const u32 = new Map<string, number>();
  for (const t of g.initializer)
    if (t.dataType === TensorProto_DataType.UINT32 && t.dims.length === 0) {
      try {
        u32.set(t.name, decodeTensor(t, t.name).data[0]!);
      } catch {
        // a malformed constant: the composite is not recognised, and validation reports it
      }
    }
  const producer = new Map<string, number>();
  g.node.forEach((n, i) => {
    for (const o of n.output) producer.set(o, i);
  });
  for (const idx of groups.values()) {
    const found = recognise(
      g.node,
      idx,
      u32,
      producer,
      g.output.map((o) => o.name),
    );
    if (!found) continue;
    composites.set(found.composite.final, found.composite);
    for (const i of found.skip) skipped.add(i);
  }
  return { composites, skipped };
}

function recognise(
  nodes: readonly NodeProto[],
  group: readonly number[],
  u32: ReadonlyMap<string, number>,
  producer: ReadonlyMap<string, number>,
  graphOutputs: readonly string[],
): { composite: RandomComposite; skip: number[] } | null {
  // the group ends at its last Reshape (an output's Identity after it carries the same doc string)
  let end = group.length - 1;
  while (end >= 0 && nodes[group[end]!]!.opType === "Identity") end--;
  if (end < 0) return null;
  const idx = group.slice(0, end + 1);
  const inGroup = new Set(idx);
  const final = idx[idx.length - 1]!;
  const last = nodes[final]!;
  const first = nodes[idx[0]!]!;
  if (last.opType !== "Reshape" || last.input.length < 2) return null;
  if (first.opType !== "Cast" && first.opType !== "Floor") return null;
  const key = first.input[0]!;
  // the key mixing: BitwiseXor(Mul(keyU, 0x9e3779b1), fmix32(salt))
  let saltMix: number | undefined;
  for (const i of idx) {
    const n = nodes[i]!;
    if (n.opType !== "BitwiseXor") continue;
    const p = producer.get(n.input[0] ?? "");
    const mul = p === undefined ? undefined : nodes[p];
    if (mul?.opType === "Mul" && u32.get(mul.input[1] ?? "") === KEY_MUL && u32.has(n.input[1] ?? ""))
      saltMix = u32.get(n.input[1]!)!;
  }
  if (saltMix === undefined) return null;
  const salt = unfmix32(saltMix);
  if (fmix32(salt) !== saltMix) return null;
  // nodes kept: those computing the target shape, or used outside the group (shape plumbing)
  const keep = new Set<number>();
  const need = (name: string) => {
    const p = producer.get(name);
    if (p === undefined || !inGroup.has(p) || keep.has(p)) return;
    keep.add(p);
    for (const x of nodes[p]!.input) if (x) need(x);
  };
  need(last.input[1]!);
  const usedOutside = new Set<string>(graphOutputs);
  nodes.forEach((n, i) => {
    if (!inGroup.has(i)) for (const x of n.input) usedOutside.add(x);
  });
  for (const i of idx)
    if (i !== final && nodes[i]!.output.some((o) => usedOutside.has(o))) need(nodes[i]!.output[0]!);
  // a kept node must not read a skipped one (the target shape never depends on the key)
  const skip = idx.filter((i) => i !== final && !keep.has(i));
  const skippedOutputs = new Set(skip.flatMap((i) => nodes[i]!.output));
  for (const i of keep) if (nodes[i]!.input.some((x) => skippedOutputs.has(x))) return null;
  if (!skip.some((i) => nodes[i]!.opType === "BitShift")) return null;
  return { composite: { final, key, salt }, skip };
}
