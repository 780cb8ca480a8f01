/**
 * What `fit` costs over driving the compiled training plan directly, on one epoch of workloads A
 * and B (50,000 synthetic MNIST-shaped rows, `bench/compare/data.ts`):
 *
 * - A: 784-30-10 sigmoid, 0.5·sum of squares, batch 10 (5,000 steps);
 * - B: 784-90-10 relu, softmax + sum of squares, batch 100 (500 steps).
 *
 * Both contestants use the same {@link Model} and the same cached training plan and start from the
 * same params: `fit` (one epoch, `sgd`, default options otherwise) against a plain loop that copies
 * each batch into the plan's inputs with `TypedArray.set`, runs the plan and applies SGD with core's
 * `axpy`. They alternate, `--repeats` times each, and the script prints the median epoch times and
 * their ratio fit/direct (the target is <= 1.03), once with the rows in file order (`shuffle: false`
 * against one `set` per batch) and once shuffled (fit's seeded order against the same permutation
 * copied row by row). It also checks that both end with bit-identical params.
 *
 * Run from the repository root:
 *
 *     node --conditions=@gradgraph/source --import tsx bench/fit-overhead.ts
 *     node --conditions=@gradgraph/source --import tsx bench/fit-overhead.ts --repeats 9 --only A --order shuffled
 *
 * Options: `--repeats N` (default 5), `--only A,B`, `--order in,shuffled`, `--labels` (targets as
 * class labels, one-hot encoded by `fit`, instead of a one-hot tensor), `--old` (also time `fit`
 * with the element-by-element batch copy it used before, as a third contestant: `Model.fill`
 * replaced by a copy of the old code kept below).
 */
import { axpy, type FloatArray, Rng, Tensor } from "@gradgraph/core";
import { fit, Model, mlp, quadratic, sgd, sumSquares, type Targets } from "@gradgraph/models";
import { type Dataset, makeDataset, makeWeights } from "./compare/data.js";
import { WORKLOADS } from "./compare/workloads.js";

interface Args {
  repeats: number;
  only: string[];
  orders: ("in" | "shuffled")[];
  labels: boolean;
  old: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { repeats: 5, only: ["A", "B"], orders: ["in", "shuffled"], labels: false, old: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--repeats") {
      args.repeats = Number(value());
      if (!Number.isInteger(args.repeats) || args.repeats < 1) throw new Error("--repeats must be >= 1");
    } else if (a === "--only") args.only = value().split(",");
    else if (a === "--order") {
      const orders = value().split(",");
      for (const o of orders) if (o !== "in" && o !== "shuffled") throw new Error(`unknown order '${o}'`);
      args.orders = orders as Args["orders"];
    } else if (a === "--labels") args.labels = true;
    else if (a === "--old") args.old = true;
    else throw new Error(`unknown option ${a}`);
  }
  return args;
}

const SEED = 5;

/** The workload's net as a {@link Model}, with the comparison's initial weights. */
function buildModel(id: string): { model: Model; batch: number; lr: number } {
  const w = WORKLOADS[id];
  if (w?.kind !== "train") throw new Error(`no training workload '${id}'`);
  const sizes = w.sizes;
  const model = Model.define(
    (b) => {
      const x = b.input("x", ["N", sizes[0]!]);
      const y = b.input("y", ["N", 10]);
      const names = sizes.slice(1).map((_, l) => `L${l}`);
      if (w.loss === "halfSumSq") {
        const out = mlp(b, x, sizes, { activation: w.hidden, outputActivation: "sigmoid", names });
        return { input: x, target: y, predictions: out, loss: quadratic(b, out, y, { reduction: "sum" }) };
      }
      const out = mlp(b, x, sizes, { activation: w.hidden, outputActivation: "softmax", names });
      return { input: x, target: y, predictions: out, loss: sumSquares(b, out, y, { reduction: "sum" }) };
    },
    { dtype: "float32", lossReduction: "sum" },
  );
  makeWeights(w).forEach((layer, l) => {
    model.params.get(`L${l}/W`).data.set(layer.W);
    model.params.get(`L${l}/b`).data.set(layer.b);
  });
  return { model, batch: w.batch, lr: w.stepSize };
}

/** The row order of fit's first epoch with `seed` (fit shuffles 0..n-1 once per epoch). */
function firstEpochOrder(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return new Rng(seed).shuffle(order);
}

