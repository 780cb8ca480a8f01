/**
 * `pnpm example scalar`: micrograd's README example, as a gradgraph graph.
 *
 * Rank-0 tensors are scalars, so a micrograd-style expression is an ordinary graph: build it with
 * the builder, differentiate it with `grad` (which appends the backward pass as more nodes), run
 * it, and print both graphs as text and as Graphviz DOT, each node labelled with its value (and the
 * inputs with their gradients) as micrograd's `draw_dot` does, rendered to SVG by Graphviz compiled
 * to WebAssembly (`@viz-js/viz`, no system Graphviz needed).
 *
 * micrograd (Python):
 * ```python
 * a = Value(-4.0); b = Value(2.0)
 * c = a + b; d = a * b + b**3
 * c += c + 1; c += 1 + c + (-a)
 * d += d * 2 + (b + a).relu(); d += 3 * d + (b - a).relu()
 * e = c - d; f = e**2
 * g = f / 2.0; g += 10.0 / f
 * print(f'{g.data:.4f}')  # 24.7041
 * g.backward(); print(f'{a.grad:.4f}')  # 138.8338
 * print(f'{b.grad:.4f}')  # 645.5773
 * ```
 * @module
 */
import { grad, gradcheck } from "@gradgraph/autograd";
import { compile, type Graph, GraphBuilder, printGraph, Tensor, toDot, withOutputs } from "@gradgraph/core";
import { instance as vizInstance } from "@viz-js/viz";
import type { ExampleContext, ExampleResult } from "../context.js";

/** Builds micrograd's expression; `g` is the output. */
export function buildMicrogradExample() {
  const gb = new GraphBuilder({ dtype: "float64" });
  const a = gb.input("a", []);
  const b = gb.input("b", []);
  let c = a.add(b).named("c");
  let d = a.mul(b).add(b.pow(3)).named("d");
  c = c.add(c.add(1)).named("c'"); // c += c + 1
  c = c.add(gb.scalar(1).add(c).add(a.neg())).named("c''"); // c += 1 + c + (-a)
  d = d.add(d.mul(2).add(b.add(a).relu())).named("d'"); // d += d * 2 + (b + a).relu()
  d = d.add(gb.scalar(3).mul(d).add(b.sub(a).relu())).named("d''"); // d += 3 * d + (b - a).relu()
  const e = c.sub(d).named("e");
  const f = e.pow(2).named("f");
  let g = f.div(2).named("g");
  g = g.add(gb.scalar(10).div(f)).named("g'"); // g += 10.0 / f
  gb.output("g", g);
  return gb.build();
}

/** Renders DOT text to SVG with Graphviz compiled to WebAssembly (`@viz-js/viz`). */
export async function dotToSvg(dot: string): Promise<string> {
  const viz = await vizInstance();
  return viz.renderString(dot, { format: "svg" });
}

/**
 * The graph with every node also an output named `%<id>` (besides its own outputs), so that one run
 * gives the value of every node, for {@link toDot}'s `values`.
 */
export function everyNodeAnOutput(graph: Graph): Graph {
  const outputs: Record<string, number | string> = { ...graph.outputs };
  for (const node of graph.nodes) outputs[`%${node.id}`] = node.id;
  return withOutputs(graph, outputs);
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const av = ctx.options.a ?? -4;
  const bv = ctx.options.b ?? 2;
  const graph = buildMicrogradExample();
  const backward = grad(graph, "g", ["a", "b"]);
  const exe = compile(backward, { outputs: ["g", "grad:a", "grad:b"] });
  const feeds = { a: Tensor.scalar(av), b: Tensor.scalar(bv) };
  const out = exe.run(feeds);
  const g = out.g!.item();
  const da = out["grad:a"]!.item();
  const db = out["grad:b"]!.item();
  const check = gradcheck(graph, feeds, { of: "g", wrt: ["a", "b"] });

  const isDefault = av === -4 && bv === 2;
  const ref = (v: string) => (isDefault ? `   (micrograd prints ${v})` : "");
  ctx.log(`micrograd's example as a gradgraph graph of float64 scalars, a = ${av}, b = ${bv}:`);
  ctx.log(`  g     = ${g.toFixed(4)}${ref("24.7041")}`);
  ctx.log(`  dg/da = ${da.toFixed(4)}${ref("138.8338")}`);
  ctx.log(`  dg/db = ${db.toFixed(4)}${ref("645.5773")}`);
  ctx.log(
    `  gradcheck against central differences: ${check.ok ? "ok" : "FAILED"} (max relative error ${check.maxRelError.toExponential(2)})`,
  );
  ctx.log("");
  ctx.log(`Forward graph (${graph.nodes.length} nodes):`);
  ctx.log(printGraph(graph));
  ctx.log("");
  const appended = printGraph(backward).split("\n").slice(graph.nodes.length);
  ctx.log(
    `Backward pass: grad(graph, "g", ["a", "b"]) returns a new graph sharing those ${graph.nodes.length} nodes and appending ${appended.length - 1} gradient nodes:`,
  );
  ctx.log(appended.join("\n"));

  await ctx.writeText("graph.txt", `${printGraph(graph)}\n`);
  await ctx.writeText("grad-graph.txt", `${printGraph(backward)}\n`);
  // one run of the gradient graph with every node an output: the values of all nodes (the forward
  // nodes are shared, same ids) and the gradients grad:a, grad:b, written on the pictures
  const values = compile(everyNodeAnOutput(backward)).run(feeds);
  const dot = toDot(graph, { title: "micrograd example", values });
  const gradDot = toDot(backward, { title: "micrograd example with gradients", values });
  await ctx.writeText("graph.dot", `${dot}\n`);
  await ctx.writeText("grad-graph.dot", `${gradDot}\n`);
  await ctx.writeText("graph.svg", await dotToSvg(dot));
  await ctx.writeText("grad-graph.svg", await dotToSvg(gradDot));
  ctx.log("");
  ctx.log(
    "Drew graph.svg and grad-graph.svg (values on every node, gradients on a and b) with Graphviz in WebAssembly.",
  );
  const metrics = {
    g,
    dg_da: da,
    dg_db: db,
    gradcheckOk: check.ok,
    gradcheckMaxRelError: check.maxRelError,
    forwardNodes: graph.nodes.length,
    backwardNodes: backward.nodes.length,
  };
  await ctx.writeJson("metrics.json", { example: "scalar", inputs: { a: av, b: bv }, ...metrics });
  return { hyper: { a: av, b: bv }, metrics };
}
