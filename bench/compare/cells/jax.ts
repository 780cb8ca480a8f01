/**
 * jax-js cell: `init("wasm")`, the loss written with jax-js numpy/nn, `valueAndGrad` + the SGD
 * update inside one `jit`-compiled step. jax-js is lazy and reference-counted: every function
 * consumes its array arguments (`.ref` / `tree.ref` to keep one), so the step takes the params
 * and returns new ones; we block on the params every {@link SYNC_EVERY} steps and at the end.
 * In Node there is no global `Worker`, so jax-js's wasm backend runs on one thread.
 */
import { blockUntilReady, init, jit, lax, nn, numpy as np, tree, valueAndGrad } from "@jax-js/jax";
import { type Batcher, BLOCK_PARAMS, type BlockParam, type BlockTensor, type CnnWeights } from "../data.js";
import { type CellRunner, type MatmulRun, type Probe, type TrainRun, timeSweep } from "../measure.js";
import {
  type BlockWorkload,
  type CnnWorkload,
  cnnGeometry,
  type MatmulWorkload,
  type TrainWorkload,
} from "../workloads.js";

/** Steps between synchronisations (blockUntilReady on the params). */
const SYNC_EVERY = 10;

type Params = np.Array[];

/** What {@link trainSgd} measured. */
interface SgdRun {
  seconds: number;
  initialLoss: number;
  finalLoss: number;
}

/**
 * Trains `initial` with SGD for `steps` steps: `valueAndGrad(lossFn)` and the update (step size
 * `lr`) in one `jit`. A warm-up step (which compiles it) on batch 0 at the initial weights gives
 * the initial loss, its updated params dropped; the timed loop then feeds batch `s` to step `s`,
 * blocking on the params every {@link SYNC_EVERY} steps and at the end. Consumes `initial`.
 */
async function trainSgd(
  lossFn: (p: Params, x: np.Array, y: np.Array) => np.Array,
  lr: number,
  initial: Params,
  feed: (s: number) => [np.Array, np.Array],
  steps: number,
  probe: Probe,
): Promise<SgdRun> {
  const step = jit((p: Params, x: np.Array, y: np.Array): [np.Array, Params] => {
    const [loss, grads] = valueAndGrad(lossFn)(tree.ref(p), x, y);
    const g = grads as Params;
    return [loss, p.map((pi, i) => pi.sub(g[i]!.mul(lr)))];
  });
  let params = initial;
  // warm-up (compiles the step): batch 0 at the initial weights; the updated params are dropped
  const [x0, y0] = feed(0);
  const [loss0, p0] = step(tree.ref(params), x0, y0);
  await blockUntilReady(p0);
  const initialLoss = loss0.item();
  tree.dispose(p0);
  await blockUntilReady(params);

  let last: np.Array | null = null;
  probe.start();
  for (let s = 0; s < steps; s++) {
    const [x, y] = feed(s);
    const [loss, next] = step(params, x, y);
    params = next;
    if (last) last.dispose();
    last = loss;
    if ((s + 1) % SYNC_EVERY === 0) await blockUntilReady(params);
  }
  await blockUntilReady(params);
  const finalLoss = last!.item();
  const seconds = probe.stop();
  tree.dispose(params);
  step.dispose();
  return { seconds, initialLoss, finalLoss };
}

async function start(): Promise<string[]> {
  const devices = await init("wasm");
  if (!devices.includes("wasm"))
    throw new Error(`jax-js: wasm device unavailable (got ${devices.join(", ")})`);
  return [`jax-js devices ${devices.join(",")}`];
}

/**
 * A CNN workload in jax-js: NCHW activations and [O, C, k, k] kernels as in gradgraph
 * (`lax.conv(x, w, [1, 1], "SAME" | "VALID")`), bias [O, 1, 1], `nn.relu`, max pooling by
 * `lax.reduceWindow(h, np.max, [1, 1, p, p], [1, 1, p, p])` (flax's `max_pool`), flatten, dense
 * layers, mean softmax cross-entropy; `valueAndGrad` + SGD in one `jit` as in the dense cells.
 */
