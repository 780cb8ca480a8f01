/**
 * Property tests of the model file format:
 * - save -> load is the identity on random graphs (non-finite constants, awkward names, raw param
 *   bits included);
 * - fault injection: corrupted `.ggm` files and graph JSON texts load correctly or fail with a
 *   ModelFileError / GraphError, never another exception, never a hang, and never an allocation
 *   beyond the bound the format documents (param buffers at most the file's size).
 * Fixed seed by default; `GRADGRAPH_FC_RUNS` / `GRADGRAPH_FC_SEED` for more or other runs.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildRandomGraph, fcParameters, graphProgramArb } from "@gradgraph/autograd/testing";
import {
  castGraph,
  type DType,
  type Graph,
  GraphBuilder,
  GraphError,
  graphToJSON,
  type Init,
  ParamStore,
  parseGraph,
  printGraph,
  Rng,
  Tensor,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32 } from "../src/crc32.js";
import { deserializeModel, ModelFileError, serializeModel } from "../src/io.js";
import { loadModel, saveModel } from "../src/node.js";

/** Names that are special on plain objects, or otherwise awkward (separators, unicode, blanks). */
const AWKWARD = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "__defineGetter__",
  "a/b",
  "/",
  "x/",
  "a//b",
  " ",
  "\t",
  "\u200b",
  "😀",
  "名前",
  "Ünïcödé",
  "'",
  '"',
  "\\",
  "x\u0000y",
  "0",
  "1",
  "NaN",
  "grad:W",
  "%3",
];

/** Input and param names (non-empty): awkward ones, or any short string (lone surrogates included). */
const sourceName = fc.oneof(
  fc.constantFrom(...AWKWARD),
  fc.string({ minLength: 1, maxLength: 6, unit: "binary" }),
);
/** Output and node names may also be empty. */
const anyName = fc.oneof(sourceName, fc.constant(""));

/** Floats with every kind of special value. */
const special = fc.constantFrom(
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  0,
  1.5,
  -2.25,
  5e-324,
  -Number.MAX_VALUE,
);

const initArb: fc.Arbitrary<(size: number) => Init> = fc.oneof(
  fc.constant(() => ({ kind: "zeros" }) as Init),
  special.map((value) => () => ({ kind: "constant", value }) as Init),
  fc.tuple(special, special).map(
    ([mean, std]) =>
      () =>
        ({ kind: "normal", mean, std }) as Init,
  ),
  special.map((v) => (size: number) => ({ kind: "values", values: new Array<number>(size).fill(v) }) as Init),
  fc.constant(() => ({ kind: "glorotUniform", fanIn: 3 }) as Init),
);

interface SaveCase {
  graph: Graph;
  params: ParamStore;
}

/** Random graphs rebuilt under awkward names, with non-finite constants, fills and initialisers. */
const saveCaseArb: fc.Arbitrary<SaveCase> = fc
  .record({
    program: graphProgramArb({ maxNodes: 8 }),
    sources: fc.uniqueArray(sourceName, { minLength: 4, maxLength: 4 }),
    outputs: fc.uniqueArray(anyName, { minLength: 3, maxLength: 3 }),
    nodeName: anyName,
    constants: fc.array(special, { minLength: 1, maxLength: 6 }),
    fillValue: special,
    inits: fc.array(initArb, { minLength: 4, maxLength: 4 }),
    float32: fc.boolean(),
    bitsSeed: fc.nat(),
  })
  .map((r): SaveCase => {
    const c = buildRandomGraph(r.program);
    const dtype: DType = r.float32 ? "float32" : "float64";
    const source = r.float32 ? castGraph(c.graph, "float32") : c.graph;
    // replay the graph through a builder, renaming inputs, params and outputs
    const b = new GraphBuilder({ dtype });
    const values: Value[] = [];
    const renamed = new Map<string, string>();
    let k = 0;
    for (const n of source.nodes) {
      const attrs = n.attrs as { name?: string };
      if (n.op === "input" || n.op === "param") {
        const name = r.sources[k]!;
        const size = n.shape.reduce<number>((p, d) => p * (d as number), 1);
        renamed.set(attrs.name!, name);
        values.push(
          n.op === "input"
            ? b.input(name, n.shape, n.dtype)
            : b.param(name, n.shape as number[], { dtype: n.dtype, init: r.inits[k]!(size) }),
        );
        k++;
      } else {
        values.push(
          b.op(
            n.op,
            n.inputs.map((i) => values[i]!),
            n.attrs as never,
            n.name,
          ),
        );
      }
    }
    const loss = values[source.outputs.loss!]!;
    const constant = b.constant(Tensor.from(r.constants, { dtype: "float64" })).named(r.nodeName);
    b.output(r.outputs[0]!, loss.maximum(Number.NEGATIVE_INFINITY));
    b.output(r.outputs[1]!, constant.add(b.fill(r.fillValue, [])));
    b.output(r.outputs[2]!, loss);
    const graph = b.build();
    // params: every bit pattern (NaN payloads, subnormals, -0, infinities)
    const rng = new Rng(r.bitsSeed);
    const params = new ParamStore();
    for (const [name, spec] of Object.entries(graph.params)) {
      const t = Tensor.zeros(spec.shape, spec.dtype);
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
      params.set(name, t);
    }
    return { graph, params };
  });

function bitsOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectSameModel(loaded: { graph: Graph; params: ParamStore }, c: SaveCase): void {
  expect(printGraph(loaded.graph)).toBe(printGraph(c.graph));
  expect(graphToJSON(loaded.graph)).toBe(graphToJSON(c.graph));
  expect(loaded.graph).toEqual(c.graph);
  expect(loaded.params.names()).toEqual(Object.keys(c.graph.params));
  for (const name of Object.keys(c.graph.params)) {
    const a = c.params.get(name);
    const b = loaded.params.get(name);
    expect(b.dtype).toBe(a.dtype);
    expect(b.shape).toEqual(a.shape);
    expect(bitsOf(b)).toEqual(bitsOf(a));
  }
}

describe("save -> load is the identity (random graphs)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gradgraph-io-prop-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("graph JSON: parseGraph(graphToJSON(g)) equals g", () => {
    fc.assert(
      fc.property(saveCaseArb, (c) => {
        const text = graphToJSON(c.graph);
        const back = parseGraph(text);
        expect(printGraph(back)).toBe(printGraph(c.graph));
        expect(graphToJSON(back)).toBe(text);
        expect(back).toEqual(c.graph);
      }),
      fcParameters({ numRuns: 60 }),
    );
  });

  it(".ggm files: the same graph and bit-identical params after saveModel/loadModel", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(saveCaseArb, async (c) => {
        expectSameModel(deserializeModel(serializeModel(c)), c);
        const path = join(dir, `m${n++}.ggm`);
        await saveModel(path, c);
        expectSameModel(await loadModel(path, { expectGraph: c.graph }), c);
      }),
      fcParameters({ numRuns: 30 }),
    );
  });
});

// ---- fault injection -------------------------------------------------------------------------

/** A real model with something of everything: both dtypes, awkward names, non-finite constants. */
function baseModel(): SaveCase & { metadata: Record<string, unknown> } {
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("__proto__", ["N", 3]);
  const W = b.param("toString", [3, 4], { init: { kind: "glorotUniform" } });
  const bias = b.param("a/b", [4], { init: { kind: "constant", value: Number.NaN } });
  const s = b.param("s", [], { init: { kind: "values", values: [-0] } });
  const d = b.param("constructor", [2, 2], { dtype: "float64", init: { kind: "normal", std: 0.5 } });
  const h = x.matmul(W).add(bias).relu().maximum(Number.NEGATIVE_INFINITY);
  const c = b.constant([Number.NaN, Number.POSITIVE_INFINITY, -0, 2.5]).named("specials");
  b.output("y", h.mul(s).add(c).softmax());
  b.output("z", d.matmul(d).sum());
  const graph = b.build();
  return { graph, params: ParamStore.init(graph, 1), metadata: { note: "fault injection", n: [1, 2] } };
}

const BASE = serializeModel(baseModel());
const BASE_TEXT = graphToJSON(baseModel().graph);

