/**
 * The graph IR: plain, immutable, serialisable data.
 *
 * A graph is a list of nodes in topological order (every node's inputs have smaller ids), plus
 * name tables for inputs, params and outputs. Graphs are frozen; transforms return new graphs
 * made with immer's `produce`, sharing every untouched node with the original.
 *
 * The name tables are objects without a prototype, so any string is a valid name, including
 * `__proto__`, `constructor` or `toString`; look names up with `Object.hasOwn` (as every function
 * of this package does), never with `in` or a bare `table[name]` truth test.
 * @module
 */
import type { DType } from "./dtype.js";
import type { Init } from "./init.js";
import { nameTable } from "./names.js";
import type { AnyOpName, NodeAttrs } from "./ops/index.js";
import type { ConcreteShape, Shape } from "./shape.js";

/** Identifier of a node: its index in {@link Graph.nodes}. */
export type NodeId = number;

/**
 * One node of the graph. Its op is a built-in op (an `OpName`) or a user op registered with
 * `defineOp` (a `CustomOpName`); tell them apart with `isOpName` before indexing a table typed
 * over the built-in ops.
 */
export interface GraphNode<K extends AnyOpName = AnyOpName> {
  /** Index in the graph's node list. */
  readonly id: NodeId;
  /** Op name: a key of the built-in op table, or a registered user op's name. */
  readonly op: K;
  /** Ids of the input nodes, in order. */
  readonly inputs: readonly NodeId[];
  /** Op attributes (JSON-serialisable). */
  readonly attrs: NodeAttrs<K>;
  /** Output shape (possibly symbolic). */
  readonly shape: Shape;
  /** Output dtype. */
  readonly dtype: DType;
  /** Optional user-given name (shown in errors, printouts and DOT). */
  readonly name?: string;
}

/** A trainable parameter's declaration. */
export interface ParamSpec {
  /** The `param` node. */
  readonly node: NodeId;
  /** Concrete shape. */
  readonly shape: ConcreteShape;
  /** Element type. */
  readonly dtype: DType;
  /** How to initialise it. */
  readonly init: Init;
}

/** Format tag written into serialised graphs. */
export const GRAPH_FORMAT = "gradgraph.graph";
/**
 * Version of the serialised graph format that {@link graphToJSON} writes. Version 2 added the
 * string encoding of non-finite numbers (`"NaN"`, `"Infinity"`, `"-Infinity"`, and `"-0"`);
 * `parseGraph` reads versions 1 and 2.
 */
export const GRAPH_VERSION = 2;

/** An immutable computation graph. */
export interface Graph {
  /** Format tag, always {@link GRAPH_FORMAT}. */
  readonly format: typeof GRAPH_FORMAT;
  /** Format version. */
  readonly version: typeof GRAPH_VERSION;
  /** Nodes in topological order; `nodes[i].id === i`. */
  readonly nodes: readonly GraphNode[];
  /** Input name -> `input` node (a prototype-less object: use `Object.hasOwn` to test a name). */
  readonly inputs: Readonly<Record<string, NodeId>>;
  /** Param name -> declaration, in declaration order (prototype-less, like `inputs`). */
  readonly params: Readonly<Record<string, ParamSpec>>;
  /** Output name -> node (prototype-less, like `inputs`). */
  readonly outputs: Readonly<Record<string, NodeId>>;
}

/**
 * Error raised for a malformed graph or a bad reference into one: an unknown node, output, input or
 * param name, an unknown op, a value from another builder, a builder used after `build()`, or graph
 * JSON that does not parse into a consistent graph.
 *
 * @example
 * ```ts
 * import { GraphBuilder, GraphError } from "@gradgraph/core";
 *
 * const g = new GraphBuilder();
 * g.output("y", g.input("x", [2]).exp());
 * g.build();
 * try {
 *   g.input("z", [2]);
 * } catch (e) {
 *   if (e instanceof GraphError) console.log(e.message);
 *   // this builder has already built its graph; start a new one
 * }
 * ```
 */
export class GraphError extends Error {
  override name = "GraphError";
}

/** An empty graph (its name tables are empty prototype-less objects). */
export function emptyGraph(): Graph {
  return Object.freeze({
    format: GRAPH_FORMAT,
    version: GRAPH_VERSION,
    nodes: Object.freeze([]) as readonly GraphNode[],
    inputs: Object.freeze(nameTable<NodeId>()),
    params: Object.freeze(nameTable<ParamSpec>()),
    outputs: Object.freeze(nameTable<NodeId>()),
  });
}

/** Describes a node for messages: `#12 matmul 'hidden'`. */
export function describeNode(node: GraphNode): string {
  return `#${node.id} ${node.op}${node.name ? ` '${node.name}'` : ""}`;
}

/**
 * Resolves a node reference: a node id, or the name of an output, input or param (in that order).
 * Throws a GraphError listing the known names when nothing matches.
 */
export function resolveNode(graph: Graph, ref: NodeId | string): NodeId {
  if (typeof ref === "number") {
    if (!Number.isInteger(ref) || ref < 0 || ref >= graph.nodes.length) {
      throw new GraphError(`no node #${ref} (graph has ${graph.nodes.length} nodes)`);
    }
    return ref;
  }
  if (Object.hasOwn(graph.outputs, ref)) return graph.outputs[ref]!;
  if (Object.hasOwn(graph.inputs, ref)) return graph.inputs[ref]!;
  if (Object.hasOwn(graph.params, ref)) return graph.params[ref]!.node;
  throw new GraphError(
    `no output, input or param named '${ref}' (outputs: ${Object.keys(graph.outputs).join(", ") || "none"}; inputs: ${
      Object.keys(graph.inputs).join(", ") || "none"
    }; params: ${Object.keys(graph.params).join(", ") || "none"})`,
  );
}
