/**
 * The playground's model and training without a browser (`examples/web/playground.ts`): the
 * settings it checks, that the default 2-8-2 network separates both data sets, that training is
 * deterministic, the graphs' DOT and the backend description. The page itself is tested in
 * Chromium by web.browser.test.ts.
 */
import * as core from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import {
  checkSettings,
  DATASETS,
  DEFAULT_SETTINGS,
  describeBackend,
  HIDDEN_ACTIVATIONS,
  type PlaygroundSettings,
  Trainer,
} from "../web/playground.js";
import { runCli } from "./helpers.js";

const UNLIMITED_MS = 1e9;

describe("playground training", () => {
  for (const dataset of DATASETS) {
    test(`the default network reaches >= 95% accuracy on ${dataset} within 600 steps`, () => {
      const t = new Trainer({ ...DEFAULT_SETTINGS, dataset });
      let steps = 0;
      while (t.accuracy() < 0.95 && steps < 600) {
        t.train(UNLIMITED_MS, 50);
        steps += 50;
      }
      expect(t.accuracy()).toBeGreaterThanOrEqual(0.95);
      expect(t.losses.length).toBe(steps);
      expect(t.losses.at(-1)!).toBeLessThan(t.losses[0]!);
    });
  }

  test("every activation trains (the loss falls) and the same settings give the same losses", () => {
    for (const activation of HIDDEN_ACTIVATIONS) {
      const s = { ...DEFAULT_SETTINGS, activation };
      const a = new Trainer(s);
      const b = new Trainer(s);
      a.train(UNLIMITED_MS, 40);
      b.train(UNLIMITED_MS, 40);
      expect(a.losses).toEqual(b.losses);
      expect(a.losses.at(-1)!).toBeLessThan(a.losses[0]!);
    }
  });

  test("L2 regularisation changes the weights' path; a larger hidden layer has more params", () => {
    const plain = new Trainer({ ...DEFAULT_SETTINGS, l2: 0 });
    const decayed = new Trainer({ ...DEFAULT_SETTINGS, l2: 0.1 });
    plain.train(UNLIMITED_MS, 20);
    decayed.train(UNLIMITED_MS, 20);
    expect(decayed.losses.at(-1)).not.toBe(plain.losses.at(-1));
    expect(new Trainer({ ...DEFAULT_SETTINGS, hidden: 16 }).model.parameterCount).toBe(
      16 * 2 + 16 + 16 * 2 + 2,
    );
  });

  test("the grid holds class-1 probabilities in [0, 1], one per cell", () => {
    const t = new Trainer(DEFAULT_SETTINGS);
    t.train(UNLIMITED_MS, 30);
    const g = t.grid(10);
    expect(g.length).toBe(100);
    for (const p of g) expect(p >= 0 && p <= 1).toBe(true);
  });

  test("trainAsync (fitAsync) takes the same steps as train, and resumes after an abort", async () => {
    const sync = new Trainer(DEFAULT_SETTINGS);
    sync.train(UNLIMITED_MS, 60);
    const whole = new Trainer(DEFAULT_SETTINGS);
    await whole.trainAsync({ maxSteps: 60, yieldEveryMs: 0 });
    expect(whole.losses).toEqual(sync.losses);

    const paused = new Trainer(DEFAULT_SETTINGS);
    const c = new AbortController();
    let yields = 0;
    const run = paused.trainAsync({ maxSteps: 60, signal: c.signal, yieldEveryMs: 0 });
    while (paused.steps < 25) {
      await new Promise((r) => setImmediate(r));
      yields++;
    }
    c.abort();
    await expect(run).rejects.toThrow(/abort/i);
    expect(yields).toBeGreaterThan(1); // it yielded to the event loop while training
    const stoppedAt = paused.steps;
    expect(stoppedAt).toBeGreaterThanOrEqual(25);
    expect(stoppedAt).toBeLessThan(60);
    await paused.trainAsync({ maxSteps: 60, yieldEveryMs: 0 });
    expect(paused.losses).toEqual(sync.losses);
    expect(paused.accuracy()).toBe(sync.accuracy());
  });

  test("train stops at maxSteps, and takes one step even with no time", () => {
    const t = new Trainer(DEFAULT_SETTINGS);
    t.train(UNLIMITED_MS, 7);
    expect(t.steps).toBe(7);
    t.train(0);
    expect(t.steps).toBe(8);
  });
});

