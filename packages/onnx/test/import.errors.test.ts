import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { evaluate, type Graph, GraphBuilder, ParamStore, type Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { ModelProtoSchema, OperatorSetIdProtoSchema } from "../src/gen/onnx_pb.js";
import { exportOnnx, exportTrainingStep, importOnnx, OnnxError } from "../src/index.js";
import { loadOnnx } from "../src/node.js";
import { cnn, transformerBlock } from "./helpers/import-graphs.js";
import { buildModel, floats, int64s, node, randomTensor } from "./helpers/onnx-build.js";

const N = "N";

/** An exported two-layer MLP (symbolic batch) and a feed for it. */
function exportedMlp(): Uint8Array {
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("x", [N, 3]);
  const w1 = b.param("w1", [3, 4], { init: { kind: "normal", std: 0.5 } });
  const b1 = b.param("b1", [4], { init: { kind: "normal", std: 0.1 } });
  const w2 = b.param("w2", [4, 2], { init: { kind: "normal", std: 0.5 } });
  b.output("probs", x.matmul(w1).add(b1).tanh().matmul(w2).softmax(-1));
  const graph = b.build();
  return exportOnnx(graph, ParamStore.init(graph, 3));
}

function expectOnnxError(f: () => unknown, ...patterns: RegExp[]): OnnxError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(OnnxError);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
  return err as OnnxError;
}

/** Runs an imported graph on random feeds (symbolic dims set to 2). */
function runImported(bytes: Uint8Array): void {
  const m = importOnnx(bytes);
  const feeds: Record<string, Tensor> = {};
  for (const [name, id] of Object.entries(m.graph.inputs)) {
    const shape = m.graph.nodes[id]!.shape.map((d) => (typeof d === "number" ? d : 2));
    feeds[name] = randomTensor(shape, 1);
  }
  const out = evaluate(m.graph, feeds, { params: m.params });
  expect(Object.keys(out).length).toBeGreaterThan(0);
}

