import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  compile,
  type Graph,
  GraphBuilder,
  graphToJSON,
  ParamStore,
  printGraph,
  Tensor,
} from "@gradgraph/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32 } from "../src/crc32.js";
import {
  deserializeModel,
  MAX_METADATA_DEPTH,
  MODEL_MAGIC,
  MODEL_VERSION,
  ModelFileError,
  type ModelFileErrorCode,
  serializeModel,
} from "../src/io.js";
import { Model } from "../src/model.js";
import { loadModel, saveModel } from "../src/node.js";
import { sgd } from "../src/optim/index.js";

/**
 * y = sigmoid(x W + s) * s with W float32 [3,2] (glorot) and s a float32 scalar; a second output
 * z = sum(b * b) with b float64 [2] (normal), so that both dtypes are saved.
 */
function tinyGraph(options: { wShape?: [number, number]; extra?: boolean } = {}) {
  const b = new GraphBuilder({ dtype: "float32" });
  const [wi, wo] = options.wShape ?? [3, 2];
  const x = b.input("x", ["N", wi]);
  const W = b.param("W", [wi, wo], { init: { kind: "glorotUniform" } });
  const bias = b.param("b", [2], { init: { kind: "normal", std: 0.5 }, dtype: "float64" });
  const s = b.param("s", [], { init: { kind: "constant", value: 1.5 } });
  let y = x.matmul(W).add(s).sigmoid().mul(s);
  if (options.extra) y = y.add(b.param("c", [wo]));
  b.output("y", y);
  b.output("z", bias.mul(bias).sum());
  return b.build();
}

function model(seed = 1) {
  const graph = tinyGraph();
  const params = ParamStore.init(graph, seed);
  return { graph, params, metadata: { name: "tiny", epochs: 3, labels: ["a", "b"], nested: { ok: true } } };
}

const xFeed = Tensor.from(
  [
    [0.1, -0.2, 0.3],
    [1, 2, 3],
    [-1, 0.5, 0.25],
  ],
  { dtype: "float32" },
);

function predict(graph: Graph, params: ParamStore): number[] {
  const out = compile(graph, { params }).run({ x: xFeed });
  return [...out.y!.toArray(), ...out.z!.toArray()];
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Rebuilds a file with a replaced manifest (and a correct manifest checksum), keeping the weights. */
function withManifest(file: Uint8Array, edit: (m: Record<string, unknown>) => unknown): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const len = view.getUint32(12, true);
  const manifest = JSON.parse(new TextDecoder().decode(file.subarray(20, 20 + len))) as Record<
    string,
    unknown
  >;
  const weights = file.subarray(Math.ceil((20 + len) / 8) * 8);
  const edited = edit(manifest);
  const text = typeof edited === "string" ? edited : JSON.stringify(edited ?? manifest);
  const mb = new TextEncoder().encode(text);
  const start = Math.ceil((20 + mb.length) / 8) * 8;
  const out = new Uint8Array(start + weights.length);
  out.set(file.subarray(0, 12));
  const ov = new DataView(out.buffer);
  ov.setUint32(12, mb.length, true);
  ov.setUint32(16, crc32(mb), true);
  out.set(mb, 20);
  out.set(weights, start);
  return out;
}

function expectModelError(
  fn: () => unknown,
  code: ModelFileErrorCode,
  ...patterns: RegExp[]
): ModelFileError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ModelFileError);
  const err = caught as ModelFileError;
  expect(err.code, err.message).toBe(code);
  for (const p of patterns) expect(err.message).toMatch(p);
  return err;
}

describe("crc32", () => {
  it("matches the standard check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const all = new TextEncoder().encode("123456789");
    expect(crc32(all.subarray(4), crc32(all.subarray(0, 4)))).toBe(0xcbf43926);
  });
});

