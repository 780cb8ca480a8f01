/**
 * `pnpm example rnn` (alias `rnn-mnist`): a recurrent network reading each MNIST digit as a
 * sequence of 28 rows of 28 pixels (preset `"rnn-mnist"`): a GRU (`--cell gru`, the default) or an
 * LSTM (`--cell lstm`) of 128 units, a dense softmax layer on its last hidden state; Adam with a
 * cosine learning-rate schedule and gradients clipped to global norm 1, batches of 128; 50,000
 * training, 10,000 validation and 10,000 test images. Besides the classifier outputs it draws what
 * the network would answer after each row it reads, for one test digit. `--threads n` shares the
 * large matrix products with n worker threads (default 0: measured on 2 cores, a worker made the run
 * no faster, its products being small), which changes no bit of the results.
 * @module
 */
import { Tensor } from "@gradgraph/core";
import { disableThreads, enableThreads } from "@gradgraph/core/node";
import {
  type RnnCell,
  type RnnHyper,
  type RnnResult,
  rnnMnist,
  rnnRowProbabilities,
} from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import { type CurvePoint, curvesChart } from "../plots.js";
import {
  commonOverrides,
  finishMnistPreset,
  type MnistTrained,
  mnistImage,
  mnistMetrics,
  testLabels,
  trainMnistPreset,
  writeMnistOutputs,
} from "../presets.js";

/** The test image whose row-by-row answers are drawn (the first of the test set, a 7). */
const ROWS_IMAGE = 0;

/** What the network answers after each row of one test image. */
interface RowAnswers {
  /** Index of the image in the test set. */
  readonly index: number;
  /** `probabilities[t][d]`: the probability of digit `d` after reading rows 1 to `t + 1`. */
  readonly probabilities: number[][];
  /** The most probable digit after each row. */
  readonly answers: number[];
  /** The first number of rows after which the answer is the final one and stays so (1 to 28). */
  readonly settledAfter: number;
}

/** What training leaves for the outputs: the result, the training-set size, the images shown, the rows. */
interface Trained extends MnistTrained<RnnResult> {
  readonly rows: RowAnswers;
  /** Worker threads that shared the matrix products. */
  readonly threads: number;
}

/** The row-by-row answers of `result`'s model for test image `index` of `x`. */
function rowAnswers(result: RnnResult, x: Tensor, wanted: number): RowAnswers {
  const { index, pixels } = mnistImage(x, wanted);
  const p = rnnRowProbabilities(result.model, new Tensor([1, 784], pixels));
  const [, steps, classes] = p.shape as [number, number, number];
  const probabilities: number[][] = [];
  const answers: number[] = [];
  for (let t = 0; t < steps; t++) {
    const row = Array.from(p.data.subarray(t * classes, (t + 1) * classes));
    probabilities.push(row);
    answers.push(row.indexOf(Math.max(...row)));
  }
  let settled = steps;
  while (settled > 1 && answers[settled - 2] === answers[steps - 1]) settled--;
  return { index, probabilities, answers, settledAfter: settled };
}

/**
 * Loads MNIST and trains, with `--threads` worker threads for the matrix products. Only copies of
 * the test images the outputs show leave this function, so the data set can be freed before the
 * charts are rendered.
 */
async function train(ctx: ExampleContext, overrides: Partial<RnnHyper>): Promise<Trained> {
  const d = rnnMnist.defaults;
  const wanted = ctx.options.threads ?? 0;
  const threads = wanted > 0 ? enableThreads(wanted) : 0;
  try {
    const trained = await trainMnistPreset(ctx, rnnMnist, overrides, {
      describe: (h, n) =>
        `${h.cell.toUpperCase()} of ${h.hidden} units reading each digit as 28 rows of 28 pixels, dense softmax on the last state: ${h.epochs} epochs, batch ${h.batchSize}, Adam lr ${h.lr} (cosine), gradients clipped to norm ${d.clipNorm}, ${n} training images, ${threads} worker thread${threads === 1 ? "" : "s"} for the matrix products`,
      keep: (result, test) => ({ rows: rowAnswers(result, test.x, ROWS_IMAGE) }),
    });
    return { ...trained, threads };
  } finally {
    if (threads > 0) disableThreads();
  }
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const overrides: Partial<RnnHyper> = {
    ...(o.cell !== undefined ? { cell: o.cell as RnnCell } : {}),
    ...(o.hidden?.[0] !== undefined ? { hidden: o.hidden[0] } : {}),
    ...commonOverrides(o),
  };
  const { result, n, pixels, rows, threads } = await train(ctx, overrides);
  const h = result.hyperparameters;
  const title = `rnn (${h.cell} ${h.hidden})`;
  await writeMnistOutputs(ctx, title, result, pixels);
  const { actual, predicted } = testLabels(result, rows.index);
  const points: CurvePoint[] = [];
  rows.probabilities.forEach((p, t) => {
    p.forEach((value, digit) => {
      points.push({ epoch: t + 1, metric: "probability after each row", series: `digit ${digit}`, value });
    });
  });
  await ctx.chart(
    "rows",
    curvesChart(points, {
      title: `${title}: the answer after reading rows 1..t of test image ${rows.index} (true ${actual}, predicted ${predicted}; settled after ${rows.settledAfter} rows)`,
      xTitle: "rows read",
      width: 480,
    }),
  );
  return finishMnistPreset(ctx, {
    preset: "rnn-mnist",
    result,
    n,
    metrics: { ...mnistMetrics(result, n), threads },
    details: {
      rows: {
        testImage: rows.index,
        actual,
        predicted,
        answers: rows.answers,
        settledAfter: rows.settledAfter,
      },
    },
  });
}