/** Rewrites the header's manifest length and CRC for a new manifest, keeping everything after it. */
function withManifestBytes(file: Uint8Array, manifest: Uint8Array, weights: Uint8Array): Uint8Array {
  const start = Math.ceil((20 + manifest.length) / 8) * 8;
  const out = new Uint8Array(start + weights.length);
  out.set(file.subarray(0, 12));
  const view = new DataView(out.buffer);
  view.setUint32(12, manifest.length, true);
  view.setUint32(16, crc32(manifest), true);
  out.set(manifest, 20);
  out.set(weights, start);
  return out;
}

function split(file: Uint8Array): { manifest: Uint8Array; weights: Uint8Array } {
  const len = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  return {
    manifest: file.subarray(20, 20 + len),
    weights: file.subarray(Math.ceil((20 + len) / 8) * 8),
  };
}

const DEEP = "<deep>";

/** Replacements for a number in JSON text: hostile sizes, offsets, ids and dims. */
const HOSTILE_VALUES = [
  "1e400",
  "-1e400",
  "-1",
  "-8",
  "0.5",
  "1e15",
  "4294967295",
  "4294967296",
  "9007199254740993",
  "1e308",
  "-0",
  '"NaN"',
  '"Infinity"',
  '"1"',
  "null",
  "true",
  "[]",
  "{}",
  '{"length":1000000000}',
  DEEP, // expanded by `hostile`: arrays nested 100,000 deep
];

/** The JSON text of a hostile value (DEEP stands for arrays nested 100,000 levels deep). */
const hostile = (value: string): string =>
  value === DEEP ? `${"[".repeat(100_000)}${"]".repeat(100_000)}` : value;

type Mutation =
  | { kind: "flips"; flips: [number, number][] }
  | { kind: "truncate"; at: number }
  | { kind: "manifest-flips"; flips: [number, number][] }
  | { kind: "weights-flip"; at: number; mask: number }
  | { kind: "replace-number"; which: number; value: string }
  | { kind: "param-field"; param: number; field: ParamField; value: string }
  | { kind: "overlap"; param: number; other: number }
  | { kind: "weights-length"; value: string }
  | { kind: "header"; field: 8 | 12 | 16; value: number };

type ParamField = "offset" | "byteLength" | "shape" | "shape[0]" | "dtype" | "name";

const flipsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
  minLength: 1,
  maxLength: 4,
});
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  flipsArb.map((flips) => ({ kind: "flips" as const, flips })),
  fc.nat().map((at) => ({ kind: "truncate" as const, at })),
  flipsArb.map((flips) => ({ kind: "manifest-flips" as const, flips })),
  fc
    .tuple(fc.nat(), fc.integer({ min: 1, max: 255 }))
    .map(([at, mask]) => ({ kind: "weights-flip" as const, at, mask })),
  fc
    .tuple(fc.nat(), fc.constantFrom(...HOSTILE_VALUES))
    .map(([which, value]) => ({ kind: "replace-number" as const, which, value })),
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom<ParamField>("offset", "byteLength", "shape", "shape[0]", "dtype", "name"),
      fc.constantFrom(...HOSTILE_VALUES),
    )
    .map(([param, field, value]) => ({ kind: "param-field" as const, param, field, value })),
  fc.tuple(fc.nat(), fc.nat()).map(([param, other]) => ({ kind: "overlap" as const, param, other })),
  fc.constantFrom(...HOSTILE_VALUES).map((value) => ({ kind: "weights-length" as const, value })),
  fc
    .tuple(fc.constantFrom(8 as const, 12 as const, 16 as const), fc.nat({ max: 0xffffffff }))
    .map(([field, value]) => ({ kind: "header" as const, field, value })),
);

const flip = (bytes: Uint8Array, flips: readonly [number, number][]): Uint8Array => {
  const out = bytes.slice();
  if (out.length) for (const [at, mask] of flips) out[at % out.length] ^= mask;
  return out;
};

/** Replaces the `which`-th JSON number of `text` (modulo their count) with `value`. */
function replaceNumber(text: string, which: number, value: string): string {
  const numbers = [...text.matchAll(/(?<=[:,[])-?\d+(\.\d+)?([eE][-+]?\d+)?(?=[,\]}])/g)];
  if (!numbers.length) return text;
  const m = numbers[which % numbers.length]!;
  return text.slice(0, m.index) + hostile(value) + text.slice(m.index! + m[0].length);
}

