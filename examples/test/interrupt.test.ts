/**
 * Ctrl-C: the CLI stops training after the current batch, still writes the history and plots
 * gathered so far, and exits with 130. `--time-limit` stops the same way and exits 0.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadMnist } from "@gradgraph/datasets/node";
import { Model } from "@gradgraph/models";
import { loadModel } from "@gradgraph/models/node";
import { describe, expect, test } from "vitest";
import { checkChart, DATA_DIR, lastJson, readJson, runCli, runCliInterrupted, tempOut } from "./helpers.js";

describe("Ctrl-C", () => {
  test("moons: SIGINT after the first loss lines -> exit 130, partial history and plots", async () => {
    const out = tempOut("int-moons");
    const r = await runCliInterrupted(
      ["moons", "--hidden", "3,5", "--epochs", "1000000", "--json", "--out", out],
      "Loss after iteration 1000:",
    );
    expect(r.sent).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).toContain("stopping after the current batch");
    expect(r.stdout).toContain("Stopped early by Ctrl-C");
    const j = lastJson(r.stdout);
    expect(j.stoppedEarly).toBe("interrupt");
    const h = readJson(join(out, "history.json"));
    const models = h.models as { hidden: number; passes: number }[];
    // the run stopped inside the first network (H=3), after pass 1000 and long before 1,000,000
    expect(models.map((m) => m.hidden)).toEqual([3]);
    expect(models[0]!.passes).toBeGreaterThan(1000);
    expect(models[0]!.passes).toBeLessThan(1_000_000);
    checkChart(out, "decision-boundary");
    checkChart(out, "history");
    expect(existsSync(join(out, "metrics.json"))).toBe(true);
  });

  test.runIf(existsSync(join(DATA_DIR, "mnist")))(
    "nielsen: SIGINT after the first epoch -> exit 130 with that epoch recorded",
    async () => {
      const out = tempOut("int-nielsen");
      const r = await runCliInterrupted(
        ["nielsen", "--epochs", "30", "--train-size", "4000", "--json", "--out", out],
        /Epoch 1 : \d+ \/ 10000/,
      );
      expect(r.sent).toBe(true);
      expect(r.code, r.stderr).toBe(130);
      const h = readJson(join(out, "history.json"));
      const epochs = h.epochs as number;
      expect(epochs).toBeGreaterThanOrEqual(1);
      expect(epochs).toBeLessThan(30);
      expect((h.loss as number[]).length).toBe(epochs);
      checkChart(out, "history");
      checkChart(out, "confusion-matrix");
      checkChart(out, "predictions");
      expect(lastJson(r.stdout).stoppedEarly).toBe("interrupt");
    },
  );

  test.runIf(existsSync(join(DATA_DIR, "mnist")))(
    "nielsen: SIGINT in mid-epoch -> every output describes the same weights, those after the completed epochs",
    async () => {
      const out = tempOut("int-nielsen-mid");
      // 5,000 batches per epoch: the signal sent after "Epoch 1" lands in the middle of epoch 2
      const r = await runCliInterrupted(
        ["nielsen", "--epochs", "30", "--json", "--out", out],
        /Epoch 1 : \d+ \/ 10000/,
      );
      expect(r.sent).toBe(true);
      expect(r.code, r.stderr).toBe(130);
      const file = readJson(join(out, "metrics.json"));
      const m = file.metrics as Record<string, number & number[]>;
      const training = file.training as Record<string, unknown>;
      const h = readJson(join(out, "history.json"));
      const epochs = h.epochs as number;
      // what the files hold, said explicitly
      expect(training).toMatchObject({
        interrupted: true,
        stopReason: "interrupt",
        epochsPlanned: 30,
        epochsCompleted: epochs,
      });
      expect(m.epochsCompleted).toBe(epochs);
      expect(epochs).toBeGreaterThanOrEqual(1);
      const partial = training.partialEpoch as {
        epoch: number;
        batchesDone: number;
        batches: number;
        rolledBack: boolean;
      } | null;
      expect(partial).not.toBeNull();
      expect(partial).toMatchObject({ epoch: epochs + 1, batches: 5000, rolledBack: true });
      expect(partial!.batchesDone).toBeGreaterThan(0);
      expect(partial!.batchesDone).toBeLessThan(5000);
      expect(training.weights).toMatch(new RegExp(`after ${epochs} of 30 epochs`));
      // the numbers agree: accuracy = correct / total, and the last epoch's count is the final one
      expect(m.testAccuracy).toBe(m.correct / m.testCount);
      expect(m.correct).toBe(m.correctPerEpoch.at(-1));
      expect(m.correctPerEpoch).toHaveLength(epochs);
      expect(r.stdout).toContain(
        `Test accuracy ${(100 * m.testAccuracy).toFixed(2)}% (${m.correct} / ${m.testCount}) after ${epochs} epoch`,
      );
      expect(r.stdout).toMatch(/rolled back/);
      // model.ggm holds exactly those weights, and says so
      const saved = await loadModel(join(out, "model.ggm"));
      expect((saved.metadata as Record<string, unknown>).training).toEqual(training);
      const model = new Model(saved.graph, { params: saved.params });
      const { test } = await loadMnist({ dir: DATA_DIR, split: "train-validation-test" });
      expect(model.evaluate(test.x, test.y, { metrics: ["accuracy"] }).accuracy).toBe(m.testAccuracy);
      expect((lastJson(r.stdout).training as Record<string, unknown>).epochsCompleted).toBe(epochs);
    },
    120_000,
  );

  test("--time-limit stops the same way but exits 0", async () => {
    const out = tempOut("time-limit");
    // the limit counts from the CLI's start (module loading included), so leave room for a loaded machine
    const r = await runCli(["custom", "--epochs", "100000", "--time-limit", "6", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.stoppedEarly).toBe("time-limit");
    const done = (j.metrics as { epochsCompleted: number }).epochsCompleted;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(100000);
    checkChart(out, "decision-boundary");
    expect(readJson(join(out, "history.json")).epochs).toBe(done);
    // fit's epochs are short here; a stop inside one rolls it back, and the files say so
    const training = readJson(join(out, "metrics.json")).training as Record<string, unknown>;
    expect(training).toMatchObject({ stopReason: "time-limit", interrupted: false, epochsCompleted: done });
    const partial = training.partialEpoch as { rolledBack: boolean } | null;
    if (partial) expect(partial.rolledBack).toBe(true);
  });
});
