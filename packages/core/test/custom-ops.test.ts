/**
 * User ops (defineOp): registration rules, the typed handle, building, compiling (kernels, fusion,
 * dtypes), printing and serialisation; and custom gradients as IR (the customGradient op, traced
 * rule graphs, inlineGraph).
 */
import {
  type AttrsInput,
  broadcastShapeRule,
  type CustomOp,
  castGraph,
  compile,
  customGradient,
  customOpDef,
  customOpNames,
  type DTypeKernels,
  defineOp,
  evaluate,
  GraphBuilder,
  GraphError,
  type GraphNode,
  graphToJSON,
  inlineGraph,
  isCustomOpName,
  isKnownOp,
  isOpName,
  type Kernel,
  type NoAttrs,
  opDef,
  parseGraph,
  printGraph,
  ShapeError,
  sizeOf,
  Tensor,
  traceGraph,
  undefineOp,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";

const softplusFn = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

const softplus = defineOp({
  name: "test.softplus",
  doc: "log(1 + exp(x)), computed stably.",
  arity: 1,
  elementwise: {
    expr: (x) => `(Math.max(${x}, 0) + Math.log1p(Math.exp(-Math.abs(${x}))))`,
    fn: softplusFn,
  },
  vjp: ({ b, g, x }) => [b.mul(g, b.sigmoid(x[0]!))],
});

/** Scales the last axis' sum: `factor * sum(x, -1)`, with a hand-written kernel and attributes. */
interface RowSumAttrs {
  readonly factor: number;
  readonly keepdims: boolean;
}
const rowSum = defineOp({
  name: "test.rowSum",
  doc: "factor * the sum over the last axis.",
  arity: 1,
  attrs: (raw): RowSumAttrs => {
    const factor = raw.factor ?? 1;
    if (typeof factor !== "number") throw new Error(`test.rowSum: 'factor' must be a number`);
    const keepdims = raw.keepdims ?? false;
    if (typeof keepdims !== "boolean") throw new Error(`test.rowSum: 'keepdims' must be a boolean`);
    return { factor, keepdims };
  },
  shape: ([x], attrs) => {
    if (x!.shape.length === 0) throw new Error("test.rowSum: needs at least one axis");
    const lead = x!.shape.slice(0, -1);
    return { shape: attrs.keepdims ? [...lead, 1] : lead, dtype: x!.dtype };
  },
  kernel: (ctx): Kernel => {
    const m = ctx.inShapes[0]!.at(-1)!;
    const rows = sizeOf(ctx.outShape);
    const f = ctx.attrs.factor;
    // the dtype decides which array the kernel gets; rounding happens on store either way
    const seen = ctx.dtype;
    return (ins, out) => {
      if ((seen === "float32") !== out instanceof Float32Array) throw new Error("dtype mismatch");
      const x = ins[0]!;
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let j = 0; j < m; j++) s += x[r * m + j]!;
        out[r] = f * s;
      }
    };
  },
  vjp: ({ b, g, x, attrs }) => {
    const gk = attrs.keepdims ? g : b.reshape(g, [...x[0]!.shape.slice(0, -1), 1]);
    return [b.mul(b.broadcastTo(gk, x[0]!.shape), attrs.factor)];
  },
});

/** A variadic op: the elementwise sum of any number of inputs of one shape. */
const addAll = defineOp({
  name: "test.addAll",
  doc: "Sum of all inputs (same shape).",
  arity: "variadic",
  shape: (ins) => {
    if (ins.length === 0) throw new Error("test.addAll: needs inputs");
    for (const t of ins) {
      if (t.shape.join() !== ins[0]!.shape.join()) throw new Error("test.addAll: shapes differ");
    }
    return ins[0]!;
  },
  kernel: () => (ins, out) => {
    out.fill(0);
    for (const a of ins) for (let i = 0; i < out.length; i++) out[i]! += a[i]!;
  },
});

