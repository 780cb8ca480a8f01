/**
 * Graph traversal without recursion (deep graphs must not overflow the call stack).
 * @module
 */
import type { Graph, NodeId } from "./graph.js";

/**
 * The nodes that `roots` depend on (roots included), in a topological order (inputs before
 * users), found by an iterative depth-first search.
 */
export function topoOrder(graph: Graph, roots: readonly NodeId[]): NodeId[] {
  const n = graph.nodes.length;
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const order: NodeId[] = [];
  const stack: number[] = [];
  const cursor: number[] = [];
  for (const root of roots) {
    if (state[root] !== 0) continue;
    stack.push(root);
    cursor.push(0);
    state[root] = 1;
    while (stack.length) {
      const top = stack.length - 1;
      const id = stack[top]!;
      const inputs = graph.nodes[id]!.inputs;
      const c = cursor[top]!;
      if (c < inputs.length) {
        cursor[top] = c + 1;
        const next = inputs[c]!;
        if (state[next] === 0) {
          state[next] = 1;
          stack.push(next);
          cursor.push(0);
        } else if (state[next] === 1) {
          throw new Error(`cycle through node #${next}`);
        }
      } else {
        state[id] = 2;
        order.push(id);
        stack.pop();
        cursor.pop();
      }
    }
  }
  return order;
}

/** Marks every node that depends on any of `sources` (sources included). Uses the id order. */
export function dependents(graph: Graph, sources: readonly NodeId[]): Uint8Array {
  const mark = new Uint8Array(graph.nodes.length);
  for (const s of sources) mark[s] = 1;
  for (const node of graph.nodes) {
    if (mark[node.id]) continue;
    for (const i of node.inputs) {
      if (mark[i]) {
        mark[node.id] = 1;
        break;
      }
    }
  }
  return mark;
}

/** Marks every node that any of `roots` depends on (roots included). */
export function ancestors(graph: Graph, roots: readonly NodeId[]): Uint8Array {
  const mark = new Uint8Array(graph.nodes.length);
  for (const id of topoOrder(graph, roots)) mark[id] = 1;
  return mark;
}

/** For each node, how many nodes (among `ids`) use it as an input. */
export function useCounts(graph: Graph, ids: readonly NodeId[]): Int32Array {
  const uses = new Int32Array(graph.nodes.length);
  for (const id of ids) for (const i of graph.nodes[id]!.inputs) uses[i]!++;
  return uses;
}
