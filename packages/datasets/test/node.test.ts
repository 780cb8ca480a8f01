import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  DATASET_FILES,
  type DataFileSpec,
  ex4FromMnist,
  ex4Images,
  labelCounts,
  type MnistTrainTest,
  parseMnistSet,
  splitMnist,
} from "../src/index.js";
import {
  DATA_DIR_ENV,
  DEFAULT_DOWNLOAD_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DOWNLOAD_TIMEOUT_ENV,
  defaultCacheDir,
  ensureDataset,
  ensureFiles,
  type FetchLike,
  loadDigits,
  loadEx4,
  loadEx4Weights,
  loadMnist,
  readFiles,
  resolveDataDirs,
  writeFileAtomic,
} from "../src/node.js";
import { concat, DATA_DIR, expectDatasetErrorAsync, gz, idxImages, idxLabels } from "./helpers.js";

const TMP = mkdtempSync(path.join(os.tmpdir(), "gradgraph-datasets-"));
let tmpCount = 0;
/** A fresh empty directory under the test's temp dir. */
function tmpDir(): string {
  const d = path.join(TMP, String(tmpCount++));
  mkdirSync(d, { recursive: true });
  return d;
}

/** Never touches the network: every request fails as if offline. */
const offline: FetchLike = async () => {
  throw new TypeError("fetch failed", { cause: new Error("getaddrinfo ENOTFOUND example.org") });
};

/** Options that read the shared data and can neither download nor touch the user's cache. */
const shared = { dir: DATA_DIR, cacheDir: path.join(TMP, "unused-cache"), fetch: offline, env: {} };

/** Serves `files` (url -> bytes); records the URLs asked for. */
function fakeFetch(files: Record<string, Uint8Array | number>): FetchLike & { calls: string[] } {
  const calls: string[] = [];
  const f = async (url: string) => {
    calls.push(url);
    const body = files[url];
    if (body === undefined) throw new TypeError("fetch failed");
    if (typeof body === "number")
      return {
        ok: false,
        status: body,
        statusText: "Not Found",
        arrayBuffer: async () => new ArrayBuffer(0),
      };
    return {
      ok: true,
      status: 200,
      statusText: "OK",
      arrayBuffer: async () => body.slice().buffer,
    };
  };
  return Object.assign(f, { calls });
}

function spec(name: string): DataFileSpec {
  return Object.values(DATASET_FILES)
    .flat()
    .find((s) => s.path.endsWith(name))!;
}

/** A shared file as a plain Uint8Array (a copy: Buffer.slice would return views, not copies). */
function sharedBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(DATA_DIR, rel)));
}

/** Min and max of a large array (spreading millions of values into Math.min overflows the stack). */
function range(a: ArrayLike<number>): [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < min) min = a[i]!;
    if (a[i]! > max) max = a[i]!;
  }
  return [min, max];
}

afterAll(async () => {
  const { rm } = await import("node:fs/promises");
  await rm(TMP, { recursive: true, force: true });
});

