/**
 * User ops' attributes are stored as the JSON data they serialise to (internal helper of the
 * builder and the parser; not exported from the package).
 * @module
 */

/** Largest nesting depth of a user op's attributes (serialised graphs allow 32 levels in all). */
const MAX_ATTR_DEPTH = 16;

/**
 * A deep copy of `x` as the JSON data it serialises to (-0 becomes 0), or an Error naming the
 * first value JSON cannot hold (a non-finite number, a function, a class instance, a cycle...).
 */
export function jsonAttrs(x: unknown): unknown {
  const walk = (v: unknown, path: string, depth: number): unknown => {
    if (v === null || typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") {
      if (!Number.isFinite(v))
        throw new Error(`attribute ${path || "value"} is ${v}; attributes must be JSON (finite numbers)`);
      return v === 0 ? 0 : v;
    }
    if (depth >= MAX_ATTR_DEPTH)
      throw new Error(`attributes nest more than ${MAX_ATTR_DEPTH} levels at ${path}`);
    if (Array.isArray(v)) return v.map((e, i) => walk(e, `${path}[${i}]`, depth + 1));
    if (typeof v === "object") {
      const proto = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) {
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v)) {
          const e = (v as Record<string, unknown>)[k];
          if (e === undefined) continue; // as JSON.stringify does
          // defined, not assigned: a key `__proto__` must stay an own property
          Object.defineProperty(out, k, {
            value: walk(e, path ? `${path}.${k}` : `'${k}'`, depth + 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
    }
    throw new Error(
      `attribute ${path || "value"} is not JSON data (${typeof v === "object" ? "a class instance" : typeof v})`,
    );
  };
  const out = walk(x, "", 0);
  if (typeof out !== "object" || out === null || Array.isArray(out))
    throw new Error(`the attributes must be an object, got ${JSON.stringify(out)}`);
  return out;
}
