import { type CompiledGraph, compile, GraphBuilder, Rng, threadCount, wasmBackend } from "@gradgraph/core";
import { disableThreads, enableThreads } from "@gradgraph/core/node";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { injectWorkerFault, lostWorkers } from "../src/backend/threads.js";

async function waitForWorkers(n: number): Promise<void> {
  for (let i = 0; i < 500 && threadCount() < n; i++) await new Promise((r) => setTimeout(r, 10));
}

/** Products with every transpose flag and sizes that are not multiples of the 4-row tile. */
function products(m: number, k = 45, n = 38) {
  const g = new GraphBuilder();
  const a = g.input("a", [m, k]);
  const b = g.input("b", [k, n]);
  const at = g.input("at", [k, m]);
  const bt = g.input("bt", [n, k]);
  g.output("nn", a.matmul(b));
  g.output("tn", at.matmul(b, { transA: true }));
  g.output("nt", a.matmul(bt, { transB: true }));
  // a chain: each product feeds the next, so a wrong row anywhere propagates
  g.output("chain", a.matmul(b).tanh().matmul(bt).tanh().matmul(b));
  const graph = g.build();
  const shapes = { a: [m, k], b: [k, n], at: [k, m], bt: [n, k] };
  return { graph, shapes };
}

function run(c: CompiledGraph, shapes: Record<string, number[]>, seed: number) {
  const plan = c.plan(shapes);
  const rng = new Rng(seed);
  for (const k of Object.keys(shapes).sort()) rng.fillUniform(plan.inputs[k]!.data, -1, 1);
  return Object.fromEntries(Object.entries(plan.run()).map(([k, v]) => [k, v.toArray()]));
}

describe.skipIf(!wasmBackend())("worker-thread matrix products", () => {
  afterEach(() => disableThreads());
  afterAll(() => disableThreads());

  test("split products equal single-threaded ones for every transpose flag and odd sizes", async () => {
    // 67 rows split by rows; 7 rows (a convolution's few channels) split by columns
    const cases = [products(67), products(7, 45, 301)];
    const expected = cases.map(({ graph, shapes }) => run(compile(graph), shapes, 3));
    expect(enableThreads(1, { minWork: 1 })).toBe(1);
    await waitForWorkers(1);
    expect(threadCount()).toBe(1);
    cases.forEach(({ graph, shapes }, i) => {
      const threaded = compile(graph);
      for (let rep = 0; rep < 3; rep++) expect(run(threaded, shapes, 3)).toEqual(expected[i]);
    });
  });

  test("products computed while workers are still starting are bit-identical (2-5 workers, many starts)", () => {
    for (const [m, k, n] of [
      [67, 45, 38],
      [301, 257, 129],
      [13, 130, 517],
    ] as const) {
      const { graph, shapes } = products(m, k, n);
      const expected = run(compile(graph), shapes, 7);
      for (let n = 2; n <= 5; n++) {
        for (let start = 0; start < 3; start++) {
          enableThreads(n, { minWork: 1 });
          // no waiting: products run all through the workers' start-up, and a little beyond
          const c = compile(graph);
          let after = 0;
          for (let rep = 0; rep < 2000 && after < 3; rep++) {
            expect(run(c, shapes, 7), `m=${m} n=${n} start=${start} rep=${rep}`).toEqual(expected);
            if (threadCount() === n) after++;
          }
          disableThreads();
        }
      }
    }
    // up to 36 x 2000 synchronous products: 13 s alone, over 60 s on a loaded 2-core machine
  }, 240_000);

  test("a worker that throws mid-product is dropped with a warning and its rows recomputed", async () => {
    const { graph, shapes } = products(130);
    const expected = run(compile(graph), shapes, 11);
    const warnings: string[] = [];
    enableThreads(2, { minWork: 1, onWarning: (m) => warnings.push(m) });
    await waitForWorkers(2);
    injectWorkerFault(1, "throw");
    const c = compile(graph);
    for (let rep = 0; rep < 20 && lostWorkers() === 0; rep++) expect(run(c, shapes, 11)).toEqual(expected);
    expect(lostWorkers()).toBe(1);
    expect(warnings.join("\n")).toMatch(/worker thread 1 (died|stopped)/);
    for (let rep = 0; rep < 3; rep++) expect(run(c, shapes, 11)).toEqual(expected);
    await new Promise((r) => setTimeout(r, 50)); // the worker's error event arrives and is absorbed
    expect(threadCount()).toBe(1);
  });

  test("a worker that exits silently mid-product is retired after the time-out; results unchanged", async () => {
    const { graph, shapes } = products(130);
    const expected = run(compile(graph), shapes, 13);
    const warnings: string[] = [];
    enableThreads(2, { minWork: 1, workerTimeoutMs: 200, onWarning: (m) => warnings.push(m) });
    await waitForWorkers(2);
    injectWorkerFault(0, "exit");
    const c = compile(graph);
    for (let rep = 0; rep < 20 && lostWorkers() === 0; rep++) expect(run(c, shapes, 13)).toEqual(expected);
    expect(lostWorkers()).toBe(1);
    expect(warnings.join("\n")).toMatch(/worker thread 0/);
    for (let rep = 0; rep < 3; rep++) expect(run(c, shapes, 13)).toEqual(expected);
  });

  test("a worker that dies between products is noticed through its exit event", async () => {
    const warnings: string[] = [];
    const { graph, shapes } = products(130);
    const expected = run(compile(graph), shapes, 5);
    enableThreads(3, { minWork: 1, workerTimeoutMs: 60_000, onWarning: (m) => warnings.push(m) });
    await waitForWorkers(3);
    injectWorkerFault(2, "exit-idle");
    const c = compile(graph);
    for (let rep = 0; rep < 20 && lostWorkers() === 0; rep++) {
      expect(run(c, shapes, 5)).toEqual(expected);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(lostWorkers()).toBe(1);
    expect(warnings.join("\n")).toMatch(/worker thread 2 stopped \(exit code 1\)/);
    expect(run(c, shapes, 5)).toEqual(expected);
  });
});
