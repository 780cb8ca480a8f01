/**
 * Finding data files on disk and downloading missing ones: every download is verified against the
 * published SHA-256 before anything is written, then written atomically (a temporary file renamed into
 * place), so an interrupted or bad download never leaves a file that looks valid.
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { gunzip as nodeGunzip } from "node:zlib";
import { DatasetError } from "../errors.js";
import { gunzip, gzipSizeHint, isGzip, maybeGunzip } from "../gzip.js";
import { DATASET_FILES, type DataFileSpec, type DatasetName } from "../manifest.js";
import { DATA_DIR_ENV, type DataDirOptions, resolveDataDirs } from "./datadir.js";

/** The part of a `fetch` response the downloader uses. */
export interface FetchResponseLike {
  /** True for a 2xx status. */
  readonly ok: boolean;
  /** HTTP status code. */
  readonly status: number;
  /** HTTP status text. */
  readonly statusText: string;
  /** The body. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A `fetch`-compatible function (the global `fetch` is one); inject a fake one in tests. */
export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<FetchResponseLike>;

/** Options for locating and downloading files. */
export interface FetchOptions extends DataDirOptions {
  /** Download missing files into the cache (default true). With false, missing files are an error at once. */
  download?: boolean;
  /** The fetch function (default the global `fetch`). */
  fetch?: FetchLike;
  /** Time limit per download attempt in milliseconds (default 120,000). */
  timeoutMs?: number;
  /** Receives progress messages ("downloading ..."); default: silent. */
  log?: (message: string) => void;
}

/** SHA-256 of `data` as lowercase hex. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Checks downloaded or local bytes against a file's published checksums: the file checksum when there is
 * one and `bytes` is the file as published, else the content checksum (of the gunzipped bytes, or of an
 * uncompressed stand-in).
 * @param file name or path used in the message
 * @param content the gunzipped bytes if already known (else computed when needed)
 * @throws DatasetError `checksum-mismatch` with the expected and found SHA-256
 */
export function verifyChecksum(
  bytes: Uint8Array,
  spec: DataFileSpec,
  file: string,
  content?: Uint8Array,
): void {
  const gz = isGzip(bytes);
  // The file checksum applies to the file as published (a .gz stays gzip'd; others as they are).
  if (spec.sha256 !== null && (gz || !spec.path.endsWith(".gz"))) {
    const found = sha256Hex(bytes);
    if (found !== spec.sha256) {
      throw new DatasetError(
        "checksum-mismatch",
        file,
        `SHA-256 mismatch: expected ${spec.sha256}, found ${found}`,
      );
    }
    return;
  }
  const found = sha256Hex(content ?? maybeGunzip(bytes, file));
  if (found !== spec.contentSha256) {
    const what = gz ? "SHA-256 of the uncompressed content" : "SHA-256";
    throw new DatasetError(
      "checksum-mismatch",
      file,
      `${what} mismatch: expected ${spec.contentSha256}, found ${found}`,
    );
  }
}

const zlibGunzip = promisify(nodeGunzip);

/**
 * Gunzips with Node's native zlib on the thread pool (several files decompress in parallel, faster than
 * the portable decoder). On failure, the portable {@link gunzip} re-reads the file to report exactly
 * what is wrong (expected vs found CRC or length, truncation), as in the browser.
 */
export async function gunzipFile(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  try {
    // One output chunk of the declared length: twice as fast as zlib's default 16 KiB chunks.
    const out = await zlibGunzip(bytes, { chunkSize: Math.max((gzipSizeHint(bytes) ?? 0) + 1, 1 << 16) });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    gunzip(bytes, file); // throws the detailed DatasetError in practice
    const msg = e instanceof Error ? e.message : String(e);
    const truncated = (e as { code?: unknown }).code === "Z_BUF_ERROR";
    throw new DatasetError(
      truncated ? "truncated" : "corrupt",
      file,
      truncated ? `gzip data ends early (${msg}): the file is truncated` : `gzip data is corrupt (${msg})`,
      { cause: e },
    );
  }
}

/** Writes `data` to `file` atomically: a temporary file in the same directory, flushed, then renamed. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}.part`;
  try {
    const fh = await open(tmp, "wx");
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** The first of `paths` that is an existing file. */
async function firstFile(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) {
    try {
      if ((await stat(p)).isFile()) return p;
    } catch {
      // not there: try the next one
    }
  }
  return undefined;
}

/** The local paths a file may have in `dir`: the path itself, then (for `.gz`) the uncompressed stand-in. */
function candidates(dir: string, spec: DataFileSpec): string[] {
  const p = path.join(dir, ...spec.path.split("/"));
  return spec.path.endsWith(".gz") ? [p, p.slice(0, -3)] : [p];
}

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? ` (${e.cause.message})` : "";
  return `${e.message}${cause}`;
}