describe("defineOp", () => {
  test("registers the op beside the built-in table", () => {
    expect(softplus.name).toBe("test.softplus");
    expect(softplus.arity).toBe(1);
    expect(softplus.doc).toMatch(/stably/);
    expect(isOpName(softplus.name)).toBe(false);
    expect(isCustomOpName(softplus.name)).toBe(true);
    expect(isKnownOp("test.softplus")).toBe(true);
    expect(isKnownOp("exp")).toBe(true);
    expect(isKnownOp("nope")).toBe(false);
    expect(customOpNames()).toEqual(expect.arrayContaining(["test.softplus", "test.rowSum"]));
    expect(opDef("test.softplus")).toBe(customOpDef("test.softplus"));
    expect(softplus.def.vjp).toBeTypeOf("function");
    expect(softplus.def.jvp).toBeNull();
    expect(() => opDef("nope")).toThrow(/unknown op 'nope': neither a built-in op nor registered/);
  });

  test("built-in names are reserved; a name is defined once unless replaced", () => {
    expect(() =>
      defineOp({ name: "exp", doc: "d", arity: 1, elementwise: { expr: (x) => x, fn: (x) => x } }),
    ).toThrow(/'exp' is a built-in op; a user op needs another name \(e\.g\. 'myproject\.exp'\)/);
    expect(() =>
      defineOp({ name: "test.softplus", doc: "d", arity: 1, elementwise: { expr: (x) => x, fn: (x) => x } }),
    ).toThrow(/an op named 'test.softplus' is already defined; pass replace: true/);
  });

  test("invalid configurations name the op and the field", () => {
    const id = { expr: (x: string) => x, fn: (x: number) => x };
    expect(() => defineOp({ name: "2x", doc: "d", arity: 1, elementwise: id })).toThrow(/invalid name "2x"/);
    expect(() => defineOp({ name: "a b", doc: "d", arity: 1, elementwise: id })).toThrow(/invalid name/);
    expect(() => defineOp({ name: "t.nodoc", doc: " ", arity: 1, elementwise: id })).toThrow(
      /defineOp 't.nodoc': 'doc' must be a non-empty string/,
    );
    expect(() => defineOp({ name: "t.ar", doc: "d", arity: 4 as 1, elementwise: id })).toThrow(
      /'arity' must be 1, 2, 3 or "variadic"/,
    );
    expect(() => defineOp({ name: "t.noshape", doc: "d", arity: 1, kernel: () => () => {} })).toThrow(
      /defineOp 't.noshape': 'shape' must be a function \(or give 'elementwise'\)/,
    );
    expect(() => defineOp({ name: "t.nokernel", doc: "d", arity: 1, shape: (i) => i[0]! })).toThrow(
      /'kernel' must be a function/,
    );
    expect(() =>
      defineOp({ name: "t.ewattrs", doc: "d", arity: 1, elementwise: id, attrs: () => ({ k: 1 }) }),
    ).toThrow(/an elementwise op takes no attributes/);
    expect(() => defineOp({ name: "t.ewvar", doc: "d", arity: "variadic", elementwise: id })).toThrow(
      /an elementwise op needs a fixed arity/,
    );
    expect(() =>
      defineOp({
        name: "t.disagree",
        doc: "d",
        arity: 1,
        elementwise: { expr: (x) => `(${x} * 2)`, fn: (x) => x * 3 },
      }),
    ).toThrow(/'elementwise.expr' and 'elementwise.fn' disagree at \(0.5\): 1 vs 1.5/);
    expect(() =>
      defineOp({
        name: "t.syntax",
        doc: "d",
        arity: 1,
        elementwise: { expr: (x) => `${x} +`, fn: (x) => x },
      }),
    ).toThrow(/is not a JavaScript expression/);
    expect(() =>
      defineOp({ name: "t.vjp", doc: "d", arity: 1, elementwise: id, vjp: "leaf" as "zero" }),
    ).toThrow(/'vjp' must be a function or "zero"/);
    expect(isKnownOp("t.disagree")).toBe(false);
  });

  test("replace: true redefines the op, graphs built before included; undefineOp removes it", () => {
    const v1 = defineOp({
      name: "test.redefined",
      doc: "x + 1",
      arity: 1,
      elementwise: { expr: (x) => `(${x} + 1)`, fn: (x) => x + 1 },
    });
    const b = new GraphBuilder({ dtype: "float64" });
    b.output("y", v1(b, b.input("x", [2])));
    const graph = b.build();
    const x = Tensor.from([1, 2]);
    expect(evaluate(graph, { x }).y!.toArray()).toEqual([2, 3]);
    const v2 = defineOp({
      name: "test.redefined",
      doc: "x + 10",
      arity: 1,
      elementwise: { expr: (x) => `(${x} + 10)`, fn: (x) => x + 10 },
      replace: true,
    });
    expect(v1.def).toBe(v2.def); // handles follow the registered definition
    expect(evaluate(graph, { x }).y!.toArray()).toEqual([11, 12]); // no stale cached kernel
    expect(undefineOp(v2)).toBe(true);
    expect(undefineOp("test.redefined")).toBe(false);
    expect(() => compile(graph).run({ x })).toThrow(/unknown op 'test.redefined'/);
    expect(() => v1(new GraphBuilder(), 1)).toThrow(/unknown op 'test.redefined'/);
  });
});

