import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { grad } from "@gradgraph/autograd";
import { type Dim, evaluate, type Graph, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { adam, dropout, fit, getPreset, Model, PRESET_NAMES, softmaxCrossEntropy } from "@gradgraph/models";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { ModelProtoSchema } from "../src/gen/onnx_pb.js";
import { exportOnnx, exportTrainingStep, importOnnx, trainingStepGraph } from "../src/index.js";
import { cnn, mlp, transformerBlock } from "./helpers/import-graphs.js";
import { randomTensor } from "./helpers/onnx-build.js";
import { maxScaledError, runOrt } from "./helpers/ort.js";

const N = "N";

/** `graph` plus a scalar loss (mean of squares of output `of`) and its gradients for every param. */
function withGrads(graph: Graph, of: string): Graph {
  const b = GraphBuilder.extend(graph);
  b.output("loss", b.ref(of).square().mean());
  return grad(b.build(), "loss", Object.keys(graph.params));
}

const MODELS: [string, () => Graph, number[], string][] = [
  ["an MLP", mlp, [5, 4], "logits"],
  ["a CNN", cnn, [3, 1, 8, 8], "logits"],
  ["a transformer block", transformerBlock, [3, 5, 8], "y"],
];

describe("exportOnnx -> importOnnx round trip", () => {
  for (const [what, make, shape, lossOf] of MODELS) {
    it(`${what}: same outputs and same gradients`, async () => {
      const graph = make();
      const params = ParamStore.init(graph, 7);
      const bytes = exportOnnx(graph, params);
      const m = importOnnx(bytes);
      expect(Object.keys(m.graph.params)).toEqual(Object.keys(graph.params));
      expect(m.constants.every((c) => c.startsWith("const/"))).toBe(true);
      expect(Object.keys(m.graph.inputs)).toEqual(["x"]);
      expect(m.graph.nodes[m.graph.inputs.x!]!.shape).toEqual(graph.nodes[graph.inputs.x!]!.shape);
      expect(Object.keys(m.graph.outputs)).toEqual(Object.keys(graph.outputs));
      for (const [name, t] of params.entries()) expect(m.params.get(name).data).toEqual(t.data);

      for (const batch of [shape, [1, ...shape.slice(1)]]) {
        const feeds = { x: randomTensor(batch, batch[0]!) };
        const ours = evaluate(graph, feeds, { params });
        const back = evaluate(m.graph, feeds, { params: m.params });
        for (const name of Object.keys(graph.outputs)) {
          expect(back[name]!.shape).toEqual(ours[name]!.shape);
          expect(maxScaledError(back[name]!, ours[name]!, 1e-6), name).toBeLessThan(1e-5);
        }
      }

      const feeds = { x: randomTensor(shape, 99) };
      const g0 = evaluate(withGrads(graph, lossOf), feeds, { params });
      const g1 = evaluate(withGrads(m.graph, lossOf), feeds, { params: m.params });
      expect(maxScaledError(g1.loss!, g0.loss!, 1e-6)).toBeLessThan(1e-5);
      for (const name of Object.keys(graph.params)) {
        const [a, e]: Tensor[] = [g1[`grad:${name}`]!, g0[`grad:${name}`]!];
        expect(a.shape, name).toEqual(e.shape);
        expect(maxScaledError(a, e, 1e-5), `grad:${name}`).toBeLessThan(1e-4);
      }

      // the imported graph exports again, and ONNX Runtime runs it to gradgraph's outputs
      const again = await runOrt(exportOnnx(m.graph, m.params), feeds);
      const ours = evaluate(graph, feeds, { params });
      for (const name of Object.keys(graph.outputs))
        expect(maxScaledError(again[name]!, ours[name]!, 1e-6), name).toBeLessThan(1e-5);
    });
  }

  it("a float64 model keeps float64 (and float64 params)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [N, 3]);
    const w = b.param("w", [3, 2], { init: { kind: "normal" } });
    b.output("y", b.erf(x.matmul(w)).add(b.softplus(x.sum(1, true))));
    const graph = b.build();
    const params = ParamStore.init(graph, 1);
    const m = importOnnx(exportOnnx(graph, params));
    expect(m.graph.nodes[m.graph.outputs.y!]!.dtype).toBe("float64");
    expect(m.params.get("w").dtype).toBe("float64");
    const f64 = { x: new Tensor([4, 3], Float64Array.from(randomTensor([4, 3], 5).data)) };
    const a = evaluate(graph, f64, { params }).y!;
    const e = evaluate(m.graph, f64, { params: m.params }).y!;
    expect(maxScaledError(e, a, 1e-12)).toBeLessThan(1e-12);
  });
});

