/**
 * The WebAssembly SIMD kernels without SharedArrayBuffer (a browser page without cross-origin
 * isolation): core runs in a child process with `SharedArrayBuffer` deleted before it is
 * imported, and must report a non-shared, one-thread wasm-simd backend whose float32 training
 * (an MLP through `fit`, a conv net) is bit-identical to the normal, shared-memory run, also when
 * the arena grows during training. A runtime without WebAssembly warns once and reports "js".
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";

const src = (pkg: string) =>
  pathToFileURL(fileURLToPath(new URL(`../../${pkg}/src/index.ts`, import.meta.url))).href;

/**
 * The child's program. argv[2]: "sab" (as is), "nosab" (SharedArrayBuffer deleted) or "nowasm"
 * (WebAssembly deleted). Prints one JSON line.
 */
const SCRIPT = `
import { createHash } from "node:crypto";
const mode = process.argv[2];
if (mode === "nosab") delete globalThis.SharedArrayBuffer;
if (mode === "nowasm") delete globalThis.WebAssembly;
const warnings = [];
const warn = console.warn;
console.warn = (...a) => { warnings.push(a.join(" ")); };
const core = await import(${JSON.stringify(src("core"))});
const models = await import(${JSON.stringify(src("models"))});
const { AllocationError, Rng, Tensor, allocKernelArray, backendInfo, wasmBackend } = core;
const { Model, fit, mlp, sgd, adam, softmaxCrossEntropy, conv2d, maxPool2d, flatten, dense } = models;

const digest = (model) => {
  const h = createHash("sha256");
  for (const name of [...model.params.names()].sort()) {
    const d = model.params.get(name).data;
    h.update(name);
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex");
};
const data = (n, shape, classes, seed) => {
  const rng = new Rng(seed);
  const x = Tensor.zeros([n, ...shape], "float32");
  rng.fillUniform(x.data, -1, 1);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) y[i] = Math.floor(rng.uniform() * classes);
  return { x, y };
};

const info0 = backendInfo();
const out = { info: info0, warnings, bytesBefore: wasmBackend()?.memory.buffer.byteLength ?? 0 };
if (mode !== "nowasm") {
  // a float32 MLP, 20 epochs of 16 batches (320 steps); 8 MiB more arena in the middle of the run
  const mlpModel = Model.define((b) => {
    const x = b.input("x", ["N", 64]);
    const y = b.input("y", ["N", 10]);
    const logits = mlp(b, x, [64, 128, 64, 10], { activation: "relu", outputActivation: "identity" });
    return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
  }, { seed: 3, dtype: "float32" });
  const keep = [];
  const grow = { onEpochEnd: (epoch) => { if (epoch === 9) keep.push(allocKernelArray("float32", 2 * 2 ** 20)); } };
  const t0 = performance.now();
  const h = fit(mlpModel, data(512, [64], 10, 1), { optimizer: sgd({ lr: 0.05 }), epochs: 20, batchSize: 32, seed: 2, callbacks: [grow] });
  out.mlpMs = performance.now() - t0;
  out.mlp = { params: digest(mlpModel), loss: h.history.loss };
  out.bytesAfter = wasmBackend()?.memory.buffer.byteLength ?? 0;
  out.grownArrayLength = keep[0]?.length ?? 0;

  // a conv net: conv 3x3 -> max pool -> dense, a few adam steps
  const cnn = Model.define((b) => {
    const x = b.input("x", ["N", 2, 12, 12]);
    const y = b.input("y", ["N", 4]);
    let h = conv2d(b, x, 8, 3, { padding: 1, activation: "relu" });
    h = maxPool2d(b, h, 2);
    const logits = dense(b, flatten(b, h), 4);
    return { input: x, target: y, predictions: b.softmax(logits), loss: softmaxCrossEntropy(b, logits, y) };
  }, { seed: 5, dtype: "float32" });
  const hc = fit(cnn, data(48, [2, 12, 12], 4, 7), { optimizer: adam({ lr: 0.01 }), epochs: 3, batchSize: 16, seed: 1 });
  out.cnn = { params: digest(cnn), loss: hc.history.loss };

  // more than the non-shared reservation: a clear AllocationError (nothing is touched)
  try {
    allocKernelArray("float32", 2 ** 29);
    out.huge = "allocated";
  } catch (e) {
    out.huge = e instanceof AllocationError ? e.message : "other: " + String(e);
  }
}
out.info2 = backendInfo();
wasmBackend();
if (mode !== "nowasm") {
  // worker threads: started where memory is shared, refused (0) without SharedArrayBuffer
  const node = await import(${JSON.stringify(src("core").replace("index.ts", "node.ts"))});
  out.started = node.enableThreads(1);
  for (let i = 0; i < 500 && core.threadCount() < out.started; i++) await new Promise((r) => setTimeout(r, 10));
  out.threaded = backendInfo();
  node.disableThreads();
}
console.warn = warn;
console.log(JSON.stringify(out));
`;

