/**
 * JSON serialisation of graphs. Parsing re-validates everything: each node's op and attributes,
 * its inputs (which must come earlier), and its shape, which is re-inferred by the op's shape rule
 * and compared with the stored one. Errors name the node and what was wrong.
 *
 * The format (version {@link GRAPH_VERSION}): `{ format: "gradgraph.graph", version, nodes,
 * inputs, params, outputs }`, with `nodes[i] = { id: i, op, inputs, attrs, shape, dtype, name? }`,
 * `inputs`/`outputs` mapping names to node ids and `params` mapping names to
 * `{ node, shape, dtype, init }`.
 *
 * Numbers. Ids, dims, axes and other integer fields are JSON numbers. The float fields (a `fill`'s
 * `value`, a `constant`'s `values`, and every number of a param's `init`) are JSON numbers when
 * finite, and since version 2 the strings `"NaN"`, `"Infinity"`, `"-Infinity"` and `"-0"` for the
 * values JSON numbers cannot hold. A number literal that is not finite after parsing (such as
 * `1e400`) is an error, so the string is the only way to write a non-finite value. Version 1 files
 * (finite numbers only) are still read.
 *
 * Limits. Values nested more than {@link MAX_GRAPH_JSON_DEPTH} levels deep are rejected before
 * anything walks them recursively.
 *
 * User ops and custom gradients. A node of a user op (see `defineOp`) stores the op's name and its
 * attributes as plain JSON; the reader must have registered an op of that name (with the same
 * contract) before `parseGraph`, or parsing fails with a message naming the node and the op. The
 * attributes go through the registered op's validator and the shape is re-inferred by its shape
 * rule, as for a built-in op. A `customGradient` node stores its rule graphs (`backward`,
 * `tangent`) as nested graph objects, parsed and checked the same way, so a graph with custom
 * gradients needs nothing registered to be read back and differentiated.
 * @module
 */
import { produce } from "immer";
import { isDType } from "./dtype.js";
import {
  emptyGraph,
  GRAPH_FORMAT,
  GRAPH_VERSION,
  type Graph,
  GraphError,
  type GraphNode,
  type NodeId,
  type ParamSpec,
} from "./graph.js";
import { checkInit, type Init } from "./init.js";
import { nameTable } from "./names.js";
import type { CustomGradientAttrs } from "./ops/customGradient.js";
import { type AnyOpName, isCustomOpName, isOpName, opDef } from "./ops/index.js";
import { jsonAttrs } from "./ops/jsonAttrs.js";
import { isValidDim, shapesEqual, shapeToString, sizeOf } from "./shape.js";

/** The oldest graph format version {@link parseGraph} reads (it reads every version up to {@link GRAPH_VERSION}). */
export const GRAPH_MIN_VERSION = 1;

/** How deeply values may nest in graph JSON (a valid graph needs 5 levels). */
export const MAX_GRAPH_JSON_DEPTH = 32;

/** The strings that stand for the numbers JSON cannot hold (format version 2 and later). */
const SPECIAL_NUMBERS: ReadonlyMap<string, number> = new Map([
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["-Infinity", Number.NEGATIVE_INFINITY],
  ["-0", -0],
]);

const needsEncoding = (v: number): boolean => !Number.isFinite(v) || Object.is(v, -0);

/** A float as JSON: the number itself, or `"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0"`. */
function encodeFloat(v: number): number | string {
  if (!needsEncoding(v)) return v;
  return Object.is(v, -0) ? "-0" : String(v);
}

function encodeInit(init: Init): Init {
  const fields = Object.entries(init);
  if (
    !fields.some(([, v]) =>
      Array.isArray(v) ? v.some(needsEncoding) : typeof v === "number" && needsEncoding(v),
    )
  )
    return init;
  return Object.fromEntries(
    fields.map(([k, v]) => [
      k,
      Array.isArray(v) ? v.map(encodeFloat) : typeof v === "number" ? encodeFloat(v) : v,
    ]),
  ) as unknown as Init;
}

/**
 * The node's attributes with their float fields encoded (the same object when nothing needs it);
 * a `customGradient`'s rule graphs are written as nested graph objects.
 */
