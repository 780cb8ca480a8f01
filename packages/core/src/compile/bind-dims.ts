/**
 * Pass 2, bind dims: finds the inputs the outputs need, checks each given input shape against
 * its declaration and binds the symbolic dims (`N` in `[N, 784]`) to numbers.
 * @module
 */
import { nameTable, ownValue } from "../names.js";
import type { Shape } from "../shape.js";
import { shapeToString } from "../shape.js";
import { FeedError } from "./errors.js";
import { bindShape, unknownFeed } from "./feeds.js";
import type { BoundForm, SelectedForm } from "./form.js";

/**
 * Binds the symbolic dims from the input shapes. A needed input without a shape, a shape that
 * contradicts its declaration or another input, and a name the graph does not declare are
 * FeedErrors; shapes of declared inputs the outputs do not use only bind dims left free.
 */
export function bindDims(form: SelectedForm): BoundForm {
  const { graph, order, inputShapes } = form;
  const nodes = graph.nodes;
  const dims = new Map<string, number>();
  const inputNames: string[] = [];
  const inputDecl = nameTable<Shape>();
  for (let p = 0; p < order.length; p++) {
    const node = nodes[order[p]!]!;
    if (node.op !== "input") continue;
    const name = (node.attrs as { name: string }).name;
    inputNames.push(name);
    inputDecl[name] = node.shape;
    const given = ownValue(inputShapes, name);
    if (!given) {
      throw new FeedError(
        `missing feed for input '${name}' (expected ${node.dtype} ${shapeToString(node.shape)})`,
      );
    }
    bindShape(name, node.shape, given, dims);
  }
  for (const name of Object.keys(inputShapes)) {
    if (!Object.hasOwn(graph.inputs, name)) throw unknownFeed(name, graph.inputs);
  }
  bindFromUnusedInputs(form, inputDecl, dims);
  return { ...form, inputNames, inputDecl, dims };
}

/**
 * A symbolic dim the needed inputs leave unbound takes its value from a fed input the outputs do
 * not use: the gradient of `sum(x)` with respect to `x` is `broadcastTo(1, [N, 3])`, which needs
 * `N` from `x` without reading `x`. Such inputs bind only dims that are still free (their shapes
 * are otherwise ignored, and a shape contradicting its declaration binds nothing).
 */
function bindFromUnusedInputs(
  form: SelectedForm,
  used: Record<string, Shape>,
  dims: Map<string, number>,
): void {
  const { graph, inputShapes } = form;
  for (const name of Object.keys(inputShapes)) {
    if (Object.hasOwn(used, name) || !Object.hasOwn(graph.inputs, name)) continue;
    const declared = graph.nodes[graph.inputs[name]!]!.shape;
    const own = new Map<string, number>();
    try {
      bindShape(name, declared, inputShapes[name]!, own);
    } catch {
      continue;
    }
    for (const [d, v] of own) if (!dims.has(d)) dims.set(d, v);
  }
}
