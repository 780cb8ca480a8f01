/**
 * Custom gradients per call, like `jax.custom_vjp` or `tf.customGrad`: {@link customGradient}
 * wraps a sub-graph built with ordinary ops and gives it a hand-written VJP rule (and optionally
 * a JVP rule).
 *
 * Representation. The forward sub-graph is made of ordinary nodes (so it compiles, fuses and
 * folds like the rest); a `customGradient` node sits on its output: the identity on the wrapped
 * value (it shares its buffer), whose other inputs are the values the rule differentiates with
 * respect to. The rule is traced once, when the node is made, into a small graph stored in the
 * node's attributes (`backward`, and `tangent` for a JVP rule). `grad` replays that graph where
 * the node's gradient is needed; nothing flows back through the wrapped sub-graph. Because the
 * rule is data, a graph holding a custom gradient serialises, prints and parses like any other
 * and can be differentiated after it is read back in another process, with nothing registered.
 * @module
 */
import { type GraphBuilder, Value, type ValueLike } from "./builder.js";
import { describeNode, GraphError, type NodeId } from "./graph.js";
import type { CustomGradientAttrs } from "./ops/customGradient.js";
import type { JvpRuleFn, VjpRuleFn } from "./ops/types.js";
import { isConcrete, shapesEqual, shapeToString, tryBroadcastShapes } from "./shape.js";
import { inlineGraph, traceGraph } from "./subgraph.js";

/** What a custom VJP rule receives (all on a fresh builder `b`, which the rule must build with). */
export interface CustomVjpArgs {
  /** Builder to emit the gradient with (ordinary ops, so the gradient is differentiable again). */
  readonly b: GraphBuilder;
  /** The wrapped inputs, in the order given to {@link customGradient}. */
  readonly x: readonly Value[];
  /** The sub-graph's output. */
  readonly y: Value;
  /** The cotangent of the output (`y`'s shape). */
  readonly g: Value;
}

/**
 * A custom VJP rule: one gradient per wrapped input, or `null` for none. A gradient may have any
 * shape its input broadcasts to; it is summed back to the input's shape.
 */
export type CustomVjp = (args: CustomVjpArgs) => readonly (Value | null)[];

/** What a custom JVP rule receives. */
export interface CustomJvpArgs {
  /** Builder to emit the tangent with. */
  readonly b: GraphBuilder;
  /** The wrapped inputs. */
  readonly x: readonly Value[];
  /** The sub-graph's output. */
  readonly y: Value;
  /** The tangent of each wrapped input (zeros where an input does not vary). */
  readonly t: readonly Value[];
}

/** A custom JVP rule: the tangent of the output (any shape that broadcasts to `y`'s). */
export type CustomJvp = (args: CustomJvpArgs) => Value;

/** Options of {@link customGradient}. */
export interface CustomGradientOptions {
  /** A label for printouts and error messages (and the node's name, unless `nodeName` is given). */
  readonly name?: string;
  /**
   * A JVP rule for forward mode. Without one, forward mode differentiates the wrapped sub-graph
   * itself (right when the VJP rule is the sub-graph's true derivative, e.g. a stabler formula).
   */
  readonly jvp?: CustomJvp;
  /** Name of the `customGradient` node (default: `name`, if given). */
  readonly nodeName?: string;
}

/** Whether node `id` (of `b`) depends on an input or param (constants and fills do not). */
function dependsOnSource(b: GraphBuilder, id: NodeId, memo: Map<NodeId, boolean>): boolean {
  const stack = [id];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (memo.has(top)) {
      stack.pop();
      continue;
    }
    const node = b.nodeOf(top);
    if (node.op === "input" || node.op === "param") {
      memo.set(top, true);
      stack.pop();
      continue;
    }
    const pending = node.inputs.filter((i) => !memo.has(i));
    if (pending.length) {
      stack.push(...pending);
      continue;
    }
    memo.set(
      top,
      node.inputs.some((i) => memo.get(i)),
    );
    stack.pop();
  }
  return memo.get(id)!;
}

/**
 * A value computed by `forward` from `inputs` whose gradient is given by `vjp` instead of by
 * differentiating `forward`. `forward` builds the sub-graph with ordinary ops on `b`; `vjp`
 * receives the inputs `x`, the output `y` and its cotangent `g` and returns one gradient per input
 * (or `null`), built with the builder it is given. Second derivatives differentiate the rule.
 *
 * The rule is traced when the node is made (so its shape errors appear here, not in `grad`), and
 * stored in the graph: see the module documentation. `forward` may use constants from outside but
 * no other input, param or value depending on one (their gradient would be lost silently), and
 * the rule may only use its arguments: pass anything else in `inputs` (a GraphError says so).
 * @example
 * // swish(x) = x * sigmoid(x), with its derivative written by hand
 * const y = customGradient(b, [x], (b, x) => b.mul(x, b.sigmoid(x)), ({ b, x, g }) => {
 *   const s = b.sigmoid(x[0]!);
 *   return [b.mul(g, b.mul(s, b.add(1, b.mul(x[0]!, b.sub(1, s)))))];
 * }, { name: "swish" });
 */
