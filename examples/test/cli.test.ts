/**
 * The command line: help, option validation and exit codes. Most cases run `main` in-process with
 * the example runner stubbed out (fast); two run the real CLI in a child process to check the exit
 * code the shell sees.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as datasetsNode from "@gradgraph/datasets/node";
import { describe, expect, test } from "vitest";
import { EXIT, main } from "../src/cli.js";
import type { ExampleContext } from "../src/context.js";
import { checkOutputDir, OutputDirError } from "../src/files.js";
import type { ExampleOptions } from "../src/options.js";
import { loadOptions } from "../src/presets.js";
import { EXAMPLES, type ExampleDef } from "../src/registry.js";
import { runCli, tempOut } from "./helpers.js";

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
    // integers are plain decimal digits: no hex, exponents, fractions, signs, blanks or separators
    [
      ["moons", "--epochs", "0x10"],
      /'--epochs <n>' argument '0x10' is invalid\. expected a positive integer/,
    ],
    [["moons", "--epochs", "1e3"], /argument '1e3' is invalid\. expected a positive integer/],
    [["moons", "--epochs", "+5"], /argument '\+5' is invalid/],
    [["moons", "--epochs", "5.0"], /argument '5\.0' is invalid/],
    [["moons", "--epochs", ""], /'--epochs <n>' argument '' is invalid/],
    [["moons", "--epochs", " 7"], /argument ' 7' is invalid/],
    [["moons", "--epochs", "1_000"], /argument '1_000' is invalid/],
    [["moons", "--epochs", "0b11"], /argument '0b11' is invalid/],
    [["nielsen", "--batch-size", "0o7"], /'--batch-size <n>' argument '0o7' is invalid/],
    [["custom", "--seed", "0x1"], /'--seed <n>' argument '0x1' is invalid\. expected an integer >= 0/],
    [["moons", "--hidden", "3,0x10"], /'--hidden <sizes>' argument '3,0x10' is invalid/],
    [["gradcheck", "--runs", "1e2"], /'--runs <n>' argument '1e2' is invalid/],
    // floats: decimal notation with an optional exponent, finite
    [["custom", "--lr", "0x10"], /'--lr <x>' argument '0x10' is invalid\. expected a positive number/],
    [["custom", "--lr", "Infinity"], /argument 'Infinity' is invalid/],
    [["custom", "--lr", "1e309"], /argument '1e309' is invalid/],
    [["custom", "--lr", ""], /'--lr <x>' argument '' is invalid/],
    [["scalar", "--a", "0x10"], /'--a <x>' argument '0x10' is invalid/],
    [["ng-ex4", "--lambda", "NaN"], /'--lambda <x>' argument 'NaN' is invalid/],
    // bounds, each named with its limit
    [["moons", "--epochs", "1000000000"], /argument '1000000000' is invalid\. .*at most 100000000/],
    [["moons", "--epochs", "99999999999999999999"], /at most 100000000/],
    [
      ["custom", "--seed", "4294967296"],
      /'--seed <n>' argument '4294967296' is invalid\. .*at most 4294967295/,
    ],
    [["custom", "--time-limit", "1e10"], /'--time-limit <s>' argument '1e10' is invalid\. .*at most 2147483/],
    [
      ["nielsen", "--train-size", "60000"],
      /'--train-size <n>' argument '60000' is invalid\. .*at most 50000/,
    ],
    [["relu-softmax", "--train-size", "50001"], /at most 50000/],
    [
      ["nielsen", "--batch-size", "100000000"],
      /'--batch-size <n>' argument '100000000' is invalid\. .*at most 10000000/,
    ],
    [["gradcheck", "--runs", "10000000"], /'--runs <n>' argument '10000000' is invalid\. .*at most 1000000/],
    [
      ["scalar", "--b", "1e300"],
      /'--b <x>' argument '1e300' is invalid\. .*at most 1000000 in absolute value/,
    ],
    // network sizes: checked against what one tensor and the whole network may hold
    [
      ["nielsen", "--hidden", "1000000000"],
      /option '--hidden <n>' value '1000000000' is too large for nielsen: .*795000000010 parameters.*at most 67108864.*the largest --hidden nielsen allows with these options is 26843/,
    ],
    [
      ["relu-softmax", "--hidden", "10000"],
      /'--hidden <n>' value '10000' is too large for relu-softmax: .*50000 x 10000 .*at most 1 GiB.*allows with these options is 5368/,
    ],
    [
      ["relu-softmax", "--hidden", "30000", "--train-size", "1000"],
      /too large for relu-softmax: .*10000 x 30000 .*allows with these options is 26843/,
    ],
    [
      ["custom", "--hidden", "20000"],
      /'--hidden <n>' value '20000' is too large for custom: .*parameters.*at most 67108864/,
    ],
    [["moons", "--hidden", "3,1000000"], /'--hidden <sizes>' value '1000000' is too large for moons/],
    [["ng-ex4", "--hidden", "1000000000"], /'--hidden <n>' value '1000000000' is too large for ng-ex4/],
  ])("%j exits 2 with a clear message", async (argv, message) => {
    const r = await parse(argv);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(message);
    expect(r.err).toContain("pnpm example --help");
    expect(r.calls).toHaveLength(0);
  });

  test("valid options reach the example, with defaults filled in", async () => {
    const r = await parse(["moons", "--hidden", "1,3,50", "--epochs", "1000", "--lr", "5e-2", "--json"]);
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
    // leading zeros are still decimal; exponents and signs are fine for floats
    const z = await parse(["custom", "--epochs", "010", "--lr", "1e-3", "--time-limit", "+2.5"]);
    expect(z.calls[0]!.options).toMatchObject({ epochs: 10, lr: 0.001, timeLimit: 2.5 });
    // the largest sizes allowed pass; lr 1e308 is a legal (if hopeless) value
    const big = await parse(["nielsen", "--hidden", "26843", "--lr", "1e308", "--seed", "4294967295"]);
    expect(big.code).toBe(0);
    expect(big.calls[0]!.options).toMatchObject({ hidden: [26843], lr: 1e308, seed: 4294967295 });
  });
});

describe("--timeout: the overall download deadline of the data loaders", () => {
  test("the examples that download data take it, in seconds, and pass it on as timeoutMs", async () => {
    for (const name of ["digits", "nielsen", "ng-ex4", "relu-softmax"]) {
      const help = await parse([name, "--help"]);
      expect(help.out).toMatch(/--timeout <s>\s+overall time limit for downloading the data/);
      const r = await parse([name, "--timeout", "2.5"]);
      expect(r.code).toBe(0);
      expect(r.calls[0]!.options.timeout).toBe(2.5);
    }
    const ctx = { options: { timeout: 2.5, dataDir: "/data", out: "o", json: false }, log: () => undefined };
    expect(loadOptions(ctx as unknown as ExampleContext)).toMatchObject({ dir: "/data", timeoutMs: 2500 });
    const none = { options: { out: "o", json: false }, log: () => undefined };
    expect(loadOptions(none as unknown as ExampleContext)).not.toHaveProperty("timeoutMs");
  });

  test("a real run: the deadline reaches the loader, which gives up on the download", async () => {
    const empty = tempOut("no-data");
    const t0 = Date.now();
    const r = await runCli(
      ["digits", "--timeout", "0.001", "--data-dir", empty, "--out", join(empty, "out")],
      {
        env: { GRADGRAPH_DATA_DIR: empty, HOME: empty, XDG_CACHE_HOME: join(empty, "cache") },
      },
    );
    expect(r.code).toBe(EXIT.failed);
    expect(r.stderr).toMatch(/pnpm example digits: missing data file/);
    // the loaders' overall deadline (timeoutMs) names itself in the message
    if ("DEFAULT_DOWNLOAD_TIMEOUT_MS" in datasetsNode) expect(r.stderr).toMatch(/deadline .*1 ms/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  test.each([
    [["nielsen", "--timeout", "0"], /'--timeout <s>' argument '0' is invalid\. expected a positive number/],
    [["nielsen", "--timeout", "1e10"], /'--timeout <s>' argument '1e10' is invalid\. .*at most 2147483/],
    [["moons", "--timeout", "5"], /unknown option '--timeout'/],
  ])("%j exits 2", async (argv, message) => {
    const r = await parse(argv);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(message);
  });
});

describe("the output directory is checked before anything runs", () => {
  test("checkOutputDir creates the folder and leaves no probe file behind", async () => {
    const dir = join(tempOut("outdir"), "a", "b");
    await checkOutputDir(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("checkOutputDir names the path when the folder cannot be created or written", async () => {
    const base = tempOut("outdir-file");
    const file = join(base, "not-a-dir");
    writeFileSync(file, "x");
    // root ignores permissions, so make the parent a regular file: nobody can create a folder there
    const bad = join(file, "out");
    await expect(checkOutputDir(bad)).rejects.toThrow(OutputDirError);
    await expect(checkOutputDir(bad)).rejects.toThrow(
      new RegExp(`cannot create the output directory '${bad}'`),
    );
    await expect(checkOutputDir(file)).rejects.toThrow(/is not a directory|cannot create/);
  });

  test("an unusable --out exits 2 at once, naming the path, before loading data or training", async () => {
    const base = tempOut("outdir-cli");
    const file = join(base, "file");
    writeFileSync(file, "x");
    const bad = join(file, "out");
    const t0 = Date.now();
    const r = await runCli(["moons", "--epochs", "100000", "--out", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--out '${bad}'`);
    expect(r.stderr).toMatch(/cannot create the output directory/);
    expect(r.stdout).not.toContain("Loss after iteration");
    expect(Date.now() - t0).toBeLessThan(20_000);
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

/**
 * The packages a module loads at run time through its static imports, following relative imports
 * (`import type` is erased; a dynamic `import()` is not followed: it loads on demand).
 */
function staticPackages(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?\bfrom\s+"([^"]+)";/gms)) {
      if (m[1]) continue;
      const spec = m[2]!;
      if (spec.startsWith(".")) visit(join(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec);
    }
  };
  visit(entry);
  return packages;
}

describe("the CLI's own thread stays light", () => {
  test("it loads neither the models, the data sets nor the chart renderers (the worker does, on demand)", () => {
    const packages = staticPackages(fileURLToPath(new URL("../src/cli.ts", import.meta.url)));
    expect(packages.has("commander")).toBe(true); // the walk sees the CLI's imports
    for (const heavy of [
      "@gradgraph/models",
      "@gradgraph/core",
      "@gradgraph/datasets",
      "@gradgraph/models/node",
      "vega",
      "vega-lite",
      "@resvg/resvg-js",
    ]) {
      expect([...packages]).not.toContain(heavy);
    }
  });
});
