/**
 * A learning rate so large that the loss overflows (`--lr 1e308`): training stops at the first
 * non-finite loss, the files hold the last finite checkpoint and say so, and the CLI exits 1.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "@gradgraph/models/node";
import { describe, expect, test } from "vitest";
import { DATA_DIR, lastJson, readJson, runCli, tempOut } from "./helpers.js";

async function expectFiniteModel(path: string): Promise<Record<string, unknown>> {
  const saved = await loadModel(path);
  for (const [name, t] of saved.params.entries())
    expect(
      t.data.every((v) => Number.isFinite(v)),
      `${name} is finite`,
    ).toBe(true);
  return saved.metadata as Record<string, unknown>;
}

describe("--lr 1e308: stop at the first non-finite loss, keep the last finite weights, exit 1", () => {
  test("moons (full-batch gradient descent): the weights before the step that overflowed", async () => {
    const out = tempOut("nan-moons");
    const r = await runCli([
      "moons",
      "--lr",
      "1e308",
      "--hidden",
      "3",
      "--epochs",
      "100",
      "--json",
      "--out",
      out,
    ]);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/pnpm example moons: .*non-finite (loss|params).* pass \d+\/100/);
    expect(r.stderr).toMatch(/rolled back/);
    expect(r.stdout).toMatch(/Wrote \d+ files/);
    const file = readJson(join(out, "metrics.json"));
    const training = file.training as Record<string, unknown>;
    expect(training).toMatchObject({ stopReason: "non-finite", interrupted: false, epochsPlanned: 100 });
    const nf = training.nonFinite as Record<string, unknown>;
    expect(nf.message).toMatch(/non-finite/);
    expect(training.epochsCompleted).toBe(nf.epochsKept);
    const m = file.metrics as { loss: number; trainAccuracy: number };
    expect(Number.isFinite(m.loss)).toBe(true);
    const meta = await expectFiniteModel(join(out, "model.ggm"));
    expect(meta.training).toEqual(training);
    const j = lastJson(r.stdout);
    expect(j.stoppedEarly).toBe("non-finite");
    expect(j.error).toMatch(/non-finite/);
  });

  test("custom (fit with Adam): the end of the last finite epoch", async () => {
    const out = tempOut("nan-custom");
    const r = await runCli(["custom", "--lr", "1e308", "--epochs", "5", "--json", "--out", out]);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/pnpm example custom: fit: non-finite (loss|params).* epoch \d+\/5/);
    const file = readJson(join(out, "metrics.json"));
    const training = file.training as Record<string, unknown>;
    expect(training).toMatchObject({ stopReason: "non-finite", epochsPlanned: 5 });
    expect(training.epochsCompleted).toBe(readJson(join(out, "history.json")).epochs);
    const m = file.metrics as { testAccuracy: number };
    expect(Number.isFinite(m.testAccuracy)).toBe(true);
    await expectFiniteModel(join(out, "model.ggm"));
    expect(lastJson(r.stdout).stoppedEarly).toBe("non-finite");
  });

  test.runIf(existsSync(join(DATA_DIR, "mnist")))("nielsen (mini-batch SGD on MNIST)", async () => {
    const out = tempOut("nan-nielsen");
    const r = await runCli([
      "nielsen",
      "--lr",
      "1e308",
      "--epochs",
      "2",
      "--train-size",
      "1000",
      "--out",
      out,
    ]);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/pnpm example nielsen: preset 'nielsen-mnist': non-finite (loss|params)/);
    const file = readJson(join(out, "metrics.json"));
    const m = file.metrics as Record<string, number>;
    expect(m.testAccuracy).toBe(m.correct! / m.testCount!);
    expect((file.training as Record<string, unknown>).stopReason).toBe("non-finite");
    await expectFiniteModel(join(out, "model.ggm"));
  });
});
