import { compile, type Graph, GraphBuilder, printGraph, Tensor, toDot, withOutputs } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

function mlp(): Graph {
  const g = new GraphBuilder();
  const x = g.input("x", ["N", 784]);
  const W1 = g.param("W1", [784, 30], { init: { kind: "glorotUniform" } });
  const b1 = g.param("b1", [30]);
  const W2 = g.param("W2", [30, 10]);
  const h = g.scope("dense1", () => g.op("matmul", [x, W1], {}, "hidden").add(b1).sigmoid().named("act"));
  const logits = h.matmul(W2).named("logits");
  g.output("probs", logits.softmax());
  g.output("loss", logits.logSumExp(1).mean());
  return g.build();
}

function scalar(): Graph {
  const g = new GraphBuilder({ dtype: "float64" });
  const a = g.input("a", []);
  const b = g.input("b", []);
  const c = a
    .mul(b)
    .add(g.constant([1, 2, 3, 4, 5, 6, 7]).sum())
    .named("c");
  const d = c.tanh().pow(2).sub(c.relu());
  g.output("d", d);
  return g.build();
}

describe("printGraph", () => {
  test("MLP", () => {
    expect(printGraph(mlp())).toMatchInlineSnapshot(`
      "%0 = input "x" : f32[N,784]
      %1 = param "W1" : f32[784,30]
      %2 = param "b1" : f32[30]
      %3 = param "W2" : f32[30,10]
      %4 = matmul(%0, %1) {transA=false, transB=false} : f32[N,30]  # dense1/hidden
      %5 = add(%4, %2) : f32[N,30]
      %6 = sigmoid(%5) : f32[N,30]  # dense1/act
      %7 = matmul(%6, %3) {transA=false, transB=false} : f32[N,10]  # logits
      %8 = softmax(%7) {axis=-1} : f32[N,10]
      %9 = logSumExp(%7) {axes=[1], keepdims=false} : f32[N]
      %10 = mean(%9) {axes=null, keepdims=false} : f32[]
      outputs: probs=%8, loss=%10"
    `);
  });

  test("scalar graph", () => {
    expect(printGraph(scalar())).toMatchInlineSnapshot(`
      "%0 = input "a" : f64[]
      %1 = input "b" : f64[]
      %2 = mul(%0, %1) : f64[]
      %3 = constant() [1, 2, 3, 4, 5, 6, ...] : f64[7]
      %4 = sum(%3) {axes=null, keepdims=false} : f64[]
      %5 = add(%2, %4) : f64[]  # c
      %6 = tanh(%5) : f64[]
      %7 = fill() 2 : f64[]
      %8 = pow(%6, %7) : f64[]
      %9 = relu(%5) : f64[]
      %10 = sub(%8, %9) : f64[]
      outputs: d=%10"
    `);
  });

  test("a graph without outputs", () => {
    const g = new GraphBuilder();
    g.input("x", [2]);
    expect(printGraph(g.build())).toBe('%0 = input "x" : f32[2]\noutputs: (none)');
  });
});

