/**
 * `chanrelay send`: numbered, time-stamped test datagrams (the layout of ../shared/bench/gen.c),
 * paced to a rate, sent in sendmmsg batches from preallocated buffers.
 */
import type { Command } from "./command.ts";
import { bool, num, type ParsedFlags, parseFlags, str } from "./flags.ts";
import { UsageError } from "./usage.ts";
import { monotonicNs } from "../../ffi/clock.ts";
import { C } from "../../ffi/constants.ts";
import { ErrnoError, errnoNumber } from "../../ffi/errno.ts";
import {
  formatAddress,
  isMulticast,
  parseAddress,
  parseIPv4,
  type SocketAddress,
} from "../../ffi/inet.ts";
import { DatagramBatch, MAX_UDP_PAYLOAD, UdpSocket } from "../../ffi/udp_socket.ts";
import { Pacer } from "../traffic/pacer.ts";
import {
  DEFAULT_PAYLOAD_SIZE,
  fillPattern,
  MIN_PAYLOAD_SIZE,
  stampPayload,
} from "../traffic/payload.ts";
import { StopSignal } from "../traffic/stop_signal.ts";

const NAME = "send";

const HELP = `chanrelay send: send numbered test datagrams

Usage: chanrelay send --to HOST:PORT [options]

Each payload starts with a u64 little-endian sequence number (0, 1, 2, …) and a u64 send time in
CLOCK_MONOTONIC nanoseconds, then a fixed pattern (the layout of ../shared/bench/gen.c), so
"chanrelay listen" can count loss, duplicates, reordering and one-way latency.

Options:
  --to HOST:PORT        Destination, unicast or a multicast group (required)
  --rate PPS            Datagrams per second; 0 sends as fast as possible (default 0)
  --size N              Payload bytes, ${MIN_PAYLOAD_SIZE}..${MAX_UDP_PAYLOAD} (default ${DEFAULT_PAYLOAD_SIZE})
  --count N             Stop after N datagrams
  --duration S          Stop after S seconds (with --count: whichever comes first)
  --ttl N               TTL, 0..255 (multicast default 1; unicast: the system's default)
  --interface ADDR      Multicast: the interface address to send from; unicast: bind to it
  --bind HOST:PORT      Bind the sending socket to this address first
  --batch N             Datagrams per sendmmsg call, 1..1024 (default 32)
  --json                Print the summary as one JSON object on stdout (else text on stderr)

Pacing follows a schedule from the start time (datagram i is due at start + i/rate), so the
long-run rate is exact; on time, datagrams leave in chunks of about a millisecond's worth (at most
--batch), a sender that fell behind catches up in full batches. --batch 1 spaces them evenly at
the cost of a busy core. All datagrams of one send call carry the same send time.

Without --count or --duration it sends until SIGINT or SIGTERM, then prints the summary.
EAGAIN, ENOBUFS and ECONNREFUSED from the kernel are counted as send errors and retried; other
errors end the run (exit 71).`;

const FLAGS = {
  to: { type: "string" },
  rate: { type: "string" },
  size: { type: "string" },
  count: { type: "string" },
  duration: { type: "string" },
  ttl: { type: "string" },
  interface: { type: "string" },
  bind: { type: "string" },
  batch: { type: "string" },
  json: { type: "boolean" },
} as const;

/** Settings of one `send` run, parsed from the flags. */
export interface SendOptions {
  to: SocketAddress;
  /** Datagrams per second; 0: unpaced. */
  rate: number;
  size: number;
  count: number | undefined;
  durationS: number | undefined;
  ttl: number | undefined;
  iface: number | undefined;
  bind: SocketAddress | undefined;
  batch: number;
  json: boolean;
}

/** What a `send` run did. */
export interface SendSummary {
  to: string;
  sent: number;
  seconds: number;
  pps: number;
  send_errors: number;
  size: number;
  target_pps: number;
  stopped_by: "count" | "duration" | "signal";
}

function address(f: ParsedFlags, name: string, allowZeroPort: boolean): SocketAddress | undefined {
  const v = str(f, name);
  if (v === undefined) return undefined;
  const r = parseAddress(v, allowZeroPort);
  if (!r.ok) throw new UsageError(NAME, `--${name}: Cannot parse "${v}": ${r.reason}`);
  return r.value;
}

