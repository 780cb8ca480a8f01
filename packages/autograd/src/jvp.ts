/**
 * Forward-mode autodiff as a pure graph-to-graph transform.
 * @module
 */
import {
  ancestors,
  dependents,
  describeNode,
  type Graph,
  GraphBuilder,
  GraphError,
  type GraphNode,
  isConcrete,
  isCustomOpName,
  isOpName,
  type NodeId,
  type OpName,
  resolveNode,
  shapesEqual,
  shapeToString,
  tryBroadcastShapes,
  type Value,
} from "@gradgraph/core";
import { JVP, jvpRuleOf } from "./jvp/table.js";
import type { JvpFn, JvpRules } from "./jvp/types.js";

/**
 * Names of the tangent inputs of {@link jvp}: one per `wrt` entry, either as a list in `wrt`'s
 * order (an `undefined` entry takes the default name) or as a record keyed by the `wrt` name.
 */
export type TangentNames = readonly (string | undefined)[] | Readonly<Record<string, string>>;

/** Options of {@link jvp}. */
export interface JvpOptions {
  /**
   * The tangent input of each `wrt` entry: the name of an existing input of the `wrt`'s shape
   * and dtype (used as is), or of a new input to create. Entries not given get a new input named
   * `<tangentPrefix><name>`.
   */
  tangents?: TangentNames;
  /** Prefix of the tangent inputs created by default (default `"tangent:"`, giving e.g. `tangent:x`). */
  tangentPrefix?: string;
  /** Prefix of the directional-derivative outputs (default `"jvp:"`, giving e.g. `jvp:loss`). */
  prefix?: string;
  /**
   * JVP rules to use instead of the ops' own, by op name (custom derivatives, experiments, or
   * testing that the consistency checks catch a wrong rule): a built-in op's name, or a user op's
   * (`{ [softplus.name]: rule }`). See {@link JvpRules}.
   */
  rules?: JvpRules;
}

/** The output name {@link jvp} gives the directional derivative of `of` (default prefix `jvp:`). */
export function jvpName(of: string, prefix = "jvp:"): string {
  return `${prefix}${of}`;
}

/** The input name {@link jvp} creates for the tangent of `wrt` (default prefix `tangent:`). */
export function tangentName(wrt: string, prefix = "tangent:"): string {
  return `${prefix}${wrt}`;
}

/**
 * How `grad` and `jvp` name a reference in their outputs: the name itself, or for a node id the
 * input's or param's name, or `#<id>`.
 * @internal
 */
export function refName(graph: Graph, ref: NodeId | string): string {
  if (typeof ref === "string") return ref;
  const node = graph.nodes[ref];
  if (!node) return `#${ref}`;
  const attrs = node.attrs as { name?: string };
  return node.op === "input" || node.op === "param" ? attrs.name! : `#${ref}`;
}

/**
 * A single reference or a list of them, as a list.
 * @internal
 */
export function refList<T>(refs: T | readonly T[]): readonly T[] {
  return Array.isArray(refs) ? (refs as readonly T[]) : [refs as T];
}

/**
 * Where a tangent input comes from: an explicit name (may exist), or a default name (must not).
 * @internal
 */
export interface TangentSource {
  /** The input's name. */
  readonly name: string;
  /** True when the user named it (an existing input of that name is then used). */
  readonly explicit: boolean;
}

/**
 * What {@link pushForward} needs besides the graph and the references.
 * @internal
 */
export interface PushForwardConfig {
  /** Output name of each `of` entry. */
  readonly outputs: readonly string[];
  /** Tangent input of each `wrt` entry. */
  readonly tangents: readonly TangentSource[];
  /** Rule overrides. */
  readonly rules?: JvpRules;
  /** Function name used in error messages (`jvp`, `hvp`, ...). */
  readonly who: string;
}

/**
 * The tangent input names of `wrt` from {@link JvpOptions}: explicit where given, else
 * `<tangentPrefix><name>`.
 * @internal
 */
