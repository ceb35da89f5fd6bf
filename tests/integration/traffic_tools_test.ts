/**
 * `chanrelay send` and `chanrelay listen` as real processes over 127.0.0.1: counts, loss and
 * duplicates through a lossy relay, pacing, bad flags, compatibility with the C bench tools, and
 * a multicast round trip in a network namespace.
 */
import assert from "node:assert/strict";
import { DENO, ROOT } from "../helpers/env.ts";
import { canRunInNamespace, lastJsonLine, runInNetns } from "../helpers/netns.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { parseIPv4 } from "../../ffi/inet.ts";
import { payloadSequence } from "../../src/traffic/payload.ts";
import type { ListenReport } from "../../src/cli/listen.ts";
import type { SendSummary } from "../../src/cli/send.ts";

const LOCALHOST = parseIPv4("127.0.0.1")!;
const td = new TextDecoder();

/** A chanrelay child process whose stdout and stderr are collected as they come. */
class Chanrelay {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  readonly #done: Promise<void>;
  #onStderr: (() => void) | null = null;

  constructor(args: string[]) {
    this.child = new Deno.Command(DENO, {
      args: ["run", "-A", "--frozen", "main.ts", ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const chunk of stream) {
        this[into] += td.decode(chunk, { stream: true });
        if (into === "stderr") this.#onStderr?.();
      }
      if (into === "stderr") this.#onStderr?.();
    };
    this.#done = Promise.all([
      pump(this.child.stdout, "stdout"),
      pump(this.child.stderr, "stderr"),
    ]).then(() => {});
  }

  /** Waits for listen's "Listening" line; returns the port it reports. */
  listening(timeoutMs = 10_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onStderr = null;
        reject(new Error(`listen did not report ready in ${timeoutMs} ms: ${this.stderr}`));
      }, timeoutMs);
      const check = () => {
        const m = /msg=Listening on=[0-9.]+:([0-9]+)/.exec(this.stderr);
        if (m) {
          clearTimeout(timer);
          this.#onStderr = null;
          resolve(Number(m[1]));
        }
      };
      this.#onStderr = check;
      check();
    });
  }

  /** Waits for the exit; returns the exit code once all output is in. */
  async exit(): Promise<number> {
    const status = await this.child.status;
    await this.#done;
    return status.code;
  }

  /** The last stdout line parsed as JSON. */
  json<T>(): T {
    const lines = this.stdout.trim().split("\n");
    try {
      return JSON.parse(lines[lines.length - 1]!) as T;
    } catch {
      throw new Error(`No JSON on stdout\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
    }
  }
}

async function runToEnd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = new Chanrelay(args);
  const code = await c.exit();
  return { code, stdout: c.stdout, stderr: c.stderr };
}

Deno.test("listen counts 20 000 datagrams from send with no loss and no duplicates", async () => {
  const listen = new Chanrelay([
    "listen",
    "--on",
    "127.0.0.1:0",
    "--count",
    "20000",
    "--idle",
    "3",
    "--json",
  ]);
  const port = await listen.listening();
  const send = await runToEnd([
    "send",
    "--to",
    `127.0.0.1:${port}`,
    "--rate",
    "20000",
    "--count",
    "20000",
    "--size",
    "200",
    "--json",
  ]);
  assert.equal(send.code, 0, send.stderr);
  const sent = JSON.parse(send.stdout) as SendSummary;
  assert.equal(sent.sent, 20_000);
  assert.equal(sent.stopped_by, "count");
  assert.equal(await listen.exit(), 0, listen.stderr);
  const r = listen.json<ListenReport>();
  assert.equal(r.received, 20_000);
  assert.equal(r.unique, 20_000);
  assert.equal(r.lost, 0);
  assert.equal(r.duplicates, 0);
  assert.equal(r.truncated, 0);
  assert.equal(r.short, 0);
  assert.equal(r.first_seq, 0);
  assert.equal(r.highest_seq, 19_999);
  assert.equal(r.bytes, 20_000 * 200);
  assert.equal(r.stopped_by, "count");
  assert.ok(r.latency_p50_us > 0 && r.latency_p50_us <= r.latency_p99_us, JSON.stringify(r));
  assert.ok(r.latency_p99_us <= r.latency_max_us);
});

Deno.test("listen reports the exact loss and duplicates of a relay that drops every 10th and doubles every 100th", async () => {
  const total = 20_000;
  const listen = new Chanrelay([
    "listen",
    "--on",
    "127.0.0.1:0",
    "--count",
    String(total),
    "--idle",
    "1",
    "--json",
  ]);
  const port = await listen.listening();

  const relay = UdpSocket.create();
  const out = UdpSocket.create();
  const inb = new DatagramBatch(64, 2048);
  const outb = new DatagramBatch(128, 2048);
  const view = new DataView(inb.data.buffer);
  let send: Chanrelay | undefined;
  let forwarded = 0;
  try {
    relay.bind({ ip: LOCALHOST, port: 0 });
    relay.setRecvBuffer(4 << 20);
    relay.setRecvTimeout(100);
    out.connect({ ip: LOCALHOST, port });
    const relayPort = relay.localAddress().port;
    send = new Chanrelay([
      "send",
      "--to",
      `127.0.0.1:${relayPort}`,
      "--rate",
      "20000",
      "--count",
      String(total),
      "--json",
    ]);
    // a blocking relay loop: the children run on their own meanwhile
    let received = 0;
    let idleSince = performance.now();
    while (received < total && performance.now() - idleSince < 5000) {
      const n = relay.recvBatch(inb);
      assert.ok(n >= 0, `relay receive failed: ${-n}`);
      if (n === 0) continue;
      idleSince = performance.now();
      let k = 0;
      for (let i = 0; i < n; i++) {
        const seq = payloadSequence(view, inb.offset(i));
        const len = inb.lengths[i]!;
        if ((seq + 1) % 10 === 0) continue; // drop 9, 19, 29, … 19999
        const copies = seq % 100 === 0 ? 2 : 1; // double 0, 100, 200, …
        for (let c = 0; c < copies; c++) {
          outb.data.set(inb.data.subarray(inb.offset(i), inb.offset(i) + len), outb.offset(k));
          outb.setLength(k, len);
          k++;
        }
      }
      received += n;
      let done = 0;
      while (done < k) {
        const r = out.sendBatch(outb, done, k - done);
        assert.ok(r > 0, `relay send failed: ${-r}`);
        done += r;
      }
      forwarded += k;
    }
    assert.equal(received, total, "the relay got everything send sent");
  } finally {
    relay.close();
    out.close();
  }
  assert.equal(await send!.exit(), 0, send!.stderr);
  assert.equal(await listen.exit(), 0, listen.stderr);
  const r = listen.json<ListenReport>();
  assert.equal(forwarded, total - 2000 + 200);
  assert.equal(r.received, total - 2000 + 200);
  assert.equal(r.unique, total - 2000);
  // 1999 gaps up to the highest seen (19998) and 19999 missing at the end of --count
  assert.equal(r.lost, 2000);
  assert.equal(r.duplicates, 200);
  assert.equal(r.reordered, 0);
  assert.equal(r.highest_seq, 19_998);
  assert.equal(r.stopped_by, "idle");
});

Deno.test("send --rate 2000 --duration 1 sends 2000 datagrams within 5 %, all received", async () => {
  const listen = new Chanrelay(["listen", "--on", "127.0.0.1:0", "--idle", "1", "--json"]);
  const port = await listen.listening();
  const send = await runToEnd([
    "send",
    "--to",
    `127.0.0.1:${port}`,
    "--rate",
    "2000",
    "--duration",
    "1",
    "--json",
  ]);
  assert.equal(send.code, 0, send.stderr);
  const s = JSON.parse(send.stdout) as SendSummary;
  assert.ok(s.sent >= 1900 && s.sent <= 2100, `sent ${s.sent}`);
  assert.ok(s.seconds >= 0.95 && s.seconds <= 1.1, `took ${s.seconds} s`);
  assert.equal(s.stopped_by, "duration");
  assert.equal(await listen.exit(), 0, listen.stderr);
  const r = listen.json<ListenReport>();
  assert.equal(r.received, s.sent);
  assert.equal(r.lost, 0);
  // paced at 2000/s, the arrivals span about a second
  assert.ok(r.seconds >= 0.9 && r.seconds <= 1.1, `arrivals span ${r.seconds} s`);
});

Deno.test("send and listen exit 64 naming the flag and the value of a bad flag", async () => {
  const cases: Array<[string[], string[]]> = [
    [["send", "--to", "nowhere"], ["--to", '"nowhere"']],
    [["send", "--to", "127.0.0.1:9", "--rate", "-5"], ["--rate", '"-5"']],
    [["send", "--to", "127.0.0.1:9", "--size", "70000"], ["--size", '"70000"']],
    [["send", "--to", "127.0.0.1:9", "--size", "8"], ["--size", '"8"']],
    [["send", "--to", "127.0.0.1:9", "--bogus", "3"], ["--bogus"]],
    [["listen", "--on", "127.0.0.1:0", "--frob"], ["--frob"]],
    [["listen", "--on", "10.0.0.1"], ["--on", '"10.0.0.1"']],
    [["listen", "--on", "127.0.0.1:0", "--source", "10.1.1.1"], ["--source", '"10.1.1.1"']],
    [["listen", "--on", "127.0.0.1:0", "--rcvbuf", "lots"], ["--rcvbuf", '"lots"']],
  ];
  const results = await Promise.all(cases.map(([args]) => runToEnd(args)));
  results.forEach((r, i) => {
    const [args, needles] = cases[i]!;
    assert.equal(r.code, 64, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    for (const n of needles) {
      assert.ok(r.stderr.includes(n), `${args.join(" ")}: stderr lacks ${n}: ${r.stderr}`);
    }
  });
});

Deno.test("send stops on SIGINT and listen on SIGTERM, each exiting 0 with its report", async () => {
  const rx = UdpSocket.create();
  let send: Chanrelay;
  try {
    rx.bind({ ip: LOCALHOST, port: 0 });
    rx.setRecvTimeout(10_000);
    const port = rx.localAddress().port;
    send = new Chanrelay(["send", "--to", `127.0.0.1:${port}`, "--rate", "1000", "--json"]);
    // the first datagram says the send loop runs (its signal watcher is installed before)
    assert.ok(rx.recvFrom(new Uint8Array(2048)), "send sent nothing within 10 s");
  } finally {
    rx.close();
  }
  const t0 = performance.now();
  send.child.kill("SIGINT");
  assert.equal(await send.exit(), 0, send.stderr);
  const sendStopMs = performance.now() - t0;
  const s = send.json<SendSummary>();
  assert.equal(s.stopped_by, "signal");
  assert.ok(s.sent > 0);
  assert.ok(sendStopMs < 1000, `send took ${sendStopMs} ms to stop`);

  const listen = new Chanrelay(["listen", "--on", "127.0.0.1:0", "--json"]);
  await listen.listening();
  const t1 = performance.now();
  listen.child.kill("SIGTERM");
  assert.equal(await listen.exit(), 0, listen.stderr);
  const listenStopMs = performance.now() - t1;
  const r = listen.json<ListenReport>();
  assert.equal(r.stopped_by, "signal");
  assert.equal(r.received, 0);
  assert.equal(r.first_seq, -1);
  assert.ok(listenStopMs < 1000, `listen took ${listenStopMs} ms to stop`);
});

const BENCH = new URL("../../../shared/bench/", import.meta.url).pathname;

function hasBenchTools(): boolean {
  try {
    Deno.statSync(`${BENCH}gen.c`);
    Deno.statSync(`${BENCH}sink.c`);
    return new Deno.Command("gcc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "listen reads gen.c's datagrams and sink.c reads send's (../shared/bench, when present)",
  ignore: !hasBenchTools(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "chanrelay_bench_" });
    try {
      for (const tool of ["gen", "sink"]) {
        const cc = await new Deno.Command("gcc", {
          args: ["-O2", "-o", `${dir}/${tool}`, `${BENCH}${tool}.c`],
        }).output();
        assert.ok(cc.success, td.decode(cc.stderr));
      }
      // gen -> listen
      const listen = new Chanrelay([
        "listen",
        "--on",
        "127.0.0.1:0",
        "--count",
        "5000",
        "--idle",
        "3",
        "--json",
      ]);
      const port = await listen.listening();
      const gen = await new Deno.Command(`${dir}/gen`, {
        args: ["-d", `127.0.0.1:${port}`, "-n", "5000", "-r", "20000", "-s", "100"],
      }).output();
      assert.ok(gen.success, td.decode(gen.stderr));
      assert.equal(await listen.exit(), 0, listen.stderr);
      const r = listen.json<ListenReport>();
      assert.equal(r.unique, 5000);
      assert.equal(r.lost, 0);
      assert.equal(r.bytes, 5000 * 100);

      // send -> sink
      // sink needs a fixed port: take a free one from the kernel, then hand it over
      const tmp = UdpSocket.create({ reuseAddr: false, reusePort: false });
      tmp.bind({ ip: LOCALHOST, port: 0 });
      const sinkPort = tmp.localAddress().port;
      tmp.close();
      const sinkChild = new Deno.Command(`${dir}/sink`, {
        args: ["-p", String(sinkPort), "-a", "127.0.0.1", "-n", "5000", "-i", "3000"],
        stdout: "piped",
      }).spawn();
      const reader = sinkChild.stdout.getReader();
      let out = "";
      while (!out.includes("SINK_READY")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += td.decode(value);
      }
      const send = await runToEnd([
        "send",
        "--to",
        `127.0.0.1:${sinkPort}`,
        "--rate",
        "20000",
        "--count",
        "5000",
      ]);
      assert.equal(send.code, 0, send.stderr);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += td.decode(value);
      }
      assert.ok((await sinkChild.status).success);
      const line = out.split("\n").find((l) => l.startsWith("SINK "));
      assert.ok(line, out);
      assert.match(line, / recv=5000 uniq=5000 /);
      assert.match(line, / lost=0 /);
      assert.match(line, / dup=0 reord=0 /);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("multicast: listen receives send's group traffic, source-specific joins filter by sender", async () => {
  if (!canRunInNamespace("traffic tools multicast in a network namespace")) return;
  const r = await runInNetns(new URL("./traffic_tools_netns_child.ts", import.meta.url), [], {
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, `child failed (code ${r.code})\n${r.stdout}\n${r.stderr}`);
  const { asm, ssm, sends } = lastJsonLine<{
    asm: ListenReport;
    ssm: ListenReport;
    sends: SendSummary[];
  }>(r);
  for (const s of sends) assert.equal(s.sent, 3000);
  // any-source: both senders' 3000 sequence numbers, the second copy of each a duplicate
  assert.equal(asm.received, 6000);
  assert.equal(asm.unique, 3000);
  assert.equal(asm.duplicates, 3000);
  assert.equal(asm.lost, 0);
  // source-specific (127.0.0.1 only): exactly one sender's datagrams
  assert.equal(ssm.received, 3000);
  assert.equal(ssm.unique, 3000);
  assert.equal(ssm.duplicates, 0);
  assert.equal(ssm.lost, 0);
});
