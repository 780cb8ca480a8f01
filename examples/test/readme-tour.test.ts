import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("README", () => {
  test("the 20-line tour runs as written", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## A 20-line tour"));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toBeDefined();
    expect(code!.split("\n").filter((l) => l.trim()).length).toBeLessThanOrEqual(22);
    const dir = mkdtempSync(join(root, "examples", ".tour-"));
    try {
      const file = join(dir, "tour.ts");
      writeFileSync(file, code!);
      const out = execFileSync(
        process.execPath,
        ["--conditions=@gradgraph/source", "--import", "tsx", file],
        {
          cwd: join(root, "examples"),
          encoding: "utf8",
        },
      );
      expect(out).toContain("grad:W");
      // the printed IR ends with the outputs line; the loss follows it
      const loss = /outputs: [^\n]*\n([-\d.e]+)/.exec(out)?.[1];
      expect(Number.parseFloat(loss ?? "NaN")).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
