/**
 * Pass 4, fold constants: marks the nodes computed once when the plan is built (constants, fills
 * and everything computed only from them). `lower` evaluates them; they never run again.
 * @module
 */
import type { ConcreteForm, FoldedForm } from "./form.js";
import { KIND_CODE } from "./select.js";

/** Marks `static` ops, and every non-source op whose inputs are all folded. */
export function foldConstants(form: ConcreteForm): FoldedForm {
  const { graph, order, opKind } = form;
  const nodes = graph.nodes;
  const folded = new Uint8Array(nodes.length);
  let foldedCount = 0;
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    const n = nodes[id]!;
    const kind = opKind[id];
    const isStatic = kind === KIND_CODE.static;
    let all = isStatic || (kind !== KIND_CODE.source && n.inputs.length > 0);
    for (let k = 0; all && !isStatic && k < n.inputs.length; k++) all = folded[n.inputs[k]!] === 1;
    if (all) {
      folded[id] = 1;
      foldedCount++;
    }
  }
  return { ...form, folded, foldedCount };
}
