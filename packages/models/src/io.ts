/**
 * Saving and loading models as bytes (browser-safe; the Node file functions are in `./node.ts`).
 *
 * File layout (version 2; all integers little-endian):
 *
 * | bytes | content |
 * |---|---|
 * | 0..7 | magic `GGMODEL\0` |
 * | 8..11 | format version (uint32) |
 * | 12..15 | manifest length L in bytes (uint32) |
 * | 16..19 | CRC-32 of the manifest bytes (uint32) |
 * | 20..20+L | manifest: UTF-8 JSON ({@link ModelManifest}) |
 * | then | zero padding up to a multiple of 8: the start W of the weights section |
 * | W..W+B | the weights: each param's elements little-endian, at `W + offset`, offsets multiples of 8 |
 *
 * The manifest holds the graph (as core's `graphToJSON` object), one entry per param (name, shape,
 * dtype, offset, byteLength), the user metadata and the CRC-32 of the whole weights section.
 *
 * Versions. Version 2 embeds graph format version 2, which writes non-finite constants as the
 * strings `"NaN"`, `"Infinity"`, `"-Infinity"` (and `-0` as `"-0"`); version 1 files are still read.
 * Version 3 adds the training state ({@link ModelToSave.training}: the model's training-step count
 * and the optimizer's state, see {@link ManifestTraining}); its optimizer buffers are stored in the
 * weights section after the params, each float64, under the same layout rules. A model saved
 * without training state is still written as version 2, so older readers keep reading it.
 *
 * The reader trusts nothing in the file. The params' byte ranges must be listed in storage order,
 * each starting at the next multiple of 8 after the previous one ends (the first at 0), and the
 * weights section must end at the next multiple of 8 after the last one; all padding is zero.
 * Overlapping, out-of-order or out-of-bounds ranges, unused bytes and non-zero padding are errors
 * naming the params and byte ranges. Each param's `byteLength` must equal its elements times its
 * dtype's size. Every declared size is checked against the bytes actually present before anything
 * is allocated, so loading a file of `n` bytes allocates at most `n` bytes of param buffers (plus
 * the decoded manifest text and its parsed JSON), whatever the file declares. Values nested more
 * than 32 levels deep in the graph are rejected (see core's `parseGraph`). A file that loads is
 * therefore laid out exactly as {@link serializeModel} writes it.
 * @module
 */
import {
  type DType,
  type Graph,
  graphToJSON,
  isDType,
  ParamStore,
  parseGraph,
  shapesEqual,
  shapeToString,
  sizeOf,
  Tensor,
} from "@gradgraph/core";
import { crc32 } from "./crc32.js";
import type { Model } from "./model.js";
import type { Optimizer, OptimizerState, ParamOptimizerState } from "./optim/types.js";

/** The 8 magic bytes every model file starts with, as ASCII text: `GGMODEL` followed by a zero byte. */
export const MODEL_MAGIC = "GGMODEL\0";
const MAGIC_BYTES = Uint8Array.from(MODEL_MAGIC, (c) => c.charCodeAt(0));
/** The `format` tag of the manifest. */
export const MODEL_FORMAT = "gradgraph.model";
/**
 * The newest file format version this build reads, and the one it writes for a model saved with
 * training state; without it, files are written as version 2 ({@link MODEL_VERSION_NO_TRAINING}).
 */
export const MODEL_VERSION = 3;
/** The version written for a model saved without training state (readable by older builds). */
export const MODEL_VERSION_NO_TRAINING = 2;
/** The oldest file format version this build reads. */
export const MODEL_MIN_VERSION = 1;
/**
 * How deeply the user metadata may nest objects and arrays (the metadata object itself is level 1).
 * {@link serializeModel} refuses deeper metadata and {@link deserializeModel} rejects it, so a
 * loaded model's metadata can always be serialised again.
 */
export const MAX_METADATA_DEPTH = 64;
/** Size of the fixed header before the manifest. */
const HEADER_BYTES = 20;

/** What went wrong, as a stable code (see {@link ModelFileError}). */
export type ModelFileErrorCode =
  /** The file does not start with `GGMODEL\0`. */
  | "bad-magic"
  /** The format version is newer than this reader (or invalid). */
  | "unsupported-version"
  /** The file ends before the header, manifest or weights do. */
  | "truncated"
  /** Bytes follow the end of the weights section. */
  | "trailing-data"
  /** A CRC-32 of the manifest or the weights does not match. */
  | "checksum"
  /** The manifest is not valid JSON or does not describe a valid model. */
  | "manifest"
  /** A param's shape or dtype differs from the expected architecture (or an unexpected param). */
  | "mismatch"
  /** A param the graph or the expected architecture declares is not in the file. */
  | "missing-param"
  /** The model given to save is inconsistent or its metadata is not JSON-serialisable. */
  | "invalid-model"
  /** Reading or writing the file failed. */
  | "io";

