/// <reference lib="deno.worker" />
/**
 * A decimator Worker: consumes the rings of the channels assigned to it, runs each channel's
 * decimation mode and sends the output from its own socket per channel. When every ring is empty
 * it naps (2 ms at a time) while data keeps coming, and sleeps on its bell (Atomics.waitAsync, so
 * messages are handled meanwhile) once none came for 100 ms; it yields to its event loop every
 * few milliseconds while busy, so `stop` is handled promptly.
 */
import { C } from "../../ffi/constants.ts";
import { ErrnoError } from "../../ffi/errno.ts";
import { lowerThisThread } from "../../ffi/threads.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { configureLog, log } from "../log.ts";
import { type FromDecimator, parseToDecimator, type ToDecimator } from "./messages.ts";
import { ChannelDecimator, createMode } from "./modes.ts";
import type { ResolvedDecimate } from "./options.ts";
import { OutputQueue, type OutputSlots } from "./output_queue.ts";
import { Bell, RING_STAT, RingConsumer, type RingHandle } from "./ring.ts";

/** Records taken from one ring before the Worker turns to the next. */
const DRAIN_BUDGET = 256;
/** Longest busy stretch before the Worker lets its event loop run, ms. */
const YIELD_EVERY_MS = 4;
/** Longest sleep with nothing held back, ms (a safety net: producers wake the Worker). */
const MAX_SLEEP_MS = 1000;
/**
 * While data keeps coming, the Worker naps this long when the rings run empty instead of asking
 * the producers to wake it: a wake-up per published datagram (a futex call on the relay thread,
 * then a whole event-loop turn here for one datagram) cost a relay sharing the core a third of
 * its rate at 30k published datagrams/s. Output is at most this much later.
 */
const NAP_MS = 2;
/** After this long without data the Worker sleeps until a producer rings its bell, ms. */
const NAP_FOR_MS = 100;

interface Running {
  readonly name: string;
  readonly decimator: ChannelDecimator;
  readonly socket: UdpSocket;
  readonly batch: DatagramBatch;
}

const channels = new Map<string, Running>();
let bell: Bell | null = null;
let stopping = false;
let looping = false;

function post(m: FromDecimator): void {
  self.postMessage(m);
}

function openSocket(o: ResolvedDecimate): UdpSocket {
  const s = UdpSocket.create({ reuseAddr: false, reusePort: false });
  try {
    if (o.multicast) {
      if (o.iface !== 0) s.setMulticastInterface(o.iface);
      s.setMulticastTtl(o.ttl);
      s.setMulticastLoop(o.loop);
    } else {
      if (o.iface !== 0) s.bind({ ip: o.iface, port: 0 });
      s.setUnicastTtl(o.ttl > 0 ? o.ttl : 64);
    }
    s.setSendBuffer(1 << 20);
    s.connect({ ip: o.ip, port: o.port });
    return s;
  } catch (e) {
    s.close();
    throw e;
  }
}

function sender(socket: UdpSocket, batch: DatagramBatch, stats: Float64Array) {
  return (_slots: OutputSlots, count: number): void => {
    let start = 0;
    while (start < count) {
      const r = socket.sendBatch(batch, start, count - start, C.MSG_DONTWAIT);
      if (r > 0) {
        let bytes = 0;
        for (let i = start; i < start + r; i++) bytes += batch.lengths[i]!;
        stats[RING_STAT.datagramsOut]! += r;
        stats[RING_STAT.bytesOut]! += bytes;
        start += r;
        continue;
      }
      const e = r < 0 ? -r : C.EAGAIN;
      stats[RING_STAT.lastErrno] = e;
      if (e === C.EAGAIN || e === C.ENOBUFS) {
        // the send queue is full: drop the rest of this batch
        stats[RING_STAT.sendErrors]! += count - start;
        break;
      }
      // an error for this datagram (ECONNREFUSED, EMSGSIZE…): skip it
      stats[RING_STAT.sendErrors]!++;
      start++;
    }
  };
}