describe("building with a user op", () => {
  test("the handle, b.call and b.op make the same node", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const ys = [softplus(b, x), b.call(softplus, [x]), b.op("test.softplus", [x]), b.op(softplus, [x])];
    for (const y of ys) {
      expect(y.node.op).toBe("test.softplus");
      expect(y.node.inputs).toEqual([x.id]);
      expect(y.shape).toEqual(["N", 3]);
    }
    const s = rowSum(b, x, { factor: 2 });
    expect(s.node.attrs).toEqual({ factor: 2, keepdims: false });
    expect(s.shape).toEqual(["N"]);
    expect(rowSum(b, x, { keepdims: true }).shape).toEqual(["N", 1]);
    const all = addAll(b, [x, x, softplus(b, x)]);
    expect(all.node.inputs).toHaveLength(3);
    // a node's op is an OpName or a CustomOpName; the guard tells them apart
    const node: GraphNode = all.node;
    expect(isOpName(node.op) ? "builtin" : "user").toBe("user");
  });

  test("errors name the op, the node and the shapes", () => {
    const b = new GraphBuilder();
    const x = b.input("x", [2, 3]);
    const s = b.scalar(1);
    expect(() => rowSum(b, s)).toThrow(ShapeError);
    expect(() => rowSum(b, s)).toThrow(
      /^test\.rowSum at node #\d+: needs at least one axis \(inputs: #\d+ fill \[\] float32\)$/,
    );
    expect(() => b.op("test.rowSum", [x], { factor: "2" }, "scaled")).toThrow(
      /^test\.rowSum at node #\d+ 'scaled': 'factor' must be a number \(inputs: #0 input 'x' \[2,3\] float32\)$/,
    );
    expect(() => addAll(b, [x, b.input("z", [3, 2])])).toThrow(/test\.addAll at node #\d+: shapes differ/);
    expect(() => b.op("test.softplus", [x, x])).toThrow(
      /test\.softplus at node #\d+: expects 1 inputs, got 2/,
    );
    expect(() => softplus(b, x, { k: 1 } as never)).toThrow(/takes no attributes/);
    expect(() => (softplus as unknown as (x: unknown) => unknown)(x)).toThrow(
      /test\.softplus: the first argument must be the GraphBuilder, as in test\.softplus\(b, x\)/,
    );
    expect(() => b.op("conv9d", [x])).toThrow(
      /unknown op 'conv9d': neither a built-in op nor registered with defineOp/,
    );
  });

  test("attributes are stored as the JSON they serialise to", () => {
    const loose = defineOp({
      name: "test.loose",
      doc: "identity with free-form attributes",
      arity: 1,
      attrs: (raw) => ({ ...raw }),
      shape: (ins) => ins[0]!,
      kernel: () => (ins, out) => out.set(ins[0]!),
    });
    const b = new GraphBuilder();
    const x = b.input("x", [2]);
    const y = loose(b, x, { a: -0, nested: { list: [1, "two", null, true] } });
    expect(Object.is((y.node.attrs as Record<string, unknown>).a, 0)).toBe(true);
    expect(y.node.attrs).toEqual({ a: 0, nested: { list: [1, "two", null, true] } });
    expect(() => loose(b, x, { v: Number.NaN })).toThrow(/attribute 'v' is NaN; attributes must be JSON/);
    expect(() => loose(b, x, { when: new Date(0) })).toThrow(
      /attribute 'when' is not JSON data \(a class instance\)/,
    );
    expect(() => loose(b, x, { f: () => 1 })).toThrow(/attribute 'f' is not JSON data \(function\)/);
  });
});

