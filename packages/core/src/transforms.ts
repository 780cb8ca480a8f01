/**
 * Small graph-to-graph transforms that core itself needs.
 * @module
 */
import { produce } from "immer";
import type { DType } from "./dtype.js";
import { emptyGraph, type Graph, GraphError, type GraphNode, type NodeId, type ParamSpec } from "./graph.js";
import { nameTable } from "./names.js";
import { topoOrder } from "./topo.js";

/**
 * The same graph computing in `dtype` (every node, input, param and constant). Useful to run a
 * float32 model in float64 for gradient checking.
 */
export function castGraph(graph: Graph, dtype: DType): Graph {
  return produce(graph, (d) => {
    for (const node of d.nodes as GraphNode[]) {
      if (node.dtype === dtype) continue;
      (node as { dtype: DType }).dtype = dtype;
      const attrs = node.attrs as { dtype?: DType };
      if (attrs.dtype !== undefined) attrs.dtype = dtype;
    }
    for (const p of Object.values(d.params) as ParamSpec[]) (p as { dtype: DType }).dtype = dtype;
  });
}

/**
 * Keeps only what the named outputs need (nodes are renumbered, order preserved); inputs and
 * params no longer used are dropped.
 */
export function pruneGraph(graph: Graph, outputs: readonly string[] = Object.keys(graph.outputs)): Graph {
  const roots = outputs.map((o) => {
    if (!Object.hasOwn(graph.outputs, o)) throw new GraphError(`no output named '${o}'`);
    return graph.outputs[o]!;
  });
  const keep = topoOrder(graph, roots).sort((a, b) => a - b);
  const remap = new Map<NodeId, NodeId>();
  for (let i = 0; i < keep.length; i++) remap.set(keep[i]!, i);
  const nodes = keep.map((id, i) => {
    const n = graph.nodes[id]!;
    return { ...n, id: i, inputs: n.inputs.map((x) => remap.get(x)!) } as GraphNode;
  });
  const kept = <T>(entries: [string, T][], id: (v: T) => NodeId) =>
    entries.filter(([, v]) => remap.has(id(v)));
  return produce(emptyGraph(), (d) => {
    // assigned whole: `push(...nodes)` would overflow the call stack for a few hundred thousand nodes
    (d as { nodes: readonly GraphNode[] }).nodes = nodes;
    d.inputs = nameTable(kept(Object.entries(graph.inputs), (v) => v).map(([k, v]) => [k, remap.get(v)!]));
    (d as { params: Graph["params"] }).params = nameTable(
      kept(Object.entries(graph.params), (p) => p.node).map(([k, p]): [string, ParamSpec] => [
        k,
        { ...p, node: remap.get(p.node)! },
      ]),
    );
    d.outputs = nameTable(outputs.map((o) => [o, remap.get(graph.outputs[o]!)!]));
  });
}

/** A copy of the graph whose outputs are exactly `outputs` (name -> node id or existing output name). */
export function withOutputs(graph: Graph, outputs: Readonly<Record<string, NodeId | string>>): Graph {
  const table = nameTable<NodeId>();
  for (const [k, ref] of Object.entries(outputs)) {
    const id =
      typeof ref === "number" ? ref : Object.hasOwn(graph.outputs, ref) ? graph.outputs[ref] : undefined;
    if (id === undefined || !graph.nodes[id])
      throw new GraphError(`output '${k}': no node ${JSON.stringify(ref)}`);
    table[k] = id;
  }
  return produce(graph, (d) => {
    d.outputs = table;
  });
}
