/**
 * Small helpers shared by the parsers: byte inputs, hex formatting.
 * @module
 */

/** Raw file contents as accepted by every parser: a `Uint8Array` (a Node `Buffer` is one) or an `ArrayBuffer`. */
export type BytesLike = Uint8Array | ArrayBuffer;

/** Views `input` as a `Uint8Array` without copying. */
export function asBytes(input: BytesLike): Uint8Array {
  return input instanceof Uint8Array ? input : new Uint8Array(input);
}

/** Formats a 32-bit value as `0x0000abcd`. */
export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
}

/** Formats a number with thousands separators (`60,000`), for messages. */
export function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * Decodes bytes as Latin-1 (one character per byte), one byte at a time: no spreading of the array into
 * a call, which overflows the stack for long inputs.
 */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}
