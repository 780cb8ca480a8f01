import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile, type Graph, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32 } from "../src/crc32.js";
import {
  deserializeModel,
  MODEL_MAGIC,
  ModelFileError,
  type ModelFileErrorCode,
  serializeModel,
} from "../src/io.js";
import { loadModel, saveModel } from "../src/node.js";

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
    new DataView(bytes.buffer).setUint32(8, 2, true);
    expectModelError(
      () => deserializeModel(bytes),
      "unsupported-version",
      /version 2.*reads versions up to 1/,
    );
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
