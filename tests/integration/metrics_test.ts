import assert from "node:assert/strict";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/metrics/prometheus.ts";
import { startMetricsServer, type StatsBody } from "../../src/metrics/server.ts";
import { channelsHealth, type StatusSource } from "../../src/metrics/status_source.ts";
import { VERSION } from "../../src/version.ts";
import { DENO, ROOT } from "../helpers/env.ts";
import { eventually, startChannels } from "../helpers/metrics_fixture.ts";
import { parsePrometheusText, sampleValue } from "../helpers/prometheus_text.ts";

async function metrics(url: string) {
  const res = await fetch(`${url}metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  return parsePrometheusText(await res.text());
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

Deno.test("/metrics counters equal the datagrams sent, per channel and per destination", async () => {
  const fx = await startChannels(["alpha", "beta"]);
  try {
    fx.send("alpha", 500, 100);
    fx.send("beta", 200, 300);
    const expect = { alpha: [500, 100], beta: [200, 300] } as const;
    // the worker bumps its counters right after the send the sink saw: wait for them to land
    await eventually("the counters", async () => {
      const f = await metrics(fx.server.url);
      return sampleValue(f, "chanrelay_received_datagrams_total", { channel: "beta" }) === 200 &&
        sampleValue(f, "chanrelay_relayed_datagrams_total", { channel: "alpha" }) === 500;
    });
    const f = await metrics(fx.server.url);
    for (const [ch, [n, size]] of Object.entries(expect)) {
      const l = { channel: ch };
      const dest = `127.0.0.1:${fx.sinks.get(ch)!.localAddress().port}`;
      assert.equal(sampleValue(f, "chanrelay_received_datagrams_total", l), n);
      assert.equal(sampleValue(f, "chanrelay_received_bytes_total", l), n * size);
      assert.equal(
        sampleValue(f, "chanrelay_relayed_datagrams_total", { ...l, destination: dest }),
        n,
      );
      assert.equal(
        sampleValue(f, "chanrelay_relayed_bytes_total", { ...l, destination: dest }),
        n * size,
      );
      assert.equal(sampleValue(f, "chanrelay_relay_errors_total", { ...l, destination: dest }), 0);
      assert.equal(sampleValue(f, "chanrelay_kernel_drops_total", l), 0);
      assert.equal(sampleValue(f, "chanrelay_truncated_datagrams_total", l), 0);
      assert.equal(sampleValue(f, "chanrelay_worker_restarts_total", l), 0);
      assert.equal(sampleValue(f, "chanrelay_channel_up", l), 1);
      assert.ok(sampleValue(f, "chanrelay_receive_buffer_bytes", l) >= 1 << 20);
    }
    assert.equal(sampleValue(f, "chanrelay_build_info", { version: VERSION }), 1);
    const rss = sampleValue(f, "process_resident_memory_bytes");
    const now = Deno.memoryUsage().rss;
    assert.ok(rss > now / 2 && rss < now * 2, `rss ${rss} vs ${now} now`);
    assert.ok(sampleValue(f, "chanrelay_uptime_seconds") >= 0);
  } finally {
    await fx.close();
  }
});

Deno.test("/health is 200 while every channel runs and 503 naming the channel that stopped", async () => {
  const fx = await startChannels(["up1", "down1"]);
  try {
    assert.deepEqual(await getJson(`${fx.server.url}health`), {
      status: 200,
      body: { status: "ok" },
    });
    await fx.supervisor.channels.get("down1")!.stop(250, false);
    assert.deepEqual(await getJson(`${fx.server.url}health`), {
      status: 503,
      body: { status: "unhealthy", reasons: ['Channel "down1" is stopped'] },
    });
    const f = await metrics(fx.server.url);
    assert.equal(sampleValue(f, "chanrelay_channel_up", { channel: "down1" }), 0);
    assert.equal(sampleValue(f, "chanrelay_channel_up", { channel: "up1" }), 1);
    assert.equal(
      sampleValue(f, "chanrelay_channel_state", { channel: "down1", state: "stopped" }),
      1,
    );
  } finally {
    await fx.close();
  }
});

Deno.test("a worker that crashes is restarted and counted in worker_restarts_total; health recovers", async () => {
  const fx = await startChannels(["crashy"], { fault: { channel: "crashy", after: 5 } });
  try {
    fx.sendOnly("crashy", 20);
    await eventually("the restart", async () => {
      const f = await metrics(fx.server.url);
      return sampleValue(f, "chanrelay_worker_restarts_total", { channel: "crashy" }) === 1 &&
        sampleValue(f, "chanrelay_channel_up", { channel: "crashy" }) === 1;
    });
    assert.equal(await fetch(`${fx.server.url}health`).then((r) => r.text()), '{"status":"ok"}');
    fx.send("crashy", 10); // relays again after the restart
  } finally {
    await fx.close();
  }
});

Deno.test("/stats has every channel's counters, rates, history and the process info", async () => {
  const fx = await startChannels(["s1", "s2"], { sampleMs: 100 });
  try {
    fx.send("s1", 300);
    await eventually("two rate samples", async () => {
      const r = (await getJson(`${fx.server.url}stats?history=0`)).body as StatsBody;
      return (r.history?.s1?.t.length ?? 0) >= 2;
    });
    const { status, body } = await getJson(`${fx.server.url}stats?history=0`);
    assert.equal(status, 200);
    const s = body as StatsBody;
    assert.equal(s.info.version, VERSION);
    assert.equal(s.info.pid, Deno.pid);
    assert.equal(s.info.configFile, "test.yaml");
    assert.ok(s.info.startedMs <= s.nowMs);
    assert.ok(s.rssBytes > 0);
    assert.deepEqual(s.health, { ok: true, reasons: [] });
    assert.deepEqual(s.channels.map((c) => c.name), ["s1", "s2"]);
    const s1 = s.channels[0]!;
    assert.equal(s1.state, "running");
    assert.equal(s1.listen, `127.0.0.1:${fx.listen.get("s1")!.port}`);
    assert.equal(s1.received, 300);
    assert.equal(s1.destinations.length, 1);
    assert.equal(s1.destinations[0]!.sent, 300);
    assert.ok(s1.rates !== null, "rates after two samples");
    assert.equal(s1.disk, null);
    const h = s.history!.s1!;
    for (const k of ["rxPps", "rxBitsPerSec", "relayPps", "lossPerSec"] as const) {
      assert.equal(h[k].length, h.t.length, k);
    }
    // the increase over the whole history is what was sent (the first sample may predate it)
    assert.ok(h.rxPps.some((v) => v > 0), JSON.stringify(h));
    const last = h.t.at(-1)!;
    const later = (await getJson(`${fx.server.url}stats?history=${last}`)).body as StatsBody;
    assert.ok(later.history!.s1!.t.every((t) => t > last), "history=SINCE returns newer points");
    const plain = (await getJson(`${fx.server.url}stats`)).body as StatsBody;
    assert.equal(plain.history, undefined);
  } finally {
    await fx.close();
  }
});

function fixedSource(): StatusSource {
  return {
    snapshots: () => [],
    health: () => channelsHealth([]),
    info: () => ({ version: "t", pid: Deno.pid, startedMs: Date.now(), configFile: null }),
  };
}

Deno.test("the server answers 404 and 405, serves the page with a CSP, and reports a busy port", async () => {
  const a = await startMetricsServer({ hostname: "127.0.0.1", port: 0, source: fixedSource() });
  try {
    const nf = await fetch(`${a.url}nope`);
    assert.equal(nf.status, 404);
    await nf.body?.cancel();
    const post = await fetch(`${a.url}metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
    const health = await getJson(`${a.url}health`);
    assert.deepEqual(health, {
      status: 503,
      body: { status: "unhealthy", reasons: ["No channels are configured"] },
    });
    const page = await fetch(a.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'sha256-/);
    const html = await page.text();
    assert.ok(!html.includes("__CHANRELAY_INITIAL_STATE__"), "the initial state is filled in");
    const port = Number(new URL(a.url).port);
    await assert.rejects(
      startMetricsServer({ hostname: "127.0.0.1", port, source: fixedSource() }),
      { message: `Cannot serve metrics on "127.0.0.1:${port}": EADDRINUSE` },
    );
  } finally {
    await a.close();
    await a.close();
  }
});