describe("every preset's inference graph", () => {
  for (const name of PRESET_NAMES) {
    it(`${name}: exported and imported back, gives the same predictions`, () => {
      const model = getPreset(name).build();
      const m = importOnnx(exportOnnx(model.graph, model.params, { outputs: ["predictions"] }));
      // the params the predictions use, under their names and with their values
      expect(Object.keys(m.graph.params).length).toBeGreaterThan(0);
      for (const p of Object.keys(m.graph.params))
        expect(m.params.get(p).data).toEqual(model.params.get(p).data);
      const feeds: Record<string, Tensor> = {};
      for (const [input, id] of Object.entries(m.graph.inputs)) {
        const node = m.graph.nodes[id]!;
        expect(node.shape).toEqual(model.graph.nodes[model.graph.inputs[input]!]!.shape);
        feeds[input] = randomTensor(
          node.shape.map((d) => (typeof d === "number" ? d : 3)),
          1,
          0,
          1,
        ).astype(node.dtype);
      }
      const ours = evaluate(model.graph, feeds, { params: model.params, outputs: ["predictions"] })
        .predictions!;
      const back = evaluate(m.graph, feeds, { params: m.params }).predictions!;
      expect(back.shape).toEqual(ours.shape);
      expect(maxScaledError(back, ours, 1e-6)).toBeLessThan(1e-5);
    });
  }
});

