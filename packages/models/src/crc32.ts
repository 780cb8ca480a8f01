/**
 * CRC-32 (IEEE 802.3, the polynomial of zip, gzip and PNG), table-driven.
 * @module
 */

let table: Uint32Array | null = null;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/**
 * The CRC-32 of `bytes` as an unsigned 32-bit integer (`crc32(utf8("123456789")) === 0xcbf43926`).
 * Pass a previous result as `crc` to continue a running checksum over several chunks.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  table ??= makeTable();
  const t = table;
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