const PLACEHOLDER = "\u0000hostile\u0000";

/** The manifest edited by `fn`, where the string PLACEHOLDER stands for the raw JSON text `raw`. */
function editManifest(
  manifest: Uint8Array,
  raw: string,
  fn: (m: { params: Record<string, unknown>[]; weights: Record<string, unknown> }) => void,
): Uint8Array {
  const m = JSON.parse(text8.decode(manifest));
  fn(m);
  return utf8.encode(JSON.stringify(m).replace(JSON.stringify(PLACEHOLDER), hostile(raw)));
}

const utf8 = new TextEncoder();
const text8 = new TextDecoder();

function mutateFile(file: Uint8Array, m: Mutation): Uint8Array {
  const { manifest, weights } = split(file);
  switch (m.kind) {
    case "flips":
      return flip(file, m.flips);
    case "truncate":
      return file.subarray(0, m.at % file.length);
    case "manifest-flips": // corrupt the manifest but keep its checksum right, so the parser sees it
      return withManifestBytes(file, flip(manifest, m.flips), weights);
    case "weights-flip": {
      // corrupt a weight and fix the checksum: a valid file with other values
      const w = weights.slice();
      w[m.at % w.length] ^= m.mask;
      const hex = crc32(w).toString(16).padStart(8, "0");
      const text = text8.decode(manifest).replace(/"value":"[0-9a-f]{8}"/, `"value":"${hex}"`);
      return withManifestBytes(file, utf8.encode(text), w);
    }
    case "replace-number":
      return withManifestBytes(
        file,
        utf8.encode(replaceNumber(text8.decode(manifest), m.which, m.value)),
        weights,
      );
    case "param-field": // a hostile value in the param table (checksums right)
      return withManifestBytes(
        file,
        editManifest(manifest, m.value, ({ params }) => {
          const p = params[m.param % params.length]!;
          if (m.field === "shape[0]") (p.shape as unknown[])[0] = PLACEHOLDER;
          else p[m.field] = PLACEHOLDER;
        }),
        weights,
      );
    case "overlap": // one param's range moved onto another's
      return withManifestBytes(
        file,
        editManifest(manifest, "", ({ params }) => {
          params[m.param % params.length]!.offset = params[m.other % params.length]!.offset;
        }),
        weights,
      );
    case "weights-length":
      return withManifestBytes(
        file,
        editManifest(manifest, m.value, (man) => {
          man.weights.byteLength = PLACEHOLDER;
        }),
        weights,
      );
    case "header": {
      const out = file.slice();
      new DataView(out.buffer).setUint32(m.field, m.value, true);
      return out;
    }
  }
}

/**
 * Runs `fn` while counting the bytes of every ArrayBuffer and typed array it allocates (views of an
 * existing buffer excluded). Returns the largest single allocation and the total.
 */
function countAllocations<T>(fn: () => T): {
  result: T | undefined;
  error: unknown;
  largest: number;
  total: number;
} {
  const g = globalThis as unknown as Record<string, unknown>;
  const names = [
    "ArrayBuffer",
    "SharedArrayBuffer",
    "Uint8Array",
    "Int8Array",
    "Uint16Array",
    "Int16Array",
    "Uint32Array",
    "Int32Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
  ] as const;
  const saved = new Map(names.map((n) => [n, g[n]]));
  let largest = 0;
  let total = 0;
  const note = (bytes: number) => {
    largest = Math.max(largest, bytes);
    total += bytes;
  };
  for (const name of names) {
    const ctor = saved.get(name) as (new (...args: unknown[]) => object) & { BYTES_PER_ELEMENT?: number };
    if (!ctor) continue;
    g[name] = new Proxy(ctor, {
      construct(target, args, newTarget) {
        const [a] = args;
        const bpe = ctor.BYTES_PER_ELEMENT ?? 1;
        if (typeof a === "number") note(a * bpe);
        else if (a && typeof a === "object" && !(a instanceof ArrayBuffer) && "length" in a)
          note(Number((a as { length: unknown }).length) * bpe);
        return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
      },
    });
  }
  let result: T | undefined;
  let error: unknown;
  try {
    result = fn();
  } catch (e) {
    error = e;
  } finally {
    for (const [name, ctor] of saved) g[name] = ctor;
  }
  return { result, error, largest, total };
}

