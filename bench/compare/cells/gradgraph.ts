/**
 * gradgraph cell: builder -> grad -> compile -> one plan for the batch shape. Each step copies the
 * batch into `plan.inputs`, runs the plan (allocation-free) and updates the parameter buffers in
 * place. Two-core workloads start the worker pool with `enableThreads()` first.
 */
import { grad } from "@gradgraph/autograd";
import {
  axpy,
  compile,
  type FloatArray,
  GraphBuilder,
  ParamStore,
  type Plan,
  type Value,
} from "@gradgraph/core";
import { enableThreads, threadCount } from "@gradgraph/core/node";
import type { Layer } from "../data.js";
import type { CellRunner, MatmulRun, Probe, TrainRun } from "../measure.js";
import type { MatmulWorkload, TrainWorkload } from "../workloads.js";

/** Starts the worker pool and waits (up to 10 s) until its workers serve. Returns their number. */
async function startThreads(): Promise<number> {
  const want = enableThreads();
  const deadline = performance.now() + 10_000;
  while (threadCount() < want && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return threadCount();
}

function act(v: Value, a: "sigmoid" | "relu"): Value {
  return a === "sigmoid" ? v.sigmoid() : v.relu();
}

/** Plain SGD in place: p -= lr * g for every parameter buffer (core's axpy: SIMD on arena buffers). */
function sgd(ps: readonly FloatArray[], gs: readonly FloatArray[], lr: number): void {
  for (let k = 0; k < ps.length; k++) axpy(ps[k]!, gs[k]!, -lr);
}

/** A compiled training step of a dense network: fill `x`/`y`, `plan.run()`, then `update(lr)`. */
export interface Trainer {
  readonly plan: Plan;
  /** The plan's input buffers. */
  readonly x: FloatArray;
  readonly y: FloatArray;
  /** The loss output (one element). */
  readonly loss: FloatArray;
  /** SGD in place on the parameter buffers: p -= lr * grad. */
  update(lr: number): void;
}

/** Builds the network of `w` with the weights `layers`, its gradient graph, and the plan for the batch shape. */
export function buildTrainer(w: TrainWorkload, layers: readonly Layer[]): Trainer {
  const g = new GraphBuilder({ dtype: "float32" });
  const x = g.input("x", ["N", w.sizes[0]!]);
  const y = g.input("y", ["N", 10]);
  const names: string[] = [];
  let h: Value = x;
  layers.forEach((layer, l) => {
    const W = g.param(`W${l}`, [layer.fanIn, layer.fanOut]);
    const b = g.param(`b${l}`, [layer.fanOut]);
    names.push(`W${l}`, `b${l}`);
    h = h.matmul(W).add(b);
    if (l + 1 < layers.length) h = act(h, w.hidden);
  });
  let loss: Value;
  if (w.loss === "halfSumSq") loss = h.sigmoid().sub(y).square().sum().mul(0.5);
  else if (w.loss === "softmaxSumSq") loss = h.softmax().sub(y).square().sum();
  else
    loss = h
      .logSoftmax()
      .mul(y)
      .sum()
      .mul(-1 / w.batch);
  g.output("loss", loss);
  const trainGraph = grad(g.build(), "loss", names);
  const params = ParamStore.init(trainGraph, 0);
  layers.forEach((layer, l) => {
    params.get(`W${l}`).data.set(layer.W);
    params.get(`b${l}`).data.set(layer.b);
  });
  const plan = compile(trainGraph, { params }).plan({ x: [w.batch, w.sizes[0]!], y: [w.batch, 10] });
  const ps: FloatArray[] = names.map((n) => params.get(n).data);
  const gs: FloatArray[] = names.map((n) => plan.outputs[`grad:${n}`]!.data);
  return {
    plan,
    x: plan.inputs.x!.data,
    y: plan.inputs.y!.data,
    loss: plan.outputs.loss!.data,
    update: (lr) => sgd(ps, gs, lr),
  };
}

export const gradgraphCell: CellRunner = {
  async train(w: TrainWorkload, batcher, layers, probe: Probe): Promise<TrainRun> {
    const threads = w.threads ? await startThreads() : 0;
    const t = buildTrainer(w, layers);
    // warm-up at the initial weights (the update runs with step size 0); loss of batch 0
    batcher.fill(0, t.x, t.y);
    t.plan.run();
    const initialLoss = t.loss[0]!;
    t.update(0);
    for (let s = 1; s < (w.warmupSteps ?? 1); s++) {
      batcher.fill(s, t.x, t.y);
      t.plan.run();
      t.update(0);
    }
    const lr = w.stepSize;
    const steps = w.steps;
    probe.start();
    for (let s = 0; s < steps; s++) {
      batcher.fill(s, t.x, t.y);
      t.plan.run();
      t.update(lr);
    }
    const finalLoss = t.loss[0]!;
    const seconds = probe.stop();
    return { seconds, initialLoss, finalLoss, threads, notes: [`plan steps ${t.plan.stats.steps}`] };
  },

  async matmul(w: MatmulWorkload, a, b, probe): Promise<MatmulRun> {
    const threads = w.threads ? await startThreads() : 0;
    const n = w.n;
    const g = new GraphBuilder({ dtype: "float32" });
    const A = g.input("a", [n, n]);
    const B = g.input("b", [n, n]);
    g.output("nn", A.matmul(B));
    g.output("tn", A.matmul(B, { transA: true }));
    g.output("nt", A.matmul(B, { transB: true }));
    const graph = g.build();
    const variants = ["nn", "tn", "nt"] as const;
    const plans = variants.map((v) => {
      const plan = compile(graph, { outputs: [v] }).plan({ a: [n, n], b: [n, n] });
      plan.inputs.a!.data.set(a);
      plan.inputs.b!.data.set(b);
      for (let i = 0; i < 3; i++) plan.run();
      return plan;
    });
    const seconds = { nn: 0, tn: 0, nt: 0 };
    probe.start();
    variants.forEach((v, k) => {
      const plan = plans[k]!;
      const t0 = performance.now();
      for (let r = 0; r < w.reps; r++) plan.run();
      seconds[v] = (performance.now() - t0) / 1000 / w.reps;
    });
    probe.stop();
    const out = (k: number, v: string) => Float32Array.from(plans[k]!.outputs[v]!.data);
    return { seconds, outputs: { nn: out(0, "nn"), tn: out(1, "tn"), nt: out(2, "nt") }, threads, notes: [] };
  },
};
