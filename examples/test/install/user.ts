// Type-checked by examples/test/install-tarballs.test.ts against the .d.ts files of the installed
// @gradgraph/* tarballs (tsc --noEmit, strict, NodeNext, skipLibCheck off). Also checked in the repo.
import { type GradOptions, grad, gradcheck } from "@gradgraph/autograd";
import { fcParameters } from "@gradgraph/autograd/testing";
import { compile, type Graph, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { disableThreads, enableThreads } from "@gradgraph/core/node";
import { type LabeledData, makeMoons } from "@gradgraph/datasets";
import { defaultCacheDir } from "@gradgraph/datasets/node";
import { adam, dense, type FitResult, fit, Model, softmaxCrossEntropy } from "@gradgraph/models";
import { loadModel } from "@gradgraph/models/node";
import { exportOnnx } from "@gradgraph/onnx";
import { loadOnnx } from "@gradgraph/onnx/node";

const b = new GraphBuilder({ dtype: "float64" });
const x = b.input("x", ["N", 3]);
const w = b.param("w", [3, 1]);
b.output("loss", x.matmul(w).square().sum());
const graph: Graph = b.build();
const options: GradOptions = {};
const withGrads = grad(graph, "loss", ["w"], options);
const params = ParamStore.init(withGrads, 1);
const loss: number = compile(withGrads, { params })
  .run({ x: Tensor.from([[1, 2, 3]]) })
  .loss.item();
const checked: boolean = gradcheck(graph, { x: Tensor.from([[1, 2, 3]]) }, { params }).ok;
const runs: number | undefined = fcParameters().numRuns;

const data: LabeledData = makeMoons({ nSamples: 64, noise: 0.1, seed: 1 });
const model = Model.define(
  (mb) => {
    const input = mb.input("x", ["N", 2]);
    const target = mb.input("y", ["N", 2]);
    const logits = dense(mb, dense(mb, input, 4, { name: "h", activation: "relu" }), 2, { name: "out" });
    return { input, target, predictions: mb.softmax(logits), loss: softmaxCrossEntropy(mb, logits, target) };
  },
  { seed: 1 },
);
const result: FitResult = fit(model, data, { optimizer: adam({ lr: 0.01 }), epochs: 1 });
const onnx: Uint8Array = exportOnnx(graph, params);
const workers: number = enableThreads(1);
disableThreads();
export const load = async (dir: string) => ({
  model: await loadModel(`${dir}/m.ggm`),
  onnx: await loadOnnx(`${dir}/m.onnx`),
});
// @ts-expect-error: fit needs an optimizer (checks the .d.ts is strict, not `any`)
fit(model, data, { epochs: 1 });

export const summary = {
  cache: defaultCacheDir(),
  workers,
  loss,
  checked,
  runs,
  epochs: result.history.epochs,
  bytes: onnx.length,
};
