/**
 * A minimal WebAssembly binary emitter: enough to generate SIMD kernels at run time from
 * TypeScript (no build step, no prebuilt binaries). Functions import one linear memory.
 * @module
 */

/** WebAssembly value types used by the kernels. */
export const I32 = 0x7f;
/** 32-bit float value type. */
export const F32 = 0x7d;
/** 64-bit float value type. */
export const F64 = 0x7c;
/** 128-bit SIMD vector type. */
export const V128 = 0x7b;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function str(s: string): number[] {
  const b = Array.from(new TextEncoder().encode(s));
  return [...uleb(b.length), ...b];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** Builds one function body with named locals and structured control flow. */
export class FunctionBuilder {
  /** Emitted instruction bytes. */
  readonly code: number[] = [];
  private readonly localTypes: number[] = [];
  private readonly names = new Map<string, number>();

  /** @param params parameter names and types, in order */
  constructor(
    readonly params: readonly [string, number][],
    readonly results: readonly number[] = [],
  ) {
    params.forEach(([n], i) => {
      this.names.set(n, i);
    });
  }

  /** Declares a local (or returns the existing one) and returns its index. */
  local(name: string, type: number): number {
    const hit = this.names.get(name);
    if (hit !== undefined) return hit;
    const idx = this.params.length + this.localTypes.length;
    this.localTypes.push(type);
    this.names.set(name, idx);
    return idx;
  }

  private idx(name: string): number {
    const i = this.names.get(name);
    if (i === undefined) throw new Error(`wasm emitter: unknown local '${name}'`);
    return i;
  }

  /** Appends raw bytes. */
  op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }
  /** local.get */
  get(name: string): this {
    return this.op(0x20, ...uleb(this.idx(name)));
  }
  /** local.set */
  set(name: string): this {
    return this.op(0x21, ...uleb(this.idx(name)));
  }
  /** i32.const */
  i32(n: number): this {
    return this.op(0x41, ...sleb(n));
  }
  /** i32.add */
  add(): this {
    return this.op(0x6a);
  }
  /** i32.sub */
  sub(): this {
    return this.op(0x6b);
  }
  /** i32.mul */
  mul(): this {
    return this.op(0x6c);
  }
  /** i32.gt_s */
  gtS(): this {
    return this.op(0x4a);
  }
  /** i32.ge_s */
  geS(): this {
    return this.op(0x4e);
  }
  /** i32.lt_s */
  ltS(): this {
    return this.op(0x48);
  }
  /** call (function index in the module) */
  call(index: number): this {
    return this.op(0x10, ...uleb(index));
  }
  /** i32.eq */
  eq(): this {
    return this.op(0x46);
  }
  /** i32.and */
  and(): this {
    return this.op(0x71);
  }
  /** i32.eqz */
  eqz(): this {
    return this.op(0x45);
  }
  /** select: `cond ? a : b` with a, b, cond on the stack (in that order). */
  select(): this {
    return this.op(0x1b);
  }
  /** `if (cond) then else otherwise`, where `cond` pushes an i32; no result value. */
  ifElse(cond: () => void, then: () => void, otherwise?: () => void): this {
    cond();
    this.op(0x04, 0x40);
    then();
    if (otherwise) {
      this.op(0x05);
      otherwise();
    }
    return this.op(0x0b);
  }
  /** local += constant (i32) */
  inc(name: string, by: number): this {
    return this.get(name).i32(by).add().set(name);
  }
  /** local += other local (i32) */
  incBy(name: string, other: string): this {
    return this.get(name).get(other).add().set(name);
  }
  /** `while (cond) body` where `cond` pushes an i32. */
  whileLoop(cond: () => void, body: () => void): this {
    this.op(0x02, 0x40, 0x03, 0x40); // block loop
    cond();
    this.op(0x45, 0x0d, 0x01); // i32.eqz br_if 1
    body();
    this.op(0x0c, 0x00, 0x0b, 0x0b); // br 0 end end
    return this;
  }
  /** f32.load at the address on the stack. */
  f32Load(offset = 0): this {
    return this.op(0x2a, 0x02, ...uleb(offset));
  }
  /** f32.store (address, value on the stack). */
  f32Store(offset = 0): this {
    return this.op(0x38, 0x02, ...uleb(offset));
  }
  /** f32.add */
  f32Add(): this {
    return this.op(0x92);
  }
  /** f32.mul */
  f32Mul(): this {
    return this.op(0x94);
  }
  /** f32.const */
  f32Const(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    return this.op(0x43, ...b);
  }
  /** v128.load */
  v128Load(offset = 0): this {
    return this.op(0xfd, 0x00, 0x02, ...uleb(offset));
  }
  /** v128.store */
  v128Store(offset = 0): this {
    return this.op(0xfd, 0x0b, 0x02, ...uleb(offset));
  }
  /** v128.load32_splat */
  v128Load32Splat(offset = 0): this {
    return this.op(0xfd, 0x09, 0x02, ...uleb(offset));
  }
  /** v128.load32_zero: one float into lane 0, zeros elsewhere. */
  v128Load32Zero(offset = 0): this {
    return this.op(0xfd, 0x5c, 0x02, ...uleb(offset));
  }
  /** v128.load64_zero: two floats into lanes 0-1, zeros elsewhere. */
  v128Load64Zero(offset = 0): this {
    return this.op(0xfd, 0x5d, 0x03, ...uleb(offset));
  }
  /** v128.load32_lane (address, vector on the stack): replaces one lane. */
  v128Load32Lane(offset: number, lane: number): this {
    return this.op(0xfd, 0x56, 0x02, ...uleb(offset), lane);
  }
  /** v128.store32_lane (address, vector on the stack). */
  v128Store32Lane(offset: number, lane: number): this {
    return this.op(0xfd, 0x5a, 0x02, ...uleb(offset), lane);
  }
  /** v128.store64_lane (address, vector on the stack): lanes 2·lane and 2·lane+1 as f32. */
  v128Store64Lane(offset: number, lane: number): this {
    return this.op(0xfd, 0x5b, 0x03, ...uleb(offset), lane);
  }
  /** i8x16.shuffle of the two vectors on the stack, given as four 32-bit lane indices (0-7). */
  shuffle32(lanes: readonly [number, number, number, number]): this {
    return this.op(0xfd, 0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }
  /** v128.const 0 */
  v128Zero(): this {
    return this.op(0xfd, 0x0c, ...new Array<number>(16).fill(0));
  }
  /** f32x4.add */
  f32x4Add(): this {
    return this.op(0xfd, ...uleb(228));
  }
  /** f32x4.mul */
  f32x4Mul(): this {
    return this.op(0xfd, ...uleb(230));
  }
  /** f32x4.relaxed_madd (relaxed SIMD): `a·b + c`, fused or not as the hardware does it. */
  f32x4RelaxedMadd(): this {
    return this.op(0xfd, ...uleb(0x105));
  }
  /** f32x4.extract_lane */
  f32x4Extract(lane: number): this {
    return this.op(0xfd, 0x1f, lane);
  }

  /** The encoded body (locals + code + end). */
  encode(): number[] {
    const groups: number[][] = this.localTypes.map((t) => [1, t]);
    const body = [...vec(groups), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/** Assembles a module importing `env.memory` and exporting the given functions. */
export function assembleModule(
  funcs: readonly { name: string; fn: FunctionBuilder }[],
  memory: { initial: number; maximum: number; shared: boolean },
): Uint8Array<ArrayBuffer> {
  const types = funcs.map(({ fn }) => [
    0x60,
    ...vec(fn.params.map(([, t]) => [t])),
    ...vec(fn.results.map((t) => [t])),
  ]);
  const limits = memory.shared
    ? [0x03, ...uleb(memory.initial), ...uleb(memory.maximum)]
    : [0x01, ...uleb(memory.initial), ...uleb(memory.maximum)];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, vec([[...str("env"), ...str("memory"), 0x02, ...limits]])),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(7, vec(funcs.map(({ name }, i) => [...str(name), 0x00, ...uleb(i)]))),
    ...section(10, vec(funcs.map(({ fn }) => fn.encode()))),
  ];
  return new Uint8Array(bytes);
}