export function tangentSources(
  graph: Graph,
  wrt: readonly (NodeId | string)[],
  tangents: TangentNames | undefined,
  prefix: string,
): TangentSource[] {
  return wrt.map((w, k) => {
    const name = refName(graph, w);
    const given = Array.isArray(tangents)
      ? (tangents as readonly (string | undefined)[])[k]
      : tangents && Object.hasOwn(tangents, name)
        ? (tangents as Readonly<Record<string, string>>)[name]
        : undefined;
    return given !== undefined
      ? { name: given, explicit: true }
      : { name: tangentName(name, prefix), explicit: false };
  });
}

/**
 * Appends the forward-mode tangents of `of` with respect to `wrt` to `graph` (see {@link jvp});
 * the engine shared by `jvp`, `hvp` and the numeric helpers.
 * @internal
 */
export function pushForward(
  graph: Graph,
  of: readonly (NodeId | string)[],
  wrt: readonly (NodeId | string)[],
  config: PushForwardConfig,
): Graph {
  const { who } = config;
  if (of.length === 0) throw new GraphError(`${who}: 'of' is empty; name at least one output or node`);
  const ofIds = of.map((o) => resolveNode(graph, o));
  const wrtIds = wrt.map((w) => resolveNode(graph, w));
  wrtIds.forEach((id, k) => {
    const first = wrtIds.indexOf(id);
    if (first !== k) {
      throw new GraphError(
        `${who}: ${describeNode(graph.nodes[id]!)} appears twice in 'wrt' (entries ${first} and ${k})`,
      );
    }
  });
  const seen = new Set<string>();
  for (const n of config.outputs) {
    if (Object.hasOwn(graph.outputs, n) || seen.has(n)) {
      throw new GraphError(
        `${who}: the graph already has an output '${n}'${seen.has(n) ? " (the same 'of' twice?)" : ""}; pass a different 'prefix'`,
      );
    }
    seen.add(n);
  }
  const dtype = graph.nodes[ofIds[0]!]!.dtype;
  const b = GraphBuilder.extend(graph, { dtype });

  // tangent inputs
  const usedNames = new Set<string>();
  const seeds: Value[] = wrtIds.map((id, k) => {
    const node = graph.nodes[id]!;
    const { name, explicit } = config.tangents[k]!;
    if (usedNames.has(name)) {
      throw new GraphError(`${who}: two 'wrt' entries would share the tangent input '${name}'`);
    }
    usedNames.add(name);
    if (Object.hasOwn(graph.params, name)) {
      throw new GraphError(
        `${who}: tangent input '${name}' (for ${describeNode(node)}) is the name of a param`,
      );
    }
    if (Object.hasOwn(graph.inputs, name)) {
      if (!explicit) {
        throw new GraphError(
          `${who}: the graph already has an input '${name}' (from an earlier jvp?); pass options.tangents to use it, or a different 'tangentPrefix'`,
        );
      }
      const v = b.ref(graph.inputs[name]!);
      if (!shapesEqual(v.shape, node.shape) || v.dtype !== node.dtype) {
        throw new GraphError(
          `${who}: tangent input '${name}' is ${v.dtype} ${shapeToString(v.shape)}, but ${describeNode(node)} is ${node.dtype} ${shapeToString(node.shape)}`,
        );
      }
      return v;
    }
    return b.input(name, node.shape, node.dtype);
  });

  // nodes on a path wrt -> of, in id (topological) order
  const down = dependents(graph, wrtIds);
  const up = ancestors(graph, ofIds);
  const last = ofIds.reduce((m, id) => Math.max(m, id), 0);
  const seedOf = new Map<NodeId, Value>();
  wrtIds.forEach((id, k) => {
    seedOf.set(id, seeds[k]!);
  });
  const tan = new Map<NodeId, Value>();
  for (let id = 0; id <= last; id++) {
    if (!down[id] || !up[id]) continue;
    const node = graph.nodes[id]!;
    let tv: Value | null = null;
    if (node.inputs.some((i) => tan.has(i))) tv = applyRule(b, node, tan, config.rules, who);
    // a wrt that is an intermediate node is perturbed on top of what flows into it
    const seed = seedOf.get(id);
    if (seed) tv = tv ? b.add(tv, seed) : seed;
    if (tv) tan.set(id, tv);
  }

  ofIds.forEach((id, k) => {
    const node = graph.nodes[id]!;
    let t = tan.get(id);
    if (!t) {
      // A symbolic shape is only known from the fed value, so the zeros must depend on it.
      t = isConcrete(node.shape) ? b.fill(0, node.shape, node.dtype) : b.where(0, b.ref(id), 0);
    }
    b.output(config.outputs[k]!, t);
  });
  return b.build();
}

