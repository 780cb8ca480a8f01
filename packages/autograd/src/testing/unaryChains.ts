/**
 * Chains of unary ops with closed-form first and second derivatives, for second-order tests.
 * @module
 */
import fc from "fast-check";
import { valueArb } from "./arbitraries.js";

/** The unary ops with closed forms here. */
export const UNARY_CHAIN_OPS = ["neg", "exp", "tanh", "sigmoid", "log", "sqrt", "square"] as const;

/** A unary op of {@link UNARY_CHAIN_OPS}. */
export type UnaryChainOp = (typeof UNARY_CHAIN_OPS)[number];

/** A unary function with its first two derivatives, and where it is safe to evaluate. */
export interface UnaryClosedForm {
  /** The function. */
  readonly f: (x: number) => number;
  /** Its first derivative. */
  readonly d1: (x: number) => number;
  /** Its second derivative. */
  readonly d2: (x: number) => number;
  /** True when `x` is inside the domain used for tests (away from poles, no overflow). */
  readonly safe: (x: number) => boolean;
}

const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** Closed forms of each op in {@link UNARY_CHAIN_OPS}. */
export const UNARY_CLOSED_FORMS: Readonly<Record<UnaryChainOp, UnaryClosedForm>> = {
  neg: { f: (x) => -x, d1: () => -1, d2: () => 0, safe: () => true },
  exp: { f: Math.exp, d1: Math.exp, d2: Math.exp, safe: (x) => x <= 3 },
  tanh: {
    f: Math.tanh,
    d1: (x) => 1 - Math.tanh(x) ** 2,
    d2: (x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2),
    safe: () => true,
  },
  sigmoid: {
    f: sig,
    d1: (x) => sig(x) * (1 - sig(x)),
    d2: (x) => sig(x) * (1 - sig(x)) * (1 - 2 * sig(x)),
    safe: () => true,
  },
  log: { f: Math.log, d1: (x) => 1 / x, d2: (x) => -1 / (x * x), safe: (x) => x >= 0.1 },
  sqrt: {
    f: Math.sqrt,
    d1: (x) => 0.5 / Math.sqrt(x),
    d2: (x) => -0.25 / (x * Math.sqrt(x)),
    safe: (x) => x >= 0.1,
  },
  square: { f: (x) => x * x, d1: (x) => 2 * x, d2: () => 2, safe: (x) => Math.abs(x) <= 10 },
};

/** Value, first and second derivative of a chain at one point. */
export interface ChainDerivatives {
  /** `f(x)`. */
  readonly value: number;
  /** `f'(x)`. */
  readonly d1: number;
  /** `f''(x)`. */
  readonly d2: number;
}

/**
 * Value and derivatives of `ops[n-1](...ops[0](x))` by the chain rule in forward mode:
 * `(v, v', v'') -> (h(v), h'(v) v', h''(v) v'^2 + h'(v) v'')`.
 */
export function unaryChainDerivatives(ops: readonly UnaryChainOp[], x: number): ChainDerivatives {
  let v = x;
  let d1 = 1;
  let d2 = 0;
  for (const op of ops) {
    const h = UNARY_CLOSED_FORMS[op];
    const h1 = h.d1(v);
    d2 = h.d2(v) * d1 * d1 + h1 * d2;
    d1 = h1 * d1;
    v = h.f(v);
  }
  return { value: v, d1, d2 };
}

/** A chain of unary ops and the points to evaluate it at. */
export interface UnaryChainCase {
  /** Ops applied in order (innermost first). */
  readonly ops: readonly UnaryChainOp[];
  /** Evaluation points (a vector; the chain is applied elementwise). */
  readonly x: readonly number[];
}

/**
 * Chains of 1..`maxLength` unary ops and 1..3 points in `[-2, 2]`. An op whose input would leave
 * its safe domain at some point (e.g. `log` of a negative value) is dropped, so every chain is
 * smooth at every point; shrinking removes ops and moves points towards 0.
 */
export function unaryChainArb(options: { maxLength?: number } = {}): fc.Arbitrary<UnaryChainCase> {
  return fc
    .record({
      ops: fc.array(fc.constantFrom(...UNARY_CHAIN_OPS), { minLength: 1, maxLength: options.maxLength ?? 4 }),
      x: fc.array(valueArb(), { minLength: 1, maxLength: 3 }),
    })
    .map(({ ops, x }) => {
      let vals = [...x];
      const kept: UnaryChainOp[] = [];
      for (const op of ops) {
        const h = UNARY_CLOSED_FORMS[op];
        if (!vals.every(h.safe)) continue;
        kept.push(op);
        vals = vals.map(h.f);
      }
      return { ops: kept, x };
    });
}
