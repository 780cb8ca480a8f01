/**
 * Finding data files on disk and downloading missing ones: every download is verified against the
 * published SHA-256 before anything is written, then written atomically (a temporary file renamed into
 * place), so an interrupted or bad download never leaves a file that looks valid. Downloads run under an
 * overall deadline, and a local file that exists but cannot be read is an error at once.
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { createGunzip } from "node:zlib";
import { fmt } from "../bytes.js";
import { DIGITS_MAX_BYTES } from "../digits.js";
import { DatasetError } from "../errors.js";
import {
  type ChunkConsumer,
  type DecompressOptions,
  gunzip,
  gunzipInto,
  gzipSizeHint,
  InflateSink,
  isGzip,
  maybeGunzip,
} from "../gzip.js";
import { idxDeclaredSize } from "../idx.js";
import { DATASET_FILES, type DataFileSpec, type DatasetName } from "../manifest.js";
import { DATA_DIR_ENV, type DataDirOptions, type Env, resolveDataDirs } from "./datadir.js";

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

/** The environment variable giving the overall download deadline in **seconds**: `GRADGRAPH_DOWNLOAD_TIMEOUT`. */
export const DOWNLOAD_TIMEOUT_ENV = "GRADGRAPH_DOWNLOAD_TIMEOUT";

/** Default overall deadline for the downloads of one loader call: 300,000 ms (5 minutes). */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 300_000;

/** Default limit for one request (one URL, body included): 120,000 ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/**
 * Age after which a temporary download file (`<name>.<pid>-<random>.part`) is removed even if its process
 * still seems to run: one hour. Those of processes that no longer run are removed at once.
 */
export const STALE_PART_MS = 3_600_000;

/** Options for locating and downloading files. */
export interface FetchOptions extends DataDirOptions {
  /** Download missing files into the cache (default true). With false, missing files are an error at once. */
  download?: boolean;
  /** The fetch function (default the global `fetch`). */
  fetch?: FetchLike;
  /**
   * Overall deadline, in milliseconds, for all the downloads of one call (every file, every mirror):
   * when it passes, the request in flight is aborted and the remaining URLs are skipped. Default: the
   * environment variable `GRADGRAPH_DOWNLOAD_TIMEOUT` (in seconds) if set, else
   * {@link DEFAULT_DOWNLOAD_TIMEOUT_MS} (5 minutes). `Infinity` means no overall deadline.
   */
  timeoutMs?: number;
  /**
   * Limit for each request in milliseconds (default {@link DEFAULT_REQUEST_TIMEOUT_MS}, 2 minutes),
   * shortened to what is left of `timeoutMs`.
   */
  requestTimeoutMs?: number;
  /**
   * Largest decompressed size accepted for a gzip'd file, in bytes (default 256 MiB; 4 MiB for the
   * digits CSV). Decompression also stops at the size an IDX header declares.
   */
  maxBytes?: number;
  /** Receives progress messages ("downloading ..."); default: silent. */
  log?: (message: string) => void;
}

/** The download time limits of one call, resolved from the options and the environment. */
export interface DownloadTimeouts {
  /** The overall deadline in milliseconds (may be `Infinity`). */
  readonly totalMs: number;
  /** The limit per request in milliseconds. */
  readonly requestMs: number;
  /**
   * Where `totalMs` comes from, for messages: `"timeoutMs = 500 ms"`, `"GRADGRAPH_DOWNLOAD_TIMEOUT=30"`
   * or the default.
   */
  readonly source: string;
}

/**
 * Resolves the download deadline: the `timeoutMs` option, else `GRADGRAPH_DOWNLOAD_TIMEOUT` (seconds)
 * from `options.env` (default `process.env`), else {@link DEFAULT_DOWNLOAD_TIMEOUT_MS}; and the limit per
 * request. A command-line `--timeout <seconds>` maps to `timeoutMs: seconds * 1000`.
 * @throws RangeError when an option or the environment variable is not a positive number
 */
