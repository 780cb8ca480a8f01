/**
 * The error type of every data-set problem: a corrupt or truncated file, a wrong magic number, a count or
 * checksum mismatch, a missing `.mat` variable, missing files after a failed download.
 * @module
 */

/** What kind of problem a {@link DatasetError} reports. */
export type DatasetErrorCode =
  /** The bytes end before the format says they should (truncated download, cut-off file). */
  | "truncated"
  /** A compressed stream does not decode, or its CRC-32/Adler-32/length check fails. */
  | "corrupt"
  /** The file starts with the wrong magic number or signature. */
  | "bad-magic"
  /** Dimensions or a matrix shape differ from what the data set needs. */
  | "bad-shape"
  /** Two files or two parts of a file disagree on how many items there are. */
  | "count-mismatch"
  /** The byte length differs from the one the header implies. */
  | "length-mismatch"
  /** A value lies outside its allowed range (a label above 9, a pixel above 16, text that is no number). */
  | "bad-value"
  /** The file's structure is not what the format describes (a `.mat` element of the wrong type, ...). */
  | "bad-structure"
  /** A `.mat` file lacks a variable the loader needs. */
  | "missing-variable"
  /** A valid file that uses a feature this reader does not implement (MAT v7.3, sparse matrices, ...). */
  | "unsupported"
  /**
   * Decompressed data exceeds the size its header declares or the `maxBytes` limit; decoding stopped
   * there (a decompression bomb, or a genuinely larger file: raise `maxBytes`).
   */
  | "too-large"
  /**
   * A local file cannot be read (permission denied, a directory in its place, an I/O error, or a path
   * given explicitly that does not exist); the message names the path and the system error code. A file
   * that is there but unreadable is not downloaded again.
   */
  | "unreadable"
  /** A downloaded file's SHA-256 differs from the published one. */
  | "checksum-mismatch"
  /** Files are missing locally and could not be downloaded. */
  | "missing-files";

/**
 * An error raised while reading, validating or fetching a data file. The message names the file and says
 * what was wrong, with the expected and the found value (and a byte offset where that helps), e.g.
 * `train-labels-idx1-ubyte.gz: wrong magic number at byte 0: expected 0x00000801 (IDX1 unsigned-byte labels), found 0x00000803`.
 * `code` classifies the problem (truncated data, a bad header, a checksum mismatch, missing files, ...)
 * for programs that react to it, and `file` names the file.
 *
 * @example
 * ```ts
 * import { DatasetError, parseIdx } from "@gradgraph/datasets";
 *
 * try {
 *   parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1]), { file: "labels.idx" });
 * } catch (e) {
 *   if (e instanceof DatasetError) console.log(e.code, e.message);
 *   // truncated labels.idx: IDX header truncated: 3 dimensions need 16 header bytes, found 8
 * }
 * ```
 */
export class DatasetError extends Error {
  /** Always `"DatasetError"`. */
  override name = "DatasetError";
  /** The kind of problem, for programs that react to it. */
  readonly code: DatasetErrorCode;
  /** The file (name or path) the problem is in, when there is one. */
  readonly file: string | undefined;

  /**
   * @param code the kind of problem
   * @param file the file's name or path (prefixed to the message), or `undefined`
   * @param detail what was wrong, ideally "expected X, found Y"
   * @param options `cause`: the underlying error, if any
   */
  constructor(
    code: DatasetErrorCode,
    file: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(file === undefined ? detail : `${file}: ${detail}`, options);
    this.code = code;
    this.file = file;
  }
}
