/**
 * Human-readable views of a graph: an SSA-style text listing and Graphviz DOT.
 * @module
 */
import type { Graph, GraphNode } from "./graph.js";
import { isGraphValue } from "./ops/customGradient.js";
import { shapeToString } from "./shape.js";

const SHORT: Record<string, string> = { float32: "f32", float64: "f64" };

function attrsText(node: GraphNode): string {
  if (node.op === "input" || node.op === "param") return "";
  const entries = Object.entries(node.attrs as Record<string, unknown>).filter(([k]) => k !== "dtype");
  if (node.op === "fill" || node.op === "constant") {
    const a = node.attrs as { value?: number; values?: readonly number[] };
    if (a.value !== undefined) return ` ${a.value}`;
    const v = a.values ?? [];
    return ` [${v.slice(0, 6).join(", ")}${v.length > 6 ? ", ..." : ""}]`;
  }
  if (!entries.length) return "";
  // nested graphs (a customGradient's rules) are summarised, not spelt out
  const text = (v: unknown) => (isGraphValue(v) ? `<graph: ${v.nodes.length} nodes>` : JSON.stringify(v));
  return ` {${entries.map(([k, v]) => `${k}=${text(v)}`).join(", ")}}`;
}

/**
 * One line per node, e.g. `%3 = matmul(%0, %1) {transA=false, transB=false} : f32[N,30]  # hidden`,
 * then the outputs. Stable, so it suits snapshot tests of transforms.
 */
export function printGraph(graph: Graph): string {
  const lines: string[] = [];
  for (const node of graph.nodes) {
    const type = `${SHORT[node.dtype]}${shapeToString(node.shape)}`;
    let rhs: string;
    if (node.op === "input" || node.op === "param")
      rhs = `${node.op} "${(node.attrs as { name: string }).name}"`;
    else rhs = `${node.op}(${node.inputs.map((i) => `%${i}`).join(", ")})${attrsText(node)}`;
    const named = node.name && node.op !== "input" && node.op !== "param" ? `  # ${node.name}` : "";
    lines.push(`%${node.id} = ${rhs} : ${type}${named}`);
  }
  const outs = Object.entries(graph.outputs).map(([k, v]) => `${k}=%${v}`);
  lines.push(`outputs: ${outs.join(", ") || "(none)"}`);
  return lines.join("\n");
}

function esc(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}

/** Graphviz DOT text: inputs as ellipses, params as boxes, ops as rounded boxes, outputs as double octagons. */
export function toDot(graph: Graph, options: { title?: string } = {}): string {
  const out: string[] = [
    `digraph "${esc(options.title ?? "gradgraph")}" {`,
    "  rankdir=TB;",
    '  node [fontname="Helvetica", fontsize=10];',
  ];
  for (const node of graph.nodes) {
    const type = `${SHORT[node.dtype]}${shapeToString(node.shape)}`;
    let label: string;
    let shape = "box";
    let style = "rounded";
    if (node.op === "input") {
      label = `${esc((node.attrs as { name: string }).name)}\\n${type}`;
      shape = "ellipse";
      style = "solid";
    } else if (node.op === "param") {
      label = `${esc((node.attrs as { name: string }).name)}\\n${type}`;
      style = "filled";
    } else {
      label = `${node.name ? `${esc(node.name)}\\n` : ""}${node.op}${esc(attrsText(node))}\\n${type}`;
    }
    out.push(`  n${node.id} [label="${label}", shape=${shape}, style="${style}"];`);
  }
  for (const node of graph.nodes) {
    node.inputs.forEach((i, k) => {
      out.push(`  n${i} -> n${node.id}${node.inputs.length > 1 ? ` [label="${k}"]` : ""};`);
    });
  }
  for (const [name, id] of Object.entries(graph.outputs)) {
    out.push(
      `  out_${esc(name).replace(/[^A-Za-z0-9_]/g, "_")} [label="${esc(name)}", shape=doubleoctagon];`,
    );
    out.push(`  n${id} -> out_${esc(name).replace(/[^A-Za-z0-9_]/g, "_")};`);
  }
  out.push("}");
  return out.join("\n");
}