describe("compiling a user op", () => {
  const values = [-30, -2.5, -0.1, 0, 0.3, 4, 40];
  test.each(["float32", "float64"] as const)("elementwise kernel and fused loops (%s)", (dtype) => {
    const b = new GraphBuilder({ dtype });
    const x = b.input("x", [values.length]);
    b.output("alone", softplus(b, x));
    b.output("fused", softplus(b, x.mul(2)).add(1).neg());
    const exe = compile(b.build());
    const out = exe.run({ x: Tensor.from(values, { dtype }) });
    const round = dtype === "float32" ? Math.fround : (v: number) => v;
    const tol = dtype === "float32" ? 1e-6 : 1e-15;
    out.alone!.toArray().forEach((v, i) => {
      expect(Math.abs(v - round(softplusFn(values[i]!)))).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(v)));
    });
    out.fused!.toArray().forEach((v, i) => {
      const want = -(softplusFn(2 * values[i]!) + 1);
      expect(Math.abs(v - want)).toBeLessThanOrEqual(10 * tol * Math.max(1, Math.abs(want)));
    });
    const plan = exe.plan({ x: [values.length] });
    expect(plan.stats.fused).toBeGreaterThanOrEqual(2); // mul and softplus inside the neg loop
    expect(out.alone!.dtype).toBe(dtype);
  });

  test.each(["float32", "float64"] as const)("hand-written kernels see the dtype (%s)", (dtype) => {
    const b = new GraphBuilder({ dtype });
    const x = b.input("x", ["N", 3]);
    b.output("s", rowSum(b, x, { factor: 0.5 }));
    b.output("all", addAll(b, [x, x, x]));
    const out = evaluate(b.build(), {
      x: Tensor.from(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        { dtype },
      ),
    });
    expect(out.s!.dtype).toBe(dtype);
    expect(out.s!.toArray()).toEqual([3, 7.5]);
    expect(out.all!.toArray()).toEqual([3, 6, 9, 12, 15, 18]);
  });

  test("castGraph and constant folding work through user ops", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const c = softplus(b, b.constant([0, 1]));
    b.output("y", c.add(b.input("x", [2])));
    const g64 = castGraph(b.build(), "float64");
    const exe = compile(g64);
    const out = exe.run({ x: Tensor.from([0, 0]) });
    expect(out.y!.toArray()[0]).toBeCloseTo(Math.LN2, 15);
    expect(exe.plan({ x: [2] }).stats.folded).toBeGreaterThanOrEqual(2);
  });
});

describe("typing a user op with an attribute interface", () => {
  /** An interface (not a type alias): not assignable to CustomAttrs, a record type. */
  interface ScaleAttrs {
    readonly factor: number;
  }
  /** A validator typed with AttrsInput accepts raw JSON, partial attrs and its own result. */
  function scaleAttrs(raw: AttrsInput<ScaleAttrs>): ScaleAttrs {
    const { factor = 1, ...rest } = raw;
    if (Object.keys(rest).length > 0)
      throw new Error(`test.scale: unknown attribute '${Object.keys(rest)[0]}'`);
    if (typeof factor !== "number" || !Number.isFinite(factor))
      throw new Error("test.scale: 'factor' must be a number");
    return { factor };
  }
  const seen: string[] = [];
  const scale = defineOp<ScaleAttrs, 1>({
    name: "test.scale",
    doc: "factor * x, with a typed kernel per dtype",
    arity: 1,
    attrs: scaleAttrs,
    shape: ([x]) => x!,
    kernel: {
      float32: ({ attrs }) => {
        seen.push("float32");
        return (ins, out) => {
          const x: Float32Array = ins[0]!; // typed, no cast
          for (let i = 0; i < out.length; i++) out[i] = attrs.factor * x[i]!;
        };
      },
      float64: ({ attrs }) => {
        seen.push("float64");
        return (ins, out) => {
          const x: Float64Array = ins[0]!;
          for (let i = 0; i < out.length; i++) out[i] = attrs.factor * x[i]!;
        };
      },
    },
  });

  test("the validator takes its own result back (idempotent, typechecks without a spread)", () => {
    const once = scaleAttrs({ factor: 2 });
    expect(scaleAttrs(once)).toEqual(once);
    expect(scaleAttrs(scaleAttrs({}))).toEqual({ factor: 1 });
    const partial: Partial<ScaleAttrs> = {};
    expect(scaleAttrs(partial)).toEqual({ factor: 1 });
    expect(() => scaleAttrs({ factor: "2" })).toThrow(/'factor' must be a number/);
  });

  test("{ float32, float64 } kernels: each dtype gets its own array type", () => {
    for (const dtype of ["float32", "float64"] as const) {
      const b = new GraphBuilder({ dtype });
      const x = b.input("x", [3]);
      b.output("y", scale(b, x, { factor: 3 }));
      const exe = compile(b.build());
      const y = exe.run({ x: Tensor.from([1, -2, 0.5], { dtype }) }).y!;
      expect(y.data).toBeInstanceOf(dtype === "float32" ? Float32Array : Float64Array);
      expect(Array.from(y.data)).toEqual([3, -6, 1.5]);
      exe.dispose();
      expect(seen.at(-1)).toBe(dtype);
    }
  });

  test("a kernel object without a function per dtype is refused, naming the field", () => {
    expect(() =>
      defineOp({
        name: "test.halfKernel",
        doc: "only float32",
        arity: 1,
        shape: ([x]) => x!,
        kernel: { float32: () => () => {} } as unknown as DTypeKernels<NoAttrs>,
      }),
    ).toThrow(/defineOp 'test.halfKernel': 'kernel' must be a function, or \{ float32, float64 \}/);
  });
});

