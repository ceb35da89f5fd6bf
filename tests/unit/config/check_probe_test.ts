/** `chanrelay check --probe` against this host: real binds on loopback, real directories. */
import { equal, ok } from "node:assert/strict";
import { UdpSocket } from "../../../ffi/udp_socket.ts";
import { loadConfigTextWithPositions } from "../../../src/config/load.ts";
import { parseDf, probeConfig } from "../../../src/config/probe.ts";
import { DENO, ROOT } from "../../helpers/env.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";

const LOOPBACK = 0x7f000001;

async function checkProbe(dir: string, yaml: string) {
  Deno.writeTextFileSync(`${dir}/chanrelay.yaml`, yaml);
  const out = await new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      "--frozen",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}main.ts`,
      "check",
      "--probe",
      "--config",
      "chanrelay.yaml",
    ],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A socket bound like a running chanrelay would be (SO_REUSEPORT), on a free loopback port. */
function runningInstance(): { sock: UdpSocket; port: number } {
  const sock = UdpSocket.create({ reuseAddr: true, reusePort: true });
  sock.bind({ ip: LOOPBACK, port: 0 });
  return { sock, port: sock.localAddress().port };
}

function goodYaml(port: number, extraRecord = ""): string {
  return [
    "data_dir: ./data",
    "channels:",
    "  lo:",
    `    listen: 127.0.0.1:${port}`,
    "    rcvbuf: 256KiB",
    "    relay:",
    `      - to: 127.0.0.1:${port + 1 > 65535 ? port - 1 : port + 1}`,
    `    record: { rotate_size: 1MiB${extraRecord} }`,
    "",
  ].join("\n");
}

Deno.test("check --probe passes a good loopback config while another instance holds the port", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "chanrelay-probe-" });
  const { sock, port } = runningInstance();
  try {
    const r = await checkProbe(dir, goodYaml(port));
    equal(r.code, 0, r.stderr);
    ok(r.stdout.includes(`lo: 127.0.0.1:${port} -> `), r.stdout);
    ok(r.stdout.includes('"./data/lo" does not exist yet; it will be created'), r.stdout);
    ok(/free on "/.test(r.stdout), r.stdout);
    ok(r.stdout.trimEnd().endsWith("chanrelay.yaml: probe OK"), r.stdout);
    let created = true;
    try {
      Deno.statSync(`${dir}/data`);
    } catch {
      created = false;
    }
    equal(created, false, "check --probe must not create the data directory");
  } finally {
    sock.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("check --probe fails with exit 78 naming the channel and an address not on this host", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "chanrelay-probe-" });
  try {
    const yaml = [
      "channels:",
      "  far:",
      "    listen: 10.255.255.1:9000",
      "    relay: [{ to: 127.0.0.1:9001 }]",
      "",
    ].join("\n");
    const r = await checkProbe(dir, yaml);
    equal(r.code, 78, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    equal(
      lines[0],
      'chanrelay.yaml:3:13: channels.far.listen: Channel "far": Cannot bind "10.255.255.1:9000": EADDRNOTAVAIL',
    );
    equal(lines.at(-1), "chanrelay.yaml: 1 problem found by --probe");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("check --probe reports a port held without SO_REUSEPORT and too little space for keep_size", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "chanrelay-probe-" });
  const holder = UdpSocket.create({ reuseAddr: false, reusePort: false });
  try {
    holder.bind({ ip: LOOPBACK, port: 0 });
    const port = holder.localAddress().port;
    const r = await checkProbe(dir, goodYaml(port, ", keep_size: 5000TB"));
    equal(r.code, 78, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    equal(
      lines[0],
      `chanrelay.yaml:4:13: channels.lo.listen: Channel "lo": Cannot bind "127.0.0.1:${port}": EADDRINUSE`,
    );
    ok(
      /^chanrelay\.yaml:8:45: channels\.lo\.record\.keep_size: keep_size totals 4\.4PiB on ".+" but only .+ is free \(plus 0B already recorded\)$/
        .test(lines[1]!),
      r.stderr,
    );
    equal(lines[2], "chanrelay.yaml: 2 problems found by --probe");
  } finally {
    holder.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("check --probe reports a data_dir that cannot be created", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "chanrelay-probe-" });
  const { sock, port } = runningInstance();
  try {
    Deno.writeTextFileSync(`${dir}/afile`, "x");
    const yaml = goodYaml(port).replace("data_dir: ./data", "data_dir: ./afile/data");
    const r = await checkProbe(dir, yaml);
    equal(r.code, 78, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    equal(lines[0], 'chanrelay.yaml:1:11: data_dir: "./afile" is not a directory');
    equal(lines[1], 'chanrelay.yaml:8:13: channels.lo.record.dir: "./afile" is not a directory');
  } finally {
    sock.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("probeConfig closes every socket it opens and warns about a clamped receive buffer", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "chanrelay-probe-" });
  try {
    let rmemMax = Infinity;
    try {
      rmemMax = Number(Deno.readTextFileSync("/proc/sys/net/core/rmem_max").trim());
    } catch {
      // not Linux: no clamp expected below
    }
    const ask = Number.isFinite(rmemMax) ? Math.max(rmemMax * 2, 8192) : 8192;
    const loaded = loadConfigTextWithPositions(
      [
        `data_dir: ${dir}`,
        "channels:",
        "  a:",
        "    listen: 127.0.0.1:0",
        `    rcvbuf: ${ask}`,
        "    relay: [{ to: 127.0.0.1:9 }]",
        "",
      ].join("\n"),
      "p.yaml",
    );
    let result: Awaited<ReturnType<typeof probeConfig>> | undefined;
    await assertNoFdLeak(async () => {
      result = await probeConfig(loaded);
    });
    equal(result!.problems.length, 0, JSON.stringify(result!.problems));
    if (Number.isFinite(rmemMax)) {
      equal(result!.warnings.length, 1);
      const w = result!.warnings[0]!;
      equal(w.keyPath, "channels.a.rcvbuf");
      equal(w.line, 5);
      ok(w.message.includes(`sysctl -w net.core.rmem_max=${ask}`), w.message);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parseDf reads the available bytes and the mount point of df -Pk", () => {
  const out = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n" +
    "/dev/vda         264212084 22793632  83597280      22% /srv/my data\n";
  const r = parseDf(out);
  equal(r?.available, 83597280 * 1024);
  equal(r?.mount, "/srv/my data");
  equal(parseDf("garbage"), null);
});
