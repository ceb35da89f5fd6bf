import assert from "node:assert/strict";
import { UdpSocket } from "../../ffi/udp_socket.ts";
import { DENO, ROOT } from "../helpers/env.ts";
import { ChanrelayProcess, parseLogfmt, tempFile } from "../helpers/relay_process.ts";
import { RELAY_SLICE_NS, threadNice, threadSlice } from "../../ffi/threads.ts";
import { PERMISSIONS, V8_FLAGS } from "../../scripts/compile_flags.ts";
import { getJson, metricsUrl } from "../fixtures/ops/daemon_harness.ts";

async function chanrelay(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", "--frozen", `${ROOT}main.ts`, ...args],
    env: { CHANRELAY_CONFIG: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const CASES: { args: string[]; code: number; message: string | RegExp }[] = [
  {
    args: ["run"],
    code: 64,
    message: "Give --config FILE (or set CHANRELAY_CONFIG), or --listen and --relay",
  },
  { args: ["run", "--bogus"], code: 64, message: "Unknown option '--bogus'" },
  {
    args: ["run", "--listen", "127.0.0.1:5000"],
    code: 64,
    message: "--relay is required with --listen",
  },
  {
    args: ["run", "--listen", "127.0.0.1:5000", "--relay", "127.0.0.1:70000"],
    code: 78,
    message: '--relay: Cannot parse "127.0.0.1:70000": port out of range',
  },
  {
    args: ["run", "--listen", "1.2.3:5000", "--relay", "127.0.0.1:7000"],
    code: 78,
    message: '--listen: Cannot parse "1.2.3:5000": "1.2.3" is not an IPv4 address',
  },
  {
    args: ["run", "--listen", "127.0.0.1:5000", "--relay", "127.0.0.1:7000", "--ttl", "300"],
    code: 78,
    message: "--ttl:",
  },
  {
    args: ["run", "--listen", "127.0.0.1:5000", "--relay", "127.0.0.1:7000", "--log-level", "loud"],
    code: 64,
    message: '--log-level: Cannot parse "loud"',
  },
  {
    args: ["run", "--listen", "10.255.255.1:5000", "--relay", "127.0.0.1:7000"],
    code: 78,
    message: 'Channel "main" cannot start: Cannot bind "10.255.255.1:5000": EADDRNOTAVAIL',
  },
  {
    args: ["run", "--config", "/nonexistent/chanrelay.yaml"],
    code: 78,
    message: "/nonexistent/chanrelay.yaml",
  },
  {
    args: ["run", "--config", "x.yaml", "--listen", "127.0.0.1:5000"],
    code: 64,
    message: "--listen cannot be combined with --config",
  },
];

for (const c of CASES) {
  Deno.test(`run ${c.args.slice(1).join(" ") || "(no arguments)"} exits ${c.code} naming the field and value`, async () => {
    const r = await chanrelay(c.args);
    assert.equal(r.code, c.code, r.stderr);
    if (typeof c.message === "string") {
      assert.ok(
        r.stderr.includes(c.message),
        `stderr lacks ${JSON.stringify(c.message)}:\n${r.stderr}`,
      );
    } else assert.match(r.stderr, c.message);
    assert.ok(!r.stderr.includes("restarting"), "a channel that cannot start is not restarted");
  });
}

Deno.test("run exits 78 naming the channel when its port is held without SO_REUSEPORT", async () => {
  const holder = UdpSocket.create({ reuseAddr: false, reusePort: false });
  try {
    holder.bind({ ip: 0x7f000001, port: 0 });
    const port = holder.localAddress().port;
    const cfg = tempFile(
      `metrics: ""\nchannels:\n  held:\n    listen: 127.0.0.1:${port}\n    relay: [{ to: 127.0.0.1:9 }]\n`,
    );
    const r = await chanrelay(["run", "--config", cfg]);
    assert.equal(r.code, 78, r.stderr);
    assert.ok(
      r.stderr.includes(`Channel "held" cannot start: Cannot bind "127.0.0.1:${port}": EADDRINUSE`),
      r.stderr,
    );
  } finally {
    holder.close();
  }
});

Deno.test("run --keep-going runs the channels that can start and reports ready", async () => {
  const holder = UdpSocket.create({ reuseAddr: false, reusePort: false });
  holder.bind({ ip: 0x7f000001, port: 0 });
  const port = holder.localAddress().port;
  const cfg = tempFile(
    `metrics: ""\nchannels:\n  held:\n    listen: 127.0.0.1:${port}\n    relay: [{ to: 127.0.0.1:9 }]\n` +
      `  free:\n    listen: 127.0.0.1:0\n    relay: [{ to: 127.0.0.1:9 }]\n`,
  );
  try {
    const p = await ChanrelayProcess.run(["--config", cfg, "--keep-going"]);
    const ready = await p.waitFor(/msg=ready/);
    assert.match(ready, /channels=1 failed=1/);
    const stop = await p.stop("SIGINT");
    assert.equal(stop.code, 0);
  } finally {
    holder.close();
  }
});

Deno.test("run ignores SIGUSR1: Deno's debugger does not open on 127.0.0.1:9229 and relaying goes on", async () => {
  const cfg = tempFile(
    `metrics: ""\nchannels:\n  m:\n    listen: 127.0.0.1:0\n    relay: [{ to: 127.0.0.1:9 }]\n`,
  );
  const p = await ChanrelayProcess.run(["--config", cfg]);
  try {
    await new Promise((r) => setTimeout(r, 2000)); // past Deno's 500 ms grace and our first reset
    Deno.kill(p.pid, "SIGUSR1");
    await new Promise((r) => setTimeout(r, 700));
    let listening = true;
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port: 9229 })).close();
    } catch {
      listening = false;
    }
    assert.equal(listening, false, "something listens on 127.0.0.1:9229 after SIGUSR1");
    assert.ok(!p.exited, "SIGUSR1 killed chanrelay");
    assert.ok(!p.lines.some((l) => l.includes("Debugger listening")), p.lines.join("\n"));
  } finally {
    const stop = await p.stop("SIGTERM");
    assert.equal(stop.code, 0);
  }
});

