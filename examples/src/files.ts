/**
 * Writing output files atomically: the bytes go to a temporary file in the same directory, which
 * is then renamed over the target, so a reader (or an interrupted run) never sees half a file.
 * @module
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Writes `data` to `path` via a temporary file and a rename; creates the directory when needed. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** JSON with non-finite numbers written as null and typed arrays as plain arrays, pretty-printed. */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === "number" && !Number.isFinite(v)) return null;
      if (ArrayBuffer.isView(v) && !(v instanceof DataView))
        return Array.from(v as unknown as ArrayLike<number>);
      return v;
    },
    indent,
  );
}

/** Writes `value` as JSON (see {@link toJson}) atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${toJson(value)}\n`);
}

/** Thrown by {@link checkOutputDir}: the output directory cannot be created or written; the message names it. */
export class OutputDirError extends Error {
  override readonly name = "OutputDirError";

  /**
   * @param path the directory
   * @param message what went wrong, naming `path`
   * @param options the underlying error as `cause`
   */
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error)) return String(e);
  return err.code && !e.message.startsWith(err.code) ? `${err.code}: ${e.message}` : e.message;
}

/**
 * Makes sure the output directory can hold the example's files before anything runs: creates it
 * (and its parents) when missing, then writes and removes a small probe file in it, the way the
 * atomic writes will (a temporary file in the same directory). Throws an {@link OutputDirError}
 * naming `dir` when it cannot be created (e.g. a parent is a regular file), is not a directory, or
 * cannot be written (read-only, no permission, full).
 */
export async function checkOutputDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new OutputDirError(dir, `cannot create the output directory '${dir}' (${reason(e)})`, { cause: e });
  }
  const st = await stat(dir);
  if (!st.isDirectory())
    throw new OutputDirError(dir, `the output directory '${dir}' exists but is not a directory`);
  const probe = join(dir, `.gradgraph-write-check.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeFile(probe, "gradgraph: checking that this directory is writable\n");
  } catch (e) {
    throw new OutputDirError(dir, `cannot write to the output directory '${dir}' (${reason(e)})`, {
      cause: e,
    });
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}