async function trainCnn(
  w: CnnWorkload,
  batcher: Batcher,
  weights: CnnWeights,
  probe: Probe,
): Promise<TrainRun> {
  const notes = await start();
  const geo = cnnGeometry(w);
  const [C, H, Wd] = w.image;
  const features = C * H * Wd;
  const nConv = w.convs.length;
  const nDense = weights.dense.length;
  const lossFn = (p: Params, x: np.Array, y: np.Array): np.Array => {
    let h = x.reshape([w.batch, C, H, Wd]);
    w.convs.forEach((l, i) => {
      const z = lax.conv(h, p[2 * i]!, [1, 1], l.padding === "same" ? "SAME" : "VALID").add(p[2 * i + 1]!);
      h = lax.reduceWindow(
        nn.relu(z),
        (v: np.Array) => np.max(v),
        [1, 1, l.pool, l.pool],
        [1, 1, l.pool, l.pool],
      );
    });
    h = h.reshape([w.batch, geo.flat]);
    for (let l = 0; l < nDense; l++) {
      h = np.dot(h, p[2 * (nConv + l)]!).add(p[2 * (nConv + l) + 1]!);
      if (l + 1 < nDense) h = nn.relu(h);
    }
    return np.sum(nn.logSoftmax(h, -1).mul(y)).mul(-1 / w.batch);
  };
  const params: Params = [];
  for (const c of weights.convs) {
    params.push(
      np.array(c.W, { shape: [c.filters, c.inChannels, c.kernel, c.kernel] }),
      np.array(c.b, { shape: [c.filters, 1, 1] }),
    );
  }
  for (const d of weights.dense) params.push(np.array(d.W, { shape: [d.fanIn, d.fanOut] }), np.array(d.b));
  const feed = (s: number): [np.Array, np.Array] => {
    const batch = batcher.get(s);
    return [np.array(batch.x, { shape: [w.batch, features] }), np.array(batch.y, { shape: [w.batch, 10] })];
  };

  const run = await trainSgd(lossFn, w.stepSize, params, feed, w.steps, probe);
  notes.push(`sync every ${SYNC_EVERY} steps`, "max pooling by lax.reduceWindow");
  return { ...run, threads: 0, notes };
}

/**
 * A Transformer block workload in jax-js, written as in flax: activations [N, T, D], `np.matmul`
 * with [D, D] (and [D, mlpDim], [mlpDim, D]) weights stored [in, out], heads split by reshape to
 * [N, T, h, dk] and `np.transpose(…, [0, 2, 1, 3])`, `nn.softmax` over the keys, layer norm from
 * `np.mean` (biased variance, times 1/sqrt(var + eps) as in gradgraph), exact GELU
 * (`nn.gelu(z, { approximate: false })`), mean squared error; `valueAndGrad` + SGD in one `jit`.
 */
async function trainBlock(
  w: BlockWorkload,
  batcher: Batcher,
  weights: Readonly<Record<BlockParam, BlockTensor>>,
  probe: Probe,
): Promise<TrainRun> {
  const notes = await start();
  const N = w.batch;
  const T = w.seqLen;
  const D = w.width;
  const h = w.heads;
  const dk = D / h;
  const eps = w.epsilon;
  const at = Object.fromEntries(BLOCK_PARAMS.map((k, i) => [k, i])) as Record<BlockParam, number>;
  // every jax-js function consumes its array arguments: an array used twice is passed as `.ref` first
  const layerNorm = (v: np.Array, gamma: np.Array, beta: np.Array): np.Array => {
    const mu = np.mean(v.ref, -1, { keepdims: true });
    const xc = v.sub(mu);
    const variance = np.mean(np.square(xc.ref), -1, { keepdims: true });
    const inv = np.reciprocal(np.sqrt(variance.add(eps)));
    return xc.mul(inv).mul(gamma).add(beta);
  };
  const lossFn = (p: Params, x: np.Array, y: np.Array): np.Array => {
    const P = (k: BlockParam) => p[at[k]]!;
    const a = layerNorm(x.ref, P("ln1.gamma"), P("ln1.beta"));
    const split = (v: np.Array, W: np.Array, b: np.Array) =>
      np.transpose(np.matmul(v, W).add(b).reshape([N, T, h, dk]), [0, 2, 1, 3]);
    const q = split(a.ref, P("Wq"), P("bq"));
    const k = split(a.ref, P("Wk"), P("bk"));
    const v = split(a, P("Wv"), P("bv"));
    const scores = np.matmul(q, np.transpose(k, [0, 1, 3, 2])).mul(1 / Math.sqrt(dk));
    const ctx = np.transpose(np.matmul(nn.softmax(scores, -1), v), [0, 2, 1, 3]).reshape([N, T, D]);
    const hid = x.add(np.matmul(ctx, P("Wo")).add(P("bo")));
    const m = layerNorm(hid.ref, P("ln2.gamma"), P("ln2.beta"));
    const z = nn.gelu(np.matmul(m, P("W1")).add(P("b1")), { approximate: false });
    const out = hid.add(np.matmul(z, P("W2")).add(P("b2")));
    return np.sum(np.square(out.sub(y))).mul(1 / (N * T * D));
  };
  const params: Params = BLOCK_PARAMS.map((k) => np.array(weights[k].data, { shape: [...weights[k].shape] }));
  const feed = (s: number): [np.Array, np.Array] => {
    const batch = batcher.get(s);
    return [np.array(batch.x, { shape: [N, T, D] }), np.array(batch.y, { shape: [N, T, D] })];
  };

  const run = await trainSgd(lossFn, w.stepSize, params, feed, w.steps, probe);
  notes.push(`sync every ${SYNC_EVERY} steps`, "exact GELU: nn.gelu(z, { approximate: false })");
  return { ...run, threads: 0, notes };
}

