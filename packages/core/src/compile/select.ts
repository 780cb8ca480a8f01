/**
 * Pass 1, select: the outputs to compute and every node they need, in a topological order.
 * @module
 */
import { type Graph, GraphError, type NodeId } from "../graph.js";
import { topoOrder } from "../topo.js";
import type { PlanRequest, SelectedForm } from "./form.js";

/** The nodes of the named outputs; a name the graph does not have is a GraphError listing the outputs. */
export function resolveOutputs(graph: Graph, names: readonly string[]): NodeId[] {
  return names.map((n) => {
    if (!Object.hasOwn(graph.outputs, n)) {
      throw new GraphError(
        `no output named '${n}' (outputs: ${Object.keys(graph.outputs).join(", ") || "none"})`,
      );
    }
    return graph.outputs[n]!;
  });
}

/** Selects the outputs (default: all of the graph's) and orders the nodes they need. */
export function selectOutputs(req: PlanRequest): SelectedForm {
  const { graph, options } = req;
  const outNames = options.outputs ?? Object.keys(graph.outputs);
  const outIds = resolveOutputs(graph, outNames);
  // iterative, so 1M-node chains do not overflow the stack
  const order = topoOrder(graph, outIds);
  const isOutput = new Uint8Array(graph.nodes.length);
  for (const id of outIds) isOutput[id] = 1;
  return { ...req, outNames, outIds, order, isOutput };
}
