/**
 * SIGHUP reloads of a real `chanrelay run` on 127.0.0.1 under traffic: untouched channels lose
 * nothing, changed ones move, removed ones stop with their recordings finished, new ones start;
 * an invalid config is rejected with file:line:column and the running one stays.
 */
import assert from "node:assert/strict";
import { ChanrelayProcess, parseLogfmt, tempFile } from "../helpers/relay_process.ts";
import type { StatsBody } from "../../src/metrics/server.ts";
import type { ListenReport } from "../../src/cli/listen.ts";
import type { SendSummary } from "../../src/cli/send.ts";
import { listRecordings } from "../../src/recorder/file_names.ts";
import { readWithAvsc } from "../unit/recorder/_helpers.ts";
import { checkPattern } from "../helpers/patterns.ts";
import { DatagramBatch } from "../../ffi/udp_socket.ts";
import {
  countArriving,
  eventually,
  freeSink,
  freeUdpPort,
  getJson,
  lineColumn,
  metricsUrl,
  portOf,
  pushExpect,
  sender,
  sendOnly,
} from "../fixtures/ops/daemon_harness.ts";

interface Ch {
  listen: number;
  to: number;
  record?: boolean;
}

function configText(dataDir: string, channels: Record<string, Ch>): string {
  let y = `data_dir: ${JSON.stringify(dataDir)}\nmetrics: 127.0.0.1:0\nstats_interval: 200ms\n` +
    `channels:\n`;
  for (const [name, c] of Object.entries(channels)) {
    y += `  ${name}:\n    listen: 127.0.0.1:${c.listen}\n    rcvbuf: 4MiB\n` +
      `    relay: [{ to: 127.0.0.1:${c.to} }]\n`;
    if (c.record) {
      y += `    record: { block_interval: 50ms, prealloc_chunk: 1MiB }\n`;
    }
  }
  return y;
}

const KEEP_RATE = 2000;
const KEEP_COUNT = 12_000; // 6 s of traffic: it spans both reloads

