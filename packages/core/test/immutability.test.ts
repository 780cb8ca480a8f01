import { compile, type Graph, GraphBuilder, graphToJSON, ParamStore, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

function smallGraph(): Graph {
  const g = new GraphBuilder({ dtype: "float64" });
  const x = g.input("x", ["N", 3]);
  const W = g.param("W", [3, 2]);
  const h = g.scope("dense", () => g.op("matmul", [x, W], {}, "hidden"));
  g.output("y", h.tanh().sum(1));
  return g.build();
}

describe("built graphs are frozen", () => {
  test("graph, tables, nodes and node fields", () => {
    const graph = smallGraph();
    expect(Object.isFrozen(graph)).toBe(true);
    expect(Object.isFrozen(graph.nodes)).toBe(true);
    expect(Object.isFrozen(graph.inputs)).toBe(true);
    expect(Object.isFrozen(graph.params)).toBe(true);
    expect(Object.isFrozen(graph.params.W)).toBe(true);
    expect(Object.isFrozen(graph.outputs)).toBe(true);
    for (const n of graph.nodes) {
      expect(Object.isFrozen(n)).toBe(true);
      expect(Object.isFrozen(n.inputs)).toBe(true);
      expect(Object.isFrozen(n.shape)).toBe(true);
      expect(Object.isFrozen(n.attrs)).toBe(true);
    }
  });

  test("mutation attempts throw (ES modules are strict)", () => {
    const graph = smallGraph();
    const before = graphToJSON(graph);
    expect(() => {
      (graph.nodes as unknown as unknown[]).push({});
    }).toThrow(TypeError);
    expect(() => {
      (graph.nodes[3] as { op: string }).op = "add";
    }).toThrow(TypeError);
    expect(() => {
      (graph.outputs as Record<string, number>).z = 1;
    }).toThrow(TypeError);
    expect(() => {
      (graph.nodes[0]!.shape as (number | string)[])[1] = 4;
    }).toThrow(TypeError);
    expect(graphToJSON(graph)).toBe(before);
  });

  test("the builder keeps no live reference into the graph it built", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2]);
    g.output("y", x.exp());
    const graph = g.build();
    const snapshot = graphToJSON(graph);
    expect(() => x.named("renamed")).not.toThrow(); // renaming a handle after build...
    expect(graphToJSON(graph)).toBe(snapshot); // ...does not reach the frozen graph
  });
});

describe("GraphBuilder.extend", () => {
  test("returns a new graph sharing untouched nodes and leaves the old one unchanged", () => {
    const base = smallGraph();
    const baseJSON = graphToJSON(base);
    const h = GraphBuilder.extend(base);
    expect(h.dtype).toBe("float64");
    const y = h.ref("y");
    h.output("z", y.mul(2).named("double"));
    const next = h.build();

    expect(next).not.toBe(base);
    expect(next.nodes).not.toBe(base.nodes);
    expect(next.nodes).toHaveLength(base.nodes.length + 2);
    for (let i = 0; i < base.nodes.length; i++) expect(next.nodes[i]).toBe(base.nodes[i]);
    expect(next.params.W).toBe(base.params.W);
    expect(next.inputs).toBe(base.inputs); // untouched tables are shared too
    expect(Object.keys(next.outputs)).toEqual(["y", "z"]);
    expect(next.nodes.at(-1)!.name).toBe("double");

    expect(graphToJSON(base)).toBe(baseJSON);
    expect(Object.keys(base.outputs)).toEqual(["y"]);
    expect(Object.isFrozen(next.nodes.at(-1))).toBe(true);

    // both graphs still run
    const x = Tensor.from([[1, 2, 3]]);
    const params = new ParamStore([["W", Tensor.full([3, 2], 0.1, "float64")]]);
    const out = compile(next, { params }).run({ x });
    expect(out.z!.toArray()[0]).toBeCloseTo(2 * out.y!.toArray()[0]!, 12);
  });

  test("renaming a base node replaces only that node", () => {
    const base = smallGraph();
    const h = GraphBuilder.extend(base);
    h.ref(2).named("renamed");
    const next = h.build();
    expect(next.nodes[2]!.name).toBe("renamed");
    expect(base.nodes[2]!.name).toBe("dense/hidden");
    expect(next.nodes[2]).not.toBe(base.nodes[2]);
    for (const i of [0, 1, 3, 4]) expect(next.nodes[i]).toBe(base.nodes[i]);
  });

  test("an extension with no changes shares everything", () => {
    const base = smallGraph();
    const next = GraphBuilder.extend(base).build();
    expect(next).toBe(base);
  });
});

describe("building is linear", () => {
  test("a 20,000-node chain builds, and extending it shares every node", () => {
    const g = new GraphBuilder();
    let v = g.input("x", [2]);
    for (let i = 0; i < 20_000; i++) v = i % 2 ? v.add(1) : v.mul(1.5);
    g.output("y", v);
    const graph = g.build();
    expect(graph.nodes.length).toBe(20_000 + 3); // input + two shared scalar fills
    expect(graph.outputs.y).toBe(graph.nodes.length - 1);

    const h = GraphBuilder.extend(graph);
    h.output("z", h.ref("y").neg());
    const next = h.build();
    expect(next.nodes.length).toBe(graph.nodes.length + 1);
    let shared = 0;
    for (let i = 0; i < graph.nodes.length; i++) if (next.nodes[i] === graph.nodes[i]) shared++;
    expect(shared).toBe(graph.nodes.length);
  });
});
