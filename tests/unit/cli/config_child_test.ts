/**
 * The config loader child: `run` and its reload get the same config, and the same errors, as
 * loading in-process would give, and a child that fails is reported, never trusted.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { loadInChild } from "../../../src/cli/config_child.ts";
import { configFromFlags } from "../../../src/cli/run_config.ts";
import { ExitError, UsageError } from "../../../src/cli/usage.ts";
import { ConfigError } from "../../../src/config/errors.ts";
import { loadConfigFile } from "../../../src/config/load.ts";
import { VERSION } from "../../../src/version.ts";

const FIXTURES = new URL("../../fixtures/config/", import.meta.url).pathname;

function yamlFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".yaml")).sort()
    .map((n) => dir + n);
}

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("it did not throw");
}

async function caughtAsync(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("it did not throw");
}

Deno.test("the config loader child returns every good fixture exactly as loaded in-process", async () => {
  const files = yamlFiles(FIXTURES + "good/");
  ok(files.length >= 4);
  for (const path of files) {
    deepEqual(await loadInChild({ kind: "file", path }), loadConfigFile(path), path);
  }
});

Deno.test("the config loader child reports a bad config's problems exactly as in-process", async () => {
  const files = yamlFiles(FIXTURES + "bad/");
  ok(files.length >= 30);
  // every fifth case keeps this test quick; bad_configs_test covers each message in-process
  for (const path of files.filter((_, i) => i % 5 === 0)) {
    const mine = caught(() => loadConfigFile(path));
    const child = await caughtAsync(loadInChild({ kind: "file", path }));
    ok(mine instanceof ConfigError && child instanceof ConfigError, path);
    deepEqual(child.problems, mine.problems, path);
    equal(child.message, mine.message);
    equal(child.line, mine.line);
  }
});

Deno.test("the config loader child reads a missing file as a ConfigError naming it", async () => {
  const path = FIXTURES + "no_such_file.yaml";
  const e = await caughtAsync(loadInChild({ kind: "file", path }));
  ok(e instanceof ConfigError);
  equal(e.message, `${path}: Cannot read "${path}": ENOENT`);
});

Deno.test("run's one-channel flags give the same config from the child as in-process", async () => {
  const args = [
    "--listen",
    "239.1.1.1:5000",
    "--source",
    "10.1.2.3",
    "--relay",
    "127.0.0.1:7000,239.2.2.2:6000",
    "--ttl",
    "3",
    "--record-dir",
    "/tmp/chanrelay-child-test",
    "--decimate-to",
    "239.3.3.3:6001",
    "--decimate",
    "packet:8",
    "--keep-going",
    "--log-format",
    "json",
    "--stats-interval",
    "2s",
  ];
  const child = await loadInChild({ kind: "run", args });
  deepEqual(child, configFromFlags(args));
  equal(child.keepGoing, true);
  equal(child.source, null);
  equal(child.config.channels.main?.relay[1]?.ttl, 3);
});

Deno.test("run's flag errors come from the child as the same UsageError or ConfigError", async () => {
  for (
    const args of [
      ["--bogus"],
      ["--listen", "239.1.1.1:5000"],
      ["--listen", "239.1.1.1:70000", "--relay", "127.0.0.1:7000"],
      ["--config", FIXTURES + "good/minimal.yaml", "--listen", "127.0.0.1:1"],
      ["--listen", "127.0.0.1:5000", "--relay", "127.0.0.1:7000", "--log-level", "loud"],
    ]
  ) {
    const mine = caught(() => configFromFlags(args));
    const child = await caughtAsync(loadInChild({ kind: "run", args }));
    ok(mine instanceof Error && child instanceof Error, args.join(" "));
    equal(child.constructor, mine.constructor, args.join(" "));
    ok(child instanceof UsageError || child instanceof ConfigError, args.join(" "));
    equal(child.message, mine.message);
  }
});

Deno.test("a config loader that dies is reported with its exit code and its stderr", async () => {
  const e = await caughtAsync(
    loadInChild({ kind: "file", path: "x.yaml" }, {
      command: { cmd: "sh", args: ["-c", "echo 'out of luck' >&2; exit 3"] },
    }),
  );
  ok(e instanceof ExitError, String(e));
  equal(e.code, 70);
  ok(/loader process \(sh\) exited with code 3: out of luck/.test(e.message), e.message);
});

Deno.test("a config loader that hangs is killed after its time limit", async () => {
  const t0 = performance.now();
  await rejects(
    loadInChild({ kind: "file", path: "x.yaml" }, {
      command: { cmd: "sleep", args: ["30"] },
      timeoutMs: 300,
    }),
    /took longer than 0.3 s/,
  );
  ok(performance.now() - t0 < 10_000);
});

Deno.test("a config loader of another chanrelay version is refused", async () => {
  const reply = JSON.stringify({ ok: true, version: "0.0.0-other", value: {} });
  await rejects(
    loadInChild({ kind: "file", path: "x.yaml" }, {
      command: { cmd: "sh", args: ["-c", `cat >/dev/null; echo '${reply}'`] },
    }),
    new RegExp(`executable on disk is chanrelay 0\\.0\\.0-other, this process is ${VERSION}`),
  );
});