/**
 * Error raised by saving and loading models (`serializeModel`/`deserializeModel`, and `saveModel`/
 * `loadModel` in `@gradgraph/models/node`): names the file (when known), what was wrong, and expected
 * vs found. `code` classifies the problem (bad magic bytes, a checksum mismatch, a param that does not
 * fit the expected architecture, an I/O failure, ...), and `detail` is the message without the file.
 *
 * @example
 * ```ts
 * import { deserializeModel, ModelFileError } from "@gradgraph/models";
 *
 * try {
 *   deserializeModel(new Uint8Array([1, 2, 3]), { fileName: "model.ggm" });
 * } catch (e) {
 *   if (e instanceof ModelFileError) console.log(e.code, e.message);
 *   // bad-magic model.ggm: not a gradgraph model file: expected magic bytes 47 47 4d 4f 44 45 4c 00 ...
 * }
 * ```
 */
export class ModelFileError extends Error {
  override name = "ModelFileError";
  /** What went wrong. */
  readonly code: ModelFileErrorCode;
  /** The file concerned, when known. */
  readonly file: string | undefined;
  /** The message without the file prefix. */
  readonly detail: string;
  /** Creates an error; the message is `"<file>: <detail>"` when `file` is given. */
  constructor(detail: string, code: ModelFileErrorCode, file?: string, options?: { cause?: unknown }) {
    super(file !== undefined ? `${file}: ${detail}` : detail, options);
    this.code = code;
    this.file = file;
    this.detail = detail;
  }
}

/** One param's entry in the manifest. */
export interface ManifestParam {
  /** Param name (as in the graph). */
  name: string;
  /** Concrete shape. */
  shape: number[];
  /** Element type. */
  dtype: DType;
  /**
   * Byte offset from the start of the weights section: 0 for the first param, then the first
   * multiple of 8 at or after the end of the previous one.
   */
  offset: number;
  /** Byte length: elements times 4 (float32) or 8 (float64). */
  byteLength: number;
}

/** The JSON manifest of a model file. */
export interface ModelManifest {
  /** Always {@link MODEL_FORMAT}. */
  format: typeof MODEL_FORMAT;
  /** Format version (equals the header's). */
  version: number;
  /** The writer, e.g. `@gradgraph/models`. */
  createdBy: string;
  /** The graph, as the object form of `graphToJSON`. */
  graph: unknown;
  /** Param entries, in the graph's declaration order. */
  params: ManifestParam[];
  /** The weights section: its length and CRC-32 (8 lowercase hex digits). */
  weights: { byteLength: number; checksum: { algorithm: "crc32"; value: string } };
  /** User metadata (any JSON object). */
  metadata: Record<string, unknown>;
  /** The training state (version 3 only; absent when none was saved). */
  training?: ManifestTraining;
}

/** The training state in a version-3 manifest. */
export interface ManifestTraining {
  /** The model's {@link TrainingState.trainingSteps}, or null when not saved. */
  trainingSteps: number | null;
  /** The optimizer's state without its buffers (stored in the weights section), or null. */
  optimizer: {
    /** {@link OptimizerState.name}. */
    name: string;
    /** {@link OptimizerState.iterations}. */
    iterations: number;
    /** {@link OptimizerState.lr}. */
    lr: number;
    /** {@link OptimizerState.slots}. */
    slots: string[];
    /**
     * Per param with state: its name, its step count, and one float64 byte range per slot (in the
     * weights section, after the params and the previous buffers, at the next multiple of 8).
     */
    params: { name: string; steps: number; buffers: { offset: number; byteLength: number }[] }[];
  } | null;
}

/**
 * What a model file may hold besides the params to resume training exactly: the model's training
 * step count (the dropout keys' position, {@link Model.trainingSteps}) and the optimizer's state
 * (step count, schedule position, momentum or Adam moments; {@link Optimizer.getState}).
 * {@link trainingStateOf} collects it, {@link restoreTraining} puts it back.
 */
export interface TrainingState {
  /** The model's {@link Model.trainingSteps}. */
  trainingSteps?: number;
  /** The optimizer's state. */
  optimizer?: OptimizerState;
}

/** A model read back by {@link deserializeModel}. */
export interface SavedModel {
  /** The validated graph. */
  graph: Graph;
  /** The params (fresh buffers, bit-identical to what was saved). */
  params: ParamStore;
  /** The user metadata (`{}` when none was saved). */
  metadata: Record<string, unknown>;
  /** The training state (absent when the file has none: versions 1 and 2, or saved without it). */
  training?: TrainingState;
}

/** What {@link serializeModel} saves. */
export interface ModelToSave {
  /** The graph; every param it declares must be in `params` with the same shape and dtype. */
  graph: Graph;
  /** Param values. Only the graph's params are saved (in the graph's declaration order). */
  params: ParamStore;
  /** JSON-serialisable user data (e.g. training settings, label names, accuracy). */
  metadata?: Record<string, unknown>;
  /**
   * Training state to save with the model so training can resume exactly (see
   * {@link trainingStateOf}); the file is then format version 3. Every optimizer buffer must belong
   * to a param of the graph and have as many elements.
   */
  training?: TrainingState;
}

