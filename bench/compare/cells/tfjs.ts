/**
 * TensorFlow.js cells (backend "cpu" or "wasm"). In Node the full `@tensorflow/tfjs` package is
 * needed for gradients (optimizers, variableGrads); `@tensorflow/tfjs-node` is not used. The wasm
 * backend loads its binaries from the package's dist folder (`setWasmPaths`); it runs without
 * threads in Node (getThreadsCount() is 1).
 */
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { type Batcher, BLOCK_PARAMS, type BlockParam, type BlockTensor, type CnnWeights } from "../data.js";
import { type CellRunner, type MatmulRun, type Probe, type TrainRun, timeSweep } from "../measure.js";
import {
  type BlockWorkload,
  type CnnWorkload,
  cnnGeometry,
  type MatmulWorkload,
  type TrainWorkload,
} from "../workloads.js";

type LossOf = (xs: tf.Tensor2D, ys: tf.Tensor2D) => tf.Scalar;
type Shape2 = [number, number];

/**
 * The warm-up: the loss and the gradients (synchronised) of `batch` at the current weights, no
 * update; returns the loss.
 */
function lossWithGrads(
  lossOf: LossOf,
  vars: tf.Variable[],
  batch: { x: Float32Array; y: Float32Array },
  xShape: Shape2,
  yShape: Shape2,
): number {
  return tf.tidy(() => {
    const xs = tf.tensor2d(batch.x, xShape);
    const ys = tf.tensor2d(batch.y, yShape);
    const { value, grads } = tf.variableGrads(() => lossOf(xs, ys), vars);
    for (const k of Object.keys(grads)) grads[k]!.dataSync();
    return value.dataSync()[0]!;
  });
}

/**
 * The timed loop: `steps` steps of `opt.minimize` on batch `s` (as `xShape`, `yShape` tensors),
 * then the final loss and the variables synchronised. Pushes the count of tensors leaked by the
 * loop onto `notes`, then frees the optimizer and the variables (they are registered by name: a
 * scaling table's next point can then reuse the names).
 */
function timedSgd(
  opt: tf.Optimizer,
  lossOf: LossOf,
  vars: tf.Variable[],
  batcher: Batcher,
  steps: number,
  xShape: Shape2,
  yShape: Shape2,
  probe: Probe,
  notes: string[],
): { seconds: number; finalLoss: number } {
  const tensorsBefore = tf.memory().numTensors;
  let last: tf.Scalar | null = null;
  probe.start();
  for (let s = 0; s < steps; s++) {
    const batch = batcher.get(s);
    const cost = tf.tidy(() => {
      const xs = tf.tensor2d(batch.x, xShape);
      const ys = tf.tensor2d(batch.y, yShape);
      return opt.minimize(() => lossOf(xs, ys), true, vars)!;
    });
    if (last) last.dispose();
    last = cost;
  }
  const finalLoss = last!.dataSync()[0]!;
  for (const v of vars) v.dataSync();
  const seconds = probe.stop();
  last!.dispose();
  notes.push(`tensors leaked per run ${tf.memory().numTensors - tensorsBefore}`);
  opt.dispose();
  for (const v of vars) v.dispose();
  return { seconds, finalLoss };
}

async function useBackend(backend: "cpu" | "wasm"): Promise<string[]> {
  const notes: string[] = [];
  if (backend === "wasm") {
    const require = createRequire(import.meta.url);
    const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
    setWasmPaths(`${dist}${path.sep}`);
  }
  const ok = await tf.setBackend(backend);
  if (!ok || tf.getBackend() !== backend) throw new Error(`tf.setBackend("${backend}") failed`);
  await tf.ready();
  if (backend === "wasm") notes.push(`wasm threads ${getThreadsCount()}`);
  notes.push(`tfjs ${tf.version.tfjs}`);
  return notes;
}

/**
 * The weight gradient of a stride-1 NHWC convolution computed by a convolution, for backends without
 * a `Conv2DBackpropFilter` kernel (tfjs-wasm 4.22): with x [N, H, W, C] (padded as the forward pass
 * pads it) and dy [N, Ho, Wo, O], dW[i, j, c, o] = Σ_{n,h,w} x[n, h+i, w+j, c] · dy[n, h, w, o] is the
 * valid convolution of xᵀ [C, H, W, N] (batch C, channels N) with dyᵀ [Ho, Wo, N, O] as the filter,
 * giving [C, k, k, O], transposed to the filter layout [k, k, C, O].
 */