Deno.test({
  name: "run gives each relay thread a 0.1 ms time slice and V8's worker threads nice 19",
  ignore: Deno.build.os !== "linux", // /proc and sched_setattr
  async fn() {
    const cfg = tempFile(
      `metrics: ""\nchannels:\n` +
        ["a", "b"].map((n) =>
          `  ${n}:\n    listen: 127.0.0.1:0\n    relay: [{ to: 127.0.0.1:9 }]\n`
        )
          .join(""),
    );
    const p = await ChanrelayProcess.run(["--config", cfg]);
    try {
      const tasks = [...Deno.readDirSync(`/proc/${p.pid}/task`)].map((e) => Number(e.name));
      const comm = (t: number) => Deno.readTextFileSync(`/proc/${p.pid}/task/${t}/comm`).trim();
      const slice = (t: number) => threadSlice(t, p.pid);
      const relays = tasks.filter((t) => comm(t).startsWith("worker-"));
      assert.equal(relays.length, 2, tasks.map(comm).join(", "));
      for (const t of relays) assert.equal(slice(t), RELAY_SLICE_NS, `${comm(t)}: ${slice(t)} ns`);
      assert.notEqual(slice(p.pid), RELAY_SLICE_NS, "the main thread's slice changed");
      const v8 = tasks.filter((t) => comm(t).startsWith("V8 DefaultWorke"));
      assert.ok(v8.length > 0, tasks.map(comm).join(", "));
      const nice = (t: number) => threadNice(t, p.pid);
      for (const t of v8) assert.equal(nice(t), 19, `${comm(t)} ${t} is at nice ${nice(t)}`);
    } finally {
      const stop = await p.stop("SIGTERM");
      assert.equal(stop.code, 0);
    }
  },
});