describe("shared data sets", () => {
  let std: MnistTrainTest;
  beforeAll(async () => {
    const t = performance.now();
    std = await loadMnist({ ...shared, verify: true });
    // The issue asks for "well under 2 s" (README has the measured figure); slack for loaded CI machines.
    expect(performance.now() - t).toBeLessThan(5000);
  });

  it("MNIST: 60,000 + 10,000 images with the published label counts and pixel range", () => {
    expect(std.train.x.shape).toEqual([60_000, 784]);
    expect(std.test.x.shape).toEqual([10_000, 784]);
    expect(std.train.images.shape).toEqual([60_000, 28, 28]);
    expect(std.train.x.dtype).toBe("float32");
    expect(labelCounts(std.train.y)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(labelCounts(std.test.y)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(Array.from(std.train.y.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect(Array.from(std.test.y.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    const d = std.train.x.data;
    let min = 1;
    let max = 0;
    let sum = 0;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    expect([min, max]).toEqual([0, 1]);
    expect(sum / d.length).toBeCloseTo(0.1307, 4); // the familiar normalisation mean
    expect(range(std.test.x.data)).toEqual([0, 1]);
  });

  it("MNIST: the tutorials' 50,000 / 10,000 / 10,000 split", () => {
    const tv = splitMnist(std.train, std.test, { split: "train-validation-test" });
    expect(tv.train.x.shape).toEqual([50_000, 784]);
    expect(tv.validation.x.shape).toEqual([10_000, 784]);
    expect(tv.test).toBe(std.test);
    expect(tv.validation.images.shape).toEqual([10_000, 28, 28]);
    expect(tv.validation.x.get(0, 300)).toBe(std.train.x.get(50_000, 300));
    expect(tv.validation.y[9999]).toBe(std.train.y[59_999]);
    expect(labelCounts(tv.train.y).reduce((a, b) => a + b, 0)).toBe(50_000);
  });

  it("digits: 1,797 rows of 64 values 0..16 with the known class counts", async () => {
    const d = await loadDigits({ ...shared, verify: true });
    expect(d.x.shape).toEqual([1797, 64]);
    expect(d.images.shape).toEqual([1797, 8, 8]);
    expect(labelCounts(d.y)).toEqual([178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    expect(Array.from(d.y.subarray(0, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(d.x.data.subarray(0, 8))).toEqual([0, 0, 5, 13, 9, 1, 0, 0]);
    expect(range(d.x.data)).toEqual([0, 16]);
    expect(d.x.data.every((v) => Number.isInteger(v))).toBe(true);
  });

  it("ex4 derived from MNIST: 5,000 rows, 500 per digit, values in [0, 1], course layout", () => {
    const ex4 = ex4FromMnist(std.train);
    expect(ex4.source).toBe("mnist");
    expect(ex4.x.shape).toEqual([5000, 400]);
    expect(labelCounts(ex4.y, 11)).toEqual([0, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500]);
    expect(ex4.y[0]).toBe(10); // digit 0 first, labelled 10, as in ex4data1.mat
    expect(ex4.y[4999]).toBe(9);
    const [lo, hi] = range(ex4.x.data);
    expect(lo).toBe(0);
    expect(hi).toBeGreaterThan(0.99);
    expect(hi).toBeLessThanOrEqual(1);
    // Independent check of the area averaging and the column-major layout on the first "0" of MNIST.
    const first0 = std.train.y.indexOf(0);
    const img = ex4Images(ex4.x);
    const overlap = (i: number, k: number) =>
      Math.max(0, Math.min((i + 1) * 1.4, k + 1) - Math.max(i * 1.4, k));
    for (const [r, c] of [
      [10, 10],
      [5, 7],
      [14, 3],
      [0, 0],
    ] as const) {
      let acc = 0;
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++)
          acc += overlap(r, y) * overlap(c, x) * std.train.images.get(first0, y, x);
      }
      expect(img.get(0, r, c)).toBeCloseTo(acc / 1.96, 5);
      expect(ex4.x.get(0, c * 20 + r)).toBe(img.get(0, r, c));
    }
  });

  it("loadEx4 derives the set from the MNIST training files (small synthetic files here)", async () => {
    const dir = tmpDir();
    mkdirSync(path.join(dir, "mnist"));
    const labels = Array.from({ length: 30 }, (_, i) => 9 - (i % 10));
    writeFileSync(path.join(dir, "mnist/train-images-idx3-ubyte.gz"), gz(idxImages(30)));
    writeFileSync(path.join(dir, "mnist/train-labels-idx1-ubyte"), idxLabels(labels));
    const ex4 = await loadEx4({ dir, cacheDir: tmpDir(), env: {}, fetch: offline, perClass: 3 });
    expect(ex4.x.shape).toEqual([30, 400]);
    expect(Array.from(ex4.y.subarray(0, 7))).toEqual([10, 10, 10, 1, 1, 1, 2]);
    expect(ex4.x.data.subarray(0, 400)).toEqual(
      ex4FromMnist(parseMnistSet(idxImages(30), idxLabels(labels)), { perClass: 3 }).x.data.subarray(0, 400),
    );
  });

  it("ex4weights.mat: Theta1 25x401, Theta2 10x26", async () => {
    const paths = await ensureDataset("ex4weights", shared);
    expect(paths.get("ng-ex4/ex4weights.mat")).toBe(path.join(DATA_DIR, "ng-ex4/ex4weights.mat"));
    const w = await loadEx4Weights({ ...shared, verify: true, dtype: "float64" });
    expect(w.theta1.shape).toEqual([25, 401]);
    expect(w.theta2.shape).toEqual([10, 26]);
    expect(w.theta2.get(0, 0)).toBeCloseTo(-0.76100352, 8);
    const direct = await loadEx4Weights({ path: path.join(DATA_DIR, "ng-ex4/ex4weights.mat") });
    expect(direct.theta1.get(3, 4)).toBe(Math.fround(w.theta1.get(3, 4)));
  });
});

describe("data directories", () => {
  it("resolves the dir option, then GRADGRAPH_DATA_DIR, then the cache", () => {
    const env = { [DATA_DIR_ENV]: "/data/env", XDG_CACHE_HOME: "/xdg" };
    expect(resolveDataDirs({ dir: "/data/opt", env })).toEqual({
      search: ["/data/opt", "/xdg/gradgraph"],
      cacheDir: "/xdg/gradgraph",
      source: "option",
    });
    expect(resolveDataDirs({ env })).toEqual({
      search: ["/data/env", "/xdg/gradgraph"],
      cacheDir: "/xdg/gradgraph",
      source: "env",
    });
    expect(resolveDataDirs({ env: {}, cacheDir: "/c" })).toEqual({
      search: ["/c"],
      cacheDir: "/c",
      source: "cache",
    });
    expect(defaultCacheDir({}, "linux", "/home/u")).toBe("/home/u/.cache/gradgraph");
    expect(defaultCacheDir({}, "darwin", "/Users/u")).toBe("/Users/u/Library/Caches/gradgraph");
    expect(defaultCacheDir({ LOCALAPPDATA: "C:/L" }, "win32", "C:/u")).toBe(
      path.join("C:/L", "gradgraph", "Cache"),
    );
  });

  it("finds files through the environment variable and accepts raw (non-gz) IDX files", async () => {
    const dir = tmpDir();
    mkdirSync(path.join(dir, "mnist"));
    writeFileSync(
      path.join(dir, "mnist/t10k-labels-idx1-ubyte"),
      gunzipSync(sharedBytes("mnist/t10k-labels-idx1-ubyte.gz")),
    );
    const specs = [spec("t10k-labels-idx1-ubyte.gz")];
    const env = { [DATA_DIR_ENV]: dir };
    const paths = await ensureFiles(specs, { env, cacheDir: tmpDir(), fetch: offline });
    expect(paths.get("mnist/t10k-labels-idx1-ubyte.gz")).toBe(path.join(dir, "mnist/t10k-labels-idx1-ubyte"));
    const files = await readFiles(specs, { env, cacheDir: tmpDir(), fetch: offline, verify: true });
    expect(files.get("mnist/t10k-labels-idx1-ubyte.gz")!.content.length).toBe(10_008);
  });
});

describe("downloads (fake fetch, no network)", () => {
  const weights = sharedBytes("ng-ex4/ex4weights.mat");
  const wSpec = spec("ex4weights.mat");

  it("downloads a missing file into the cache, verified, then loads it from there", async () => {
    const cacheDir = tmpDir();
    const fetch = fakeFetch({ [wSpec.urls[0]!]: 404, [wSpec.urls[1]!]: weights });
    const logs: string[] = [];
    const w = await loadEx4Weights({ dir: tmpDir(), cacheDir, env: {}, fetch, log: (m) => logs.push(m) });
    expect(w.theta1.shape).toEqual([25, 401]);
    expect(fetch.calls).toEqual([wSpec.urls[0], wSpec.urls[1]]);
    expect(readdirSync(path.join(cacheDir, "ng-ex4"))).toEqual(["ex4weights.mat"]); // no temporary files left
    expect(logs.at(-1)).toBe(`saved ${path.join(cacheDir, "ng-ex4/ex4weights.mat")}`);
    await loadEx4Weights({ cacheDir, env: {}, fetch });
    expect(fetch.calls.length).toBe(2); // served from the cache the second time
  });

  it("verifies the digits CSV by its uncompressed content, whatever the gzip header", async () => {
    const cacheDir = tmpDir();
    const csv = gunzipSync(sharedBytes("sklearn-digits/digits.csv.gz"));
    const rezipped = gz(csv); // different encoder and header: different file SHA-256, same content
    const d = await loadDigits({
      cacheDir,
      env: {},
      fetch: fakeFetch({ [spec("digits.csv.gz").urls[0]!]: rezipped }),
    });
    expect(d.x.shape).toEqual([1797, 64]);
    // (Buffer.equals: vitest's toEqual walks typed arrays element by element, slowly.)
    expect(readFileSync(path.join(cacheDir, "sklearn-digits/digits.csv.gz")).equals(rezipped)).toBe(true);
  });

  it("rejects a download whose SHA-256 differs, writing nothing", async () => {
    const cacheDir = tmpDir();
    const bad = weights.slice();
    bad[1000] ^= 1;
    const fetch = fakeFetch(Object.fromEntries(wSpec.urls.map((u) => [u, bad])));
    const e = await expectDatasetErrorAsync(
      () => loadEx4Weights({ cacheDir, env: {}, fetch }),
      "missing-files",
      "ng-ex4/ex4weights.mat",
      `${wSpec.urls[0]}: SHA-256 mismatch: expected ${wSpec.sha256}, found `,
      `${wSpec.urls[1]}: SHA-256 mismatch`,
    );
    expect(e.message).not.toContain(`found ${wSpec.sha256}`);
    expect(existsSync(path.join(cacheDir, "ng-ex4"))).toBe(false);
    // A content checksum mismatch (digits) names the uncompressed content.
    const dSpec = spec("digits.csv.gz");
    await expectDatasetErrorAsync(
      () =>
        loadDigits({
          cacheDir,
          env: {},
          fetch: fakeFetch({ [dSpec.urls[0]!]: gz(new TextEncoder().encode("0,1\n")) }),
        }),
      "missing-files",
      `${dSpec.urls[0]}: SHA-256 of the uncompressed content mismatch: expected ${dSpec.contentSha256}`,
    );
  });

  it("offline: lists the missing files, the URLs tried and where to put the files", async () => {
    const cacheDir = tmpDir();
    const dir = tmpDir();
    const e = await expectDatasetErrorAsync(
      () => loadMnist({ dir, cacheDir, env: {}, fetch: offline }),
      "missing-files",
      "missing data files (not found locally, not downloaded):",
      "mnist/train-images-idx3-ubyte.gz",
      "mnist/t10k-labels-idx1-ubyte.gz",
      `looked for: ${path.join(dir, "mnist/train-images-idx3-ubyte.gz")}, ${path.join(dir, "mnist/train-images-idx3-ubyte")}`,
      "tried: https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz: network error: fetch failed (getaddrinfo ENOTFOUND example.org)",
      "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz",
      `put them at ${path.join(cacheDir, "mnist/train-images-idx3-ubyte.gz")}`,
      "GRADGRAPH_DATA_DIR",
    );
    expect(e.file).toBeUndefined();
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ dir, cacheDir, env: {}, download: false }),
      "missing-files",
      "download disabled (download: false)",
    );
  });

  it("an interrupted download leaves no file; stale temporary files are ignored", async () => {
    const cacheDir = tmpDir();
    mkdirSync(path.join(cacheDir, "ng-ex4"));
    writeFileSync(path.join(cacheDir, "ng-ex4/ex4weights.mat.999-dead.part"), weights.subarray(0, 100));
    const broken: FetchLike = async () => ({
      ok: true,
      status: 200,
      statusText: "OK",
      arrayBuffer: async () => {
        throw new Error("connection reset");
      },
    });
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ cacheDir, env: {}, fetch: broken }),
      "missing-files",
      "connection reset",
    );
    expect(existsSync(path.join(cacheDir, "ng-ex4/ex4weights.mat"))).toBe(false);
    // The stale .part file is not mistaken for the data.
    const w = await loadEx4Weights({ cacheDir, env: {}, fetch: fakeFetch({ [wSpec.urls[0]!]: weights }) });
    expect(w.theta2.shape).toEqual([10, 26]);
  });

  it("writeFileAtomic replaces a file in one step and cleans up on failure", async () => {
    const dir = tmpDir();
    const file = path.join(dir, "sub/f.bin");
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(file, new Uint8Array([4]));
    expect(Array.from(readFileSync(file))).toEqual([4]);
    expect(readdirSync(path.join(dir, "sub"))).toEqual(["f.bin"]);
    mkdirSync(path.join(dir, "sub/d"));
    await expect(writeFileAtomic(path.join(dir, "sub/d"), new Uint8Array([1]))).rejects.toThrow();
    expect(readdirSync(path.join(dir, "sub")).sort()).toEqual(["d", "f.bin"]);
  });
});

describe("bad local files", () => {
  async function withFile(rel: string, bytes: Uint8Array) {
    const dir = tmpDir();
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), bytes);
    return { dir, cacheDir: tmpDir(), env: {}, fetch: offline, file: path.join(dir, rel) };
  }

  it("truncated and corrupt gzip files are reported with the path (native zlib path)", async () => {
    const labels = sharedBytes("mnist/t10k-labels-idx1-ubyte.gz");
    const specs = [spec("t10k-labels-idx1-ubyte.gz")];
    const t = await withFile("mnist/t10k-labels-idx1-ubyte.gz", labels.subarray(0, 3000));
    await expectDatasetErrorAsync(() => readFiles(specs, t), "truncated", `${t.file}: gzip data ends early`);
    const bad = labels.slice();
    bad[bad.length - 6] ^= 0xff;
    const c = await withFile("mnist/t10k-labels-idx1-ubyte.gz", bad);
    await expectDatasetErrorAsync(
      () => readFiles(specs, c),
      "corrupt",
      `${c.file}: gzip CRC-32 check failed: expected 0x`,
      "found 0x",
    );
  });

  it("verify: true catches a modified local file (checksum mismatch, expected vs found)", async () => {
    const bad = sharedBytes("ng-ex4/ex4weights.mat").slice();
    bad[10] = 0x21; // inside the header text: still parses, but is not the published file
    const w = await withFile("ng-ex4/ex4weights.mat", bad);
    expect((await loadEx4Weights(w)).theta1.shape).toEqual([25, 401]);
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ ...w, verify: true }),
      "checksum-mismatch",
      `${w.file}: SHA-256 mismatch: expected ${spec("ex4weights.mat").sha256}, found `,
    );
  });

  it("a wrong .mat structure or missing variable names the file", async () => {
    const w = await withFile(
      "ng-ex4/ex4weights.mat",
      new TextEncoder().encode("not a mat file".padEnd(200, " ")),
    );
    await expectDatasetErrorAsync(() => loadEx4Weights(w), "bad-magic", `${w.file}: not a level-5 MAT-file`);
    await expectDatasetErrorAsync(
      () => loadEx4({ path: path.join(DATA_DIR, "ng-ex4/ex4weights.mat") }),
      "missing-variable",
      "ex4weights.mat: no variable 'X' (variables present: Theta1 25x401 double, Theta2 10x26 double)",
    );
  });
});