describe("playground settings", () => {
  const bad: [Partial<PlaygroundSettings>, RegExp][] = [
    [{ hidden: 0 }, /hidden size must be an integer in 1\.\.64, got 0/],
    [{ hidden: 2.5 }, /hidden size .* got 2\.5/],
    [{ lr: 0 }, /learning rate must be a number > 0, got 0/],
    [{ lr: Number.NaN }, /learning rate .* got NaN/],
    [{ l2: -1 }, /L2 must be a number >= 0, got -1/],
    [{ dataset: "spirals" as never }, /dataset must be one of moons, circles, got 'spirals'/],
    [{ activation: "gelu" as never }, /activation must be one of tanh, relu, sigmoid, got 'gelu'/],
    [{ noise: -0.1 }, /noise must be a number >= 0/],
  ];
  for (const [change, message] of bad) {
    test(`rejects ${JSON.stringify(change)}`, () => {
      expect(() => checkSettings({ ...DEFAULT_SETTINGS, ...change })).toThrow(message);
      expect(() => new Trainer({ ...DEFAULT_SETTINGS, ...change })).toThrow(message);
    });
  }
});

describe("playground pictures and backend", () => {
  test("the graph and the gradient graph as DOT", () => {
    const t = new Trainer(DEFAULT_SETTINGS);
    const forward = t.forwardDot();
    const gradient = t.gradientDot();
    expect(forward).toMatch(/^digraph "forward graph" \{/);
    expect(gradient).toMatch(/^digraph "gradient graph" \{/);
    expect(forward).toContain("hidden/W");
    expect(forward).toContain("tanh");
    const nodes = (dot: string) => dot.split("\n").filter((l) => /^ {2}n\d+ \[/.test(l)).length;
    expect(nodes(forward)).toBe(t.model.graph.nodes.length);
    expect(nodes(gradient)).toBe(t.model.trainingGraph.nodes.length);
    expect(nodes(gradient)).toBeGreaterThan(nodes(forward));
    expect(gradient).toContain("grad:hidden/W");
  });

  test("describeBackend reports what core's backendInfo says", () => {
    const d = describeBackend();
    const info = core.backendInfo();
    expect(d.crossOriginIsolated).toBe(false); // Node has no crossOriginIsolated global
    expect(d.backend).toBe(info.backend);
    expect(d.backend).toBe(core.wasmBackend() !== null ? "wasm-simd" : "js");
    expect(d.threads).toBe(info.threads);
    expect(d.sharedMemory).toBe(info.sharedMemory);
    expect(d.limitations).toEqual(info.limitations);
  });
});

describe("pnpm example web", () => {
  test("starts Vite's dev server on the page, prints its URL, and Ctrl-C stops it with exit 0", async () => {
    let asked = false;
    let page = "";
    let script = "";
    const r = await runCli(["web"], {
      onStdout: (soFar, child) => {
        const url = /playground: (http:\/\/\S+)/.exec(soFar)?.[1];
        if (!url || asked) return;
        asked = true;
        void (async () => {
          try {
            page = await (await fetch(url)).text();
            script = await (await fetch(new URL("main.ts", url))).text();
          } finally {
            child.kill("SIGINT");
          }
        })();
      },
    });
    expect(asked).toBe(true);
    expect(page).toContain("<title>gradgraph playground</title>");
    expect(script).toContain("__playground"); // main.ts, compiled to JavaScript by Vite
    expect(r.stdout).toContain("Stopping the server.");
    expect(r.stdout).not.toContain("Stopped early");
    expect(r.code).toBe(0);
  });
});