export function resolveDownloadTimeouts(options: FetchOptions = {}): DownloadTimeouts {
  const positive = (v: number) => typeof v === "number" && v > 0; // NaN fails too
  const requestMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!positive(requestMs)) {
    throw new RangeError(`requestTimeoutMs must be a positive number of milliseconds, got ${requestMs}`);
  }
  if (options.timeoutMs !== undefined) {
    if (!positive(options.timeoutMs)) {
      throw new RangeError(`timeoutMs must be a positive number of milliseconds, got ${options.timeoutMs}`);
    }
    return { totalMs: options.timeoutMs, requestMs, source: `timeoutMs = ${fmt(options.timeoutMs)} ms` };
  }
  const env: Env = options.env ?? process.env;
  const raw = env[DOWNLOAD_TIMEOUT_ENV]?.trim();
  if (raw) {
    const seconds = Number(raw);
    if (!positive(seconds)) {
      throw new RangeError(
        `${DOWNLOAD_TIMEOUT_ENV} must be a positive number of seconds, got ${JSON.stringify(raw)}`,
      );
    }
    return { totalMs: seconds * 1000, requestMs, source: `${DOWNLOAD_TIMEOUT_ENV}=${raw}` };
  }
  return {
    totalMs: DEFAULT_DOWNLOAD_TIMEOUT_MS,
    requestMs,
    source: `default ${fmt(DEFAULT_DOWNLOAD_TIMEOUT_MS)} ms; set timeoutMs or ${DOWNLOAD_TIMEOUT_ENV}`,
  };
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
 * @param limits output limits for that decompression (default: those of {@link contentLimits})
 * @throws DatasetError `checksum-mismatch` with the expected and found SHA-256
 */
export function verifyChecksum(
  bytes: Uint8Array,
  spec: DataFileSpec,
  file: string,
  content?: Uint8Array,
  limits: DecompressOptions = contentLimits(spec, file),
): void {
  const gz = isGzip(bytes);
  checkDigests(
    spec,
    file,
    gz,
    () => sha256Hex(bytes),
    () => sha256Hex(content ?? maybeGunzip(bytes, file, limits)),
  );
}

/** True when a file's published SHA-256 applies to it as it is (a .gz stays gzip'd; others as they are). */
function fileDigestApplies(spec: DataFileSpec, gz: boolean): boolean {
  return spec.sha256 !== null && (gz || !spec.path.endsWith(".gz"));
}

/**
 * {@link verifyChecksum} on digests: `fileSha` gives the SHA-256 of the file as read, `contentSha` that
 * of its (gunzipped) content; only the one that applies is asked for.
 */
function checkDigests(
  spec: DataFileSpec,
  file: string,
  gz: boolean,
  fileSha: () => string,
  contentSha: () => string,
): void {
  if (fileDigestApplies(spec, gz)) {
    const found = fileSha();
    if (found !== spec.sha256) {
      throw new DatasetError(
        "checksum-mismatch",
        file,
        `SHA-256 mismatch: expected ${spec.sha256}, found ${found}`,
      );
    }
    return;
  }
  const found = contentSha();
  if (found !== spec.contentSha256) {
    const what = gz ? "SHA-256 of the uncompressed content" : "SHA-256";
    throw new DatasetError(
      "checksum-mismatch",
      file,
      `${what} mismatch: expected ${spec.contentSha256}, found ${found}`,
    );
  }
}

/**
 * The output limits for decompressing a data file: the size its IDX header declares (MNIST), the
 * digits bound `DIGITS_MAX_BYTES` (digits CSV), and `options.maxBytes` (default 256 MiB) for all.
 */
export function contentLimits(
  spec: DataFileSpec,
  file: string,
  options: { maxBytes?: number } = {},
): DecompressOptions {
  if (/-idx\d-ubyte/.test(spec.path))
    return { maxBytes: options.maxBytes, declaredSize: idxDeclaredSize(file) };
  if (spec.path.startsWith("sklearn-digits/")) return { maxBytes: options.maxBytes ?? DIGITS_MAX_BYTES };
  return { maxBytes: options.maxBytes };
}

/**
 * Output chunk size of the native decoder: as fast as 1 MiB chunks on MNIST, and the granularity of the
 * limits. Each chunk is a new buffer that becomes garbage once consumed; at 64 KiB they come from
 * malloc's free lists and are reused after each young-generation collection, where 1 MiB chunks (past
 * glibc's mmap threshold) left tens of MiB of freed-but-resident memory behind a streamed MNIST load.
 */
const ZLIB_CHUNK = 1 << 16;

