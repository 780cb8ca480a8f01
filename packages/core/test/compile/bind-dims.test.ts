/** Pass 2, bind dims: feed shapes checked against declarations, symbolic dims bound. */
import { compile, FeedError, GraphBuilder, Tensor } from "@gradgraph/core";
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

describe("dims bound by inputs the outputs do not read", () => {
  /** d sum(x) / dx = broadcastTo(1, [N, 3]): the gradient needs N from x without reading x. */
  function gradOfSum() {
    const g = new GraphBuilder({ dtype: "float64" });
    g.input("x", ["N", 3]);
    const one = g.fill(1, [1, 1], "float64");
    g.output("ones", g.broadcastTo(one, ["N", 3]));
    return g.build();
  }

  test("a fed input that binds a free dim is used for it, and a new shape gives a new plan", () => {
    const c = compile(gradOfSum());
    const x2 = Tensor.from(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: "float64" },
    );
    const x1 = Tensor.from([[1, 2, 3]], { dtype: "float64" });
    expect(c.run({ x: x2 }).ones!.shape).toEqual([2, 3]);
    expect(c.run({ x: x1 }).ones!.shape).toEqual([1, 3]);
    expect(c.run({ x: x2 }).ones!.toNested()).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
  });

  test("without that feed the error names the inputs that could bind it", () => {
    expect(() => compile(gradOfSum()).run({})).toThrow(
      /symbolic dim 'N' is not bound by any fed input \(feed one of: x\)/,
    );
  });
});
