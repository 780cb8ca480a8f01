/**
 * `pnpm example custom-sequence`: a recurrent network and a transformer, both defined in code, on a
 * generated sequence task.
 *
 * The task: every sequence holds {@link SEQ_LEN} digits with exactly one 1 and one 2 among them;
 * does the 1 come before the 2? Both sequences of a pair such as `5 1 7 2 ...` / `5 2 7 1 ...` hold
 * the same digits, so a bag of tokens is no better than chance (50%): a recurrent network has to
 * remember what it has seen while it reads, a transformer has to use the positions (learned
 * position embeddings) and relate the two tokens. The data is generated from `--seed`.
 *
 * Two networks learn it, both with `fit`, Adam, a cosine learning-rate schedule with warm-up and
 * gradient clipping by global norm:
 * - an LSTM whose cell is unrolled by hand: one `lstmCell` call per time step in a plain loop
 *   (what the `lstm` layer does inside), on learned token embeddings;
 * - a transformer: token embeddings plus learned position embeddings, a `transformerEncoderBlock`,
 *   then a second attention sub-layer with its residual written in raw builder ops, max pooling
 *   over the positions and a dense softmax head.
 *
 * The transformer is saved to `model.ggm`, loaded back, and the loaded copy must predict exactly
 * the same. Writes both models' training curves and the attention weights of one sequence.
 * @module
 */
import { type GraphBuilder, Rng, Tensor, type Value } from "@gradgraph/core";
import {
  adam,
  cosineDecay,
  dense,
  embedding,
  fit,
  type History,
  init,
  layerNorm,
  lstmCell,
  Model,
  multiHeadAttentionLayer,
  softmaxCrossEntropy,
  transformerEncoderBlock,
} from "@gradgraph/models";
import { accuracyLogs, fitOrRollBack, printsEpoch, saveAndReload } from "../classifier.js";
import type { ExampleContext, ExampleResult } from "../context.js";
import { type CurvePoint, curvesChart, heatmapGridChart, historyCurves } from "../plots.js";
import {
  historyJson,
  nonFiniteFailure,
  type TrainingSummary,
  trainingCallback,
  trainingSummary,
} from "../training.js";

/** Tokens per sequence. */
export const SEQ_LEN = 10;
/** Distinct tokens: the digits 0..9. */
export const VOCAB = 10;

/** A generated data set: `x [n, SEQ_LEN]` holds digits (as floats), `y` the 0/1 labels. */
export interface SequenceData {
  readonly x: Tensor;
  readonly y: Uint8Array;
}

/**
 * `n` sequences of {@link SEQ_LEN} digits holding exactly one 1 and one 2 (the other digits are
 * drawn from 0 and 3..9), labelled 1 when the 1 comes before the 2. Half of each, in random order.
 * Deterministic in `seed`.
 */
export function oneBeforeTwo(n: number, seed: number): SequenceData {
  const rng = new Rng(seed);
  const x = new Float32Array(n * SEQ_LEN);
  const y = new Uint8Array(n);
  const others = [0, 3, 4, 5, 6, 7, 8, 9];
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * SEQ_LEN, (i + 1) * SEQ_LEN);
    for (let t = 0; t < SEQ_LEN; t++) row[t] = others[rng.int(others.length)]!;
    // two distinct positions p < q: the label decides which of them holds the 1
    const p = rng.int(SEQ_LEN - 1);
    const q = p + 1 + rng.int(SEQ_LEN - 1 - p);
    const label = rng.int(2);
    row[p] = label === 1 ? 1 : 2;
    row[q] = label === 1 ? 2 : 1;
    y[i] = label;
  }
  return { x: new Tensor([n, SEQ_LEN], x), y };
}

/**
 * The recurrent network: embeddings, then an LSTM cell unrolled by hand over the {@link SEQ_LEN}
 * steps, the last hidden state into a dense softmax head. The cell's params are declared here with
 * `b.param`, in the layout `lstmCell` expects (`Wx [E, 4u]`, `Wh [u, 4u]`, `b [4u]`, gates
 * `i, f, g, o` side by side).
 */
