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
import { type CellRunner, type MatmulRun, type Probe, type TrainRun, timeSweep } from "../measure.js";
import type { MatmulWorkload, TrainWorkload } from "../workloads.js";

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

export function tfjsCell(backend: "cpu" | "wasm"): CellRunner {
  return {
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
      const first = batcher.get(0);
      const initialLoss = tf.tidy(() => {
        const xs = tf.tensor2d(first.x, [w.batch, features]);
        const ys = tf.tensor2d(first.y, [w.batch, 10]);
        const { value, grads } = tf.variableGrads(() => lossOf(xs, ys), vars);
        for (const k of Object.keys(grads)) grads[k]!.dataSync();
        return value.dataSync()[0]!;
      });
      const tensorsBefore = tf.memory().numTensors;

      let last: tf.Scalar | null = null;
      probe.start();
      for (let s = 0; s < w.steps; s++) {
        const batch = batcher.get(s);
        const cost = tf.tidy(() => {
          const xs = tf.tensor2d(batch.x, [w.batch, features]);
          const ys = tf.tensor2d(batch.y, [w.batch, 10]);
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
      // variables are registered by name: free them so a scaling table's next point can reuse the names
      opt.dispose();
      for (const v of vars) v.dispose();
      return { seconds, initialLoss, finalLoss, threads: 0, notes };
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