Deno.test({
  name:
    "SIGHUP under traffic: the untouched channel loses nothing, a changed one moves, a removed one stops with its file finished, a new one starts; an invalid config is rejected with file:line:column and the old one keeps running",
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "chanrelay-reload-" });
    const keepPort = freeUdpPort();
    const keepDest = freeUdpPort();
    const c1 = freeSink("change-old");
    const c2 = freeSink("change-new");
    const d = freeSink("drop");
    const f = freeSink("fresh");
    const ports = { change: freeUdpPort(), drop: freeUdpPort(), fresh: freeUdpPort() };
    const v1 = configText(dataDir, {
      keep: { listen: keepPort, to: keepDest },
      change: { listen: ports.change, to: portOf(c1) },
      drop: { listen: ports.drop, to: portOf(d), record: true },
    });
    const v2 = configText(dataDir, {
      keep: { listen: keepPort, to: keepDest },
      change: { listen: ports.change, to: portOf(c2) },
      fresh: { listen: ports.fresh, to: portOf(f) },
    });
    const path = tempFile(v1);
    const tx = sender();
    const relay = await ChanrelayProcess.run(["--config", path]);
    let listen: ChanrelayProcess | null = null;
    let send: ChanrelayProcess | null = null;
    try {
      const url = await metricsUrl(relay);
      pushExpect(tx, ports.change, 1, 100, c1);
      pushExpect(tx, ports.drop, 2, 100, d);

      listen = ChanrelayProcess.spawn([
        "listen",
        "--on",
        `127.0.0.1:${keepDest}`,
        "--count",
        String(KEEP_COUNT),
        "--idle",
        "3",
        "--json",
      ]);
      await listen.waitFor(/msg=Listening/);
      send = ChanrelayProcess.spawn([
        "send",
        "--to",
        `127.0.0.1:${keepPort}`,
        "--rate",
        String(KEEP_RATE),
        "--count",
        String(KEEP_COUNT),
        "--size",
        "120",
        "--json",
      ]);
      // the reload happens while "keep" is busy
      await relay.waitFor(/msg=stats channel=keep .*\brx=[1-9]/);

      const t0 = performance.now();
      Deno.writeTextFileSync(path, v2);
      Deno.kill(relay.pid, "SIGHUP");
      const reloaded = parseLogfmt(await relay.waitFor(/msg=Reloaded/));
      const reloadMs = performance.now() - t0;
      assert.deepEqual(
        [reloaded.added, reloaded.removed, reloaded.changed, reloaded.failed],
        ["fresh", "drop", "change", "0"],
      );

      // change: the new destination gets everything, the old one nothing
      c2.next = 0;
      pushExpect(tx, ports.change, 3, 200, c2);
      assert.equal(countArriving(c1, 100), 0, "the old destination of a changed channel");
      // fresh: relays
      pushExpect(tx, ports.fresh, 4, 200, f);
      // drop: its port is not relayed any more
      sendOnly(tx, ports.drop, 20);
      assert.equal(countArriving(d, 300), 0, "a removed channel still relays");
      // …and its recording is finished, with every record
      const rec = await listRecordings(`${dataDir}/drop`);
      assert.deepEqual(rec.inprogress, [], "a removed channel left an .inprogress file");
      assert.equal(rec.finished.length, 1, JSON.stringify(rec));
      assert.match(rec.finished[0]!, /\.avro$/);
      const records = await readWithAvsc(rec.finished[0]!);
      assert.equal(records.length, 100);
      const check = new DatagramBatch(1, 2048);
      records.forEach((r, i) => {
        check.data.set(r.payload, 0);
        check.setLength(0, r.payload.length);
        assert.equal(checkPattern(check, 0, 2, i), null);
      });

      // an invalid config: rejected with file:line:column, the running config stays
      const bad = v2.replace(`127.0.0.1:${ports.change}`, "127.0.0.1:70000");
      const where = lineColumn(bad, "127.0.0.1:70000");
      Deno.writeTextFileSync(path, bad);
      Deno.kill(relay.pid, "SIGHUP");
      const rejected = parseLogfmt(await relay.waitFor(/msg="Reload rejected/));
      assert.equal(rejected.level, "error");
      assert.equal(
        rejected.errors?.split("\n")[0],
        `${path}:${where.line}:${where.column}: channels.change.listen: ` +
          `Cannot parse "127.0.0.1:70000": port out of range`,
      );
      pushExpect(tx, ports.change, 3, 200, c2);
      pushExpect(tx, ports.fresh, 4, 200, f);
      const health = await getJson(`${url}health`);
      assert.deepEqual(health, { status: 200, body: { status: "ok" } });
      const stats = (await getJson<StatsBody>(`${url}stats`)).body;
      assert.deepEqual(stats.channels.map((c) => [c.name, c.state]), [
        ["keep", "running"],
        ["change", "running"],
        ["fresh", "running"],
      ]);
      assert.equal(
        relay.lines.filter((l) => l.includes("msg=Reloaded")).length,
        1,
        "the invalid config was applied",
      );
      assert.ok(!send.exited, "the sender finished before the reloads were done: raise KEEP_COUNT");

      // keep: no gap, no loss, nothing twice, across both reloads
      await send.status();
      const sent = JSON.parse(send.stdout) as SendSummary;
      assert.equal(sent.sent, KEEP_COUNT);
      assert.equal(sent.send_errors, 0);
      const st = await listen.status();
      assert.equal(st.code, 0, listen.lines.join("\n"));
      const got = JSON.parse(listen.stdout) as ListenReport;
      assert.deepEqual(
        {
          unique: got.unique,
          lost: got.lost,
          duplicates: got.duplicates,
          reordered: got.reordered,
          first: got.first_seq,
          highest: got.highest_seq,
        },
        {
          unique: KEEP_COUNT,
          lost: 0,
          duplicates: 0,
          reordered: 0,
          first: 0,
          highest: KEEP_COUNT - 1,
        },
      );
      await eventually("keep's counters", async () => {
        const s = (await getJson<StatsBody>(`${url}stats`)).body;
        return s.channels[0]!.received === KEEP_COUNT;
      });
      const keep = (await getJson<StatsBody>(`${url}stats`)).body.channels[0]!;
      assert.equal(keep.restarts, 0);
      assert.equal(keep.kernelDrops, 0);
      assert.equal(keep.destinations[0]!.sent, KEEP_COUNT);
      console.error(`reload took ${Math.round(reloadMs)} ms`);

      const stop = await relay.stop("SIGTERM");
      assert.equal(stop.code, 0);
      assert.ok(stop.ms < 2000, `exit took ${stop.ms} ms`);
    } finally {
      if (!relay.exited) await relay.stop("SIGKILL");
      for (const p of [listen, send]) if (p !== null && !p.exited) await p.stop("SIGKILL");
      tx.close();
      for (const s of [c1, c2, d, f]) s.sock.close();
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(path);
    }
  },
});

