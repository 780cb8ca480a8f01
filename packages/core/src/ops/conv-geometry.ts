/**
 * Geometry shared by the 2-D convolution and pooling ops: attribute validation, output sizes and
 * the resolution of `"same"` / `"valid"` padding. Layout is NCHW throughout; padding is stored
 * explicitly per side as `[top, bottom, left, right]`.
 * @module
 */
import { type Dim, ShapeError, shapeToString } from "../shape.js";
import type { TypeInfo } from "./types.js";

/** A pair `[height, width]`. */
export type Pair = readonly [number, number];

/** Explicit zero padding per side: `[top, bottom, left, right]`. */
export type Padding4 = readonly [number, number, number, number];

/** How a user may give padding: explicit sides, one number for all sides, or a rule. */
export type PaddingSpec = number | readonly [number, number] | Padding4 | "same" | "valid";

/** Attributes shared by `conv2d`, `conv2dTranspose` and `conv2dBackpropFilter`. */
export interface ConvAttrs {
  /** Step of the window over `[height, width]`. */
  readonly strides: Pair;
  /** Zeros added around the input: `[top, bottom, left, right]`. */
  readonly padding: Padding4;
  /** Spacing of the kernel taps over `[height, width]` (1: a dense kernel). */
  readonly dilations: Pair;
  /** Channel groups: input and output channels are split into `groups` independent convolutions. */
  readonly groups: number;
}

/** Everything a convolution kernel needs to know, all concrete. */
export interface ConvGeometry {
  /** Images in the batch. */
  readonly N: number;
  /** Input channels (all groups). */
  readonly C: number;
  /** Input height and width. */
  readonly H: number;
  readonly W: number;
  /** Output channels (all groups). */
  readonly O: number;
  /** Kernel height and width. */
  readonly kh: number;
  readonly kw: number;
  /** Output height and width. */
  readonly Ho: number;
  readonly Wo: number;
  readonly sh: number;
  readonly sw: number;
  readonly dh: number;
  readonly dw: number;
  /** Padding before the first row / column. */
  readonly pt: number;
  readonly pl: number;
  readonly groups: number;
}

function positiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 1;
}

function nonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** Validates a `[h, w]` attribute of positive integers (a single number means both). */
export function pairAttr(op: string, field: string, raw: unknown, dflt: Pair): Pair {
  if (raw === undefined) return dflt;
  if (positiveInt(raw)) return [raw, raw];
  if (Array.isArray(raw) && raw.length === 2 && raw.every(positiveInt)) return [raw[0], raw[1]];
  throw new Error(
    `${op}: attribute '${field}' must be a positive integer or [h, w] of them, got ${JSON.stringify(raw)}`,
  );
}

/** Validates a required `[h, w]` attribute (no default: a missing one is an error naming it). */
export function requiredPairAttr(op: string, field: string, raw: unknown): Pair {
  if (raw === undefined) throw new Error(`${op}: attribute '${field}' is required`);
  return pairAttr(op, field, raw, [1, 1]);
}

/** Validates explicit padding `[top, bottom, left, right]` (a number, or `[h, w]`, means symmetric). */
export function paddingAttr(op: string, raw: unknown): Padding4 {
  if (raw === undefined) return [0, 0, 0, 0];
  if (nonNegInt(raw)) return [raw, raw, raw, raw];
  if (Array.isArray(raw) && raw.every(nonNegInt)) {
    if (raw.length === 2) return [raw[0], raw[0], raw[1], raw[1]];
    if (raw.length === 4) return [raw[0], raw[1], raw[2], raw[3]];
  }
  throw new Error(
    `${op}: attribute 'padding' must be a non-negative integer, [h, w] or [top, bottom, left, right] (resolve "same"/"valid" with the builder), got ${JSON.stringify(raw)}`,
  );
}

/** Validates the attributes every convolution op shares. */
export function convAttrs(op: string, raw: Partial<ConvAttrs>): ConvAttrs {
  const groups = raw.groups ?? 1;
  if (!positiveInt(groups))
    throw new Error(`${op}: attribute 'groups' must be a positive integer, got ${JSON.stringify(groups)}`);
  return {
    strides: pairAttr(op, "strides", raw.strides, [1, 1]),
    padding: paddingAttr(op, raw.padding),
    dilations: pairAttr(op, "dilations", raw.dilations, [1, 1]),
    groups,
  };
}

/**
 * Output length along one axis: `floor((size + p0 + p1 - d·(k-1) - 1) / s) + 1`, or a number
 * below 1 when the (dilated) window does not fit.
 */
