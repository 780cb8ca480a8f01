/**
 * Name tables (internal): objects without a prototype, so that every string, including
 * `__proto__`, `constructor` and `toString`, is an ordinary own key, and a lookup never finds a
 * member of `Object.prototype`.
 * @module
 */

/** A new prototype-less object holding `entries` as own properties, in order. */
export function nameTable<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const table = Object.create(null) as Record<string, T>;
  // no prototype, hence no inherited `__proto__` setter: every key becomes an own property
  for (const [name, value] of entries) table[name] = value;
  return table;
}

/** `table[name]` when `name` is an own key of `table`, else `undefined` (never an inherited member). */
export function ownValue<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}