describe("serializeModel / deserializeModel", () => {
  it("round-trips the graph, bit-identical params and metadata", () => {
    const m = model();
    const bytes = serializeModel(m);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe(MODEL_MAGIC);
    const loaded = deserializeModel(bytes);
    expect(loaded.graph).toEqual(m.graph);
    expect(loaded.metadata).toEqual(m.metadata);
    expect(loaded.params.names()).toEqual(["W", "b", "s"]);
    for (const name of m.params.names()) {
      const a = m.params.get(name);
      const b = loaded.params.get(name);
      expect(b.dtype).toBe(a.dtype);
      expect(b.shape).toEqual(a.shape);
      expect(bytesOf(b)).toEqual(bytesOf(a));
      expect(b.data).not.toBe(a.data);
    }
    // every param's data starts at a multiple of 8 in the file
    const start = Math.ceil((20 + new DataView(bytes.buffer).getUint32(12, true)) / 8) * 8;
    expect(start % 8).toBe(0);
    // deterministic
    expect(serializeModel(m)).toEqual(bytes);
  });

  it("keeps special float values and gives identical predictions after loading", () => {
    const m = model(5);
    const before = predict(m.graph, m.params);
    const loaded = deserializeModel(serializeModel(m), { expectGraph: m.graph });
    expect(predict(loaded.graph, loaded.params)).toEqual(before);
    const p = new ParamStore([
      [
        "W",
        Tensor.from([Number.NaN, -0, Number.POSITIVE_INFINITY, 1e-45, 3, 4], {
          shape: [3, 2],
          dtype: "float32",
        }),
      ],
      ["b", Tensor.from([Number.MIN_VALUE, -Number.MAX_VALUE], { dtype: "float64" })],
      ["s", Tensor.scalar(2, "float32")],
    ]);
    const back = deserializeModel(serializeModel({ graph: m.graph, params: p }));
    for (const name of p.names()) expect(bytesOf(back.params.get(name))).toEqual(bytesOf(p.get(name)));
    expect(back.metadata).toEqual({});
  });

  it("rejects a file with the wrong magic bytes", () => {
    const bytes = serializeModel(model());
    bytes[1] = 0x58;
    expectModelError(
      () => deserializeModel(bytes, { fileName: "m.ggm" }),
      "bad-magic",
      /^m\.ggm: not a gradgraph model file/,
      /expected magic bytes 47 47 4d 4f 44 45 4c 00 \("GGMODEL\."\), found 47 58 4d/,
    );
    expectModelError(
      () => deserializeModel(new TextEncoder().encode("PK\u0003\u0004")),
      "bad-magic",
      /found 50 4b 03 04/,
    );
  });

  it("rejects a format version newer than this reader", () => {
    const bytes = serializeModel(model());
    new DataView(bytes.buffer).setUint32(8, MODEL_VERSION + 1, true);
    expectModelError(
      () => deserializeModel(bytes),
      "unsupported-version",
      new RegExp(`version ${MODEL_VERSION + 1}.*reads versions up to ${MODEL_VERSION}`),
    );
  });

  it("writes version 2 and still reads files written by the version 1 writer", async () => {
    expect(MODEL_VERSION).toBe(3); // version 3 adds the training state; models saved without it are still version 2
    expect(new DataView(serializeModel(model()).buffer).getUint32(8, true)).toBe(2);
    const bytes = new Uint8Array(await readFile(join(import.meta.dirname, "fixtures", "tiny-v1.ggm")));
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)).toBe(1);
    const loaded = deserializeModel(bytes, { fileName: "tiny-v1.ggm" });
    expect(loaded.metadata).toEqual({ written: "version 1 writer" });
    // the fixture's graph and its seed-7 params, rebuilt with today's builder
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 3]);
    const W = b.param("W", [3, 2], { init: { kind: "glorotUniform" } });
    const bias = b.param("b", [2], { init: { kind: "normal", std: 0.5 }, dtype: "float64" });
    const s = b.param("s", [], { init: { kind: "constant", value: 1.5 } });
    b.output(
      "y",
      x
        .matmul(W)
        .add(s)
        .sigmoid()
        .mul(s)
        .add(b.constant([0.5, -2])),
    );
    b.output("z", bias.mul(bias).sum());
    const graph = b.build();
    expect(printGraph(loaded.graph)).toBe(printGraph(graph));
    expect(loaded.graph).toEqual(graph);
    const params = ParamStore.init(graph, 7);
    for (const name of params.names()) {
      expect(bytesOf(loaded.params.get(name))).toEqual(bytesOf(params.get(name)));
    }
  });

  it("reports truncation with byte offsets", () => {
    const bytes = serializeModel(model());
    expectModelError(
      () => deserializeModel(bytes.subarray(0, 12)),
      "truncated",
      /file is 12 bytes, shorter than the 20-byte header/,
    );
    const len = new DataView(bytes.buffer).getUint32(12, true);
    const cut = bytes.subarray(0, 20 + len - 10);
    expectModelError(
      () => deserializeModel(cut),
      "truncated",
      new RegExp(
        `manifest \\(${len} bytes\\) spans bytes 20\\.\\.${20 + len} but the file ends at byte ${cut.length}`,
      ),
    );
    const short = bytes.subarray(0, bytes.length - 5);
    expectModelError(
      () => deserializeModel(short),
      "truncated",
      new RegExp(
        `weights \\(\\d+ bytes\\) span bytes \\d+\\.\\.${bytes.length} but the file ends at byte ${short.length} \\(5 bytes missing\\)`,
      ),
    );
    const huge = bytes.slice();
    new DataView(huge.buffer).setUint32(12, 0xffffff, true);
    expectModelError(() => deserializeModel(huge), "truncated", /manifest \(16777215 bytes\)/);
  });

  it("rejects trailing bytes", () => {
    const bytes = serializeModel(model());
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    expectModelError(() => deserializeModel(longer), "trailing-data", /3 unexpected bytes after the weights/);
  });

  it("detects corrupted weights and a corrupted manifest by checksum", () => {
    const bytes = serializeModel(model());
    const w = bytes.slice();
    w[w.length - 9] = w[w.length - 9]! ^ 0x10;
    expectModelError(
      () => deserializeModel(w),
      "checksum",
      /weights checksum mismatch: the manifest says CRC-32 [0-9a-f]{8}, bytes \d+\.\.\d+ give [0-9a-f]{8}/,
    );
    const m = bytes.slice();
    m[40] = m[40]! ^ 0x01;
    expectModelError(() => deserializeModel(m), "checksum", /manifest checksum mismatch/);
  });

  it("reports malformed or invalid manifests", () => {
    const bytes = serializeModel(model());
    expectModelError(
      () => deserializeModel(withManifest(bytes, () => "{not json")),
      "manifest",
      /malformed manifest JSON/,
    );
    expectModelError(
      () =>
        deserializeModel(
          withManifest(bytes, (m) => {
            (m.params as { byteLength: number }[])[0]!.byteLength = 4;
            return m;
          }),
        ),
      "manifest",
      /param 'W' \(float32 \[3,2\]\) has byteLength 4, expected 24/,
    );
    expectModelError(
      () => deserializeModel(withManifest(bytes, (m) => ({ ...m, format: "other" }))),
      "manifest",
      /format is "other", expected "gradgraph.model"/,
    );
    expectModelError(
      () =>
        deserializeModel(
          withManifest(bytes, (m) => {
            (m.graph as { nodes: { op: string }[] }).nodes[0]!.op = "frobnicate";
            return m;
          }),
        ),
      "manifest",
      /the graph is invalid: .*unknown op "frobnicate"/,
    );
  });

  it("reports a param missing from the file", () => {
    const bytes = serializeModel(model());
    const noB = withManifest(bytes, (m) => ({
      ...m,
      params: (m.params as { name: string }[]).filter((p) => p.name !== "b"),
    }));
    expectModelError(
      () => deserializeModel(noB),
      "missing-param",
      /param 'b' \(float64 \[2\]\) is declared by the saved graph but missing/,
    );
    const m = model();
    expectModelError(
      () =>
        deserializeModel(serializeModel(m), { expectGraph: tinyGraph({ extra: true }), fileName: "f.ggm" }),
      "missing-param",
      /^f\.ggm: param 'c' expected by the architecture \(float32 \[2\]\) is missing from the file \(file has: W, b, s\)/,
    );
  });

  it("checks params against an expected architecture", () => {
    const bytes = serializeModel(model());
    expectModelError(
      () => deserializeModel(bytes, { expectGraph: tinyGraph({ wShape: [3, 3] }) }),
      "mismatch",
      /param 'W': the architecture expects float32 \[3,3\], the file has float32 \[3,2\]/,
    );
    // a dtype mismatch: same shapes, W declared float64
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 3]);
    b.param("W", [3, 2], { dtype: "float64" });
    b.param("b", [2], { dtype: "float64" });
    b.param("s", []);
    b.output("y", x.sum());
    expectModelError(
      () => deserializeModel(bytes, { expectGraph: b.build() }),
      "mismatch",
      /param 'W': the architecture expects float64 \[3,2\], the file has float32 \[3,2\]/,
    );
    // the file has a param the architecture lacks
    const saved = model();
    const withExtra = {
      graph: tinyGraph({ extra: true }),
      params: ParamStore.init(tinyGraph({ extra: true })),
    };
    expectModelError(
      () => deserializeModel(serializeModel(withExtra), { expectGraph: saved.graph }),
      "mismatch",
      /the file has param 'c' \(float32 \[2\]\) that the expected architecture does not declare/,
    );
  });

  it("refuses to serialise inconsistent models or non-JSON metadata", () => {
    const m = model();
    expectModelError(
      () => serializeModel({ ...m, metadata: { big: 10n } }),
      "invalid-model",
      /metadata is not JSON-serialisable: .*BigInt/,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectModelError(
      () => serializeModel({ ...m, metadata: cyclic }),
      "invalid-model",
      /not JSON-serialisable.*circular/i,
    );
    // metadata nested MAX_METADATA_DEPTH levels deep saves and loads; one level more is refused
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 1; i < MAX_METADATA_DEPTH; i++) deep = { deep };
    expect(deserializeModel(serializeModel({ ...m, metadata: deep })).metadata).toEqual(deep);
    expectModelError(
      () => serializeModel({ ...m, metadata: { deep } }),
      "invalid-model",
      new RegExp(`metadata nests more than ${MAX_METADATA_DEPTH} levels deep`),
    );
    const tooDeep = withManifest(serializeModel(m), (man) => ({ ...man, metadata: { deep } }));
    expectModelError(
      () => deserializeModel(tooDeep),
      "manifest",
      /'metadata' nests more than 64 levels deep/,
    );
    expectModelError(
      () => serializeModel({ graph: m.graph, params: new ParamStore([["W", m.params.get("W")]]) }),
      "invalid-model",
      /the graph declares param 'b' \(float64 \[2\]\) but the param store has no such param/,
    );
    expectModelError(
      () =>
        serializeModel({
          graph: m.graph,
          params: new ParamStore([
            ["W", Tensor.zeros([2, 3], "float32")],
            ["b", m.params.get("b")],
            ["s", m.params.get("s")],
          ]),
        }),
      "invalid-model",
      /param 'W' is float32 \[2,3\] in the store but the graph declares float32 \[3,2\]/,
    );
  });
});

