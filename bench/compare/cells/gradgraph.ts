/**
 * gradgraph cell: builder -> grad -> compile -> one plan for the batch shape. Each step copies the
 * batch into `plan.inputs`, runs the plan (allocation-free) and updates the parameter buffers in
 * place. Two-core workloads start the worker pool with `enableThreads()` first. Workloads with
 * `driver: "fit"` train the same graph through `@gradgraph/models`' `Model` and `fit` instead.
 */
import { grad } from "@gradgraph/autograd";
import {
  axpy,
  compile,
  type FloatArray,
  GraphBuilder,
  ParamStore,
  type Plan,
  Tensor,
  type Value,
} from "@gradgraph/core";
import { enableThreads, threadCount } from "@gradgraph/core/node";
import { fit, Model, sgd as sgdOptimizer, transformerEncoderBlock } from "@gradgraph/models";
import {
  type Batcher,
  BLOCK_PARAMS,
  type BlockParam,
  type BlockTensor,
  type CnnWeights,
  type Layer,
} from "../data.js";
import { type CellRunner, type MatmulRun, type Probe, type TrainRun, timeSweep } from "../measure.js";
import {
  type BlockWorkload,
  type CnnWorkload,
  cnnGeometry,
  type MatmulWorkload,
  type TrainWorkload,
} from "../workloads.js";

let pool: Promise<number> | null = null;