describe("broadcastShapeRule", () => {
  const scaledAdd = defineOp<{ factor: number }, 2>({
    name: "test.scaledAdd",
    doc: "a + factor * b, numpy broadcasting (here: b the same shape as a, or one element)",
    arity: 2,
    attrs: (raw) => {
      const factor = raw.factor ?? 1;
      if (typeof factor !== "number") throw new Error("test.scaledAdd: 'factor' must be a number");
      return { factor };
    },
    shape: broadcastShapeRule,
    kernel:
      ({ attrs }): Kernel =>
      (ins, out) => {
        const [a, b] = [ins[0]!, ins[1]!];
        for (let i = 0; i < out.length; i++) out[i] = a[i % a.length]! + attrs.factor * b[i % b.length]!;
      },
  });

  test("broadcasts like a built-in elementwise op, symbolic dims included", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const s = b.input("s", [1]);
    const y = scaledAdd(b, x, s, { factor: 2 });
    expect(y.shape).toEqual(["N", 3]);
    expect(y.shape).toEqual(b.add(x, s).shape);
    expect(scaledAdd(b, b.input("r", [4, 1, 1]), x).shape).toEqual([4, "N", 3]);
    b.output("y", y);
    const out = evaluate(b.build(), {
      x: Tensor.from([[1, 2, 3]], { dtype: "float64" }),
      s: Tensor.from([10], { dtype: "float64" }),
    });
    expect(Array.from(out.y!.data)).toEqual([21, 22, 23]);
  });

  test("shapes that do not broadcast, and mixed dtypes, are ShapeErrors naming the op and node", () => {
    const b = new GraphBuilder();
    expect(() => scaledAdd(b, b.input("a", [2, 3]), b.input("c", [4]))).toThrow(
      /^test\.scaledAdd at node #2: shapes \[2,3\] and \[4\] cannot be broadcast together/,
    );
    expect(() =>
      broadcastShapeRule([
        { shape: [2], dtype: "float32" },
        { shape: [2], dtype: "float64" },
      ]),
    ).toThrow(/mixed dtypes float32 and float64/);
  });
});

