// Bundled by examples/test/install-tarballs.test.ts with esbuild (platform=browser) from a fresh
// project that installed the packed @gradgraph/* tarballs with npm; the bundle is then run once.
// Only the packages' browser entries: no `/node` subpath, nothing from node:*.
import { grad } from "@gradgraph/autograd";
import { compile, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { makeMoons } from "@gradgraph/datasets";
import { adam, dense, fit, Model, softmaxCrossEntropy } from "@gradgraph/models";
import { exportOnnx } from "@gradgraph/onnx";

const g = new GraphBuilder({ dtype: "float32" });
const x = g.input("x", ["N", 2]);
const w = g.param("w", [2, 1], { init: { kind: "glorotUniform" } });
g.output("loss", x.matmul(w).square().sum());
const withGrads = grad(g.build(), "loss", ["w"]);
const params = ParamStore.init(withGrads, 3);
const gw = compile(withGrads, { params }).run({
  x: Tensor.from([[1, 2]], { dtype: "float32" }),
})["grad:w"];

const data = makeMoons({ nSamples: 100, noise: 0.1, seed: 2 });
const model = Model.define(
  (b) => {
    const input = b.input("x", ["N", 2]);
    const target = b.input("y", ["N", 2]);
    const logits = dense(b, dense(b, input, 8, { name: "h", activation: "tanh" }), 2, { name: "out" });
    return { input, target, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, target) };
  },
  { seed: 2 },
);
const { history } = fit(model, data, { optimizer: adam({ lr: 0.05 }), epochs: 5, batchSize: 25 });
const onnx = exportOnnx(withGrads, params);

const result = { gradShape: gw.shape, losses: history.loss, onnxBytes: onnx.length };
if (typeof document !== "undefined") document.body.textContent = JSON.stringify(result);
else console.log(JSON.stringify(result));