function filterGradByConv(x: tf.Tensor4D, dy: tf.Tensor4D, kernel: number, padding: "same" | "valid") {
  const before = Math.floor((kernel - 1) / 2);
  const xp =
    padding === "same"
      ? tf.pad(x, [
          [0, 0],
          [before, kernel - 1 - before],
          [before, kernel - 1 - before],
          [0, 0],
        ])
      : x;
  const r = tf.conv2d(tf.transpose(xp, [3, 1, 2, 0]), tf.transpose(dy, [1, 2, 0, 3]), 1, "valid");
  return tf.transpose(r, [1, 2, 0, 3]);
}

/**
 * `tf.conv2d(x, f, 1, padding)` (NHWC, filter [k, k, C, O]) whose gradient is given by `tf.customGrad`:
 * the input gradient by `tf.conv2dTranspose` (the `Conv2DBackpropInput` kernel, which tfjs-wasm has;
 * zeros when `inputGrad` is false, for the images), the filter gradient by {@link filterGradByConv}.
 */
function convWithFilterGradByConv(padding: "same" | "valid", kernel: number, inputGrad: boolean) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, f, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([x, f]);
    return {
      value: tf.conv2d(x, f, 1, padding),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, fs] = saved as [tf.Tensor4D, tf.Tensor4D];
        const d = dy as tf.Tensor4D;
        return [
          inputGrad ? tf.conv2dTranspose(d, fs, xs.shape, 1, padding) : tf.zerosLike(xs),
          filterGradByConv(xs, d, kernel, padding),
        ];
      },
    };
  }) as (x: tf.Tensor4D, f: tf.Tensor4D) => tf.Tensor4D;
}

/**
 * Workload F (or any CNN workload) in tfjs: NHWC activations (channels-last: tfjs-wasm's Conv2D
 * rejects `dataFormat: "NCHW"`), filters transposed from [O, C, k, k] to [k, k, C, O], and the first
 * dense layer's rows permuted from the (channel, row, column) flatten order of the other frameworks to
 * tfjs's (row, column, channel), so the network computes the same function. The plain `tf.conv2d`
 * gradient is tried first (on batch 0, untimed); if the backend lacks a kernel for it (tfjs-wasm has
 * no `Conv2DBackpropFilter`), the error is recorded in the notes and the convolutions' gradients are
 * supplied by {@link convWithFilterGradByConv} instead.
 */
async function trainCnn(
  backend: "cpu" | "wasm",
  w: CnnWorkload,
  batcher: Batcher,
  weights: CnnWeights,
  probe: Probe,
): Promise<TrainRun> {
  const notes = await useBackend(backend);
  const geo = cnnGeometry(w);
  const vars: tf.Variable[] = [];
  const filters = weights.convs.map((c, l) => {
    const k = c.kernel;
    const f = new Float32Array(c.W.length);
    // [O, C, k, k] -> [k, k, C, O]
    for (let o = 0; o < c.filters; o++)
      for (let ci = 0; ci < c.inChannels; ci++)
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++)
            f[((i * k + j) * c.inChannels + ci) * c.filters + o] =
              c.W[((o * c.inChannels + ci) * k + i) * k + j]!;
    const fv = tf.variable(tf.tensor4d(f, [k, k, c.inChannels, c.filters]), true, `c${l}W`);
    const bv = tf.variable(tf.tensor1d(c.b), true, `c${l}b`);
    vars.push(fv, bv);
    return { f: fv, b: bv };
  });
  const [cLast, hLast, wLast] = geo.convs[geo.convs.length - 1]!.pooled;
  const dense = weights.dense.map((d, l) => {
    let W = d.W;
    if (l === 0) {
      // rows (c, h, w) -> (h, w, c)
      W = new Float32Array(d.W.length);
      for (let c = 0; c < cLast; c++)
        for (let h = 0; h < hLast; h++)
          for (let x = 0; x < wLast; x++) {
            const from = (c * hLast + h) * wLast + x;
            const to = (h * wLast + x) * cLast + c;
            W.set(d.W.subarray(from * d.fanOut, (from + 1) * d.fanOut), to * d.fanOut);
          }
    }
    const Wv = tf.variable(tf.tensor2d(W, [d.fanIn, d.fanOut]), true, `d${l}W`);
    const bv = tf.variable(tf.tensor1d(d.b), true, `d${l}b`);
    vars.push(Wv, bv);
    return { W: Wv, b: bv };
  });
  const [C, H, Wd] = w.image;
  const custom = w.convs.map((l, i) => convWithFilterGradByConv(l.padding, l.kernel, i > 0));
  let useCustom = false;
  const lossOf = (xs: tf.Tensor2D, ys: tf.Tensor2D): tf.Scalar => {
    // rows are channels-first: NCHW -> NHWC (a no-op reshape for one channel)
    let h: tf.Tensor4D =
      C === 1
        ? tf.reshape(xs, [w.batch, H, Wd, 1])
        : tf.transpose(tf.reshape(xs, [w.batch, C, H, Wd]), [0, 2, 3, 1]);
    w.convs.forEach((l, i) => {
      const { f, b } = filters[i]!;
      const z = useCustom ? custom[i]!(h, f as tf.Tensor4D) : tf.conv2d(h, f as tf.Tensor4D, 1, l.padding);
      h = tf.maxPool(tf.relu(tf.add(z, b)) as tf.Tensor4D, l.pool, l.pool, "valid");
    });
    let a: tf.Tensor2D = tf.reshape(h, [w.batch, geo.flat]);
    dense.forEach(({ W, b }, l) => {
      a = tf.add(tf.matMul(a, W), b);
      if (l + 1 < dense.length) a = tf.relu(a);
    });
    return tf.mul(tf.sum(tf.mul(tf.logSoftmax(a), ys)), -1 / w.batch);
  };
  const opt = tf.train.sgd(w.stepSize);
  const features = C * H * Wd;
  const xShape: Shape2 = [w.batch, features];
  const yShape: Shape2 = [w.batch, 10];
  const warmup = () => lossWithGrads(lossOf, vars, batcher.get(0), xShape, yShape);
  let initialLoss: number;
  try {
    initialLoss = warmup();
    notes.push("tf.conv2d's own gradient");
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    notes.push(
      `tf.conv2d's own gradient fails: "${msg}"; filter gradients computed by tf.conv2d of the transposed input and output gradient (tf.customGrad)`,
    );
    useCustom = true;
    initialLoss = warmup();
  }
  const { seconds, finalLoss } = timedSgd(opt, lossOf, vars, batcher, w.steps, xShape, yShape, probe, notes);
  return {
    seconds,
    initialLoss,
    finalLoss,
    threads: 0,
    notes,
    extra: { filterGradByConv: useCustom ? 1 : 0 },
  };
}

