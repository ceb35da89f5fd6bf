import assert from "node:assert/strict";
import { parseIPv4 } from "../../../ffi/inet.ts";
import { threadNice } from "../../../ffi/threads.ts";
import { UdpSocket } from "../../../ffi/udp_socket.ts";
import { designDecimationFilter } from "../../../src/decimate/fir.ts";
import { DecimateOptionsError } from "../../../src/decimate/options.ts";
import { DecimateAttachError, DecimatorPool } from "../../../src/decimate/pool.ts";
import { RingProducer } from "../../../src/decimate/ring.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";
import { offlineDecimate, rng } from "./reference.ts";

const LOCALHOST = parseIPv4("127.0.0.1")!;

function receiver(): { sock: UdpSocket; to: string } {
  const sock = UdpSocket.create({ reuseAddr: false, reusePort: false });
  sock.bind({ ip: LOCALHOST, port: 0 });
  // room for everything a test sends even when it reads only afterwards (a 4 MiB buffer held
  // ~3600 of the 4000+ 1 KB datagrams of the overload test: a flaky loss in the test's own socket)
  sock.setRecvBuffer(32 << 20, Deno.uid() === 0);
  sock.setRecvTimeout(2000);
  return { sock, to: `127.0.0.1:${sock.localAddress().port}` };
}

/** Receives `n` datagrams (copies), failing on a 2 s silence. */
function receive(sock: UdpSocket, n: number): Uint8Array[] {
  const buf = new Uint8Array(65536);
  const out: Uint8Array[] = [];
  while (out.length < n) {
    const r = sock.recvFrom(buf);
    assert.ok(r !== null, `timed out after ${out.length} of ${n} datagrams`);
    out.push(buf.slice(0, r.length));
  }
  return out;
}

/** Asserts nothing more arrives within `ms`. */
function assertQuiet(sock: UdpSocket, ms: number): void {
  sock.setRecvTimeout(ms);
  const r = sock.recvFrom(new Uint8Array(65536));
  assert.equal(r, null, "an unexpected datagram arrived");
}

function idDatagram(buf: Uint8Array, id: number, size: number): number {
  new DataView(buf.buffer).setUint32(0, id, true);
  for (let i = 4; i < size; i++) buf[i] = (id + i) & 255;
  return size;
}

Deno.test("pool: packet mode over real loopback sockets sends datagrams 0, 10, 20… of the stream", async () => {
  await assertNoFdLeak(async () => {
    const { sock, to } = receiver();
    const pool = new DecimatorPool({ workers: 2 });
    try {
      const ring = await pool.attach("adc0", { to, mode: "packet", factor: 10 });
      const p = new RingProducer(ring);
      const buf = new Uint8Array(2048);
      for (let id = 0; id < 1000; id++) {
        assert.ok(p.publish(buf, 0, idDatagram(buf, id, 32 + (id % 1000))));
      }
      const got = receive(sock, 100);
      got.forEach((d, i) => {
        const id = new DataView(d.buffer).getUint32(0, true);
        assert.equal(id, i * 10);
        assert.equal(d.length, 32 + id % 1000);
        for (let j = 4; j < d.length; j++) assert.equal(d[j], (id + j) & 255);
      });
      assertQuiet(sock, 100);
      const s = pool.stats("adc0")!;
      assert.equal(s.published, 100, "the producer passes over the 9 in 10 not kept");
      assert.equal(s.skipped, 900);
      assert.equal(s.consumed, 100);
      assert.equal(s.datagramsOut, 100);
      assert.equal(s.sendErrors, 0);
      assert.equal(pool.running, 1, "Workers start with their first channel");
    } finally {
      const t0 = performance.now();
      await pool.close();
      const ms = performance.now() - t0;
      assert.ok(ms < 250, `close took ${ms.toFixed(0)} ms`);
      assert.equal(pool.running, 0);
      sock.close();
    }
  });
});