Deno.test("run warms each channel up before ready without sending anything to its destinations", async () => {
  const dest = UdpSocket.create({ reuseAddr: false, reusePort: false });
  dest.bind({ ip: 0x7f000001, port: 0 });
  dest.setRecvTimeout(300);
  const port = dest.localAddress().port;
  const cfg = tempFile(
    `metrics: ""\nchannels:\n  w:\n    listen: 127.0.0.1:0\n    relay: [{ to: 127.0.0.1:${port} }]\n`,
  );
  const p = await ChanrelayProcess.run(["--config", cfg, "--log-level", "debug"]);
  try {
    const warmed = p.lines.find((l) => l.includes('msg="Warmed up"'));
    assert.ok(warmed !== undefined, p.lines.join("\n"));
    assert.ok(Number(parseLogfmt(warmed).datagrams) > 1000, warmed);
    const ready = p.lines.findIndex((l) => l.includes("msg=ready"));
    assert.ok(p.lines.indexOf(warmed) < ready, "warmed up after ready");
    assert.equal(
      dest.recvFrom(new Uint8Array(2048)),
      null,
      "a warm-up datagram reached the destination",
    );
  } finally {
    dest.close();
    const stop = await p.stop("SIGTERM");
    assert.equal(stop.code, 0);
  }
});

Deno.test("run works under exactly the compiled binary's permissions and V8 flags: config loader child, recording, df", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "chanrelay-perms-" });
  const cfg = tempFile(
    `data_dir: ${
      JSON.stringify(dataDir)
    }\nmetrics: 127.0.0.1:0\nchannels:\n  p:\n    listen: 127.0.0.1:0\n    relay: [{ to: 127.0.0.1:9 }]\n    record: {}\n`,
  );
  const p = await ChanrelayProcess.run(["--config", cfg], {}, 20_000, [...PERMISSIONS, V8_FLAGS]);
  try {
    const url = await metricsUrl(p);
    // the disk-space gauge comes from df: known only if the binary may run it
    type Disk = { availableBytes: number | null } | null;
    let disk: Disk = null;
    for (let i = 0; i < 50 && typeof disk?.availableBytes !== "number"; i++) {
      const { body } = await getJson<{ channels: { disk: Disk }[] }>(`${url}stats`);
      disk = body.channels[0]?.disk ?? null;
      if (typeof disk?.availableBytes !== "number") await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(
      typeof disk?.availableBytes === "number" && disk.availableBytes > 0,
      JSON.stringify(disk),
    );
  } finally {
    const stop = await p.stop("SIGTERM");
    assert.equal(stop.code, 0, p.lines.join("\n"));
    await Deno.remove(dataDir, { recursive: true });
  }
  const denied = p.lines.filter((l) => /NotCapable|PermissionDenied|Requires .* access/.test(l));
  assert.deepEqual(denied, []);
});

Deno.test("a recording channel that cannot bind exits 78 and leaves no recording file behind", async () => {
  const holder = UdpSocket.create({ reuseAddr: false, reusePort: false });
  const dataDir = await Deno.makeTempDir({ prefix: "chanrelay-held-" });
  try {
    holder.bind({ ip: 0x7f000001, port: 0 });
    const port = holder.localAddress().port;
    const cfg = tempFile(
      `data_dir: ${
        JSON.stringify(dataDir)
      }\nmetrics: ""\nchannels:\n  held:\n    listen: 127.0.0.1:${port}\n    relay: [{ to: 127.0.0.1:9 }]\n    record: {}\n`,
    );
    const r = await chanrelay(["run", "--config", cfg]);
    assert.equal(r.code, 78, r.stderr);
    assert.ok(r.stderr.includes(`Cannot bind "127.0.0.1:${port}": EADDRINUSE`), r.stderr);
    const left: string[] = [];
    for await (const e of Deno.readDir(`${dataDir}/held`)) left.push(e.name);
    assert.deepEqual(left, []);
  } finally {
    holder.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
