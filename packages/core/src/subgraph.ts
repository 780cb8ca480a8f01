/**
 * Graphs as functions: {@link traceGraph} records what a builder function computes as a small
 * self-contained graph, and {@link inlineGraph} replays such a graph into another builder on
 * given values. `customGradient` stores its rules this way, so they serialise with the graph.
 * @module
 */
import { GraphBuilder, Value } from "./builder.js";
import type { DType } from "./dtype.js";
import { describeNode, type Graph, GraphError, type GraphNode } from "./graph.js";
import type { Shape } from "./shape.js";

/** An input of a traced graph: its name, shape and dtype. */
export interface TraceInput {
  /** Input name in the traced graph. */
  readonly name: string;
  /** Shape (symbolic dims allowed). */
  readonly shape: Shape;
  /** Element type. */
  readonly dtype: DType;
}

/**
 * Records `fn` as a graph: a fresh builder with one input per `inputs` entry, `fn` called on them,
 * and an output per non-null entry of the record it returns. The traced graph may not declare
 * params, and `fn` may not use values of another builder (a GraphError says how to fix either).
 * @param who - names the caller in error messages
 */
export function traceGraph(
  inputs: readonly TraceInput[],
  fn: (b: GraphBuilder, values: readonly Value[]) => Readonly<Record<string, Value | null | undefined>>,
  who = "traceGraph",
): Graph {
  const dtype = inputs[0]?.dtype ?? "float32";
  const b = new GraphBuilder({ dtype });
  const values = inputs.map((i) => b.input(i.name, i.shape, i.dtype));
  let outs: Readonly<Record<string, Value | null | undefined>>;
  try {
    outs = fn(b, values);
  } catch (e) {
    if (e instanceof GraphError && /different builder/.test(e.message)) {
      throw new GraphError(
        `${who}: the rule used a value from outside its arguments (${e.message}); pass it in as an input instead`,
        { cause: e },
      );
    }
    throw e;
  }
  for (const [name, v] of Object.entries(outs)) {
    if (v === null || v === undefined) continue;
    if (!(v instanceof Value)) throw new GraphError(`${who}: '${name}' is not a Value (got ${String(v)})`);
    if (v.builder !== b) {
      throw new GraphError(
        `${who}: '${name}' is a value from outside the rule's arguments; build it from them with the builder the rule is given`,
      );
    }
    b.output(name, v);
  }
  const g = b.build();
  const params = Object.keys(g.params);
  if (params.length) {
    throw new GraphError(
      `${who}: the rule declared params (${params.join(", ")}); pass them in as inputs instead`,
    );
  }
  return g;
}

/** Options of {@link inlineGraph}. */
export interface InlineOptions {
  /**
   * The dtype of the graph's constants and fills (default: the first input value's). A graph
   * traced in float32 can so be replayed on float64 values, e.g. after `castGraph`.
   */
  readonly dtype?: DType;
}

/**
 * Replays the nodes of `graph` into builder `b`: each `input` node is replaced by
 * `inputs[name]`, every other node is made again with `b` (so shapes are re-inferred for the
 * given values), and the outputs are returned by name. The graph may not hold params.
 */
export function inlineGraph(
  b: GraphBuilder,
  graph: Graph,
  inputs: Readonly<Record<string, Value>>,
  options: InlineOptions = {},
): Record<string, Value> {
  const first = Object.values(inputs)[0];
  const dtype = options.dtype ?? first?.dtype ?? b.dtype;
  const values: Value[] = [];
  const needed = new Uint8Array(graph.nodes.length);
  for (const id of Object.values(graph.outputs)) needed[id] = 1;
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    if (needed[i]) for (const j of graph.nodes[i]!.inputs) needed[j] = 1;
  }
  for (const node of graph.nodes as readonly GraphNode[]) {
    if (!needed[node.id]) continue;
    const attrs = node.attrs as Record<string, unknown>;
    let v: Value;
    if (node.op === "input") {
      const name = attrs.name as string;
      if (!Object.hasOwn(inputs, name)) {
        throw new GraphError(`inlineGraph: no value given for input '${name}' (${describeNode(node)})`);
      }
      v = inputs[name]!;
    } else if (node.op === "param") {
      throw new GraphError(`inlineGraph: ${describeNode(node)} is a param; inlined graphs take inputs only`);
    } else if (node.op === "fill" && node.shape.length === 0) {
      v = b.scalar(attrs.value as number, dtype);
    } else {
      const a = node.op === "fill" || node.op === "constant" ? { ...attrs, dtype } : attrs;
      v = b.op(
        node.op,
        node.inputs.map((i) => values[i]!),
        a,
      );
    }
    values[node.id] = v;
  }
  const out: Record<string, Value> = {};
  for (const [name, id] of Object.entries(graph.outputs)) {
    Object.defineProperty(out, name, {
      value: values[id]!,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
