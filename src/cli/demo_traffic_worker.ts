/// <reference lib="deno.worker" />
/**
 * The demo's traffic: paced sources that feed each demo channel, and sinks that receive what the
 * channels relay and count it (received, lost by sequence gaps). Counters go to a shared
 * Float64Array: per stream [sent, received, lost] at 3 * index.
 */
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { monotonicNs } from "../../ffi/clock.ts";
import { payloadSequence, stampPayload } from "../traffic/payload.ts";

/** A source: `rate` datagrams/s of `size` bytes to `port` on 127.0.0.1. */
export interface DemoSource {
  port: number;
  rate: number;
  size: number;
}

/** Start message. */
export type DemoTrafficMessage = {
  type: "start";
  sources: DemoSource[];
  /** Destination ports on 127.0.0.1 to receive on; sink i counts at slot 3 * (sources + i). */
  sinks: number[];
  counters: SharedArrayBuffer;
  control: SharedArrayBuffer;
};

const LO = 0x7f000001;

function start(msg: DemoTrafficMessage): void {
  const ctr = new Float64Array(msg.counters);
  const stop = new Int32Array(msg.control);
  const srcs = msg.sources.map((s) => {
    const sock = UdpSocket.create({ reuseAddr: false, reusePort: false });
    sock.bind({ ip: LO, port: 0 });
    const batch = new DatagramBatch(64, Math.max(64, s.size));
    batch.setDestination({ ip: LO, port: s.port });
    for (let i = 0; i < 64; i++) batch.setLength(i, s.size);
    return { ...s, sock, batch, view: new DataView(batch.data.buffer), sent: 0 };
  });
  const sinks = msg.sinks.map((port) => {
    const sock = UdpSocket.create();
    sock.setRecvBuffer(4 << 20);
    sock.bind({ ip: LO, port });
    sock.setRecvTimeout(1);
    return { sock, next: -1 };
  });
  const inb = new DatagramBatch(64, 2048);
  const inView = new DataView(inb.data.buffer);
  const t0 = monotonicNs();
  try {
    while (Atomics.load(stop, 0) === 0) {
      const now = monotonicNs();
      for (let k = 0; k < srcs.length; k++) {
        const s = srcs[k]!;
        let due = Math.floor(((now - t0) / 1e9) * s.rate) + 1 - s.sent;
        while (due > 0) {
          const n = Math.min(64, due);
          for (let i = 0; i < n; i++) stampPayload(s.view, s.batch.offset(i), s.sent + i, now);
          const r = s.sock.sendBatch(s.batch, 0, n);
          if (r <= 0) break;
          s.sent += r;
          due -= r;
          ctr[3 * k] = s.sent;
        }
      }
      for (let k = 0; k < sinks.length; k++) {
        const s = sinks[k]!;
        const slot = 3 * (srcs.length + k);
        for (;;) {
          const n = s.sock.recvBatch(inb);
          if (n <= 0) break;
          for (let i = 0; i < n; i++) {
            if (inb.lengths[i]! < 16) continue;
            const seq = payloadSequence(inView, inb.offset(i));
            if (s.next >= 0 && seq > s.next) ctr[slot + 2] = ctr[slot + 2]! + (seq - s.next);
            if (seq >= s.next) s.next = seq + 1;
          }
          ctr[slot + 1] = ctr[slot + 1]! + n;
        }
      }
    }
  } finally {
    for (const s of srcs) s.sock.close();
    for (const s of sinks) s.sock.close();
  }
}

self.onmessage = (ev: MessageEvent) => {
  const msg = ev.data as DemoTrafficMessage;
  if (msg?.type !== "start" || !(msg.counters instanceof SharedArrayBuffer)) return;
  try {
    start(msg);
  } finally {
    self.postMessage({ type: "stopped" });
    self.close();
  }
};
