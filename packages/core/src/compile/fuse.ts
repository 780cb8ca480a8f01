/**
 * Pass 5, fuse: an elementwise node used once, by an elementwise node of the same size, is
 * computed inside its consumer's loop (no buffer, no pass over memory). Groups are capped at
 * {@link MAX_FUSED} nodes; outputs and folded nodes are never fused away. Off with `fuse: false`
 * and under `checkNumerics` (which must name the node that produced a bad value).
 *
 * The same pass fuses a batched product into the sum over its batch axes when that sum is one
 * product (see `batchSummedProducts`).
 *
 * Groups with the same expression structure share one composed expression (a long chain has
 * thousands of identical groups), so the cost per group is one walk over its nodes.
 * @module
 */
import type { GraphNode, NodeId } from "../graph.js";
import { opDef } from "../ops/index.js";
import type { MatmulAttrs } from "../ops/matmul.js";
import type { ReduceAttrs } from "../ops/reduce.js";
import type { ElementwiseSpec } from "../ops/types.js";
import { normalizeAxes } from "../ops/util.js";
import type { ConcreteShape } from "../shape.js";
import type { FoldedForm, FusedForm, FusedGroup, FusedTree } from "./form.js";

/** Largest number of elementwise nodes fused into one loop. */
export const MAX_FUSED = 24;

/** Decides the groups (one linear walk over the order), then composes each group's expression. */
export function fuseElementwise(form: FoldedForm): FusedForm {
  const { graph, order, folded, isOutput, sizes, options, elementwise } = form;
  const nodes = graph.nodes;
  const n = nodes.length;
  const fusedInto = new Int32Array(n).fill(-1);
  const groups = new Map<NodeId, FusedGroup>();
  const products = new Map<NodeId, NodeId>();
  if (options.fuse === false || options.checkNumerics)
    return { ...form, fusedInto, groups, products, fusedCount: 0 };

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
    if (uses[id] !== 1 || folded[id] || isOutput[id] || !elementwise[id]) continue;
    const c = consumer[id]!;
    if (folded[c] || !elementwise[c] || sizes[id] !== sizes[c]) continue;
    const mine = groupSize[id] || 1;
    const theirs = groupSize[c] || 1;
    if (mine + theirs > MAX_FUSED) continue;
    fusedInto[id] = c;
    groupSize[c] = mine + theirs;
    fusedCount++;
  }
  const walker = new GroupWalker(nodes, fusedInto);
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    if (groupSize[id]! > 0 && fusedInto[id] === -1) groups.set(id, walker.group(id));
  }
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    const m = nodes[id]!.inputs[0];
    if (m === undefined || uses[m] !== 1 || folded[m] || isOutput[m] || folded[id]) continue;
    if (batchSummedProduct(nodes[id]!, nodes[m]!, form.shapes)) {
      fusedInto[m] = id;
      products.set(id, m);
      fusedCount++;
    }
  }
  return { ...form, fusedInto, groups, products, fusedCount };
}

/**
 * Whether `sum` (a node) sums `product` over exactly its batch axes, and the batched product is
 * `Aᵀ·B` with A and B both carrying every batch (none broadcast). Then, the batches of A and B
 * being consecutive `[K, M]` and `[K, N]` blocks, the sum is one product `A'ᵀ·B'` of the stacked
 * `[nb·K, M]` and `[nb·K, N]` matrices: `Σ_b A_bᵀ B_b`. This is the weight gradient of every
 * `x [N, T, D] · W [D, E]` (autograd makes it `sum(matmul(x, g, {transA}), batch axes)`); one
 * product with `K = N·T` replaces `N` thin products and their sum (2-4x faster on a transformer
 * block's weights).
 */
export function batchSummedProduct(
  sum: GraphNode,
  product: GraphNode,
  shapes: readonly ConcreteShape[],
): boolean {
  if (sum.op !== "sum" || product.op !== "matmul") return false;
  const { transA, transB } = product.attrs as MatmulAttrs;
  if (!transA || transB) return false;
  const out = shapes[product.id]!;
  const a = shapes[product.inputs[0]!]!;
  const b = shapes[product.inputs[1]!]!;
  const rank = out.length;
  if (rank < 3 || a.length !== rank || b.length !== rank) return false;
  for (let d = 0; d < rank - 2; d++) if (a[d] !== out[d] || b[d] !== out[d]) return false;
  const axes = normalizeAxes("sum", (sum.attrs as ReduceAttrs).axes, rank);
  return axes.length === rank - 2 && axes.every((ax, i) => ax === i);
}

