/**
 * Where each data file comes from and how to verify it: the canonical public URLs (tried in order) and
 * the published SHA-256. Plain data, browser-safe; the Node entry downloads with it.
 * @module
 */

/** One file of a data set. */
export interface DataFileSpec {
  /** Path inside a data directory, with `/` separators (e.g. `"mnist/train-images-idx3-ubyte.gz"`). */
  readonly path: string;
  /** Public URLs to download it from, tried in order. */
  readonly urls: readonly string[];
  /**
   * SHA-256 (lowercase hex) of the file as downloaded, or `null` where copies differ only in their gzip
   * header (then the content checksum alone decides).
   */
  readonly sha256: string | null;
  /**
   * SHA-256 of the content: the gunzipped bytes of a `.gz` file, else the file itself. It also verifies an
   * uncompressed stand-in (the path without `.gz`), which the loaders accept for `.gz` files.
   */
  readonly contentSha256: string;
}

/** Names of the downloadable data sets. */
export type DatasetName = "mnist" | "digits" | "ex4weights";

const MNIST_MIRRORS = [
  "https://ossci-datasets.s3.amazonaws.com/mnist/",
  "https://storage.googleapis.com/cvdf-datasets/mnist/",
  "http://yann.lecun.com/exdb/mnist/",
];

function mnist(name: string, sha256: string, contentSha256: string): DataFileSpec {
  return { path: `mnist/${name}`, urls: MNIST_MIRRORS.map((m) => m + name), sha256, contentSha256 };
}

/**
 * The files of each data set. MNIST's checksums are those of the original 1998 `.gz` files (which the
 * mirrors serve byte for byte) and of their content. Only the content checksum is given for digits,
 * because copies of `digits.csv.gz` differ in their gzip header. ex4weights.mat is the course file as
 * published in public course repositories.
 */
export const DATASET_FILES: Readonly<Record<DatasetName, readonly DataFileSpec[]>> = {
  mnist: [
    mnist(
      "train-images-idx3-ubyte.gz",
      "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
      "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    mnist(
      "train-labels-idx1-ubyte.gz",
      "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
      "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    mnist(
      "t10k-images-idx3-ubyte.gz",
      "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
      "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    mnist(
      "t10k-labels-idx1-ubyte.gz",
      "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
      "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
  ],
  digits: [
    {
      path: "sklearn-digits/digits.csv.gz",
      urls: [
        "https://raw.githubusercontent.com/scikit-learn/scikit-learn/main/sklearn/datasets/data/digits.csv.gz",
        "https://raw.githubusercontent.com/scikit-learn/scikit-learn/1.5.2/sklearn/datasets/data/digits.csv.gz",
      ],
      sha256: null,
      contentSha256: "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8",
    },
  ],
  ex4weights: [
    {
      path: "ng-ex4/ex4weights.mat",
      urls: [
        "https://raw.githubusercontent.com/ToBeDefined/Coursera-MachineLearning/master/ProgrammingExercise/ex4/ex4weights.mat",
        "https://raw.githubusercontent.com/Duguce/LearningMLwithAndrewNg/52605b38c228ed0a4ab0c4ad19c62dce5df43cd2/ex04-NNbackPropagation/ex4weights.mat",
      ],
      sha256: "7eb93f42e50219a15de2378c7f8e4ecdd71005fc19e0e519cd52d5ce4d74e1f5",
      contentSha256: "7eb93f42e50219a15de2378c7f8e4ecdd71005fc19e0e519cd52d5ce4d74e1f5",
    },
  ],
};
