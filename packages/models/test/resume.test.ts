/**
 * Resuming training exactly: N epochs in one run give the same bits as N/2 epochs, a save (params,
 * `Model.trainingSteps`, optimizer state) to bytes or to a file, a load into a fresh model and a
 * fresh optimizer, and N/2 more epochs (`fit`'s `initialEpoch`), for a CNN with batch normalisation
 * and dropout; and the version-3 file format that holds the training state.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { batchNorm, conv2d, dropout, flatten, maxPool2d } from "../src/cnn.js";
import { fit } from "../src/fit.js";
import {
  deserializeModel,
  MODEL_VERSION,
  ModelFileError,
  restoreTraining,
  serializeModel,
  trainingStateOf,
} from "../src/io.js";
import { dense } from "../src/layers.js";
import { softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { loadModel, saveModel } from "../src/node.js";
import { adam, cosineDecay, momentum, type Optimizer, sgd, stepDecay } from "../src/optim/index.js";
import { bars } from "./helpers/bars.js";

/** conv -> batchNorm -> relu -> pool -> dropout -> dense, float64. */
function cnn(seed = 7): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 64]);
      const y = b.input("y", ["N", 2]);
      let h = b.reshape(x, ["N", 1, 8, 8]);
      h = b.relu(batchNorm(b, conv2d(b, h, 4, 3, { padding: "same" })));
      h = dropout(b, flatten(b, maxPool2d(b, h, 2)), 0.3);
      const logits = dense(b, h, 2);
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed },
  );
}

const data = bars(40, 3);
const EPOCHS = 4;
const BATCH = 16; // 3 batches per epoch, the last one smaller
const SEED = 5;
const TOTAL = EPOCHS * 3;

const optimizers: [string, () => Optimizer][] = [
  [
    "adam (cosine with warm-up, AdamW, clipNorm)",
    () =>
      adam({
        lr: cosineDecay({ lr: 0.02, totalSteps: TOTAL, warmupSteps: 2 }),
        weightDecay: 0.01,
        decoupledWeightDecay: true,
        clipNorm: 1,
      }),
  ],
  [
    "nesterov (step decay, L2, clipValue)",
    () =>
      momentum({
        lr: stepDecay({ lr: 0.05, stepSize: 5, gamma: 0.5 }),
        nesterov: true,
        weightDecay: 1e-3,
        clipValue: 0.5,
      }),
  ],
  ["sgd", () => sgd({ lr: 0.05 })],
];

const bitsOf = (m: Model) => m.params.entries().map(([n, t]) => [n, Array.from(t.data)] as const);

function uninterrupted(make: () => Optimizer): Model {
  const model = cnn();
  fit(model, data, { optimizer: make(), epochs: EPOCHS, batchSize: BATCH, seed: SEED });
  return model;
}

function firstHalf(make: () => Optimizer): { model: Model; opt: Optimizer } {
  const model = cnn();
  const opt = make();
  fit(model, data, { optimizer: opt, epochs: EPOCHS / 2, batchSize: BATCH, seed: SEED });
  return { model, opt };
}

/** A fresh model (its params scrambled, so that only the load can bring them back) and optimizer. */
function fresh(make: () => Optimizer): { model: Model; opt: Optimizer } {
  const model = cnn();
  for (const [, t] of model.params.entries()) t.data.fill(0.25);
  return { model, opt: make() };
}

