/**
 * Times loading all of MNIST (60,000 + 10,000 images) from the data directory, in a fresh process:
 *   node --conditions=@gradgraph/source --import tsx packages/datasets/scripts/time-mnist.ts [runs]
 * The data directory is resolved as usual (GRADGRAPH_DATA_DIR, else ../shared/datasets beside the repo
 * for this script, else the cache). Each run starts a new Node process so that every figure is a cold load.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMnist } from "../src/node.js";

const here = fileURLToPath(import.meta.url);
const dir = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(here, "../../../../../shared/datasets");

if (process.argv[2] === "--once") {
  const t = performance.now();
  const m = await loadMnist({ dir, download: false });
  const ms = performance.now() - t;
  if (m.train.y.length + m.test.y.length !== 70_000) throw new Error("unexpected MNIST size");
  process.stdout.write(`${ms.toFixed(0)}\n`);
} else {
  const runs = Number(process.argv[2] ?? 5);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, here, "--once"], { encoding: "utf8" });
    times.push(Number(out.trim()));
  }
  times.sort((a, b) => a - b);
  console.log(
    `loadMnist (train + t10k) from ${dir}: ${times.join(", ")} ms; median ${times[Math.floor(runs / 2)]} ms`,
  );
}
