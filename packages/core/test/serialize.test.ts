import {
  compile,
  type Graph,
  GraphBuilder,
  GraphError,
  graphToJSON,
  ParamStore,
  parseGraph,
  pruneGraph,
  Tensor,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";

function mlp(): Graph {
  const g = new GraphBuilder();
  const x = g.input("x", ["N", 4]);
  const y = g.input("y", ["N", 2]);
  const W1 = g.param("W1", [4, 3], { init: { kind: "glorotUniform" } });
  const b1 = g.param("b1", [3]);
  const W2 = g.param("W2", [3, 2], { init: { kind: "normal", std: 0.1 } });
  const h = g.scope("dense1", () => g.op("matmul", [x, W1], {}, "hidden").add(b1).relu());
  const logits = g.scope("dense2", () => h.matmul(W2).named("logits"));
  const lp = logits.logSoftmax();
  const loss = lp.mul(y).sum(1).mean().neg().named("loss");
  const scaled = g
    .constant([0.5, 2])
    .mul(logits.softmax())
    .add(g.fill(1, ["N", 2]));
  g.output("loss", loss);
  g.output("probs", scaled);
  g.output(
    "sq",
    g
      .concat([h.slice([0, 0], [null, 2]), logits], 1)
      .square()
      .transpose(),
  );
  return g.build();
}

/** The graph as a plain (mutable) object, for corrupting. */
function raw(graph: Graph): {
  format: unknown;
  version: unknown;
  nodes: Record<string, unknown>[];
  inputs: Record<string, unknown>;
  params: Record<string, Record<string, unknown>>;
  outputs: Record<string, unknown>;
} {
  return JSON.parse(graphToJSON(graph));
}

describe("graphToJSON / parseGraph round trip", () => {
  test("deep equal, frozen, stable text", () => {
    const graph = mlp();
    const text = graphToJSON(graph);
    const back = parseGraph(text);
    expect(back).toEqual(graph);
    expect(Object.isFrozen(back)).toBe(true);
    expect(Object.isFrozen(back.nodes[3])).toBe(true);
    expect(graphToJSON(back)).toBe(text);
    expect(parseGraph(JSON.parse(text))).toEqual(graph);
    expect(graphToJSON(graph, 2)).toContain('\n  "format": "gradgraph.graph"');
    expect(JSON.parse(graphToJSON(graph, 2))).toEqual(JSON.parse(text));
  });

  test("compiled results are identical", () => {
    const graph = mlp();
    const back = parseGraph(graphToJSON(graph));
    const params = ParamStore.init(graph, 3);
    const x = Tensor.from(
      [
        [1, 2, 3, 4],
        [-1, 0.5, 2, 0],
        [0.1, 0.2, 0.3, 0.4],
      ],
      { dtype: "float32" },
    );
    const y = Tensor.from(
      [
        [1, 0],
        [0, 1],
        [1, 0],
      ],
      { dtype: "float32" },
    );
    const a = compile(graph, { params }).run({ x, y });
    const b = compile(back, { params }).run({ x, y });
    for (const k of ["loss", "probs", "sq"]) {
      expect(b[k]!.shape).toEqual(a[k]!.shape);
      expect(b[k]!.toArray()).toEqual(a[k]!.toArray());
    }
    expect(Number.isFinite(a.loss!.item())).toBe(true);
  });

  test("empty graph and scalar graph", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const a = g.input("a", []);
    g.output("f", a.mul(a).add(a.exp()));
    const graph = g.build();
    expect(parseGraph(graphToJSON(graph))).toEqual(graph);
    const empty = new GraphBuilder().build();
    expect(parseGraph(graphToJSON(empty))).toEqual(empty);
  });
});

