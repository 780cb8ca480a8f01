/** Feeds: declared-but-unused inputs, nested arrays, null and undefined. */
import { compile, FeedError, type Feeds, GraphBuilder, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

/** The FeedError `fn` throws (fails the test when it throws anything else, or nothing). */
function feedError(fn: () => unknown): FeedError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FeedError);
    return e as FeedError;
  }
  throw new Error("no error was thrown");
}

describe("feeds for declared inputs the selected outputs do not use", () => {
  const g = new GraphBuilder({ dtype: "float64" });
  const a = g.input("a", [2]);
  const b = g.input("b", ["N"]);
  g.output("fromA", a.exp());
  g.output("fromB", b.neg());
  const graph = g.build();
  const feeds = { a: Tensor.from([0, 1]), b: Tensor.from([1, 2, 3]) };

  test("are accepted and ignored, by CompiledGraph.run, plan() and Plan.run", () => {
    const exe = compile(graph, { outputs: ["fromA"] });
    expect(exe.run(feeds).fromA!.toArray()).toEqual([1, Math.E]);
    expect(exe.run(feeds).fromA!.toArray()).toEqual([1, Math.E]); // the cached plan too
    const plan = exe.plan({ a: [2], b: [3] });
    expect(plan.run(feeds).fromA!.toArray()).toEqual([1, Math.E]);
    expect(plan.run({ a: feeds.a, b: "anything" as never }).fromA!.toArray()).toEqual([1, Math.E]);
    expect(exe.cachedPlans).toBe(1);
  });

  test("while names the graph does not declare are still unknown feeds", () => {
    const exe = compile(graph, { outputs: ["fromA"] });
    expect(feedError(() => exe.run({ ...feeds, q: 1 })).message).toBe("unknown feed 'q' (inputs: a, b)");
    exe.run(feeds);
    expect(feedError(() => exe.run({ ...feeds, q: 1 })).message).toBe("unknown feed 'q' (inputs: a, b)");
    expect(feedError(() => exe.plan({ a: [2], q: [1] })).message).toBe("unknown feed 'q' (inputs: a, b)");
  });
});

describe("nested arrays", () => {
  const g = new GraphBuilder({ dtype: "float32" });
  const x = g.input("x", ["N", 2]);
  g.output("y", x.sum(1));
  const graph = g.build();

  test("are accepted, bind symbolic dims, and are copied (as float32 here) into the plan", () => {
    const exe = compile(graph);
    expect(
      exe
        .run({
          x: [
            [1, 2],
            [3, 4.5],
          ],
        })
        .y!.toArray(),
    ).toEqual([3, 7.5]);
    expect(
      exe
        .run({
          x: [
            [1, 2],
            [3, 4],
            [5, 0.1],
          ],
        })
        .y!.toArray(),
    ).toEqual([3, 7, Math.fround(5.1)]);
    expect(exe.cachedPlans).toBe(2);
    expect(
      exe
        .run({
          x: [
            [0, 0],
            [1, 1],
          ],
        })
        .y!.toArray(),
    ).toEqual([0, 2]); // reuses the first plan
    expect(exe.cachedPlans).toBe(2);
    expect(
      exe
        .plan({ x: [2, 2] })
        .run({
          x: [
            [1, 1],
            [2, 2],
          ],
        })
        .y!.toArray(),
    ).toEqual([2, 4]);
  });

  test("a shape that does not fit the declaration or the plan is a FeedError", () => {
    const exe = compile(graph);
    expect(feedError(() => exe.run({ x: [[1, 2, 3]] })).message).toBe(
      "input 'x': fed shape [1,3] does not match declared [N,2]: dim 1 is 3, expected 2",
    );
    expect(feedError(() => exe.run({ x: [1, 2] })).message).toBe(
      "input 'x': fed shape [2] does not match declared [N,2]: rank 1, expected 2",
    );
    expect(feedError(() => exe.plan({ x: [2, 2] }).run({ x: [[1, 2]] })).message).toBe(
      "input 'x': fed shape [1,2], this plan was compiled for [2,2] (declared [N,2])",
    );
  });

  test("ragged arrays and non-numbers are FeedErrors naming the place; the buffer is left as it was", () => {
    const exe = compile(graph);
    exe.run({
      x: [
        [1, 2],
        [3, 4],
      ],
    });
    expect(feedError(() => exe.run({ x: [[1, 2], [3]] })).message).toBe(
      "input 'x': ragged nested array: expected 2 elements at [1]",
    );
    expect(
      feedError(() =>
        exe.run({
          x: [
            [1, 2],
            [3, "4"],
          ] as never,
        }),
      ).message,
    ).toBe("input 'x': ragged nested array: expected a number at [1][1]");
    expect(Array.from(exe.plan({ x: [2, 2] }).inputs.x!.data)).toEqual([1, 2, 3, 4]);
  });
});

describe("null and undefined", () => {
  const g = new GraphBuilder();
  g.output("y", g.input("x", [2, 2]).exp());
  const graph = g.build();
  const ok = { x: Tensor.zeros([2, 2]) };

  test("a null or undefined feed is a FeedError naming the input, before and after a plan exists", () => {
    for (const warm of [false, true]) {
      const exe = compile(graph);
      if (warm) exe.run(ok);
      expect(feedError(() => exe.run({ x: null } as never)).message).toBe(
        "input 'x': fed null (declared [2,2])",
      );
      expect(feedError(() => exe.run({ x: undefined } as never)).message).toBe(
        "input 'x': fed undefined (declared [2,2])",
      );
    }
    const plan = compile(graph).plan({ x: [2, 2] });
    expect(feedError(() => plan.run({ x: null } as never)).message).toBe(
      "input 'x': fed null (expected float32 [2,2])",
    );
    expect(feedError(() => plan.run({ x: undefined } as never)).message).toBe(
      "input 'x': fed undefined (expected float32 [2,2])",
    );
  });

  test("feeds that are not an object are a FeedError", () => {
    const exe = compile(graph);
    for (const feeds of [null, 3]) {
      expect(feedError(() => exe.run(feeds as unknown as Feeds)).message).toMatch(
        /^feeds must be an object of input name -> value, got (null|3)$/,
      );
    }
    exe.run(ok);
    expect(feedError(() => exe.run(null as unknown as Feeds)).message).toMatch(/^feeds must be an object/);
    expect(feedError(() => exe.plan({ x: [2, 2] }).run(null as unknown as Feeds)).message).toMatch(
      /^feeds must be an object/,
    );
  });
});
