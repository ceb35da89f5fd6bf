import assert from "node:assert/strict";
import { DENO, ROOT } from "../../helpers/env.ts";

async function service(args: string[], cwd = ROOT) {
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", "--frozen", `${ROOT}main.ts`, "service", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  return { code: out.code, stdout: td.decode(out.stdout), stderr: td.decode(out.stderr) };
}

const CONFIG = (dataDir: string) =>
  `data_dir: ${
    JSON.stringify(dataDir)
  }\nchannels:\n  a:\n    listen: 127.0.0.1:5000\n    relay:\n      - to: 127.0.0.1:6000\n`;

Deno.test("service systemd takes the data dir from a readable config, relative to the state dir", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/rel.yaml`, CONFIG("recordings"));
    await Deno.writeTextFile(`${dir}/abs.yaml`, CONFIG("/srv/chanrelay data"));
    const rel = await service(["systemd", "--config", `${dir}/rel.yaml`]);
    assert.equal(rel.code, 0, rel.stderr);
    assert.ok(!rel.stdout.includes("ReadWritePaths="), "inside StateDirectory: writable already");
    assert.match(rel.stdout, /^WorkingDirectory=\/var\/lib\/chanrelay$/m);
    const abs = await service(["systemd", "--config", "abs.yaml", "--user", "relay"], dir);
    assert.equal(abs.code, 0, abs.stderr);
    assert.match(abs.stdout, /^ReadWritePaths="\/srv\/chanrelay data"$/m);
    assert.match(abs.stdout, /^User=relay$/m);
    assert.ok(
      abs.stdout.includes(`--config ${dir}/abs.yaml\n`),
      "a relative --config is made absolute",
    );
    const flag = await service(["systemd", "--config", `${dir}/abs.yaml`, "--data-dir", "/data"]);
    assert.match(flag.stdout, /^ReadWritePaths=\/data$/m, "--data-dir wins over the config");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("service systemd falls back to the state dir for an invalid config and says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.yaml`, "data_dir: /srv/x\nchannels: {}\n");
    const r = await service(["systemd", "--config", `${dir}/bad.yaml`]);
    assert.equal(r.code, 0);
    assert.ok(!r.stdout.includes("ReadWritePaths="));
    assert.match(r.stderr, /is not a valid config .*using data dir "\/var\/lib\/chanrelay"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const USAGE: { args: string[]; message: string }[] = [
  { args: [], message: "Give systemd or launchd" },
  { args: ["upstart"], message: 'Unknown service kind "upstart": expected systemd or launchd' },
  { args: ["systemd", "extra"], message: 'Unexpected argument "extra"' },
  { args: ["systemd", "--label", "x"], message: '--label applies to "service launchd" only' },
  {
    args: ["launchd", "--data-dir", "/d"],
    message: '--data-dir applies to "service systemd" only',
  },
  { args: ["systemd", "--user", "a b"], message: 'Cannot use user "a b": not a valid user name' },
  { args: ["launchd", "--label", "x--y"], message: 'Cannot use label "x--y"' },
  { args: ["systemd", "--bogus"], message: "Unknown option '--bogus'" },
];

for (const c of USAGE) {
  Deno.test(`service ${c.args.join(" ") || "(no arguments)"} exits 64 with "${c.message}"`, async () => {
    const r = await service(c.args);
    assert.equal(r.code, 64, r.stderr);
    assert.ok(r.stderr.includes(c.message), r.stderr);
    assert.equal(r.stdout, "");
  });
}
