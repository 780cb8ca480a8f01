import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** Every module specifier imported or re-exported by a source file. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => (m[1] ?? m[2])!);
}

/** The source files reachable from `entry` through relative imports, and the packages they import. */
function reach(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [path.join(SRC, entry)];
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const s of specifiers(f)) {
      if (s.startsWith(".")) todo.push(path.resolve(path.dirname(f), s.replace(/\.js$/, ".ts")));
      else packages.add(s);
    }
  }
  return { files, packages };
}

describe("entry points", () => {
  it("the main entry reaches no Node-only module (it must run in browsers)", () => {
    const { files, packages } = reach("index.ts");
    expect([...packages].sort()).toEqual(["@gradgraph/core", "fflate"]);
    for (const f of files) expect(path.relative(SRC, f)).not.toMatch(/^node[/\\]|^node\.ts$/);
    expect(files.size).toBeGreaterThan(10);
  });

  it("the Node entry holds the file, cache and download code", () => {
    const { packages } = reach("node.ts");
    expect([...packages].filter((p) => p.startsWith("node:")).sort()).toEqual([
      "node:crypto",
      "node:fs/promises",
      "node:os",
      "node:path",
      "node:zlib",
    ]);
  });
});
