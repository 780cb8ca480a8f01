/** Pass 2, bind dims: feed shapes checked against declarations, symbolic dims bound. */
import { FeedError, GraphBuilder } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { bindDims } from "../../src/compile/bind-dims.js";
import { selectOutputs } from "../../src/compile/select.js";

function twoHeads() {
  const g = new GraphBuilder({ dtype: "float64" });
  const x = g.input("x", ["N", 3]);
  const z = g.input("z", ["N", 3]);
  const a = x.exp(); // #2
  g.output("a", a);
  g.output("b", a.add(z)); // #3
  g.output("c", z.neg()); // #4
  return g.build();
}

describe("bind dims", () => {
  const graph = twoHeads();
  const bind = (inputShapes: Record<string, number[]>, outputs?: string[]) =>
    bindDims(selectOutputs({ graph, inputShapes, options: outputs ? { outputs } : {} }));

  test("binds symbolic dims from the needed inputs and records their declarations", () => {
    const f = bind({ x: [5, 3], z: [5, 3] });
    expect(f.inputNames).toEqual(["x", "z"]);
    expect({ ...f.inputDecl }).toEqual({ x: ["N", 3], z: ["N", 3] });
    expect([...f.dims]).toEqual([["N", 5]]);
    expect(bind({ x: [2, 3] }, ["a"]).inputNames).toEqual(["x"]);
  });

  test("missing, contradicting and mis-ranked shapes are FeedErrors naming the input", () => {
    expect(() => bind({ x: [5, 3] })).toThrow(
      new FeedError("missing feed for input 'z' (expected float64 [N,3])"),
    );
    expect(() => bind({ x: [5, 3], z: [4, 3] })).toThrow(
      new FeedError(
        "input 'z': fed shape [4,3] does not match declared [N,3]: dim 0 ('N') is 4 but 'N' is 5 elsewhere",
      ),
    );
    expect(() => bind({ x: [5, 3, 1], z: [5, 3] })).toThrow(/input 'x': .*: rank 3, expected 2/);
    expect(() => bind({ x: [5, 2], z: [5, 3] })).toThrow(/dim 1 is 2, expected 3/);
    expect(() => bind({ x: [-1, 3], z: [5, 3] })).toThrow(/dim 0 is -1/);
  });

  test("shapes of declared inputs the outputs do not need are ignored; undeclared names are errors", () => {
    const f = bind({ x: [2, 3], z: [7, 3] }, ["a"]);
    expect(f.inputNames).toEqual(["x"]);
    expect([...f.dims]).toEqual([["N", 2]]);
    expect(() => bind({ x: [2, 3], q: [1] }, ["a"])).toThrow(
      new FeedError("unknown feed 'q' (inputs: x, z)"),
    );
  });
});
