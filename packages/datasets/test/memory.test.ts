/**
 * What the MNIST loaders hold: the decoded floats, and little more. Each image file streams from disk
 * through zlib into its final float array (no copy of the file, no buffer of its decompressed bytes),
 * and only the images a split keeps are stored.
 *
 * Memory is checked with the process's peak RSS (`maxRSS`, a high-water mark): vitest runs each test
 * file in its own process, and the tests run in order of growing footprint (each bound is on the
 * growth of the high-water mark the previous tests left).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadEx4, loadMnist } from "../src/node.js";
import { DATA_DIR, MIB, peakRssMiB } from "./helpers.js";

const haveMnist = existsSync(path.join(DATA_DIR, "mnist"));
const o = { dir: DATA_DIR, download: false } as const;

describe.runIf(haveMnist)("peak memory of the MNIST loaders", () => {
  it("loadEx4 decodes the 5,000 images it picks, not 60,000 (which alone would take 179 MiB)", async () => {
    const before = peakRssMiB();
    const ex4 = await loadEx4(o);
    expect(ex4.x.shape).toEqual([5000, 400]);
    // measured: 54 MiB (with the zlib chunks not yet collected); 254 MiB before
    expect(peakRssMiB() - before).toBeLessThan(100);
  });

  it("loadMnist with trainSize stores only the kept training images", async () => {
    const before = peakRssMiB();
    const m = await loadMnist({ ...o, trainSize: 1000 });
    // 1,000 + 10,000 images of float32: 32.9 MiB
    expect((m.train.x.data.byteLength + m.test.x.data.byteLength) / MIB).toBeCloseTo(32.9, 1);
    expect(peakRssMiB() - before).toBeLessThan(60);
  });

  it("loadMnist: the peak is the floats plus a small, bounded overhead", async () => {
    const before = peakRssMiB();
    const m = await loadMnist({ ...o, split: "train-validation-test" });
    const floats = (m.train.x.data.buffer.byteLength + m.test.x.data.buffer.byteLength) / MIB; // 209.4 MiB
    expect(floats).toBeCloseTo(209.4, 1);
    // before streaming: the compressed files, the 52 MiB of decompressed bytes and the zlib chunks on top
    expect(peakRssMiB() - before).toBeLessThan(floats + 45);
  });
});