Deno.test({
  name:
    "a SIGHUP that arrives while a reload is in flight is not lost: the config written last is the one that runs",
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "chanrelay-reload-" });
    const a = freeSink("a");
    const b1 = freeSink("b-first");
    const b2 = freeSink("b-second");
    const ports = { a: freeUdpPort(), b: freeUdpPort(), extra: freeUdpPort() };
    const extraSink = freeSink("extra");
    const base = { a: { listen: ports.a, to: portOf(a) } };
    const path = tempFile(configText(dataDir, base));
    const tx = sender();
    const relay = await ChanrelayProcess.run(["--config", path]);
    try {
      const url = await metricsUrl(relay);
      // first reload: adds b (to b1) and extra; its Workers take a while to start
      Deno.writeTextFileSync(
        path,
        configText(dataDir, {
          ...base,
          b: { listen: ports.b, to: portOf(b1) },
          extra: { listen: ports.extra, to: portOf(extraSink) },
        }),
      );
      Deno.kill(relay.pid, "SIGHUP");
      await relay.waitFor(/msg=Reloading/);
      // second edit and SIGHUP while the first reload runs: b goes to b2, extra goes away
      Deno.writeTextFileSync(
        path,
        configText(dataDir, { ...base, b: { listen: ports.b, to: portOf(b2) } }),
      );
      Deno.kill(relay.pid, "SIGHUP");
      const inFlight = !relay.lines.some((l) => l.includes("msg=Reloaded"));
      await relay.waitFor(/msg=Reloaded/);
      // whatever the daemon does with the second SIGHUP, it must end up running the last file
      await eventually("the last config to be in force", async () => {
        const s = (await getJson<StatsBody>(`${url}stats`)).body;
        return s.channels.map((c) => `${c.name}:${c.state}`).join(",") ===
          "a:running,b:running";
      }, 3000).catch(async (e) => {
        const s = (await getJson<StatsBody>(`${url}stats`)).body;
        throw new Error(
          `${(e as Error).message}: channels are ${
            s.channels.map((c) => `${c.name}:${c.state}`).join(",")
          } (second SIGHUP sent while the first reload was in flight: ${inFlight})\n` +
            relay.lines.filter((l) => /Reload/.test(l)).join("\n"),
        );
      });
      pushExpect(tx, ports.b, 5, 100, b2);
      assert.equal(countArriving(b1, 100), 0, "b still relays to its first destination");
      pushExpect(tx, ports.a, 6, 100, a);
      const health = await getJson(`${url}health`);
      assert.equal(health.status, 200);
      const stop = await relay.stop("SIGTERM");
      assert.equal(stop.code, 0);
    } finally {
      if (!relay.exited) await relay.stop("SIGKILL");
      tx.close();
      for (const s of [a, b1, b2, extraSink]) s.sock.close();
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(path);
    }
  },
});