/** Runs the JVP rule of `node` and brings its result to the node's shape. */
function applyRule(
  b: GraphBuilder,
  node: GraphNode,
  tan: ReadonlyMap<NodeId, Value>,
  rules: JvpRules | undefined,
  who: string,
): Value | null {
  const op = node.op;
  const override = rules && Object.hasOwn(rules, op) ? rules[op] : undefined;
  const rule = override ?? (isOpName(op) ? JVP[op] : jvpRuleOf(op));
  if (rule === "leaf" || rule === "zero") return null;
  if (typeof rule !== "function") {
    const why = isOpName(op)
      ? `got ${JSON.stringify(rule)}`
      : isCustomOpName(op)
        ? `user op '${op}' was defined without a 'jvp' rule; give defineOp one (or jvp: "zero")`
        : `'${op}' is neither a built-in op nor registered with defineOp`;
    throw new GraphError(`${who}: no JVP rule for ${describeNode(node)} (${why})`);
  }
  const y = b.ref(node.id);
  let r: Value | null;
  try {
    r = (rule as JvpFn<OpName>)({
      b,
      node: node as never,
      attrs: node.attrs as never,
      x: node.inputs.map((i) => b.ref(i)),
      y,
      t: node.inputs.map((i) => tan.get(i) ?? null),
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new GraphError(`${who}: the JVP rule of ${describeNode(node)} failed: ${msg}`, { cause: e });
  }
  if (!r || shapesEqual(r.shape, y.shape)) return r;
  const bs = tryBroadcastShapes(r.shape, y.shape);
  if (!bs || !shapesEqual(bs, y.shape) || r.dtype !== y.dtype) {
    throw new GraphError(
      `${who}: the JVP rule of ${describeNode(node)} returned ${r.dtype} ${shapeToString(r.shape)}, which does not broadcast to the output's ${y.dtype} ${shapeToString(y.shape)}`,
    );
  }
  return b.broadcastTo(r, y.shape);
}

/**
 * Forward mode: returns a new graph with one output per `of` entry, `jvp:<name>` (see
 * {@link JvpOptions.prefix}), holding the directional derivative `J v`: how `of` changes when
 * every `wrt` entry moves along its tangent `v`. Each tangent is an input of the `wrt`'s shape
 * and dtype, `tangent:<name>` by default (see {@link JvpOptions.tangents}). `of` and `wrt` are
 * node ids or names of outputs, inputs or params. The original graph is not changed; the result
 * shares its nodes.
 *
 * Only nodes on a path from a `wrt` node to an `of` node are visited, in topological order, and
 * each rule's result is broadcast to its node's shape in one place. An `of` that does not depend
 * on any `wrt` gets zeros (of its symbolic shape too). A `wrt` that is an intermediate node is
 * perturbed on top of what flows into it, which makes `jvp` the exact transpose of `grad` for the
 * same `of` and `wrt`. Tangent nodes are ordinary nodes, so the result can be differentiated again
 * by `grad` or `jvp`, and `jvp` applies to `grad`'s output (forward-over-reverse, see `hvp`).
 * @example
 * const g = jvp(graph, "y", ["x"]); // new input tangent:x, new output jvp:y = (dy/dx) tangent:x
 * evaluate(g, { x, "tangent:x": v })["jvp:y"];
 */
export function jvp(
  graph: Graph,
  of: NodeId | string | readonly (NodeId | string)[],
  wrt: NodeId | string | readonly (NodeId | string)[],
  options: JvpOptions = {},
): Graph {
  const ofs = refList(of);
  const wrts = refList(wrt);
  const prefix = options.prefix ?? "jvp:";
  return pushForward(graph, ofs, wrts, {
    outputs: ofs.map((o) => jvpName(refName(graph, o), prefix)),
    tangents: tangentSources(graph, wrts, options.tangents, options.tangentPrefix ?? "tangent:"),
    rules: options.rules,
    who: "jvp",
  });
}