/** An error thrown by the sink (a limit, or the consumer), as opposed to one of zlib's. */
class FromSink {
  constructor(readonly error: unknown) {}
}

/** Node's zlib gunzip feeding a sink: compressed chunks go in with `write`, `end` waits for the last output. */
interface ZlibInput {
  /** Feeds compressed bytes; resolves once zlib has consumed them (the chunk may then be reused). */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the input; resolves after the last output chunk went to the sink. */
  end(): Promise<void>;
}

/**
 * Starts Node's zlib gunzip with `sink` (which enforces the limits and collects or forwards the output).
 * Failures reject `write` and `end`: with a {@link FromSink} when the sink threw, else with zlib's error.
 */
function zlibGunzip(sink: InflateSink): ZlibInput {
  const z = createGunzip({ chunkSize: ZLIB_CHUNK });
  let failure: unknown = null;
  /** Rejects the write in flight (a destroyed stream never calls its callback). */
  let rejectWrite: ((e: unknown) => void) | null = null;
  const fail = (e: unknown) => {
    failure ??= e;
    rejectWrite?.(failure);
  };
  // nothing here captures the input: the stream keeps its listeners until zlib's handle is closed, a
  // little after the end, and whatever they capture stays alive with them
  const ended = new Promise<void>((resolve, reject) => {
    z.on("data", (chunk: Buffer) => {
      try {
        sink.push(chunk);
      } catch (e) {
        fail(new FromSink(e));
        z.destroy();
        reject(failure);
      }
    });
    z.on("error", (e) => {
      fail(e);
      reject(failure);
    });
    z.on("end", () => resolve());
  });
  ended.catch(() => {}); // reported through write() or end()
  return {
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        if (failure !== null) return reject(failure);
        rejectWrite = reject;
        z.write(chunk, (e) => {
          rejectWrite = null;
          if (e || failure !== null) reject(failure ?? e);
          else resolve();
        });
      }),
    end: () => {
      z.end();
      return ended;
    },
  };
}

/** The DatasetError for a zlib failure `e` (after the portable decoder found nothing more precise). */
function zlibError(e: unknown, file: string): DatasetError {
  const msg = e instanceof Error ? e.message : String(e);
  const truncated = (e as { code?: unknown }).code === "Z_BUF_ERROR";
  return new DatasetError(
    truncated ? "truncated" : "corrupt",
    file,
    truncated ? `gzip data ends early (${msg}): the file is truncated` : `gzip data is corrupt (${msg})`,
    { cause: e },
  );
}

/**
 * Runs Node's zlib on `bytes` into `sink`; on a zlib error, `portable` re-reads the file with the portable
 * decoder to report exactly what is wrong. Checks that the file ends with the gzip data.
 */
async function nativeGunzip(
  bytes: Uint8Array,
  file: string,
  sink: InflateSink,
  portable: () => void,
): Promise<void> {
  try {
    const z = zlibGunzip(sink);
    await z.write(bytes);
    await z.end();
  } catch (e) {
    if (e instanceof FromSink) throw e.error; // a limit, a wrong magic number, or the consumer's error
    portable(); // throws the detailed DatasetError in practice
    throw zlibError(e, file);
  }
  // zlib accepts what the portable decoder refuses: several gzip members, and data after the end that
  // starts with a zero byte. Then the last 4 bytes are not the length of the output.
  if (gzipSizeHint(bytes) !== sink.length >>> 0) {
    portable(); // reports the data after the end, with its byte offset
    throw new DatasetError("corrupt", file, "gzip length check failed: the trailer does not match the data");
  }
}

/**
 * Gunzips with Node's native zlib on the thread pool (several files decompress in parallel, faster than
 * the portable decoder), in 64 KiB output chunks counted against the limits of `options` (as the portable
 * {@link gunzip}: decompression stops as soon as the output exceeds them). On failure, the portable
 * decoder re-reads the file to report exactly what is wrong (expected vs found CRC or length, truncation,
 * data after the end of the gzip data), as in the browser.
 * @throws DatasetError naming `file`
 */
export async function gunzipFile(
  bytes: Uint8Array,
  file: string,
  options: DecompressOptions = {},
): Promise<Uint8Array> {
  const sink = new InflateSink(file, "gzip data", options, gzipSizeHint(bytes), bytes.length);
  await nativeGunzip(bytes, file, sink, () => gunzip(bytes, file, options));
  return sink.result();
}

