/**
 * Runs presets with their defaults (the tutorials' hyperparameters) and prints the tutorial's lines,
 * the headline numbers and the wall time of each run.
 *
 *   node --conditions=@gradgraph/source --import tsx packages/models/scripts/run-presets.ts [name ...] [--set key=value ...]
 *
 * Data comes from GRADGRAPH_DATA_DIR (else ../shared/datasets beside the repository, else the cache).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkGradients, getPreset, isPresetName, PRESET_NAMES, type PresetName } from "../src/index.js";
import { evaluateNgPretrained, runPreset } from "../src/node.js";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const dir = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(repo, "../shared/datasets");

const args = process.argv.slice(2);
const names: PresetName[] = [];
const overrides: Record<string, unknown> = {};
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === "--set") {
    const [k, v] = (args[++i] ?? "").split("=");
    overrides[k!] = JSON.parse(v!);
  } else if (isPresetName(a)) names.push(a);
  else throw new Error(`unknown preset '${a}' (presets: ${PRESET_NAMES.join(", ")})`);
}

const stop = { stopped: false };
process.on("SIGINT", () => {
  stop.stopped = true;
});

function headline(name: PresetName, r: Record<string, unknown>): string {
  switch (name) {
    case "digits-sigmoid": {
      const x = r as { test: { accuracy: number }; trainAccuracy: number };
      return `test accuracy ${x.test.accuracy.toFixed(4)}, train accuracy ${x.trainAccuracy.toFixed(4)}`;
    }
    case "moons": {
      const x = r as {
        main: { hidden: number; loss: number; accuracy: number };
        sweep: { hidden: number; loss: number; accuracy: number }[];
        baseline: { accuracy: number; C: number } | null;
      };
      const sweep = x.sweep.map((m) => `H=${m.hidden}: ${m.accuracy.toFixed(3)}`).join(", ");
      return `H=${x.main.hidden}: training accuracy ${x.main.accuracy.toFixed(4)}, loss ${x.main.loss.toFixed(6)}; baseline ${x.baseline?.accuracy.toFixed(4)} (C=${x.baseline?.C.toPrecision(3)}); sweep ${sweep}`;
    }
    case "nielsen-mnist": {
      const x = r as { bestAccuracy: number; bestEpoch: number; test: { accuracy: number } };
      return `best test accuracy ${x.bestAccuracy.toFixed(4)} (epoch ${x.bestEpoch}), final ${x.test.accuracy.toFixed(4)}`;
    }
    case "ng-ex4": {
      const x = r as { trainAccuracy: number; cost: number };
      return `training accuracy ${x.trainAccuracy.toFixed(4)}, cost ${x.cost.toFixed(6)}`;
    }
    case "relu-softmax-mnist": {
      const x = r as { test: { accuracy: number }; validationAccuracy: number };
      return `test accuracy ${x.test.accuracy.toFixed(4)}, validation accuracy ${x.validationAccuracy.toFixed(4)}`;
    }
    case "lenet-mnist": {
      const x = r as { test: { accuracy: number }; validationAccuracy: number };
      return `test accuracy ${x.test.accuracy.toFixed(4)}, validation accuracy ${x.validationAccuracy.toFixed(4)}`;
    }
  }
}

for (const name of names.length ? names : PRESET_NAMES) {
  const preset = getPreset(name);
  console.log(`\n=== ${name}: ${preset.title}`);
  if (name === "ng-ex4") {
    for (const lambda of [0, 3]) {
      const c = checkGradients({ lambda });
      console.log(
        `gradient check (lambda = ${lambda}): relative difference ${c.relativeDifference.toExponential(3)}`,
      );
    }
    for (const line of (await evaluateNgPretrained({ dir })).lines) console.log(`pretrained: ${line}`);
  }
  const t0 = performance.now();
  const result = (await runPreset(
    name,
    overrides,
    { onLog: (l) => console.log(l), signal: stop },
    { dir },
  )) as unknown as Record<string, unknown>;
  const wall = (performance.now() - t0) / 1000;
  console.log(
    `RESULT ${name}: ${headline(name, result)}; wall time ${wall.toFixed(1)} s (including data loading)${result.stopped ? " [stopped]" : ""}`,
  );
}