/** Options of {@link deserializeModel}. */
export interface DeserializeOptions {
  /**
   * The architecture the caller expects: its params must match the file's exactly (same names, and
   * for each the same shape and dtype), otherwise a `mismatch` or `missing-param` error is thrown.
   */
  expectGraph?: Graph;
  /** Name used in error messages (e.g. the path the bytes came from). */
  fileName?: string;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;
const bytesPer = (dtype: DType): number => (dtype === "float32" ? 4 : 8);
const hex32 = (n: number): string => n.toString(16).padStart(8, "0");
const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A short description of a JSON value for messages (never walks deep or large values). */
function show(x: unknown): string {
  if (typeof x === "string") return JSON.stringify(x.length > 60 ? `${x.slice(0, 60)}...` : x);
  if (typeof x !== "object" || x === null) return String(x);
  if (Array.isArray(x)) {
    return x.length <= 8 && x.every((v) => typeof v !== "object" || v === null)
      ? JSON.stringify(x)
      : `an array of ${x.length}`;
  }
  return "an object";
}

/** True when `value` nests objects or arrays more than `limit` levels deep (recursion bounded by `limit`). */
function nestsDeeper(value: unknown, limit: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (limit === 0) return true;
  for (const v of Array.isArray(value) ? value : Object.values(value))
    if (nestsDeeper(v, limit - 1)) return true;
  return false;
}

function describeBytes(b: Uint8Array): string {
  const hex = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join(" ");
  const ascii = Array.from(b, (v) => (v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : ".")).join("");
  return `${hex} ("${ascii}")`;
}

/** Writes `t`'s elements little-endian into `out` at `at`. */
function writeTensor(
  out: Uint8Array,
  at: number,
  t: { dtype: DType; data: Float32Array | Float64Array },
): void {
  if (littleEndianHost) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + at, t.data.byteLength);
  const d = t.data;
  if (t.dtype === "float32") for (let i = 0; i < d.length; i++) view.setFloat32(i * 4, d[i]!, true);
  else for (let i = 0; i < d.length; i++) view.setFloat64(i * 8, d[i]!, true);
}

/** Reads a tensor of `shape`/`dtype` from little-endian bytes (into a fresh, aligned buffer). */
function readTensor(bytes: Uint8Array, at: number, shape: readonly number[], dtype: DType): Tensor {
  const n = sizeOf(shape);
  const bpe = bytesPer(dtype);
  const buf = new ArrayBuffer(n * bpe);
  if (littleEndianHost) new Uint8Array(buf).set(bytes.subarray(at, at + n * bpe));
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, n * bpe);
    const out = dtype === "float32" ? new Float32Array(buf) : new Float64Array(buf);
    for (let i = 0; i < n; i++)
      out[i] = dtype === "float32" ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
  }
  return new Tensor(shape, dtype === "float32" ? new Float32Array(buf) : new Float64Array(buf));
}

/**
 * Encodes a model (graph, params, metadata) into the versioned single-file format described in
 * this module. Deterministic: the same model gives the same bytes. Throws a {@link ModelFileError}
 * (`invalid-model`) when a graph param is missing from `params` or differs in shape/dtype, or when
 * `metadata` is not a JSON-serialisable object (e.g. holds a BigInt or a cycle) or nests deeper than
 * {@link MAX_METADATA_DEPTH} levels. Metadata is written as `JSON.stringify` writes it.
 */
