/**
 * `pnpm example vit` (or `vit-mnist`): a small vision transformer on MNIST (preset `"vit-mnist"`):
 * 16 patches of 7x7 pixels embedded to width 64 with learned position embeddings, pre-norm
 * transformer encoder blocks of 4 heads, a final layer norm, mean pooling (`--arch mean`) or a
 * class token (`--arch cls`) and a dense softmax head; AdamW with warm-up and a cosine schedule;
 * 50,000 training, 10,000 validation and 10,000 test images. Besides the classifier outputs it
 * draws the last block's attention over the 4x4 patch grid for a test digit, per head.
 * @module
 */
import { Tensor } from "@gradgraph/core";
import {
  VIT_GRID,
  type VitHyper,
  type VitPool,
  type VitResult,
  vitAttention,
  vitMnist,
} from "@gradgraph/models";
import type { ExampleContext, ExampleResult } from "../context.js";
import { attentionChart } from "../plots.js";
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

/** The test image whose attention is drawn (the first of the test set, a 7). */
const ATTENTION_IMAGE = 0;

/** The last block's attention for one test image. */
interface AttentionPicture {
  /** Index of the image in the test set. */
  readonly index: number;
  /** Its pixels (a copy), 28x28 row-major in [0, 1]. */
  readonly pixels: Float32Array;
  /** `[heads, 16]`: each head's attention to each patch (row-major over the 4x4 grid). */
  readonly patches: Float32Array;
  /** Number of heads. */
  readonly heads: number;
}

/** What training leaves for the outputs: the result, the training-set size, the images shown, the attention. */
interface Trained extends MnistTrained<VitResult> {
  readonly attention: AttentionPicture;
}

/** The last block's attention over the patches of test image `wanted` of `x`, for `result`'s model. */
function attentionPicture(result: VitResult, x: Tensor, wanted: number): AttentionPicture {
  const image = mnistImage(x, wanted);
  const att = vitAttention(result.model, new Tensor([1, 784], image.pixels));
  return { ...image, patches: Float32Array.from(att.patches.data), heads: att.patches.shape[1] as number };
}

/**
 * Loads MNIST and trains. Only copies of the test images the outputs show leave this function, so
 * the data set can be freed before the charts are rendered.
 */
function train(ctx: ExampleContext, overrides: Partial<VitHyper>): Promise<Trained> {
  const d = vitMnist.defaults;
  return trainMnistPreset(ctx, vitMnist, overrides, {
    describe: (h, n) =>
      `ViT (16 patches of 7x7, width ${d.width}, ${d.depth} pre-norm blocks of ${d.heads} heads, MLP ${d.mlpDim}, ${h.pool} pooling): ${h.epochs} epochs, batch ${h.batchSize}, AdamW lr ${h.lr} (warm-up ${d.warmupSteps} steps, cosine), random shifts of up to ${d.shift} pixel${d.shift === 1 ? "" : "s"}, ${n} training images`,
    keep: (result, test) => ({ attention: attentionPicture(result, test.x, ATTENTION_IMAGE) }),
  });
}

/** Runs the example. */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const o = ctx.options;
  const overrides: Partial<VitHyper> = {
    ...(o.arch !== undefined ? { pool: o.arch as VitPool } : {}),
    ...commonOverrides(o),
  };
  const { result, n, pixels, attention } = await train(ctx, overrides);
  const h = result.hyperparameters;
  await writeMnistOutputs(ctx, `vit (${h.pool} pooling)`, result, pixels);
  const a = attention;
  const { actual, predicted } = testLabels(result, a.index);
  await ctx.chart(
    "attention",
    attentionChart(a.pixels, { width: 28, height: 28 }, a.patches, [a.heads, VIT_GRID], {
      title: `vit (${h.pool} pooling): last block's attention, test image ${a.index} (true ${actual}, predicted ${predicted})`,
      subtitle: `${h.pool === "cls" ? "the class token's attention" : "the mean over the 16 queries of the attention"} to each of the 4x4 patches, per head (white: least, dark blue: most); second row: times the ink`,
    }),
  );
  return finishMnistPreset(ctx, {
    preset: "vit-mnist",
    result,
    n,
    metrics: mnistMetrics(result, n),
    details: {
      attention: {
        testImage: a.index,
        actual,
        predicted,
        heads: a.heads,
        grid: VIT_GRID,
        patches: Array.from(a.patches, (v) => Number(v.toFixed(4))),
      },
    },
  });
}
