/**
 * Reverse-mode autodiff as a pure graph-to-graph transform.
 * @module
 */
import {
  ancestors,
  broadcastAxes,
  dependents,
  describeNode,
  type Graph,
  GraphBuilder,
  GraphError,
  isConcrete,
  type NodeId,
  resolveNode,
  type Shape,
  shapesEqual,
  shapeToString,
  type Value,
} from "@gradgraph/core";
import { VJP } from "./vjp/table.js";
import type { VjpFn, VjpTable } from "./vjp/types.js";

/** Options of {@link grad}. */
export interface GradOptions {
  /**
   * Name of the cotangent ("seed") for a non-scalar `of`: an existing input of `of`'s shape, or a
   * new input created under this name. Required when `of` is not a scalar.
   */
  seed?: string;
  /** Prefix of the gradient outputs' names (default `"grad:"`, giving e.g. `grad:W1`). */
  prefix?: string;
  /**
   * VJP rules to use instead of the built-in ones, by op name (for experiments, custom
   * derivatives, or testing that {@link gradcheck} catches a wrong rule).
   */
  rules?: Partial<VjpTable>;
}

/** The output name `grad` gives the gradient with respect to `wrt` (default prefix `grad:`). */
export function gradName(wrt: string, prefix = "grad:"): string {
  return `${prefix}${wrt}`;
}

function isScalarShape(shape: Shape): boolean {
  return shape.every((d) => d === 1);
}

/** Sums a gradient over the axes it was broadcast along, back to `shape`. One place for all ops. */
function unbroadcast(b: GraphBuilder, g: Value, shape: Shape): Value {
  if (shapesEqual(g.shape, shape)) return g;
  const axes = broadcastAxes(shape, g.shape);
  let r = g;
  if (axes.length) r = b.sum(g, axes, true);
  if (!shapesEqual(r.shape, shape)) r = b.reshape(r, shape);
  return r;
}

function refName(graph: Graph, ref: NodeId | string): string {
  if (typeof ref === "string") return ref;
  const node = graph.nodes[ref]!;
  const attrs = node.attrs as { name?: string };
  return node.op === "input" || node.op === "param" ? attrs.name! : `#${ref}`;
}

/**
 * Returns a new graph with one output per `wrt` entry: the gradient of `of` with respect to it,
 * named `grad:<name>` (see {@link GradOptions.prefix}). `of` and `wrt` are node ids or names of
 * outputs, inputs or params. The original graph is not changed; the result shares its nodes.
 *
 * Only nodes on a path from a `wrt` node to `of` are visited. Fan-out is accumulated (a node used
 * twice receives the sum of both gradients); broadcasting is undone centrally; a `wrt` that `of`
 * does not depend on gets a zero gradient. Because gradient nodes are ordinary nodes, `grad` can
 * be applied to its own result (second derivatives, Hessian-vector products).
 */
export function grad(
  graph: Graph,
  of: NodeId | string,
  wrt: readonly (NodeId | string)[],
  options: GradOptions = {},
): Graph {
  const prefix = options.prefix ?? "grad:";
  const ofId = resolveNode(graph, of);
  const ofNode = graph.nodes[ofId]!;
  const wrtIds = wrt.map((w) => resolveNode(graph, w));
  const names = wrt.map((w) => gradName(refName(graph, w), prefix));
  for (const n of names) {
    if (Object.hasOwn(graph.outputs, n)) {
      throw new GraphError(`grad: the graph already has an output '${n}'; pass a different 'prefix'`);
    }
  }
  const b = GraphBuilder.extend(graph, { dtype: ofNode.dtype });

  // seed
  let seed: Value;
  if (options.seed !== undefined) {
    if (Object.hasOwn(graph.inputs, options.seed)) {
      seed = b.ref(graph.inputs[options.seed]!);
      if (!shapesEqual(seed.shape, ofNode.shape)) {
        throw new GraphError(
          `grad: seed input '${options.seed}' has shape ${shapeToString(seed.shape)}, but ${describeNode(ofNode)} has ${shapeToString(ofNode.shape)}`,
        );
      }
    } else seed = b.input(options.seed, ofNode.shape, ofNode.dtype);
  } else {
    if (!isScalarShape(ofNode.shape)) {
      throw new GraphError(
        `grad: ${describeNode(ofNode)} has shape ${shapeToString(ofNode.shape)}, not a scalar; reduce it (e.g. sum) or pass options.seed to name its cotangent input`,
      );
    }
    seed = b.fill(1, ofNode.shape, ofNode.dtype);
  }

  // nodes on a path wrt -> of
  const down = dependents(graph, wrtIds);
  const up = ancestors(graph, [ofId]);
  const onPath = new Uint8Array(graph.nodes.length);
  for (let i = 0; i <= ofId; i++) onPath[i] = down[i]! & up[i]!;

  const cot = new Map<NodeId, Value>();
  if (onPath[ofId]) cot.set(ofId, seed);
  for (let id = ofId; id >= 0; id--) {
    const g = cot.get(id);
    if (!onPath[id] || !g) continue;
    const node = graph.nodes[id]!;
    const rule = options.rules?.[node.op] ?? VJP[node.op];
    if (rule === "leaf" || rule === "zero") continue;
    const needs = node.inputs.map((i) => onPath[i] === 1);
    if (!needs.some(Boolean)) continue;
    const x = node.inputs.map((i) => b.ref(i));
    const grads = (rule as VjpFn<typeof node.op>)({
      b,
      node: node as never,
      attrs: node.attrs as never,
      x,
      y: b.ref(id),
      g,
      needs,
    });
    node.inputs.forEach((inId, k) => {
      const gk = grads[k];
      if (!needs[k] || !gk) return;
      const contrib = unbroadcast(b, gk, x[k]!.shape);
      const prev = cot.get(inId);
      cot.set(inId, prev ? b.add(prev, contrib) : contrib);
    });
    // the cotangent of an intermediate is no longer needed unless it is a wrt target
    if (!wrtIds.includes(id)) cot.delete(id);
  }

  wrtIds.forEach((id, k) => {
    const node = graph.nodes[id]!;
    let g = cot.get(id);
    if (!g) {
      // A symbolic shape is only known from the fed value, so the zeros must depend on it.
      g = isConcrete(node.shape) ? b.fill(0, node.shape, node.dtype) : b.where(0, b.ref(id), 0);
    }
    b.output(names[k]!, g);
  });
  return b.build();
}

/**
 * Convenience for the common case: the gradient of scalar output `of` with respect to every
 * param of the graph (outputs `grad:<param>`).
 */
export function gradParams(graph: Graph, of: NodeId | string, options: GradOptions = {}): Graph {
  return grad(graph, of, Object.keys(graph.params), options);
}