describe("importOnnx: bad input", () => {
  it("bytes that are not a protobuf", () => {
    expectOnnxError(
      () => importOnnx(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])),
      /not a valid ONNX model \(truncated or corrupt protobuf\)/,
    );
  });

  it("a model without a graph (e.g. an empty file)", () => {
    expectOnnxError(() => importOnnx(new Uint8Array(0)), /IR version 0 is not supported/);
    const noGraph = toBinary(
      ModelProtoSchema,
      create(ModelProtoSchema, {
        irVersion: 8n,
        opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 18n })],
      }),
    );
    expectOnnxError(() => importOnnx(noGraph), /the model has no graph/);
  });

  it("a node input that is never defined, or used before it is computed; an output never produced", () => {
    const bytes = buildModel({
      inputs: { x: [N, 3] },
      outputs: ["y", "ghost"],
      nodes: [
        node("Add", ["x", "later"], ["y"], {}, { name: "adder" }),
        node("Relu", ["x"], ["later"]),
        node("Abs", ["nowhere"], ["z"], {}, { name: "absolute" }),
      ],
    });
    expectOnnxError(
      () => importOnnx(bytes),
      /node 'adder' \(Add\) uses 'later' before the node that computes it/,
      /node 'absolute' \(Abs\) uses 'nowhere', which is never defined/,
      /graph output 'ghost' is never produced/,
    );
  });

  it("opsets and IR versions outside the supported range", () => {
    const at = (opset: number, irVersion = 8) =>
      buildModel({
        inputs: { x: [2] },
        outputs: ["y"],
        nodes: [node("Relu", ["x"], ["y"])],
        opset,
        irVersion,
      });
    expectOnnxError(
      () => importOnnx(at(10)),
      /opset 10 of the default domain is not supported \(supported: 11 to 21\)/,
    );
    expectOnnxError(() => importOnnx(at(22)), /opset 22 .*supported: 11 to 21/);
    expectOnnxError(() => importOnnx(at(18, 2)), /IR version 2 is not supported \(supported: 3 to 13\)/);
    expect(importOnnx(at(11)).opset).toBe(11);
    expect(importOnnx(at(21)).opset).toBe(21);
    const noDefault = toBinary(
      ModelProtoSchema,
      create(ModelProtoSchema, {
        irVersion: 8n,
        opsetImport: [create(OperatorSetIdProtoSchema, { domain: "com.microsoft", version: 1n })],
        graph: { node: [node("Relu", ["x"], ["y"])], output: [{ name: "y" }] },
      }),
    );
    expectOnnxError(() => importOnnx(noDefault), /imports no default-domain opset/);
  });

  it("lists every unsupported node (name and op type) and nodes of other domains in one error", () => {
    const bytes = buildModel({
      inputs: { x: [N, 3] },
      outputs: ["y"],
      nodes: [
        node("Relu", ["x"], ["a"]),
        node("TopK", ["a"], ["b"], {}, { name: "top" }),
        node("LSTM", ["b"], ["c"], {}, { name: "rnn" }),
        node("FusedGemm", ["c"], ["d"], {}, { name: "fused", domain: "com.microsoft" }),
        node("Relu", ["d"], ["y"]),
      ],
    });
    const e = expectOnnxError(
      () => importOnnx(bytes),
      /3 nodes cannot be imported/,
      /node 'top' \(TopK\): op TopK is not supported/,
      /node 'rnn' \(LSTM\): op LSTM is not supported/,
      /node 'fused' \(com\.microsoft\.FusedGemm\): domain 'com\.microsoft' is not supported/,
    );
    expect(e.message).not.toMatch(/Relu/);
  });

  it("names gradgraph's randomUniform composite when it meets BitwiseXor", () => {
    const bytes = buildModel({
      inputs: { x: [2] },
      outputs: ["y"],
      nodes: [node("BitwiseXor", ["x", "x"], ["y"], {}, { name: "xor" })],
    });
    expectOnnxError(() => importOnnx(bytes), /node 'xor' \(BitwiseXor\)/, /randomUniform/);
  });

  it("an initializer whose data does not match its dims (raw_data and float_data), naming both sizes", () => {
    const w = floats("W", [3, 2], [1, 2, 3, 4, 5, 6]);
    w.rawData = w.rawData.subarray(0, 20);
    const model = (init: ReturnType<typeof floats>) =>
      buildModel({
        inputs: { x: [N, 3] },
        outputs: ["y"],
        initializers: [init],
        nodes: [node("MatMul", ["x", init.name], ["y"])],
      });
    expectOnnxError(
      () => importOnnx(model(w)),
      /initializer 'W' \(#0\): raw_data has 20 bytes but dims \[3, 2\] of FLOAT need 24 bytes/,
    );
    const v = floats("V", [3, 2], []);
    v.rawData = new Uint8Array(0);
    v.floatData = [1, 2, 3];
    expectOnnxError(
      () => importOnnx(model(v)),
      /initializer 'V' \(#0\): float_data holds 3 values but dims \[3, 2\] need 6 values/,
    );
    const empty = floats("E", [3, 2], []);
    empty.rawData = new Uint8Array(0);
    expectOnnxError(() => importOnnx(model(empty)), /initializer 'E' .*no data .* need 6 values/);
  });

  it("attributes and inputs the importer cannot honour, every failing node listed", () => {
    const bytes = buildModel({
      inputs: { x: [N, 3, 5, 5], v: [N, 3, 4] },
      outputs: ["a", "b", "c", "d", "e", "f", "g", "h"],
      initializers: [
        int64s("st", [0]),
        int64s("en", [4]),
        int64s("ax", [2]),
        int64s("step", [2]),
        int64s("pads", [0, 0, 0, 0, 0, 1]),
      ],
      nodes: [
        node(
          "MaxPool",
          ["x"],
          ["a"],
          { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 },
          { name: "ceil" },
        ),
        node(
          "AveragePool",
          ["x"],
          ["b"],
          { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 },
          { name: "avg" },
        ),
        node("Slice", ["v", "st", "en", "ax", "step"], ["c"], {}, { name: "stepped" }),
        node("Pad", ["v", "pads"], ["d"], { mode: "reflect" }, { name: "reflect" }),
        node("Cast", ["v"], ["e"], { to: 12 }, { name: "u32" }),
        node("Slice", ["v", "st", "en", "st"], ["f"], {}, { name: "symbolic" }),
        node("Flatten", ["v"], ["g"], { axis: 0 }, { name: "flat" }),
        node("Softmax", ["v"], ["h"], { axis: 1 }, { name: "fine" }),
      ],
    });
    const e = expectOnnxError(
      () => importOnnx(bytes),
      /7 nodes could not be imported/,
      /node 'ceil' \(MaxPool\): ceil_mode=1 gives 3 windows on axis 2 where gradgraph's pooling gives 2/,
      /node 'avg' \(AveragePool\): count_include_pad=1 with padding is not supported/,
      /node 'stepped' \(Slice\): steps \[2\] are not supported/,
      /node 'reflect' \(Pad\): mode 'reflect' is not supported/,
      /node 'u32' \(Cast\): casts to UINT32 are not supported/,
      /node 'symbolic' \(Slice\): slicing the symbolic axis 0 \('N'\)/,
      /node 'flat' \(Flatten\): flattening \[N,3,4\] \(symbolic\)/,
    );
    expect(e.message).not.toMatch(/'fine'/);
  });

  it("Softmax before opset 13 on an inner axis of a 3-D input (coerce-to-2-D semantics)", () => {
    const bytes = buildModel({
      inputs: { x: [2, 3, 4] },
      outputs: ["y"],
      opset: 12,
      nodes: [node("Softmax", ["x"], ["y"], {}, { name: "sm" })],
    });
    expectOnnxError(
      () => importOnnx(bytes),
      /node 'sm' \(Softmax\): opset 12 Softmax flattens the axes from 1 on/,
    );
  });

  it("ScatterElements whose indices vary across other axes", () => {
    const bytes = buildModel({
      inputs: { z: [2, 4], u: [2, 2] },
      outputs: ["y"],
      initializers: [int64s("i", [0, 1, 2, 3], [2, 2])],
      nodes: [node("ScatterElements", ["z", "i", "u"], ["y"], { axis: 1, reduction: "add" }, { name: "sc" })],
    });
    expectOnnxError(
      () => importOnnx(bytes),
      /node 'sc' \(ScatterElements\): only indices constant along every axis but 'axis'/,
    );
  });

  it("MaxPool Indices used other than as gradgraph's pooling gradients", () => {
    const bytes = buildModel({
      inputs: { x: [2, 1, 4, 4] },
      outputs: ["y"],
      nodes: [
        node("MaxPool", ["x"], ["p", "i"], { kernel_shape: [2, 2], strides: [2, 2] }),
        node("Cast", ["i"], ["f"], { to: 1 }, { name: "tofloat" }),
        node("Add", ["p", "f"], ["y"]),
      ],
    });
    expectOnnxError(
      () => importOnnx(bytes),
      /node 'tofloat' \(Cast\): MaxPool Indices can only be cast to INT64/,
    );
  });

  it("loadOnnx names the file in its errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gg-onnx-"));
    try {
      const good = join(dir, "mlp.onnx");
      await writeFile(good, exportedMlp());
      const m = await loadOnnx(good);
      expect(Object.keys(m.graph.params)).toEqual(["w1", "b1", "w2"]);
      const bad = join(dir, "bad.onnx");
      await writeFile(bad, new Uint8Array([1, 2, 3]));
      await expect(loadOnnx(bad)).rejects.toThrow(
        /'.*bad\.onnx': importOnnx: the bytes are not a valid ONNX model/,
      );
      await expect(loadOnnx(join(dir, "missing.onnx"))).rejects.toThrow(
        /could not read the ONNX model '.*missing\.onnx'/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("importOnnx: fuzzing an exported model", () => {
  const bytes = exportedMlp();

  it("every truncation either imports to a graph that runs, or throws OnnxError", () => {
    let ok = 0;
    for (let len = 0; len < bytes.length; len++) {
      const cut = bytes.slice(0, len);
      try {
        runImported(cut);
        ok++;
      } catch (e) {
        if (!(e instanceof OnnxError))
          throw new Error(`truncation at ${len} of ${bytes.length}: ${String(e)}`);
      }
    }
    // the full model imports; almost every cut does not
    runImported(bytes);
    expect(ok).toBeLessThan(bytes.length / 4);
  });

  it("random byte flips either import or throw OnnxError (never another error, never a hang)", () => {
    let s = 12345;
    const rand = (n: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return (s >>> 8) % n;
    };
    let failures = 0;
    for (let trial = 0; trial < 600; trial++) {
      const m = bytes.slice();
      const flips = 1 + rand(3);
      for (let k = 0; k < flips; k++) m[rand(m.length)] ^= 1 << rand(8);
      try {
        const r = importOnnx(m);
        expect(r.graph.nodes.length).toBeGreaterThan(0);
      } catch (e) {
        if (!(e instanceof OnnxError)) throw new Error(`trial ${trial}: ${String(e)}`);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(0);
  });

  /** A CNN training step with a symbolic batch: its composites (MaxPool Indices, doc-string groups) get fuzzed too. */
  const cnnStep = (): Uint8Array => {
    const b = GraphBuilder.extend(cnn());
    b.output("loss", b.ref("logits").square().mean());
    const graph = b.build();
    return exportTrainingStep(graph, ParamStore.init(graph, 1), { loss: "loss" }).bytes;
  };
  const exported = (make: () => Graph) => () => {
    const graph = make();
    return exportOnnx(graph, ParamStore.init(graph, 1));
  };
  for (const [what, make] of [
    ["a CNN", exported(cnn)],
    ["a transformer block", exported(transformerBlock)],
    ["a CNN training step", cnnStep],
  ] as const) {
    it(`${what}: 500 truncations and 1000 random bit flips give a graph or an OnnxError`, () => {
      const model = make();
      expect(importOnnx(model).graph.nodes.length).toBeGreaterThan(0);
      let s = 777;
      const rand = (n: number) => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        return (s >>> 8) % n;
      };
      const attempt = (m: Uint8Array, what: string) => {
        try {
          importOnnx(m);
        } catch (e) {
          if (!(e instanceof OnnxError)) throw new Error(`${what}: ${String(e)}`);
        }
      };
      for (let k = 0; k < 500; k++) {
        const len = Math.floor((k * model.length) / 500);
        attempt(model.slice(0, len), `truncation at ${len}`);
      }
      for (let trial = 0; trial < 1000; trial++) {
        const m = model.slice();
        for (let k = 0, n = 1 + rand(4); k < n; k++) m[rand(m.length)] ^= 1 << rand(8);
        attempt(m, `flip trial ${trial}`);
      }
    });
  }
});
