/**
 * Pass 1, select: the outputs to compute and every node they need, in a topological order, with
 * the facts the later passes need about each node's op (looked up once per op, not per node).
 * @module
 */
import { type Graph, GraphError, type NodeId } from "../graph.js";
import { opDef } from "../ops/index.js";
import type { OpKind } from "../ops/types.js";
import { topoOrder } from "../topo.js";
import type { PlanRequest, SelectedForm } from "./form.js";

/** Codes of {@link OpKind} in {@link SelectedForm.opKind}. */
export const KIND_CODE: Readonly<Record<OpKind, number>> = { kernel: 0, source: 1, alias: 2, static: 3 };

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
  const order = req.order ?? topoOrder(graph, outIds);
  const n = graph.nodes.length;
  const isOutput = new Uint8Array(n);
  for (const id of outIds) isOutput[id] = 1;
  const opKind = new Uint8Array(n);
  const elementwise = new Uint8Array(n);
  const facts = new Map<string, number>();
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    const op = graph.nodes[id]!.op;
    let f = facts.get(op);
    if (f === undefined) {
      const def = opDef(op);
      f = KIND_CODE[def.kind] | (def.elementwise ? 4 : 0);
      facts.set(op, f);
    }
    opKind[id] = f & 3;
    elementwise[id] = f >> 2;
  }
  return { ...req, outNames, outIds, order, isOutput, opKind, elementwise };
}
