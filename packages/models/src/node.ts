/**
 * `@gradgraph/models/node`: saving and loading model files on Node (the byte format is in `io.ts`),
 * and {@link progressBar}, a terminal progress display for training.
 * @packageDocumentation
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  type DeserializeOptions,
  deserializeModel,
  ModelFileError,
  type ModelToSave,
  type SavedModel,
  serializeModel,
} from "./io.js";

function withFile(path: string, e: unknown, action: string): ModelFileError {
  if (e instanceof ModelFileError) {
    return e.file === path ? e : new ModelFileError(e.detail, e.code, path, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new ModelFileError(`cannot ${action}: ${msg}`, "io", path, { cause: e });
}

/**
 * Writes `model` to `path` atomically: the bytes go to a temporary file in the same directory,
 * which is flushed to disk (fsync) and then renamed over `path`. If anything fails (serialising,
 * writing, syncing, renaming), the temporary file is removed and an existing file at `path` is left
 * untouched, so `path` never holds a half-written model. Errors are {@link ModelFileError}s naming `path`.
 */
export async function saveModel(path: string, model: ModelToSave): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = serializeModel(model);
  } catch (e) {
    throw withFile(path, e, "save the model");
  }
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let fh: FileHandle | undefined;
  let created = false;
  try {
    fh = await open(tmp, "wx");
    created = true;
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    if (created) await rm(tmp, { force: true }).catch(() => undefined);
    throw withFile(path, e, "save the model");
  }
  // make the rename itself durable; best effort (directories cannot be opened for sync everywhere)
  try {
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // ignored: the data file itself is already synced
  }
}

/**
 * Reads and validates the model file at `path` (see {@link deserializeModel} for the checks and
 * `options.expectGraph`). Errors are {@link ModelFileError}s naming `path`.
 */
export async function loadModel(
  path: string,
  options: Omit<DeserializeOptions, "fileName"> = {},
): Promise<SavedModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw withFile(path, e, "read the model file");
  }
  try {
    return deserializeModel(bytes, { ...options, fileName: path });
  } catch (e) {
    throw withFile(path, e, "load the model");
  }
}

export * from "./presets/node.js";
export {
  isInteractiveStream,
  type ProgressBarOptions,
  type ProgressStream,
  progressBar,
} from "./progress.js";
export type { DeserializeOptions, ModelToSave, SavedModel };
export { ModelFileError };
