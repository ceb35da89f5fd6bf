/**
 * sd_notify from a real `chanrelay run`: with NOTIFY_SOCKET naming a socket this test owns, the
 * daemon sends READY=1 once it relays, STATUS= with each stats line, RELOADING=1 (with
 * MONOTONIC_USEC) then READY=1 around a SIGHUP reload, and STOPPING=1 on SIGTERM, in that order.
 */
import assert from "node:assert/strict";
import { UnixDatagramSocket } from "../../ffi/unix_datagram.ts";
import { monotonicNs } from "../../ffi/clock.ts";
import { ChanrelayProcess, parseLogfmt, tempFile } from "../helpers/relay_process.ts";
import {
  eventually,
  freeSink,
  freeUdpPort,
  getText,
  metricsUrl,
  portOf,
  pushExpect,
  sender,
} from "../fixtures/ops/daemon_harness.ts";

/** One notification and when it arrived. */
interface Note {
  readonly text: string;
  /** Wall clock, ms. */
  readonly atMs: number;
}

/** Receives notifications in the background (short blocking reads, then a yield). */
class NotifyCollector {
  readonly notes: Note[] = [];
  readonly #sock: UnixDatagramSocket;
  readonly #buf = new Uint8Array(4096);
  #running = true;
  readonly #done: Promise<void>;