/** The nodes of each group (its root and the nodes fused into it, in id order), by root. */
export function groupMembers(form: FusedForm): Map<NodeId, NodeId[]> {
  const members = new Map<NodeId, NodeId[]>();
  for (const root of form.groups.keys()) members.set(root, [root]);
  for (let p = 0; p < form.order.length; p++) {
    let r = form.order[p]!;
    if (form.fusedInto[r] === -1) continue;
    const id = r;
    while (form.fusedInto[r] !== -1) r = form.fusedInto[r]!;
    members.get(r)?.push(id);
  }
  for (const m of members.values()) m.sort((a, b) => a - b);
  return members;
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

/** The expression of a group structure, shared by all groups of that structure. */
interface Structure {
  readonly index: number;
  readonly tree: FusedTree;
  readonly key: string;
  readonly spec: ElementwiseSpec;
}

/**
 * Builds the groups of one compile. Its scratch tables (which node is a leaf of the current group,
 * and its index) are shared by all groups, and groups of one structure share their expression,
 * so a group costs one walk over its nodes (a long chain has thousands of identical groups).
 */
class GroupWalker {
  /** 1 + the number of the group that last numbered this node as a leaf. */
  private readonly leafStamp: Int32Array;
  private readonly leafSlot: Int32Array;
  private stamp = 0;
  private leaves: NodeId[] = [];
  private signature = "";
  private readonly structures = new Map<string, Structure>();

  constructor(
    private readonly nodes: readonly GraphNode[],
    private readonly fusedInto: Int32Array,
  ) {
    this.leafStamp = new Int32Array(nodes.length);
    this.leafSlot = new Int32Array(nodes.length);
  }

  /**
   * The group rooted at `root`: its leaves (the values read from memory, each once, in first-use
   * order) and its expression (a tree, the loop cache key, and the composed expression).
   */
  group(root: NodeId): FusedGroup {
    this.stamp++;
    this.leaves = [];
    this.signature = "";
    const absorbed = this.walk(root);
    const leaves = this.leaves;
    let s = this.structures.get(this.signature);
    if (!s) {
      const tree = this.tree(root);
      s = {
        index: this.structures.size,
        tree,
        key: `fused:${exprText(
          tree,
          leaves.map((_, k) => `$${k}`),
        )}`,
        spec: { expr: (...args) => exprText(tree, args), fn: (...args) => exprValue(tree, args) },
      };
      this.structures.set(this.signature, s);
    }
    return { root, absorbed, leaves, tree: s.tree, key: s.key, spec: s.spec, structure: s.index };
  }

  /** Numbers the leaves below `id` and appends its structure to the signature; returns the nodes absorbed. */
  private walk(id: NodeId): number {
    // recursion depth is bounded by MAX_FUSED
    const node = this.nodes[id]!;
    let absorbed = 0;
    this.signature += `${node.op}(`;
    const inputs = node.inputs;
    for (let k = 0; k < inputs.length; k++) {
      const i = inputs[k]!;
      if (k > 0) this.signature += ",";
      if (this.fusedInto[i] === id) {
        absorbed += 1 + this.walk(i);
        continue;
      }
      if (this.leafStamp[i] !== this.stamp) {
        this.leafStamp[i] = this.stamp;
        this.leafSlot[i] = this.leaves.length;
        this.leaves.push(i);
      }
      this.signature += `$${this.leafSlot[i]}`;
    }
    this.signature += ")";
    return absorbed;
  }

  /** The expression tree of the group rooted at `id`, with leaves numbered as `walk` numbered them. */
  private tree(id: NodeId): FusedTree {
    const node = this.nodes[id]!;
    return {
      op: node.op,
      kids: node.inputs.map((i) => (this.fusedInto[i] === id ? this.tree(i) : this.leafSlot[i]!)),
    };
  }
}