export function serializeModel(model: ModelToSave): Uint8Array {
  const { graph, params } = model;
  const metadata = model.metadata ?? {};
  if (!isRecord(metadata)) {
    throw new ModelFileError(
      `metadata must be a plain object, got ${Array.isArray(metadata) ? "an array" : typeof metadata}`,
      "invalid-model",
    );
  }
  const entries: ManifestParam[] = [];
  const tensors: Tensor[] = [];
  let offset = 0;
  for (const [name, spec] of Object.entries(graph.params)) {
    if (!params.has(name)) {
      throw new ModelFileError(
        `cannot save: the graph declares param '${name}' (${spec.dtype} ${shapeToString(spec.shape)}) but the param store has no such param`,
        "invalid-model",
      );
    }
    const t = params.get(name);
    if (!shapesEqual(t.shape, spec.shape) || t.dtype !== spec.dtype) {
      throw new ModelFileError(
        `cannot save: param '${name}' is ${t.dtype} ${shapeToString(t.shape)} in the store but the graph declares ${spec.dtype} ${shapeToString(spec.shape)}`,
        "invalid-model",
      );
    }
    offset = align8(offset);
    entries.push({ name, shape: [...t.shape], dtype: t.dtype, offset, byteLength: t.data.byteLength });
    tensors.push(t);
    offset += t.data.byteLength;
  }
  const training: unknown = model.training;
  const extra: { at: number; data: Float64Array }[] = [];
  let manifestTraining: ManifestTraining | undefined;
  if (training !== undefined) {
    const invalid = (what: string) =>
      new ModelFileError(`cannot save the training state: ${what}`, "invalid-model");
    if (!isRecord(training)) throw invalid("it is not an object");
    const steps = training.trainingSteps;
    if (steps !== undefined && !(Number.isSafeInteger(steps) && (steps as number) >= 0))
      throw invalid(`trainingSteps must be an integer >= 0, got ${show(steps)}`);
    let opt: ManifestTraining["optimizer"] = null;
    const st = training.optimizer;
    if (st !== undefined) {
      if (!isRecord(st) || typeof st.name !== "string") throw invalid("the optimizer state has no name");
      if (!Number.isSafeInteger(st.iterations) || (st.iterations as number) < 0)
        throw invalid(`optimizer iterations must be an integer >= 0, got ${show(st.iterations)}`);
      if (typeof st.lr !== "number" || !Number.isFinite(st.lr) || st.lr < 0)
        throw invalid(`optimizer lr must be a finite number >= 0, got ${show(st.lr)}`);
      if (!Array.isArray(st.slots) || !st.slots.every((x) => typeof x === "string"))
        throw invalid("optimizer slots must be an array of strings");
      const iterations = st.iterations as number;
      const params: NonNullable<ManifestTraining["optimizer"]>["params"] = [];
      for (const [name, ps] of Object.entries(st.params ?? {}) as [string, ParamOptimizerState][]) {
        const spec = Object.hasOwn(graph.params, name) ? graph.params[name] : undefined;
        if (spec === undefined)
          throw invalid(`the optimizer has state for param '${name}', which the graph does not declare`);
        if (!isRecord(ps)) throw invalid(`the optimizer state of param '${name}' is not an object`);
        if (!Number.isSafeInteger(ps.steps) || ps.steps < 1)
          throw invalid(`param '${name}': optimizer steps must be an integer >= 1, got ${show(ps.steps)}`);
        if (!Array.isArray(ps.buffers) || ps.buffers.length !== st.slots.length)
          throw invalid(
            `param '${name}' has ${show(ps.buffers?.length)} optimizer buffers, expected ${st.slots.length}`,
          );
        const size = sizeOf(spec.shape as number[]);
        const buffers: { offset: number; byteLength: number }[] = [];
        for (const b of ps.buffers) {
          if (!(b instanceof Float64Array) || b.length !== size) {
            throw invalid(
              `param '${name}': every optimizer buffer must be a Float64Array of ${size} elements (the param's size)`,
            );
          }
          offset = align8(offset);
          buffers.push({ offset, byteLength: b.byteLength });
          extra.push({ at: offset, data: b });
          offset += b.byteLength;
        }
        params.push({ name, steps: ps.steps, buffers });
      }
      opt = { name: st.name, iterations, lr: st.lr, slots: [...st.slots], params };
    }
    manifestTraining = { trainingSteps: (steps as number | undefined) ?? null, optimizer: opt };
  }
  const version = manifestTraining === undefined ? MODEL_VERSION_NO_TRAINING : MODEL_VERSION;
  const weightBytes = align8(offset);
  const weights = new Uint8Array(weightBytes);
  entries.forEach((e, i) => {
    writeTensor(weights, e.offset, tensors[i]!);
  });
  for (const x of extra) writeTensor(weights, x.at, { dtype: "float64", data: x.data });
  const manifest: ModelManifest = {
    format: MODEL_FORMAT,
    version,
    createdBy: "@gradgraph/models",
    graph: JSON.parse(graphToJSON(graph)) as unknown,
    params: entries,
    weights: { byteLength: weightBytes, checksum: { algorithm: "crc32", value: hex32(crc32(weights)) } },
    metadata,
    ...(manifestTraining === undefined ? {} : { training: manifestTraining }),
  };
  let json: string;
  try {
    json = JSON.stringify(manifest);
  } catch (e) {
    throw new ModelFileError(
      `metadata is not JSON-serialisable: ${(e as Error).message}`,
      "invalid-model",
      undefined,
      {
        cause: e,
      },
    );
  }
  if (nestsDeeper(metadata, MAX_METADATA_DEPTH)) {
    throw new ModelFileError(`metadata nests more than ${MAX_METADATA_DEPTH} levels deep`, "invalid-model");
  }
  const manifestBytes = new TextEncoder().encode(json);
  const start = align8(HEADER_BYTES + manifestBytes.length);
  const out = new Uint8Array(start + weightBytes);
  out.set(MAGIC_BYTES, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, manifestBytes.length, true);
  view.setUint32(16, crc32(manifestBytes), true);
  out.set(manifestBytes, HEADER_BYTES);
  out.set(weights, start);
  return out;
}

