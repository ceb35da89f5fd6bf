/**
 * `/metrics`, `/health`, SIGUSR2 and SIGTERM of a real `chanrelay run` on 127.0.0.1: the counters
 * equal what the test sent, health flips to 503 while a crashed channel Worker restarts.
 */
import assert from "node:assert/strict";
import { ChanrelayProcess, parseLogfmt, tempFile } from "../helpers/relay_process.ts";
import { parsePrometheusText, sampleValue } from "../helpers/prometheus_text.ts";
import { patternSize } from "../helpers/patterns.ts";
import { pushThrough } from "../helpers/lockstep.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/metrics/prometheus.ts";
import type { ChannelSnapshot } from "../../src/channel/stats.ts";
import { listRecordings } from "../../src/recorder/file_names.ts";
import { DatagramBatch } from "../../ffi/udp_socket.ts";
import { readWithAvsc } from "../unit/recorder/_helpers.ts";
import {
  countArriving,
  eventually,
  freeSink,
  freeUdpPort,
  getJson,
  getText,
  LO,
  metricsUrl,
  portOf,
  pushExpect,
  sender,
  sendOnly,
} from "../fixtures/ops/daemon_harness.ts";

const N_ALPHA = 500;
const N_BETA = 200;
const FAULT_AFTER = 300;

async function metrics(url: string) {
  const r = await getText(`${url}metrics`);
  assert.equal(r.status, 200);
  assert.equal(r.type, PROMETHEUS_CONTENT_TYPE);
  return parsePrometheusText(r.text);
}

function bytesOf(id: number, count: number): number {
  let n = 0;
  for (let s = 0; s < count; s++) n += patternSize(id, s);
  return n;
}