export function customGradient(
  b: GraphBuilder,
  inputs: readonly ValueLike[],
  forward: (b: GraphBuilder, ...x: Value[]) => Value,
  vjp: CustomVjp,
  options: CustomGradientOptions = {},
): Value {
  const label = options.name ?? "";
  const who = `customGradient${label ? ` '${label}'` : ""}`;
  if (inputs.length === 0) throw new GraphError(`${who}: needs at least one input`);
  const xs = inputs.map((v) => {
    if (typeof v === "number") return b.scalar(v);
    if (!(v instanceof Value) || v.builder !== b)
      throw new GraphError(`${who}: every input must be a number or a value of this builder`);
    return v;
  });
  const start = b.size;
  const y = forward(b, ...xs);
  if (!(y instanceof Value) || y.builder !== b) {
    throw new GraphError(`${who}: the forward function must return a value of the builder it is given`);
  }
  // the sub-graph may read its inputs and constants, nothing else that varies
  const allowed = new Set(xs.map((v) => v.id));
  const memo = new Map<NodeId, boolean>();
  const outside = (id: NodeId) => id < start && !allowed.has(id) && dependsOnSource(b, id, memo);
  if (outside(y.id)) {
    throw new GraphError(
      `${who}: the forward function returned ${describeNode(b.nodeOf(y.id))}, which is not computed from its inputs`,
    );
  }
  for (let id = start; id < b.size; id++) {
    const node = b.nodeOf(id);
    if (node.op === "input" || node.op === "param") {
      throw new GraphError(
        `${who}: the forward function declared ${describeNode(node)}; declare it outside and pass it in 'inputs'`,
      );
    }
    for (const i of node.inputs) {
      if (outside(i)) {
        throw new GraphError(
          `${who}: the forward function used ${describeNode(b.nodeOf(i))}, which is not one of its inputs; pass it in 'inputs' (its gradient then comes from the rule)`,
        );
      }
    }
  }

  const n = xs.length;
  const xInputs = xs.map((v, k) => ({ name: `x${k}`, shape: v.shape, dtype: v.dtype }));
  const backward = traceGraph(
    [
      ...xInputs,
      { name: "y", shape: y.shape, dtype: y.dtype },
      { name: "g", shape: y.shape, dtype: y.dtype },
    ],
    (tb, vals) => {
      const grads = vjp({ b: tb, x: vals.slice(0, n), y: vals[n]!, g: vals[n + 1]! });
      if (!Array.isArray(grads) || grads.length !== n) {
        throw new GraphError(
          `${who}: the VJP rule must return an array of ${n} gradient${n > 1 ? "s" : ""} (or nulls), got ${Array.isArray(grads) ? `${grads.length}` : String(grads)}`,
        );
      }
      const out: Record<string, Value | null> = {};
      grads.forEach((gk: Value | null | undefined, k: number) => {
        if (gk === null || gk === undefined) return;
        if (!(gk instanceof Value)) throw new GraphError(`${who}: gradient ${k} is not a Value`);
        const x = vals[k]!;
        const bs = tryBroadcastShapes(x.shape, gk.shape);
        if (!bs || !shapesEqual(bs, gk.shape) || gk.dtype !== x.dtype) {
          throw new GraphError(
            `${who}: the VJP rule returned a ${gk.dtype} ${shapeToString(gk.shape)} gradient for input ${k}, which is ${x.dtype} ${shapeToString(x.shape)}`,
          );
        }
        out[`grad${k}`] = gk;
      });
      return out;
    },
    who,
  );
  const jvpRule = options.jvp;
  const tangent = jvpRule
    ? traceGraph(
        [
          ...xInputs,
          { name: "y", shape: y.shape, dtype: y.dtype },
          ...xs.map((v, k) => ({ name: `t${k}`, shape: v.shape, dtype: v.dtype })),
        ],
        (tb, vals) => {
          const t = jvpRule({ b: tb, x: vals.slice(0, n), y: vals[n]!, t: vals.slice(n + 1) });
          const bs = t instanceof Value ? tryBroadcastShapes(t.shape, y.shape) : null;
          if (!(t instanceof Value) || !bs || !shapesEqual(bs, y.shape) || t.dtype !== y.dtype) {
            throw new GraphError(
              `${who}: the JVP rule must return a value that broadcasts to the output's ${y.dtype} ${shapeToString(y.shape)}`,
            );
          }
          return { t: shapesEqual(t.shape, y.shape) ? t : tb.broadcastTo(t, y.shape) };
        },
        who,
      )
    : null;
  const attrs: CustomGradientAttrs = { name: label, inputs: n, backward, tangent };
  return b.op("customGradient", [y, ...xs], attrs, options.nodeName ?? (label || undefined));
}

/**
 * The VJP of a `customGradient` node: its stored `backward` graph replayed on the node's inputs,
 * output and cotangent. No gradient flows into the wrapped sub-graph (input 0).
 */
export const customGradientVjp: VjpRuleFn<CustomGradientAttrs> = ({ b, attrs, x, y, g }) => {
  const ins: Record<string, Value> = { y, g };
  for (let k = 0; k < attrs.inputs; k++) ins[`x${k}`] = x[k + 1]!;
  const out = inlineGraph(b, attrs.backward, ins, { dtype: g.dtype });
  return [null, ...Array.from({ length: attrs.inputs }, (_, k) => out[`grad${k}`] ?? null)];
};

/**
 * The JVP of a `customGradient` node: its stored `tangent` graph replayed on the inputs' tangents
 * (zeros where `null`), or without one, the tangent of the wrapped sub-graph's output.
 */
export const customGradientJvp: JvpRuleFn<CustomGradientAttrs> = ({ b, attrs, x, y, t }) => {
  if (!attrs.tangent) return t[0] ?? null;
  const ts = t.slice(1);
  if (ts.every((v) => !v)) return null;
  const ins: Record<string, Value> = { y };
  for (let k = 0; k < attrs.inputs; k++) {
    const xk = x[k + 1]!;
    ins[`x${k}`] = xk;
    ins[`t${k}`] = ts[k] ?? (isConcrete(xk.shape) ? b.fill(0, xk.shape, xk.dtype) : b.where(0, xk, 0));
  }
  return inlineGraph(b, attrs.tangent, ins, { dtype: y.dtype }).t!;
};
