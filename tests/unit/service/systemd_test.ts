import assert from "node:assert/strict";
import {
  renderSystemdUnit,
  ServiceOptionError,
  systemdExecWord,
} from "../../../src/service/systemd.ts";
import { DEFAULT_BINARY, DEFAULT_CONFIG } from "../../../src/cli/service.ts";
import { canRun, DENO, ROOT } from "../../helpers/env.ts";

function hasSystemdAnalyze(): boolean {
  try {
    return new Deno.Command("systemd-analyze", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

async function verify(unitText: string): Promise<{ ok: boolean; output: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/chanrelay.service`;
    await Deno.writeTextFile(path, unitText);
    const out = await new Deno.Command("systemd-analyze", {
      args: ["verify", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const td = new TextDecoder();
    // verify exits 0 yet prints problems of the unit itself; other units' noise does not count
    const output = (td.decode(out.stdout) + td.decode(out.stderr)).split("\n")
      .filter((l) => l.includes("chanrelay.service")).join("\n");
    return { ok: out.success && output === "", output };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Lines of the unit as key → values (comments and blank lines dropped). */
function settings(unit: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("[")) continue;
    const i = line.indexOf("=");
    assert.ok(i > 0, `not a setting: ${line}`);
    const k = line.slice(0, i);
    m.set(k, [...(m.get(k) ?? []), line.slice(i + 1)]);
  }
  return m;
}

Deno.test("systemd unit is Type=notify with reload, restart and the hardening settings", () => {
  const unit = renderSystemdUnit({
    binary: "/usr/local/bin/chanrelay",
    config: "/etc/chanrelay/chanrelay.yaml",
    dataDir: "/srv/chanrelay",
    user: "chanrelay",
  });
  const s = settings(unit);
  const one = (k: string) => {
    assert.equal(s.get(k)?.length, 1, `${k} appears once`);
    return s.get(k)![0];
  };
  assert.equal(one("Type"), "notify");
  assert.equal(one("NotifyAccess"), "main");
  assert.equal(
    one("ExecStart"),
    "/usr/local/bin/chanrelay run --config /etc/chanrelay/chanrelay.yaml",
  );
  assert.equal(one("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("User"), "chanrelay");
  assert.equal(one("ReadWritePaths"), "/srv/chanrelay");
  for (
    const [k, v] of [
      ["NoNewPrivileges", "yes"],
      ["ProtectSystem", "strict"],
      ["ProtectHome", "yes"],
      ["PrivateTmp", "yes"],
      ["ProtectKernelTunables", "yes"],
      ["WantedBy", "multi-user.target"],
    ]
  ) assert.equal(one(k!), v);
  assert.ok(one("RestartSec"));
  assert.ok(one("LimitNOFILE"));
  assert.ok(one("LimitMEMLOCK"));
  assert.ok(!s.has("PrivateNetwork"), "the relay needs the host network");
  assert.ok(!s.has("MemoryDenyWriteExecute"), "V8 needs W+X memory");
  assert.ok(!s.has("AmbientCapabilities"), "CAP_NET_ADMIN stays commented out");
  assert.match(unit, /^#AmbientCapabilities=CAP_NET_ADMIN$/m);
});

Deno.test("systemd unit without a user runs as root and a data dir inside the state dir needs no ReadWritePaths", () => {
  const s = settings(renderSystemdUnit({
    binary: "/usr/local/bin/chanrelay",
    config: "/etc/chanrelay/chanrelay.yaml",
    dataDir: "/var/lib/chanrelay/recordings",
  }));
  assert.ok(!s.has("User"));
  assert.ok(!s.has("ReadWritePaths"));
  assert.deepEqual(s.get("StateDirectory"), ["chanrelay"]);
});

Deno.test("systemdExecWord quotes spaces and escapes quotes, backslashes, specifiers and $", () => {
  assert.equal(systemdExecWord("/usr/bin/x"), "/usr/bin/x");
  assert.equal(systemdExecWord("/a b/c"), '"/a b/c"');
  assert.equal(systemdExecWord('/a"b'), '"/a\\"b"');
  assert.equal(systemdExecWord("/a\\b"), '"/a\\\\b"');
  assert.equal(systemdExecWord("/100%"), "/100%%");
  assert.equal(systemdExecWord("/$HOME"), "/$$HOME");
  assert.equal(systemdExecWord("a;b"), '"a;b"');
  assert.equal(systemdExecWord(""), '""');
  assert.equal(systemdExecWord("/a b/$x", true), '"/a b/$x"', "no $ expansion in the executable");
});

Deno.test("systemd unit rejects relative paths, control characters and bad user names", () => {
  const base = { binary: "/bin/true", config: "/etc/c.yaml", dataDir: "/srv/d" };
  assert.throws(() => renderSystemdUnit({ ...base, binary: "chanrelay" }), {
    name: "ServiceOptionError",
    message: 'Cannot use binary "chanrelay": not an absolute path',
  });
  assert.throws(
    () => renderSystemdUnit({ ...base, config: "/etc/a\nExecStartPre=/bin/sh" }),
    ServiceOptionError,
  );
  assert.throws(() => renderSystemdUnit({ ...base, user: "root\nUser=x" }), ServiceOptionError);
  assert.throws(() => renderSystemdUnit({ ...base, binary: "/opt/o'brien/chanrelay" }), {
    message:
      `Cannot use binary "/opt/o'brien/chanrelay": systemd does not accept quotes or backslashes in it`,
  });
  assert.throws(() => renderSystemdUnit({ ...base, user: "a b" }), {
    message: 'Cannot use user "a b": not a valid user name',
  });
});

Deno.test("systemd-analyze verify accepts the unit, including paths with spaces, quotes, % and $", async () => {
  if (!canRun("systemd-analyze verify", hasSystemdAnalyze(), "systemd-analyze (Debian systemd)")) {
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "chanrelay unit " });
  try {
    const bin = `${dir}/chan relay 100%$x`;
    await Deno.copyFile("/bin/true", bin);
    await Deno.chmod(bin, 0o755);
    const good = await verify(renderSystemdUnit({
      binary: bin,
      config: `${dir}/my "config" o'brien\\ 100%$HOME.yaml`,
      dataDir: `${dir}/data dir`,
      user: "root",
    }));
    assert.ok(good.ok, good.output);
    // the check can fail: the same path unquoted names a file that does not exist
    const bad = renderSystemdUnit({ binary: bin, config: "/etc/c.yaml", dataDir: "/srv/d" })
      .replace(/^ExecStart=.*$/m, `ExecStart=${dir}/chan relay run`);
    const r = await verify(bad);
    assert.ok(!r.ok, "verify rejects an ExecStart whose binary does not exist");
    assert.match(r.output, /not executable|No such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd-analyze security rates the unit's exposure as OK or better", async () => {
  if (
    !canRun("systemd-analyze security", hasSystemdAnalyze(), "systemd-analyze (Debian systemd)")
  ) {
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/chanrelay.service`;
    await Deno.writeTextFile(
      path,
      renderSystemdUnit({ binary: "/bin/true", config: "/etc/c.yaml", dataDir: "/srv/d" }),
    );
    const out = await new Deno.Command("systemd-analyze", {
      args: ["security", "--offline=yes", "--no-pager", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const m = /Overall exposure level for chanrelay\.service: ([0-9.]+) (\w+)/.exec(text);
    assert.ok(m, text + new TextDecoder().decode(out.stderr));
    assert.ok(Number(m[1]) <= 4.5, `exposure ${m[1]} ${m[2]}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dist/chanrelay.service is what `chanrelay service systemd` prints with the defaults", async () => {
  const expected = renderSystemdUnit({
    binary: DEFAULT_BINARY,
    config: DEFAULT_CONFIG,
    dataDir: "/var/lib/chanrelay",
  });
  assert.equal(await Deno.readTextFile(`${ROOT}dist/chanrelay.service`), expected);
  const out = await new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      "--frozen",
      `${ROOT}main.ts`,
      "service",
      "systemd",
      "--config",
      "/nonexistent/c.yaml",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(
    new TextDecoder().decode(out.stdout),
    expected.replace(DEFAULT_CONFIG, "/nonexistent/c.yaml"),
  );
});