const MODEL_ERROR_CODES = new Set([
  "bad-magic",
  "unsupported-version",
  "truncated",
  "trailing-data",
  "checksum",
  "manifest",
  "mismatch",
  "missing-param",
]);

/** Slack over the file's size for the allocation bound: small fixed-size helpers (the CRC table). */
const ALLOCATION_SLACK = 1024;

describe("fault injection", () => {
  it("the unmutated base file and text load (and the allocation counter sees the param buffers)", () => {
    const base = baseModel();
    const { result, largest, total } = countAllocations(() => deserializeModel(BASE));
    expectSameModel(result!, base);
    const paramBytes = base.params.entries().reduce((n, [, t]) => n + t.data.byteLength, 0);
    expect(largest).toBe(Math.max(...base.params.entries().map(([, t]) => t.data.byteLength)));
    expect(total).toBeGreaterThanOrEqual(paramBytes);
    expect(graphToJSON(parseGraph(BASE_TEXT))).toBe(BASE_TEXT);
  });

  it("corrupted .ggm files load correctly or throw a ModelFileError, within the allocation bound", () => {
    fc.assert(
      fc.property(mutationArb, (m) => {
        const file = mutateFile(BASE, m);
        const started = performance.now();
        const { result, error, largest, total } = countAllocations(() =>
          deserializeModel(file, { fileName: "fuzz.ggm" }),
        );
        const ms = performance.now() - started;
        expect(ms, "no hang").toBeLessThan(5000);
        // the documented bound: param buffers add up to at most the file's size
        expect(largest, "largest allocation").toBeLessThanOrEqual(file.length + ALLOCATION_SLACK);
        expect(total, "total allocation").toBeLessThanOrEqual(file.length + ALLOCATION_SLACK);
        if (error !== undefined) {
          if (!(error instanceof ModelFileError)) throw error; // a crash of another kind fails the property
          expect(MODEL_ERROR_CODES.has(error.code), error.code).toBe(true);
          expect(error.message).toMatch(/^fuzz\.ggm: \S/);
          return;
        }
        // it loaded: a consistent model whose params fit in the file, and whose weights are exactly
        // the file's (a file that loads is laid out as the writer lays it out: no overlaps or gaps)
        const model = result!;
        expect(split(serializeModel(model)).weights).toEqual(split(file).weights);
        let bytes = 0;
        for (const [name, spec] of Object.entries(model.graph.params)) {
          const t = model.params.get(name);
          expect(t.shape).toEqual(spec.shape);
          expect(t.dtype).toBe(spec.dtype);
          bytes += t.data.byteLength;
        }
        expect(bytes).toBeLessThanOrEqual(file.length);
        expect(parseGraph(graphToJSON(model.graph))).toEqual(model.graph);
      }),
      fcParameters({ numRuns: 300 }),
    );
  });

  it("corrupted graph JSON parses to a valid graph or throws a GraphError", () => {
    const textArb = fc.oneof(
      flipsArb.map((flips) => text8.decode(flip(utf8.encode(BASE_TEXT), flips))),
      fc.nat().map((at) => BASE_TEXT.slice(0, at % BASE_TEXT.length)),
      fc
        .tuple(fc.nat(), fc.constantFrom(...HOSTILE_VALUES))
        .map(([which, value]) => replaceNumber(BASE_TEXT, which, value)),
    );
    fc.assert(
      fc.property(textArb, (text) => {
        const started = performance.now();
        let graph: Graph;
        try {
          graph = parseGraph(text);
        } catch (e) {
          if (!(e instanceof GraphError)) throw e;
          expect(e.message).toMatch(/^invalid graph JSON: \S/);
          return;
        } finally {
          expect(performance.now() - started, "no hang").toBeLessThan(5000);
        }
        const again = graphToJSON(graph);
        expect(graphToJSON(parseGraph(again))).toBe(again);
      }),
      fcParameters({ numRuns: 300 }),
    );
  });
});
