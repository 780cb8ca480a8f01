/**
 * Reverse-mode autodiff as a pure graph-to-graph transform.
 * @module
 */
import {
  type AnyOpName,
  ancestors,
  broadcastAxes,
  dependents,
  describeNode,
  type Graph,
  GraphBuilder,
  GraphError,
  type GraphNode,
  isConcrete,
  isCustomOpName,
  type NodeId,
  resolveNode,
  type Shape,
  shapesEqual,
  shapeToString,
  tryBroadcastShapes,
  Value,
} from "@gradgraph/core";
import { vjpRuleOf } from "./vjp/table.js";
import type { VjpFn, VjpRule, VjpRules } from "./vjp/types.js";

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
   * VJP rules to use instead of the ops' own, by op name (for experiments, custom derivatives,
   * or testing that {@link gradcheck} catches a wrong rule): a built-in op's name, or a user op's
   * (`{ [softplus.name]: rule }`), whose `defineOp` rule is then not used. See {@link VjpRules}.
   */
  rules?: VjpRules;
}

/** The output name `grad` gives the gradient with respect to `wrt` (default prefix `grad:`). */
export function gradName(wrt: string, prefix = "grad:"): string {
  return `${prefix}${wrt}`;
}

function isScalarShape(shape: Shape): boolean {
  return shape.every((d) => d === 1);
}

/**
 * The VJP entry of `node`: an override from `rules` (built-in or user op), the built-in table's,
 * or the user op's own;
 * a GraphError naming the node when there is none.
 */
function lookupRule(node: GraphNode, rules: VjpRules | undefined): VjpRule<AnyOpName> {
  const op = node.op;
  const override = rules && Object.hasOwn(rules, op) ? rules[op] : undefined;
  const rule = override ?? vjpRuleOf(op);
  if (rule === "leaf" || rule === "zero" || typeof rule === "function") return rule as VjpRule<AnyOpName>;
  if (rule !== undefined) {
    throw new GraphError(
      `grad: the VJP rule of ${describeNode(node)} is not a function (got ${String(rule)})`,
    );
  }
  if (isCustomOpName(op)) {
    throw new GraphError(
      `grad: no VJP rule for ${describeNode(node)}: user op '${op}' was defined without 'vjp'; give defineOp a vjp rule (or vjp: "zero" for a gradient that is zero everywhere)`,
    );
  }
  throw new GraphError(
    `grad: no VJP rule for ${describeNode(node)}: '${op}' is neither a built-in op nor registered with defineOp (define it before differentiating)`,
  );
}

/** Checks what a rule returned: one entry per input, each null or a value that reduces to its input. */
function checkGrads(
  b: GraphBuilder,
  node: GraphNode,
  x: readonly Value[],
  grads: readonly (Value | null)[],
): void {
  if (!Array.isArray(grads) || grads.length !== x.length) {
    throw new GraphError(
      `grad: the VJP rule of ${describeNode(node)} must return ${x.length} gradient${x.length === 1 ? "" : "s"} (or nulls), one per input; got ${Array.isArray(grads) ? grads.length : String(grads)}`,
    );
  }
  grads.forEach((gk, k) => {
    if (gk === null || gk === undefined) return;
    const xk = x[k]!;
    const bs = gk instanceof Value && gk.builder === b ? tryBroadcastShapes(xk.shape, gk.shape) : null;
    if (!bs || !shapesEqual(bs, gk.shape) || gk.dtype !== xk.dtype) {
      const got = gk instanceof Value ? `${gk.dtype} ${shapeToString(gk.shape)}` : String(gk);
      throw new GraphError(
        `grad: the VJP rule of ${describeNode(node)} returned ${gk instanceof Value && gk.builder !== b ? "a value of another builder" : got} for input ${k}, which is ${xk.dtype} ${shapeToString(xk.shape)}`,
      );
    }
  });
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
    const rule = lookupRule(node, options.rules);
    if (rule === "leaf" || rule === "zero") continue;
    const needs = node.inputs.map((i) => onPath[i] === 1);
    if (!needs.some(Boolean)) continue;
    const x = node.inputs.map((i) => b.ref(i));
    let grads: readonly (Value | null)[];
    try {
      grads = (rule as VjpFn<AnyOpName>)({
        b,
        node,
        attrs: node.attrs,
        x,
        y: b.ref(id),
        g,
        needs,
      });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new GraphError(`grad: the VJP rule of ${describeNode(node)} failed: ${msg}`, { cause: e });
    }
    checkGrads(b, node, x, grads);
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