export function outSize(size: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

/**
 * Resolves user padding to explicit sides for an input of `[H, W]`. `"valid"`: none. `"same"`:
 * TensorFlow's rule, output `ceil(size / stride)`, the odd extra pixel of padding after (bottom,
 * right).
 */
export function resolvePadding(
  op: string,
  spec: PaddingSpec | undefined,
  inHW: readonly [Dim, Dim],
  kernel: Pair,
  strides: Pair,
  dilations: Pair,
): Padding4 {
  if (spec === undefined || spec === "valid") return [0, 0, 0, 0];
  if (spec !== "same") return paddingAttr(op, spec);
  const side = (size: Dim, k: number, s: number, d: number): [number, number] => {
    const span = d * (k - 1) + 1;
    if (typeof size !== "number") {
      if (s !== 1)
        throw new ShapeError(`${op}: "same" padding with stride ${s} needs a concrete size, got '${size}'`);
      return [Math.floor((span - 1) / 2), span - 1 - Math.floor((span - 1) / 2)];
    }
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + span - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  const [t, b] = side(inHW[0], kernel[0], strides[0], dilations[0]);
  const [l, r] = side(inHW[1], kernel[1], strides[1], dilations[1]);
  return [t, b, l, r];
}

/** Describes a convolution's operands for error messages. */
function describe(op: string, inputs: readonly TypeInfo[], attrs: ConvAttrs): string {
  const ops = inputs.map((t) => shapeToString(t.shape)).join(" and ");
  return `${op} of ${ops} (strides [${attrs.strides.join(", ")}], padding [${attrs.padding.join(", ")}], dilations [${attrs.dilations.join(", ")}], groups ${attrs.groups})`;
}

/** Checks a rank-4 NCHW operand and a concrete spatial size. */
export function nchw(op: string, what: string, t: TypeInfo): readonly [Dim, Dim, number, number] {
  if (t.shape.length !== 4)
    throw new ShapeError(`${op}: ${what} must be rank 4 [N, C, H, W], got ${shapeToString(t.shape)}`);
  const [n, c, h, w] = t.shape as [Dim, Dim, Dim, Dim];
  if (typeof h !== "number" || typeof w !== "number")
    throw new ShapeError(`${op}: ${what} ${shapeToString(t.shape)} needs concrete height and width`);
  return [n, c, h, w];
}

/**
 * Checks the weights of a convolution against its input channels and returns
 * `[outChannels, kh, kw]`. Weights are `[O, C/groups, kh, kw]`, all concrete.
 */
export function convWeights(
  op: string,
  inputs: readonly TypeInfo[],
  attrs: ConvAttrs,
  channels: Dim,
  w: TypeInfo,
): [number, number, number] {
  const fail = (msg: string) => new ShapeError(`${describe(op, inputs, attrs)}: ${msg}`);
  if (w.shape.length !== 4 || !w.shape.every((d) => typeof d === "number"))
    throw fail(
      `weights must be a concrete rank-4 [outChannels, inChannels/groups, kh, kw], got ${shapeToString(w.shape)}`,
    );
  const [o, cg, kh, kw] = w.shape as number[] as [number, number, number, number];
  const g = attrs.groups;
  if (typeof channels !== "number") throw fail(`the input channels must be concrete`);
  if (channels % g !== 0) throw fail(`${channels} input channels are not divisible by groups ${g}`);
  if (o % g !== 0) throw fail(`${o} output channels are not divisible by groups ${g}`);
  if (cg !== channels / g)
    throw fail(
      `weights expect ${cg} channels per group but the input has ${channels} / ${g} = ${channels / g}`,
    );
  return [o, kh, kw];
}

/** The output height and width of a convolution, checked to be at least 1. */
export function convOutHW(
  op: string,
  inputs: readonly TypeInfo[],
  attrs: ConvAttrs,
  h: number,
  w: number,
  kh: number,
  kw: number,
): [number, number] {
  const [t, b, l, r] = attrs.padding;
  const ho = outSize(h, kh, attrs.strides[0], attrs.dilations[0], t, b);
  const wo = outSize(w, kw, attrs.strides[1], attrs.dilations[1], l, r);
  if (ho < 1 || wo < 1)
    throw new ShapeError(
      `${describe(op, inputs, attrs)}: the ${kh}x${kw} kernel does not fit the padded ${h}x${w} image (output ${ho}x${wo})`,
    );
  return [ho, wo];
}

/** The concrete geometry of a convolution whose input is `x [N,C,H,W]` and output `[N,O,Ho,Wo]`. */
export function convGeometry(
  x: readonly number[],
  out: readonly number[],
  kernel: Pair,
  attrs: ConvAttrs,
): ConvGeometry {
  return {
    N: x[0]!,
    C: x[1]!,
    H: x[2]!,
    W: x[3]!,
    O: out[1]!,
    Ho: out[2]!,
    Wo: out[3]!,
    kh: kernel[0],
    kw: kernel[1],
    sh: attrs.strides[0],
    sw: attrs.strides[1],
    dh: attrs.dilations[0],
    dw: attrs.dilations[1],
    pt: attrs.padding[0],
    pl: attrs.padding[2],
    groups: attrs.groups,
  };
}

export { describe as describeConv };
