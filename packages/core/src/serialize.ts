/**
 * JSON serialisation of graphs. Parsing re-validates everything: each node's op and attributes,
 * its inputs (which must come earlier), and its shape, which is re-inferred by the op's shape rule
 * and compared with the stored one. Errors name the node and what was wrong.
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
  type ParamSpec,
} from "./graph.js";
import type { Init } from "./init.js";
import { isOpName, opDef } from "./ops/index.js";
import { isValidDim, shapesEqual, shapeToString } from "./shape.js";

/** Serialises a graph to JSON text (stable key order; `indent` spaces, default none). */
export function graphToJSON(graph: Graph, indent?: number): string {
  return JSON.stringify(
    {
      format: GRAPH_FORMAT,
      version: GRAPH_VERSION,
      nodes: graph.nodes.map((n) => ({
        id: n.id,
        op: n.op,
        inputs: n.inputs,
        attrs: n.attrs,
        shape: n.shape,
        dtype: n.dtype,
        ...(n.name !== undefined ? { name: n.name } : {}),
      })),
      inputs: graph.inputs,
      params: graph.params,
      outputs: graph.outputs,
    },
    null,
    indent,
  );
}

function fail(msg: string): never {
  throw new GraphError(`invalid graph JSON: ${msg}`);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Parses and validates a graph from JSON text (or an already-parsed object). */
export function parseGraph(json: string | unknown): Graph {
  let raw: unknown = json;
  if (typeof json === "string") {
    try {
      raw = JSON.parse(json);
    } catch (e) {
      fail(`not JSON (${(e as Error).message})`);
    }
  }
  if (!isRecord(raw)) fail("top level is not an object");
  if (raw.format !== GRAPH_FORMAT)
    fail(`format is ${JSON.stringify(raw.format)}, expected "${GRAPH_FORMAT}"`);
  if (raw.version !== GRAPH_VERSION)
    fail(`version ${JSON.stringify(raw.version)} is not supported (expected ${GRAPH_VERSION})`);
  if (!Array.isArray(raw.nodes)) fail("'nodes' is not an array");
  const nodes: GraphNode[] = [];
  raw.nodes.forEach((n: unknown, i: number) => {
    if (!isRecord(n)) fail(`node #${i} is not an object`);
    const where = `node #${i}${typeof n.name === "string" ? ` '${n.name}'` : ""}`;
    if (n.id !== i) fail(`${where} has id ${JSON.stringify(n.id)}, expected ${i}`);
    if (!isOpName(n.op)) fail(`${where} has unknown op ${JSON.stringify(n.op)}`);
    if (!Array.isArray(n.inputs) || !n.inputs.every((x) => Number.isInteger(x) && x >= 0 && x < i)) {
      fail(
        `${where} (${n.op}) has inputs ${JSON.stringify(n.inputs)}: each must be the id of an earlier node`,
      );
    }
    if (!isDType(n.dtype)) fail(`${where} has invalid dtype ${JSON.stringify(n.dtype)}`);
    if (!Array.isArray(n.shape) || !n.shape.every(isValidDim))
      fail(`${where} has invalid shape ${JSON.stringify(n.shape)}`);
    const def = opDef(n.op);
    if (def.arity !== "variadic" && n.inputs.length !== def.arity) {
      fail(`${where} (${n.op}) has ${n.inputs.length} inputs, the op takes ${def.arity}`);
    }
    let attrs: unknown;
    let inferred: { shape: readonly (number | string)[]; dtype: string };
    try {
      attrs = def.attrs((n.attrs ?? {}) as never);
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
      op: n.op,
      inputs: [...(n.inputs as number[])],
      attrs: attrs as GraphNode["attrs"],
      shape: [...(n.shape as (number | string)[])],
      dtype: n.dtype,
      ...(typeof n.name === "string" ? { name: n.name } : {}),
    });
  });
  const table = (key: "inputs" | "outputs", op: string | null): Record<string, number> => {
    const t = raw[key];
    if (!isRecord(t)) fail(`'${key}' is not an object`);
    for (const [name, id] of Object.entries(t)) {
      if (typeof id !== "number" || !nodes[id])
        fail(`${key}.${name} refers to missing node ${JSON.stringify(id)}`);
      if (op && (nodes[id]!.op !== op || (nodes[id]!.attrs as { name: string }).name !== name)) {
        fail(`${key}.${name} refers to node #${id}, which is not the ${op} '${name}'`);
      }
    }
    return t as Record<string, number>;
  };
  const inputs = table("inputs", "input");
  const outputs = table("outputs", null);
  if (!isRecord(raw.params)) fail("'params' is not an object");
  const params: Record<string, ParamSpec> = {};
  for (const [name, p] of Object.entries(raw.params)) {
    if (!isRecord(p)) fail(`params.${name} is not an object`);
    const id = p.node;
    if (
      typeof id !== "number" ||
      nodes[id]?.op !== "param" ||
      (nodes[id]!.attrs as { name: string }).name !== name
    ) {
      fail(`params.${name} refers to node ${JSON.stringify(id)}, which is not the param '${name}'`);
    }
    const node = nodes[id]!;
    if (!Array.isArray(p.shape) || !shapesEqual(p.shape as number[], node.shape)) {
      fail(
        `params.${name} has shape ${JSON.stringify(p.shape)} but its node has ${shapeToString(node.shape)}`,
      );
    }
    if (!isRecord(p.init) || typeof p.init.kind !== "string") fail(`params.${name} has no valid 'init'`);
    params[name] = {
      node: id,
      shape: [...(p.shape as number[])],
      dtype: node.dtype,
      init: p.init as unknown as Init,
    };
  }
  for (const node of nodes) {
    const name = (node.attrs as { name?: string }).name;
    if (node.op === "input" && inputs[name!] !== node.id)
      fail(`input node #${node.id} '${name}' is missing from 'inputs'`);
    if (node.op === "param" && params[name!]?.node !== node.id)
      fail(`param node #${node.id} '${name}' is missing from 'params'`);
  }
  return produce(emptyGraph(), (d) => {
    (d.nodes as GraphNode[]).push(...nodes);
    Object.assign(d.inputs, inputs);
    Object.assign(d.params, params);
    Object.assign(d.outputs, outputs);
  });
}