describe("toDot", () => {
  test("valid-looking DOT: header, balanced braces, one node line per node, one edge per input", () => {
    const graph = mlp();
    const dot = toDot(graph);
    expect(dot.startsWith('digraph "gradgraph" {')).toBe(true);
    expect(dot.trimEnd().endsWith("}")).toBe(true);
    let depth = 0;
    let minDepth = 0;
    for (const ch of dot.replace(/"(?:[^"\\]|\\.)*"/g, "")) {
      if (ch === "{") depth++;
      if (ch === "}") depth--;
      minDepth = Math.min(minDepth, depth);
    }
    expect(depth).toBe(0);
    expect(minDepth).toBe(0);

    for (const node of graph.nodes) {
      expect(dot).toMatch(
        new RegExp(`^  n${node.id} \\[label="[^\\n]*", shape=\\w+, style="\\w+"\\];$`, "m"),
      );
      for (const i of node.inputs) expect(dot).toContain(`  n${i} -> n${node.id}`);
    }
    const edges = dot.split("\n").filter((l) => /^ {2}n\d+ -> n\d+/.test(l));
    expect(edges).toHaveLength(graph.nodes.reduce((s, n) => s + n.inputs.length, 0));
    // multi-input ops label their edges with the operand position
    expect(dot).toContain('  n0 -> n4 [label="0"];');
    expect(dot).toContain('  n1 -> n4 [label="1"];');
    // outputs
    expect(dot).toContain('  out_probs [label="probs", shape=doubleoctagon];');
    expect(dot).toContain(`  n${graph.outputs.loss} -> out_loss;`);
    // shapes per kind
    expect(dot).toMatch(/n0 \[label="x\\nf32\[N,784\]", shape=ellipse/);
    expect(dot).toMatch(/n1 \[label="W1\\nf32\[784,30\]", shape=box, style="filled"/);
    expect(dot).toContain("dense1/hidden\\nmatmul {transA=false, transB=false}");
    expect(dot).not.toContain('{transA=false, transB=false}"'); // attribute quotes are escaped
  });

  test("title and names are escaped", () => {
    const g = new GraphBuilder();
    const x = g.input('say "hi"', [1]);
    g.output('o"ut', x.exp().named('e"x'));
    const dot = toDot(g.build(), { title: 'my "graph"' });
    expect(dot.startsWith('digraph "my \\"graph\\"" {')).toBe(true);
    // every double quote inside a label is escaped: labels are quoted strings with no bare quotes inside
    for (const line of dot.split("\n").filter((l) => l.includes("label="))) {
      expect(line, line).toMatch(/label="(?:[^"\\]|\\.)*"[,\]]/);
    }
    expect(dot).toContain('label="say \\"hi\\"\\nf32[1]"');
    expect(dot).toContain('label="e\\"x\\nexp\\nf32[1]"');
  });

  test("values: a run's outputs label their nodes with data, grad:<name> labels the input <name>", () => {
    const graph = scalar();
    // every node an output %<id>, plus a gradient-like output for input a
    const outputs: Record<string, number | string> = { d: "d" };
    for (const node of graph.nodes) outputs[`%${node.id}`] = node.id;
    const out = compile(withOutputs(graph, outputs)).run({ a: Tensor.scalar(-4), b: Tensor.scalar(0.3) });
    const values = {
      ...out,
      "grad:a": Tensor.scalar(1 / 3),
      "grad:nothing": Tensor.scalar(7),
      other: out.d!,
    };
    const dot = toDot(graph, { values });
    const d = out.d!.item();
    expect(dot).toContain('n0 [label="a\\nf64[]\\ndata -4\\ngrad 0.3333", shape=ellipse');
    expect(dot).toContain('n1 [label="b\\nf64[]\\ndata 0.3000", shape=ellipse');
    expect(dot).toContain(`data ${d.toFixed(4)}"`);
    // the constant [1..7]: its first four elements
    expect(dot).toContain("data [1, 2, 3, 4, ...]");
    // every node carries exactly one data line; only a has a grad line; unknown names are ignored
    for (const node of graph.nodes)
      expect(dot).toMatch(new RegExp(`n${node.id} \\[label="[^"]*\\\\ndata [^"]*"`));
    expect(dot.match(/\\ngrad /g)).toHaveLength(1);
    expect(dot).not.toContain("7.0000");
    // precision, exponent form for tiny values, and no values: the plain picture
    const tiny = toDot(graph, { values: { "%0": Tensor.scalar(1.5e-7) }, precision: 2 });
    expect(tiny).toContain('label="a\\nf64[]\\ndata 1.50e-7"');
    expect(toDot(graph, { values: {} })).toBe(toDot(graph));
    expect(() => toDot(graph, { values: {}, precision: -1 })).toThrow(
      /precision must be an integer in 0\.\.20, got -1/,
    );
  });
});