Deno.test("pool: samples mode output over loopback decodes to the offline-filtered signal", async () => {
  await assertNoFdLeak(async () => {
    const { sock, to } = receiver();
    await using pool = new DecimatorPool({ workers: 1 });
    try {
      const H = 16;
      const SPD = 100;
      const ring = await pool.attach("adc1", {
        to,
        mode: "samples",
        factor: 10,
        samples: { format: "i16le", header_bytes: H, seq: { offset: 0, type: "u64le" } },
      });
      assert.ok(pool.taps("adc1") > 300, `taps ${pool.taps("adc1")}`);
      const p = new RingProducer(ring);
      const rand = rng(9);
      const x = new Int16Array(1000 * SPD);
      for (let i = 0; i < x.length; i++) {
        x[i] = Math.round(15000 * Math.sin(i * 0.02) + (rand() - 0.5) * 20000);
      }
      const buf = new Uint8Array(H + 2 * SPD);
      const v = new DataView(buf.buffer);
      for (let k = 0; k < 1000; k++) {
        v.setUint32(0, k, true);
        v.setUint32(8, 0xabcd0000 + k, true);
        for (let i = 0; i < SPD; i++) v.setInt16(H + 2 * i, x[k * SPD + i]!, true);
        assert.ok(p.publish(buf, 0, buf.length));
      }
      const perOut = (1472 - H) / 2;
      const total = (1000 * SPD) / 10;
      const got = receive(sock, Math.ceil(total / perOut)); // the last one after the 100 ms flush
      const samples: number[] = [];
      got.forEach((d, j) => {
        const dv = new DataView(d.buffer);
        const k = Math.floor((10 * perOut * j) / SPD);
        assert.equal(dv.getUint32(0, true), k, `output ${j}: header seq`);
        assert.equal(dv.getUint32(8, true), 0xabcd0000 + k, `output ${j}: header`);
        for (let q = H; q < d.length; q += 2) samples.push(dv.getInt16(q, true));
      });
      const want = offlineDecimate(
        designDecimationFilter(10, 0.8).taps,
        10,
        1,
        Float64Array.from(x),
      );
      assert.equal(samples.length, want.length);
      for (let i = 0; i < want.length; i++) {
        const w = Math.max(-32768, Math.min(32767, want[i]!));
        if (Math.abs(samples[i]! - w) > 0.5000001) {
          assert.fail(`sample ${i}: ${samples[i]} vs ${w}`);
        }
      }
      const s = pool.stats("adc1")!;
      assert.equal(s.samplesOut, total);
      assert.equal(s.datagramsOut, got.length);
    } finally {
      await pool.close();
      sock.close();
    }
  });
});

Deno.test("pool: an overloaded ring drops for decimation only, counts overruns, and what gets through is intact", async () => {
  const { sock, to } = receiver();
  const pool = new DecimatorPool({ workers: 1, ringBytes: 4096 });
  try {
    const ring = await pool.attach("busy", { to, mode: "packet", factor: 1 });
    const p = new RingProducer(ring);
    const buf = new Uint8Array(1024);
    let accepted = 0;
    for (let id = 0; id < 20_000; id++) {
      if (p.publish(buf, 0, idDatagram(buf, id, 1000))) accepted++;
    }
    assert.ok(accepted < 20_000, "the ring never filled");
    const got = receive(sock, accepted);
    const s = pool.stats("busy")!;
    assert.equal(s.overruns, 20_000 - accepted);
    assert.equal(s.published, accepted);
    // every received datagram is intact and in stream order
    let last = -1;
    for (const d of got) {
      const id = new DataView(d.buffer).getUint32(0, true);
      assert.ok(id > last);
      last = id;
    }
  } finally {
    await pool.close();
    sock.close();
  }
});

