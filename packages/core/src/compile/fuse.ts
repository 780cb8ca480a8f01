/**
 * Pass 5, fuse: an elementwise node used once, by an elementwise node of the same size, is
 * computed inside its consumer's loop (no buffer, no pass over memory). Groups are capped at
 * {@link MAX_FUSED} nodes; outputs and folded nodes are never fused away. Off with `fuse: false`
 * and under `checkNumerics` (which must name the node that produced a bad value).
 *
 * Groups with the same expression structure share one composed expression (a long chain has
 * thousands of identical groups), so the cost per group is one walk over its nodes.
 * @module
 */
import type { GraphNode, NodeId } from "../graph.js";
import { opDef } from "../ops/index.js";
import type { ElementwiseSpec } from "../ops/types.js";
import type { FoldedForm, FusedForm, FusedGroup, FusedTree } from "./form.js";

/** Largest number of elementwise nodes fused into one loop. */
export const MAX_FUSED = 24;

function isElementwise(node: GraphNode): boolean {
  return opDef(node.op).elementwise !== undefined;
}

/** The expression of a group structure, shared by all groups of that structure. */
export interface Structure {
  /** Index among the plan's distinct structures. */
  readonly index: number;
  /** The expression tree. */
  readonly tree: FusedTree;
  /** Cache key of the generated loop. */
  readonly key: string;
  /** The composed expression. */
  readonly spec: ElementwiseSpec;
}

/** Decides the groups (one linear walk over the order), then composes each group's expression. */
export function fuseElementwise(form: FoldedForm): FusedForm {
  const { graph, order, folded, isOutput, sizes, options } = form;
  const nodes = graph.nodes;
  const n = nodes.length;
  const fusedInto = new Int32Array(n).fill(-1);
  const groups = new Map<NodeId, FusedGroup>();
  if (options.fuse === false || options.checkNumerics) return { ...form, fusedInto, groups, fusedCount: 0 };

  const uses = new Int32Array(n);
  const consumer = new Int32Array(n);
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    const inputs = nodes[id]!.inputs;
    for (let k = 0; k < inputs.length; k++) {
      const i = inputs[k]!;
      uses[i]!++;
      consumer[i] = id;
    }
  }
  // groupSize[c] > 0: c absorbed nodes, and its group counts groupSize[c] nodes (itself included)
  const groupSize = new Int32Array(n);
  let fusedCount = 0;
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    if (uses[id] !== 1 || folded[id] || isOutput[id] || !isElementwise(nodes[id]!)) continue;
    const c = consumer[id]!;
    if (folded[c] || !isElementwise(nodes[c]!) || sizes[id] !== sizes[c]) continue;
    const mine = groupSize[id] || 1;
    const theirs = groupSize[c] || 1;
    if (mine + theirs > MAX_FUSED) continue;
    fusedInto[id] = c;
    groupSize[c] = mine + theirs;
    fusedCount++;
  }
  const structures = new Map<string, Structure>();
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    if (groupSize[id]! > 0 && fusedInto[id] === -1)
      groups.set(id, fusedGroup(nodes, id, fusedInto, structures));
  }
  return { ...form, fusedInto, groups, fusedCount };
}

/**
 * Walks a group: collects its leaves (each once, in first-use order) and its members, and writes
 * its structure into `parts`. Returns the number of nodes absorbed below `id`.
 */
function walk(
  nodes: readonly GraphNode[],
  id: NodeId,
  fusedInto: Int32Array,
  leaves: NodeId[],
  leafIndex: Map<NodeId, number>,
  parts: string[],
  members: NodeId[],
): number {
  // recursion depth is bounded by MAX_FUSED
  const node = nodes[id]!;
  let absorbed = 0;
  members.push(id);
  parts.push(node.op, "(");
  const inputs = node.inputs;
  for (let k = 0; k < inputs.length; k++) {
    const i = inputs[k]!;
    if (k > 0) parts.push(",");
    if (fusedInto[i] === id) {
      absorbed += 1 + walk(nodes, i, fusedInto, leaves, leafIndex, parts, members);
      continue;
    }
    let leaf = leafIndex.get(i);
    if (leaf === undefined) {
      leaf = leaves.length;
      leafIndex.set(i, leaf);
      leaves.push(i);
    }
    parts.push(`$${leaf}`);
  }
  parts.push(")");
  return absorbed;
}

/** The expression tree of the group rooted at `id`, with leaves numbered as `walk` numbers them. */
function buildTree(
  nodes: readonly GraphNode[],
  id: NodeId,
  fusedInto: Int32Array,
  leafIndex: Map<NodeId, number>,
): FusedTree {
  const node = nodes[id]!;
  return {
    op: node.op,
    kids: node.inputs.map((i) =>
      fusedInto[i] === id ? buildTree(nodes, i, fusedInto, leafIndex) : leafIndex.get(i)!,
    ),
  };
}

function specOf(op: string): ElementwiseSpec {
  return opDef(op as "add").elementwise!;
}

function exprText(t: FusedTree | number, args: readonly string[]): string {
  return typeof t === "number" ? args[t]! : specOf(t.op).expr(...t.kids.map((k) => exprText(k, args)));
}

function exprValue(t: FusedTree | number, args: readonly number[]): number {
  return typeof t === "number" ? args[t]! : specOf(t.op).fn(...t.kids.map((k) => exprValue(k, args)));
}

/**
 * The group rooted at `root`: its leaves (the values read from memory, each once) and its
 * expression (a tree, the loop cache key, and the composed expression as text and function).
 * Groups of one structure share the expression, found in `structures` (per compile).
 */
export function fusedGroup(
  nodes: readonly GraphNode[],
  root: NodeId,
  fusedInto: Int32Array,
  structures: Map<string, Structure> = new Map(),
): FusedGroup {
  const leaves: NodeId[] = [];
  const leafIndex = new Map<NodeId, number>();
  const parts: string[] = [];
  const members: NodeId[] = [];
  const absorbed = walk(nodes, root, fusedInto, leaves, leafIndex, parts, members);
  const signature = parts.join("");
  let s = structures.get(signature);
  if (!s) {
    const tree = buildTree(nodes, root, fusedInto, leafIndex);
    s = {
      index: structures.size,
      tree,
      key: `fused:${exprText(
        tree,
        leaves.map((_, k) => `$${k}`),
      )}`,
      spec: { expr: (...args) => exprText(tree, args), fn: (...args) => exprValue(tree, args) },
    };
    structures.set(signature, s);
  }
  members.sort((a, b) => a - b);
  return { root, absorbed, members, leaves, tree: s.tree, key: s.key, spec: s.spec, structure: s.index };
}
