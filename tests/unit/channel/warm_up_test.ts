import assert from "node:assert/strict";
import { MappedFile, MappingSlots } from "../../../ffi/mapped_file.ts";
import { DatagramBatch, UdpSocket } from "../../../ffi/udp_socket.ts";
import type { ChannelPlan, DestinationPlan } from "../../../src/channel/plan.ts";
import { warmUp } from "../../../src/channel/warm_up.ts";
import { createBell, createRing, readRingStats } from "../../../src/decimate/ring.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";

const LOOPBACK = 0x7f000001;

function planOf(
  relay: DestinationPlan[],
  record: ChannelPlan["record"] = null,
  faultAfter: number | null = null,
): ChannelPlan {
  return {
    name: "w",
    listenText: "127.0.0.1:9",
    listenIp: LOOPBACK,
    listenPort: 9,
    multicast: false,
    source: null,
    iface: 0,
    rcvbuf: 1 << 20,
    maxDatagram: 2048,
    batch: 64,
    relay,
    log: { level: "error", format: "text" },
    record,
    decimate: null,
    faultAfter,
  };
}

/** A destination the warm-up must never send to: a bound socket the test reads afterwards. */
function guardedDestination(): { dest: DestinationPlan; socket: UdpSocket } {
  const socket = UdpSocket.create({ reuseAddr: false, reusePort: false });
  socket.bind({ ip: LOOPBACK, port: 0 });
  socket.setRecvTimeout(50);
  const port = socket.localAddress().port;
  return {
    socket,
    dest: {
      text: `127.0.0.1:${port}`,
      ip: LOOPBACK,
      port,
      multicast: false,
      ttl: null,
      loop: false,
      iface: 0,
    },
  };
}

function warmUpDirs(): string[] {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("chanrelay-warm-up-")).map((
    e,
  ) => e.name);
}

Deno.test("warmUp runs the relay loop over private sockets and sends nothing to the destinations", async () => {
  const guards = [guardedDestination(), guardedDestination(), guardedDestination()];
  const batch = new DatagramBatch(64, 65536);
  try {
    await assertNoFdLeak(async () => {
      const r = await warmUp({
        plan: planOf(guards.map((g) => g.dest), null, 10), // a fault hook must not fire here
        batch,
        datagrams: 5000,
        maxMs: 30_000,
      });
      assert.ok(r.datagrams >= 5000, `only ${r.datagrams} datagrams`);
      assert.equal(r.recorded, 0, "a channel that does not record warms no recorder");
    });
    // the channel's batch was really used: its slots hold the last synthetic datagrams
    assert.ok(batch.lengths[0]! > 0);
    for (const g of guards) {
      assert.equal(
        g.socket.recvFrom(new Uint8Array(2048)),
        null,
        "a datagram reached a destination",
      );
    }
  } finally {
    for (const g of guards) g.socket.close();
  }
});

Deno.test("warmUp of a recording channel records into a scratch directory it removes, through the channel's slots", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "chanrelay-warm-data-" });
  const before = warmUpDirs();
  const slots = new MappingSlots();
  const guard = guardedDestination();
  try {
    await assertNoFdLeak(async () => {
      const r = await warmUp({
        plan: planOf([guard.dest], { dir: dataDir, channel: "w", preallocChunk: 8 << 20 }),
        batch: new DatagramBatch(64, 2048),
        slots,
        datagrams: 8000,
        maxMs: 30_000,
      });
      assert.ok(r.datagrams >= 8000, `only ${r.datagrams} datagrams`);
      assert.equal(r.recorded, r.datagrams, "every warm-up datagram went through the recorder");
      assert.equal(r.recorderProblem, null);
    });
    assert.deepEqual([...Deno.readDirSync(dataDir)], [], "nothing in the channel's own directory");
    assert.deepEqual(warmUpDirs(), before, "the scratch directory is gone");
    assert.equal(
      guard.socket.recvFrom(new Uint8Array(2048)),
      null,
      "a datagram reached a destination",
    );
    // the slots stay open for the channel's recorder: trimmed, nothing mapped, still usable
    assert.ok(slots.buffers >= 1, "the scratch recorder mapped through the lent slots");
    assert.equal(slots.size, 0, "its ranges were given back");
    const mf = MappedFile.create(`${dataDir}/probe.bin`);
    try {
      mf.allocate(0, 4096);
      const region = mf.map(0, 4096, slots);
      region.bytes[0] = 1;
      region.unmap();
    } finally {
      mf.close();
    }
  } finally {
    slots.close();
    guard.socket.close();
    Deno.removeSync(dataDir, { recursive: true });
  }
});

Deno.test("warmUp of a recording channel without a usable temp dir warms the relay path alone", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "chanrelay-warm-data-" });
  const guard = guardedDestination();
  const saved = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", `${dataDir}/missing`);
  try {
    const r = await warmUp({
      plan: planOf([guard.dest], { dir: dataDir, channel: "w" }),
      batch: new DatagramBatch(64, 2048),
      datagrams: 2000,
      maxMs: 30_000,
    });
    assert.ok(r.datagrams >= 2000, `only ${r.datagrams} datagrams`);
    assert.equal(r.recorded, 0);
    assert.ok(r.recorderProblem !== null, "the reason is reported");
    assert.deepEqual([...Deno.readDirSync(dataDir)], [], "nothing in the channel's own directory");
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
    guard.socket.close();
    Deno.removeSync(dataDir, { recursive: true });
  }
});

Deno.test("warmUp of a decimating channel publishes into a scratch ring, not the channel's", async () => {
  const ring = createRing(1 << 16, createBell(), 4);
  const guard = guardedDestination();
  try {
    const r = await warmUp({
      plan: planOf([guard.dest]),
      batch: new DatagramBatch(64, 2048),
      ring,
      datagrams: 3000,
      maxMs: 30_000,
    });
    assert.ok(r.datagrams >= 3000);
    const st = readRingStats(ring);
    assert.equal(st.published + st.overruns + st.skipped, 0, "the channel's ring was not touched");
  } finally {
    guard.socket.close();
  }
});

Deno.test("warmUp stops at its time budget", async () => {
  const guard = guardedDestination();
  try {
    const r = await warmUp({
      plan: planOf([guard.dest]),
      batch: new DatagramBatch(64, 2048),
      datagrams: 1e12,
      maxMs: 50,
    });
    assert.ok(r.datagrams > 0, "nothing went through");
    assert.ok(r.ms < 1000, `ran ${r.ms} ms against a 50 ms budget`);
  } finally {
    guard.socket.close();
  }
});
