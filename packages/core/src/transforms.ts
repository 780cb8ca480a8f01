/**
 * Small graph-to-graph transforms that core itself needs.
 * @module
 */
import { produce } from "immer";
import type { DType } from "./dtype.js";
import { emptyGraph, type Graph, GraphError, type GraphNode, type NodeId, type ParamSpec } from "./graph.js";
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
  return produce(emptyGraph(), (d) => {
    (d.nodes as GraphNode[]).push(...nodes);
    for (const [k, v] of Object.entries(graph.inputs)) if (remap.has(v)) d.inputs[k] = remap.get(v)!;
    for (const [k, p] of Object.entries(graph.params))
      if (remap.has(p.node)) (d.params as Record<string, ParamSpec>)[k] = { ...p, node: remap.get(p.node)! };
    for (const o of outputs) d.outputs[o] = remap.get(graph.outputs[o]!)!;
  });
}

/** A copy of the graph whose outputs are exactly `outputs` (name -> node id or existing output name). */
export function withOutputs(graph: Graph, outputs: Readonly<Record<string, NodeId | string>>): Graph {
  return produce(graph, (d) => {
    for (const k of Object.keys(d.outputs)) delete d.outputs[k];
    for (const [k, ref] of Object.entries(outputs)) {
      const id = typeof ref === "number" ? ref : graph.outputs[ref];
      if (id === undefined || !graph.nodes[id])
        throw new GraphError(`output '${k}': no node ${JSON.stringify(ref)}`);
      d.outputs[k] = id;
    }
  });
}