describe("download deadlines (issue 9)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A black-holed network: never answers, rejects only when the request's signal aborts (as fetch does). */
  function blackHole(): FetchLike & { calls: string[]; pending: number } {
    const net = Object.assign(
      (url: string, init?: { signal?: AbortSignal }) => {
        net.calls.push(url);
        net.pending++;
        return new Promise<never>((_, reject) => {
          init?.signal?.addEventListener("abort", () => {
            net.pending--;
            reject(init.signal!.reason);
          });
        });
      },
      { calls: [] as string[], pending: 0 },
    );
    return net;
  }

  const mnistUrls = DATASET_FILES.mnist.flatMap((s) => s.urls);

  it("timeoutMs is an overall deadline; each request gets at most requestTimeoutMs of what remains", async () => {
    const fetch = blackHole();
    const t = performance.now();
    const e = await expectDatasetErrorAsync(
      () =>
        loadMnist({
          dir: tmpDir(),
          cacheDir: tmpDir(),
          env: {},
          fetch,
          timeoutMs: 500,
          requestTimeoutMs: 200,
        }),
      "missing-files",
      `tried: ${mnistUrls[0]}: timed out after 200 ms`,
      `tried: ${mnistUrls[1]}: timed out after 200 ms`,
      `tried: ${mnistUrls[2]}: timed out after`,
      "(the overall deadline timeoutMs = 500 ms was reached)",
      `skipped: ${mnistUrls[3]}: the overall download deadline (timeoutMs = 500 ms) had passed`,
      `skipped: ${mnistUrls[11]}: the overall download deadline`,
      "downloads stopped at the overall deadline of 500 ms (timeoutMs = 500 ms)",
    );
    expect(performance.now() - t).toBeLessThan(3000);
    expect(fetch.calls).toEqual(mnistUrls.slice(0, 3));
    expect(e.message).not.toContain("aborted");
  });

  it("a fetch that ignores its AbortSignal cannot stall the loader", async () => {
    const deaf: FetchLike = () => new Promise(() => {});
    const t = performance.now();
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ cacheDir: tmpDir(), env: {}, fetch: deaf, timeoutMs: 300 }),
      "missing-files",
      "timed out after",
    );
    expect(performance.now() - t).toBeLessThan(3000);
  }, 10_000);

  /**
   * Runs `start` under fake timers. The fake clock only moves while a request is waiting on the black
   * hole (to its next timer); otherwise the real file-system work is let through. Returns the error and
   * the fake seconds spent waiting on the network.
   */
  async function fakeSeconds(
    net: { pending: number },
    start: () => Promise<unknown>,
  ): Promise<{ error: unknown; seconds: number }> {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    let done = false;
    let error: unknown;
    const t0 = Date.now();
    start().then(
      () => {
        done = true;
      },
      (e: unknown) => {
        error = e;
        done = true;
      },
    );
    for (let i = 0; i < 100_000 && !done; i++) {
      if (net.pending > 0) await vi.advanceTimersToNextTimerAsync();
      else await new Promise((r) => setImmediate(r));
    }
    return { error, seconds: (Date.now() - t0) / 1000 };
  }

  it("defaults: a black-holed network gives up after 5 minutes, not 24 (fake timers)", async () => {
    expect(DEFAULT_DOWNLOAD_TIMEOUT_MS).toBe(300_000);
    expect(DEFAULT_REQUEST_TIMEOUT_MS).toBe(120_000);
    const fetch = blackHole();
    const { error, seconds } = await fakeSeconds(fetch, () =>
      loadMnist({ dir: tmpDir(), cacheDir: tmpDir(), env: {}, fetch }),
    );
    expect(seconds).toBe(300); // 120 + 120 + 60 s, then the other nine URLs are skipped
    expect(String(error)).toContain(`${mnistUrls[0]}: timed out after 120,000 ms`);
    expect(String(error)).toContain(
      "the overall download deadline (default 300,000 ms; set timeoutMs or GRADGRAPH_DOWNLOAD_TIMEOUT)",
    );
    expect(fetch.calls.length).toBe(3);
  });

  it(`reads the deadline from ${"GRADGRAPH_DOWNLOAD_TIMEOUT"} (seconds) when timeoutMs is not given`, async () => {
    expect(DOWNLOAD_TIMEOUT_ENV).toBe("GRADGRAPH_DOWNLOAD_TIMEOUT");
    const fetch = blackHole();
    const env = { [DOWNLOAD_TIMEOUT_ENV]: "30" };
    const { error, seconds } = await fakeSeconds(fetch, () =>
      loadEx4Weights({ cacheDir: tmpDir(), env, fetch }),
    );
    expect(seconds).toBe(30);
    expect(String(error)).toContain("GRADGRAPH_DOWNLOAD_TIMEOUT=30");
    await expect(
      loadEx4Weights({ cacheDir: tmpDir(), env: { [DOWNLOAD_TIMEOUT_ENV]: "soon" }, fetch }),
    ).rejects.toThrow(/GRADGRAPH_DOWNLOAD_TIMEOUT must be a positive number of seconds, got "soon"/);
    await expect(loadEx4Weights({ cacheDir: tmpDir(), env: {}, fetch, timeoutMs: -1 })).rejects.toThrow(
      /timeoutMs must be a positive number of milliseconds, got -1/,
    );
  });

  it("says for each mirror what happened: HTTP status, checksum mismatch, network error", async () => {
    const s = spec("t10k-labels-idx1-ubyte.gz");
    const fetch = fakeFetch({ [s.urls[0]!]: 503, [s.urls[1]!]: gz(idxLabels([1, 2, 3])) });
    await expectDatasetErrorAsync(
      () => ensureFiles([s], { cacheDir: tmpDir(), env: {}, fetch }),
      "missing-files",
      `${s.urls[0]}: HTTP 503`,
      `${s.urls[1]}: SHA-256 mismatch: expected ${s.sha256}`,
      `${s.urls[2]}: network error: fetch failed`,
    );
  });
});

