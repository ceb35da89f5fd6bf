import assert from "node:assert/strict";
import { renderLaunchdPlist, xmlEscape } from "../../../src/service/launchd.ts";
import { DEFAULT_BINARY, DEFAULT_CONFIG } from "../../../src/cli/service.ts";
import { canRun, DENO, ROOT } from "../../helpers/env.ts";

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", {
      args: ["-c", "import plistlib"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Parses a plist with Python's plistlib (a strict XML parser) and returns it as JSON. */
async function plistlib(text: string): Promise<Record<string, unknown>> {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      "import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`plistlib rejected the plist: ${err}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const HOSTILE = `/Users/o'brien & "co"/<chan relay>/bin`;

Deno.test("xmlEscape escapes & < > \" and '", () => {
  assert.equal(xmlEscape(`a&b<c>d"e'f`), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
  assert.equal(xmlEscape("&amp;"), "&amp;amp;");
});

Deno.test("launchd plist escapes hostile characters and round-trips through plistlib", async () => {
  if (!canRun("plist round trip", hasPython(), "python3 (plistlib)")) return;
  const text = renderLaunchdPlist({
    binary: HOSTILE,
    config: `/etc/a b/c&d<"'>.yaml`,
    logDir: "/var/log/x & y",
    user: "o'brien&co",
  });
  assert.ok(!text.includes(HOSTILE), "the raw path does not appear unescaped");
  const p = await plistlib(text);
  assert.deepEqual(p, {
    Label: "com.chanrelay.chanrelay",
    ProgramArguments: [HOSTILE, "run", "--config", `/etc/a b/c&d<"'>.yaml`],
    UserName: "o'brien&co",
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 2,
    ExitTimeOut: 15,
    SoftResourceLimits: { NumberOfFiles: 65536 },
    StandardOutPath: "/var/log/x & y/chanrelay.out.log",
    StandardErrorPath: "/var/log/x & y/chanrelay.log",
  });
});

Deno.test("launchd plist without a user has no UserName; the parser rejects an unescaped ampersand", async () => {
  if (!canRun("plist round trip", hasPython(), "python3 (plistlib)")) return;
  const text = renderLaunchdPlist({ binary: "/usr/local/bin/chanrelay", config: "/etc/c.yaml" });
  const p = await plistlib(text);
  assert.equal(p.UserName, undefined);
  assert.deepEqual(p.ProgramArguments, [
    "/usr/local/bin/chanrelay",
    "run",
    "--config",
    "/etc/c.yaml",
  ]);
  // the check can fail: the same document with a raw & is not XML
  await assert.rejects(
    plistlib(text.replace("/etc/c.yaml", "/etc/a&b.yaml")),
    /plistlib rejected/,
  );
});

Deno.test("launchd plist rejects relative paths, control characters and bad labels", () => {
  const base = { binary: "/bin/true", config: "/etc/c.yaml" };
  assert.throws(() => renderLaunchdPlist({ ...base, config: "c.yaml" }), {
    name: "ServiceOptionError",
    message: 'Cannot use config "c.yaml": not an absolute path',
  });
  assert.throws(() => renderLaunchdPlist({ ...base, binary: "/bin/\u0001x" }), {
    name: "ServiceOptionError",
  });
  assert.throws(() => renderLaunchdPlist({ ...base, label: "a--b" }), {
    message: 'Cannot use label "a--b": expected e.g. "com.chanrelay.chanrelay"',
  });
  assert.throws(() => renderLaunchdPlist({ ...base, user: "" }), { name: "ServiceOptionError" });
});

Deno.test("dist/com.chanrelay.chanrelay.plist is what `chanrelay service launchd` prints with the defaults", async () => {
  const expected = renderLaunchdPlist({ binary: DEFAULT_BINARY, config: DEFAULT_CONFIG });
  assert.equal(await Deno.readTextFile(`${ROOT}dist/com.chanrelay.chanrelay.plist`), expected);
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", "--frozen", `${ROOT}main.ts`, "service", "launchd"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), expected);
});