/** A manifest's param entries, for editing. */
type Entry = { name: string; shape: number[]; dtype: string; offset: number; byteLength: number };

describe("hostile manifests: byte ranges and sizes", () => {
  /** W float32 [3,2] at 0..24, b float64 [2] at 24..40, s float32 [] at 40..44; weights 48 bytes. */
  const bytes = serializeModel(model());
  const edit = (fn: (params: Entry[], m: Record<string, unknown>) => void) =>
    withManifest(bytes, (m) => {
      fn(m.params as Entry[], m);
      return m;
    });

  it("the layout the writer produces is what the reader expects", () => {
    withManifest(bytes, (m) => {
      expect((m.params as Entry[]).map((p) => [p.name, p.offset, p.byteLength])).toEqual([
        ["W", 0, 24],
        ["b", 24, 16],
        ["s", 40, 4],
      ]);
      expect((m.weights as { byteLength: number }).byteLength).toBe(48);
      return m;
    });
  });

  it("rejects overlapping byte ranges, naming both params and ranges", () => {
    const overlap = edit((p) => {
      p[1]!.offset = 16; // b at 16..32 overlaps W at 0..24
    });
    expectModelError(
      () => deserializeModel(overlap, { fileName: "o.ggm" }),
      "manifest",
      /^o\.ggm: invalid manifest: param 'b' \(bytes 16\.\.32 of the weights\) overlaps param 'W' \(bytes 0\.\.24 of the weights\)/,
    );
    const same = edit((p) => {
      p[2]!.offset = 0; // s at 0..4 inside W
    });
    expectModelError(() => deserializeModel(same), "manifest", /param 's' \(bytes 0\.\.4 of the weights\)/);
  });

  it("rejects out-of-order and non-contiguous ranges", () => {
    const swapped = edit((p) => {
      // W and b swap places: no overlap, but not in the order they are listed
      p[0]!.offset = 16;
      p[1]!.offset = 0;
    });
    expectModelError(
      () => deserializeModel(swapped),
      "manifest",
      /param 'W' \(bytes 16\.\.40 of the weights\) starts at byte 16, expected 0: params are stored in the order they are listed/,
    );
    const past = edit((p) => {
      p[2]!.offset = 48; // s at 48..52: past the end of the 48-byte weights section
    });
    expectModelError(
      () => deserializeModel(past),
      "manifest",
      /param 's' \(bytes 48\.\.52 of the weights\) ends after the weights section \(48 bytes\)/,
    );
  });

  it("rejects offsets outside the weights, negative, fractional or unaligned", () => {
    for (const [offset, re] of [
      [
        1 << 20,
        /param 'W' \(bytes 1048576\.\.1048600 of the weights\) ends after the weights section \(48 bytes\)/,
      ],
      [-8, /param 'W' has offset -8/],
      [0.5, /param 'W' has offset 0\.5/],
      [4, /param 'W' has offset 4/],
      ["0", /param 'W' has offset "0"/],
    ] as const) {
      const bad = edit((p) => {
        (p[0] as { offset: unknown }).offset = offset;
      });
      expectModelError(() => deserializeModel(bad), "manifest", re);
    }
  });

  it("rejects sizes that do not match dtype x shape, and huge shapes before allocating", () => {
    const wrongSize = edit((p) => {
      p[0]!.byteLength = 48;
    });
    expectModelError(
      () => deserializeModel(wrongSize),
      "manifest",
      /param 'W' \(float32 \[3,2\]\) has byteLength 48, expected 24/,
    );
    // a shape whose bytes would be far larger than the file: rejected by arithmetic alone
    for (const shape of [[1e9, 1e9], [2 ** 40, 2 ** 40, 2 ** 40], [Number.MAX_SAFE_INTEGER]]) {
      const huge = edit((p) => {
        p[0]!.shape = shape;
        p[0]!.byteLength = shape.reduce((a, d) => a * d, 4);
      });
      expectModelError(
        () => deserializeModel(huge),
        "manifest",
        /param 'W' \(float32 \[[\d,]+\]\) (needs|declares) [\d.e+]+ bytes, more than the weights section's 48/,
      );
    }
    const inf = withManifest(bytes, (m) =>
      JSON.stringify(m).replace('"byteLength":24', '"byteLength":1e400'),
    );
    expectModelError(() => deserializeModel(inf), "manifest", /param 'W'.*byteLength/);
    const fracDim = edit((p) => {
      p[0]!.shape = [3, 2.5];
    });
    expectModelError(() => deserializeModel(fracDim), "manifest", /param 'W' has invalid shape \[3,2\.5\]/);
  });

  it("rejects unused bytes in the weights section, between params or after the last", () => {
    /** The file with 8 more zero bytes of weights, its manifest edited by `fn`, checksums fixed. */
    const padded = (fn: (params: Entry[]) => void) => {
      const longer = withManifest(bytes, (m) => {
        (m.weights as { byteLength: number }).byteLength = 56;
        fn(m.params as Entry[]);
        return m;
      });
      const out = new Uint8Array(longer.length + 8);
      out.set(longer);
      const crc = crc32(out.subarray(out.length - 56));
      return withManifest(out, (m) => {
        (m.weights as { checksum: { value: string } }).checksum.value = crc.toString(16).padStart(8, "0");
        return m;
      });
    };
    expectModelError(
      () => deserializeModel(padded(() => undefined)),
      "manifest",
      /the params end at byte 44 but the weights section has 56 bytes/,
    );
    expectModelError(
      () =>
        deserializeModel(
          padded((p) => {
            p[2]!.offset = 48; // a hole at 40..48
          }),
        ),
      "manifest",
      /param 's' \(bytes 48\.\.52 of the weights\) starts at byte 48, expected 40/,
    );
  });

  it("rejects non-zero padding after the manifest or between params", () => {
    const len = new DataView(bytes.buffer).getUint32(12, true);
    const start = Math.ceil((20 + len) / 8) * 8;
    expect(start).toBeGreaterThan(20 + len); // the test model's manifest is followed by padding
    const afterManifest = bytes.slice();
    afterManifest[20 + len] = 7;
    expectModelError(
      () => deserializeModel(afterManifest),
      "manifest",
      new RegExp(`bytes ${20 + len}\\.\\.${start} after the manifest must be zero, byte ${20 + len} is 7`),
    );
    // byte 46 of the weights pads s (40..44) to 48; set it and fix the weights checksum
    const padded = bytes.slice();
    padded[start + 46] = 1;
    const fixed = withManifest(padded, (m) => {
      (m.weights as { checksum: { value: string } }).checksum.value = crc32(padded.subarray(start))
        .toString(16)
        .padStart(8, "0");
      return m;
    });
    expectModelError(
      () => deserializeModel(fixed),
      "manifest",
      /the padding bytes 44\.\.48 of the weights must be zero, byte 46 is 1/,
    );
  });

  it("reports wrong-typed manifest fields without crashing", () => {
    for (const [fn, re] of [
      [(m: Record<string, unknown>) => ({ ...m, params: { W: 1 } }), /'params' is not an array/],
      [(m: Record<string, unknown>) => ({ ...m, params: [null] }), /params\[0\] has no name/],
      [(m: Record<string, unknown>) => ({ ...m, weights: [[[[[]]]]] }), /'weights' must be/],
      [(m: Record<string, unknown>) => ({ ...m, format: [[[["x"]]]] }), /format is/],
      [(m: Record<string, unknown>) => ({ ...m, graph: null }), /the graph is invalid/],
      [(m: Record<string, unknown>) => ({ ...m, metadata: "x" }), /'metadata' is not an object/],
    ] as const) {
      expectModelError(() => deserializeModel(withManifest(bytes, fn)), "manifest", re);
    }
  });
});

