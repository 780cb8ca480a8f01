// Run by examples/test/install-tarballs.test.ts with plain `node` (no tsx, no export conditions) in a
// fresh project that installed the packed @gradgraph/* tarballs with npm. Prints one JSON line.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { grad } from "@gradgraph/autograd";
import { compile, GraphBuilder, ParamStore, pruneGraph, Tensor } from "@gradgraph/core";
import { disableThreads, enableThreads, threadCount } from "@gradgraph/core/node";
import { makeMoons } from "@gradgraph/datasets";
import { adam, dense, fit, Model, softmaxCrossEntropy } from "@gradgraph/models";
import { exportOnnx, importOnnx } from "@gradgraph/onnx";
import { loadOnnx, saveOnnx } from "@gradgraph/onnx/node";

// 1. A small graph and its gradient graph (the README's tour).
const g = new GraphBuilder({ dtype: "float32" });
const x = g.input("x", ["N", 4]);
const y = g.input("y", ["N", 3]);
const W = g.param("W", [4, 3], { init: { kind: "glorotUniform" } });
const b = g.param("b", [3]);
const logits = x.matmul(W).add(b);
g.output("loss", g.neg(logits.logSoftmax().mul(y).sum()));
const train = grad(g.build(), "loss", ["W", "b"]);
const exe = compile(train, { params: ParamStore.init(train, 42) });
const out = exe.run({
  x: Tensor.from([[1, 2, 3, 4]], { dtype: "float32" }),
  y: Tensor.from([[0, 1, 0]], { dtype: "float32" }),
});
const gradW = out["grad:W"];

// 2. make_moons, a 2-8-2 tanh/softmax model trained with fit.
const data = makeMoons({ nSamples: 200, noise: 0.1, seed: 0 });
const model = Model.define(
  (mb) => {
    const input = mb.input("x", ["N", 2]);
    const target = mb.input("y", ["N", 2]);
    const h = dense(mb, input, 8, { name: "h", activation: "tanh" });
    const out = dense(mb, h, 2, { name: "out" });
    return { input, target, predictions: mb.softmax(out), loss: softmaxCrossEntropy(mb, out, target) };
  },
  { seed: 0 },
);
const before = model.evaluate(data.x, data.y, { metrics: ["accuracy"] });
const { history } = fit(model, data, { optimizer: adam({ lr: 0.05 }), epochs: 20, batchSize: 32, seed: 0 });
const after = model.evaluate(data.x, data.y, { metrics: ["accuracy"] });

// 3. Export the trained predictions to ONNX, read them back, compare.
const inference = pruneGraph(model.evaluationGraph, [model.predictions]);
const bytes = exportOnnx(inference, model.params);
const imported = importOnnx(bytes);
const expected = model.predict(data.x);
const back = compile(imported.graph, { params: imported.params }).run({ x: data.x })[imported.outputs[0]];
let maxDiff = 0;
for (let i = 0; i < expected.size; i++)
  maxDiff = Math.max(maxDiff, Math.abs(expected.data[i] - back.data[i]));

// 4. The Node entry: save and load through @gradgraph/onnx/node.
const dir = await mkdtemp(join(tmpdir(), "gradgraph-installed-"));
const file = join(dir, "moons.onnx");
await saveOnnx(file, inference, model.params);
const fileBytes = (await readFile(file)).length;
const loaded = await loadOnnx(file);
await rm(dir, { recursive: true, force: true });

// 5. The worker pool of @gradgraph/core/node: a product split over a worker thread gives the same bits.
const pg = new GraphBuilder({ dtype: "float32" });
const a = pg.input("a", [256, 256]);
pg.output("c", a.matmul(a));
const product = pg.build();
const rows = Array.from({ length: 256 }, (_, i) =>
  Array.from({ length: 256 }, (_, j) => Math.sin(i * 256 + j)),
);
const feed = { a: Tensor.from(rows, { dtype: "float32" }) };
const alone = compile(product).run(feed).c.data.slice();
const workers = enableThreads(1);
// the worker starts asynchronously: wait (up to 20 s) until it serves, so that the product is split
for (let waited = 0; threadCount() === 0 && waited < 20_000; waited += 10)
  await new Promise((r) => setTimeout(r, 10));
const threads = threadCount();
const pooled = compile(product).run(feed).c.data;
disableThreads();
const sameBits = alone.every((v, i) => Object.is(v, pooled[i]));

console.log(
  JSON.stringify({
    gradW: { shape: gradW.shape, finite: Array.from(gradW.data).every(Number.isFinite) },
    lossBefore: before.loss,
    lossAfter: after.loss,
    accuracyBefore: before.accuracy,
    accuracyAfter: after.accuracy,
    epochs: history.epochs,
    onnxBytes: bytes.length,
    fileBytes,
    onnxOutputs: imported.outputs,
    loadedInputs: loaded.inputs,
    maxDiff,
    workers,
    threads,
    sameBits,
  }),
);
