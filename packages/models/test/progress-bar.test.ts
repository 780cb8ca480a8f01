import { afterEach, describe, expect, it, vi } from "vitest";
import { fit, fitAsync, fitFullBatch } from "../src/fit.js";
import { mlp } from "../src/layers.js";
import { softmaxCrossEntropy } from "../src/losses.js";
import { Model } from "../src/model.js";
import { isInteractiveStream, progressBar } from "../src/node.js";
import { sgd } from "../src/optim/index.js";
import { blobs } from "./helpers/blobs.js";

function smallModel(): Model {
  return Model.define(
    (b) => {
      const x = b.input("x", ["N", 2]);
      const y = b.input("y", ["N", 2]);
      const logits = mlp(b, x, [2, 4, 2], { activation: "tanh", outputActivation: "identity" });
      return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
    },
    { seed: 0, dtype: "float64" },
  );
}

/** A stream that keeps what is written. */
function fakeStream(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return {
    chunks,
    stream: {
      isTTY,
      ...(columns !== undefined ? { columns } : {}),
      write(text: string) {
        chunks.push(text);
        return true;
      },
    },
    text: () => chunks.join(""),
  };
}

const ESC = String.fromCharCode(27);
const data = blobs(40, 1);
const val = blobs(20, 2);

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("progressBar", () => {
  it("writes one Keras-style line per epoch, and nothing else, when the stream is not a terminal", () => {
    const out = fakeStream(false);
    const { history } = fit(smallModel(), data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 3,
      batchSize: 4,
      metrics: ["accuracy"],
      validation: val,
      callbacks: progressBar({ stream: out.stream }),
    });
    const lines = out.text().split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(3);
    expect(out.text()).not.toContain("\r");
    expect(out.text()).not.toContain("\x1b");
    lines.forEach((line, e) => {
      expect(line).toMatch(
        new RegExp(
          `^Epoch ${e + 1}/3 - 10 batches - \\d+\\.\\d\\ds - loss: ${history.loss[e]!.toFixed(4)} - accuracy: ${history.metrics.accuracy![e]!.toFixed(4)} - val_loss: ${history.valLoss[e]!.toFixed(4)} - val_accuracy: \\d\\.\\d{4}$`,
        ),
      );
    });
  });

  it("draws a bar on a terminal, redrawn per batch, cleared before each epoch's line", () => {
    vi.stubEnv("CI", "");
    const out = fakeStream(true);
    expect(isInteractiveStream(out.stream)).toBe(true);
    const { history } = fit(smallModel(), data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 2,
      batchSize: 8,
      callbacks: progressBar({ stream: out.stream, updateEveryMs: 0 }),
    });
    // 5 batches per epoch, each redrawn, then the bar is cleared and the line written
    const draws = out.chunks.filter((c) => c.startsWith("\rEpoch"));
    expect(draws).toHaveLength(10);
    expect(draws[0]).toMatch(
      new RegExp(
        `^\rEpoch 1/2 \\|█{5}░{19}\\| 1/5 batches \\| loss \\d\\.\\d{4} \\| ETA \\d+\\.\\d\\ds${ESC}\\[K$`,
      ),
    );
    expect(draws[4]).toContain(
      `|${"█".repeat(24)}| 5/5 batches | loss ${history.loss[0]!.toFixed(4)} | ETA 0.00s`,
    );
    expect(draws[9]).toContain(`5/5 batches | loss ${history.loss[1]!.toFixed(4)}`);
    const lineAt = out.chunks.findIndex((c) => c.startsWith("Epoch 1/2 - 5 batches"));
    expect(out.chunks[lineAt - 1]).toBe("\r\x1b[K");
    expect(out.chunks.at(-1)).toMatch(/^Epoch 2\/2 - 5 batches - .* - loss: \d\.\d{4}\n$/);
  });

  it("falls back to lines when CI is set, cuts the bar to the terminal width and throttles redraws", () => {
    vi.stubEnv("CI", "true");
    expect(isInteractiveStream({ isTTY: true, write: () => true })).toBe(false);
    vi.stubEnv("CI", "0");
    expect(isInteractiveStream({ isTTY: true, write: () => true })).toBe(true);
    const narrow = fakeStream(true, 30);
    fit(smallModel(), data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 1,
      batchSize: 1,
      callbacks: progressBar({ stream: narrow.stream, updateEveryMs: 0 }),
    });
    const draws = narrow.chunks.filter((c) => c.startsWith("\rEpoch"));
    expect(draws).toHaveLength(40);
    for (const d of draws) expect(d.length).toBe("\r".length + 29 + "\x1b[K".length);
    const slow = fakeStream(true);
    fit(smallModel(), data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 1,
      batchSize: 1,
      callbacks: progressBar({ stream: slow.stream, updateEveryMs: 60_000 }),
    });
    // the first batch draws, the rest fall within the interval
    expect(slow.chunks.filter((c) => c.startsWith("\rEpoch"))).toHaveLength(1);
  });

  it("says where training stopped, and works with fitAsync and fitFullBatch", async () => {
    const out = fakeStream(true);
    await fitAsync(smallModel(), data, {
      optimizer: sgd({ lr: 0.1 }),
      epochs: 3,
      batchSize: 4,
      callbacks: [
        progressBar({ stream: out.stream, interactive: true }),
        { onBatchEnd: (b, logs) => (logs.epoch === 1 && b === 2 ? false : undefined) },
      ],
    });
    const text = out.text();
    expect(text).toContain("Epoch 1/3 - 10 batches - ");
    expect(text).not.toContain("Epoch 2/3 - ");
    expect(text.endsWith("\r\x1b[KEpoch 2/3 stopped after 3/10 batches\n")).toBe(true);

    const gd = fakeStream(false);
    const { history } = fitFullBatch(smallModel(), data, {
      method: "gd",
      lr: 0.5,
      maxIter: 25,
      callbacks: progressBar({ stream: gd.stream, everyEpochs: 10 }),
    });
    const lines = gd.text().trimEnd().split("\n");
    expect(lines.map((l) => l.split(" - ")[0])).toEqual(["Epoch 10/25", "Epoch 20/25", "Epoch 25/25"]);
    expect(lines[2]).toMatch(new RegExp(` - loss: ${history.loss[24]!.toFixed(4)}$`));
    expect(() => progressBar({ everyEpochs: 0 })).toThrow(
      "progressBar: everyEpochs must be a positive integer, got 0",
    );
  });
});
