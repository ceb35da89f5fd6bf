import assert from "node:assert/strict";
import {
  DatagramBatch,
  MAX_UDP_PAYLOAD,
  shutdownDescriptor,
  UdpSocket,
} from "../../../ffi/udp_socket.ts";
import { ErrnoError } from "../../../ffi/errno.ts";
import { parseIPv4 } from "../../../ffi/inet.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";
import type { FromWorker, ToWorker } from "../../fixtures/ffi/blocked_recv_worker.ts";

const LOCALHOST = parseIPv4("127.0.0.1")!;

function fill(batch: DatagramBatch, i: number, k: number, size: number): void {
  const o = batch.offset(i);
  for (let j = 0; j < size; j++) batch.data[o + j] = (k * 31 + j * 7) & 255;
  if (size >= 4) new DataView(batch.data.buffer).setUint32(o, k, true);
  batch.setLength(i, size);
}

function check(batch: DatagramBatch, i: number, k: number, size: number): void {
  assert.equal(batch.lengths[i], size, `datagram ${k}: length`);
  assert.equal(batch.truncated[i], 0, `datagram ${k}: truncated`);
  const o = batch.offset(i);
  if (size >= 4) {
    assert.equal(
      new DataView(batch.data.buffer).getUint32(o, true),
      k,
      `datagram ${k} out of order`,
    );
  }
  for (let j = 4; j < size; j++) {
    if (batch.data[o + j] !== ((k * 31 + j * 7) & 255)) {
      assert.fail(`datagram ${k}: byte ${j} differs`);
    }
  }
}

Deno.test("UdpSocket batch send and receive move 10 000 datagrams of 0, 1, 1400 and 65507 bytes byte-exact and in order", async () => {
  await assertNoFdLeak(() => {
    const rx = UdpSocket.create();
    const tx = UdpSocket.create();
    try {
      rx.bind({ ip: LOCALHOST, port: 0 });
      rx.setRecvBuffer(4 << 20);
      rx.setRecvTimeout(2000);
      tx.bind({ ip: LOCALHOST, port: 0 });
      const to = rx.localAddress();
      const from = tx.localAddress();
      tx.connect(to);
      const sizes = [0, 1, 1400, MAX_UDP_PAYLOAD];
      const out = new DatagramBatch(8, 65536);
      const inb = new DatagramBatch(8, 65536);
      const total = 10_000;
      const chunk = 4;
      let received = 0;
      for (let k = 0; k < total; k += chunk) {
        for (let i = 0; i < chunk; i++) fill(out, i, k + i, sizes[(k + i) % 4]!);
        assert.equal(tx.sendBatch(out, 0, chunk), chunk);
        let got = 0;
        while (got < chunk) {
          const n = rx.recvBatch(inb);
          assert.ok(n > 0, `receive timed out after ${received + got} datagrams (n=${n})`);
          for (let i = 0; i < n; i++) {
            const idx = received + got + i;
            // zero-length datagrams carry no sequence number: their position proves the order
            check(inb, i, idx, sizes[idx % 4]!);
            assert.equal(inb.sourceIp(i), from.ip);
            assert.equal(inb.sourcePort(i), from.port);
          }
          got += n;
        }
        received += got;
      }
      assert.equal(received, total);
    } finally {
      rx.close();
      tx.close();
    }
  });
});

Deno.test("UdpSocket flags a datagram longer than its slot as truncated", () => {
  const rx = UdpSocket.create();
  const tx = UdpSocket.create();
  try {
    rx.bind({ ip: LOCALHOST, port: 0 });
    rx.setRecvTimeout(1000);
    const small = new DatagramBatch(4, 100);
    const big = new DatagramBatch(1, 2000);
    big.setLength(0, 1500);
    tx.connect(rx.localAddress());
    assert.equal(tx.sendBatch(big, 0, 1), 1);
    assert.equal(rx.recvBatch(small), 1);
    assert.equal(small.truncated[0], 1);
    assert.equal(small.lengths[0], 100);
  } finally {
    rx.close();
    tx.close();
  }
});

Deno.test("UdpSocket receive returns 0 when SO_RCVTIMEO expires", () => {
  const rx = UdpSocket.create();
  try {
    rx.bind({ ip: LOCALHOST, port: 0 });
    rx.setRecvTimeout(50);
    const t0 = performance.now();
    assert.equal(rx.recvBatch(new DatagramBatch(2, 64)), 0);
    const dt = performance.now() - t0;
    assert.ok(dt >= 40 && dt < 2000, `timeout took ${dt} ms`);
  } finally {
    rx.close();
  }
});