/** `param 'W' (bytes 0..24 of the weights)`. */
const range = (e: ManifestParam): string =>
  `param '${e.name}' (bytes ${e.offset}..${e.offset + e.byteLength} of the weights)`;

function isShape(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/**
 * Validates the manifest's param entries against a weights section of `weightBytes` bytes: types,
 * sizes, bounds and overlaps, all before any param buffer is allocated. Returns them by name.
 */
function readParamEntries(
  list: unknown,
  weightBytes: number,
  bad: (what: string) => ModelFileError,
): Map<string, ManifestParam> {
  if (!Array.isArray(list)) throw bad("'params' is not an array");
  const entries = new Map<string, ManifestParam>();
  list.forEach((p: unknown, i: number) => {
    if (!isRecord(p) || typeof p.name !== "string") throw bad(`params[${i}] has no name`);
    const where = `param '${p.name}'`;
    if (entries.has(p.name)) throw bad(`${where} is listed twice`);
    if (!isShape(p.shape)) throw bad(`${where} has invalid shape ${show(p.shape)}`);
    if (!isDType(p.dtype)) throw bad(`${where} has invalid dtype ${show(p.dtype)}`);
    const what = `${where} (${p.dtype} ${shapeToString(p.shape)})`;
    // arithmetic only: a huge shape is refused here, long before anything is allocated for it
    const need = sizeOf(p.shape) * bytesPer(p.dtype);
    if (need > weightBytes) {
      throw bad(`${what} needs ${need} bytes, more than the weights section's ${weightBytes}`);
    }
    if (p.byteLength !== need) throw bad(`${what} has byteLength ${show(p.byteLength)}, expected ${need}`);
    const off = p.offset;
    if (typeof off !== "number" || !Number.isSafeInteger(off) || off < 0 || off % 8 !== 0) {
      throw bad(`${where} has offset ${show(off)}: it must be a non-negative multiple of 8`);
    }
    const e: ManifestParam = { name: p.name, shape: p.shape, dtype: p.dtype, offset: off, byteLength: need };
    if (off + need > weightBytes)
      throw bad(`${range(e)} ends after the weights section (${weightBytes} bytes)`);
    entries.set(p.name, e);
  });
  // no two ranges may share a byte: sweep them in storage order
  const byOffset = [...entries.values()].filter((e) => e.byteLength > 0).sort((a, b) => a.offset - b.offset);
  let last: ManifestParam | null = null;
  for (const e of byOffset) {
    if (last && e.offset < last.offset + last.byteLength) throw bad(`${range(e)} overlaps ${range(last)}`);
    if (!last || e.offset + e.byteLength > last.offset + last.byteLength) last = e;
  }
  return entries;
}

/**
 * Checks that the (valid, non-overlapping) ranges of `entries` are laid out in `weights` as the
 * writer lays them out: in the order listed, each at the first multiple of 8 after the previous one,
 * with zero padding between them, and that the weights section ends at the first multiple of 8
 * after the last one (no unused bytes).
 */
function checkLayout(
  entries: readonly ManifestParam[],
  weights: Uint8Array,
  bad: (what: string) => ModelFileError,
): void {
  const zeroPadding = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      if (weights[i] !== 0) {
        throw bad(`the padding bytes ${from}..${to} of the weights must be zero, byte ${i} is ${weights[i]}`);
      }
    }
  };
  // in the order listed, each range starts where the writer puts it: no gaps, no reordering
  let end = 0;
  for (const e of entries) {
    if (e.offset !== align8(end)) {
      throw bad(
        `${range(e)} starts at byte ${e.offset}, expected ${align8(end)}: params are stored in the order they are listed, each at the first multiple of 8 after the previous one`,
      );
    }
    zeroPadding(end, e.offset);
    end = e.offset + e.byteLength;
  }
  if (align8(end) !== weights.length) {
    throw bad(`the params end at byte ${end} but the weights section has ${weights.length} bytes`);
  }
  zeroPadding(end, weights.length);
}

/**
 * Decodes bytes written by {@link serializeModel}, checking everything: magic, version, lengths
 * (with byte offsets when the file is truncated), both checksums, the manifest and its graph, that
 * the file's params are exactly the graph's, and with `expectGraph` that they match that
 * architecture. Every failure is a {@link ModelFileError} with a {@link ModelFileErrorCode}.
 */
