import v8 from "node:v8";
import vm from "node:vm";
import {
  ancestors,
  compile,
  dependents,
  GraphBuilder,
  ParamStore,
  Tensor,
  topoOrder,
  useCounts,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";

describe("deep graphs", () => {
  test("a 100,000-node chain builds, compiles and runs without stack overflow", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    let v = g.input("x", [4]);
    for (let i = 0; i < 100_000; i++) v = v.add(1);
    g.output("y", v);
    const graph = g.build();
    expect(graph.nodes.length).toBe(100_002);

    const order = topoOrder(graph, [graph.outputs.y!]);
    expect(order.length).toBe(graph.nodes.length);
    expect(order[0]).toBeLessThan(2); // a source first
    expect(order.at(-1)).toBe(graph.outputs.y);
    for (let i = 1; i < 1000; i++) expect(order[i + 1]).toBeGreaterThan(order[i]!);

    const exe = compile(graph, { fuse: false });
    const out = exe.run({ x: Tensor.from([1, 2, 3, 4]) });
    expect(out.y!.toArray()).toEqual([100_001, 100_002, 100_003, 100_004]);
    const stats = exe.plan({ x: [4] }).stats;
    expect(stats.steps).toBeGreaterThan(0);
    expect(stats.steps).toBeLessThanOrEqual(100_000); // fewer when elementwise ops are fused
    expect(stats.pooledElements).toBeLessThanOrEqual(2 * 4);

    // with fusion (the default) the chain runs in capped groups, with the same result
    const fusedExe = compile(graph);
    expect(fusedExe.run({ x: Tensor.from([1, 2, 3, 4]) }).y!.toArray()).toEqual([
      100_001, 100_002, 100_003, 100_004,
    ]);
    expect(fusedExe.plan({ x: [4] }).stats.steps).toBeLessThan(100_000 / 10);
  });

  test("topoOrder puts inputs before users, visits shared nodes once and detects nothing spurious", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2]);
    const a = x.exp();
    const b = a.mul(a);
    const c = b.add(a);
    const unused = x.neg();
    g.output("c", c);
    g.output("u", unused);
    const graph = g.build();
    const order = topoOrder(graph, [c.id]);
    expect(order).toEqual([x.id, a.id, b.id, c.id]);
    const pos = new Map(order.map((id, i) => [id, i]));
    for (const id of order)
      for (const i of graph.nodes[id]!.inputs) expect(pos.get(i)!).toBeLessThan(pos.get(id)!);
    expect([...ancestors(graph, [c.id])]).toEqual([1, 1, 1, 1, 0]);
    expect([...dependents(graph, [a.id])]).toEqual([0, 1, 1, 1, 0]);
    expect([...useCounts(graph, order)]).toEqual([1, 3, 1, 0, 0]);
    expect(topoOrder(graph, [c.id, unused.id, c.id])).toEqual([x.id, a.id, b.id, c.id, unused.id]);
  });
});

/** A working `gc()`: the global one under --expose-gc, else enabled at run time through V8 flags. */
function getGc(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return g;
  try {
    v8.setFlagsFromString("--expose-gc");
    const f = vm.runInNewContext("gc") as unknown;
    return typeof f === "function" ? (f as () => void) : null;
  } catch {
    return null;
  }
}

describe("no allocation per run", () => {
  test("running a compiled MLP 20,000 times does not grow the heap", () => {
    const g = new GraphBuilder();
    const x = g.input("x", ["N", 20]);
    const y = g.input("y", ["N", 4]);
    const W1 = g.param("W1", [20, 16], { init: { kind: "glorotUniform" } });
    const b1 = g.param("b1", [16]);
    const W2 = g.param("W2", [16, 4], { init: { kind: "glorotUniform" } });
    const logits = x.matmul(W1).add(b1).relu().matmul(W2);
    g.output("loss", logits.logSoftmax().mul(y).sum(1).mean().neg());
    g.output("probs", logits.softmax());
    const graph = g.build();
    const exe = compile(graph, { params: ParamStore.init(graph, 1) });
    const feeds = { x: Tensor.full([16, 20], 0.1, "float32"), y: Tensor.full([16, 4], 0.25, "float32") };
    const plan = exe.plan({ x: [16, 20], y: [16, 4] });
    for (let i = 0; i < 500; i++) {
      exe.run(feeds);
      plan.run();
    }
    const loss = exe.run(feeds).loss!.item();
    expect(Number.isFinite(loss)).toBe(true);

    const gc = getGc();
    const MB = 1024 * 1024;
    // Three windows of 20,000 runs: an allocation per run shows in every window, while a one-off
    // event of the engine (a JIT compile, a background task finishing) shows in one at most; the
    // best window is held to the bound (this check failed 1 time in 4 on a busy machine otherwise).
    const windows: { grown: number; retained: number }[] = [];
    for (let w = 0; w < 3; w++) {
      gc?.();
      const h0 = process.memoryUsage().heapUsed;
      for (let i = 0; i < 10_000; i++) exe.run(feeds);
      for (let i = 0; i < 10_000; i++) plan.run(feeds);
      const grown = process.memoryUsage().heapUsed - h0;
      gc?.();
      windows.push({ grown, retained: process.memoryUsage().heapUsed - h0 });
    }
    const grown = Math.min(...windows.map((x) => x.grown));
    const retained = Math.min(...windows.map((x) => x.retained));
    if (gc) {
      // Measured without a collection in between, so ~80 bytes per run would already show as 1.6 MB.
      expect(grown, JSON.stringify(windows)).toBeLessThan(1 * MB);
      expect(retained, JSON.stringify(windows)).toBeLessThan(2 * MB);
    } else {
      expect(grown).toBeLessThan(16 * MB);
    }
    expect(exe.run(feeds).loss!.item()).toBe(loss);
  });
});