/** Bytes read from disk at a time by {@link streamDataFile}, into one buffer reused for the whole file. */
const READ_CHUNK = 1 << 18;

/** What {@link streamDataFile} tells the consumer's factory before the first chunk. */
export interface StreamedFileInfo {
  /** The file's path. */
  readonly path: string;
  /** Its size in bytes, as read. */
  readonly size: number;
  /** True when it is gzip (by its signature): the consumer then gets the decompressed bytes. */
  readonly gzip: boolean;
}

/** Options of {@link streamDataFile}. */
export interface StreamDataFileOptions {
  /** Limits on the decompressed output of a gzip file (default: `maxBytes` 256 MiB). */
  limits?: DecompressOptions;
  /** Check the file against this spec's published SHA-256 (as {@link verifyChecksum} does), hashing as it streams. */
  verify?: DataFileSpec;
}

/**
 * Streams a local data file to a consumer without ever holding it whole: the file is read in 256 KiB
 * pieces into one reused buffer, and a gzip file goes through Node's zlib (the checks, limits and error
 * messages of {@link gunzipFile}: on a zlib error the file is read again, whole, by the portable decoder
 * to say exactly what is wrong). `start` gets the file's size and kind before the first chunk and returns
 * the consumer of its content (the decompressed bytes of a gzip file, else the file's bytes); each chunk is
 * valid only during the call. With `verify`, the SHA-256 is computed while streaming and checked at the end.
 * @returns the number of content bytes
 * @throws DatasetError `unreadable` when the file cannot be read, or as {@link gunzipFile} and
 *   {@link verifyChecksum}; or what the consumer throws
 */
export async function streamDataFile(
  p: string,
  start: (file: StreamedFileInfo) => ChunkConsumer,
  options: StreamDataFileOptions = {},
): Promise<number> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(p, "r");
  } catch (e) {
    throw unreadable(p, e);
  }
  try {
    const read = async (buf: Uint8Array, pos: number): Promise<number> => {
      try {
        return (await fh.read(buf, 0, buf.length, pos)).bytesRead;
      } catch (e) {
        throw unreadable(p, e);
      }
    };
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (e) {
      throw unreadable(p, e);
    }
    const buf = new Uint8Array(Math.max(1, Math.min(READ_CHUNK, size)));
    let got = await read(buf, 0);
    const gzip = got >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
    const consumer = start({ path: p, size, gzip });
    const spec = options.verify;
    const fileHash = spec ? createHash("sha256") : null;
    // the content's digest is needed only where the file's own does not apply (e.g. digits.csv.gz)
    const contentHash = spec && gzip && !fileDigestApplies(spec, true) ? createHash("sha256") : null;
    const limits = options.limits ?? {};
    const sink = gzip
      ? new InflateSink(p, "gzip data", limits, null, size, undefined, {
          forward: contentHash
            ? (chunk) => {
                contentHash.update(chunk);
                consumer(chunk);
              }
            : consumer,
        })
      : null;
    const z = sink ? zlibGunzip(sink) : null;
    const tail = new Uint8Array(8); // the last bytes read: the gzip trailer
    let pos = 0;
    try {
      while (got > 0) {
        const chunk = buf.subarray(0, got);
        fileHash?.update(chunk);
        if (z) await z.write(chunk);
        else consumer(chunk);
        const keep = Math.min(8, got);
        tail.copyWithin(0, keep);
        tail.set(chunk.subarray(got - keep), 8 - keep);
        pos += got;
        got = pos < size ? await read(buf, pos) : 0;
      }
      if (z) await z.end();
    } catch (e) {
      if (e instanceof FromSink) throw e.error;
      if (!z || e instanceof DatasetError) throw e;
      // a zlib error: the portable decoder says exactly what is wrong (it needs the whole file)
      gunzipInto(await readDataFile(p), () => {}, p, limits);
      throw zlibError(e, p);
    }
    if (sink && (pos < 18 || new DataView(tail.buffer).getUint32(4, true) !== sink.length >>> 0)) {
      gunzipInto(await readDataFile(p), () => {}, p, limits); // reports the data after the end
      throw new DatasetError("corrupt", p, "gzip length check failed: the trailer does not match the data");
    }
    if (spec) {
      const digest = fileHash!.digest("hex");
      checkDigests(
        spec,
        p,
        gzip,
        () => digest,
        () => (contentHash ? contentHash.digest("hex") : digest),
      );
    }
    return sink ? sink.length : pos;
  } finally {
    await fh.close();
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

/** A file-system error as an `unreadable` {@link DatasetError} naming the path and the error code. */
function unreadable(p: string, e: unknown, advice = ""): DatasetError {
  const code = (e as { code?: unknown }).code ?? "no error code";
  const msg = e instanceof Error ? e.message : String(e);
  return new DatasetError("unreadable", p, `cannot read the data file (${String(code)}): ${msg}${advice}`, {
    cause: e,
  });
}

/**
 * Reads a local data file.
 * @throws DatasetError `unreadable` naming the path and the system error code (EACCES, EISDIR, ENOENT, ...)
 */
export async function readDataFile(p: string): Promise<Uint8Array> {
  try {
    return await readFile(p);
  } catch (e) {
    throw unreadable(p, e);
  }
}

/**
 * The first of `paths` that is an existing file. Only "no such file" (ENOENT) moves on to the next path:
 * any other error (EACCES, ELOOP, ...) or something that is not a file is an error at once, rather than
 * a reason to download the file again.
 */
async function firstFile(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(p);
    } catch (e) {
      if ((e as { code?: unknown }).code === "ENOENT") continue;
      throw unreadable(p, e, ". Fix it or remove it: a file that is there is not downloaded again");
    }
    if (info.isFile()) return p;
    const found = info.isDirectory() ? "a directory" : "something that is not a regular file";
    throw new DatasetError(
      "unreadable",
      p,
      `expected a data file, found ${found}: remove it or move it away`,
    );
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

/** True when a process with this id runs (on this machine). */
function processRuns(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0); // signal 0: only checks
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code === "EPERM"; // it exists, but is not ours
  }
}

