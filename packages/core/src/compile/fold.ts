/**
 * Pass 4, fold constants: marks the nodes computed once when the plan is built (constants, fills
 * and everything computed only from them). `lower` evaluates them; they never run again.
 * @module
 */
import { opDef } from "../ops/index.js";
import type { ConcreteForm, FoldedForm } from "./form.js";

/** Marks `static` ops, and every non-source op whose inputs are all folded. */
export function foldConstants(form: ConcreteForm): FoldedForm {
  const { graph, order } = form;
  const nodes = graph.nodes;
  const folded = new Uint8Array(nodes.length);
  let foldedCount = 0;
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    const n = nodes[id]!;
    const kind = opDef(n.op).kind;
    let all = kind === "static" || (kind !== "source" && n.inputs.length > 0);
    for (let k = 0; all && kind !== "static" && k < n.inputs.length; k++) all = folded[n.inputs[k]!] === 1;
    if (all) {
      folded[id] = 1;
      foldedCount++;
    }
  }
  return { ...form, folded, foldedCount };
}