export function deserializeModel(bytes: Uint8Array, options: DeserializeOptions = {}): SavedModel {
  const file = options.fileName;
  const err = (detail: string, code: ModelFileErrorCode, cause?: unknown): ModelFileError =>
    new ModelFileError(detail, code, file, cause === undefined ? undefined : { cause });

  // header
  const head = bytes.subarray(0, Math.min(8, bytes.length));
  if (!head.every((b, i) => b === MAGIC_BYTES[i])) {
    throw err(
      `not a gradgraph model file: expected magic bytes ${describeBytes(MAGIC_BYTES)}, found ${describeBytes(head)}`,
      "bad-magic",
    );
  }
  if (bytes.length < HEADER_BYTES) {
    throw err(
      `truncated: the file is ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`,
      "truncated",
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version > MODEL_VERSION) {
    throw err(
      `unsupported format version ${version}: this build of @gradgraph/models reads versions up to ${MODEL_VERSION}; upgrade it to read this file`,
      "unsupported-version",
    );
  }
  if (version < MODEL_MIN_VERSION) {
    throw err(
      `invalid format version ${version} (expected ${MODEL_MIN_VERSION}..${MODEL_VERSION})`,
      "unsupported-version",
    );
  }
  const manifestLength = view.getUint32(12, true);
  const manifestEnd = HEADER_BYTES + manifestLength;
  if (manifestEnd > bytes.length) {
    throw err(
      `truncated: the manifest (${manifestLength} bytes) spans bytes ${HEADER_BYTES}..${manifestEnd} but the file ends at byte ${bytes.length}`,
      "truncated",
    );
  }
  const manifestBytes = bytes.subarray(HEADER_BYTES, manifestEnd);
  const manifestCrc = crc32(manifestBytes);
  const expectedManifestCrc = view.getUint32(16, true);
  if (manifestCrc !== expectedManifestCrc) {
    throw err(
      `manifest checksum mismatch: the header says CRC-32 ${hex32(expectedManifestCrc)}, the manifest bytes ${HEADER_BYTES}..${manifestEnd} give ${hex32(manifestCrc)} (the file is corrupted)`,
      "checksum",
    );
  }

  // manifest
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(manifestBytes));
  } catch (e) {
    throw err(`malformed manifest JSON: ${(e as Error).message}`, "manifest", e);
  }
  const bad = (what: string): ModelFileError => err(`invalid manifest: ${what}`, "manifest");
  if (!isRecord(raw)) throw bad("the top level is not an object");
  if (raw.format !== MODEL_FORMAT) throw bad(`format is ${show(raw.format)}, expected "${MODEL_FORMAT}"`);
  if (raw.version !== version) throw bad(`version ${show(raw.version)} differs from the header's ${version}`);
  const metadata = raw.metadata ?? {};
  if (!isRecord(metadata)) throw bad("'metadata' is not an object");
  if (nestsDeeper(metadata, MAX_METADATA_DEPTH))
    throw bad(`'metadata' nests more than ${MAX_METADATA_DEPTH} levels deep`);
  const w = raw.weights;
  if (
    !isRecord(w) ||
    !Number.isInteger(w.byteLength) ||
    (w.byteLength as number) < 0 ||
    !isRecord(w.checksum) ||
    w.checksum.algorithm !== "crc32" ||
    typeof w.checksum.value !== "string" ||
    !/^[0-9a-f]{8}$/.test(w.checksum.value)
  ) {
    throw bad(
      `'weights' must be {byteLength, checksum: {algorithm: "crc32", value: <8 hex digits>}}, found ${show(w)}`,
    );
  }
  const weightBytes = w.byteLength as number;
  const start = align8(manifestEnd);
  const end = start + weightBytes;
  if (end > bytes.length) {
    throw err(
      `truncated: the weights (${weightBytes} bytes) span bytes ${start}..${end} but the file ends at byte ${bytes.length} (${end - bytes.length} bytes missing)`,
      "truncated",
    );
  }
  if (end < bytes.length) {
    throw err(
      `${bytes.length - end} unexpected bytes after the weights: the file is ${bytes.length} bytes, the manifest describes ${end}`,
      "trailing-data",
    );
  }
  for (let i = manifestEnd; i < start; i++) {
    if (bytes[i] !== 0) {
      throw err(
        `invalid manifest padding: bytes ${manifestEnd}..${start} after the manifest must be zero, byte ${i} is ${bytes[i]} (the file is corrupted)`,
        "manifest",
      );
    }
  }
  const weights = bytes.subarray(start, end);
  const crc = hex32(crc32(weights));
  if (crc !== w.checksum.value) {
    throw err(
      `weights checksum mismatch: the manifest says CRC-32 ${w.checksum.value}, bytes ${start}..${end} give ${crc} (the file is corrupted)`,
      "checksum",
    );
  }
  const entries = readParamEntries(raw.params, weightBytes, bad);
  let graph: Graph;
  try {
    graph = parseGraph(raw.graph);
  } catch (e) {
    throw err(`invalid manifest: the graph is invalid: ${(e as Error).message}`, "manifest", e);
  }

  // the file's params must be exactly the graph's
  for (const [name, spec] of Object.entries(graph.params)) {
    const e = entries.get(name);
    if (!e) {
      throw err(
        `param '${name}' (${spec.dtype} ${shapeToString(spec.shape)}) is declared by the saved graph but missing from the file's params (file has: ${[...entries.keys()].join(", ") || "none"})`,
        "missing-param",
      );
    }
    if (!shapesEqual(e.shape, spec.shape) || e.dtype !== spec.dtype) {
      throw err(
        `param '${name}': the saved graph declares ${spec.dtype} ${shapeToString(spec.shape)} but the stored weights are ${e.dtype} ${shapeToString(e.shape)}`,
        "mismatch",
      );
    }
  }
  for (const name of entries.keys()) {
    if (!Object.hasOwn(graph.params, name))
      throw bad(`param '${name}' is stored but the saved graph does not declare it`);
  }
  const { training, buffers } = readTraining(raw.training, version, graph, weightBytes, bad);
  checkLayout([...entries.values(), ...buffers.map((b) => b.entry)], weights, bad);

  if (options.expectGraph) {
    const expected = options.expectGraph.params;
    for (const [name, spec] of Object.entries(expected)) {
      const e = entries.get(name);
      if (!e) {
        throw err(
          `param '${name}' expected by the architecture (${spec.dtype} ${shapeToString(spec.shape)}) is missing from the file (file has: ${[...entries.keys()].join(", ") || "none"})`,
          "missing-param",
        );
      }
      if (!shapesEqual(e.shape, spec.shape) || e.dtype !== spec.dtype) {
        throw err(
          `param '${name}': the architecture expects ${spec.dtype} ${shapeToString(spec.shape)}, the file has ${e.dtype} ${shapeToString(e.shape)}`,
          "mismatch",
        );
      }
    }
    for (const e of entries.values()) {
      if (!Object.hasOwn(expected, e.name)) {
        throw err(
          `the file has param '${e.name}' (${e.dtype} ${shapeToString(e.shape)}) that the expected architecture does not declare (it declares: ${Object.keys(expected).join(", ") || "none"})`,
          "mismatch",
        );
      }
    }
  }

  const params = new ParamStore();
  for (const name of Object.keys(graph.params)) {
    const e = entries.get(name)!;
    params.set(name, readTensor(weights, e.offset, e.shape, e.dtype));
  }
  if (training?.optimizer !== undefined) {
    const states = training.optimizer.params as Record<string, ParamOptimizerState>;
    for (const b of buffers) {
      const data = readTensor(weights, b.entry.offset, b.entry.shape, "float64").data as Float64Array;
      (states[b.param]!.buffers as Float64Array[]).push(data);
    }
  }
  return { graph, params, metadata, ...(training === null ? {} : { training }) };
}