/** Tries each URL of `spec` in turn; returns the cached path, or the list of failures. */
async function download(
  spec: DataFileSpec,
  cacheDir: string,
  options: FetchOptions,
): Promise<string | string[]> {
  const fetchFn: FetchLike | undefined = options.fetch ?? globalThis.fetch;
  const failures: string[] = [];
  const target = path.join(cacheDir, ...spec.path.split("/"));
  for (const url of spec.urls) {
    try {
      if (!fetchFn) throw new Error("no fetch function available");
      options.log?.(`downloading ${url}`);
      const res = await fetchFn(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 120_000) });
      if (!res.ok) {
        failures.push(`${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
        continue;
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      verifyChecksum(bytes, spec, url);
      await writeFileAtomic(target, bytes);
      options.log?.(`saved ${target}`);
      return target;
    } catch (e) {
      failures.push(e instanceof DatasetError ? e.message : `${url}: ${describeError(e)}`);
    }
  }
  return failures;
}

/**
 * Makes sure the files exist locally and returns their paths, keyed by their path in the data directory
 * (e.g. `"mnist/train-images-idx3-ubyte.gz"`; the value may be the uncompressed stand-in). Looks in the
 * directories of {@link resolveDataDirs}, downloads what is missing into the cache (verified, atomic).
 * @throws DatasetError `missing-files` listing the missing files, where they were looked for, the URLs
 *   tried with what went wrong, and where to put the files by hand
 */
export async function ensureFiles(
  specs: readonly DataFileSpec[],
  options: FetchOptions = {},
): Promise<Map<string, string>> {
  const dirs = resolveDataDirs(options);
  const found = new Map<string, string>();
  const missing: { spec: DataFileSpec; failures: string[] }[] = [];
  for (const spec of specs) {
    const hit = await firstFile(dirs.search.flatMap((d) => candidates(d, spec)));
    if (hit) found.set(spec.path, hit);
    else missing.push({ spec, failures: [] });
  }
  if (missing.length === 0) return found;
  for (const m of missing) {
    if (options.download === false) {
      m.failures.push("download disabled (download: false)");
      continue;
    }
    const r = await download(m.spec, dirs.cacheDir, options);
    if (typeof r === "string") found.set(m.spec.path, r);
    else m.failures = r;
  }
  const still = missing.filter((m) => !found.has(m.spec.path));
  if (still.length === 0) return found;
  const lines = [`missing data file${still.length > 1 ? "s" : ""} (not found locally, not downloaded):`];
  for (const { spec, failures } of still) {
    lines.push(`  ${spec.path}`);
    lines.push(`    looked for: ${dirs.search.flatMap((d) => candidates(d, spec)).join(", ")}`);
    for (const f of failures) lines.push(`    tried: ${f}`);
  }
  lines.push(
    `To fix: download ${still.length > 1 ? "them" : "it"} by hand (URLs above) and put ${still.length > 1 ? "them" : "it"} at ` +
      `${still.map((m) => path.join(dirs.cacheDir, ...m.spec.path.split("/"))).join(", ")}, ` +
      `or point ${DATA_DIR_ENV} (or the \`dir\` option) at a directory with the same layout ` +
      `(${still.map((m) => m.spec.path).join(", ")}).`,
  );
  throw new DatasetError("missing-files", undefined, lines.join("\n"));
}

/** {@link ensureFiles} for a named data set. */
export function ensureDataset(name: DatasetName, options: FetchOptions = {}): Promise<Map<string, string>> {
  return ensureFiles(DATASET_FILES[name], options);
}

/** Options of the Node loaders. */
export interface LoadOptions extends FetchOptions {
  /** Verify the SHA-256 of files already on disk too (downloads are always verified; default false). */
  verify?: boolean;
}

/** A file's content (gunzipped and checked) and the path it was read from. */
export interface LoadedFile {
  /** Where the file was read from. */
  readonly path: string;
  /** The content, gunzipped when the file is gzip. */
  readonly content: Uint8Array;
}

/**
 * Locates (downloading if needed) and reads files; returns each file's content keyed by its spec's path
 * (e.g. `"mnist/train-images-idx3-ubyte.gz"`).
 */
export async function readFiles(
  specs: readonly DataFileSpec[],
  options: LoadOptions = {},
): Promise<Map<string, LoadedFile>> {
  const paths = await ensureFiles(specs, options);
  const out = new Map<string, LoadedFile>();
  await Promise.all(
    specs.map(async (spec) => {
      const p = paths.get(spec.path)!;
      const bytes: Uint8Array = await readFile(p);
      const content = isGzip(bytes) ? await gunzipFile(bytes, p) : bytes;
      if (options.verify) verifyChecksum(bytes, spec, p, content);
      out.set(spec.path, { path: p, content });
    }),
  );
  return out;
}
