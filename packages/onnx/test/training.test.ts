import { type DType, evaluate, type Graph, GraphBuilder, ParamStore, Rng, Tensor } from "@gradgraph/core";
import { adam, sgd } from "@gradgraph/models";
import { describe, expect, it } from "vitest";
import { exportTrainingStep, TRAINING_STEP_NAMES as N, OnnxError, trainingStepGraph } from "../src/index.js";
import { maxErrorRelativeToScale, maxScaledError, runOrt } from "./helpers/ort.js";

/** A small classifier: x [N,4] → tanh(x·w1 + b1) · w2 + b2 → mean softmax cross-entropy against one-hot y. */
function classifier(dtype: DType): Graph {
  const b = new GraphBuilder({ dtype });
  const x = b.input("x", ["N", 4]);
  const y = b.input("y", ["N", 3]);
  const w1 = b.param("w1", [4, 6], { init: { kind: "normal", std: 0.7 } });
  const b1 = b.param("b1", [6], { init: { kind: "normal", std: 0.1 } });
  const w2 = b.param("w2", [6, 3], { init: { kind: "normal", std: 0.7 } });
  const b2 = b.param("b2", [3]);
  const logits = x.matmul(w1).add(b1).tanh().matmul(w2).add(b2);
  b.output("logits", logits);
  b.output("loss", logits.logSoftmax(-1).mul(y).sum(-1).mean().neg());
  return b.build();
}

function data(dtype: DType, n: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([n, 4], dtype);
  const y = Tensor.zeros([n, 3], dtype);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 4; j++) x.data[i * 4 + j] = rng.normal();
    y.data[i * 3 + (i % 3)] = 1;
  }
  return { x, y };
}

describe("training steps in ONNX Runtime", () => {
  it("the grad graph (loss and every grad:* output) equals gradgraph's", async () => {
    const graph = classifier("float32");
    const params = ParamStore.init(graph, 3);
    const { x, y } = data("float32", 16, 1);
    const step = trainingStepGraph(graph, { loss: "loss" });
    const ours = evaluate(step.graph, { x, y }, { params });
    const exported = exportTrainingStep(graph, params, { loss: "loss" });
    const theirs = await runOrt(exported.bytes, { x, y, ...exported.state });
    expect(Object.keys(theirs).sort()).toEqual(
      ["b1", "b2", "w1", "w2"]
        .map((p) => `grad:${p}`)
        .concat("logits", "loss")
        .sort(),
    );
    // gradients are sums whose smallest elements come from cancellation: compare against each tensor's scale
    expect(maxScaledError(theirs.loss!, ours.loss!, 0)).toBeLessThan(1e-6);
    for (const name of Object.keys(ours))
      expect(maxErrorRelativeToScale(theirs[name]!, ours[name]!), name).toBeLessThan(1e-5);
  });

  it("five Adam steps on one batch, run in ONNX Runtime feeding next:* back, follow gradgraph's run of the same step graph", async () => {
    const graph = classifier("float32");
    const params = ParamStore.init(graph, 5);
    const opt = { kind: "adam", lr: 0.05 } as const;
    const step = trainingStepGraph(graph, { loss: "loss", optimizer: opt });
    const { bytes, state, carried } = exportTrainingStep(graph, params, { loss: "loss", optimizer: opt });
    expect(carried).toEqual(step.carried);
    const stateNames = step.carried;
    let ortState: Record<string, Tensor> = { ...state };
    const ggStore = new ParamStore([
      ...params.clone().entries(),
      ...[...step.state].map(([k, v]) => [k, v.clone()] as [string, Tensor]),
    ]);
    const losses: [number, number][] = [];
    const { x, y } = data("float32", 12, 100);
    for (let s = 0; s < 5; s++) {
      const theirs = await runOrt(bytes, { x, y, ...ortState });
      const ours = evaluate(step.graph, { x, y }, { params: ggStore });
      losses.push([theirs.loss!.item(), ours.loss!.item()]);
      ortState = { ...ortState, ...Object.fromEntries(stateNames.map((n) => [n, theirs[N.next(n)]!])) };
      for (const n of stateNames) ggStore.set(n, ours[N.next(n)]!);
    }
    for (const [a, e] of losses) expect(Math.abs(a - e) / Math.abs(e)).toBeLessThan(1e-5);
    expect(losses[4]![1]).toBeLessThan(losses[0]![1]);
    for (const p of step.wrt)
      expect(maxErrorRelativeToScale(ortState[p]!, ggStore.get(p)), p).toBeLessThan(1e-5);
    expect(ortState[N.step]!.item()).toBe(5);
  });

  it("the exported SGD and Adam updates equal the models package's optimizers (float64, in ONNX Runtime)", async () => {
    const graph = classifier("float64");
    for (const [opt, reference] of [
      [{ kind: "sgd", lr: 0.1, weightDecay: 0.01 }, sgd({ lr: 0.1, weightDecay: 0.01 })],
      [
        { kind: "adam", lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-7 },
        adam({ lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-7 }),
      ],
    ] as const) {
      const params = ParamStore.init(graph, 7);
      const { bytes, state: initial } = exportTrainingStep(graph, params, { loss: "loss", optimizer: opt });
      const step = trainingStepGraph(graph, { loss: "loss", optimizer: opt });
      const stateNames = step.carried;
      let state: Record<string, Tensor> = { ...initial };
      const ref = params.clone();
      for (let s = 0; s < 3; s++) {
        const { x, y } = data("float64", 10, 200 + s);
        const theirs = await runOrt(bytes, { x, y, ...state });
        const g = evaluate(step.graph, { x, y }, { params: new ParamStore(Object.entries(state)) });
        reference.step(ref, Object.fromEntries(step.wrt.map((p) => [p, g[`grad:${p}`]!])));
        state = { ...state, ...Object.fromEntries(stateNames.map((n) => [n, theirs[N.next(n)]!])) };
      }
      for (const p of step.wrt)
        expect(maxScaledError(state[p]!, ref.get(p), 1e-12), `${opt.kind} ${p}`).toBeLessThan(1e-10);
    }
  });

  it("rejects a missing or non-scalar loss, an unknown param and bad hyperparameters", () => {
    const graph = classifier("float32");
    expect(() => trainingStepGraph(graph, { loss: "nope" })).toThrow(/no output named 'nope'/);
    expect(() => trainingStepGraph(graph, { loss: "logits" })).toThrow(/must be a scalar/);
    expect(() => trainingStepGraph(graph, { loss: "loss", wrt: ["w9"] })).toThrow(/no param named 'w9'/);
    expect(() => trainingStepGraph(graph, { loss: "loss", optimizer: { kind: "sgd", lr: -1 } })).toThrow(
      OnnxError,
    );
    expect(() =>
      trainingStepGraph(graph, { loss: "loss", optimizer: { kind: "adam", lr: 0.1, beta1: 1 } }),
    ).toThrow(/beta1 must be in \[0, 1\)/);
  });
});