/**
 * Removes the temporary files (`<name>.<pid>-<random>.part`) that earlier downloads of `target` left
 * behind when interrupted: those of processes that no longer run, and any older than {@link STALE_PART_MS}.
 */
async function removeStaleParts(target: string, log?: (message: string) => void): Promise<void> {
  const dir = path.dirname(target);
  const base = `${path.basename(target)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // no directory yet: nothing to clean
  }
  for (const name of names) {
    const m = name.startsWith(base) ? /^(\d+)-[0-9a-z]+\.part$/i.exec(name.slice(base.length)) : null;
    if (!m) continue;
    const p = path.join(dir, name);
    try {
      const age = Date.now() - (await stat(p)).mtimeMs;
      if (age < STALE_PART_MS && processRuns(Number(m[1]))) continue; // maybe a download in progress
      await rm(p, { force: true });
      log?.(`removed stale temporary file ${p}`);
    } catch {
      // gone meanwhile, or not removable: harmless, the download writes its own temporary file
    }
  }
}

/** A request that took longer than its time limit. */
class RequestTimeout extends Error {
  constructor(readonly ms: number) {
    super(`timed out after ${fmt(ms)} ms`);
  }
}

/** An HTTP response that is not 2xx. */
class HttpStatusError extends Error {}

/**
 * Fetches `url` and reads the body within `ms` milliseconds: the request is aborted through its signal
 * then, and the result is abandoned even if the fetch function ignores the signal.
 */
async function fetchBytes(fetchFn: FetchLike, url: string, ms: number): Promise<Uint8Array> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        const e = new RequestTimeout(ms);
        reject(e);
        controller.abort(e);
      },
      Math.min(ms, 2 ** 31 - 1),
    );
  });
  const work = (async () => {
    const res = await fetchFn(url, { signal: controller.signal });
    if (!res.ok) throw new HttpStatusError(`HTTP ${res.status} ${res.statusText}`.trimEnd());
    return new Uint8Array(await res.arrayBuffer());
  })();
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The overall deadline of one call's downloads. */
interface Deadline extends DownloadTimeouts {
  /** `Date.now()` value at which it passes. */
  readonly end: number;
  /** Set when a URL was skipped or cut short because of it. */
  reached: boolean;
}

/**
 * Tries each URL of `spec` in turn, within the deadline; returns the cached path, or one line per URL
 * saying what happened (timeout, HTTP status, checksum mismatch, network error, skipped).
 */
async function download(
  spec: DataFileSpec,
  cacheDir: string,
  options: FetchOptions,
  deadline: Deadline,
): Promise<string | string[]> {
  const fetchFn: FetchLike | undefined = options.fetch ?? globalThis.fetch;
  const failures: string[] = [];
  const target = path.join(cacheDir, ...spec.path.split("/"));
  await removeStaleParts(target, options.log);
  for (const url of spec.urls) {
    const left = deadline.end - Date.now();
    if (left <= 0) {
      deadline.reached = true;
      failures.push(`skipped: ${url}: the overall download deadline (${deadline.source}) had passed`);
      continue;
    }
    const ms = Math.min(deadline.requestMs, left);
    let bytes: Uint8Array;
    try {
      if (!fetchFn) throw new Error("no fetch function available");
      options.log?.(`downloading ${url}`);
      bytes = await fetchBytes(fetchFn, url, ms);
      verifyChecksum(bytes, spec, url, undefined, contentLimits(spec, url, options));
    } catch (e) {
      let what: string;
      if (e instanceof RequestTimeout) {
        what = `${url}: ${e.message}`;
        if (ms < deadline.requestMs) {
          deadline.reached = true;
          what += ` (the overall deadline ${deadline.source} was reached)`;
        }
      } else if (e instanceof HttpStatusError) what = `${url}: ${e.message}`;
      else if (e instanceof DatasetError)
        what = e.message; // checksum mismatch, too large: names the URL
      else what = `${url}: network error: ${describeError(e)}`;
      failures.push(`tried: ${what}`);
      continue;
    }
    try {
      await writeFileAtomic(target, bytes);
    } catch (e) {
      const code = (e as { code?: unknown }).code ?? "no error code";
      failures.push(
        `tried: ${url}: downloaded and verified, but saving it to ${target} failed (${String(code)}): ${describeError(e)}`,
      );
      return failures; // a local problem: the other mirrors would fail the same way
    }
    options.log?.(`saved ${target}`);
    return target;
  }
  return failures;
}

/**
 * Makes sure the files exist locally and returns their paths, keyed by their path in the data directory
 * (e.g. `"mnist/train-images-idx3-ubyte.gz"`; the value may be the uncompressed stand-in). Looks in the
 * directories of {@link resolveDataDirs}, downloads what is missing into the cache (verified, atomic)
 * within the deadline of {@link resolveDownloadTimeouts}.
 * @throws DatasetError `missing-files` listing the missing files, where they were looked for, the URLs
 *   tried with what went wrong (or skipped at the deadline), and where to put the files by hand;
 *   `unreadable` when a file exists but cannot be read
 * @throws RangeError when a time limit (option or environment variable) is not a positive number
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
  let deadline: Deadline | undefined;
  for (const m of missing) {
    if (options.download === false) {
      m.failures.push("download disabled (download: false)");
      continue;
    }
    if (!deadline) {
      const t = resolveDownloadTimeouts(options);
      deadline = { ...t, end: Date.now() + t.totalMs, reached: false };
    }
    const r = await download(m.spec, dirs.cacheDir, options, deadline);
    if (typeof r === "string") found.set(m.spec.path, r);
    else m.failures = r;
  }
  const still = missing.filter((m) => !found.has(m.spec.path));
  if (still.length === 0) return found;
  const lines = [`missing data file${still.length > 1 ? "s" : ""} (not found locally, not downloaded):`];
  for (const { spec, failures } of still) {
    lines.push(`  ${spec.path}`);
    lines.push(`    looked for: ${dirs.search.flatMap((d) => candidates(d, spec)).join(", ")}`);
    for (const f of failures) lines.push(`    ${f}`);
  }
  if (deadline?.reached) {
    lines.push(
      `downloads stopped at the overall deadline of ${fmt(deadline.totalMs)} ms (${deadline.source})`,
    );
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

/** Options of the Node loaders (`timeoutMs` is the one for a command-line `--timeout`). */
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
      const bytes = await readDataFile(p);
      const limits = contentLimits(spec, p, options);
      const content = isGzip(bytes) ? await gunzipFile(bytes, p, limits) : bytes;
      if (options.verify) verifyChecksum(bytes, spec, p, content, limits);
      out.set(spec.path, { path: p, content });
    }),
  );
  return out;
}
