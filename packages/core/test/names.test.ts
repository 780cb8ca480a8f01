import {
  compile,
  FeedError,
  type Graph,
  GraphBuilder,
  graphToJSON,
  ParamStore,
  parseGraph,
  printGraph,
  pruneGraph,
  resolveNode,
  Tensor,
  withOutputs,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";

/** Names that are special on plain JavaScript objects, plus a few other awkward ones. */
const AWKWARD = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "a/b", "ü ∑ 😀", " "];

/** An object with one own property per entry (`{ __proto__: v }` would set the prototype instead). */
function record<T>(entries: [string, T][]): Record<string, T> {
  return Object.fromEntries(entries);
}

/** y_k = x_k * p_k + q for an input x_k and a param p_k named after each awkward name. */
function awkwardGraph(names: readonly string[]): Graph {
  const g = new GraphBuilder({ dtype: "float64" });
  const q = g.param("q", [2], { init: { kind: "constant", value: 0.5 } });
  names.forEach((name, k) => {
    const x = g.input(name, [2]);
    const p = g.param(`${name}#p`, [2], { init: { kind: "constant", value: k + 1 } });
    g.output(name, x.mul(p).add(q));
  });
  return g.build();
}

describe("names that are special on plain objects", () => {
  for (const name of AWKWARD) {
    test(`'${name}' works as an input, param and output name`, () => {
      const g = new GraphBuilder({ dtype: "float64" });
      const x = g.input(name, [2]);
      const p = g.param(name === "__proto__" ? "toString" : "__proto__", [2], {
        init: { kind: "ones" },
      });
      const w = g.param(`${name}!`, [2], { init: { kind: "constant", value: 3 } });
      g.output(name, x.mul(p).mul(w));
      expect(() => g.input(name, [1])).toThrow(/already exists/);
      const graph = g.build();
      const pName = name === "__proto__" ? "toString" : "__proto__";
      for (const [table, key] of [
        [graph.inputs, name],
        [graph.outputs, name],
        [graph.params, pName],
        [graph.params, `${name}!`],
      ] as const) {
        expect(Object.hasOwn(table, key), key).toBe(true);
      }
      expect(Object.keys(graph.inputs)).toEqual([name]);
      expect(Object.keys(graph.outputs)).toEqual([name]);
      expect(Object.keys(graph.params)).toEqual([pName, `${name}!`]);
      expect(resolveNode(graph, name)).toBe(graph.outputs[name]);

      const params = ParamStore.init(graph);
      expect(params.names()).toEqual([pName, `${name}!`]);
      const out = compile(graph, { params }).run(record([[name, Tensor.from([1, 2])]]));
      expect(Object.keys(out)).toEqual([name]);
      expect(out[name]!.toArray()).toEqual([3, 6]);

      const back = parseGraph(graphToJSON(graph));
      expect(printGraph(back)).toBe(printGraph(graph));
      expect(graphToJSON(back)).toBe(graphToJSON(graph));
      expect(Object.keys(back.inputs)).toEqual([name]);
      expect(Object.keys(back.params)).toEqual([pName, `${name}!`]);
      expect(Object.keys(back.outputs)).toEqual([name]);
      expect(Object.keys(pruneGraph(back).params)).toEqual([pName, `${name}!`]);
      expect(Object.keys(withOutputs(back, record([["__proto__", name]])).outputs)).toEqual(["__proto__"]);
    });
  }

  test("all of them together, through the builder, ParamStore, compile and JSON", () => {
    const graph = awkwardGraph(AWKWARD);
    expect(Object.keys(graph.inputs)).toEqual(AWKWARD);
    expect(Object.keys(graph.outputs)).toEqual(AWKWARD);
    expect(Object.keys(graph.params)).toEqual(["q", ...AWKWARD.map((n) => `${n}#p`)]);
    const params = ParamStore.init(graph);
    const feeds = record(AWKWARD.map((n, k) => [n, Tensor.from([k, 1])]));
    const exe = compile(graph, { params });
    const out = exe.run(feeds);
    AWKWARD.forEach((n, k) => {
      expect(out[n]!.toArray()).toEqual([k * (k + 1) + 0.5, k + 1.5]);
    });
    const back = parseGraph(graphToJSON(graph));
    expect(back).toEqual(graph);
    const again = compile(back, { params }).run(feeds);
    for (const n of AWKWARD) expect(again[n]!.toArray()).toEqual(out[n]!.toArray());
    // selecting outputs by awkward names
    const only = compile(graph, { params, outputs: ["constructor"] }).run(
      record([["constructor", Tensor.from([2, 2])]]),
    );
    expect(Object.keys(only)).toEqual(["constructor"]);
  });

  test("a missing feed named like an Object.prototype member is reported as missing", () => {
    const graph = awkwardGraph(["toString", "constructor"]);
    const exe = compile(graph, { params: ParamStore.init(graph) });
    expect(() => exe.run(record([["constructor", Tensor.from([1, 1])]]))).toThrow(FeedError);
    expect(() => exe.run(record([["constructor", Tensor.from([1, 1])]]))).toThrow(
      /missing feed for input 'toString'/,
    );
    expect(() => exe.run(record([["__proto__", Tensor.from([1, 1])]]))).toThrow(/missing feed|unknown feed/);
  });

  test("the graph's name tables have no prototype, so lookups never see Object.prototype", () => {
    const graph = new GraphBuilder().build();
    for (const table of [graph.inputs, graph.params, graph.outputs]) {
      expect(Object.getPrototypeOf(table)).toBe(null);
      expect((table as Record<string, unknown>).toString).toBeUndefined();
    }
    const g2 = awkwardGraph(["x"]);
    expect(Object.getPrototypeOf(g2.params)).toBe(null);
    expect(Object.getPrototypeOf(parseGraph(graphToJSON(g2)).outputs)).toBe(null);
  });
});