/** One epoch driving the plan directly: copy the batch in with `set`, run, SGD with axpy. */
function directEpoch(
  model: Model,
  data: Dataset,
  labels: Uint8Array | null,
  batch: number,
  lr: number,
  order: Int32Array | null,
): number {
  const tp = model.trainingPlan(batch);
  const xd = tp.x.data;
  const yd = tp.y.data;
  const ps: FloatArray[] = model.trainable.map((p) => model.params.get(p).data);
  const gs: FloatArray[] = model.trainable.map((p) => tp.grads[p]!.data);
  const F = data.features;
  const { x, y } = data;
  const steps = Math.floor(data.n / batch);
  let loss = 0;
  for (let s = 0; s < steps; s++) {
    const r0 = s * batch;
    if (order === null) {
      xd.set(x.subarray(r0 * F, (r0 + batch) * F));
      if (labels) {
        yd.fill(0);
        for (let r = 0; r < batch; r++) yd[r * 10 + labels[r0 + r]!] = 1;
      } else yd.set(y.subarray(r0 * 10, (r0 + batch) * 10));
    } else {
      if (labels) yd.fill(0);
      for (let r = 0; r < batch; r++) {
        const i = order[r0 + r]!;
        xd.set(x.subarray(i * F, (i + 1) * F), r * F);
        if (labels) yd[r * 10 + labels[i]!] = 1;
        else yd.set(y.subarray(i * 10, (i + 1) * 10), r * 10);
      }
    }
    tp.plan.run();
    loss += tp.loss.data[0]!;
    for (let k = 0; k < ps.length; k++) axpy(ps[k]!, gs[k]!, -lr);
  }
  return loss;
}

// ---- the batch copy fit used before (element by element), for --old ----

function oldGatherRows(
  src: ArrayLike<number>,
  rowSize: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: FloatArray,
  column: boolean,
): void {
  if (!column) {
    for (let i = 0; i < count; i++) {
      const r = indices === null ? start + i : indices[start + i]!;
      const s = r * rowSize;
      const o = i * rowSize;
      for (let k = 0; k < rowSize; k++) dst[o + k] = src[s + k]!;
    }
  } else {
    for (let i = 0; i < count; i++) {
      const r = indices === null ? start + i : indices[start + i]!;
      const s = r * rowSize;
      for (let k = 0; k < rowSize; k++) dst[k * count + i] = src[s + k]!;
    }
  }
}

function oldGatherLabels(
  labels: ArrayLike<number>,
  classes: number,
  indices: Int32Array | null,
  start: number,
  count: number,
  dst: FloatArray,
  column: boolean,
): void {
  if (classes === 1) {
    for (let i = 0; i < count; i++) dst[i] = labels[indices === null ? start + i : indices[start + i]!]!;
    return;
  }
  dst.fill(0, 0, count * classes);
  for (let i = 0; i < count; i++) {
    const l = labels[indices === null ? start + i : indices[start + i]!]!;
    if (!(l >= 0 && l < classes) || !Number.isInteger(l)) {
      throw new RangeError(`label ${l} is not a class index in [0, ${classes})`);
    }
    dst[column ? l * count + i : i * classes + l] = 1;
  }
}

type Fill = Model["fill"];

/** Values per sample of each model's features and targets (the old code read them from private fields). */
const sizes = new WeakMap<Model, { x: number; y: number }>();

function sizesOf(model: Model): { x: number; y: number } {
  let s = sizes.get(model);
  if (!s) {
    const prod = (a: readonly number[]) => a.reduce((p, d) => p * d, 1);
    s = { x: prod(model.sampleShapes.x), y: prod(model.sampleShapes.y) };
    sizes.set(model, s);
  }
  return s;
}

/** `Model.fill` as it was, on top of the old element-wise copies. */
const oldFill: Fill = function (this: Model, plan, xData, yData, indices, start, count): void {
  const column = this.convention === "column";
  const s = sizesOf(this);
  // the one-input, one-target form this bench compares
  const x = xData as Tensor;
  const y = yData as Targets | null;
  oldGatherRows(x.data, s.x, indices, start, count, plan.xs[this.input]!.data, column);
  if (y !== null && plan.y) {
    if (y instanceof Tensor) oldGatherRows(y.data, s.y, indices, start, count, plan.y.data, column);
    else oldGatherLabels(y, s.y, indices, start, count, plan.y.data, column);
  }
};

// ---- measurement ----