Deno.test("pool: an attach whose socket cannot be set up fails with the errno, and bad options throw at once", async () => {
  await assertNoFdLeak(async () => {
    const pool = new DecimatorPool({ workers: 1 });
    try {
      await assert.rejects(
        pool.attach("x", {
          to: "127.0.0.1:9",
          mode: "packet",
          factor: 2,
          interface: "203.0.113.7",
        }),
        (e: unknown) => e instanceof DecimateAttachError && e.code === "EADDRNOTAVAIL",
      );
      assert.deepEqual(pool.channels(), []);
      assert.throws(
        () => pool.attach("y", { to: "127.0.0.1:9", mode: "packet", factor: 0 }),
        (e: unknown) => e instanceof DecimateOptionsError && e.field === "decimate.factor",
      );
      // the Worker still serves other channels
      const ring = await pool.attach("z", { to: "127.0.0.1:9", mode: "rate", max_rate: 10 });
      assert.ok(ring.sab instanceof SharedArrayBuffer);
    } finally {
      await pool.close();
    }
  });
});

Deno.test("pool assigns channels to the least loaded Worker and detach frees the slot", async () => {
  const pool = new DecimatorPool({ workers: 2 });
  try {
    const opts = { to: "127.0.0.1:9", mode: "packet", factor: 2 };
    await pool.attach("a", opts);
    await pool.attach("b", opts);
    await pool.attach("c", opts);
    assert.deepEqual(["a", "b", "c"].map((c) => pool.workerOf(c)), [0, 1, 0]);
    await pool.detach("a");
    await pool.attach("d", opts);
    assert.equal(pool.workerOf("d"), 0);
    assert.equal(pool.stats("a"), null);
  } finally {
    await pool.close();
  }
});

/** Thread ids of this process's Worker threads. */
function workerThreads(): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      const comm = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`);
      if (comm.startsWith("worker-")) out.push(Number(e.name));
    } catch {
      // the thread ended
    }
  }
  return out;
}

Deno.test({
  name: "pool: decimator Workers run at the lowest priority, the rest of the process does not",
  ignore: Deno.build.os !== "linux", // thread priorities from /proc
  async fn() {
    const lowered = () => workerThreads().map((t) => threadNice(t)).filter((n) => n === 19).length;
    // Worker threads of earlier tests may take a moment to end
    const deadline = Date.now() + 5000;
    while (lowered() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(lowered(), 0, "no lowered Worker threads before the pool starts");
    const mainNice = threadNice(Deno.pid);
    const pool = new DecimatorPool({ workers: 2 });
    try {
      const opts = { to: "127.0.0.1:9", mode: "packet", factor: 2 };
      await pool.attach("a", opts); // each attach is answered by its Worker: both are running
      await pool.attach("b", opts);
      assert.equal(lowered(), 2, `nice values ${workerThreads().map((t) => threadNice(t))}`);
      assert.equal(threadNice(Deno.pid), mainNice, "the main thread keeps its priority");
    } finally {
      await pool.close();
    }
  },
});

Deno.test("pool: close stops a busy decimator Worker within 250 ms", async () => {
  const pool = new DecimatorPool({ workers: 1 });
  const producer = new Worker(new URL("./ring_producer_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const ring = await pool.attach("load", {
      to: "127.0.0.1:9",
      mode: "samples",
      factor: 10,
      samples: { format: "u8" },
    });
    producer.postMessage({ ring, count: 300_000, offset: 0, span: 1400 });
    // wait until the decimator is demonstrably consuming
    const deadline = Date.now() + 10_000;
    while ((pool.stats("load")?.consumed ?? 0) < 10_000) {
      assert.ok(Date.now() < deadline, "the decimator never got going");
      await new Promise((r) => setTimeout(r, 5));
    }
    const t0 = performance.now();
    await pool.close();
    const ms = performance.now() - t0;
    assert.ok(ms < 250, `close took ${ms.toFixed(0)} ms`);
    assert.equal(pool.running, 0);
  } finally {
    producer.terminate();
    await pool.close();
  }
});