describe("resuming training exactly", () => {
  for (const [name, make] of optimizers) {
    test(`${name}: ${EPOCHS} epochs = ${EPOCHS / 2} + save + load into a fresh model and optimizer + ${EPOCHS / 2}`, () => {
      const whole = uninterrupted(make);
      const a = firstHalf(make);
      expect(a.model.trainingSteps).toBe(TOTAL / 2);
      const bytes = serializeModel({ ...a.model, training: trainingStateOf(a.model, a.opt) });
      expect(new DataView(bytes.buffer).getUint32(8, true)).toBe(MODEL_VERSION);
      const saved = deserializeModel(bytes, { expectGraph: a.model.graph });
      // every format written is read back: the loaded model serialises to the same bytes
      expect(serializeModel(saved)).toEqual(bytes);
      const b = fresh(make);
      restoreTraining(b.model, saved, b.opt);
      expect(b.model.trainingSteps).toBe(TOTAL / 2);
      expect(b.opt.iterations).toBe(TOTAL / 2);
      const { history } = fit(b.model, data, {
        optimizer: b.opt,
        epochs: EPOCHS,
        initialEpoch: EPOCHS / 2,
        batchSize: BATCH,
        seed: SEED,
      });
      expect(history.epochs).toBe(EPOCHS / 2);
      expect(history.stoppedEarly).toBe(false);
      expect(bitsOf(b.model)).toEqual(bitsOf(whole));
      // the running statistics moved and came back too
      expect(b.model.params.get("batchNorm1/runningVar").toArray()).not.toEqual([1, 1, 1, 1]);
    });
  }

  test("each piece of the state matters: without trainingSteps, the optimizer state or initialEpoch, the bits differ", () => {
    const make = optimizers[0]![1];
    const whole = bitsOf(uninterrupted(make));
    const a = firstHalf(make);
    const saved = deserializeModel(serializeModel({ ...a.model, training: trainingStateOf(a.model, a.opt) }));
    const resume = (how: "no-steps" | "no-optimizer" | "no-initial-epoch") => {
      const b = fresh(make);
      restoreTraining(b.model, saved, how === "no-optimizer" ? undefined : b.opt);
      if (how === "no-steps") b.model.trainingSteps = 0;
      fit(b.model, data, {
        optimizer: b.opt,
        epochs: how === "no-initial-epoch" ? EPOCHS / 2 : EPOCHS,
        initialEpoch: how === "no-initial-epoch" ? 0 : EPOCHS / 2,
        batchSize: BATCH,
        seed: SEED,
      });
      return bitsOf(b.model);
    };
    expect(resume("no-steps")).not.toEqual(whole);
    expect(resume("no-optimizer")).not.toEqual(whole);
    expect(resume("no-initial-epoch")).not.toEqual(whole);
  });

  test("through a file written atomically by saveModel and read by loadModel", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gg-resume-"));
    try {
      const make = optimizers[1]![1];
      const whole = bitsOf(uninterrupted(make));
      const a = firstHalf(make);
      const path = join(dir, "half.ggm");
      await saveModel(path, {
        ...a.model,
        metadata: { epochs: 2 },
        training: trainingStateOf(a.model, a.opt),
      });
      const saved = await loadModel(path, { expectGraph: a.model.graph });
      expect(saved.metadata).toEqual({ epochs: 2 });
      const b = fresh(make);
      restoreTraining(b.model, saved, b.opt);
      fit(b.model, data, { optimizer: b.opt, epochs: EPOCHS, initialEpoch: 2, batchSize: BATCH, seed: SEED });
      expect(bitsOf(b.model)).toEqual(whole);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the training state in model files", () => {
  const a = firstHalf(optimizers[0]![1]);
  const state = trainingStateOf(a.model, a.opt);

  test("a model saved without training state is still version 2 and loads without it", () => {
    const bytes = serializeModel(a.model);
    expect(new DataView(bytes.buffer).getUint32(8, true)).toBe(2);
    expect(deserializeModel(bytes).training).toBeUndefined();
    const onlySteps = deserializeModel(serializeModel({ ...a.model, training: { trainingSteps: 6 } }));
    expect(onlySteps.training).toEqual({ trainingSteps: 6 });
  });

  test("the optimizer state comes back equal, with fresh buffers", () => {
    const saved = deserializeModel(serializeModel({ ...a.model, training: state }));
    expect(saved.training!.trainingSteps).toBe(a.model.trainingSteps);
    expect(saved.training!.optimizer).toEqual(state.optimizer);
    const buf = saved.training!.optimizer!.params["dense1/W"]!.buffers[0]!;
    expect(buf).toBeInstanceOf(Float64Array);
    expect(buf).not.toBe(state.optimizer!.params["dense1/W"]!.buffers[0]);
  });

  test("saving refuses optimizer state that does not fit the graph", () => {
    const st = state.optimizer!;
    const wrong = (optimizer: typeof st) => () => serializeModel({ ...a.model, training: { optimizer } });
    expect(wrong({ ...st, params: { ...st.params, nope: st.params["dense1/W"]! } })).toThrow(
      /optimizer has state for param 'nope', which the graph does not declare/,
    );
    const w = st.params["dense1/W"]!;
    expect(
      wrong({ ...st, params: { "dense1/W": { steps: 1, buffers: [new Float64Array(3), w.buffers[1]!] } } }),
    ).toThrow(ModelFileError);
    expect(() => serializeModel({ ...a.model, training: { trainingSteps: -1 } })).toThrow(
      /trainingSteps must be an integer >= 0/,
    );
  });

  /** Rewrites the manifest of `bytes` with `edit` (header length and CRC kept consistent). */
  function editManifest(bytes: Uint8Array, edit: (m: Record<string, unknown>) => void): Uint8Array {
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const len = view.getUint32(12, true);
    const m = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + len))) as Record<string, unknown>;
    const oldStart = Math.ceil((20 + len) / 8) * 8;
    edit(m);
    const text = new TextEncoder().encode(JSON.stringify(m));
    const start = Math.ceil((20 + text.length) / 8) * 8;
    const out = new Uint8Array(start + bytes.length - oldStart);
    out.set(bytes.subarray(0, 20));
    out.set(text, 20);
    out.set(bytes.subarray(oldStart), start);
    const v = new DataView(out.buffer);
    v.setUint32(12, text.length, true);
    v.setUint32(16, crc32(text), true);
    return out;
  }

  function crc32(b: Uint8Array): number {
    let c = ~0;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  }

  test("the reader checks the training state: version, params, sizes, layout", () => {
    const bytes = serializeModel({ ...a.model, training: state });
    expect(deserializeModel(editManifest(bytes, () => {})).training).toEqual(state);
    type Opt = { params: { name: string; buffers: { offset: number; byteLength: number }[] }[] };
    const opt = (m: Record<string, unknown>) => (m.training as { optimizer: Opt }).optimizer;
    const cases: [string, (m: Record<string, unknown>) => void, RegExp][] = [
      [
        "a version-2 manifest with training",
        (m) => {
          m.version = 2;
        },
        /differs from the header|needs format version 3/,
      ],
      [
        "an unknown param",
        (m) => {
          opt(m).params[0]!.name = "ghost";
        },
        /optimizer state of param 'ghost': the saved graph declares no such param/,
      ],
      [
        "a wrong byte length",
        (m) => {
          opt(m).params[0]!.buffers[0]!.byteLength += 8;
        },
        /byteLength \d+, expected \d+/,
      ],
      [
        "swapped buffers",
        (m) => {
          const bs = opt(m).params[0]!.buffers;
          [bs[0]!.offset, bs[1]!.offset] = [bs[1]!.offset, bs[0]!.offset];
        },
        /starts at byte \d+, expected \d+/,
      ],
      [
        "a missing slot",
        (m) => {
          opt(m).params[0]!.buffers.pop();
        },
        /expected 2 buffers/,
      ],
      [
        "negative trainingSteps",
        (m) => {
          (m.training as { trainingSteps: number }).trainingSteps = -3;
        },
        /trainingSteps must be null or an integer >= 0/,
      ],
    ];
    for (const [what, edit, message] of cases) {
      let err: unknown;
      try {
        deserializeModel(editManifest(bytes, edit));
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(ModelFileError);
      expect((err as ModelFileError).message, what).toMatch(message);
    }
    // every leaf and container of the training section replaced by hostile values: each file
    // loads (and then saves back to the same bytes) or fails with a ModelFileError
    const hostile: unknown[] = [null, -1, 0, 1.5, 8, 1e300, "x", [], {}, [0], true];
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, path: (string | number)[]) => {
      paths.push(path);
      if (v !== null && typeof v === "object")
        for (const [k, c] of Object.entries(v)) walk(c, [...path, Array.isArray(v) ? Number(k) : k]);
    };
    const len = new DataView(bytes.buffer).getUint32(12, true);
    const manifest = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + len))) as Record<
      string,
      unknown
    >;
    walk(manifest.training, ["training"]);
    expect(paths.length).toBeGreaterThan(20);
    let loaded = 0;
    for (const path of paths) {
      for (const value of hostile) {
        const edited = editManifest(bytes, (m) => {
          let o = m as Record<string | number, unknown>;
          for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
          o[path.at(-1)!] = value;
        });
        try {
          const back = deserializeModel(edited);
          loaded++;
          expect(serializeModel(back)).toEqual(edited);
        } catch (e) {
          if (!(e instanceof ModelFileError))
            throw new Error(`${path.join(".")} = ${JSON.stringify(value)}: ${e}`);
        }
      }
    }
    // a few edits are harmless (e.g. an lr of 8, a trainingSteps of 0)
    expect(loaded).toBeGreaterThan(0);
    expect(loaded).toBeLessThan((paths.length * hostile.length) / 4);
    // a version-2 header with a training section
    const v2 = editManifest(bytes, (m) => {
      m.version = 2;
    });
    new DataView(v2.buffer).setUint32(8, 2, true);
    expect(() => deserializeModel(v2)).toThrow(/'training' needs format version 3, the file is version 2/);
  });
});
