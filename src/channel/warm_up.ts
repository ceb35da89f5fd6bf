/**
 * Warms a channel's per-datagram code before the channel binds its input. V8 runs new code in its
 * interpreter and compiles hot functions later, partly on helper threads that share the relay's
 * core: without a warm-up, the first second of traffic after a start (or an upgrade) was relayed
 * by slow code, with delays of several milliseconds. The warm-up pushes synthetic datagrams over a
 * private loopback socket pair through the functions the relay loop calls for every datagram:
 * `UdpSocket.recvBatch`, `FanOut.send` (to a private sink, with scratch counters) and the
 * recorder's encoder (into a scratch buffer). Nothing of it reaches the channel's destinations,
 * counters or files.
 */
import { realtimeUs } from "../../ffi/clock.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { AddressCache, encodeRecord, recordSize } from "../recorder/record_encoder.ts";
import { FanOut } from "../relay/fan_out.ts";
import { ChannelShared } from "./counters.ts";
import type { DestinationPlan } from "./plan.ts";

/** What a warm-up did. */
export interface WarmUpResult {
  /** Datagrams that went through receive, fan-out and encoding. */
  datagrams: number;
  /** Wall time, ms. */
  ms: number;
}

/** Options of `warmUp`. */
export interface WarmUpOptions {
  /** The channel's own receive batch (its slots are overwritten). */
  batch: DatagramBatch;
  /** The channel's number of destinations: the fan-out loops over as many. */
  destinations: number;
  /** Whether the channel records (warms the encoder too). */
  record: boolean;
  /** Stop after this many datagrams… */
  datagrams?: number;
  /** …or after this long, ms. */
  maxMs?: number;
}

const SIZES = [64, 1400, 200, 512, 32, 1024];
const LOOPBACK = 0x7f000001;

/** Runs the warm-up; see the module comment. Throws only if it cannot open loopback sockets. */
export function warmUp(o: WarmUpOptions): WarmUpResult {
  const t0 = performance.now();
  const target = o.datagrams ?? 20_000;
  const deadline = t0 + (o.maxMs ?? 300);
  const batch = o.batch;
  const rx = UdpSocket.create({ reuseAddr: false, reusePort: false });
  const sink = UdpSocket.create({ reuseAddr: false, reusePort: false });
  const tx = UdpSocket.create({ reuseAddr: false, reusePort: false });
  let fan: FanOut | null = null;
  let done = 0;
  try {
    rx.bind({ ip: LOOPBACK, port: 0 });
    rx.setRecvTimeout(50);
    sink.bind({ ip: LOOPBACK, port: 0 });
    tx.connect(rx.localAddress());
    const to = sink.localAddress();
    const dest: DestinationPlan = {
      text: "warm-up",
      ip: to.ip,
      port: to.port,
      multicast: false,
      ttl: null,
      loop: false,
      iface: 0,
    };
    fan = new FanOut(new Array(Math.max(1, o.destinations)).fill(dest), new ChannelShared());
    const out = new DatagramBatch(batch.capacity, 2048);
    for (let i = 0; i < out.capacity; i++) {
      const size = SIZES[i % SIZES.length]!;
      out.data.fill(i & 0xff, i * 2048, i * 2048 + size);
      out.setLength(i, size);
    }
    const scratch = new Uint8Array(2 * batch.slotSize + 64);
    const addrs = new AddressCache();
    const lengths = batch.lengths;
    const slot = batch.slotSize;
    let seq = 0;
    let round = 0;
    while (done < target && performance.now() < deadline) {
      // batches of 1 (a quiet channel) and of every size up to the capacity
      const want = round % 4 === 0 ? 1 : 1 + (round % batch.capacity);
      round++;
      const sent = tx.sendBatch(out, 0, want);
      if (sent <= 0) break;
      const n = rx.recvBatch(batch);
      if (n <= 0) break;
      let bytes = 0;
      for (let i = 0; i < n; i++) bytes += lengths[i]!;
      fan.send(batch, n, bytes);
      if (o.record) {
        const t = realtimeUs();
        for (let i = 0; i < n; i++) {
          const len = Math.min(lengths[i]!, slot);
          const addr = addrs.get(batch.sourceIp(i));
          const port = batch.sourcePort(i);
          const payload = batch.data.subarray(i * slot, i * slot + len);
          // seq values on both sides of 2^28 (the encoder has two varint paths)
          const s = (seq++ & 1) === 0 ? seq : seq + 2 ** 40;
          recordSize(s, t, addr.length, port, len);
          encodeRecord(scratch, 0, s, t, addr, port, payload);
        }
      }
      done += n;
    }
  } finally {
    fan?.close();
    tx.close();
    sink.close();
    rx.close();
  }
  return { datagrams: done, ms: performance.now() - t0 };
}