function encodeAttrs(node: GraphNode): unknown {
  if (node.op === "customGradient") {
    const a = node.attrs as CustomGradientAttrs;
    return { ...a, backward: graphObject(a.backward), tangent: a.tangent ? graphObject(a.tangent) : null };
  }
  if (node.op === "fill") {
    const a = node.attrs as { value: number };
    return needsEncoding(a.value) ? { ...a, value: encodeFloat(a.value) } : a;
  }
  if (node.op === "constant") {
    const a = node.attrs as { values: readonly number[] };
    return a.values.some(needsEncoding) ? { ...a, values: a.values.map(encodeFloat) } : a;
  }
  return node.attrs;
}

/**
 * Serialises a graph to JSON text (stable key order; `indent` spaces, default none), in format
 * version {@link GRAPH_VERSION}: non-finite floats and -0 are written as strings (see the module
 * documentation), so every graph the builder can make parses back to an equal graph.
 */
export function graphToJSON(graph: Graph, indent?: number): string {
  return JSON.stringify(graphObject(graph), null, indent);
}

/** The JSON object of a graph (what {@link graphToJSON} stringifies). */
function graphObject(graph: Graph): unknown {
  const nodes = new Array<unknown>(graph.nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const n = graph.nodes[i]!;
    nodes[i] = {
      id: n.id,
      op: n.op,
      inputs: n.inputs,
      attrs: encodeAttrs(n),
      shape: n.shape,
      dtype: n.dtype,
      ...(n.name !== undefined ? { name: n.name } : {}),
    };
  }
  const params = Object.entries(graph.params).map(([k, p]) => [k, { ...p, init: encodeInit(p.init) }]);
  return {
    format: GRAPH_FORMAT,
    version: GRAPH_VERSION,
    nodes,
    inputs: graph.inputs,
    params: nameTable(params as [string, ParamSpec][]),
    outputs: graph.outputs,
  };
}

function fail(msg: string): never {
  throw new GraphError(`invalid graph JSON: ${msg}`);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A short description of a JSON value for messages (never walks deep or large values). */
function show(x: unknown): string {
  if (typeof x === "string") return JSON.stringify(x.length > 60 ? `${x.slice(0, 60)}...` : x);
  if (typeof x !== "object" || x === null) return String(x);
  if (Array.isArray(x)) {
    return x.length <= 8 && x.every((v) => typeof v !== "object" || v === null)
      ? JSON.stringify(x)
      : `an array of ${x.length}`;
  }
  return "an object";
}

/** Rejects values nested deeper than {@link MAX_GRAPH_JSON_DEPTH} (recursion bounded by that depth). */
function checkDepth(value: unknown, path: (string | number)[]): void {
  if (typeof value !== "object" || value === null) return;
  if (path.length >= MAX_GRAPH_JSON_DEPTH) {
    const at = path.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
    fail(`values are nested more than ${MAX_GRAPH_JSON_DEPTH} levels deep at ${at.slice(1, 200)}`);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v !== "object" || v === null) continue;
      path.push(i);
      checkDepth(v, path);
      path.pop();
    }
  } else {
    for (const k of Object.keys(value)) {
      path.push(k);
      checkDepth((value as Record<string, unknown>)[k], path);
      path.pop();
    }
  }
}

/** Reads a stored float (a number, or since version 2 one of the special strings); throws an Error. */
function decodeFloat(v: unknown, what: string, version: number): number {
  if (typeof v === "number") {
    if (Number.isFinite(v)) return v;
    throw new Error(
      `${what} is not a finite number (a literal such as 1e400 overflows; write "Infinity", "-Infinity" or "NaN" for a non-finite value)`,
    );
  }
  const special = typeof v === "string" ? SPECIAL_NUMBERS.get(v) : undefined;
  if (special === undefined) throw new Error(`${what} is ${show(v)}, not a number`);
  if (version < 2) {
    throw new Error(
      `${what} is ${show(v)}: string-encoded numbers need graph format version 2 (the file says ${version})`,
    );
  }
  return special;
}

/** `d`, with -0 read as 0 (JSON text can hold `-0`; integer fields must not keep its sign). */
const unsignedZero = <T>(d: T): T => (d === 0 ? (0 as T) : d);

/**
 * The attributes of a node with their float fields decoded (`fill`, `constant`), or with -0 read as
 * 0 in their integer fields (every other op: their attributes are numbers or lists of numbers).
 */