Deno.test("aborting the signal closes the server and frees its port", async () => {
  const ac = new AbortController();
  const a = await startMetricsServer({
    hostname: "127.0.0.1",
    port: 0,
    source: fixedSource(),
    signal: ac.signal,
  });
  const port = Number(new URL(a.url).port);
  ac.abort();
  await a.close();
  const b = await startMetricsServer({ hostname: "127.0.0.1", port, source: fixedSource() });
  await b.close();
});

Deno.test("starting the server prints nothing on stdout (no Listening banner)", async () => {
  const script = `
    import { startMetricsServer } from "${ROOT}src/metrics/server.ts";
    const s = await startMetricsServer({ hostname: "127.0.0.1", port: 0, source: {
      snapshots: () => [], health: () => ({ ok: true, reasons: [] }),
      info: () => ({ version: "t", pid: Deno.pid, startedMs: Date.now(), configFile: null }),
    }});
    const r = await fetch(s.url + "health"); await r.body?.cancel();
    await s.close();
  `;
  const out = await new Deno.Command(DENO, {
    args: ["eval", "--frozen", script],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  assert.match(err, /msg="Metrics and status page" url=http:\/\/127\.0\.0\.1:[0-9]+\//);
});

Deno.test("disk use reaches /stats and /metrics; hostile text in the page's initial state cannot close its script", async () => {
  const hostile = '</script><script>alert("x")</script>';
  const base = fixedSource();
  const s = await startMetricsServer({
    hostname: "127.0.0.1",
    port: 0,
    source: {
      ...base,
      snapshots: () => [{
        name: "rec",
        atMs: Date.now(),
        state: "failed",
        received: 1,
        receivedBytes: 2,
        truncated: 0,
        kernelDrops: 0,
        receiveErrors: 0,
        relayed: 0,
        relayErrors: 0,
        restarts: 0,
        recorded: 5,
        recordedBytes: 6,
        recordBlocks: 1,
        recordFiles: 1,
        recordFsyncs: 0,
        recordErrors: 0,
        unrecorded: 0,
        committedSeq: -1,
        nextSeq: 0,
        currentFile: `/data/rec/${hostile}.avro`,
        decimatePublished: 0,
        decimateOverruns: 0,
        decimatedOut: 0,
        decimatedSamples: 0,
        decimateResets: 0,
        decimateSendErrors: 0,
        rcvbufEffective: 0,
        destinations: [],
        lastError: hostile,
      }],
      diskUsage:
        () => [{ channel: "rec", path: "/data/rec", usedBytes: 4096, availableBytes: null }],
    },
  });
  try {
    const stats = (await getJson(`${s.url}stats`)).body as StatsBody;
    assert.deepEqual(stats.channels[0]!.disk, {
      path: "/data/rec",
      usedBytes: 4096,
      availableBytes: null,
    });
    assert.equal(stats.channels[0]!.lastError, hostile);
    const f = await metrics(s.url);
    assert.equal(sampleValue(f, "chanrelay_record_dir_bytes", { channel: "rec" }), 4096);
    assert.equal(f.get("chanrelay_record_dir_available_bytes")?.samples.length, 0);
    const html = await (await fetch(s.url)).text();
    assert.equal(html.split("</script>").length - 1, 2, "only the page's own two scripts close");
    assert.ok(html.includes("\\u003c/script>\\u003cscript>alert"), "the value is there, escaped");
  } finally {
    await s.close();
  }
});