export function lstmNet(b: GraphBuilder, units: number) {
  const ids = b.input("x", ["N", SEQ_LEN]); // "N": any batch size; digits as floats
  const y = b.input("y", ["N", 2]); // one-hot targets
  const E = 16;
  const emb = embedding(b, ids, VOCAB, E, { name: "rnn/embed" }); // [N, T, E]
  const cell = {
    Wx: b.param("rnn/Wx", [E, 4 * units], { init: init.glorotUniform({ fanIn: E, fanOut: 4 * units }) }),
    Wh: b.param("rnn/Wh", [units, 4 * units], {
      init: init.glorotUniform({ fanIn: units, fanOut: 4 * units }),
    }),
    // forget-gate bias 1 (Jozefowicz et al. 2015): the cell starts out remembering
    b: b.param("rnn/b", [4 * units], {
      init: init.values(Array.from({ length: 4 * units }, (_, i) => (i >= units && i < 2 * units ? 1 : 0))),
    }),
  };
  // the state starts at zero: [N, units] with the symbolic batch size
  let h: Value = b.zeros(["N", units]);
  let c: Value = b.zeros(["N", units]);
  for (let t = 0; t < SEQ_LEN; t++) {
    // the t-th token's embedding: [N, 1, E] -> [N, E]
    const xt = b.reshape(b.slice(emb, [0, t, 0], [null, t + 1, null]), ["N", E]);
    [h, c] = lstmCell(b, xt, [h, c], cell); // the same params at every step
  }
  const logits = dense(b, h, 2, { name: "rnn/out" }); // the last hidden state has read everything
  return { input: ids, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
}

/**
 * The transformer: token embeddings plus learned position embeddings (a `[T, D]` param broadcast
 * over the batch), a pre-norm `transformerEncoderBlock`, then a second self-attention sub-layer
 * written out with its residual (`h + attention(layerNorm(h))` in raw ops), max pooling over the
 * positions and a dense softmax head. Also returns the second attention's weights `[N, heads, T, T]`.
 */
export function transformerNet(b: GraphBuilder, width: number, heads = 2) {
  const ids = b.input("x", ["N", SEQ_LEN]);
  const y = b.input("y", ["N", 2]);
  const tokens = embedding(b, ids, VOCAB, width, { name: "tf/embed" }); // [N, T, D]
  const positions = b.param("tf/pos", [SEQ_LEN, width], { init: init.normal({ std: 0.1 }) });
  const x = tokens.add(positions); // [N, T, D] + [T, D]: the same position table for every sequence
  const h1 = transformerEncoderBlock(b, x, { name: "tf/block1", heads, mlpDim: 2 * width });
  // a residual sub-layer by hand: what the block above does for its attention half
  const attn = multiHeadAttentionLayer(b, layerNorm(b, h1, { name: "tf/ln" }), { name: "tf/attn2", heads });
  const h2 = h1.add(attn.output);
  const pooled = b.max(h2, 1); // [N, D]: the largest value of each feature over the positions
  const logits = dense(b, layerNorm(b, pooled, { name: "tf/lnOut" }), 2, { name: "tf/out" });
  return {
    input: ids,
    target: y,
    predictions: b.softmax(logits),
    loss: softmaxCrossEntropy(b, logits, y),
    attention: attn.weights,
  };
}

/** Options of {@link trainModel}. */
interface TrainOptions {
  readonly label: string;
  readonly epochs: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly seed: number;
}

/** What {@link trainModel} returns. */
interface Trained {
  readonly history: History;
  readonly training: TrainingSummary;
  readonly seconds: number;
}

/**
 * Trains `model` with `fit`: Adam on a cosine schedule (linear warm-up over the first epoch, then
 * down to 0 at the last step), gradients clipped to a global norm of 1, validation after every epoch.
 * A stop (Ctrl-C, --time-limit) rolls the epoch under way back; a non-finite loss rolls back to the
 * last finite epoch.
 */
function trainModel(
  ctx: ExampleContext,
  model: Model,
  train: SequenceData,
  validation: SequenceData,
  o: TrainOptions,
): Trained {
  const batches = Math.ceil(train.y.length / o.batchSize);
  const optimizer = adam({
    lr: cosineDecay({ lr: o.lr, totalSteps: o.epochs * batches, warmupSteps: batches }),
    clipNorm: 1,
  });
  const started = performance.now();
  const { history, nonFinite } = fitOrRollBack(
    ctx,
    () =>
      fit(model, train, {
        optimizer,
        epochs: o.epochs,
        batchSize: o.batchSize,
        seed: o.seed,
        metrics: ["accuracy"],
        validation,
        rollbackPartialEpoch: true,
        callbacks: trainingCallback(ctx, {
          epochs: o.epochs,
          batches,
          samples: train.y.length,
          bar: "run",
          line: (e, l) =>
            printsEpoch(e, o.epochs, 5) ? `  ${o.label} epoch ${e}: ${accuracyLogs(l)}` : null,
        }),
      }).history,
  );
  const seconds = (performance.now() - started) / 1000;
  const training = trainingSummary(ctx, { planned: o.epochs, history, nonFinite });
  return { history, training, seconds };
}

function describeParams(ctx: ExampleContext, model: Model): void {
  for (const [name, p] of Object.entries(model.graph.params)) {
    ctx.log(`  ${name.padEnd(24)} [${p.shape.join(", ")}]`);
  }
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const epochs = o.epochs ?? 6;
  const lr = o.lr ?? 0.01;
  const batchSize = o.batchSize ?? 32;
  const width = o.hidden?.[0] ?? 32;
  const seed = o.seed ?? 1;
  const nTrain = o.trainSize ?? 2000;
  const nVal = 500;
  const heads = width % 2 === 0 ? 2 : 1; // the heads must divide the width
  const hyper = {
    task: `${SEQ_LEN} digits with one 1 and one 2: does the 1 come first? (balanced classes)`,
    lstm: `embedding 16 - lstmCell(${width}) unrolled over ${SEQ_LEN} steps - dense 2`,
    transformer: `embedding ${width} + positions - encoder block (${heads} heads, mlp ${2 * width}) - attention + residual - max pool - layer norm - dense 2`,
    optimizer: "adam, cosine decay with 1 epoch of warm-up, clipNorm 1",
    epochs,
    lr,
    batchSize,
    width,
    seed,
    trainSize: nTrain,
    validationSize: nVal,
  };

  // the data: training and validation sets from two streams of the same seed
  const train = oneBeforeTwo(nTrain, seed);
  const validation = oneBeforeTwo(nVal, seed + 1_000_003);
  const show = (i: number) => Array.from(train.x.data.subarray(i * SEQ_LEN, (i + 1) * SEQ_LEN)).join(" ");
  ctx.log(`Task: ${hyper.task}`);
  for (let i = 0; i < 3; i++) ctx.log(`  ${show(i)}  ->  ${train.y[i] === 1 ? "yes" : "no"}`);
  ctx.log(`${nTrain} training and ${nVal} validation sequences; chance is 50%.`);

  // (a) the LSTM, its cell unrolled by hand
  const rnn = Model.define((b) => lstmNet(b, width), { seed });
  ctx.log(`LSTM (lstmCell unrolled by hand), ${rnn.parameterCount} parameters:`);
  describeParams(ctx, rnn);
  const a = trainModel(ctx, rnn, train, validation, { label: "LSTM", epochs, lr, batchSize, seed });
  const rnnVal = rnn.evaluate(validation.x, validation.y, { metrics: ["accuracy"] });
  ctx.log(
    `LSTM: validation accuracy ${(100 * rnnVal.accuracy!).toFixed(1)}% (${a.seconds.toFixed(1)} s of training)`,
  );

  // (b) the transformer; Model.define names predictions and loss, the callback adds the attention
  const tf = Model.define(
    (b) => {
      const net = transformerNet(b, width, heads);
      b.output("attention", net.attention);
      return net;
    },
    { seed },
  );
  ctx.log(`Transformer, ${tf.parameterCount} parameters:`);
  describeParams(ctx, tf);
  const t = trainModel(ctx, tf, train, validation, { label: "Transformer", epochs, lr, batchSize, seed });
  const tfVal = tf.evaluate(validation.x, validation.y, { metrics: ["accuracy"] });
  ctx.log(
    `Transformer: validation accuracy ${(100 * tfVal.accuracy!).toFixed(1)}% (${t.seconds.toFixed(1)} s of training)`,
  );

  // save the transformer, load it back, compare the predictions
  const { loaded, maxDiff, identical } = await saveAndReload(
    ctx,
    tf,
    {
      example: "custom-sequence",
      model: "transformer",
      ...hyper,
      validationAccuracy: tfVal.accuracy,
      training: t.training,
    },
    validation.x,
  );
  ctx.log(
    `Saved the transformer to model.ggm and loaded it back: predictions ${identical ? "identical" : `differ (max |diff| ${maxDiff})`} on ${nVal} validation sequences.`,
  );

  // the same digits in the other order: the answer flips, and so do both models' predictions
  const probe = validation.y.indexOf(1); // the first validation sequence whose 1 comes first
  const probeTokens = validation.x.data.slice(probe * SEQ_LEN, (probe + 1) * SEQ_LEN);
  const swapped = probeTokens.map((v) => (v === 1 ? 2 : v === 2 ? 1 : v));
  const pair = new Tensor([2, SEQ_LEN], Float32Array.from([...probeTokens, ...swapped]));
  const pYes = (m: Model) => {
    const p = m.predict(pair);
    return `${p.get(0, 1).toFixed(3)} / ${p.get(1, 1).toFixed(3)}`;
  };
  ctx.log(`P(1 first) for ${Array.from(probeTokens).join(" ")} / ${Array.from(swapped).join(" ")}:`);
  ctx.log(`  LSTM ${pYes(rnn)}, loaded transformer ${pYes(loaded)}`);

  // charts: both models' curves, and the hand-written attention layer's weights for one sequence
  const curves: CurvePoint[] = [
    ...historyCurves(a.history, { series: ["LSTM train", "LSTM validation"] }),
    ...historyCurves(t.history, { series: ["transformer train", "transformer validation"] }),
  ];
  await ctx.chart(
    "history",
    curvesChart(curves, { title: "custom-sequence: training curves", logLoss: true }),
  );
  const view = new Model(loaded.graph, { params: loaded.params, predictions: "attention" });
  const weights = view.predict(new Tensor([1, SEQ_LEN], probeTokens));
  const panels = Array.from({ length: heads }, (_, k) => ({
    title: `head ${k + 1}`,
    values: weights.data.subarray(k * SEQ_LEN * SEQ_LEN, (k + 1) * SEQ_LEN * SEQ_LEN),
    width: SEQ_LEN,
    height: SEQ_LEN,
    scale: "sequential" as const,
  }));
  await ctx.chart(
    "attention",
    heatmapGridChart(panels, {
      title: `custom-sequence: attention weights of tf/attn2 for ${Array.from(probeTokens).join(" ")}`,
      subtitle: "row i: how much position i attends to each position j",
      cellSize: 16,
    }),
  );
  await ctx.writeJson("history.json", { lstm: historyJson(a.history), transformer: historyJson(t.history) });
  const metrics = {
    lstmValAccuracy: rnnVal.accuracy!,
    lstmValLoss: rnnVal.loss,
    lstmSeconds: a.seconds,
    lstmParams: rnn.parameterCount,
    transformerValAccuracy: tfVal.accuracy!,
    transformerValLoss: tfVal.loss,
    transformerSeconds: t.seconds,
    transformerParams: tf.parameterCount,
    epochsCompleted: Math.min(a.history.epochs, t.history.epochs),
    reloadIdentical: identical,
  };
  const training = t.training;
  await ctx.writeJson("metrics.json", {
    example: "custom-sequence",
    hyper,
    metrics,
    training: { lstm: a.training, transformer: t.training },
  });
  return { hyper, metrics, training, failure: nonFiniteFailure(a.training) ?? nonFiniteFailure(training) };
}
