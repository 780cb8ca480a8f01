/**
 * Small internal helpers of the derivative toolbox and the testing checks (not exported).
 * @module
 */
import { type Feeds, type Graph, ParamStore } from "@gradgraph/core";

/**
 * The feeds a compiled graph needs (it rejects others as unknown).
 * @internal
 */
export function pickFeeds(feeds: Feeds, names: readonly string[]): Record<string, Feeds[string]> {
  return Object.fromEntries(names.filter((n) => Object.hasOwn(feeds, n)).map((n) => [n, feeds[n]!]));
}

/**
 * An input/output name the graph does not use (nor `taken`, to which it is added): `base`, or
 * `base~1`, `base~2`, ...
 * @internal
 */
export function freshName(graph: Graph, base: string, taken: Set<string>): string {
  const used = (n: string) =>
    taken.has(n) ||
    Object.hasOwn(graph.inputs, n) ||
    Object.hasOwn(graph.params, n) ||
    Object.hasOwn(graph.outputs, n);
  let name = base;
  for (let i = 1; used(name); i++) name = `${base}~${i}`;
  taken.add(name);
  return name;
}

/**
 * A prefix (ending in `:`) that no input, param or output name of the graph starts with.
 * @internal
 */
export function freshPrefix(graph: Graph, base: string): string {
  const names = [...Object.keys(graph.inputs), ...Object.keys(graph.params), ...Object.keys(graph.outputs)];
  const stem = base.endsWith(":") ? base.slice(0, -1) : base;
  let prefix = base;
  for (let i = 1; names.some((n) => n.startsWith(prefix)); i++) prefix = `${stem}~${i}:`;
  return prefix;
}

/**
 * The user's params completed with initialised values (seed `seed`) for the graph's missing
 * ones; the user's store is never changed.
 * @internal
 */
export function completeParams(graph: Graph, params: ParamStore | undefined, seed = 0): ParamStore {
  const names = Object.keys(graph.params);
  if (params && names.every((n) => params.has(n))) return params;
  return new ParamStore(params ? params.entries() : []).initMissing(graph, seed);
}