function decodeAttrs(op: string, attrs: Record<string, unknown>, version: number): Record<string, unknown> {
  // a user op's attributes are its own JSON data, given to its validator as they are
  if (!isOpName(op)) return attrs;
  if (op === "customGradient") {
    const graph = (field: string, v: unknown): Graph | null => {
      if (v === null || v === undefined) return null;
      try {
        return parseGraph(v);
      } catch (e) {
        throw new Error(`'${field}': ${(e as Error).message.replace(/^invalid graph JSON: /, "")}`);
      }
    };
    return {
      ...attrs,
      backward: graph("backward", attrs.backward),
      tangent: graph("tangent", attrs.tangent),
    };
  }
  if (op === "fill") return { ...attrs, value: decodeFloat(attrs.value, "'value'", version) };
  if (op === "constant") {
    // checked here: the op's own check would copy any array-like, e.g. {"length": 1e9}
    if (!Array.isArray(attrs.values)) throw new Error(`'values' is ${show(attrs.values)}, not an array`);
    const values = attrs.values.map((v: unknown, i: number) => decodeFloat(v, `values[${i}]`, version));
    return { ...attrs, values };
  }
  return Object.fromEntries(
    Object.entries(attrs).map(([k, v]) => [k, Array.isArray(v) ? v.map(unsignedZero) : unsignedZero(v)]),
  );
}

/**
 * Parses and validates a graph from JSON text (or an already-parsed object), in any format version
 * from {@link GRAPH_MIN_VERSION} to {@link GRAPH_VERSION}. Every problem throws a {@link GraphError}
 * (`invalid graph JSON: ...`) naming the node, input, param or output concerned.
 */
