/**
 * gzip and zlib decoding with integrity checks. fflate inflates the deflate stream (fast, browser-safe);
 * this module parses the gzip/zlib framing itself so that it can verify what fflate does not: the gzip
 * CRC-32 and length trailer, the zlib Adler-32 trailer. A truncated or bit-flipped file therefore fails
 * loudly instead of yielding silently wrong data.
 * @module
 */
import { inflateSync } from "fflate";
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

/** The CRC-32 (IEEE 802.3, as used by gzip and zip) of `data`, as an unsigned 32-bit integer. */
export function crc32(data: Uint8Array): number {
  const t = CRC_TABLE;
  let c = -1;
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

/**
 * The uncompressed length a gzip file declares in its trailer, when plausible (deflate expands at most
 * ~1032x; capped at 256 MiB), else null: a truncated file has garbage there. Used to size the output
 * buffer in one go; the decoders check the real length anyway.
 */
export function gzipSizeHint(d: Uint8Array): number | null {
  if (d.length < 18) return null;
  const isize = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(d.length - 4, true);
  return isize <= d.length * 1032 && isize <= 2 ** 28 ? isize : null;
}

/** Returns true when `bytes` starts with the gzip signature 1f 8b. */
export function isGzip(bytes: BytesLike): boolean {
  const b = asBytes(bytes);
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Inflates a raw deflate stream, turning fflate's errors into {@link DatasetError}s naming the file. */
function inflate(data: Uint8Array, file: string, what: string, out?: Uint8Array): Uint8Array {
  try {
    return out ? inflateSync(data, { out }) : inflateSync(data);
  } catch (e) {
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
 * Decompresses a single-member gzip file and verifies its CRC-32 and length trailer.
 * @param bytes the whole `.gz` file
 * @param file name used in error messages
 * @throws DatasetError (`bad-magic`, `truncated`, `corrupt`, `unsupported`) naming `file`
 */
export function gunzip(bytes: BytesLike, file = "<gzip data>"): Uint8Array {
  const d = asBytes(bytes);
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
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const expectedCrc = view.getUint32(d.length - 8, true);
  const isize = view.getUint32(d.length - 4, true);
  const body = d.subarray(pos, d.length - 8);
  const size = gzipSizeHint(d);
  const out = inflate(body, file, "gzip data", size === null ? undefined : new Uint8Array(size));
  if (out.length !== isize) {
    throw new DatasetError(
      "corrupt",
      file,
      `gzip length check failed: the trailer says ${fmt(isize)} uncompressed bytes, found ${fmt(out.length)} (truncated, corrupt or multi-member gzip)`,
    );
  }
  const crc = crc32(out);
  if (crc !== expectedCrc) {
    throw new DatasetError(
      "corrupt",
      file,
      `gzip CRC-32 check failed: expected ${hex32(expectedCrc)} (from the trailer), found ${hex32(crc)}`,
    );
  }
  return out;
}

/** Returns `bytes` gunzipped (and checked) when it starts with the gzip signature, unchanged otherwise. */
export function maybeGunzip(bytes: BytesLike, file = "<data>"): Uint8Array {
  return isGzip(bytes) ? gunzip(bytes, file) : asBytes(bytes);
}

/**
 * Decompresses a zlib stream (RFC 1950, as in MAT-file `miCOMPRESSED` elements) and verifies its Adler-32.
 * @param what describes the stream in error messages, e.g. "compressed element at byte 128"
 */
export function unzlib(bytes: BytesLike, file = "<zlib data>", what = "zlib data"): Uint8Array {
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
  const out = inflate(d.subarray(2, d.length - 4), file, what);
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
