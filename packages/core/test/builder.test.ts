import { GraphBuilder, GraphError, type OpName, ShapeError, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

function mlpBuilder() {
  const g = new GraphBuilder();
  const x = g.input("x", ["N", 784]);
  const W = g.param("W", [30, 10]);
  return { g, x, W };
}

/** Runs fn and returns the thrown error (failing the test when nothing is thrown). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}

describe("shape errors name the op, node, name and shapes", () => {
  test("matmul inner-dimension mismatch inside a scope with a user name", () => {
    const { g, x, W } = mlpBuilder();
    const e = thrown(() => g.scope("dense1", () => g.op("matmul", [x, W], {}, "hidden")));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.name).toBe("ShapeError");
    expect(e.message).toMatch(/^matmul at node #2 'dense1\/hidden': /);
    expect(e.message).toMatch(/inner dimensions 784 and 30 differ in \[N,784\] x \[30,10\]/);
    expect(e.message).toMatch(/\(inputs: #0 input 'x' \[N,784\] float32, #1 param 'W' \[30,10\] float32\)$/);
  });

  test("unnamed node inside a scope mentions the scope", () => {
    const { g, x, W } = mlpBuilder();
    expect(() => g.scope("dense1", () => x.matmul(W))).toThrow(
      /^matmul at node #2 in scope 'dense1': inner dimensions 784 and 30 differ/,
    );
    expect(() => g.scope("a", () => g.scope("b", () => x.matmul(W)))).toThrow(/in scope 'a\/b'/);
  });

  test("transpose flags appear in the shape description", () => {
    const { g, x, W } = mlpBuilder();
    expect(() => g.matmul(x, W, { transB: true })).toThrow(
      /inner dimensions 784 and 10 differ in \[N,784\] x \[30,10\]\^T/,
    );
    const a = g.input("a", [3]);
    expect(() => g.matmul(a, W)).toThrow(
      /matmul at node #\d+: both operands need rank >= 2, got \[3\] x \[30,10\]/,
    );
    const b1 = g.input("b1", [2, 3, 4]);
    const b2 = g.input("b2", [5, 4, 6]);
    expect(() => g.matmul(b1, b2)).toThrow(/batch dimensions cannot be broadcast in \[2,3,4\] x \[5,4,6\]/);
  });

  test("elementwise broadcast mismatch", () => {
    const g = new GraphBuilder();
    const a = g.input("a", [2, 3]);
    const b = g.input("b", [4]);
    const e = thrown(() => g.op("add", [a, b], {}, "sum1"));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toBe(
      "add at node #2 'sum1': shapes [2,3] and [4] cannot be broadcast together (inputs: #0 input 'a' [2,3] float32, #1 input 'b' [4] float32)",
    );
    const c = g.input("c", ["M", 3]);
    const n = g.input("n", ["N", 3]);
    expect(() => c.mul(n)).toThrow(
      /mul at node #\d+: shapes \[M,3\] and \[N,3\] cannot be broadcast together/,
    );
  });

  test("mixed dtypes", () => {
    const g = new GraphBuilder();
    const a = g.input("a", [2], "float32");
    const b = g.input("b", [2], "float64");
    expect(() => a.add(b)).toThrow(/add at node #2: mixed dtypes float32 and float64/);
  });

  test("reductions, softmax, concat, slice, reshape, broadcastTo, transpose", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2, 3]);
    const y = g.input("y", [2, 4]);
    expect(() => x.sum(2)).toThrow(/^sum at node #2: axis 2 is out of range for rank 2/);
    expect(() => x.softmax(-3)).toThrow(/softmax at node #2: axis -3 is out of range for rank 2/);
    expect(() => g.concat([x, y], 0)).toThrow(/concat at node #2: shapes \[2,3\], \[2,4\] differ off axis 0/);
    expect(() => g.concat([], 0)).toThrow(/concat: needs at least one input|needs at least one input/);
    expect(() => x.slice([0, 1], [2, 5])).toThrow(
      /slice at node #2: range 1:5 out of bounds for axis 1 of \[2,3\]/,
    );
    expect(() => x.reshape([4, 2])).toThrow(
      /reshape at node #2: cannot reshape \[2,3\] into \[4,2\] \(sizes differ\)/,
    );
    expect(() => x.reshape([-1, -1])).toThrow(/only one -1 allowed/);
    expect(() => x.reshape([-1, 4])).toThrow(/cannot reshape \[2,3\] into \[-1,4\]/);
    expect(() => x.broadcastTo([3, 3])).toThrow(
      /broadcastTo at node #2: cannot broadcast \[2,3\] to \[3,3\]/,
    );
    expect(() => x.broadcastTo([3])).toThrow(/cannot broadcast \[2,3\] to \[3\]/);
    expect(() => x.transpose([0, 0])).toThrow(
      /transpose at node #2: perm \[0,0\] is not a permutation of the axes of \[2,3\]/,
    );
    expect(() => x.transpose([0])).toThrow(/is not a permutation/);
    const s = g.input("s", ["N", 3]);
    expect(() => s.slice([1], [null])).toThrow(/axis 0 has symbolic size 'N' and can only be taken whole/);
    expect(() => g.concat([s, s], 0)).toThrow(/axis 0 has symbolic size 'N'/);
  });

  test("arity errors", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2]);
    expect(() => g.op("add", [x])).toThrow(ShapeError);
    expect(() => g.op("add", [x])).toThrow(/^add at node #1: expects 2 inputs, got 1$/);
    expect(() => g.op("exp", [x, x])).toThrow(/exp at node #1: expects 1 inputs, got 2/);
    expect(() => g.op("where", [x, x])).toThrow(/expects 3 inputs, got 2/);
    expect(() => g.op("fill", [x], { value: 1, shape: [], dtype: "float32" })).toThrow(
      /expects 0 inputs, got 1/,
    );
  });

  test("bad attributes", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2, 3]);
    expect(() => g.op("sum", [x], { axes: "0" as never })).toThrow(
      /sum at node #1: 'axes' must be an array of integers or null/,
    );
    expect(() => g.op("sum", [x], { axes: [0.5] })).toThrow(/'axes' must be an array of integers/);
    expect(() => g.op("sum", [x], { keepdims: 1 as never })).toThrow(
      /attribute 'keepdims' must be a boolean, got 1/,
    );
    expect(() => g.op("matmul", [x, x], { transA: "yes" as never })).toThrow(
      /attribute 'transA' must be a boolean/,
    );
    expect(() => g.op("softmax", [x], { axis: 1.5 })).toThrow(/attribute 'axis' must be an integer, got 1.5/);
    expect(() => g.op("concat", [x], {})).toThrow(/attribute 'axis' must be an integer, got undefined/);
    expect(() => g.op("transpose", [x], { perm: [0.5, 1] })).toThrow(/'perm' must be an array of integers/);
    expect(() => g.op("slice", [x], { begin: [-1], end: [null] })).toThrow(/invalid 'begin' \[-1\]/);
    expect(() => g.op("exp", [x], { foo: 1 } as never)).toThrow(/exp takes no attributes/);
    expect(() => g.op("fill", [], { value: "1" as never, shape: [2], dtype: "float32" })).toThrow(
      /'value' must be a number/,
    );
    expect(() => g.op("fill", [], { value: 1, shape: [2], dtype: "int8" as never })).toThrow(
      /invalid dtype "int8"/,
    );
    expect(() => g.op("constant", [], { values: [1, 2], shape: [3], dtype: "float32" })).toThrow(
      /constant: 2 values for shape \[3\] \(needs 3\)|2 values for shape \[3\] \(needs 3\)/,
    );
    expect(() => g.input("bad", [2, -1])).toThrow(/invalid shape \[2,-1\]/);
    expect(() => g.param("p", ["N", 2] as never)).toThrow(
      /^param at node #\d+ 'p': shape \[N,2\] must be concrete/,
    );
  });

  test("unknown op", () => {
    const g = new GraphBuilder();
    const e = thrown(() => g.op("conv9d" as OpName, []));
    expect(e).toBeInstanceOf(GraphError);
    expect(e.message).toBe(
      "unknown op 'conv9d': neither a built-in op nor registered with defineOp (define it before building)",
    );
    expect(() => g.op("toString" as OpName, [])).toThrow(/unknown op 'toString'/);
  });

  test("duplicate input / param / output names", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2]);
    g.param("W", [2]);
    expect(() => g.input("x", [3])).toThrow(GraphError);
    expect(() => g.input("x", [3])).toThrow(/an input or param named 'x' already exists/);
    expect(() => g.param("x", [3])).toThrow(/an input or param named 'x' already exists/);
    expect(() => g.input("W", [3])).toThrow(/named 'W' already exists/);
    expect(() => g.param("W", [2])).toThrow(/named 'W' already exists/);
    g.output("y", x.exp());
    expect(() => g.output("y", x)).toThrow(/an output named 'y' already exists/);
    // names already in an extended graph count too
    const base = g.build();
    const h = GraphBuilder.extend(base);
    expect(() => h.input("x", [2])).toThrow(/named 'x' already exists/);
    expect(() => h.output("y", h.ref("x"))).toThrow(/an output named 'y' already exists/);
  });

  test("values from another builder, and reuse after build", () => {
    const g1 = new GraphBuilder();
    const g2 = new GraphBuilder();
    const a = g1.input("a", [2]);
    const b = g2.input("b", [2]);
    expect(() => g1.add(a, b)).toThrow(/belongs to a different builder/);
    expect(() => g2.output("o", a)).toThrow(/value belongs to a different builder/);
    g1.output("o", a);
    g1.build();
    expect(() => g1.build()).toThrow(/build\(\) was already called/);
    expect(() => a.exp()).toThrow(/already built/);
  });
});

describe("building graphs", () => {
  test("nodes record op, inputs, attrs, shape, dtype and names", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", ["N", 4]);
    const W = g.param("W", [4, 3], { init: { kind: "glorotUniform" } });
    const b = g.param("b", [3]);
    const h = g.scope("dense", () => g.op("matmul", [x, W], {}, "hidden"));
    const y = h.add(b).named("logits");
    g.output("y", y);
    const graph = g.build();
    expect(graph.nodes.map((n) => n.op)).toEqual(["input", "param", "param", "matmul", "add"]);
    expect(graph.nodes.map((n) => n.id)).toEqual([0, 1, 2, 3, 4]);
    expect(graph.nodes[3]).toEqual({
      id: 3,
      op: "matmul",
      inputs: [0, 1],
      attrs: { transA: false, transB: false },
      shape: ["N", 3],
      dtype: "float64",
      name: "dense/hidden",
    });
    expect(graph.nodes[4]!.name).toBe("logits");
    expect(graph.nodes[0]!.name).toBe("x");
    expect(graph.inputs).toEqual({ x: 0 });
    expect(graph.params).toEqual({
      W: { node: 1, shape: [4, 3], dtype: "float64", init: { kind: "glorotUniform" } },
      b: { node: 2, shape: [3], dtype: "float64", init: { kind: "zeros" } },
    });
    expect(graph.outputs).toEqual({ y: 4 });
  });

  test("numbers become shared scalar fill nodes of the right dtype", () => {
    const g = new GraphBuilder({ dtype: "float32" });
    const x = g.input("x", [2], "float64");
    const a = x.add(2);
    const b = x.mul(2);
    expect(a.dtype).toBe("float64");
    g.output("a", a);
    g.output("b", b);
    const graph = g.build();
    const fills = graph.nodes.filter((n) => n.op === "fill");
    expect(fills).toHaveLength(1);
    expect(fills[0]!.attrs).toEqual({ value: 2, shape: [], dtype: "float64" });
    expect(graph.nodes[a.id]!.inputs).toEqual(graph.nodes[b.id]!.inputs);
  });

  test("constant accepts tensors, nested arrays and numbers", () => {
    const g = new GraphBuilder();
    const c1 = g.constant(Tensor.from([1, 2, 3]));
    const c2 = g.constant([
      [1, 2],
      [3, 4],
    ]);
    const c3 = g.constant(5, "float64");
    expect(c1.shape).toEqual([3]);
    expect(c2.shape).toEqual([2, 2]);
    expect(c3.shape).toEqual([]);
    expect(c3.dtype).toBe("float64");
    expect(c2.node.attrs).toEqual({ shape: [2, 2], values: [1, 2, 3, 4], dtype: "float32" });
    expect(g.zeros([2]).node.attrs).toEqual({ value: 0, shape: [2], dtype: "float32" });
    expect(g.ones(["N"]).shape).toEqual(["N"]);
  });

  test("Value helpers infer shapes", () => {
    const g = new GraphBuilder();
    const x = g.input("x", ["N", 3, 4]);
    expect(x.rank).toBe(3);
    expect(x.sum(1).shape).toEqual(["N", 4]);
    expect(x.sum([1, 2], true).shape).toEqual(["N", 1, 1]);
    expect(x.mean().shape).toEqual([]);
    expect(x.max(-1).shape).toEqual(["N", 3]);
    expect(x.transpose().shape).toEqual([4, 3, "N"]);
    expect(x.transpose([0, 2, 1]).shape).toEqual(["N", 4, 3]);
    expect(x.reshape(["N", 12]).shape).toEqual(["N", 12]);
    expect(x.logSumExp(-1).shape).toEqual(["N", 3]);
    expect(x.softmax().shape).toEqual(["N", 3, 4]);
    expect(x.slice([0, 1], [null, 3]).shape).toEqual(["N", 2, 4]);
    const m = g.input("m", [3, 5]);
    expect(x.matmul(m, { transA: true }).shape).toEqual(["N", 4, 5]);
    expect(m.T.shape).toEqual([5, 3]);
    expect(g.concat([m, m, m], -1).shape).toEqual([3, 15]);
    expect(g.pad(m, [1, 0], [0, 2]).shape).toEqual([4, 7]);
    expect(x.greater(0).shape).toEqual(["N", 3, 4]);
  });

  test("ref finds nodes by id, output, input and param name", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2]);
    const W = g.param("W", [2]);
    g.output("y", x.mul(W));
    expect(g.ref("x").id).toBe(x.id);
    expect(g.ref("W").id).toBe(W.id);
    expect(g.ref("y").id).toBe(2);
    expect(g.ref(1).shape).toEqual([2]);
    expect(() => g.ref("nope")).toThrow(/no output, input or param named 'nope'/);
    expect(() => g.ref(99)).toThrow(/no node #99/);
    expect(g.size).toBe(3);
  });
});