function attach(channel: string, ring: RingHandle, o: ResolvedDecimate): void {
  if (channels.has(channel)) {
    post({
      type: "attach_failed",
      channel,
      message: `Channel "${channel}" is already attached`,
      code: null,
    });
    return;
  }
  let socket: UdpSocket | null = null;
  try {
    const consumer = new RingConsumer(ring);
    socket = openSocket(o);
    const slotSize = o.samples !== null ? (o.samples.maxDatagram + 7) & ~7 : 65512;
    const batch = new DatagramBatch(o.samples !== null ? 64 : 16, slotSize);
    const queue = new OutputQueue(batch, sender(socket, batch, consumer.stats));
    const mode = createMode(o, queue, consumer.stats);
    const decimator = new ChannelDecimator(consumer, mode, queue);
    channels.set(channel, { name: channel, decimator, socket, batch });
    const taps = "taps" in mode && typeof mode.taps === "number" ? mode.taps : 0;
    post({ type: "attached", channel, taps });
    bell?.wake();
  } catch (e) {
    socket?.close();
    post({
      type: "attach_failed",
      channel,
      message: e instanceof Error ? e.message : String(e),
      code: e instanceof ErrnoError ? e.code : null,
    });
  }
}

function close(r: Running): void {
  try {
    r.decimator.finish();
  } finally {
    r.socket.close();
  }
}

function detach(channel: string): void {
  const r = channels.get(channel);
  if (r !== undefined) {
    channels.delete(channel);
    close(r);
  }
  post({ type: "detached", channel });
}

function fail(r: Running, e: unknown): void {
  channels.delete(r.name);
  r.socket.close();
  const message = e instanceof Error ? e.message : String(e);
  log.error("decimation failed", { channel: r.name, error: message });
  post({ type: "channel_failed", channel: r.name, message });
}

/** Lets the event loop run (messages, timers): a timer of `ms` (0: the next turn). */
function nap(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function run(b: Bell): Promise<void> {
  let lastYield = performance.now();
  let lastData = -Infinity;
  while (!stopping && !b.stopped) {
    const now = performance.now();
    let did = 0;
    for (const r of channels.values()) {
      try {
        did += r.decimator.drain(DRAIN_BUDGET, now);
      } catch (e) {
        fail(r, e);
      }
    }
    if (did > 0) {
      lastData = now;
      if (now - lastYield >= YIELD_EVERY_MS) {
        await nap(0);
        lastYield = performance.now();
      }
      continue;
    }
    let due = MAX_SLEEP_MS;
    for (const r of channels.values()) {
      const d = r.decimator.due(now);
      if (d < due) due = d;
    }
    if (now - lastData < NAP_FOR_MS && due > 0) {
      await nap(Math.min(NAP_MS, due));
      lastYield = performance.now();
      continue;
    }
    b.arm();
    let ready = due <= 0 || stopping || b.stopped;
    for (const r of channels.values()) if (r.decimator.hasData()) ready = true;
    if (ready) {
      b.disarm();
      if (due <= 0) {
        // nothing arrived, but output is due: the drain pass above already sent it; sleep briefly
        await nap(0);
      }
      continue;
    }
    await b.sleep(due);
    lastYield = performance.now();
  }
  for (const r of channels.values()) {
    try {
      close(r);
    } catch (e) {
      log.error("decimation failed at stop", { channel: r.name, error: String(e) });
    }
  }
  channels.clear();
  post({ type: "stopped" });
  self.close();
}

function handle(m: ToDecimator): void {
  switch (m.type) {
    case "init":
      configureLog(m.log);
      if (bell === null) bell = new Bell(m.bell);
      if (!looping) {
        looping = true;
        run(bell).catch((e) => {
          log.error("decimator Worker failed", { error: String(e) });
          throw e;
        });
      }
      return;
    case "attach":
      attach(m.channel, m.ring, m.options);
      return;
    case "detach":
      detach(m.channel);
      return;
    case "stop":
      stopping = true;
      bell?.wake();
      if (!looping) {
        post({ type: "stopped" });
        self.close();
      }
      return;
    default: {
      const never: never = m;
      log.error("decimator Worker: unhandled message", { type: String(never) });
    }
  }
}

self.onmessage = (e: MessageEvent) => {
  const m = parseToDecimator(e.data);
  if (m === null) {
    log.error("decimator Worker: malformed message ignored", {
      type: String((e.data as { type?: unknown } | null)?.type),
    });
    return;
  }
  handle(m);
};

// Decimation is best effort and must never take CPU from a relay thread (a decimator Worker
// usually shares a core with one): at nice 19 it runs on what the relays leave, and when that is
// not enough its rings overrun (counted) instead of the relay slowing down.
lowerThisThread();
post({ type: "ready" });
