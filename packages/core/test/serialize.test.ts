import {
  compile,
  type Graph,
  GraphBuilder,
  GraphError,
  graphToJSON,
  ParamStore,
  parseGraph,
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
        r.version = 2;
      }),
    ).toThrow(/version 2 is not supported \(expected 1\)/);
    expect(
      bad((r) => {
        r.nodes = {} as never;
      }),
    ).toThrow(/'nodes' is not an array/);
  });

  test("unknown op", () => {
    expect(
      bad((r) => {
        r.nodes[5]!.op = "conv2d";
      }),
    ).toThrow(/node #5 'dense1\/hidden' has unknown op "conv2d"/);
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

  test("constants whose values do not survive JSON are rejected, not silently zeroed", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2]);
    g.output("y", x.add(g.constant([1, Number.POSITIVE_INFINITY]).named("inf")));
    const text = graphToJSON(g.build());
    expect(() => parseGraph(text)).toThrow(/node #1 'inf' \(constant\): .*number/);
    const r = JSON.parse(text);
    r.nodes[1].attrs.values = [1, "2"];
    expect(() => parseGraph(r)).toThrow(/node #1 'inf' \(constant\)/);
  });
});