describe("parse errors name the node", () => {
  const bad = (mutate: (r: ReturnType<typeof raw>) => void) => {
    const r = raw(mlp());
    mutate(r);
    return () => parseGraph(r);
  };

  test("not JSON, not an object", () => {
    expect(() => parseGraph("{")).toThrow(GraphError);
    expect(() => parseGraph("{")).toThrow(/^invalid graph JSON: not JSON/);
    expect(() => parseGraph("[]")).toThrow(/top level is not an object/);
    expect(() => parseGraph(null)).toThrow(/top level is not an object/);
  });

  test("wrong format or version", () => {
    expect(
      bad((r) => {
        r.format = "onnx";
      }),
    ).toThrow(/format is "onnx", expected "gradgraph.graph"/);
    expect(
      bad((r) => {
        r.version = 3;
      }),
    ).toThrow(/version 3 is not supported \(this build reads versions 1 to 2\)/);
    expect(
      bad((r) => {
        r.version = "2";
      }),
    ).toThrow(/version "2" is not supported/);
    expect(
      bad((r) => {
        r.nodes = {} as never;
      }),
    ).toThrow(/'nodes' is not an array/);
  });

  test("unknown op", () => {
    expect(
      bad((r) => {
        r.nodes[5]!.op = "conv3d";
      }),
    ).toThrow(/node #5 'dense1\/hidden' has unknown op "conv3d"/);
  });

  test("input id not earlier", () => {
    expect(
      bad((r) => {
        r.nodes[5]!.inputs = [0, 7];
      }),
    ).toThrow(
      /node #5 'dense1\/hidden' \(matmul\) has inputs \[0,7\]: each must be the id of an earlier node/,
    );
    expect(
      bad((r) => {
        r.nodes[5]!.inputs = [0, 5];
      }),
    ).toThrow(/node #5 .*has inputs \[0,5\]/);
    expect(
      bad((r) => {
        r.nodes[5]!.inputs = [0, -1];
      }),
    ).toThrow(/node #5 .*has inputs \[0,-1\]/);
  });

  test("stored shape or dtype not matching the inferred one", () => {
    expect(
      bad((r) => {
        r.nodes[5]!.shape = ["N", 99];
      }),
    ).toThrow(
      /node #5 'dense1\/hidden' \(matmul\) stores float32 \[N,99\] but its inputs give float32 \[N,3\]/,
    );
    expect(
      bad((r) => {
        r.nodes[5]!.dtype = "float64";
      }),
    ).toThrow(
      /node #5 'dense1\/hidden' \(matmul\) stores float64 \[N,3\] but its inputs give float32 \[N,3\]/,
    );
  });

  test("an op's own shape rule failing names the node", () => {
    expect(
      bad((r) => {
        // x declared [N,5]: the matmul with W1 [4,3] no longer fits
        (r.nodes[0]!.attrs as { shape: unknown[] }).shape = ["N", 5];
        r.nodes[0]!.shape = ["N", 5];
      }),
    ).toThrow(/node #5 'dense1\/hidden' \(matmul\): matmul: inner dimensions 5 and 4 differ/);
  });

  test("missing param or input table entry", () => {
    expect(
      bad((r) => {
        delete r.params.W1;
      }),
    ).toThrow(/param node #2 'W1' is missing from 'params'/);
    expect(
      bad((r) => {
        delete r.inputs.y;
      }),
    ).toThrow(/input node #1 'y' is missing from 'inputs'/);
  });

  test("bad tables", () => {
    expect(
      bad((r) => {
        r.outputs.loss = 999;
      }),
    ).toThrow(/outputs\.loss refers to missing node 999/);
    expect(
      bad((r) => {
        r.inputs.x = 2;
      }),
    ).toThrow(/inputs\.x refers to node #2, which is not the input 'x'/);
    expect(
      bad((r) => {
        r.params.W1!.node = 0;
      }),
    ).toThrow(/params\.W1 refers to node 0, which is not the param 'W1'/);
    expect(
      bad((r) => {
        r.params.W1!.shape = [4, 4];
      }),
    ).toThrow(/params\.W1 has shape \[4,4\] but its node has \[4,3\]/);
    expect(
      bad((r) => {
        r.params.W1!.init = "glorot";
      }),
    ).toThrow(/params\.W1 has no valid 'init'/);
  });

  test("bad node records", () => {
    expect(
      bad((r) => {
        r.nodes[3]!.id = 4;
      }),
    ).toThrow(/node #3 'b1' has id 4, expected 3/);
    expect(
      bad((r) => {
        r.nodes[5]!.inputs = [0];
      }),
    ).toThrow(/node #5 'dense1\/hidden' \(matmul\) has 1 inputs, the op takes 2/);
    expect(
      bad((r) => {
        (r.nodes[5]!.attrs as Record<string, unknown>).transA = "no";
      }),
    ).toThrow(/node #5 'dense1\/hidden' \(matmul\): matmul: attribute 'transA' must be a boolean/);
    expect(
      bad((r) => {
        r.nodes[5]!.dtype = "int8";
      }),
    ).toThrow(/node #5 'dense1\/hidden' has invalid dtype "int8"/);
    expect(
      bad((r) => {
        r.nodes[5]!.shape = ["N", -3];
      }),
    ).toThrow(/node #5 'dense1\/hidden' has invalid shape \["N",-3\]/);
  });

  test("constant values that are neither numbers nor the non-finite strings are rejected", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2]);
    g.output("y", x.add(g.constant([1, 2]).named("c")));
    const r = raw(g.build());
    (r.nodes[1]!.attrs as { values: unknown[] }).values = [1, "2"];
    expect(() => parseGraph(r)).toThrow(/node #1 'c' \(constant\): values\[1\] is "2"/);
    (r.nodes[1]!.attrs as { values: unknown[] }).values = [1, null];
    expect(() => parseGraph(r)).toThrow(/node #1 'c' \(constant\): values\[1\] is null/);
  });
});

/** A graph using every kind of non-finite (and negative zero) constant the builder can make. */
function nonFinite(): Graph {
  const g = new GraphBuilder({ dtype: "float64" });
  const x = g.input("x", [5]);
  const c = g
    .constant([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1.5])
    .named("specials");
  const lo = x.maximum(Number.NEGATIVE_INFINITY).named("floor"); // a fill of -Infinity
  const hi = lo.minimum(Number.POSITIVE_INFINITY);
  const nan = g.fill(Number.NaN, [5]);
  const negZero = g.scalar(-0);
  g.param("p", [2], { init: { kind: "values", values: [Number.NaN, Number.NEGATIVE_INFINITY] } });
  g.param("q", [], { init: { kind: "constant", value: Number.POSITIVE_INFINITY } });
  g.output("y", hi.add(c).add(nan.mul(negZero)));
  return g.build();
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

describe("non-finite constants (graph format version 2)", () => {
  test("NaN, Infinity, -Infinity and -0 round-trip in constants, fills and initialisers", () => {
    const graph = nonFinite();
    const text = graphToJSON(graph);
    expect(JSON.parse(text).version).toBe(2);
    expect(text).toContain('"values":["NaN","Infinity","-Infinity","-0",1.5]');
    expect(text).toContain('"value":"-Infinity"');
    const back = parseGraph(text);
    expect(back).toEqual(graph);
    expect(graphToJSON(back)).toBe(text);
    const attrs = (id: number) => back.nodes[id]!.attrs as { values?: number[]; value?: number };
    const specials = back.nodes.find((n) => n.name === "specials")!;
    expect(
      sameNumbers(attrs(specials.id).values!, [
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        -0,
        1.5,
      ]),
    ).toBe(true);
    const fills = back.nodes.filter((n) => n.op === "fill").map((n) => attrs(n.id).value!);
    expect(sameNumbers(fills, [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, Number.NaN, -0])).toBe(
      true,
    );
    const p = back.params.p!.init as { values: readonly number[] };
    expect(sameNumbers(p.values, [Number.NaN, Number.NEGATIVE_INFINITY])).toBe(true);
    expect(back.params.q!.init).toEqual({ kind: "constant", value: Number.POSITIVE_INFINITY });
    // the loaded graph computes the same thing
    const params = ParamStore.init(graph, 1);
    const x = Tensor.from([1, -2, 3, Number.NaN, 0]);
    const a = compile(graph, { params }).run({ x }).y!.toArray();
    const b = compile(back, { params }).run({ x }).y!.toArray();
    expect(sameNumbers(b, a)).toBe(true);
  });

  test("version 1 graphs (no string-encoded numbers) still load", () => {
    const r = raw(mlp());
    r.version = 1;
    expect(parseGraph(r)).toEqual(mlp());
    const text = JSON.stringify(r);
    expect(graphToJSON(parseGraph(text))).toBe(graphToJSON(mlp()));
    // a version 1 file cannot hold the string encoding
    const g = raw(nonFinite());
    g.version = 1;
    expect(() => parseGraph(g)).toThrow(/node #1 'specials' \(constant\): values\[0\] is "NaN".*version 2/);
  });

  test("a number literal that overflows (1e400) is rejected, naming the node or param", () => {
    const text = graphToJSON(mlp());
    const withConst = text.replace('"values":[0.5,2]', '"values":[0.5,1e400]');
    expect(withConst).not.toBe(text);
    expect(() => parseGraph(withConst)).toThrow(GraphError);
    expect(() => parseGraph(withConst)).toThrow(
      /node #\d+ \(constant\): values\[1\] is not a finite number.*"Infinity"/,
    );
    const withFill = text.replace('"value":1,', '"value":-1e400,');
    expect(withFill).not.toBe(text);
    expect(() => parseGraph(withFill)).toThrow(/node #\d+ \(fill\): 'value' is not a finite number/);
    const withInit = text.replace('"std":0.1', '"std":1e999');
    expect(withInit).not.toBe(text);
    expect(() => parseGraph(withInit)).toThrow(/params\.W2: init 'std' is not a finite number/);
    // integers where the format needs them: an overflowing dim or axis is an error too
    const withDim = text.replace('"shape":["N",4]', '"shape":["N",1e400]');
    expect(() => parseGraph(withDim)).toThrow(/node #0 'x' .*invalid shape/);
  });

  test("initialisers are validated by kind", () => {
    const r = raw(mlp());
    r.params.W1!.init = { kind: "glorotUniformish" };
    expect(() => parseGraph(r)).toThrow(/params\.W1: unknown init kind "glorotUniformish"/);
    r.params.W1!.init = { kind: "values", values: [1, 2] };
    expect(() => parseGraph(r)).toThrow(/params\.W1: init 'values' has 2 values, the param has 12 elements/);
    r.params.W1!.init = { kind: "uniform", low: 0 };
    expect(() => parseGraph(r)).toThrow(/params\.W1: init 'high' is missing or not a number/);
    r.params.W1!.init = { kind: "zeros", extra: [[[1]]] };
    expect(() => parseGraph(r)).toThrow(/params\.W1: init "zeros" has unexpected field 'extra'/);
  });

  test("absurdly deep nesting is rejected before anything walks it recursively", () => {
    const r = raw(mlp());
    let deep: unknown[] = [];
    const root = deep;
    for (let i = 0; i < 100_000; i++) {
      const next: unknown[] = [];
      deep.push(next);
      deep = next;
    }
    (r.nodes[5]!.attrs as Record<string, unknown>).transA = root;
    expect(() => parseGraph(r)).toThrow(GraphError);
    expect(() => parseGraph(r)).toThrow(/nested more than \d+ levels deep at nodes\[5\]\.attrs\.transA/);
  });
});

describe("huge graphs", () => {
  test("a 200,000-node graph serialises, parses and prunes (no spread of huge arrays)", () => {
    const g = new GraphBuilder({ dtype: "float32" });
    let v = g.input("x", [2]);
    for (let i = 0; i < 200_000; i++) v = v.add(1);
    g.output("y", v);
    const graph = g.build();
    const text = graphToJSON(graph);
    const back = parseGraph(text);
    expect(back.nodes.length).toBe(200_002);
    expect(graphToJSON(back)).toBe(text);
    expect(pruneGraph(back).nodes.length).toBe(200_002);
  });
});