describe("models only the newer format can hold", () => {
  it("non-finite constants survive save and load", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 3]);
    const W = b.param("W", [3, 2], { init: { kind: "glorotUniform" } });
    const special = b.constant([Number.NaN, Number.POSITIVE_INFINITY]).named("special");
    const y = x.matmul(W).maximum(Number.NEGATIVE_INFINITY).minimum(Number.POSITIVE_INFINITY);
    b.output("y", y.add(special.mul(0)));
    b.output("z", b.fill(-0, [2]));
    const graph = b.build();
    const params = ParamStore.init(graph, 3);
    const loaded = deserializeModel(serializeModel({ graph, params }));
    expect(printGraph(loaded.graph)).toBe(printGraph(graph));
    expect(graphToJSON(loaded.graph)).toBe(graphToJSON(graph));
    expect(Object.is((loaded.graph.nodes.at(-1)!.attrs as { value: number }).value, -0)).toBe(true);
    const a = compile(graph, { params }).run({ x: xFeed });
    const c = compile(loaded.graph, { params: loaded.params }).run({ x: xFeed });
    expect(c.y!.toArray()).toEqual(a.y!.toArray());
  });

  it("params named __proto__, constructor, toString and hasOwnProperty survive save and load", () => {
    const names = ["__proto__", "constructor", "toString", "hasOwnProperty"];
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("valueOf", [2]);
    let y = x;
    names.forEach((n, k) => {
      y = y.mul(b.param(n, [2], { init: { kind: "constant", value: k + 2 } }));
    });
    b.output("__proto__", y);
    const graph = b.build();
    expect(Object.keys(graph.params)).toEqual(names);
    const params = ParamStore.init(graph);
    const loaded = deserializeModel(serializeModel({ graph, params }), { expectGraph: graph });
    expect(loaded.params.names()).toEqual(names);
    expect(Object.keys(loaded.graph.params)).toEqual(names);
    expect(Object.keys(loaded.graph.outputs)).toEqual(["__proto__"]);
    for (const n of names) expect(bytesOf(loaded.params.get(n))).toEqual(bytesOf(params.get(n)));
    const out = compile(loaded.graph, { params: loaded.params }).run(
      Object.fromEntries([["valueOf", Tensor.from([1, -1])]]),
    );
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value.toArray()).toEqual([120, -120]);
    // a param the file stores twice under such a name is still caught
    const twice = withManifest(serializeModel({ graph, params }), (m) => {
      (m.params as Entry[])[1] = { ...(m.params as Entry[])[0]!, offset: 16 };
      return m;
    });
    expectModelError(() => deserializeModel(twice), "manifest", /param '__proto__' is listed twice/);
  });

  for (const [input, target, weight, bias] of [
    ["__proto__", "constructor", "toString", "hasOwnProperty"],
    ["constructor", "__proto__", "hasOwnProperty", "__proto__!"],
    ["valueOf", "toString", "__proto__", "constructor"],
  ]) {
    it(`a Model with input '${input}', target '${target}' and params '${weight}', '${bias}' trains, saves and loads`, () => {
      const model = Model.define(
        (b) => {
          const x = b.input(input!, ["N", 2]);
          const y = b.input(target!, ["N", 1]);
          const w = b.param(weight!, [2, 1], { init: { kind: "constant", value: 0.5 } });
          const c = b.param(bias!, [1]);
          const pred = x.matmul(w).add(c);
          return { input: x, target: y, predictions: pred, loss: pred.sub(y).square().mean() };
        },
        { dtype: "float64" },
      );
      expect(model.trainable).toEqual([weight, bias]);
      const x = Tensor.from([
        [1, 2],
        [3, 4],
      ]);
      const y = Tensor.from([[1], [2]]);
      const before = model.evaluate(x, y).loss;
      const opt = sgd({ lr: 0.01 });
      for (let i = 0; i < 5; i++) model.trainStep(x, y, opt);
      expect(model.evaluate(x, y).loss).toBeLessThan(before);
      // both params were trained
      expect(model.params.get(weight!).toArray()).not.toEqual([0.5, 0.5]);
      expect(model.params.get(bias!).data[0]).not.toBe(0);
      const loaded = deserializeModel(serializeModel(model), { expectGraph: model.graph });
      const again = new Model(loaded.graph, { params: loaded.params, input, target });
      expect(again.predict(x).toArray()).toEqual(model.predict(x).toArray());
    });
  }

  it("a 200,000-node graph saves and loads", async () => {
    const b = new GraphBuilder({ dtype: "float32" });
    let v = b.input("x", [2]).mul(b.param("w", [2], { init: { kind: "ones" } }));
    for (let i = 0; i < 200_000; i++) v = v.add(1);
    b.output("y", v);
    const graph = b.build();
    const params = ParamStore.init(graph);
    const dir = await mkdtemp(join(tmpdir(), "gradgraph-big-"));
    try {
      const path = join(dir, "big.ggm");
      await saveModel(path, { graph, params });
      const loaded = await loadModel(path, { expectGraph: graph });
      expect(loaded.graph.nodes.length).toBe(graph.nodes.length);
      expect(graphToJSON(loaded.graph)).toBe(graphToJSON(graph));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("saveModel / loadModel (node)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gradgraph-io-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("saves and loads a model, predictions identical", async () => {
    const m = model(11);
    const path = join(dir, "model.ggm");
    await saveModel(path, m);
    expect(await readdir(dir)).toEqual(["model.ggm"]);
    const loaded = await loadModel(path, { expectGraph: m.graph });
    expect(loaded.metadata).toEqual(m.metadata);
    expect(predict(loaded.graph, loaded.params)).toEqual(predict(m.graph, m.params));
  });

  it("wraps load errors with the path", async () => {
    const path = join(dir, "corrupt.ggm");
    const bytes = serializeModel(model());
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(path, bytes);
    await expect(loadModel(path)).rejects.toThrow(
      new RegExp(`^${path.replace(/[.\\]/g, "\\$&")}: weights checksum mismatch`),
    );
    await expect(loadModel(path)).rejects.toMatchObject({ code: "checksum", file: path });
    const missing = join(dir, "nope.ggm");
    await expect(loadModel(missing)).rejects.toMatchObject({ code: "io", file: missing });
    await expect(loadModel(missing)).rejects.toThrow(/cannot read the model file: ENOENT/);
    await rm(path);
  });

  it("fails without leaving files when the directory does not exist", async () => {
    const path = join(dir, "missing-dir", "m.ggm");
    await expect(saveModel(path, model())).rejects.toMatchObject({ code: "io", file: path });
    expect(await readdir(dir)).toEqual(["model.ggm"]);
  });

  it("replaces an existing file only on success and never leaves temp files", async () => {
    const path = join(dir, "model.ggm");
    const original = await readFile(path);
    // serialisation fails: BigInt metadata, then a cyclic one
    await expect(saveModel(path, { ...model(), metadata: { n: 1n } })).rejects.toMatchObject({
      code: "invalid-model",
      file: path,
    });
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    await expect(saveModel(path, { ...model(), metadata: cyclic })).rejects.toThrow(ModelFileError);
    expect(await readFile(path)).toEqual(original);
    expect(await readdir(dir)).toEqual(["model.ggm"]);
    // the rename fails after the temp file was written (the target is a non-empty directory)
    const target = join(dir, "taken");
    await mkdir(target);
    await writeFile(join(target, "keep"), "x");
    await expect(saveModel(target, model())).rejects.toMatchObject({ code: "io", file: target });
    expect((await readdir(dir)).sort()).toEqual(["model.ggm", "taken"]);
    expect(await readdir(target)).toEqual(["keep"]);
    await rm(target, { recursive: true });
    // success replaces the file
    const other = model(99);
    await saveModel(path, other);
    expect(await readdir(dir)).toEqual(["model.ggm"]);
    const back = await loadModel(path);
    expect(bytesOf(back.params.get("W"))).toEqual(bytesOf(other.params.get("W")));
    expect(await readFile(path)).not.toEqual(original);
  });
});

describe("browser safety", () => {
  it("only node.ts imports node: modules", async () => {
    const root = join(import.meta.dirname, "..", "src");
    const files = [
      "io.ts",
      "metrics.ts",
      "crc32.ts",
      ...(await readdir(join(root, "optim"))).map((f) => `optim/${f}`),
    ];
    for (const f of files) {
      const text = await readFile(join(root, f), "utf8");
      expect(text, f).not.toMatch(/from "node:|require\(/);
    }
  });
});
