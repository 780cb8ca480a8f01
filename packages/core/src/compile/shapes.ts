/**
 * Pass 3, concretise shapes: every needed node's shape with its symbolic dims replaced by their
 * values, and its element count.
 * @module
 */
import { describeNode } from "../graph.js";
import { type ConcreteShape, ShapeError } from "../shape.js";
import type { BoundForm, ConcreteForm } from "./form.js";

/** Resolves every needed node's shape; a symbolic dim no fed input binds is a ShapeError naming the node. */
export function concretiseShapes(form: BoundForm): ConcreteForm {
  const { graph, order, dims } = form;
  const nodes = graph.nodes;
  const shapes: ConcreteShape[] = new Array(nodes.length);
  const sizes = new Float64Array(nodes.length);
  for (let p = 0; p < order.length; p++) {
    const id = order[p]!;
    const node = nodes[id]!;
    const declared = node.shape;
    let concrete = true;
    for (let i = 0; i < declared.length; i++) if (typeof declared[i] !== "number") concrete = false;
    // a shape without symbols is used as it is (graphs are frozen): big graphs need no copies
    const shape: ConcreteShape = concrete
      ? (declared as ConcreteShape)
      : declared.map((d) => {
          if (typeof d === "number") return d;
          const v = dims.get(d);
          if (v === undefined) {
            const declaring = Object.keys(form.graph.inputs).filter((name) =>
              form.graph.nodes[form.graph.inputs[name]!]!.shape.includes(d),
            );
            throw new ShapeError(
              `node ${describeNode(node)}: symbolic dim '${d}' is not bound by any fed input` +
                (declaring.length ? ` (feed one of: ${declaring.join(", ")})` : ""),
            );
          }
          return v;
        });
    shapes[id] = shape;
    let size = 1;
    for (let i = 0; i < shape.length; i++) size *= shape[i]!;
    sizes[id] = size;
  }
  return { ...form, shapes, sizes };
}
