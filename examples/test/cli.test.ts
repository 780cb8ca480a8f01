/**
 * The command line: help, option validation and exit codes. Most cases run `main` in-process with
 * the example runner stubbed out (fast); two run the real CLI in a child process to check the exit
 * code the shell sees.
 */
import { describe, expect, test } from "vitest";
import { EXIT, main } from "../src/cli.js";
import type { ExampleOptions } from "../src/options.js";
import { EXAMPLES, type ExampleDef } from "../src/registry.js";
import { runCli } from "./helpers.js";

async function parse(argv: string[]) {
  let out = "";
  let err = "";
  const calls: { def: ExampleDef; options: ExampleOptions }[] = [];
  const code = await main(argv, {
    writeOut: (s) => {
      out += s;
    },
    writeErr: (s) => {
      err += s;
    },
    run: async (def, options) => {
      calls.push({ def, options });
      return EXIT.ok;
    },
  });
  return { code, out, err, calls };
}

describe("pnpm example --help", () => {
  test("lists every example with its one-line summary", async () => {
    const r = await parse(["--help"]);
    expect(r.code).toBe(0);
    const names = EXAMPLES.map((e) => e.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "moons",
        "digits",
        "nielsen",
        "ng-ex4",
        "relu-softmax",
        "custom",
        "scalar",
        "gradcheck",
      ]),
    );
    for (const e of EXAMPLES) {
      expect(r.out).toMatch(new RegExp(`\\n  ${e.name}\\b`));
      expect(r.out).toContain(e.summary.split(" ").slice(0, 3).join(" "));
    }
  });

  test("an example's help lists its options with the preset's defaults", async () => {
    const r = await parse(["nielsen", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of [
      "--epochs",
      "--lr",
      "--batch-size",
      "--hidden",
      "--seed",
      "--data-dir",
      "--out",
      "--json",
    ]) {
      expect(r.out).toContain(flag);
    }
    expect(r.out).toMatch(/--epochs <n>\s+passes over the training data \(default: 30\)/);
    expect(r.out).toMatch(/--batch-size <n>.*\(default: 10\)/);
    expect(r.out).toContain("(default: out/nielsen/)");
    const moons = await parse(["moons", "--help"]);
    expect(moons.out).toMatch(/--epochs <n>[^\n]*\(default: 20000\)/);
  });

  test("no example name prints the usage and exits 2", async () => {
    const r = await parse([]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain("Usage: pnpm example <name> [options]");
  });
});

describe("option parsing", () => {
  test.each([
    [["moons", "--bogus"], /unknown option '--bogus'/],
    [["nope"], /unknown command 'nope'/],
    [["moons", "--epochs", "0"], /'--epochs <n>' argument '0' is invalid\. expected a positive integer/],
    [["moons", "--epochs", "2.5"], /expected a positive integer, got "2.5"/],
    [["custom", "--lr", "abc"], /'--lr <x>' argument 'abc' is invalid\. expected a positive number/],
    [["custom", "--lr", "-0.1"], /expected a positive number, got "-0.1"/],
    [["nielsen", "--batch-size", "0"], /'--batch-size <n>' argument '0' is invalid/],
    [["nielsen", "--hidden", "3,4"], /expected a positive integer, got "3,4"/],
    [["moons", "--hidden", "3,x"], /comma-separated list/],
    [["custom", "--seed", "-1"], /expected an integer >= 0/],
    [["moons", "--epochs"], /option '--epochs <n>' argument missing/],
    [["scalar", "--epochs", "3"], /unknown option '--epochs'/],
  ])("%j exits 2 with a clear message", async (argv, message) => {
    const r = await parse(argv);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(message);
    expect(r.err).toContain("pnpm example --help");
    expect(r.calls).toHaveLength(0);
  });

  test("valid options reach the example, with defaults filled in", async () => {
    const r = await parse(["moons", "--hidden", "1,3,50", "--epochs", "1e3", "--lr", "0.05", "--json"]);
    expect(r.code).toBe(0);
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]!.def.name).toBe("moons");
    expect(r.calls[0]!.options).toMatchObject({
      hidden: [1, 3, 50],
      epochs: 1000,
      lr: 0.05,
      json: true,
      out: "out/moons",
    });
    const c = await parse(["custom", "--hidden", "8", "--out", "somewhere"]);
    expect(c.calls[0]!.options).toMatchObject({
      hidden: [8],
      epochs: 60,
      batchSize: 32,
      out: "somewhere",
      json: false,
    });
    const s = await parse(["scalar", "--a", "-3", "--b", "1.5"]);
    expect(s.calls[0]!.options).toMatchObject({ a: -3, b: 1.5 });
  });
});

describe("exit codes in a real process", () => {
  test("a bad value exits 2 with the message on stderr", async () => {
    const r = await runCli(["moons", "--epochs", "zero"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: option '--epochs <n>' argument 'zero' is invalid/);
    expect(r.stdout).toBe("");
  });

  test("--help exits 0 and lists the examples on stdout", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const e of EXAMPLES) expect(r.stdout).toContain(e.name);
  });
});