describe("models ONNX Runtime rewrote", () => {
  for (const [what, make, shape] of MODELS.slice(1)) {
    it(`${what}, saved by ONNX Runtime after its basic optimisations, imports to the same outputs; its extended (com.microsoft) fusions are listed`, async () => {
      const graph = make();
      const params = ParamStore.init(graph, 4);
      const bytes = exportOnnx(graph, params);
      const dir = await mkdtemp(join(tmpdir(), "gg-onnx-ort-"));
      try {
        const saved = async (level: "basic" | "extended") => {
          const path = join(dir, `${level}.onnx`);
          const s = await ort.InferenceSession.create(bytes, {
            graphOptimizationLevel: level,
            optimizedModelFilePath: path,
          });
          await s.release();
          return readFile(path);
        };
        const m = importOnnx(await saved("basic"));
        const feeds = { x: randomTensor(shape, 3) };
        const ours = evaluate(graph, feeds, { params });
        const back = evaluate(m.graph, feeds, { params: m.params });
        for (const name of Object.keys(graph.outputs))
          expect(maxScaledError(back[name]!, ours[name]!, 1e-6), name).toBeLessThan(1e-5);
        const extended = await saved("extended");
        expect(() => importOnnx(extended)).toThrow(
          /\(com\.microsoft\.Fused(Conv|MatMul)\): domain 'com\.microsoft' is not supported/,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("an exported training step imports back", () => {
  it("the same loss, gradients and Adam updates as gradgraph's step graph", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", [N, 4]);
    const y = b.input("y", [N, 3]);
    const w1 = b.param("w1", [4, 6], { init: { kind: "normal", std: 0.7 } });
    const w2 = b.param("w2", [6, 3], { init: { kind: "normal", std: 0.7 } });
    const logits = x.matmul(w1).tanh().matmul(w2);
    b.output("loss", logits.logSoftmax(-1).mul(y).sum(-1).mean().neg());
    const graph = b.build();
    const params = ParamStore.init(graph, 3);
    const optimizer = { kind: "adam", lr: 0.05 } as const;
    const exported = exportTrainingStep(graph, params, { loss: "loss", optimizer });
    const step = trainingStepGraph(graph, { loss: "loss", optimizer });
    const m = importOnnx(exported.bytes);
    // params and optimizer state are graph inputs of a training step, so they import as inputs
    expect(Object.keys(m.graph.params)).toEqual([]);
    const { x: xs, y: ys } = classes(12);
    const store = new ParamStore([
      ...params.clone().entries(),
      ...[...step.state].map(([k, v]) => [k, v.clone()] as [string, Tensor]),
    ]);
    const ours = evaluate(step.graph, { x: xs, y: ys }, { params: store });
    const back = evaluate(m.graph, { x: xs, y: ys, ...exported.state });
    expect(Object.keys(back).sort()).toEqual(Object.keys(ours).sort());
    for (const name of Object.keys(ours))
      expect(maxScaledError(back[name]!, ours[name]!, 1e-6), name).toBeLessThan(1e-5);
  });
});

describe("an exported CNN training step imports back", () => {
  const exported = (batch: Dim) => {
    const b = GraphBuilder.extend(cnn(batch));
    b.output("loss", b.ref("logits").square().mean());
    const graph = b.build();
    const params = ParamStore.init(graph, 6);
    return { graph, params, ...exportTrainingStep(graph, params, { loss: "loss" }) };
  };

  for (const batch of [3, N] as const) {
    it(`batch ${batch}: the max-pool, average-pool and convolution gradients give the same gradients`, () => {
      const { graph, params, bytes, state } = exported(batch);
      const step = trainingStepGraph(graph, { loss: "loss" });
      const m = importOnnx(bytes);
      expect(m.graph.nodes[m.graph.inputs.x!]!.shape[0]).toBe(batch);
      const ops = new Set<string>(m.graph.nodes.map((n) => n.op));
      for (const op of ["maxPool2dBackprop", "conv2dTranspose", "conv2d", "avgPool2d"])
        expect(ops.has(op), op).toBe(true);
      // the composites that fold the batch into another dim come back as their gradgraph ops
      if (batch === N)
        for (const op of ["avgPool2dBackprop", "conv2dBackpropFilter"]) expect(ops.has(op), op).toBe(true);
      for (const n of [3, 1]) {
        const feeds = { x: randomTensor([batch === N ? n : 3, 1, 8, 8], n) };
        const ours = evaluate(step.graph, feeds, { params });
        const back = evaluate(m.graph, { ...feeds, ...state });
        expect(Object.keys(back).sort()).toEqual(Object.keys(ours).sort());
        for (const name of Object.keys(ours))
          expect(maxScaledError(back[name]!, ours[name]!, 1e-5), name).toBeLessThan(1e-4);
      }
    });
  }

  it("without the exporter's doc strings, a symbolic batch folded into another dim is listed as unsupported", () => {
    const stripped = fromBinary(ModelProtoSchema, exported(N).bytes);
    for (const n of stripped.graph!.node) n.docString = "";
    expect(() => importOnnx(toBinary(ModelProtoSchema, stripped))).toThrow(
      /node 'avgPool2dBackprop_\d+\/Reshape#\d+' \(Reshape\): cannot infer the -1 of \[-1, 1, 2, 2\] from \[N,6,2,2\][\s\S]*conv2dBackpropFilter_\d+\/Mul#\d+' \(Mul\): shape arithmetic N mul 2 on a symbolic dim/,
    );
  });
});

describe("randomUniform round trip", () => {
  it("comes back as randomUniform nodes with their salts, bit for bit (symbolic shape, both dtypes)", () => {
    for (const dtype of ["float32", "float64"] as const) {
      const b = new GraphBuilder({ dtype });
      const key = b.input("key", []);
      const x = b.input("x", [N, 3]);
      b.output("y", x.mul(b.randomUniform(key, [N, 3], -7)));
      b.output("u", b.randomUniform(key, [2, 4], 123456));
      const graph = b.build();
      const bytes = exportOnnx(graph, new ParamStore());
      const m = importOnnx(bytes);
      const salts = m.graph.nodes
        .filter((n) => n.op === "randomUniform")
        .map((n) => (n.attrs as { salt: number }).salt);
      expect(salts.sort((p, q) => p - q)).toEqual([-7, 123456]);
      expect(m.graph.nodes.some((n) => n.op === "randomUniform" && n.shape[0] === N)).toBe(true);
      for (const k of [0, 42.3, -3, 2 ** 31 + 5]) {
        const feeds = { key: Tensor.scalar(k, dtype), x: Tensor.full([4, 3], 1, dtype) };
        const a = evaluate(graph, feeds);
        const e = evaluate(m.graph, feeds);
        expect(Array.from(e.y!.data)).toEqual(Array.from(a.y!.data));
        expect(Array.from(e.u!.data)).toEqual(Array.from(a.u!.data));
      }
      // without the exporter's doc strings the composite is not recognised: a clear error
      const stripped = fromBinary(ModelProtoSchema, bytes);
      for (const n of stripped.graph!.node) n.docString = "";
      expect(() => importOnnx(toBinary(ModelProtoSchema, stripped))).toThrow(
        /\(BitwiseXor\): op BitwiseXor is not supported[\s\S]*randomUniform/,
      );
    }
  });

  it("a model with dropout imports (mode inputs kept) and trains with Model + fit", () => {
    const built = Model.define(
      (b) => {
        const x = b.input("x", [N, 4]);
        const y = b.input("y", [N, 3]);
        const h = dropout(
          b,
          x.matmul(b.param("w1", [4, 8], { init: { kind: "glorotUniform" } })).tanh(),
          0.2,
        );
        const logits = h.matmul(b.param("w2", [8, 3], { init: { kind: "glorotUniform" } }));
        return {
          input: x,
          target: y,
          predictions: b.softmax(logits),
          loss: softmaxCrossEntropy(b, logits, y),
        };
      },
      { seed: 2 },
    );
    const m = importOnnx(exportOnnx(built.graph, built.params));
    expect(m.graph.nodes.filter((n) => n.op === "randomUniform")).toHaveLength(1);
    const model = new Model(m.graph, { params: m.params, input: "x", target: "y" });
    const { x, y } = classes(96);
    const before = model.evaluate(x, y).loss;
    fit(model, { x, y }, { optimizer: adam({ lr: 0.02 }), epochs: 6, batchSize: 16, seed: 1 });
    expect(model.evaluate(x, y).loss).toBeLessThan(before * 0.9);
    // the same training from the original model gives the same loss: the masks are the same bits
    const original = new Model(built.graph, { params: built.params.clone(), input: "x", target: "y" });
    fit(original, { x, y }, { optimizer: adam({ lr: 0.02 }), epochs: 6, batchSize: 16, seed: 1 });
    expect(maxScaledError(model.predict(x), original.predict(x), 1e-6)).toBeLessThan(1e-4);
  });
});

/** Three classes by the sign pattern of the first two of four features. */
function classes(n: number): { x: Tensor; y: Tensor } {
  const x = randomTensor([n, 4], 11);
  const y = Tensor.zeros([n, 3]);
  for (let i = 0; i < n; i++) {
    const [a, c] = [x.data[4 * i]!, x.data[4 * i + 1]!];
    y.data[3 * i + (a > 0 ? (c > 0 ? 0 : 1) : 2)] = 1;
  }
  return { x, y };
}

describe("fine-tuning an imported model", () => {
  it("wraps the imported MLP in a Model with a loss on top and fits it: the loss goes down", () => {
    const graph = mlp();
    const imported = importOnnx(exportOnnx(graph, ParamStore.init(graph, 3)));
    const b = GraphBuilder.extend(imported.graph);
    const y = b.input("y", [N, 3]);
    const logits = b.ref("logits");
    b.output("predictions", b.ref("probs"));
    b.output("loss", softmaxCrossEntropy(b, logits, y));
    const model = new Model(b.build(), { params: imported.params, input: "x", target: "y" });

    const { x, y: ys } = classes(96);
    const before = model.evaluate(x, ys).loss;
    const { history } = fit(
      model,
      { x, y: ys },
      { optimizer: adam({ lr: 0.02 }), epochs: 8, batchSize: 16, seed: 1 },
    );
    const after = model.evaluate(x, ys).loss;
    expect(history.epochs).toBe(8);
    expect(history.loss[7]!).toBeLessThan(history.loss[0]!);
    expect(after).toBeLessThan(before * 0.8);
    // the params trained are the imported ones, updated in place
    expect(imported.params.get("w1")).toBe(model.params.get("w1"));
  });
});