export function parseGraph(json: string | unknown): Graph {
  let raw: unknown = json;
  if (typeof json === "string") {
    try {
      raw = JSON.parse(json);
    } catch (e) {
      fail(`not JSON (${(e as Error).message})`);
    }
  }
  checkDepth(raw, []);
  if (!isRecord(raw)) fail("top level is not an object");
  if (raw.format !== GRAPH_FORMAT) fail(`format is ${show(raw.format)}, expected "${GRAPH_FORMAT}"`);
  const version = raw.version;
  if (
    typeof version !== "number" ||
    !Number.isInteger(version) ||
    version < GRAPH_MIN_VERSION ||
    version > GRAPH_VERSION
  ) {
    fail(
      `version ${show(version)} is not supported (this build reads versions ${GRAPH_MIN_VERSION} to ${GRAPH_VERSION})`,
    );
  }
  if (!Array.isArray(raw.nodes)) fail("'nodes' is not an array");
  const rawNodes: unknown[] = raw.nodes;
  const nodes: GraphNode[] = [];
  for (let i = 0; i < rawNodes.length; i++) {
    const n = rawNodes[i];
    if (!isRecord(n)) fail(`node #${i} is not an object`);
    const where = `node #${i}${typeof n.name === "string" ? ` '${n.name}'` : ""}`;
    if (n.id !== i) fail(`${where} has id ${show(n.id)}, expected ${i}`);
    if (!isOpName(n.op)) {
      if (typeof n.op !== "string") fail(`${where} has op ${show(n.op)}, not a string`);
      if (!isCustomOpName(n.op)) {
        fail(
          `${where} has unknown op ${show(n.op)}: neither a built-in op nor registered here (define it with defineOp before parsing)`,
        );
      }
    }
    const op = n.op as AnyOpName;
    const custom = !isOpName(op);
    if (!Array.isArray(n.inputs) || !n.inputs.every((x) => Number.isInteger(x) && x >= 0 && x < i)) {
      fail(`${where} (${n.op}) has inputs ${show(n.inputs)}: each must be the id of an earlier node`);
    }
    if (!isDType(n.dtype)) fail(`${where} has invalid dtype ${show(n.dtype)}`);
    if (!Array.isArray(n.shape) || !n.shape.every(isValidDim))
      fail(`${where} has invalid shape ${show(n.shape)}`);
    const def = opDef(op);
    if (def.arity !== "variadic" && n.inputs.length !== def.arity) {
      fail(`${where} (${n.op}) has ${n.inputs.length} inputs, the op takes ${def.arity}`);
    }
    const rawAttrs = n.attrs ?? {};
    if (!isRecord(rawAttrs)) fail(`${where} (${n.op}) has attrs ${show(rawAttrs)}, not an object`);
    let attrs: unknown;
    let inferred: { shape: readonly (number | string)[]; dtype: string };
    try {
      attrs = def.attrs(decodeAttrs(op, rawAttrs, version) as never);
      if (custom) attrs = jsonAttrs(attrs);
      inferred = def.shape(
        (n.inputs as number[]).map((k) => ({ shape: nodes[k]!.shape, dtype: nodes[k]!.dtype })),
        attrs as never,
      );
    } catch (e) {
      fail(`${where} (${n.op}): ${(e as Error).message}`);
    }
    if (!shapesEqual(inferred.shape, n.shape) || inferred.dtype !== n.dtype) {
      fail(
        `${where} (${n.op}) stores ${n.dtype} ${shapeToString(n.shape)} but its inputs give ${inferred.dtype} ${shapeToString(inferred.shape)}`,
      );
    }
    nodes.push({
      id: i,
      op,
      inputs: (n.inputs as number[]).map(unsignedZero),
      attrs: attrs as GraphNode["attrs"],
      shape: (n.shape as (number | string)[]).map(unsignedZero),
      dtype: n.dtype,
      ...(typeof n.name === "string" ? { name: n.name } : {}),
    });
  }
  const sourceName = (id: NodeId): string => (nodes[id]!.attrs as { name: string }).name;
  const table = (key: "inputs" | "outputs", op: string | null): Record<string, NodeId> => {
    const t = raw[key];
    if (!isRecord(t)) fail(`'${key}' is not an object`);
    const out = nameTable<NodeId>();
    for (const [name, id] of Object.entries(t)) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= nodes.length)
        fail(`${key}.${name} refers to missing node ${show(id)}`);
      if (op && (nodes[id]!.op !== op || sourceName(id) !== name)) {
        fail(`${key}.${name} refers to node #${id}, which is not the ${op} '${name}'`);
      }
      out[name] = unsignedZero(id);
    }
    return out;
  };
  const inputs = table("inputs", "input");
  const outputs = table("outputs", null);
  if (!isRecord(raw.params)) fail("'params' is not an object");
  const params = nameTable<ParamSpec>();
  for (const [name, p] of Object.entries(raw.params)) {
    if (!isRecord(p)) fail(`params.${name} is not an object`);
    const id = p.node;
    if (
      typeof id !== "number" ||
      !Number.isInteger(id) ||
      nodes[id]?.op !== "param" ||
      sourceName(id) !== name
    ) {
      fail(`params.${name} refers to node ${show(id)}, which is not the param '${name}'`);
    }
    const node = nodes[id]!;
    if (!Array.isArray(p.shape) || !shapesEqual(p.shape as number[], node.shape)) {
      fail(`params.${name} has shape ${show(p.shape)} but its node has ${shapeToString(node.shape)}`);
    }
    if (!isRecord(p.init) || typeof p.init.kind !== "string") fail(`params.${name} has no valid 'init'`);
    let init: Init;
    try {
      init = checkInit(p.init, sizeOf(node.shape as number[]), (v, what) => decodeFloat(v, what, version));
    } catch (e) {
      fail(`params.${name}: ${(e as Error).message}`);
    }
    params[name] = {
      node: unsignedZero(id),
      shape: (p.shape as number[]).map(unsignedZero),
      dtype: node.dtype,
      init,
    };
  }
  for (const node of nodes) {
    if (node.op === "input" && inputs[sourceName(node.id)] !== node.id)
      fail(`input node #${node.id} '${sourceName(node.id)}' is missing from 'inputs'`);
    if (node.op === "param" && params[sourceName(node.id)]?.node !== node.id)
      fail(`param node #${node.id} '${sourceName(node.id)}' is missing from 'params'`);
  }
  return produce(emptyGraph(), (d) => {
    // assigned whole: `push(...nodes)` would overflow the call stack for a few hundred thousand nodes
    (d as { nodes: readonly GraphNode[] }).nodes = nodes;
    d.inputs = inputs;
    (d as { params: Graph["params"] }).params = params;
    d.outputs = outputs;
  });
}