/**
 * A Transformer block workload in tfjs, written as a tfjs user would: the tokens as rows [N·T, D]
 * for the projections and the MLP (`tf.matMul` with [in, out] weights), heads split by reshape to
 * [N, T, h, dk], `tf.transpose` to [N, h, T, dk] and reshape to [N·h, T, dk] for the batched
 * products (`tf.matMul(q, k, false, true)`), `tf.softmax` over the keys, layer norm from `tf.mean`
 * (biased variance, times 1/sqrt(var + eps) as in gradgraph), exact GELU `0.5·z·(1 + erf(z/√2))`
 * (tfjs has no GELU op; `tf.erf` has a wasm kernel and a gradient), mean squared error;
 * `optimizer.minimize` inside `tf.tidy` as in the dense cells.
 */
async function trainBlock(
  backend: "cpu" | "wasm",
  w: BlockWorkload,
  batcher: Batcher,
  weights: Readonly<Record<BlockParam, BlockTensor>>,
  probe: Probe,
): Promise<TrainRun> {
  const notes = await useBackend(backend);
  const N = w.batch;
  const T = w.seqLen;
  const D = w.width;
  const h = w.heads;
  const dk = D / h;
  const V = {} as Record<BlockParam, tf.Variable>;
  for (const k of BLOCK_PARAMS)
    V[k] = tf.variable(tf.tensor(weights[k].data, [...weights[k].shape]), true, `G_${k}`);
  const vars = BLOCK_PARAMS.map((k) => V[k]);
  const layerNorm = (v: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D => {
    const xc = tf.sub(v, tf.mean(v, -1, true));
    const inv = tf.div(1, tf.sqrt(tf.add(tf.mean(tf.square(xc), -1, true), w.epsilon)));
    return tf.add(tf.mul(tf.mul(xc, inv), gamma), beta);
  };
  const heads = (z: tf.Tensor2D): tf.Tensor3D =>
    tf.reshape(tf.transpose(tf.reshape(z, [N, T, h, dk]), [0, 2, 1, 3]), [N * h, T, dk]);
  const dense = (v: tf.Tensor2D, W: tf.Tensor, b: tf.Tensor): tf.Tensor2D =>
    tf.add(tf.matMul(v, W as tf.Tensor2D), b);
  const lossOf = (xs: tf.Tensor2D, ys: tf.Tensor2D): tf.Scalar => {
    const a = layerNorm(xs, V["ln1.gamma"], V["ln1.beta"]);
    const q = heads(dense(a, V.Wq, V.bq));
    const k = heads(dense(a, V.Wk, V.bk));
    const v = heads(dense(a, V.Wv, V.bv));
    const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dk));
    const ctx = tf.reshape(
      tf.transpose(tf.reshape(tf.matMul(tf.softmax(scores), v), [N, h, T, dk]), [0, 2, 1, 3]),
      [N * T, D],
    );
    const hid: tf.Tensor2D = tf.add(xs, dense(ctx as tf.Tensor2D, V.Wo, V.bo));
    const z = dense(layerNorm(hid, V["ln2.gamma"], V["ln2.beta"]), V.W1, V.b1);
    const g = tf.mul(tf.mul(z, 0.5), tf.add(1, tf.erf(tf.mul(z, Math.SQRT1_2))));
    const out = tf.add(hid, dense(g as tf.Tensor2D, V.W2, V.b2));
    return tf.mul(tf.sum(tf.square(tf.sub(out, ys))), 1 / (N * T * D));
  };
  const opt = tf.train.sgd(w.stepSize);
  const shape: Shape2 = [N * T, D];
  const initialLoss = lossWithGrads(lossOf, vars, batcher.get(0), shape, shape);
  const run = timedSgd(opt, lossOf, vars, batcher, w.steps, shape, shape, probe, notes);
  notes.push("exact GELU via tf.erf");
  return { seconds: run.seconds, initialLoss, finalLoss: run.finalLoss, threads: 0, notes };
}

