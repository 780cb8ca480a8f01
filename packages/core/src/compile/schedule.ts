/**
 * Pass 6, schedule + liveness: one step per node that is not fused away, in topological order,
 * each with what it reads and the index of the last step that reads its value (when its buffer
 * can be reused). Linear in the number of needed nodes and edges.
 * @module
 */
import type { FusedForm, ScheduledForm, Step, StepKind } from "./form.js";
import { KIND_CODE } from "./select.js";

/** Builds the steps and the live range of every value. */
export function schedule(form: FusedForm): ScheduledForm {
  const { graph, order, fusedInto, groups, products, folded, isOutput, opKind } = form;
  const nodes = graph.nodes;
  // the step that computes each node: its own, or its group root's (consumers come later in the
  // order, so walking it backwards finds a consumer's root before the node's)
  const stepOf = new Int32Array(nodes.length);
  const rootOf = new Int32Array(nodes.length);
  for (let p = order.length - 1; p >= 0; p--) {
    const id = order[p]!;
    const into = fusedInto[id]!;
    rootOf[id] = into === -1 ? id : rootOf[into]!;
  }
  let count = 0;
  for (let p = 0; p < order.length; p++) if (fusedInto[order[p]!] === -1) stepOf[order[p]!] = count++;
  // last use of each value: the latest step among its consumers' (roots')
  const last = new Float64Array(nodes.length).fill(-1);
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    const at = stepOf[rootOf[id]!]!;
    const inputs = nodes[id]!.inputs;
    for (let k = 0; k < inputs.length; k++) if (at > last[inputs[k]!]!) last[inputs[k]!] = at;
  }
  const steps: Step[] = [];
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    if (fusedInto[id] !== -1) continue;
    const node = nodes[id]!;
    const index = steps.length;
    const output = isOutput[id] === 1;
    const kind = opKind[id];
    let stepKind: StepKind;
    if (kind === KIND_CODE.source) stepKind = node.op === "input" ? "input" : "param";
    else if (folded[id]) stepKind = "folded";
    // an alias shares its input's storage, unless it is an output (which keeps its own buffer)
    else if (kind === KIND_CODE.alias && !output) stepKind = "alias";
    else stepKind = "kernel";
    const group = groups.get(id) ?? null;
    const product = products.get(id);
    steps.push({
      index,
      node: id,
      kind: stepKind,
      group,
      reads: group ? group.leaves : product !== undefined ? nodes[product]!.inputs : node.inputs,
      output,
      last: output ? Number.POSITIVE_INFINITY : last[id]! < 0 ? index : last[id]!,
    });
  }
  return { ...form, steps };
}