/** One optimizer buffer of a version-3 file: its param, and its byte range as a layout entry. */
interface BufferEntry {
  param: string;
  entry: ManifestParam;
}

/**
 * Validates the manifest's `training` (version 3): the step count, the optimizer's fields, and every
 * optimizer buffer's param (declared by the graph), size (the param's, float64) and byte range
 * (inside the weights section), before anything is allocated. Returns the state with empty buffer
 * lists, filled by the caller once the layout is checked, and the buffers' ranges in listed order.
 */
function readTraining(
  raw: unknown,
  version: number,
  graph: Graph,
  weightBytes: number,
  bad: (what: string) => ModelFileError,
): { training: TrainingState | null; buffers: BufferEntry[] } {
  const buffers: BufferEntry[] = [];
  if (raw === undefined) return { training: null, buffers };
  if (version < 3) throw bad(`'training' needs format version 3, the file is version ${version}`);
  if (!isRecord(raw)) throw bad("'training' is not an object");
  const training: { trainingSteps?: number; optimizer?: OptimizerState } = {};
  const steps = raw.trainingSteps;
  if (steps !== null) {
    if (!Number.isSafeInteger(steps) || (steps as number) < 0)
      throw bad(`training.trainingSteps must be null or an integer >= 0, found ${show(steps)}`);
    training.trainingSteps = steps as number;
  }
  const o = raw.optimizer;
  if (o === null) return { training, buffers };
  if (!isRecord(o)) throw bad("training.optimizer must be null or an object");
  if (typeof o.name !== "string")
    throw bad(`training.optimizer.name must be a string, found ${show(o.name)}`);
  if (!Number.isSafeInteger(o.iterations) || (o.iterations as number) < 0)
    throw bad(`training.optimizer.iterations must be an integer >= 0, found ${show(o.iterations)}`);
  if (typeof o.lr !== "number" || !Number.isFinite(o.lr) || o.lr < 0)
    throw bad(`training.optimizer.lr must be a finite number >= 0, found ${show(o.lr)}`);
  const slots = o.slots;
  if (!Array.isArray(slots) || !slots.every((x) => typeof x === "string"))
    throw bad(`training.optimizer.slots must be an array of strings, found ${show(slots)}`);
  if (!Array.isArray(o.params)) throw bad("training.optimizer.params is not an array");
  const states: Record<string, ParamOptimizerState> = {};
  o.params.forEach((p: unknown, i: number) => {
    if (!isRecord(p) || typeof p.name !== "string") throw bad(`training.optimizer.params[${i}] has no name`);
    const name = p.name;
    const where = `the optimizer state of param '${name}'`;
    const spec = Object.hasOwn(graph.params, name) ? graph.params[name] : undefined;
    if (spec === undefined) throw bad(`${where}: the saved graph declares no such param`);
    if (Object.hasOwn(states, name)) throw bad(`${where} is listed twice`);
    if (!Number.isSafeInteger(p.steps) || (p.steps as number) < 1)
      throw bad(`${where}: steps must be an integer >= 1, found ${show(p.steps)}`);
    if (!Array.isArray(p.buffers) || p.buffers.length !== slots.length)
      throw bad(`${where}: expected ${slots.length} buffers (one per slot), found ${show(p.buffers)}`);
    const size = sizeOf(spec.shape as number[]);
    const need = size * 8;
    p.buffers.forEach((b: unknown, k: number) => {
      const slot = slots[k] as string;
      const entry: ManifestParam = {
        name: `${name}' optimizer slot '${slot}`,
        shape: [size],
        dtype: "float64",
        offset: 0,
        byteLength: need,
      };
      if (!isRecord(b)) throw bad(`${where}: buffer ${k} is not an object`);
      if (b.byteLength !== need)
        throw bad(`${where}: buffer '${slot}' has byteLength ${show(b.byteLength)}, expected ${need}`);
      const off = b.offset;
      if (typeof off !== "number" || !Number.isSafeInteger(off) || off < 0 || off % 8 !== 0)
        throw bad(
          `${where}: buffer '${slot}' has offset ${show(off)}: it must be a non-negative multiple of 8`,
        );
      entry.offset = off;
      if (off + need > weightBytes)
        throw bad(`${range(entry)} ends after the weights section (${weightBytes} bytes)`);
      buffers.push({ param: name, entry });
    });
    states[name] = { steps: p.steps as number, buffers: [] };
  });
  training.optimizer = {
    name: o.name,
    iterations: o.iterations as number,
    lr: o.lr,
    slots: slots as string[],
    params: states,
  };
  return { training, buffers };
}

