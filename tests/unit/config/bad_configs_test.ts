/**
 * The corpus of bad configs: each `tests/fixtures/config/bad/NN_name.yaml` has its exact expected
 * messages (file, line, column, key path) in `NN_name.expected`, one problem per line.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { ConfigError } from "../../../src/config/errors.ts";
import { loadConfigText } from "../../../src/config/load.ts";
import { DENO, ROOT } from "../../helpers/env.ts";

const BAD = new URL("../../fixtures/config/bad/", import.meta.url).pathname;

const cases = [...Deno.readDirSync(BAD)]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".yaml"))
  .sort();

function expected(name: string): string[] {
  const text = Deno.readTextFileSync(BAD + name.replace(/\.yaml$/, ".expected"));
  return text.trimEnd().split("\n");
}

Deno.test("the bad config corpus has at least 30 cases, each with an .expected file", () => {
  ok(cases.length >= 30, `only ${cases.length} bad configs`);
  for (const name of cases) ok(expected(name).length >= 1, name);
});

for (const name of cases) {
  Deno.test(`bad config ${name} is rejected with exactly the expected messages`, () => {
    let error: unknown;
    try {
      loadConfigText(Deno.readTextFileSync(BAD + name), name);
    } catch (e) {
      error = e;
    }
    ok(error instanceof ConfigError, `${name} was accepted`);
    deepEqual(error.message.split("\n"), expected(name));
    const first = error.problems[0]!;
    equal(error.path, name);
    equal(error.line, first.line);
    equal(error.column, first.column);
    for (const p of error.problems) {
      equal(p.file, name);
      ok(p.line >= 1 && p.column >= 1, `${name}: a problem without a position`);
    }
  });
}

async function check(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      "--frozen",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}main.ts`,
      "check",
      ...args,
    ],
    cwd: BAD,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const SUBPROCESS = [
  "01_listen_port_out_of_range.yaml",
  "10_yaml_syntax_error.yaml",
  "24_decimate_unknown_format.yaml",
  "34_every_problem_reported.yaml",
];

for (const name of SUBPROCESS) {
  Deno.test(`chanrelay check --config ${name} exits 78 listing every problem on stderr`, async () => {
    const r = await check(["--config", name]);
    equal(r.code, 78, r.stderr);
    equal(r.stdout, "");
    const lines = r.stderr.trimEnd().split("\n");
    const want = expected(name);
    deepEqual(lines.slice(0, want.length), want);
    equal(lines[want.length], `${name}: ${want.length} problem${want.length === 1 ? "" : "s"}`);
  });
}

Deno.test("chanrelay check takes the file from CHANRELAY_CONFIG", async () => {
  const name = "02_unknown_key_did_you_mean.yaml";
  const r = await check([], { CHANRELAY_CONFIG: name });
  equal(r.code, 78, r.stderr);
  ok(r.stderr.startsWith(expected(name)[0]! + "\n"), r.stderr);
});

Deno.test("chanrelay check without a config file is a usage error (exit 64)", async () => {
  const r = await check([], { CHANRELAY_CONFIG: "" });
  equal(r.code, 64);
  ok(r.stderr.includes("No config file: pass --config FILE or set CHANRELAY_CONFIG"), r.stderr);
});
