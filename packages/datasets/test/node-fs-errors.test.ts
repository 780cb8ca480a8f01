/**
 * File-system errors that cannot be produced for real when the tests run as root (EACCES) or that need
 * a failure in the middle of a write (EIO): `node:fs/promises` is wrapped so that chosen paths fail with
 * a chosen error code; everything else goes to the real file system.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { DATASET_FILES } from "../src/index.js";
import { type FetchLike, loadEx4Weights, readFiles } from "../src/node.js";
import { DATA_DIR, expectDatasetErrorAsync } from "./helpers.js";

/** Injected faults: path (or path prefix, for temporary files) -> the operation that fails and its code. */
const faults = vi.hoisted(() => new Map<string, { op: "stat" | "readFile" | "sync"; code: string }>());

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const fault = (op: string, p: unknown) => {
    for (const [prefix, f] of faults) {
      if (f.op === op && String(p).startsWith(prefix)) {
        const e = new Error(`${f.code}: injected failure, ${op} '${String(p)}'`);
        throw Object.assign(e, { code: f.code, syscall: op, path: String(p) });
      }
    }
  };
  const stat: typeof real.stat = (async (p: Parameters<typeof real.stat>[0], ...rest: []) => {
    fault("stat", p);
    return real.stat(p, ...rest);
  }) as typeof real.stat;
  const readFile: typeof real.readFile = (async (p: Parameters<typeof real.readFile>[0], ...rest: []) => {
    fault("readFile", p);
    return real.readFile(p, ...rest);
  }) as typeof real.readFile;
  const open: typeof real.open = async (p, ...rest) => {
    const fh = await real.open(p, ...rest);
    const sync = fh.sync.bind(fh);
    fh.sync = async () => {
      fault("sync", p);
      return sync();
    };
    return fh;
  };
  return { ...real, default: { ...real, stat, readFile, open }, stat, readFile, open };
});

const TMP = mkdtempSync(path.join(os.tmpdir(), "gradgraph-fs-errors-"));
let n = 0;
function tmpDir(): string {
  const d = path.join(TMP, String(n++));
  mkdirSync(d, { recursive: true });
  return d;
}
afterEach(() => faults.clear());
afterAll(async () => {
  const { rm } = await vi.importActual<typeof import("node:fs/promises")>("node:fs/promises");
  await rm(TMP, { recursive: true, force: true });
});

const weights = new Uint8Array(readFileSync(path.join(DATA_DIR, "ng-ex4/ex4weights.mat")));
const wSpec = DATASET_FILES.ex4weights[0]!;

/** Serves the weights from every URL; records the calls. */
function serving(): FetchLike & { calls: string[] } {
  const calls: string[] = [];
  const f: FetchLike = async (url) => {
    calls.push(url);
    return { ok: true, status: 200, statusText: "OK", arrayBuffer: async () => weights.slice().buffer };
  };
  return Object.assign(f, { calls });
}

describe("file-system errors (issue 9)", () => {
  it("EACCES looking at a file in the data or cache directory: an error at once, no re-download", async () => {
    const cacheDir = tmpDir();
    const p = path.join(cacheDir, "ng-ex4/ex4weights.mat");
    faults.set(p, { op: "stat", code: "EACCES" });
    const fetch = serving();
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ cacheDir, env: {}, fetch }),
      "unreadable",
      `${p}: cannot read the data file (EACCES)`,
    );
    expect(fetch.calls).toEqual([]);
  });

  it("EACCES reading a file that was found: an error naming the path and the code", async () => {
    const dir = tmpDir();
    mkdirSync(path.join(dir, "ng-ex4"));
    const p = path.join(dir, "ng-ex4/ex4weights.mat");
    writeFileSync(p, weights);
    faults.set(p, { op: "readFile", code: "EACCES" });
    const fetch = serving();
    await expectDatasetErrorAsync(
      () => readFiles([wSpec], { dir, cacheDir: tmpDir(), env: {}, fetch }),
      "unreadable",
      `${p}: cannot read the data file (EACCES)`,
    );
    expect(fetch.calls).toEqual([]);
  });

  it("a download that fails while being written removes its temporary file and says why", async () => {
    const cacheDir = tmpDir();
    const target = path.join(cacheDir, "ng-ex4/ex4weights.mat");
    faults.set(`${target}.`, { op: "sync", code: "EIO" }); // the temporary file's flush fails
    const fetch = serving();
    await expectDatasetErrorAsync(
      () => loadEx4Weights({ cacheDir, env: {}, fetch }),
      "missing-files",
      `${wSpec.urls[0]}: downloaded and verified, but saving it to ${target} failed (EIO)`,
    );
    expect(readdirSync(path.dirname(target))).toEqual([]); // no .part file left behind
    expect(fetch.calls).toEqual([wSpec.urls[0]]); // a local write error is not retried from other mirrors
  });
});