  constructor(path: string) {
    this.#sock = UnixDatagramSocket.create();
    this.#sock.bind(path);
    this.#sock.setRecvTimeout(1);
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    const td = new TextDecoder();
    while (this.#running) {
      this.drain(td);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Takes every queued datagram now. */
  drain(td = new TextDecoder()): void {
    for (;;) {
      const n = this.#sock.recv(this.#buf);
      if (n === null) return;
      this.notes.push({ text: td.decode(this.#buf.subarray(0, n)), atMs: Date.now() });
    }
  }

  /** Waits for a notification matching `re` at index `from` or later; returns its index. */
  async waitFor(re: RegExp, from = 0, timeoutMs = 10_000): Promise<number> {
    let found = -1;
    await eventually(`a notification matching ${re}`, () => {
      found = this.notes.findIndex((n, i) => i >= from && re.test(n.text));
      return found >= 0;
    }, timeoutMs).catch((e) => {
      throw new Error(
        `${(e as Error).message}; got ${JSON.stringify(this.notes.map((n) => n.text))}`,
      );
    });
    return found;
  }

  /** Stops collecting, takes what is queued and closes the socket (idempotent). */
  async close(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#done;
    this.drain();
    this.#sock.close();
  }
}

const STATUS = /^STATUS=(\d+)\/(\d+) channels up, (\d+) datagrams received$/;

function channelYaml(name: string, listen: number, to: number): string {
  return `  ${name}:\n    listen: 127.0.0.1:${listen}\n    rcvbuf: 1MiB\n` +
    `    relay: [{ to: 127.0.0.1:${to} }]\n`;
}

Deno.test({
  name:
    "chanrelay run notifies READY=1 after its ready log line, STATUS= per stats line, RELOADING=1 with MONOTONIC_USEC then READY=1 on SIGHUP, STOPPING=1 on SIGTERM, in that order",
  ignore: Deno.build.os !== "linux" && Deno.build.os !== "darwin",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "chanrelay-notify-" });
    const notes = new NotifyCollector(`${dir}/notify.sock`);
    const s1 = freeSink("one");
    const s2 = freeSink("two");
    const p1 = freeUdpPort();
    const p2 = freeUdpPort();
    const head = `metrics: ""\nstats_interval: 200ms\nchannels:\n`;
    const path = tempFile(head + channelYaml("one", p1, portOf(s1)));
    const tx = sender();
    const relay = ChanrelayProcess.spawn(["run", "--config", path], {
      NOTIFY_SOCKET: `${dir}/notify.sock`,
    });
    try {
      const ready = await notes.waitFor(/^READY=1/);
      // READY=1 means relaying: a datagram goes through at once
      pushExpect(tx, p1, 1, 10, s1);
      assert.equal(ready, 0, `notified before READY=1: ${notes.notes[0]?.text}`);
      // (whether the status counts the channel up: see the next test)
      assert.match(
        notes.notes[ready]!.text,
        /^READY=1\nSTATUS=[01]\/1 channels up, 0 datagrams received$/,
      );
      const readyLog = parseLogfmt(await relay.waitFor(/msg=ready/));
      assert.ok(
        Date.parse(readyLog.ts!) <= notes.notes[ready]!.atMs,
        `READY=1 arrived at ${new Date(notes.notes[ready]!.atMs).toISOString()}, ` +
          `before the log's ready line at ${readyLog.ts}`,
      );

      // STATUS= with the stats lines
      const st = await notes.waitFor(/^STATUS=1\/1 channels up, 10 datagrams received$/, ready + 1);
      await notes.waitFor(STATUS, st + 1);

      // SIGHUP: RELOADING=1 with the monotonic time, then READY=1 with the new status
      Deno.writeTextFileSync(
        path,
        head + channelYaml("one", p1, portOf(s1)) + channelYaml("two", p2, portOf(s2)),
      );
      const before = Math.floor(monotonicNs() / 1000);
      const mark = notes.notes.length;
      Deno.kill(relay.pid, "SIGHUP");
      const reloading = await notes.waitFor(/^RELOADING=1/, mark);
      const after = Math.floor(monotonicNs() / 1000);
      const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(notes.notes[reloading]!.text);
      assert.ok(m, notes.notes[reloading]!.text);
      const usec = Number(m[1]);
      assert.ok(
        usec >= before && usec <= after,
        `MONOTONIC_USEC ${usec} not in [${before}, ${after}]`,
      );
      const reReady = await notes.waitFor(/^READY=1/, reloading + 1);
      // (how many of the two are up in this status: see the next test)
      assert.match(
        notes.notes[reReady]!.text,
        /^READY=1\nSTATUS=[12]\/2 channels up, \d+ datagrams received$/,
      );
      await relay.waitFor(/msg=Reloaded/);
      pushExpect(tx, p2, 2, 10, s2); // the new channel relays
      await notes.waitFor(/^STATUS=2\/2 channels up, 20 datagrams received$/, reReady + 1);

      // SIGTERM: STOPPING=1, the last word
      const stop = await relay.stop("SIGTERM");
      assert.equal(stop.code, 0);
      await notes.close();
      const texts = notes.notes.map((n) => n.text);
      assert.equal(texts.at(-1), "STOPPING=1");
      // the whole conversation, in order: R ready, S status, L reloading, X stopping (a stats
      // line may fall inside the reload: its STATUS= there is fine)
      const kinds = texts.map((t) =>
        t.startsWith("READY=1")
          ? "R"
          : t.startsWith("RELOADING=1")
          ? "L"
          : t === "STOPPING=1"
          ? "X"
          : STATUS.test(t)
          ? "S"
          : "?"
      ).join("");
      assert.match(kinds, /^RS+LS*RS+X$/, JSON.stringify(texts));
    } finally {
      if (!relay.exited) await relay.stop("SIGKILL");
      await notes.close();
      tx.close();
      s1.sock.close();
      s2.sock.close();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(path);
    }
  },
});

Deno.test({
  name:
    "READY=1 (at start and after each SIGHUP reload) comes once every channel runs: its STATUS counts them all up and /health is 200",
  ignore: Deno.build.os !== "linux" && Deno.build.os !== "darwin",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "chanrelay-notify-" });
    const notes = new NotifyCollector(`${dir}/notify.sock`);
    const names = ["one", "two", "three", "four", "five"];
    const ports = names.map(() => freeUdpPort());
    const head = `metrics: 127.0.0.1:0\nstats_interval: 10s\nchannels:\n`;
    const path = tempFile(head + channelYaml("one", ports[0]!, 9));
    const relay = ChanrelayProcess.spawn(["run", "--config", path], {
      NOTIFY_SOCKET: `${dir}/notify.sock`,
    });
    try {
      const url = await metricsUrl(relay);
      const first = await notes.waitFor(/^READY=1/);
      const statuses: string[] = [notes.notes[first]!.text];
      const healths: number[] = [(await getText(`${url}health`)).status];
      for (const n of [2, 3, 4, 5]) {
        const channels = names.slice(0, n)
          .map((name, i) => channelYaml(name, ports[i]!, 9)).join("");
        Deno.writeTextFileSync(path, head + channels);
        const mark = notes.notes.length;
        Deno.kill(relay.pid, "SIGHUP");
        const r = await notes.waitFor(/^RELOADING=1/, mark);
        const ready = await notes.waitFor(/^READY=1/, r + 1);
        healths.push((await getText(`${url}health`)).status); // right after READY=1
        statuses.push(notes.notes[ready]!.text);
        await relay.waitFor(new RegExp(`msg=Reloaded added=${names[n - 1]} `));
      }
      assert.deepEqual(
        statuses,
        [1, 2, 3, 4, 5].map((n) => `READY=1\nSTATUS=${n}/${n} channels up, 0 datagrams received`),
      );
      assert.deepEqual(healths, [200, 200, 200, 200, 200]);
      assert.equal((await relay.stop("SIGTERM")).code, 0);
    } finally {
      if (!relay.exited) await relay.stop("SIGKILL");
      await notes.close();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(path);
    }
  },
});