Deno.test("UdpSocket: two sockets with SO_REUSEPORT share a port; a third without it gets EADDRINUSE", async () => {
  await assertNoFdLeak(() => {
    const a = UdpSocket.create();
    const b = UdpSocket.create();
    const c = UdpSocket.create({ reuseAddr: false, reusePort: false });
    try {
      a.bind({ ip: LOCALHOST, port: 0 });
      const port = a.localAddress().port;
      b.bind({ ip: LOCALHOST, port });
      assert.equal(b.localAddress().port, port);
      assert.throws(() => c.bind({ ip: LOCALHOST, port }), (e: unknown) => {
        assert.ok(e instanceof ErrnoError);
        assert.equal(e.code, "EADDRINUSE");
        assert.equal(e.syscall, "bind");
        assert.equal(e.message, `Cannot bind "127.0.0.1:${port}": EADDRINUSE`);
        return true;
      });
    } finally {
      a.close();
      b.close();
      c.close();
    }
  });
});

Deno.test("UdpSocket close is safe twice and later calls fail with EBADF", () => {
  const s = UdpSocket.create();
  s.close();
  s.close();
  assert.equal(s.fd, -1);
  assert.throws(() => s.bind({ ip: LOCALHOST, port: 0 }), /EBADF/);
  assert.ok(s.recvBatch(new DatagramBatch(1, 16)) < 0);
});

Deno.test("UdpSocket sets multicast TTL and reads it back", () => {
  const s = UdpSocket.create();
  try {
    s.setMulticastTtl(7);
    assert.equal(s.multicastTtl(), 7);
    s.setMulticastLoop(false);
    s.setMulticastInterface(LOCALHOST);
  } finally {
    s.close();
  }
});

Deno.test({
  name: "UdpSocket SO_RCVBUF above net.core.rmem_max reports the clamped effective size",
  ignore: Deno.build.os !== "linux",
  fn() {
    const rmemMax = Number(Deno.readTextFileSync("/proc/sys/net/core/rmem_max").trim());
    const s = UdpSocket.create();
    try {
      const r = s.setRecvBuffer(rmemMax * 4);
      assert.equal(r.clamped, true);
      assert.equal(r.effective, rmemMax);
      assert.equal(r.reported, rmemMax * 2); // the kernel doubles the clamped value for bookkeeping
      const small = s.setRecvBuffer(65536);
      assert.equal(small.clamped, false);
      assert.equal(small.effective, 65536);
      assert.equal(small.reported, 131072);
    } finally {
      s.close();
    }
  },
});

/**
 * Floods a receiving socket whose queue holds only a few datagrams: `before(rx)` runs once it is
 * bound, then 64 datagrams of 1000 bytes are sent at once and one receive takes what was queued.
 * `after` gets the sockets, a batch to receive into and how many arrived (some, not all).
 */
function withFloodedQueue(
  before: (rx: UdpSocket) => void,
  after: (rx: UdpSocket, tx: UdpSocket, out: DatagramBatch, inb: DatagramBatch, n: number) => void,
): void {
  const rx = UdpSocket.create();
  const tx = UdpSocket.create();
  try {
    rx.bind({ ip: LOCALHOST, port: 0 });
    rx.setRecvBuffer(4096); // the kernel's minimum: a few datagrams fit
    rx.setRecvTimeout(200);
    before(rx);
    tx.connect(rx.localAddress());
    const out = new DatagramBatch(64, 1024);
    for (let i = 0; i < 64; i++) out.setLength(i, 1000);
    assert.equal(tx.sendBatch(out, 0, 64), 64);
    const inb = new DatagramBatch(64, 2048);
    const n = rx.recvBatch(inb);
    assert.ok(n > 0 && n < 64, `received ${n}`);
    after(rx, tx, out, inb, n);
  } finally {
    rx.close();
    tx.close();
  }
}

Deno.test({
  name: "UdpSocket reports kernel drops through SO_RXQ_OVFL",
  ignore: Deno.build.os !== "linux",
  fn() {
    withFloodedQueue(
      (rx) => assert.equal(rx.enableDropCounter(), true),
      (rx, tx, out, inb, n) => {
        // the kernel stamps its drop count on datagrams queued after the drops
        assert.equal(tx.sendBatch(out, 0, 1), 1);
        assert.equal(rx.recvBatch(inb), 1);
        assert.equal(inb.drops, 64 - n);
      },
    );
  },
});

Deno.test({
  name: "UdpSocket reads its kernel drop counter with SO_MEMINFO, with no control messages",
  ignore: Deno.build.os !== "linux",
  fn() {
    withFloodedQueue(
      (rx) => assert.equal(rx.kernelDrops(), 0),
      (rx, _tx, _out, inb, n) => {
        assert.equal(rx.recvBatch(inb), 0);
        // counted at once, without a datagram to carry it
        assert.equal(rx.kernelDrops(), 64 - n);
        assert.equal(inb.drops, 0);
        rx.close();
        assert.equal(rx.kernelDrops(), -1);
      },
    );
  },
});