Deno.test({
  name:
    "chanrelay run: /metrics counters equal what was sent per channel and destination (recording included), /health goes 503 while a crashed Worker restarts and 200 after, SIGUSR2 dumps every channel, SIGTERM exits 0 within 2 s",
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "chanrelay-metrics-" });
    const a1 = freeSink("alpha-1");
    const a2 = freeSink("alpha-2");
    const b = freeSink("beta");
    const ports = { alpha: freeUdpPort(), beta: freeUdpPort() };
    const dests = {
      a1: `127.0.0.1:${portOf(a1)}`,
      a2: `127.0.0.1:${portOf(a2)}`,
      b: `127.0.0.1:${portOf(b)}`,
    };
    const path = tempFile(`data_dir: ${JSON.stringify(dataDir)}
metrics: 127.0.0.1:0
stats_interval: 10s
channels:
  alpha:
    listen: 127.0.0.1:${ports.alpha}
    rcvbuf: 2MiB
    relay: [{ to: "${dests.a1}" }, { to: "${dests.a2}" }]
    record: { block_interval: 50ms, prealloc_chunk: 1MiB }
  beta:
    listen: 127.0.0.1:${ports.beta}
    rcvbuf: 2MiB
    relay: [{ to: "${dests.b}" }]
`);
    const tx = sender();
    const relay = await ChanrelayProcess.run(["--config", path], {
      CHANRELAY_TEST_FAULT: `beta:${FAULT_AFTER}`,
    });
    try {
      const url = await metricsUrl(relay);
      const errors = pushThrough(tx, { ip: LO, port: ports.alpha }, 1, 0, N_ALPHA, [a1, a2]);
      assert.deepEqual(errors, []);
      pushExpect(tx, ports.beta, 2, N_BETA, b);

      // the recorder commits its block within block_interval: wait for it to land
      await eventually(
        "alpha's records",
        async () =>
          sampleValue(await metrics(url), "chanrelay_recorded_records_total", {
            channel: "alpha",
          }) === N_ALPHA,
      );
      const m = await metrics(url);
      const alpha = { channel: "alpha" };
      const beta = { channel: "beta" };
      const v = (name: string, labels: Record<string, string>) => sampleValue(m, name, labels);
      assert.equal(v("chanrelay_received_datagrams_total", alpha), N_ALPHA);
      assert.equal(v("chanrelay_received_bytes_total", alpha), bytesOf(1, N_ALPHA));
      assert.equal(v("chanrelay_received_datagrams_total", beta), N_BETA);
      assert.equal(v("chanrelay_received_bytes_total", beta), bytesOf(2, N_BETA));
      for (
        const [ch, to, n, id] of [
          ["alpha", dests.a1, N_ALPHA, 1],
          ["alpha", dests.a2, N_ALPHA, 1],
          ["beta", dests.b, N_BETA, 2],
        ] as const
      ) {
        const l = { channel: ch, destination: to };
        assert.equal(v("chanrelay_relayed_datagrams_total", l), n, `${ch} -> ${to}`);
        assert.equal(v("chanrelay_relayed_bytes_total", l), bytesOf(id, n), `${ch} -> ${to}`);
        assert.equal(v("chanrelay_relay_errors_total", l), 0, `${ch} -> ${to}`);
      }
      for (const l of [alpha, beta]) {
        assert.equal(v("chanrelay_worker_restarts_total", l), 0);
        assert.equal(v("chanrelay_kernel_drops_total", l), 0);
        assert.equal(v("chanrelay_receive_errors_total", l), 0);
        assert.equal(v("chanrelay_truncated_datagrams_total", l), 0);
        assert.equal(v("chanrelay_channel_up", l), 1);
        assert.equal(v("chanrelay_ring_overruns_total", l), 0);
      }
      assert.equal(v("chanrelay_recorded_records_total", alpha), N_ALPHA);
      assert.ok(v("chanrelay_recorded_bytes_total", alpha) >= bytesOf(1, N_ALPHA));
      assert.equal(v("chanrelay_record_files_total", alpha), 1);
      assert.equal(v("chanrelay_record_errors_total", alpha), 0);
      assert.equal(v("chanrelay_unrecorded_datagrams_total", alpha), 0);
      assert.equal(v("chanrelay_recorded_records_total", beta), 0);
      assert.deepEqual(await getJson(`${url}health`), { status: 200, body: { status: "ok" } });

      // crash beta's Worker: while it is down or restarting /health is 503 and names it
      sendOnly(tx, ports.beta, FAULT_AFTER - N_BETA + 50);
      let unhealthy: { status: number; body: { status: string; reasons?: string[] } } | null = null;
      await eventually("/health to report 503", async () => {
        const h = await getJson<{ status: string; reasons?: string[] }>(`${url}health`);
        if (h.status === 503) unhealthy = h;
        return unhealthy !== null;
      }, 5000);
      const down = unhealthy as unknown as { body: { status: string; reasons: string[] } };
      assert.equal(down.body.status, "unhealthy");
      assert.equal(down.body.reasons.length, 1, JSON.stringify(down.body));
      assert.match(
        down.body.reasons[0]!,
        /^Channel "beta" is (restarting|failed|starting)(: Injected fault after 300 datagrams)?$/,
      );
      await eventually("/health to recover", async () => {
        return (await getJson(`${url}health`)).status === 200;
      }, 5000);
      const after = await metrics(url);
      assert.equal(sampleValue(after, "chanrelay_worker_restarts_total", beta), 1);
      assert.equal(sampleValue(after, "chanrelay_worker_restarts_total", alpha), 0);
      assert.equal(sampleValue(after, "chanrelay_channel_up", beta), 1);
      assert.equal(relay.lines.filter((l) => l.includes("Channel worker died")).length, 1);
      // the restarted Worker relays again
      countArriving(b, 100);
      b.next = 0;
      pushExpect(tx, ports.beta, 3, 100, b);

      // SIGUSR2: one "full stats" line per channel with every counter
      Deno.kill(relay.pid, "SIGUSR2");
      await relay.waitFor(/msg="full stats" channel=beta/);
      const full = new Map<string, ChannelSnapshot>();
      for (const l of relay.lines.filter((l) => l.includes('msg="full stats"'))) {
        const f = parseLogfmt(l);
        full.set(f.channel!, JSON.parse(f.stats!) as ChannelSnapshot);
      }
      assert.deepEqual([...full.keys()], ["alpha", "beta"]);
      const fa = full.get("alpha")!;
      assert.equal(fa.received, N_ALPHA);
      assert.equal(fa.recorded, N_ALPHA);
      assert.deepEqual(fa.destinations.map((d) => [d.to, d.sent, d.errors]), [
        [dests.a1, N_ALPHA, 0],
        [dests.a2, N_ALPHA, 0],
      ]);
      assert.equal(full.get("beta")!.restarts, 1);
      assert.equal(full.get("beta")!.state, "running");

      const stop = await relay.stop("SIGTERM");
      assert.equal(stop.code, 0);
      assert.ok(stop.ms < 2000, `exit took ${Math.round(stop.ms)} ms`);
      const rec = await listRecordings(`${dataDir}/alpha`);
      assert.deepEqual(rec.inprogress, []);
      assert.equal(rec.finished.length, 1);
      assert.equal((await readWithAvsc(rec.finished[0]!)).length, N_ALPHA);
      console.error(`SIGTERM to exit: ${Math.round(stop.ms)} ms; 503 said ${down.body.reasons[0]}`);
    } finally {
      if (!relay.exited) await relay.stop("SIGKILL");
      tx.close();
      for (const s of [a1, a2, b]) s.sock.close();
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(path);
    }
  },
});