interface ChildInfo {
  backend: string;
  sharedMemory: boolean;
  threads: number;
  maxThreads: number;
  limitations: string[];
}
interface Run {
  info: ChildInfo;
  info2: ChildInfo;
  warnings: string[];
  bytesBefore: number;
  bytesAfter: number;
  grownArrayLength: number;
  mlpMs: number;
  mlp: { params: string; loss: number[] };
  cnn: { params: string; loss: number[] };
  huge: string;
  started: number;
  threaded: ChildInfo;
}

const dir = mkdtempSync(join(tmpdir(), "gradgraph-nosab-"));
const script = join(dir, "child.mjs");
writeFileSync(script, SCRIPT);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(mode: "sab" | "nosab" | "nowasm"): Run {
  const out = execFileSync(
    process.execPath,
    ["--conditions=@gradgraph/source", "--import", "tsx", script, mode],
    {
      encoding: "utf8",
      timeout: 240_000,
    },
  );
  return JSON.parse(out.trim().split("\n").pop()!) as Run;
}

describe("core without SharedArrayBuffer", () => {
  const shared = run("sab");
  const plain = run("nosab");

  test("reports wasm-simd on a non-shared memory with one thread, and why", () => {
    expect(shared.info).toMatchObject({
      backend: "wasm-simd",
      sharedMemory: true,
      threads: 1,
      maxThreads: 16,
    });
    expect(plain.info).toMatchObject({
      backend: "wasm-simd",
      sharedMemory: false,
      threads: 1,
      maxThreads: 1,
    });
    expect(plain.info.limitations.join("\n")).toMatch(
      /SharedArrayBuffer is unavailable.*cross-origin isolation/,
    );
    expect(shared.info.limitations.join("\n")).not.toMatch(/SharedArrayBuffer/);
    expect(plain.warnings).toEqual([]);
    expect(shared.warnings).toEqual([]);
  });

  test("worker threads start only on shared memory", () => {
    expect(shared.started).toBe(1);
    expect(shared.threaded).toMatchObject({ backend: "wasm-simd", sharedMemory: true, threads: 2 });
    expect(shared.threaded.limitations.join("\n")).not.toMatch(/worker threads/);
    expect(plain.started).toBe(0);
    expect(plain.threaded).toMatchObject({ backend: "wasm-simd", sharedMemory: false, threads: 1 });
  });

  test("float32 MLP training through fit and a conv net are bit-identical to the shared-memory run", () => {
    expect(plain.mlp.loss).toHaveLength(20);
    expect(plain.mlp.loss[19]!).toBeLessThan(plain.mlp.loss[0]!);
    expect(plain.mlp).toEqual(shared.mlp);
    expect(plain.cnn.loss).toHaveLength(3);
    expect(plain.cnn).toEqual(shared.cnn);
  });

  test("the arena grows during training (shared) or holds it in its reservation (non-shared)", () => {
    // 8 MiB allocated mid-run: the shared memory grew past its initial size, and training stayed
    // bit-identical (previous test); the non-shared memory never grows (its buffer would detach)
    expect(shared.grownArrayLength).toBe(2 * 2 ** 20);
    expect(plain.grownArrayLength).toBe(2 * 2 ** 20);
    expect(shared.bytesAfter).toBeGreaterThan(shared.bytesBefore + 8 * 2 ** 20 - 1);
    expect(plain.bytesAfter).toBe(plain.bytesBefore);
    expect(plain.bytesBefore).toBeGreaterThanOrEqual(64 * 2 ** 20);
  });

  test("beyond the non-shared reservation is an AllocationError saying why", () => {
    expect(plain.huge).toMatch(/without SharedArrayBuffer.*cross-origin isolated/);
    expect(shared.huge).toMatch(/at most 2 GiB|2\.0 GiB|2048/);
  });

  test("without WebAssembly: backend js, the reason, and one warning only", () => {
    const none = run("nowasm");
    expect(none.info).toMatchObject({ backend: "js", sharedMemory: false, threads: 1, maxThreads: 1 });
    expect(none.info.limitations.join("\n")).toMatch(/no WebAssembly/);
    expect(none.info2).toEqual(none.info);
    expect(none.warnings).toHaveLength(1);
    expect(none.warnings[0]).toMatch(/gradgraph: this runtime has no WebAssembly.*plain JavaScript/);
  });
});