/** Parses and checks the flags of `chanrelay send`; throws a UsageError naming a bad one. */
export function parseSendOptions(args: string[]): SendOptions {
  const f = parseFlags(NAME, args, FLAGS);
  const to = address(f, "to", false);
  if (to === undefined) throw new UsageError(NAME, "--to: missing (the destination HOST:PORT)");
  if (to.ip === 0) throw new UsageError(NAME, `--to: "${str(f, "to")}" has no host`);
  const ifaceText = str(f, "interface");
  let iface: number | undefined;
  if (ifaceText !== undefined) {
    const ip = parseIPv4(ifaceText);
    if (ip === null) {
      throw new UsageError(NAME, `--interface: Cannot parse "${ifaceText}": not an IPv4 address`);
    }
    iface = ip;
  }
  const durationS = num(NAME, f, "duration", { float: true, min: 0 });
  if (durationS === 0) throw new UsageError(NAME, `--duration: "0" must be above 0`);
  return {
    to,
    rate: num(NAME, f, "rate", { float: true, min: 0 }) ?? 0,
    size: num(NAME, f, "size", { min: MIN_PAYLOAD_SIZE, max: MAX_UDP_PAYLOAD }) ??
      DEFAULT_PAYLOAD_SIZE,
    count: num(NAME, f, "count", { min: 0, max: Number.MAX_SAFE_INTEGER }),
    durationS,
    ttl: num(NAME, f, "ttl", { min: 0, max: 255 }),
    iface,
    bind: address(f, "bind", true),
    batch: num(NAME, f, "batch", { min: 1, max: 1024 }) ?? 32,
    json: bool(f, "json"),
  };
}

/** Opens the sending socket: multicast TTL (default 1), loop on and interface, or unicast TTL; bound and connected. */
export function openSendSocket(o: SendOptions): UdpSocket {
  const sock = UdpSocket.create({ reuseAddr: true, reusePort: false });
  try {
    if (isMulticast(o.to.ip)) {
      sock.setMulticastTtl(o.ttl ?? 1);
      sock.setMulticastLoop(true);
      if (o.iface !== undefined) sock.setMulticastInterface(o.iface);
    } else {
      if (o.ttl !== undefined) sock.setUnicastTtl(o.ttl);
      if (o.iface !== undefined && o.bind === undefined) sock.bind({ ip: o.iface, port: 0 });
    }
    if (o.bind !== undefined) sock.bind(o.bind);
    try {
      sock.setSendBuffer(4 << 20); // best effort: clamped to net.core.wmem_max
    } catch {
      // keep the default
    }
    sock.connect(o.to);
  } catch (e) {
    sock.close();
    throw e;
  }
  return sock;
}

const SPIN_NS = 200_000; // Atomics.wait overshoots by ~100 µs: spin the last 200 µs
const MAX_SLEEP_NS = 100_000_000;

/** Runs the send loop; returns its summary. Allocates nothing per datagram. */
export function runSend(o: SendOptions, stop: StopSignal): SendSummary {
  const sock = openSendSocket(o);
  const retry = new Set([C.EAGAIN, C.ENOBUFS, errnoNumber("ECONNREFUSED")]);
  const batch = new DatagramBatch(o.batch, o.size);
  const view = new DataView(batch.data.buffer);
  for (let i = 0; i < o.batch; i++) {
    fillPattern(batch.data, batch.offset(i), o.size);
    batch.setLength(i, o.size);
  }
  const size = o.size;

  const start = monotonicNs();
  const pacer = new Pacer(o.rate, o.batch, start);
  const deadline = o.durationS === undefined ? Infinity : start + o.durationS * 1e9;
  let total = o.count ?? Infinity;
  if (o.durationS !== undefined) total = Math.min(total, pacer.totalFor(o.durationS * 1e9));
  let sent = 0;
  let errors = 0;
  let stoppedBy: SendSummary["stopped_by"] = "count";
  try {
    while (sent < total) {
      let now = monotonicNs();
      if (now >= deadline) {
        stoppedBy = "duration";
        break;
      }
      if (stop.stopped) {
        stoppedBy = "signal";
        break;
      }
      const k = pacer.ready(now, sent, total - sent);
      if (k === 0) {
        const wait = Math.min(pacer.wakeNs, deadline) - now;
        if (wait > SPIN_NS) {
          stop.sleep(Math.min(wait - SPIN_NS, MAX_SLEEP_NS) / 1e6);
        }
        continue;
      }
      now = monotonicNs();
      for (let i = 0; i < k; i++) stampPayload(view, i * size, sent + i, now);
      const r = sock.sendBatch(batch, 0, k);
      if (r >= 0) {
        sent += r;
      } else if (-r !== C.EINTR) {
        if (!retry.has(-r)) throw new ErrnoError("send to", -r, formatAddress(o.to));
        errors++;
      }
    }
    if (sent >= total && o.durationS !== undefined && total !== o.count) stoppedBy = "duration";
  } finally {
    sock.close();
  }
  const seconds = (monotonicNs() - start) / 1e9;
  return {
    to: formatAddress(o.to),
    sent,
    seconds,
    pps: seconds > 0 ? sent / seconds : 0,
    send_errors: errors,
    size,
    target_pps: o.rate,
    stopped_by: stoppedBy,
  };
}

/** The `send` command. */
export const command: Command = {
  name: NAME,
  summary: "Send numbered test datagrams",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const o = parseSendOptions(args);
    using stop = new StopSignal();
    await stop.ready;
    const s = runSend(o, stop);
    if (o.json) {
      console.log(JSON.stringify(s));
    } else {
      console.error(
        `Sent ${s.sent} datagrams of ${s.size} bytes to ${s.to} in ${s.seconds.toFixed(3)} s: ` +
          `${Math.round(s.pps)} pps, ${s.send_errors} send errors (stopped by ${s.stopped_by})`,
      );
    }
    return 0;
  },
};