function median(a: readonly number[]): number {
  const s = [...a].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function paramsEqual(a: ReadonlyMap<string, Float32Array | Float64Array>, model: Model): boolean {
  for (const [name, d] of a) {
    const e = model.params.get(name).data;
    for (let i = 0; i < d.length; i++) if (d[i] !== e[i]) return false;
  }
  return true;
}

function snapshot(model: Model): Map<string, Float32Array | Float64Array> {
  return new Map(model.params.names().map((n) => [n, model.params.get(n).data.slice()]));
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const spec = WORKLOADS.A;
  if (spec?.kind !== "train") throw new Error("workload A is missing");
  const t0 = performance.now();
  const data = makeDataset(spec.data);
  const labels = new Uint8Array(data.n);
  for (let i = 0; i < data.n; i++) for (let c = 0; c < 10; c++) if (data.y[i * 10 + c] === 1) labels[i] = c;
  const xT = new Tensor([data.n, data.features], data.x);
  const yT = args.labels ? labels : new Tensor([data.n, 10], data.y);
  console.log(
    `data: ${data.n} rows of ${data.features} (${((performance.now() - t0) / 1000).toFixed(1)} s); targets: ${args.labels ? "labels" : "one-hot tensor"}; ${args.repeats} repeats`,
  );
  const newFill = Model.prototype.fill;
  for (const id of args.only) {
    const { model, batch, lr } = buildModel(id);
    const initial = model.params.clone();
    for (const ord of args.orders) {
      const shuffled = ord === "shuffled";
      const runFit = (): number => {
        model.params.copyFrom(initial);
        const t = performance.now();
        fit(
          model,
          { x: xT, y: yT },
          { optimizer: sgd({ lr }), epochs: 1, batchSize: batch, shuffle: shuffled, seed: SEED },
        );
        return performance.now() - t;
      };
      const runOld = (): number => {
        Model.prototype.fill = oldFill;
        try {
          return runFit();
        } finally {
          Model.prototype.fill = newFill;
        }
      };
      const runDirect = (): number => {
        model.params.copyFrom(initial);
        const t = performance.now();
        // shuffling is part of the work (fit shuffles in its timed epoch too)
        const order = shuffled ? firstEpochOrder(data.n, SEED) : null;
        directEpoch(model, data, args.labels ? labels : null, batch, lr, order);
        return performance.now() - t;
      };
      // warm-up (compiles the plan, lets the JIT settle) and the identity check
      runDirect();
      const ref = snapshot(model);
      runFit();
      const same = paramsEqual(ref, model);
      let sameOld = true;
      if (args.old) {
        runOld();
        sameOld = paramsEqual(ref, model);
      }
      const times: Record<"fit" | "direct" | "old", number[]> = { fit: [], direct: [], old: [] };
      for (let r = 0; r < args.repeats; r++) {
        // alternate which goes first, so drifts of the machine hit both alike
        const runs: ["fit" | "direct" | "old", () => number][] = [
          ["fit", runFit],
          ["direct", runDirect],
        ];
        if (args.old) runs.push(["old", runOld]);
        if (r % 2 === 1) runs.reverse();
        for (const [k, f] of runs) times[k].push(f());
      }
      const f = median(times.fit);
      const d = median(times.direct);
      const ratios = times.fit.map((t, i) => t / times.direct[i]!);
      const best = Math.min(...times.fit) / Math.min(...times.direct);
      let line = `${id} batch ${batch}, ${shuffled ? "shuffled" : "in order"}: fit ${f.toFixed(1)} ms, direct ${d.toFixed(1)} ms (medians), fit/direct ${(f / d).toFixed(4)}; per-repeat ratios: median ${median(ratios).toFixed(4)}, range ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}; best times ${best.toFixed(4)}`;
      if (args.old) {
        const o = median(times.old);
        const oldRatios = times.old.map((t, i) => t / times.direct[i]!);
        line += `\n  old fit ${o.toFixed(1)} ms, old/direct ${(o / d).toFixed(4)}; per-repeat median ${median(oldRatios).toFixed(4)}; best times ${(Math.min(...times.old) / Math.min(...times.direct)).toFixed(4)}`;
      }
      console.log(line);
      console.log(
        `  params after one epoch: fit ${same ? "==" : "!="} direct${args.old ? `, old fit ${sameOld ? "==" : "!="} direct` : ""}`,
      );
    }
  }
}

main();