describe("local file errors and temporary files (issue 9)", () => {
  const weights = sharedBytes("ng-ex4/ex4weights.mat");
  const wSpec = spec("ex4weights.mat");

  it("a file that exists but cannot be read fails at once, naming the path and the error code", async () => {
    const dir = tmpDir();
    mkdirSync(path.join(dir, "ng-ex4"));
    const loop = path.join(dir, "ng-ex4/ex4weights.mat");
    symlinkSync(loop, loop); // stat fails with ELOOP (a real non-ENOENT error, even for root)
    const fetch = fakeFetch({ [wSpec.urls[0]!]: weights });
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ dir, cacheDir: tmpDir(), env: {}, fetch }),
      "unreadable",
      `${loop}: cannot read the data file (ELOOP)`,
    );
    expect(fetch.calls).toEqual([]); // not downloaded again
    const dir2 = tmpDir();
    mkdirSync(path.join(dir2, "ng-ex4/ex4weights.mat"), { recursive: true });
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ dir: dir2, cacheDir: tmpDir(), env: {}, fetch }),
      "unreadable",
      `${path.join(dir2, "ng-ex4/ex4weights.mat")}: expected a data file, found a directory`,
    );
    expect(fetch.calls).toEqual([]);
  });

  it("removes stale temporary files of earlier interrupted downloads of the same file", async () => {
    const cacheDir = tmpDir();
    const sub = path.join(cacheDir, "ng-ex4");
    mkdirSync(sub);
    const deadPid = spawnSync(process.execPath, ["-e", ""]).pid!; // exited: its pid is free
    const dead = `ex4weights.mat.${deadPid}-0badc0de.part`;
    const live = `ex4weights.mat.${process.pid}-00000001.part`; // a download in progress elsewhere
    const old = `ex4weights.mat.${process.pid}-00000002.part`;
    const other = `other.mat.${deadPid}-00000003.part`; // another target: left alone
    for (const f of [dead, live, old, other]) writeFileSync(path.join(sub, f), weights.subarray(0, 10));
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(path.join(sub, old), twoHoursAgo, twoHoursAgo);
    const logs: string[] = [];
    await loadEx4Weights({
      cacheDir,
      env: {},
      fetch: fakeFetch({ [wSpec.urls[0]!]: weights }),
      log: (m) => logs.push(m),
    });
    expect(readdirSync(sub).sort()).toEqual(["ex4weights.mat", live, other].sort());
    expect(logs).toContain(`removed stale temporary file ${path.join(sub, dead)}`);
  });

  it("gzip with trailing data is reported with the byte where the gzip data ends (native zlib path)", async () => {
    const labels = sharedBytes("mnist/t10k-labels-idx1-ubyte.gz");
    for (const extra of [Uint8Array.of(7, 1, 2), new Uint8Array(12)]) {
      const dir = tmpDir();
      mkdirSync(path.join(dir, "mnist"));
      const file = path.join(dir, "mnist/t10k-labels-idx1-ubyte.gz");
      writeFileSync(file, concat(labels, extra));
      await expectDatasetErrorAsync(
        () =>
          readFiles([spec("t10k-labels-idx1-ubyte.gz")], {
            dir,
            cacheDir: tmpDir(),
            env: {},
            fetch: offline,
          }),
        "corrupt",
        `${file}: ${extra.length} bytes of unexpected data after the end of the gzip data at byte 4,542`,
      );
    }
  });
});