export const jaxCell: CellRunner = {
  cnn: trainCnn,
  block: trainBlock,

  async train(w: TrainWorkload, batcher, layers, probe: Probe): Promise<TrainRun> {
    const notes = await start();
    const features = w.sizes[0]!;
    const nLayers = layers.length;
    const lossFn = (p: Params, x: np.Array, y: np.Array): np.Array => {
      let h = x;
      for (let l = 0; l < nLayers; l++) {
        h = np.dot(h, p[2 * l]!).add(p[2 * l + 1]!);
        if (l + 1 < nLayers) h = w.hidden === "sigmoid" ? nn.sigmoid(h) : nn.relu(h);
      }
      if (w.loss === "halfSumSq") return np.sum(np.square(nn.sigmoid(h).sub(y))).mul(0.5);
      if (w.loss === "softmaxSumSq") return np.sum(np.square(nn.softmax(h, -1).sub(y)));
      return np.sum(nn.logSoftmax(h, -1).mul(y)).mul(-1 / w.batch);
    };
    const params: Params = [];
    for (const layer of layers) {
      params.push(np.array(layer.W, { shape: [layer.fanIn, layer.fanOut] }), np.array(layer.b));
    }
    const feed = (s: number): [np.Array, np.Array] => {
      const batch = batcher.get(s);
      return [np.array(batch.x, { shape: [w.batch, features] }), np.array(batch.y, { shape: [w.batch, 10] })];
    };

    const run = await trainSgd(lossFn, w.stepSize, params, feed, w.steps, probe);
    notes.push(`sync every ${SYNC_EVERY} steps`);
    return { ...run, threads: 0, notes };
  },

  async matmul(w: MatmulWorkload, a, b, probe): Promise<MatmulRun> {
    const notes = await start();
    // one jit per variant; jax-js compiles a kernel for each new shape (in the untimed warm-up)
    const fns = {
      nn: jit((x: np.Array, y: np.Array) => np.matmul(x, y)),
      tn: jit((x: np.Array, y: np.Array) => np.matmul(x.transpose(), y)),
      nt: jit((x: np.Array, y: np.Array) => np.matmul(x, y.transpose())),
    };
    const entries = await timeSweep(
      w,
      a,
      b,
      ({ m, k, n }, variant, av, bv) => {
        const A = np.array(av, { shape: variant === "tn" ? [k, m] : [m, k] });
        const B = np.array(bv, { shape: variant === "nt" ? [n, k] : [k, n] });
        const f = fns[variant];
        let last: np.Array | null = null;
        return {
          async run(reps: number) {
            for (let r = 0; r < reps; r++) {
              last?.dispose();
              last = f(A.ref, B.ref);
              await last.blockUntilReady();
            }
          },
          output: () => Float32Array.from(last!.dataSync() as Float32Array),
          dispose() {
            A.dispose();
            B.dispose();
          },
        };
      },
      probe,
    );
    for (const f of Object.values(fns)) f.dispose();
    notes.push("each product blocked on (blockUntilReady)");
    return { entries, threads: 0, notes };
  },
};