describe("printing and serialising user ops", () => {
  function graphWithUserOps() {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const h = b.scope("layer", () => b.call(softplus, [x], {}, "act"));
    b.output("y", rowSum(b, h, { factor: 2, keepdims: true }));
    b.output("z", addAll(b, [h, x]));
    return b.build();
  }

  test("printGraph shows the op name and its attributes", () => {
    expect(printGraph(graphWithUserOps())).toMatchInlineSnapshot(`
      "%0 = input "x" : f64[N,3]
      %1 = test.softplus(%0) : f64[N,3]  # layer/act
      %2 = test.rowSum(%1) {factor=2, keepdims=true} : f64[N,1]
      %3 = test.addAll(%1, %0) : f64[N,3]
      outputs: y=%2, z=%3"
    `);
  });

  test("round trips when the reader has the ops registered", () => {
    const graph = graphWithUserOps();
    const back = parseGraph(graphToJSON(graph));
    expect(back).toEqual(graph);
    expect(graphToJSON(back)).toBe(graphToJSON(graph));
    const x = Tensor.from([[1, -1, 0.5]]);
    expect(evaluate(back, { x }).y!.toArray()).toEqual(evaluate(graph, { x }).y!.toArray());
  });

  test("fails naming the node and the op when the reader does not know the op", () => {
    const temp = defineOp({
      name: "test.temporary",
      doc: "x * 3",
      arity: 1,
      elementwise: { expr: (x) => `(${x} * 3)`, fn: (x) => x * 3 },
    });
    const b = new GraphBuilder();
    b.output("y", temp(b, b.input("x", [2])).named("tripled"));
    const text = graphToJSON(b.build());
    undefineOp(temp);
    expect(() => parseGraph(text)).toThrow(GraphError);
    expect(() => parseGraph(text)).toThrow(
      /^invalid graph JSON: node #1 'tripled' has unknown op "test.temporary": neither a built-in op nor registered here \(define it with defineOp before parsing\)$/,
    );
    // defining it again (in the reader) makes the file readable
    defineOp({
      name: "test.temporary",
      doc: "x * 3",
      arity: 1,
      elementwise: { expr: (x) => `(${x} * 3)`, fn: (x) => x * 3 },
    });
    expect(parseGraph(text).nodes[1]!.op).toBe("test.temporary");
  });

  test("a user op's attributes and shape are re-validated on parse", () => {
    const raw = JSON.parse(graphToJSON(graphWithUserOps()));
    raw.nodes[2].attrs.factor = "big";
    expect(() => parseGraph(raw)).toThrow(
      /node #2 \(test\.rowSum\): test\.rowSum: 'factor' must be a number/,
    );
    const raw2 = JSON.parse(graphToJSON(graphWithUserOps()));
    raw2.nodes[2].shape = ["N"];
    expect(() => parseGraph(raw2)).toThrow(
      /node #2 \(test\.rowSum\) stores float64 \[N\] but its inputs give float64 \[N,1\]/,
    );
  });
});

