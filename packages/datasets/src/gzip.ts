/**
 * gzip and zlib decoding with integrity checks and output limits. fflate inflates the deflate stream
 * (fast, browser-safe); this module parses the gzip/zlib framing itself so that it can verify what fflate
 * does not: the gzip CRC-32 and length trailer, the zlib Adler-32 trailer. A truncated or bit-flipped
 * file therefore fails loudly instead of yielding silently wrong data.
 *
 * Decompression bombs: the deflate stream is fed to fflate in small steps and every output chunk is
 * counted before it is stored, so decoding stops as soon as the output exceeds the size the content
 * declares (e.g. its IDX header) or `maxBytes`; the output buffer never grows beyond that limit.
 * @module
 */
import { Inflate } from "fflate";
import { asBytes, type BytesLike, fmt, hex32 } from "./bytes.js";
import { DatasetError } from "./errors.js";

const CRC_TABLE = (() => {
  // Slicing-by-8 tables: table k maps a byte to its CRC contribution k bytes further on.
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 255]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/**
 * The CRC-32 (IEEE 802.3, as used by gzip and zip) of `data`, as an unsigned 32-bit integer. Pass the
 * CRC-32 of the bytes before `data` as `previous` to continue it over data that arrives in chunks
 * (`crc32(b, crc32(a))` is the CRC-32 of `a` followed by `b`).
 */
export function crc32(data: Uint8Array, previous = 0): number {
  const t = CRC_TABLE;
  let c = ~previous;
  let i = 0;
  const n = data.length;
  const end = n - (n & 7);
  for (; i < end; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    const b = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    c =
      t[1792 + (a & 255)]! ^
      t[1536 + ((a >>> 8) & 255)]! ^
      t[1280 + ((a >>> 16) & 255)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + (b & 255)]! ^
      t[512 + ((b >>> 8) & 255)]! ^
      t[256 + ((b >>> 16) & 255)]! ^
      t[b >>> 24]!;
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The Adler-32 checksum (as used by zlib) of `data`, as an unsigned 32-bit integer. */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  const n = data.length;
  for (let i = 0; i < n; ) {
    // 5552 is the largest block for which b cannot overflow 2^53 before the modulo (zlib's NMAX).
    const end = Math.min(i + 5552, n);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Default limit on the decompressed size of one file (or, for a MAT-file, of all its compressed elements): 256 MiB. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/** The size a file's content declares in its first bytes (e.g. its IDX header). */
export interface DeclaredSize {
  /** The number of bytes the decompressed content may have at most. */
  readonly bytes: number;
  /** What declares it, for messages, e.g. `"the IDX header"` or `"its miMATRIX tag"`. */
  readonly by: string;
  /** Details for messages, e.g. `"dimensions [60000,28,28] of uint8"`. */
  readonly detail?: string;
}

/** Limits on decompressed output (protection against decompression bombs). */
export interface DecompressOptions {
  /**
   * The largest decompressed size accepted, in bytes (default {@link DEFAULT_MAX_BYTES}, 256 MiB).
   * Decoding stops with a `too-large` {@link DatasetError} as soon as the output exceeds it.
   */
  maxBytes?: number;
  /**
   * Reads the size the content declares from its first decompressed bytes; called after each output
   * chunk until it returns a value (return `undefined` while more bytes are needed). Decoding then stops
   * as soon as the output exceeds that size. It may throw a {@link DatasetError} to stop at once (a wrong
   * magic number, say).
   */
  declaredSize?: (head: Uint8Array) => DeclaredSize | undefined;
}

/** Compressed bytes given to fflate at a time after the first step: at most 1032x as many come out. */
const INFLATE_STEP = 16 * 1024;
/** The first step is smaller, so that a header-declared size is known after at most ~1 MiB of output. */
const FIRST_INFLATE_STEP = 1024;
/** A size in a gzip trailer is trusted to preallocate the output only up to this many times the file size. */
const MAX_TRUSTED_RATIO = 64;

/**
 * The most decompressed output that is plausible for `compressedLength` bytes of input: 64 times as many
 * (real data sets compress far less), and at least 64 KiB. Sizes announced by a gzip trailer or declared
 * by a header are trusted to preallocate buffers only up to this.
 */
export function plausibleOutputBytes(compressedLength: number): number {
  return Math.max(1 << 16, MAX_TRUSTED_RATIO * compressedLength);
}

/** A byte count for messages (sizes beyond 2^53 are reported as such rather than rounded). */
function fmtBytes(n: number): string {
  return Number.isSafeInteger(n) ? fmt(n) : `more than ${fmt(Number.MAX_SAFE_INTEGER)}`;
}

/**
 * Receives decompressed output chunk by chunk, after the limits of {@link DecompressOptions} were checked
 * (e.g. a decoder that turns pixels into floats as they arrive, so that the decompressed bytes are never
 * held in one buffer). A chunk is only valid during the call: it may be a view of a buffer that the
 * decompressor reuses, so copy what you keep.
 */
export type ChunkConsumer = (chunk: Uint8Array) => void;

/** The first bytes a forwarding {@link InflateSink} keeps for `declaredSize` to read (IDX headers need at most 1,024). */
const MAX_HEAD = 4096;

/**
 * Enforces the limits of {@link DecompressOptions} on decompressed output chunk by chunk, and either
 * collects the output into one buffer (nothing beyond the limit is ever stored, and the buffer never grows
 * beyond the limit) or, given a {@link ChunkConsumer}, forwards each checked chunk to it and keeps only the
 * first bytes (for `declaredSize`). Used by the portable decoders here and by the Node decoder of
 * `@gradgraph/datasets/node`.
 */
export class InflateSink {
  private out: Uint8Array;
  private n = 0;
  private limit: number;
  private limitText: string;
  private declared: DecompressOptions["declaredSize"];
  /** Preallocating more than this (from a hint or a declared size) is not trusted. */
  private readonly plausible: number;
  /** Where checked chunks go instead of `out` (which then holds only the first bytes), or null. */
  private readonly forward: ChunkConsumer | null;
  /** The running CRC-32 of the output, when asked for. */
  private crc: number | null;

  /**
   * @param file file name for messages
   * @param what the stream, for messages (e.g. "gzip data")
   * @param options the limits
   * @param sizeHint the size the container announces (the gzip trailer), or null
   * @param compressedLength the size of the compressed input: sizes announced or declared are trusted
   *   to preallocate the output only up to 64 times this (real data sets compress far less); beyond
   *   that the buffer grows with the output
   * @param limitText how to name `maxBytes` in messages (default "the limit maxBytes")
   * @param sinkOptions `forward`: pass each checked chunk to this consumer instead of collecting the
   *   output (then {@link InflateSink.result} is not available); `crc`: keep the CRC-32 of the output
   *   ({@link InflateSink.crc32})
   */
  constructor(
    readonly file: string,
    readonly what: string,
    options: DecompressOptions,
    sizeHint: number | null,
    compressedLength: number,
    limitText = "the limit maxBytes",
    sinkOptions: { forward?: ChunkConsumer; crc?: boolean } = {},
  ) {
    const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!(max >= 0)) throw new RangeError(`maxBytes must be a number of bytes >= 0, got ${max}`);
    this.limit = max;
    this.limitText = limitText;
    this.declared = options.declaredSize;
    this.plausible = plausibleOutputBytes(compressedLength);
    this.forward = sinkOptions.forward ?? null;
    this.crc = sinkOptions.crc ? 0 : null;
    const initial = sizeHint !== null && sizeHint <= this.plausible ? sizeHint : 4 * compressedLength;
    const size = this.forward ? (this.declared ? 1024 : 0) : Math.max(initial, 1024);
    this.out = new Uint8Array(Math.min(size, max, 2 ** 31));
  }

  /** Number of bytes of output so far (collected or forwarded). */
  get length(): number {
    return this.n;
  }

  /** The CRC-32 of the output so far (only when the sink was made with `crc: true`). */
  get crc32(): number {
    if (this.crc === null) throw new Error("InflateSink: made without crc: true");
    return this.crc;
  }

  /**
   * Adds a chunk of output.
   * @throws DatasetError `too-large` when the output would exceed the limit, or what `declaredSize` throws
   */
  push(chunk: Uint8Array): void {
    const end = this.n + chunk.length;
    if (end > this.limit) this.tooLarge(end);
    if (this.forward) {
      // keep the first bytes while the declared size is still unknown, then pass the chunk on
      const start = this.n;
      this.n = end;
      if (this.declared && start < MAX_HEAD) {
        const keep = Math.min(end, MAX_HEAD);
        if (keep > this.out.length) this.grow(Math.min(MAX_HEAD, Math.max(keep, 2 * this.out.length)), start);
        this.out.set(chunk.subarray(0, keep - start), start);
        const d = this.declared(this.out.subarray(0, keep));
        if (d) this.setDeclared(d);
      }
      if (this.crc !== null) this.crc = crc32(chunk, this.crc);
      this.forward(chunk);
      return;
    }
    if (end > this.out.length) this.grow(Math.min(this.limit, Math.max(end, 2 * this.out.length)));
    this.out.set(chunk, this.n);
    this.n = end;
    if (this.crc !== null) this.crc = crc32(chunk, this.crc);
    if (this.declared) {
      const d = this.declared(this.out.subarray(0, this.n));
      if (d) this.setDeclared(d);
    }
  }

  private tooLarge(end: number): never {
    throw new DatasetError(
      "too-large",
      this.file,
      `${this.what} exceeds ${fmtBytes(this.limit)} bytes, ${this.limitText}: decompression stopped at ${fmt(end)} bytes of output (a decompression bomb or a corrupt file; raise maxBytes if the file is genuine)`,
    );
  }

  private setDeclared(d: DeclaredSize): void {
    this.declared = undefined;
    const detail = d.detail ? ` (${d.detail})` : "";
    if (d.bytes > this.limit) {
      throw new DatasetError(
        "too-large",
        this.file,
        `${this.what}: ${d.by} declares ${fmtBytes(d.bytes)} bytes${detail}, more than ${this.limitText} = ${fmtBytes(this.limit)} bytes (raise maxBytes if the file is genuine)`,
      );
    }
    this.limit = d.bytes;
    this.limitText = `the size ${d.by} declares${detail}`;
    if (this.n > this.limit) this.tooLarge(this.n);
    if (this.forward) {
      this.out = new Uint8Array(0); // the first bytes are no longer needed
      return;
    }
    // The exact size is known: one allocation, if plausible for the input's size.
    const size = Math.min(this.limit, this.plausible);
    if (this.out.length < size) this.grow(size);
  }

  private grow(size: number, used = this.n): void {
    const next = new Uint8Array(size);
    next.set(this.out.subarray(0, used));
    this.out = next;
  }

  /** The collected output (the buffer itself when it is full, else a trimmed copy). */
  result(): Uint8Array {
    if (this.forward) throw new Error("InflateSink: a forwarding sink collects no output");
    return this.n === this.out.length ? this.out : this.out.slice(0, this.n);
  }
}

/**
 * The uncompressed length a gzip file declares in its trailer (garbage when the file is truncated or
 * has trailing data), or null when the file is too short to have one. Only a hint: see {@link InflateSink}.
 */
export function gzipSizeHint(d: Uint8Array): number | null {
  if (d.length < 18) return null;
  return new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(d.length - 4, true);
}

/** Returns true when `bytes` starts with the gzip signature 1f 8b. */
export function isGzip(bytes: BytesLike): boolean {
  const b = asBytes(bytes);
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/**
 * Inflates a raw deflate stream into `sink`, a few kilobytes of input at a time, turning fflate's errors
 * into {@link DatasetError}s naming the file. Data after the end of the deflate stream is ignored.
 */
function inflateInto(data: Uint8Array, sink: InflateSink): void {
  const { file, what } = sink;
  let fed = 0;
  let fromSink = false;
  try {
    const inflater = new Inflate((chunk) => {
      try {
        sink.push(chunk);
      } catch (e) {
        fromSink = true; // a limit, or what a consumer throws: passed on as it is
        throw e;
      }
    });
    do {
      const end = Math.min(data.length, fed + (fed === 0 ? FIRST_INFLATE_STEP : INFLATE_STEP));
      inflater.push(data.subarray(fed, end), end === data.length);
      fed = end;
    } while (fed < data.length);
  } catch (e) {
    if (fromSink || e instanceof DatasetError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    if ((e as { code?: unknown }).code === 0) {
      throw new DatasetError(
        "truncated",
        file,
        `${what} ends early (unexpected end of the deflate stream after ${fmt(data.length)} compressed bytes): the file is truncated`,
        { cause: e },
      );
    }
    throw new DatasetError("corrupt", file, `${what} is corrupt (${msg})`, { cause: e });
  }
}

/**
 * Checks a gzip header and returns the offset of the deflate data.
 * @throws DatasetError (`bad-magic`, `truncated`, `corrupt`, `unsupported`) naming `file`
 */
function gzipDataOffset(d: Uint8Array, file: string): number {
  if (d.length < 2 || d[0] !== 0x1f || d[1] !== 0x8b) {
    const found = Array.from(d.subarray(0, 2), (x) => x.toString(16).padStart(2, "0")).join(" ");
    throw new DatasetError(
      "bad-magic",
      file,
      `not gzip data: expected bytes 1f 8b at byte 0, found ${found || "nothing"}`,
    );
  }
  if (d.length < 18) {
    throw new DatasetError(
      "truncated",
      file,
      `gzip data truncated: expected at least 18 bytes, found ${d.length}`,
    );
  }
  if (d[2] !== 8) {
    throw new DatasetError(
      "unsupported",
      file,
      `gzip compression method: expected 8 (deflate) at byte 2, found ${d[2]}`,
    );
  }
  const flags = d[3]!;
  if (flags & 0xe0) {
    throw new DatasetError(
      "corrupt",
      file,
      `gzip header: reserved flag bits set at byte 3 (found 0x${flags.toString(16)})`,
    );
  }
  let pos = 10;
  if (flags & 4) pos += 2 + (d[10]! | (d[11]! << 8));
  for (const bit of [8, 16]) {
    if (flags & bit) {
      while (pos < d.length && d[pos] !== 0) pos++;
      pos++;
    }
  }
  if (flags & 2) pos += 2;
  if (pos + 8 > d.length) {
    throw new DatasetError(
      "truncated",
      file,
      `gzip header runs to byte ${pos} but the file has only ${d.length} bytes`,
    );
  }
  return pos;
}

/**
 * Checks the gzip trailer against the decoded data (its CRC-32 `crc` and length `length`). Looks for the
 * real trailer (that CRC-32 and length) first, so that data after the end of the gzip data (garbage, or a
 * second member) is reported with its byte offset instead of as a meaningless trailer value.
 */
function checkGzipTrailer(
  d: Uint8Array,
  dataOffset: number,
  crc: number,
  length: number,
  file: string,
): void {
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const expectedCrc = view.getUint32(d.length - 8, true);
  const isize = view.getUint32(d.length - 4, true);
  const size = length >>> 0;
  // The real trailer is the first place after the header holding this CRC-32 and length (a chance
  // match inside the deflate data has probability 2^-64 per byte).
  for (
    let i = d.indexOf(crc & 255, dataOffset);
    i !== -1 && i + 8 < d.length;
    i = d.indexOf(crc & 255, i + 1)
  ) {
    if (view.getUint32(i, true) === crc && view.getUint32(i + 4, true) === size) {
      const end = i + 8;
      const next =
        d[end] === 0x1f && d[end + 1] === 0x8b
          ? "it starts a second gzip member (concatenated gzip files are not supported)"
          : "expected the file to end there";
      throw new DatasetError(
        "corrupt",
        file,
        `${fmt(d.length - end)} bytes of unexpected data after the end of the gzip data at byte ${fmt(end)} (the file has ${fmt(d.length)} bytes; ${next})`,
      );
    }
  }
  if (crc === expectedCrc && isize === size) return;
  if (isize !== size) {
    throw new DatasetError(
      "corrupt",
      file,
      `gzip length check failed: the trailer says ${fmt(isize)} uncompressed bytes, found ${fmt(length)} (truncated, corrupt or multi-member gzip)`,
    );
  }
  throw new DatasetError(
    "corrupt",
    file,
    `gzip CRC-32 check failed: expected ${hex32(expectedCrc)} (from the trailer), found ${hex32(crc)}`,
  );
}

/**
 * Decompresses a single-member gzip file and verifies its CRC-32 and length trailer. Decoding stops as
 * soon as the output exceeds `options.maxBytes` (default 256 MiB) or the size `options.declaredSize`
 * reads from the first bytes.
 * @param bytes the whole `.gz` file
 * @param file name used in error messages
 * @param options output limits
 * @throws DatasetError (`bad-magic`, `truncated`, `corrupt`, `unsupported`, `too-large`) naming `file`
 */
export function gunzip(bytes: BytesLike, file = "<gzip data>", options: DecompressOptions = {}): Uint8Array {
  const d = asBytes(bytes);
  const pos = gzipDataOffset(d, file);
  const sink = new InflateSink(file, "gzip data", options, gzipSizeHint(d), d.length, undefined, {
    crc: true,
  });
  inflateInto(d.subarray(pos, d.length - 8), sink);
  checkGzipTrailer(d, pos, sink.crc32, sink.length, file);
  return sink.result();
}

/**
 * Decompresses a single-member gzip file as {@link gunzip} does (same checks and limits), but hands the
 * output to `consumer` chunk by chunk instead of collecting it: a decoder can turn it into its final form
 * as it arrives, and the decompressed bytes are never held in one buffer. The CRC-32 and length trailer
 * are checked after the last chunk, so the consumer's result is only valid once this returns.
 * @returns the number of decompressed bytes
 * @throws DatasetError as {@link gunzip}, or what `consumer` throws
 */
export function gunzipInto(
  bytes: BytesLike,
  consumer: ChunkConsumer,
  file = "<gzip data>",
  options: DecompressOptions = {},
): number {
  const d = asBytes(bytes);
  const pos = gzipDataOffset(d, file);
  const sink = new InflateSink(file, "gzip data", options, gzipSizeHint(d), d.length, undefined, {
    crc: true,
    forward: consumer,
  });
  inflateInto(d.subarray(pos, d.length - 8), sink);
  checkGzipTrailer(d, pos, sink.crc32, sink.length, file);
  return sink.length;
}

/**
 * Returns `bytes` gunzipped (and checked, within the limits of `options`) when it starts with the gzip
 * signature, unchanged otherwise.
 */
export function maybeGunzip(bytes: BytesLike, file = "<data>", options: DecompressOptions = {}): Uint8Array {
  return isGzip(bytes) ? gunzip(bytes, file, options) : asBytes(bytes);
}

/**
 * Decompresses a zlib stream (RFC 1950, as in MAT-file `miCOMPRESSED` elements) and verifies its Adler-32,
 * within the limits of `options` (as {@link gunzip}).
 * @param what describes the stream in error messages, e.g. "compressed element at byte 128"
 * @param limitText how messages name `options.maxBytes` (default "the limit maxBytes")
 */
export function unzlib(
  bytes: BytesLike,
  file = "<zlib data>",
  what = "zlib data",
  options: DecompressOptions = {},
  limitText?: string,
): Uint8Array {
  const d = asBytes(bytes);
  if (d.length < 6) {
    throw new DatasetError(
      "truncated",
      file,
      `${what}: expected at least 6 bytes of zlib data, found ${d.length}`,
    );
  }
  const cmf = d[0]!;
  const flg = d[1]!;
  if ((cmf & 15) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0) {
    throw new DatasetError(
      "corrupt",
      file,
      `${what}: invalid zlib header: expected 0x78 0x01/0x5e/0x9c/0xda or similar, found 0x${cmf.toString(16)} 0x${flg.toString(16)}`,
    );
  }
  if (flg & 32)
    throw new DatasetError("unsupported", file, `${what}: zlib preset dictionaries are not supported`);
  const sink = new InflateSink(file, what, options, null, d.length, limitText);
  inflateInto(d.subarray(2, d.length - 4), sink);
  const out = sink.result();
  const expected = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(d.length - 4, false);
  const found = adler32(out);
  if (found !== expected) {
    throw new DatasetError(
      "corrupt",
      file,
      `${what}: Adler-32 check failed: expected ${hex32(expected)} (from the trailer), found ${hex32(found)}`,
    );
  }
  return out;
}