Deno.test({
  name:
    "chanrelay run counts what the kernel dropped on a channel's full socket: received + kernel drops = sent",
  sanitizeResources: false,
  async fn() {
    const sink = freeSink("drops");
    const port = freeUdpPort();
    const path = tempFile(`metrics: 127.0.0.1:0
channels:
  tight:
    listen: 127.0.0.1:${port}
    rcvbuf: 4KiB
    relay: [{ to: "127.0.0.1:${portOf(sink)}" }]
`);
    const tx = sender();
    const relay = await ChanrelayProcess.run(["--config", path]);
    try {
      const url = await metricsUrl(relay);
      // bursts of 64 datagrams of 1400 bytes against a queue that holds two or three of them
      const out = new DatagramBatch(64, 1400);
      for (let i = 0; i < 64; i++) out.setLength(i, 1400);
      out.setDestination({ ip: LO, port });
      let sent = 0;
      for (let b = 0; b < 50; b++) sent += Math.max(0, tx.sendBatch(out, 0, 64));
      const l = { channel: "tight" };
      let m = await metrics(url);
      await eventually("every datagram to be received or counted as dropped", async () => {
        m = await metrics(url);
        const got = sampleValue(m, "chanrelay_received_datagrams_total", l) +
          sampleValue(m, "chanrelay_kernel_drops_total", l);
        return got >= sent;
      });
      const received = sampleValue(m, "chanrelay_received_datagrams_total", l);
      const drops = sampleValue(m, "chanrelay_kernel_drops_total", l);
      assert.ok(drops > 0, `no drops counted (${received} of ${sent} received)`);
      assert.equal(received + drops, sent);
      assert.equal(
        sampleValue(m, "chanrelay_relayed_datagrams_total", {
          ...l,
          destination: `127.0.0.1:${portOf(sink)}`,
        }),
        received,
      );
      const stop = await relay.stop("SIGTERM");
      assert.equal(stop.code, 0);
      console.error(`sent ${sent}: received ${received}, kernel drops ${drops}`);
    } finally {
      if (!relay.exited) await relay.stop("SIGKILL");
      tx.close();
      sink.sock.close();
      await Deno.remove(path);
    }
  },
});