/**
 * The training state of `model` and `optimizer` to save with the model
 * ({@link ModelToSave.training}): the model's {@link Model.trainingSteps} and, when given, a copy of
 * the optimizer's state ({@link Optimizer.getState}).
 * @example
 * await saveModel(path, { ...model, training: trainingStateOf(model, opt) });
 */
export function trainingStateOf(model: Pick<Model, "trainingSteps">, optimizer?: Optimizer): TrainingState {
  return {
    trainingSteps: model.trainingSteps,
    ...(optimizer === undefined ? {} : { optimizer: optimizer.getState() }),
  };
}

/**
 * Puts a saved model back into `model` to resume training exactly: copies the saved params
 * (trainable and state params, e.g. batch normalisation's running statistics) into the model's
 * buffers, sets {@link Model.trainingSteps} (the dropout keys' position), and when `optimizer` is
 * given sets its state ({@link Optimizer.setState}; the optimizer must be built with the options of
 * the run that saved it: hyperparameters and schedules are not saved). Throws a
 * {@link ModelFileError} (`missing-param`, `mismatch`) when the saved params do not fit the model,
 * or when an optimizer is given but the file has no optimizer state.
 * @example
 * const saved = await loadModel(path, { expectGraph: model.graph });
 * restoreTraining(model, saved, opt);
 * fit(model, data, { optimizer: opt, epochs: 10, initialEpoch: 5 });
 */
export function restoreTraining(
  model: Pick<Model, "params" | "trainingSteps">,
  saved: Pick<SavedModel, "params" | "training">,
  optimizer?: Optimizer,
): void {
  const target = model.params;
  for (const name of target.names()) {
    if (!saved.params.has(name))
      throw new ModelFileError(`restoreTraining: the saved model has no param '${name}'`, "missing-param");
    const a = target.get(name);
    const b = saved.params.get(name);
    if (!shapesEqual(a.shape, b.shape) || a.dtype !== b.dtype) {
      throw new ModelFileError(
        `restoreTraining: param '${name}' is ${a.dtype} ${shapeToString(a.shape)} in the model but ${b.dtype} ${shapeToString(b.shape)} in the saved model`,
        "mismatch",
      );
    }
  }
  if (optimizer !== undefined && saved.training?.optimizer === undefined) {
    throw new ModelFileError(
      "restoreTraining: an optimizer was given but the saved model has no optimizer state (save it with training: trainingStateOf(model, optimizer))",
      "missing-param",
    );
  }
  if (optimizer !== undefined) optimizer.setState(saved.training!.optimizer!);
  for (const name of target.names()) target.get(name).data.set(saved.params.get(name).data);
  if (saved.training?.trainingSteps !== undefined) model.trainingSteps = saved.training.trainingSteps;
}
