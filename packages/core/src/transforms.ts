/**
 * Small graph-to-graph transforms that core itself needs.
 * @module
 */
import { produce } from "immer";
import type { DType } from "./dtype.js";
import { emptyGraph, type Graph, GraphError, type GraphNode, type NodeId, type ParamSpec } from "./graph.js";
import { nameTable } from "./names.js";
import { isOpName, opDef } from "./ops/index.js";
import { isConcrete, shapesEqual, shapeToString } from "./shape.js";
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

/**
 * The graph with some inputs fixed to constants: each input named in `values` becomes a `fill`
 * node of that value (its declared shape, which must be concrete), every `where` whose condition
 * is then a known constant is replaced by the branch it selects, and the graph is pruned to its
 * outputs (see {@link pruneGraph}), so the branch not taken, and whatever only it used, is gone.
 *
 * A condition is a known constant when it is a `fill`, a `constant` whose values are all equal,
 * or a built-in elementwise op (e.g. `greater(flag, 0.5)`) of known constants. When the selected
 * branch has another shape than the `where` (a broadcast), it is broadcast to it (`broadcastTo`;
 * a constant branch becomes a `fill` of the `where`'s shape). Used by `Model` to make its training
 * (`"mode:training"` = 1) and evaluation (0) graphs from one graph.
 * @throws GraphError when a name is not an input, its value is not a number, or the input's
 * declared shape is symbolic.
 * @example
 * const evalGraph = specializeInputs(graph, { "mode:training": 0 });
 */
export function specializeInputs(graph: Graph, values: Readonly<Record<string, number>>): Graph {
  const fixed = new Map<NodeId, number>();
  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(graph.inputs, name)) {
      throw new GraphError(
        `specializeInputs: the graph has no input named '${name}' (inputs: ${Object.keys(graph.inputs).join(", ") || "none"})`,
      );
    }
    const value = values[name];
    if (typeof value !== "number")
      throw new GraphError(
        `specializeInputs: the value of input '${name}' is ${String(value)}, not a number`,
      );
    const node = graph.nodes[graph.inputs[name]!]!;
    if (!isConcrete(node.shape)) {
      throw new GraphError(
        `specializeInputs: input '${name}' has the symbolic shape ${shapeToString(node.shape)}; only inputs of concrete shape can be fixed`,
      );
    }
    fixed.set(node.id, value);
  }
  const nodes: GraphNode[] = [];
  /** old id -> new id */
  const map = new Int32Array(graph.nodes.length);
  /** known uniform values of new nodes (undefined: not computed yet; null: not a constant) */
  const known = new Map<NodeId, number | null>();
  const push = (n: Omit<GraphNode, "id">): NodeId => {
    const id = nodes.length;
    nodes.push({ ...n, id } as GraphNode);
    return id;
  };
  const round = (v: number, dtype: DType) => (dtype === "float32" ? Math.fround(v) : v);
  const constantOf = (id: NodeId): number | null => {
    const hit = known.get(id);
    if (hit !== undefined) return hit;
    const n = nodes[id]!;
    let v: number | null = null;
    if (n.op === "fill") v = (n.attrs as { value: number }).value;
    else if (n.op === "constant") {
      const vals = (n.attrs as { values: readonly number[] }).values;
      if (vals.length > 0 && vals.every((x) => Object.is(x, vals[0]))) v = vals[0]!;
    } else if (isOpName(n.op)) {
      const spec = opDef(n.op).elementwise;
      if (spec && n.inputs.length > 0) {
        const args: number[] = [];
        for (const i of n.inputs) {
          const a = constantOf(i);
          if (a === null) break;
          args.push(a);
        }
        if (args.length === n.inputs.length) v = round(spec.fn(...args), n.dtype);
      }
    }
    known.set(id, v);
    return v;
  };
  for (const n of graph.nodes) {
    const value = fixed.get(n.id);
    if (value !== undefined) {
      map[n.id] = push({
        op: "fill",
        inputs: [],
        attrs: { value, shape: [...n.shape], dtype: n.dtype },
        shape: n.shape,
        dtype: n.dtype,
        ...(n.name !== undefined ? { name: n.name } : {}),
      } as Omit<GraphNode, "id">);
      continue;
    }
    const inputs = n.inputs.map((i) => map[i]!);
    if (n.op === "where") {
      const cond = constantOf(inputs[0]!);
      if (cond !== null) {
        const chosen = cond !== 0 ? inputs[1]! : inputs[2]!;
        const c = nodes[chosen]!;
        if (shapesEqual(c.shape, n.shape) && c.dtype === n.dtype) {
          map[n.id] = chosen;
          continue;
        }
        const v = constantOf(chosen);
        const named = n.name !== undefined ? { name: n.name } : {};
        map[n.id] =
          v !== null
            ? push({
                op: "fill",
                inputs: [],
                attrs: { value: v, shape: [...n.shape], dtype: n.dtype },
                shape: n.shape,
                dtype: n.dtype,
                ...named,
              } as Omit<GraphNode, "id">)
            : push({
                op: "broadcastTo",
                inputs: [chosen],
                attrs: { shape: [...n.shape] },
                shape: n.shape,
                dtype: c.dtype,
                ...named,
              } as Omit<GraphNode, "id">);
        continue;
      }
    }
    map[n.id] = push({ ...n, inputs });
  }
  const specialised = produce(emptyGraph(), (d) => {
    (d as { nodes: readonly GraphNode[] }).nodes = nodes;
    d.inputs = nameTable(
      Object.entries(graph.inputs)
        .filter(([, id]) => !fixed.has(id))
        .map(([k, id]) => [k, map[id]!]),
    );
    (d as { params: Graph["params"] }).params = nameTable(
      Object.entries(graph.params).map(([k, p]): [string, ParamSpec] => [k, { ...p, node: map[p.node]! }]),
    );
    d.outputs = nameTable(Object.entries(graph.outputs).map(([k, id]) => [k, map[id]!]));
  });
  return pruneGraph(specialised);
}