Deno.test("DatagramBatch without source capture receives every byte and leaves the senders unwritten", () => {
  const rx = UdpSocket.create();
  const tx = UdpSocket.create();
  try {
    rx.bind({ ip: LOCALHOST, port: 0 });
    rx.setRecvTimeout(1000);
    tx.bind({ ip: LOCALHOST, port: 0 });
    tx.connect(rx.localAddress());
    const from = tx.localAddress();
    const out = new DatagramBatch(8, 256);
    for (let i = 0; i < 8; i++) {
      out.data.fill(i + 1, i * 256, i * 256 + 100 + i);
      out.setLength(i, 100 + i);
    }
    const inb = new DatagramBatch(8, 256);
    assert.equal(inb.captureSources, true);
    for (const capture of [false, true, false]) {
      inb.captureSources = capture;
      assert.equal(inb.captureSources, capture);
      assert.equal(tx.sendBatch(out, 0, 8), 8);
      let got = 0;
      while (got < 8) {
        const n = rx.recvBatch(inb);
        assert.ok(n > 0, `received ${got} of 8`);
        for (let i = 0; i < n; i++) {
          const k = got + i;
          assert.equal(inb.lengths[i], 100 + k);
          assert.ok(inb.data.subarray(i * 256, i * 256 + 100 + k).every((b) => b === k + 1));
          assert.equal(inb.sourceIp(i), capture ? from.ip : 0);
          assert.equal(inb.sourcePort(i), capture ? from.port : 0);
        }
        got += n;
      }
    }
  } finally {
    rx.close();
    tx.close();
  }
});

/** Whether a thread of this process is blocked in a system call whose first argument is `fd`. */
function threadBlockedOn(fd: number): boolean {
  for (const task of Deno.readDirSync("/proc/self/task")) {
    let line: string;
    try {
      line = Deno.readTextFileSync(`/proc/self/task/${task.name}/syscall`);
    } catch {
      continue; // the thread ended while we looked
    }
    const parts = line.trim().split(" ");
    if (parts.length > 2 && parts[0] !== "running" && Number(parts[1]) === fd) return true;
  }
  return false;
}

Deno.test({
  name:
    "shutdownDescriptor from the main thread wakes a recvBatch blocked in a Worker within 250 ms",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await assertNoFdLeak(async () => {
      const worker = new Worker(
        new URL("../../fixtures/ffi/blocked_recv_worker.ts", import.meta.url),
        { type: "module" },
      );
      try {
        const messages: FromWorker[] = [];
        let notify = () => {};
        worker.onmessage = (e: MessageEvent<FromWorker>) => {
          messages.push(e.data);
          notify();
        };
        const next = async (type: FromWorker["type"]): Promise<FromWorker> => {
          for (;;) {
            const i = messages.findIndex((m) => m.type === type || m.type === "error");
            if (i >= 0) {
              const m = messages.splice(i, 1)[0]!;
              if (m.type === "error") assert.fail(`Worker failed: ${m.message}`);
              return m;
            }
            await new Promise<void>((resolve) => (notify = resolve));
          }
        };
        const capacity = 8;
        worker.postMessage({ type: "start", capacity } satisfies ToWorker);
        const blocking = await next("blocking");
        assert.ok(blocking.type === "blocking");
        // ready signal: the worker's thread sits in the receive call on its descriptor
        const deadline = performance.now() + 5000;
        while (!threadBlockedOn(blocking.fd)) {
          assert.ok(performance.now() < deadline, "the worker never blocked in recvBatch");
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        const t0 = performance.now();
        shutdownDescriptor(blocking.fd);
        const woke = await next("woke");
        const dt = performance.now() - t0;
        assert.ok(dt < 250, `woke after ${dt.toFixed(1)} ms`);
        assert.ok(woke.type === "woke");
        // recvmmsg returns the shut-down socket's 0-byte read as one empty datagram with no
        // sender address (the batch's port stays 0): not as 0 datagrams
        assert.equal(woke.result, 1);
        assert.equal(woke.count, 1);
        assert.deepEqual(woke.lengths, [0]);
        assert.deepEqual(woke.ports, [0]);
        // and every later receive returns such an empty datagram at once: a receive loop must
        // check its stop flag after each batch or it spins
        assert.equal(woke.again, 1);
        await next("closed");
      } finally {
        worker.terminate();
      }
    });
  },
});

Deno.test({
  name: "UdpSocket reports each datagram's TTL alongside the kernel drop counter",
  ignore: Deno.build.os !== "linux",
  fn() {
    const rx = UdpSocket.create();
    const tx = UdpSocket.create();
    try {
      rx.bind({ ip: LOCALHOST, port: 0 });
      assert.equal(rx.enableDropCounter(), true);
      assert.equal(rx.enableTtlReport(), true);
      rx.setRecvTimeout(1000);
      tx.setUnicastTtl(17);
      tx.connect(rx.localAddress());
      const out = new DatagramBatch(4, 64);
      for (let i = 0; i < 4; i++) out.setLength(i, 10);
      assert.equal(tx.sendBatch(out, 0, 4), 4);
      const inb = new DatagramBatch(4, 64);
      let got = 0;
      while (got < 4) {
        const n = rx.recvBatch(inb);
        assert.ok(n > 0);
        for (let i = 0; i < n; i++) assert.equal(inb.ttls[i], 17);
        got += n;
      }
    } finally {
      rx.close();
      tx.close();
    }
  },
});
