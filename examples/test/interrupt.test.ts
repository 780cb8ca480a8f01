/**
 * Ctrl-C: the CLI stops training after the current batch, still writes the history and plots
 * gathered so far, and exits with 130. `--time-limit` stops the same way and exits 0.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { checkChart, DATA_DIR, lastJson, readJson, runCli, tempOut } from "./helpers.js";

describe("Ctrl-C", () => {
  test("moons: SIGINT after the first loss lines -> exit 130, partial history and plots", async () => {
    const out = tempOut("int-moons");
    let sent = false;
    const r = await runCli(["moons", "--hidden", "3,5", "--epochs", "1000000", "--json", "--out", out], {
      onStdout: (soFar, child) => {
        if (!sent && soFar.includes("Loss after iteration 1000:")) {
          sent = true;
          child.kill("SIGINT");
        }
      },
    });
    expect(sent).toBe(true);
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
      let sent = false;
      const r = await runCli(["nielsen", "--epochs", "30", "--train-size", "4000", "--json", "--out", out], {
        onStdout: (soFar, child) => {
          if (!sent && /Epoch 0 : \d+ \/ 10000/.test(soFar)) {
            sent = true;
            child.kill("SIGINT");
          }
        },
      });
      expect(sent).toBe(true);
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

  test("--time-limit stops the same way but exits 0", async () => {
    const out = tempOut("time-limit");
    const r = await runCli(["custom", "--epochs", "100000", "--time-limit", "2", "--json", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.stoppedEarly).toBe("time-limit");
    const done = (j.metrics as { epochsCompleted: number }).epochsCompleted;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(100000);
    checkChart(out, "decision-boundary");
    expect(readJson(join(out, "history.json")).epochs).toBe(done);
  });
});