/** Starts the worker pool once and waits (up to 10 s) until its workers serve. Returns their number. */
function startThreads(): Promise<number> {
  pool ??= (async () => {
    const want = enableThreads();
    const deadline = performance.now() + 10_000;
    while (threadCount() < want && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return threadCount();
  })();
  return pool;
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
  /** Copies `layers`' weights into the parameter buffers (back to the initial weights). */
  load(layers: readonly Layer[]): void;
}

/**
 * The forward graph of workload `w`: inputs x [N, in] and y [N, 10], params W<l> [in, out] and b<l>
 * [out], outputs `loss` and (with `predictions`) `predictions` (what the loss compares: sigmoid or
 * softmax of the logits). Returns the param names in layer order.
 */
function networkGraph(w: TrainWorkload, layers: readonly Layer[], predictions: boolean) {
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
  let pred: Value;
  if (w.loss === "halfSumSq") {
    pred = h.sigmoid();
    loss = pred.sub(y).square().sum().mul(0.5);
  } else if (w.loss === "softmaxSumSq") {
    pred = h.softmax();
    loss = pred.sub(y).square().sum();
  } else {
    pred = h.softmax();
    loss = h
      .logSoftmax()
      .mul(y)
      .sum()
      .mul(-1 / w.batch);
  }
  g.output("loss", loss);
  if (predictions) g.output("predictions", pred);
  return { graph: g.build(), names };
}

/** Copies the weights `layers` into `params` (W<l>, b<l>). */
function loadLayers(params: ParamStore, layers: readonly Layer[]): void {
  layers.forEach((layer, l) => {
    params.get(`W${l}`).data.set(layer.W);
    params.get(`b${l}`).data.set(layer.b);
  });
}

/** A ParamStore of `graph` holding the weights `layers`. */
function paramsOf(graph: Parameters<typeof ParamStore.init>[0], layers: readonly Layer[]): ParamStore {
  const params = ParamStore.init(graph, 0);
  loadLayers(params, layers);
  return params;
}

/**
 * Compiles `trainGraph` (the loss and the gradients `grad:<name>` of the params `names`, held in
 * `params`) into the plan for the input shapes `shapes` (`x` and `y`), with SGD on the buffers.
 */
function planTrainer(
  trainGraph: Parameters<typeof compile>[0],
  params: ParamStore,
  names: readonly string[],
  shapes: Parameters<ReturnType<typeof compile>["plan"]>[0],
): Omit<Trainer, "load"> {
  const plan = compile(trainGraph, { params }).plan(shapes);
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

/** Builds the network of `w` with the weights `layers`, its gradient graph, and the plan for the batch shape. */
export function buildTrainer(w: TrainWorkload, layers: readonly Layer[]): Trainer {
  const { graph, names } = networkGraph(w, layers, false);
  const trainGraph = grad(graph, "loss", names);
  const params = paramsOf(trainGraph, layers);
  return {
    ...planTrainer(trainGraph, params, names, { x: [w.batch, w.sizes[0]!], y: [w.batch, 10] }),
    load: (ls) => loadLayers(params, ls),
  };
}

/** A compiled training step of a CNN workload: fill `x`/`y`, `plan.run()`, then `update(lr)`. */
export interface CnnTrainer extends Omit<Trainer, "load"> {
  /** The parameter buffers (`c<l>.W`, `c<l>.b`, `d<l>.W`, `d<l>.b`). */
  readonly params: ParamStore;
  /** Copies `weights` into the parameter buffers (back to the initial weights). */
  load(weights: CnnWeights): void;
}

/** The parameter names of a CNN (conv layers `c<l>.W` [O, C, k, k] / `c<l>.b` [O, 1, 1], then dense `d<l>.W` / `d<l>.b`) paired with their initial values. */
function cnnParamValues(weights: CnnWeights): [string, Float32Array][] {
  return [
    ...weights.convs.flatMap((c, l): [string, Float32Array][] => [
      [`c${l}.W`, c.W],
      [`c${l}.b`, c.b],
    ]),
    ...weights.dense.flatMap((d, l): [string, Float32Array][] => [
      [`d${l}.W`, d.W],
      [`d${l}.b`, d.b],
    ]),
  ];
}

/**
 * Builds the CNN of `w` with the core builder ops (x [N, C·H·W] reshaped to [N, C, H, W]; per conv
 * layer `conv2d` + bias [O, 1, 1] + relu + `maxPool2d`; reshape to [N, flat]; dense relu layers;
 * logits; mean softmax cross-entropy), its gradient graph, and the plan for the batch shape.
 */
export function buildCnnTrainer(w: CnnWorkload, weights: CnnWeights): CnnTrainer {
  const geo = cnnGeometry(w);
  const g = new GraphBuilder({ dtype: "float32" });
  const features = w.image[0] * w.image[1] * w.image[2];
  const x = g.input("x", ["N", features]);
  const y = g.input("y", ["N", 10]);
  let h: Value = x.reshape(["N", ...w.image]);
  w.convs.forEach((l, i) => {
    const c = geo.convs[i]!.input[0];
    const W = g.param(`c${i}.W`, [l.filters, c, l.kernel, l.kernel]);
    const b = g.param(`c${i}.b`, [l.filters, 1, 1]);
    h = g.maxPool2d(g.conv2d(h, W, { padding: l.padding }).add(b).relu(), l.pool);
  });
  h = h.reshape(["N", geo.flat]);
  weights.dense.forEach((d, l) => {
    const W = g.param(`d${l}.W`, [d.fanIn, d.fanOut]);
    const b = g.param(`d${l}.b`, [d.fanOut]);
    h = h.matmul(W).add(b);
    if (l + 1 < weights.dense.length) h = h.relu();
  });
  g.output(
    "loss",
    h
      .logSoftmax()
      .mul(y)
      .sum()
      .mul(-1 / w.batch),
  );
  const values = cnnParamValues(weights);
  const names = values.map(([n]) => n);
  const trainGraph = grad(g.build(), "loss", names);
  const params = ParamStore.init(trainGraph, 0);
  const load = (ws: CnnWeights) => {
    for (const [n, v] of cnnParamValues(ws)) params.get(n).data.set(v);
  };
  load(weights);
  return {
    ...planTrainer(trainGraph, params, names, { x: [w.batch, features], y: [w.batch, 10] }),
    load,
    params,
  };
}

/** The block's name in the graph: its params are `enc/ln1/gamma`, `enc/attn/Wq`, `enc/mlp1/W`, ... */
const BLOCK_NAME = "enc";

/** The name `transformerEncoderBlock` gives each shared block param (see `makeBlockWeights`). */
export const BLOCK_PARAM_NAMES: Readonly<Record<BlockParam, string>> = {
  "ln1.gamma": `${BLOCK_NAME}/ln1/gamma`,
  "ln1.beta": `${BLOCK_NAME}/ln1/beta`,
  Wq: `${BLOCK_NAME}/attn/Wq`,
  bq: `${BLOCK_NAME}/attn/bq`,
  Wk: `${BLOCK_NAME}/attn/Wk`,
  bk: `${BLOCK_NAME}/attn/bk`,
  Wv: `${BLOCK_NAME}/attn/Wv`,
  bv: `${BLOCK_NAME}/attn/bv`,
  Wo: `${BLOCK_NAME}/attn/Wo`,
  bo: `${BLOCK_NAME}/attn/bo`,
  "ln2.gamma": `${BLOCK_NAME}/ln2/gamma`,
  "ln2.beta": `${BLOCK_NAME}/ln2/beta`,
  W1: `${BLOCK_NAME}/mlp1/W`,
  b1: `${BLOCK_NAME}/mlp1/b`,
  W2: `${BLOCK_NAME}/mlp2/W`,
  b2: `${BLOCK_NAME}/mlp2/b`,
};

/** A compiled training step of a Transformer block workload: fill `x`/`y`, `plan.run()`, then `update(lr)`. */
export interface BlockTrainer extends Omit<Trainer, "load"> {
  readonly params: ParamStore;
  /** Copies `weights` into the parameter buffers (back to the initial weights). */
  load(weights: Readonly<Record<BlockParam, BlockTensor>>): void;
}

/**
 * Builds workload `w` as a user of `@gradgraph/models` would: x [N, T, D] through
 * `transformerEncoderBlock` (pre-norm, exact GELU, the package's `layerNorm` and
 * `multiHeadAttention`), the mean squared error against y [N, T, D]; its gradient graph with respect
 * to every block param, and the plan for the batch shape, with the params set to `weights`.
 */
export function buildBlockTrainer(
  w: BlockWorkload,
  weights: Readonly<Record<BlockParam, BlockTensor>>,
): BlockTrainer {
  const g = new GraphBuilder({ dtype: "float32" });
  const x = g.input("x", ["N", w.seqLen, w.width]);
  const y = g.input("y", ["N", w.seqLen, w.width]);
  const out = transformerEncoderBlock(g, x, {
    name: BLOCK_NAME,
    heads: w.heads,
    mlpDim: w.mlpDim,
    norm: "pre",
    activation: "gelu",
    epsilon: w.epsilon,
  });
  g.output(
    "loss",
    out
      .sub(y)
      .square()
      .sum()
      .mul(1 / (w.batch * w.seqLen * w.width)),
  );
  const names = BLOCK_PARAMS.map((k) => BLOCK_PARAM_NAMES[k]);
  const trainGraph = grad(g.build(), "loss", names);
  const params = ParamStore.init(trainGraph, 0);
  const load = (ws: Readonly<Record<BlockParam, BlockTensor>>) => {
    for (const k of BLOCK_PARAMS) {
      const p = params.get(BLOCK_PARAM_NAMES[k]);
      if (p.data.length !== ws[k].data.length)
        throw new Error(
          `block param ${BLOCK_PARAM_NAMES[k]}: ${p.data.length} values, weights have ${ws[k].data.length}`,
        );
      p.data.set(ws[k].data);
    }
  };
  load(weights);
  const shape = [w.batch, w.seqLen, w.width];
  return { ...planTrainer(trainGraph, params, names, { x: shape, y: shape }), load, params };
}

/** Paired epochs of a fit cell: plan-driven and `fit`, alternating, in one process. */
const FIT_PAIRS = 5;

const medianOf = (xs: readonly number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

/**
 * Workload `w` trained through `@gradgraph/models`: `new Model(graph, { params })` on the same graph
 * (plus its predictions output), one `fit` epoch over the first steps × batch rows in file order
 * (`shuffle: false`, so it sees the same batches as the direct cell) with `sgd({ lr: stepSize })`;
 * `fit`'s other options keep their defaults (the non-finite loss check and its per-epoch checkpoint).
 *
 * So that the machine's noise does not decide a difference of a few percent, the cell also drives
 * the plan directly (the loop of the plain cell, on its own plan) and times {@link FIT_PAIRS} pairs of
 * epochs, alternating which goes first, each from the initial weights. It reports the best (least
 * disturbed) epoch of each (`extra.directSeconds`, `extra.fitSeconds`, the cell's time) and their
 * ratio (`extra.fitOverDirect`), plus the median of the per-pair ratios (`extra.medianPairRatio`).
 */
async function trainWithFit(
  w: TrainWorkload,
  batcher: Batcher,
  layers: readonly Layer[],
  probe: Probe,
): Promise<TrainRun> {
  const threads = w.threads ? await startThreads() : 0;
  const { graph } = networkGraph(w, layers, true);
  const model = new Model(graph, {
    params: paramsOf(graph, layers),
    lossReduction: w.loss === "meanXent" ? "mean" : "sum",
  });
  const data = batcher.data;
  const rows = w.steps * w.batch;
  if (rows > data.n) throw new Error(`fit cell: ${rows} rows asked of a ${data.n}-row data set`);
  const f = data.features;
  const x = new Tensor([rows, f], data.x.subarray(0, rows * f));
  const y = new Tensor([rows, 10], data.y.subarray(0, rows * 10));
  // compile the training plan and run it once at the initial weights (no update): the initial loss
  const tp = model.trainingPlan(w.batch);
  batcher.fill(0, tp.x.data, tp.y.data);
  tp.plan.run();
  const initialLoss = tp.loss.data[0]!;
  // the direct loop, as in the plain cell (warm-up: one run, update with step 0)
  const t = buildTrainer(w, layers);
  batcher.fill(0, t.x, t.y);
  t.plan.run();
  t.update(0);
  const lr = w.stepSize;
  const direct = (): number => {
    t.load(layers);
    const t0 = performance.now();
    for (let s = 0; s < w.steps; s++) {
      batcher.fill(s, t.x, t.y);
      t.plan.run();
      t.update(lr);
    }
    return (performance.now() - t0) / 1000;
  };
  let steps = 0;
  const viaFit = (): number => {
    loadLayers(model.params, layers);
    const t0 = performance.now();
    const { history } = fit(
      model,
      { x, y },
      { optimizer: sgdOptimizer({ lr }), epochs: 1, batchSize: w.batch, shuffle: false },
    );
    const seconds = (performance.now() - t0) / 1000;
    steps = history.steps;
    return seconds;
  };
  const fits: number[] = [];
  const directs: number[] = [];
  const ratios: number[] = [];
  probe.start();
  for (let i = 0; i < FIT_PAIRS; i++) {
    let d: number;
    let fi: number;
    if (i % 2 === 0) {
      d = direct();
      fi = viaFit();
    } else {
      fi = viaFit();
      d = direct();
    }
    directs.push(d);
    fits.push(fi);
    ratios.push(fi / d);
  }
  probe.stop();
  const finalLoss = tp.loss.data[0]!;
  if (finalLoss !== t.loss[0])
    throw new Error(`fit cell: final loss ${finalLoss} via fit, ${t.loss[0]} driving the plan`);
  return {
    seconds: Math.min(...fits),
    initialLoss,
    finalLoss,
    threads,
    notes: [
      `fit: 1 epoch of ${steps} steps, shuffle off, sgd({ lr: ${lr.toPrecision(4)} }); ${FIT_PAIRS} pairs with the plan driven directly`,
    ],
    extra: {
      directSeconds: Math.min(...directs),
      fitSeconds: Math.min(...fits),
      fitOverDirect: Math.min(...fits) / Math.min(...directs),
      medianPairRatio: medianOf(ratios),
    },
  };
}

/**
 * Drives `t`'s plan directly: `warmupSteps` untimed steps at the initial weights (the update runs
 * with step size 0; the loss of batch 0 is the initial loss), then `steps` timed SGD steps with
 * step size `lr`, batch `s` for step `s`.
 */
function driveSgd(
  t: Omit<Trainer, "load">,
  batcher: Batcher,
  lr: number,
  steps: number,
  probe: Probe,
  warmupSteps = 1,
): { seconds: number; initialLoss: number; finalLoss: number } {
  batcher.fill(0, t.x, t.y);
  t.plan.run();
  const initialLoss = t.loss[0]!;
  t.update(0);
  for (let s = 1; s < warmupSteps; s++) {
    batcher.fill(s, t.x, t.y);
    t.plan.run();
    t.update(0);
  }
  probe.start();
  for (let s = 0; s < steps; s++) {
    batcher.fill(s, t.x, t.y);
    t.plan.run();
    t.update(lr);
  }
  const finalLoss = t.loss[0]!;
  const seconds = probe.stop();
  return { seconds, initialLoss, finalLoss };
}

export const gradgraphCell: CellRunner = {
  async train(w: TrainWorkload, batcher, layers, probe: Probe): Promise<TrainRun> {
    if (w.driver === "fit") return trainWithFit(w, batcher, layers, probe);
    const threads = w.threads ? await startThreads() : 0;
    const t = buildTrainer(w, layers);
    const run = driveSgd(t, batcher, w.stepSize, w.steps, probe, w.warmupSteps);
    return { ...run, threads, notes: [`plan steps ${t.plan.stats.steps}`] };
  },

  async cnn(w: CnnWorkload, batcher, weights, probe: Probe): Promise<TrainRun> {
    const threads = w.threads ? await startThreads() : 0;
    const t = buildCnnTrainer(w, weights);
    const run = driveSgd(t, batcher, w.stepSize, w.steps, probe);
    return { ...run, threads, notes: [`plan steps ${t.plan.stats.steps}`] };
  },

  async block(w: BlockWorkload, batcher, weights, probe: Probe): Promise<TrainRun> {
    const threads = w.threads ? await startThreads() : 0;
    const t = buildBlockTrainer(w, weights);
    const run = driveSgd(t, batcher, w.stepSize, w.steps, probe);
    return {
      ...run,
      threads,
      notes: [`plan steps ${t.plan.stats.steps}`, "transformerEncoderBlock from @gradgraph/models"],
    };
  },

  async matmul(w: MatmulWorkload, a, b, probe): Promise<MatmulRun> {
    const threads = w.threads ? await startThreads() : 0;
    const entries = await timeSweep(
      w,
      a,
      b,
      ({ m, k, n }, variant, av, bv) => {
        const transA = variant === "tn";
        const transB = variant === "nt";
        const shapeA = transA ? [k, m] : [m, k];
        const shapeB = transB ? [n, k] : [k, n];
        const g = new GraphBuilder({ dtype: "float32" });
        g.output("c", g.input("a", shapeA).matmul(g.input("b", shapeB), { transA, transB }));
        const plan = compile(g.build()).plan({ a: shapeA, b: shapeB });
        plan.inputs.a!.data.set(av);
        plan.inputs.b!.data.set(bv);
        return {
          run(reps: number) {
            for (let r = 0; r < reps; r++) plan.run();
          },
          output: () => Float32Array.from(plan.outputs.c!.data),
          dispose: () => plan.dispose(),
        };
      },
      probe,
    );
    return { entries, threads, notes: [] };
  },
};
