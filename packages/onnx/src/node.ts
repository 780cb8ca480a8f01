/**
 * Node entry of the ONNX package: write ONNX files atomically (and read them back).
 * @module
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Graph, ParamStore } from "@gradgraph/core";
import { OnnxError } from "./errors.js";
import { type ExportOnnxOptions, exportOnnx } from "./export/export.js";
import { type ImportedOnnx, type ImportOnnxOptions, importOnnx } from "./import/import.js";

/**
 * Exports `graph` with {@link exportOnnx} and writes the model to `path` atomically (a temporary
 * file in the same directory, flushed, then renamed), creating the directory when needed. An
 * existing file is replaced only once the new one is complete. Returns the bytes written.
 */
export async function saveOnnx(
  path: string,
  graph: Graph,
  params: ParamStore,
  options: ExportOnnxOptions = {},
): Promise<Uint8Array> {
  const bytes = exportOnnx(graph, params, options);
  await writeAtomic(path, bytes);
  return bytes;
}

/** Writes `bytes` to `path` through a flushed temporary file and a rename. */
export async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fh = await open(tmp, "wx");
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new Error(
      `could not write the ONNX model '${path}': ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/**
 * Reads the ONNX model file `path` and imports it with {@link importOnnx}.
 * @throws OnnxError naming the file when it cannot be read or is not an importable model (the
 * importer's message follows the file name).
 */
export async function loadOnnx(path: string, options: ImportOnnxOptions = {}): Promise<ImportedOnnx> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new OnnxError(
      `could not read the ONNX model '${path}': ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  try {
    return importOnnx(bytes, options);
  } catch (e) {
    throw new OnnxError(`'${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
}