describe("customGradient in the IR", () => {
  /** y = x * sigmoid(x) with a (correct) hand-written derivative. */
  function swishGraph(dtype: "float32" | "float64" = "float64") {
    const b = new GraphBuilder({ dtype });
    const x = b.input("x", ["N"]);
    const y = customGradient(
      b,
      [x],
      (b, x) => b.mul(x, b.sigmoid(x)),
      ({ b, x, g }) => {
        const s = b.sigmoid(x[0]!);
        return [b.mul(g, b.mul(s, b.add(1, b.mul(x[0]!, b.sub(1, s)))))];
      },
      { name: "swish" },
    );
    b.output("y", y.sum());
    return b.build();
  }

  test("the forward is the wrapped sub-graph (the node aliases it)", () => {
    const graph = swishGraph();
    const x = Tensor.from([-1, 0, 2]);
    const y = evaluate(graph, { x }).y!.item();
    expect(y).toBeCloseTo(-1 / (1 + Math.E) + 2 / (1 + Math.exp(-2)), 14);
    const node = graph.nodes.find((n) => n.op === "customGradient")!;
    expect(node.name).toBe("swish");
    expect(node.inputs).toHaveLength(2); // the wrapped value, then x
    expect(printGraph(graph)).toContain(
      `%3 = customGradient(%2, %0) {name="swish", inputs=1, backward=<graph: 10 nodes>, tangent=null} : f64[N]  # swish`,
    );
  });

  test("serialises self-contained: parses back equal, with nothing registered", () => {
    const graph = swishGraph();
    const text = graphToJSON(graph);
    const back = parseGraph(text);
    expect(back).toEqual(graph);
    expect(graphToJSON(back)).toBe(text);
    const raw = JSON.parse(text);
    const cg = raw.nodes.find((n: { op: string }) => n.op === "customGradient");
    cg.attrs.backward.nodes[3].op = "nope";
    expect(() => parseGraph(raw)).toThrow(
      /node #3 'swish' \(customGradient\): 'backward': node #3 has unknown op "nope": neither a built-in/,
    );
    const raw2 = JSON.parse(text);
    raw2.nodes.find((n: { op: string }) => n.op === "customGradient").attrs.backward.outputs.bogus = 3;
    expect(() => parseGraph(raw2)).toThrow(
      /node #3 'swish' \(customGradient\): customGradient: 'backward' has an unexpected output 'bogus' \(allowed: grad0\)/,
    );
  });

  test("the forward may only read its inputs and constants", () => {
    const b = new GraphBuilder();
    const x = b.input("x", [2]);
    const W = b.param("W", [2]);
    const half = b.scalar(0.5);
    // constants from outside are fine
    customGradient(
      b,
      [x],
      (b, x) => b.mul(x, half),
      ({ g }) => [g],
    );
    expect(() =>
      customGradient(
        b,
        [x],
        (b, x) => b.mul(x, W),
        ({ g }) => [g],
      ),
    ).toThrow(
      /customGradient: the forward function used #\d+ param 'W', which is not one of its inputs; pass it in 'inputs'/,
    );
    expect(() =>
      customGradient(
        b,
        [x],
        () => W,
        ({ g }) => [g],
        { name: "leak" },
      ),
    ).toThrow(
      /customGradient 'leak': the forward function returned #\d+ param 'W', which is not computed from its inputs/,
    );
    expect(() =>
      customGradient(
        b,
        [x],
        (b, x) => b.mul(x, b.param("V", [2])),
        ({ g }) => [g],
      ),
    ).toThrow(/the forward function declared #\d+ param 'V'; declare it outside/);
  });

  test("rules are traced when the node is made: their mistakes surface there", () => {
    const b = new GraphBuilder();
    const x = b.input("x", [2, 3]);
    const w = b.input("w", [3]);
    const f = (b: GraphBuilder, x: (typeof w)[]) => b.mul(x[0]!, x[1]!);
    expect(() =>
      customGradient(
        b,
        [x, w],
        (b, ...xs) => f(b, xs),
        ({ g }) => [g],
      ),
    ).toThrow(/customGradient: the VJP rule must return an array of 2 gradients \(or nulls\), got 1/);
    // a [2,3] gradient for w [3] is fine (it is summed back); a [2] one is not
    customGradient(
      b,
      [x, w],
      (b, ...xs) => f(b, xs),
      ({ g }) => [g, g],
    );
    expect(() =>
      customGradient(
        b,
        [x, w],
        (b, ...xs) => f(b, xs),
        ({ b, g }) => [g, b.sum(g, 1)],
        { name: "bad" },
      ),
    ).toThrow(
      /customGradient 'bad': the VJP rule returned a float32 \[2\] gradient for input 1, which is float32 \[3\]/,
    );
    expect(() =>
      customGradient(
        b,
        [x, w],
        (b, ...xs) => f(b, xs),
        ({ b: rb, g }) => [rb.mul(g, w), null],
      ),
    ).toThrow(
      /customGradient: the rule used a value from outside its arguments .*; pass it in as an input instead/,
    );
  });

  test("traceGraph and inlineGraph: a graph as a function", () => {
    const sq = traceGraph([{ name: "a", shape: ["N"], dtype: "float32" }], (b, [a]) => ({
      out: b.add(b.square(a!), 1),
    }));
    expect(Object.keys(sq.inputs)).toEqual(["a"]);
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3]);
    const { out } = inlineGraph(b, sq, { a: x });
    b.output("y", out!);
    const g = b.build();
    expect(g.nodes.every((n) => n.dtype === "float64")).toBe(true); // constants follow the values
    expect(evaluate(g, { x: Tensor.from([1, 2, 3]) }).y!.toArray()).toEqual([2, 5, 10]);
    expect(() => inlineGraph(new GraphBuilder(), sq, {})).toThrow(/no value given for input 'a'/);
  });

  test("works through castGraph (rule graphs follow the graph's dtype when replayed)", () => {
    const g32 = swishGraph("float32");
    const g64 = castGraph(g32, "float64");
    const x = Tensor.from([0.5, -0.25]);
    expect(evaluate(g64, { x }).y!.item()).toBeCloseTo(
      0.5 / (1 + Math.exp(-0.5)) - 0.25 / (1 + Math.exp(0.25)),
      14,
    );
  });
});

// keep the handle types honest: a handle is callable with its arity and attribute types
const _typed: CustomOp<RowSumAttrs, 1> = rowSum;
void _typed;
