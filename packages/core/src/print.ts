/**
 * Human-readable views of a graph (an SSA-style text listing and Graphviz DOT) and of a compiled
 * plan (its steps, fused groups, buffers and kernels).
 * @module
 */
import { threadMinWork } from "./backend/threads.js";
import { valuesByBuffer } from "./compile/allocate.js";
import type { FusedTree, KernelChoice, LoweredForm, Step } from "./compile/form.js";
import { groupMembers } from "./compile/fuse.js";
import type { Plan } from "./compile.js";
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

/** Options of {@link toDot}. */
export interface DotOptions {
  /** The graph's name in the DOT header (default `"gradgraph"`). */
  readonly title?: string;
  /**
   * A run's results, to write on the nodes as micrograd's `draw_dot` does: typically what
   * `compile(graph).run(feeds)` returned. Each entry labels a node with a `data` line:
   * an output name labels its output's node; `%<id>` (e.g. `%7`, the output names a run of
   * `withOutputs(graph, { "%7": 7 })` gives back) labels node `<id>`; and `grad:<name>` (the outputs
   * of `grad`) labels the input or param `<name>` with a `grad` line (and, when the graph has that
   * output, its node with a `data` line). Entries that name
   * nothing in the graph are ignored, so one run of the gradient graph can label the forward graph.
   * Up to four elements are shown (`data [0.1, 0.2, 0.3, 0.4, ...]`).
   */
  readonly values?: Readonly<Record<string, { readonly data: ArrayLike<number> }>>;
  /** Digits after the point of the values (default 4, as micrograd's `%.4f`). */
  readonly precision?: number;
}

function valueText(data: ArrayLike<number>, precision: number): string {
  const one = (v: number) => {
    if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a >= 10 ** -precision && a < 1e9 ? v.toFixed(precision) : v.toExponential(precision);
  };
  if (data.length === 1) return one(data[0]!);
  const shown = Array.from({ length: Math.min(4, data.length) }, (_, i) => one(data[i]!));
  return `[${shown.join(", ")}${data.length > 4 ? ", ..." : ""}]`;
}

/** The `data` and `grad` lines of each node, from {@link DotOptions.values}. */
function valueLines(graph: Graph, options: DotOptions): Map<number, string[]> {
  const lines = new Map<number, string[]>();
  const values = options.values;
  if (!values) return lines;
  const precision = options.precision ?? 4;
  if (!Number.isInteger(precision) || precision < 0 || precision > 20) {
    throw new RangeError(`toDot: precision must be an integer in 0..20, got ${precision}`);
  }
  // the input or param a `grad:<name>` entry belongs to
  const source = (name: string): number | undefined =>
    Object.hasOwn(graph.inputs, name)
      ? graph.inputs[name]
      : Object.hasOwn(graph.params, name)
        ? graph.params[name]!.node
        : undefined;
  const data = new Map<number, string>();
  const grads = new Map<number, string>();
  for (const [key, tensor] of Object.entries(values)) {
    const text = valueText(tensor.data, precision);
    const ref = /^%(\d+)$/.exec(key);
    if (Object.hasOwn(graph.outputs, key)) data.set(graph.outputs[key]!, text);
    else if (ref && Number(ref[1]) < graph.nodes.length) data.set(Number(ref[1]), text);
    // in the gradient graph grad:<name> is also an output: its node gets the data, <name> the grad
    const id = key.startsWith("grad:") ? source(key.slice(5)) : undefined;
    if (id !== undefined) grads.set(id, text);
  }
  for (const node of graph.nodes) {
    const l: string[] = [];
    if (data.has(node.id)) l.push(`data ${data.get(node.id)}`);
    if (grads.has(node.id)) l.push(`grad ${grads.get(node.id)}`);
    if (l.length) lines.set(node.id, l);
  }
  return lines;
}

/**
 * Graphviz DOT text: inputs as ellipses, params as boxes, ops as rounded boxes, outputs as double
 * octagons. Given a run's results (`values`), the nodes also show their values and the inputs and
 * params their gradients, as micrograd's `draw_dot` does.
 * @example
 * const exe = compile(withOutputs(gradGraph, { ...gradGraph.outputs, "%3": 3 }));
 * const dot = toDot(graph, { values: exe.run({ a, b }) });
 */