export function tfjsCell(backend: "cpu" | "wasm"): CellRunner {
  return {
    cnn: (w, batcher, weights, probe) => trainCnn(backend, w, batcher, weights, probe),
    block: (w, batcher, weights, probe) => trainBlock(backend, w, batcher, weights, probe),

    async train(w: TrainWorkload, batcher, layers, probe: Probe): Promise<TrainRun> {
      const notes = await useBackend(backend);
      const vars: tf.Variable[] = [];
      const Ws: tf.Variable[] = [];
      const bs: tf.Variable[] = [];
      layers.forEach((layer, l) => {
        const W = tf.variable(tf.tensor2d(layer.W, [layer.fanIn, layer.fanOut]), true, `W${l}`);
        const b = tf.variable(tf.tensor1d(layer.b), true, `b${l}`);
        Ws.push(W);
        bs.push(b);
        vars.push(W, b);
      });
      const features = w.sizes[0]!;
      const lossOf = (xs: tf.Tensor2D, ys: tf.Tensor2D): tf.Scalar => {
        let h: tf.Tensor2D = xs;
        for (let l = 0; l < Ws.length; l++) {
          h = tf.add(tf.matMul(h, Ws[l]!), bs[l]!);
          if (l + 1 < Ws.length) h = w.hidden === "sigmoid" ? tf.sigmoid(h) : tf.relu(h);
        }
        if (w.loss === "halfSumSq") return tf.mul(tf.sum(tf.square(tf.sub(tf.sigmoid(h), ys))), 0.5);
        if (w.loss === "softmaxSumSq") return tf.sum(tf.square(tf.sub(tf.softmax(h), ys)));
        return tf.mul(tf.sum(tf.mul(tf.logSoftmax(h), ys)), -1 / w.batch);
      };
      const opt = tf.train.sgd(w.stepSize);

      // warm-up: loss and gradients on batch 0 at the initial weights, no update
      const xShape: Shape2 = [w.batch, features];
      const yShape: Shape2 = [w.batch, 10];
      const initialLoss = lossWithGrads(lossOf, vars, batcher.get(0), xShape, yShape);
      const run = timedSgd(opt, lossOf, vars, batcher, w.steps, xShape, yShape, probe, notes);
      return { seconds: run.seconds, initialLoss, finalLoss: run.finalLoss, threads: 0, notes };
    },

    async matmul(w: MatmulWorkload, a, b, probe): Promise<MatmulRun> {
      const notes = await useBackend(backend);
      const entries = await timeSweep(
        w,
        a,
        b,
        ({ m, k, n }, variant, av, bv) => {
          const ta = variant === "tn";
          const tb = variant === "nt";
          const A = tf.tensor2d(av, ta ? [k, m] : [m, k]);
          const B = tf.tensor2d(bv, tb ? [n, k] : [k, n]);
          let out: Float32Array = new Float32Array(0);
          return {
            // products run in order, so reading the last one (dataSync) waits for all of them
            run(reps: number) {
              for (let r = 0; r < reps; r++) {
                const c = tf.matMul(A, B, ta, tb);
                if (r + 1 === reps) out = c.dataSync() as Float32Array;
                c.dispose();
              }
            },
            output: () => out,
            dispose() {
              A.dispose();
              B.dispose();
            },
          };
        },
        probe,
      );
      notes.push("the last product of each timed run read with dataSync");
      return { entries, threads: 0, notes };
    },
  };
}
