import { compile, GraphBuilder, Rng, threadCount, wasmBackend } from "@gradgraph/core";
import { disableThreads, enableThreads } from "@gradgraph/core/node";
import { afterAll, describe, expect, test } from "vitest";

async function waitForWorkers(n: number): Promise<void> {
  for (let i = 0; i < 200 && threadCount() < n; i++) await new Promise((r) => setTimeout(r, 10));
}

describe.skipIf(!wasmBackend())("worker-thread matrix products", () => {
  afterAll(() => disableThreads());

  test("split products equal single-threaded ones for every transpose flag and odd sizes", async () => {
    const g = new GraphBuilder();
    const a = g.input("a", [67, 45]);
    const b = g.input("b", [45, 38]);
    const at = g.input("at", [45, 67]);
    const bt = g.input("bt", [38, 45]);
    g.output("nn", a.matmul(b));
    g.output("tn", at.matmul(b, { transA: true }));
    g.output("nt", a.matmul(bt, { transB: true }));
    const graph = g.build();
    const rng = new Rng(3);
    const shapes = { a: [67, 45], b: [45, 38], at: [45, 67], bt: [38, 45] };
    const single = compile(graph).plan(shapes);
    for (const t of Object.values(single.inputs)) rng.fillUniform(t.data, -1, 1);
    const expected = Object.fromEntries(Object.entries(single.run()).map(([k, v]) => [k, v.toArray()]));

    expect(enableThreads(1, { minWork: 1 })).toBe(1);
    await waitForWorkers(1);
    expect(threadCount()).toBe(1);
    const threaded = compile(graph).plan(shapes);
    for (const [k, t] of Object.entries(threaded.inputs)) t.data.set(single.inputs[k]!.data);
    for (let rep = 0; rep < 3; rep++) {
      const out = threaded.run();
      for (const k of ["nn", "tn", "nt"]) expect(out[k]!.toArray()).toEqual(expected[k]);
    }
  });
});
