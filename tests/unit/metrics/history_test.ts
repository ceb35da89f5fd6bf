import assert from "node:assert/strict";
import type { ChannelSnapshot } from "../../../src/channel/stats.ts";
import { lossCount, RateHistory } from "../../../src/metrics/history.ts";
import { channelsHealth, type StatusChannel } from "../../../src/metrics/status_source.ts";
import { directoryBytes, DiskMonitor, recordDirs } from "../../../src/metrics/disk.ts";
import { loadConfigText } from "../../../src/config/load.ts";

function snap(name: string, atMs: number, over: Partial<ChannelSnapshot> = {}): ChannelSnapshot {
  return {
    name,
    atMs,
    state: "running",
    received: 0,
    receivedBytes: 0,
    truncated: 0,
    kernelDrops: 0,
    receiveErrors: 0,
    relayed: 0,
    relayErrors: 0,
    restarts: 0,
    recorded: 0,
    recordedBytes: 0,
    recordBlocks: 0,
    recordFiles: 0,
    recordFsyncs: 0,
    recordErrors: 0,
    unrecorded: 0,
    committedSeq: -1,
    nextSeq: 0,
    currentFile: "",
    decimatePublished: 0,
    decimateOverruns: 0,
    decimatedOut: 0,
    decimatedSamples: 0,
    decimateResets: 0,
    decimateSendErrors: 0,
    rcvbufEffective: 0,
    destinations: [],
    ...over,
  };
}

Deno.test("rate history turns counter increases into per-second rates", () => {
  const h = new RateHistory(10);
  h.add([snap("a", 1000)]);
  assert.equal(h.latest("a"), null, "one sample gives no rate");
  h.add([
    snap("a", 3000, { received: 2000, receivedBytes: 250_000, relayed: 4000, kernelDrops: 3 }),
  ]);
  assert.deepEqual(h.latest("a"), {
    t: 3000,
    rxPps: 1000,
    rxBitsPerSec: 1_000_000,
    relayPps: 2000,
    lossPerSec: 1.5,
  });
});

Deno.test("rate history treats a counter that went down as reset, keeps capacity points, forgets removed channels", () => {
  const h = new RateHistory(3);
  h.add([snap("a", 0, { received: 500 }), snap("b", 0)]);
  h.add([snap("a", 1000, { received: 100 }), snap("b", 1000)]); // a restarted from zero
  assert.equal(h.latest("a")!.rxPps, 100);
  for (let i = 2; i <= 6; i++) h.add([snap("a", i * 1000, { received: 100 * i })]);
  assert.deepEqual(h.series("a").t, [4000, 5000, 6000]);
  assert.deepEqual(h.series("a", 4000).t, [5000, 6000]);
  assert.equal(h.latest("b"), null, "b is gone from the samples");
  assert.deepEqual(h.series("b").t, []);
});

Deno.test("lossCount adds every loss counter", () => {
  assert.equal(
    lossCount(snap("a", 0, {
      kernelDrops: 1,
      relayErrors: 2,
      decimateOverruns: 4,
      recordErrors: 8,
      unrecorded: 16,
      truncated: 32,
    })),
    63,
  );
});

Deno.test("health is ok only with channels, all running; reasons name each other one", () => {
  const ch = (name: string, state: ChannelSnapshot["state"], lastError: string | null = null) =>
    ({ ...snap(name, 0, { state }), lastError }) as StatusChannel;
  assert.deepEqual(channelsHealth([ch("a", "running")]), { ok: true, reasons: [] });
  assert.deepEqual(channelsHealth([]), { ok: false, reasons: ["No channels are configured"] });
  assert.deepEqual(
    channelsHealth([
      ch("a", "running"),
      ch("b", "backoff", "Injected fault"),
      ch("c", "failed", 'Cannot bind "1.2.3.4:5": EADDRNOTAVAIL'),
      ch("d", "starting"),
    ]),
    {
      ok: false,
      reasons: [
        'Channel "b" is restarting: Injected fault',
        'Channel "c" is failed: Cannot bind "1.2.3.4:5": EADDRNOTAVAIL',
        'Channel "d" is starting',
      ],
    },
  );
});

Deno.test("disk monitor sums the files of each recording directory and reads the free space", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = loadConfigText(
      `data_dir: ${JSON.stringify(dir)}
channels:
  rec:
    listen: 127.0.0.1:5000
    relay: [{ to: 127.0.0.1:6000 }]
    record: {}
  off:
    listen: 127.0.0.1:5001
    relay: [{ to: 127.0.0.1:6000 }]
    record: { enabled: false }
  none:
    listen: 127.0.0.1:5002
    relay: [{ to: 127.0.0.1:6000 }]
`,
      "t.yaml",
    );
    const dirs = recordDirs(config);
    assert.deepEqual(dirs, [{ channel: "rec", path: `${dir}/rec` }]);
    const m = new DiskMonitor(() => dirs, 60_000);
    await m.start();
    assert.equal(m.usage()[0]!.usedBytes, 0, "a directory not made yet holds nothing");
    await Deno.mkdir(`${dir}/rec/2024`, { recursive: true });
    await Deno.writeFile(`${dir}/rec/a.avro`, new Uint8Array(1000));
    await Deno.writeFile(`${dir}/rec/2024/b.avro`, new Uint8Array(234));
    assert.equal(await directoryBytes(`${dir}/rec`), 1234);
    await m.refresh();
    const u = m.usage()[0]!;
    assert.equal(u.usedBytes, 1234);
    assert.equal(u.path, `${dir}/rec`);
    assert.ok(u.availableBytes !== null && u.availableBytes > 0, "df reports free space");
    m.close();
    m.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
