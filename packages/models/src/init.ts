/**
 * Friendly factories for core's initialiser kinds. Initialisers are plain data stored with the graph;
 * {@link ParamStore.init} draws them from a seeded {@link Rng}, so the same seed always gives the same
 * weights.
 * @module
 */
import type { Init } from "@gradgraph/core";

/**
 * Initialiser factories: `init.normal()`, `init.scaledNormal()`, `init.glorotUniform()`,
 * `init.heNormal()`, ...
 */
export const init = {
  /** All zeros (the usual bias initialiser). */
  zeros(): Init {
    return { kind: "zeros" };
  },
  /** All ones. */
  ones(): Init {
    return { kind: "ones" };
  },
  /** Every element `value`. */
  constant(value: number): Init {
    return { kind: "constant", value };
  },
  /** Draws from N(mean, std²); defaults to N(0, 1) (Nielsen's `network.py`). */
  normal(options: { mean?: number; std?: number } = {}): Init {
    return { kind: "normal", mean: options.mean ?? 0, std: options.std ?? 1 };
  },
  /** Uniform in `[low, high)`. */
  uniform(low: number, high: number): Init {
    return { kind: "uniform", low, high };
  },
  /**
   * `randn / sqrt(fanIn)` (PyImageSearch, Nielsen's improved initialisation). Leave `fanIn` unset
   * inside a layer helper and the layer fills in its input width.
   */
  scaledNormal(options: { fanIn?: number } = {}): Init {
    return options.fanIn === undefined
      ? { kind: "scaledNormal" }
      : { kind: "scaledNormal", fanIn: options.fanIn };
  },
  /**
   * Glorot/Xavier uniform in `±sqrt(6 / (fanIn + fanOut))` (Ng's ex4 `epsilon_init`). Leave the fans
   * unset inside a layer helper and the layer fills in its input width and unit count.
   */
  glorotUniform(options: { fanIn?: number; fanOut?: number } = {}): Init {
    const out: { kind: "glorotUniform"; fanIn?: number; fanOut?: number } = { kind: "glorotUniform" };
    if (options.fanIn !== undefined) out.fanIn = options.fanIn;
    if (options.fanOut !== undefined) out.fanOut = options.fanOut;
    return out;
  },
  /**
   * He/Kaiming normal: N(0, 2 / fanIn), for layers followed by a ReLU (a plain normal, as PyTorch's
   * `kaiming_normal_`; Keras truncates it). Leave `fanIn` unset inside a layer helper and the layer
   * fills in its own (a convolution: input channels per group × kernel height × kernel width).
   */
  heNormal(options: { fanIn?: number } = {}): Init {
    return options.fanIn === undefined ? { kind: "heNormal" } : { kind: "heNormal", fanIn: options.fanIn };
  },
  /**
   * He/Kaiming uniform in `±sqrt(6 / fanIn)` (variance 2 / fanIn). Leave `fanIn` unset inside a layer
   * helper and the layer fills in its own.
   */
  heUniform(options: { fanIn?: number } = {}): Init {
    return options.fanIn === undefined ? { kind: "heUniform" } : { kind: "heUniform", fanIn: options.fanIn };
  },
  /**
   * Andrew Ng's deterministic debug weights, `reshape(sin(1:numel), size) / 10` filled column-major as
   * MATLAB does; used for gradient checking. Needs no random numbers.
   */
  debugSin(): Init {
    return { kind: "debugSin" };
  },
  /** Explicit row-major values. */
  values(values: readonly number[]): Init {
    return { kind: "values", values: [...values] };
  },
} as const;

/**
 * Fills in `fanIn`/`fanOut` of fan-dependent initialisers that leave them unset (layers call this
 * with their real input width and unit count, whatever the weight's storage layout).
 */
export function withFans(initializer: Init, fanIn: number, fanOut: number): Init {
  switch (initializer.kind) {
    case "scaledNormal":
    case "heNormal":
    case "heUniform":
      return initializer.fanIn === undefined ? { ...initializer, fanIn } : initializer;
    case "glorotUniform":
      return {
        ...initializer,
        fanIn: initializer.fanIn ?? fanIn,
        fanOut: initializer.fanOut ?? fanOut,
      };
    default:
      return initializer;
  }
}