export function toDot(graph: Graph, options: DotOptions = {}): string {
  const extra = valueLines(graph, options);
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
    for (const line of extra.get(node.id) ?? []) label += `\\n${esc(line)}`;
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

/** A node's right-hand side as {@link printGraph} writes it: `matmul(%0, %1) {transA=false, ...}`. */
function callText(node: GraphNode): string {
  if (node.op === "input" || node.op === "param")
    return `${node.op} "${(node.attrs as { name: string }).name}"`;
  return `${node.op}(${node.inputs.map((i) => `%${i}`).join(", ")})${attrsText(node)}`;
}

/** A fused group's expression with its leaves as value references: `tanh(add(%4, %2))`. */
function exprText(t: FusedTree | number, leaves: readonly number[]): string {
  return typeof t === "number"
    ? `%${leaves[t]}`
    : `${t.op}(${t.kids.map((k) => exprText(k, leaves)).join(", ")})`;
}

/** What runs a step: `js`, `wasm-simd`, or for a matrix product its size and whether the pool splits it. */
function kernelText(k: KernelChoice): string {
  if (!k.gemm) return k.impl;
  const { M, N, K, batches } = k.gemm;
  const minWork = threadMinWork();
  // the pool splits products of at least minWork multiply-adds and 16 rows (see gemmF32)
  const threaded = minWork !== null && M * N * K >= minWork && M >= 16;
  return `${k.impl} gemm ${M}x${N}x${K}${batches > 1 ? ` x${batches}` : ""}${threaded ? ", threaded" : ""}`;
}

function typeText(form: LoweredForm, id: number): string {
  return `${SHORT[form.graph.nodes[id]!.dtype]}${shapeToString(form.shapes[id]!)}`;
}

function stepLine(
  form: LoweredForm,
  members: ReadonlyMap<number, readonly number[]>,
  step: Step,
  number: string,
): string {
  const node = form.graph.nodes[step.node]!;
  const id = step.node;
  const rhs = step.group ? exprText(step.group.tree, step.group.leaves) : callText(node);
  const buffer = `b${form.bufferOf[id]}`;
  let line = `${number}%${id} = ${rhs} : ${typeText(form, id)}`;
  if (step.kind === "alias") return `${line} -> ${buffer} (view)`;
  line += ` -> ${buffer}`;
  const kernel = form.kernels[step.index];
  if (kernel && step.kind === "kernel") line += `  [${kernelText(kernel)}]`;
  const product = form.products.get(id);
  if (product !== undefined) line += `  fuses %${product}`;
  if (step.group)
    line += `  fuses ${members
      .get(id)!
      .map((m) => `%${m}`)
      .join(" ")}`;
  return line;
}

/** Options of {@link printPlan}. */
export interface PrintPlanOptions {
  /** List at most this many steps (default: all); the rest are counted. */
  readonly maxSteps?: number;
}

/**
 * A plan as text: its symbolic dims and statistics, the inputs and params with their buffers,
 * the values folded at build time, then every step in run order: the value it computes (a fused
 * group as one expression over the values it reads, with the nodes it fuses), its type, its buffer
 * and which kernel runs it (`js`, `wasm-simd`, and for matrix products the size and whether the
 * worker pool splits it now). Aliases are listed as views of their input's buffer. Then the
 * outputs, and every buffer with its size and the values it holds in turn (reuse by liveness).
 * Stable for a given plan, so it suits snapshot tests.
 * @example
 * console.log(printPlan(compile(graph, { params }).plan({ x: [32, 784] })));
 */
export function printPlan(plan: Plan, options: PrintPlanOptions = {}): string {
  const form = plan.planForm;
  const nodes = form.graph.nodes;
  const { stats } = plan;
  const lines: string[] = [];
  const members = groupMembers(form);
  const dims = [...form.dims].map(([d, v]) => `${d}=${v}`).join(", ");
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  lines.push(
    `plan${dims ? ` (${dims})` : ""}: ${count(stats.steps, "step")}, ${count(stats.fused, "node")} fused, ${stats.folded} folded`,
  );
  const sources = form.steps.filter((s) => s.kind === "input" || s.kind === "param");
  for (const kind of ["input", "param"] as const) {
    const of = sources.filter((s) => s.kind === kind);
    if (!of.length) continue;
    lines.push(`${kind}s`);
    for (const s of of) {
      const name = (nodes[s.node]!.attrs as { name: string }).name;
      const b = form.bufferOf[s.node]!;
      const how =
        kind === "input" ? "" : form.buffers[b]!.kind === "mirror" ? " (copied in each run)" : " (in place)";
      lines.push(`  ${name}: %${s.node} ${typeText(form, s.node)} -> b${b}${how}`);
    }
  }
  const folded = form.steps.filter((s) => s.kind === "folded");
  if (folded.length) {
    lines.push("folded (computed once, at build time)");
    for (const s of folded) lines.push(stepLine(form, members, s, "  "));
  }
  lines.push("steps");
  const limit = options.maxSteps ?? Number.POSITIVE_INFINITY;
  let listed = 0;
  let number = 0;
  let hidden = 0;
  for (const s of form.steps) {
    if (s.kind !== "kernel" && s.kind !== "alias") continue;
    if (s.kind === "kernel") number++;
    if (listed >= limit) {
      if (s.kind === "kernel") hidden++;
      continue;
    }
    listed++;
    lines.push(
      stepLine(form, members, s, s.kind === "kernel" ? `  ${String(number).padStart(3)}  ` : "       "),
    );
  }
  if (hidden) lines.push(`  ... ${hidden} more steps`);
  lines.push("outputs");
  form.outNames.forEach((name, k) => {
    const id = form.outIds[k]!;
    lines.push(`  ${name} = %${id} -> b${form.bufferOf[id]}`);
  });
  lines.push("buffers");
  let pooled = 0;
  const held = valuesByBuffer(form);
  for (const b of form.buffers) {
    if (b.kind === "pool") pooled++;
    const values = held[b.id]!.map((v) => `%${v}`).join(" ");
    lines.push(`  b${b.id} ${b.kind} ${SHORT[b.dtype]} x${b.elements}: ${values}`);
  }
  lines.push(
    `memory: ${pooled} pooled buffers, ${stats.pooledElements} elements for ${stats.unpooledElements} without reuse`,
  );
  return lines.join("\n");
}
