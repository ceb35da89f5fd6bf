/**
 * `chanrelay listen`: receives the datagrams of `chanrelay send` (or ../shared/bench/gen.c) and
 * reports loss, duplicates, reordering, rate and one-way latency, from preallocated structures.
 */
import type { Command } from "./command.ts";
import { bool, num, type ParsedFlags, parseFlags, str } from "./flags.ts";
import { UsageError } from "./usage.ts";
import { monotonicNs } from "../../ffi/clock.ts";
import { ErrnoError } from "../../ffi/errno.ts";
import {
  formatAddress,
  formatIPv4,
  isMulticast,
  parseAddress,
  parseIPv4,
  type SocketAddress,
} from "../../ffi/inet.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { parseSize } from "../config/units.ts";
import { log } from "../log.ts";
import { LatencyHistogram } from "../traffic/latency_histogram.ts";
import { HEADER_SIZE, payloadSendNs, payloadSequence } from "../traffic/payload.ts";
import { SEQ, SequenceTracker } from "../traffic/sequence_tracker.ts";
import { StopSignal } from "../traffic/stop_signal.ts";

const NAME = "listen";
const DEFAULT_RCVBUF = 8 << 20;

const HELP = `chanrelay listen: receive test datagrams and report loss and latency

Usage: chanrelay listen --on HOST:PORT|GROUP:PORT [options]

Reads the payload of "chanrelay send" (and ../shared/bench/gen.c): a u64 sequence number and a u64
CLOCK_MONOTONIC send time in nanoseconds at the start of each datagram.

Options:
  --on HOST:PORT        Bind here; a multicast GROUP:PORT joins the group (required; port 0
                        picks a free one, shown in the "Listening" log line)
  --source IP           Source-specific join: receive the group only from IP
  --interface ADDR      Interface address to join the group on (default: the kernel's choice)
  --count N             Stop once N distinct sequence numbers have arrived; the ones still missing
                        then count as lost
  --duration S          Stop after S seconds
  --idle S              Stop after S seconds without traffic, once the first datagram arrived
  --rcvbuf SIZE         Receive buffer, e.g. 8MiB (default 8MiB; clamped by net.core.rmem_max
                        unless root)
  --json                Print the report as one JSON object

Stops at the first of --count, --duration, --idle, SIGINT or SIGTERM, then prints the report on
stdout. Lost counts the sequence numbers missing from the lowest to the highest seen (plus, with
--count, the ones missing at the end); reordered counts new datagrams that arrived after a higher
one. Latency is the receive time minus the send stamp: it means something only when sender and
receiver share a host (one CLOCK_MONOTONIC).`;

const FLAGS = {
  on: { type: "string" },
  source: { type: "string" },
  interface: { type: "string" },
  count: { type: "string" },
  duration: { type: "string" },
  idle: { type: "string" },
  rcvbuf: { type: "string" },
  json: { type: "boolean" },
} as const;

/** Settings of one `listen` run, parsed from the flags. */
export interface ListenOptions {
  on: SocketAddress;
  source: number | undefined;
  iface: number | undefined;
  count: number | undefined;
  durationS: number | undefined;
  idleS: number | undefined;
  rcvbuf: number;
  rcvbufGiven: boolean;
  json: boolean;
}

/** The report of a `listen` run (the `--json` object). */
export interface ListenReport {
  on: string;
  /** Every datagram received, short ones included. */
  received: number;
  unique: number;
  lost: number;
  loss_pct: number;
  duplicates: number;
  reordered: number;
  /** Reordered datagrams too old for the tracking window (a duplicate among them would be missed). */
  late: number;
  /** Datagrams shorter than the 16-byte header (not counted in unique/lost). */
  short: number;
  truncated: number;
  kernel_drops: number;
  bytes: number;
  first_seq: number;
  highest_seq: number;
  /** From the first datagram to the last. */
  seconds: number;
  pps: number;
  mbps: number;
  latency_p50_us: number;
  latency_p99_us: number;
  latency_max_us: number;
  stopped_by: "count" | "duration" | "idle" | "signal";
}

function ipFlag(f: ParsedFlags, name: string): number | undefined {
  const v = str(f, name);
  if (v === undefined) return undefined;
  const ip = parseIPv4(v);
  if (ip === null) {
    throw new UsageError(NAME, `--${name}: Cannot parse "${v}": not an IPv4 address`);
  }
  return ip;
}

function positiveSeconds(f: ParsedFlags, name: string): number | undefined {
  const v = num(NAME, f, name, { float: true, min: 0 });
  if (v === 0) throw new UsageError(NAME, `--${name}: "${str(f, name)}" must be above 0`);
  return v;
}

/** Parses and checks the flags of `chanrelay listen`; throws a UsageError naming a bad one. */
export function parseListenOptions(args: string[]): ListenOptions {
  const f = parseFlags(NAME, args, FLAGS);
  const onText = str(f, "on");
  if (onText === undefined) {
    throw new UsageError(NAME, "--on: missing (the HOST:PORT or GROUP:PORT to listen on)");
  }
  const r = parseAddress(onText, true);
  if (!r.ok) throw new UsageError(NAME, `--on: Cannot parse "${onText}": ${r.reason}`);
  const on = r.value;
  const source = ipFlag(f, "source");
  if (source !== undefined && !isMulticast(on.ip)) {
    throw new UsageError(NAME, `--source: "${str(f, "source")}" needs a multicast --on group`);
  }
  if (isMulticast(on.ip) && on.port === 0) {
    throw new UsageError(NAME, `--on: "${onText}" needs a port to receive a group on`);
  }
  const rcvText = str(f, "rcvbuf");
  let rcvbuf = DEFAULT_RCVBUF;
  if (rcvText !== undefined) {
    const s = parseSize(rcvText);
    if (!s.ok) throw new UsageError(NAME, `--rcvbuf: ${s.reason}`);
    if (s.value < 1 || s.value > 2 ** 31 - 1) {
      throw new UsageError(NAME, `--rcvbuf: "${rcvText}" is out of range 1B..2GiB`);
    }
    rcvbuf = s.value;
  }
  return {
    on,
    source,
    iface: ipFlag(f, "interface"),
    count: num(NAME, f, "count", { min: 1, max: Number.MAX_SAFE_INTEGER }),
    durationS: positiveSeconds(f, "duration"),
    idleS: positiveSeconds(f, "idle"),
    rcvbuf,
    rcvbufGiven: rcvText !== undefined,
    json: bool(f, "json"),
  };
}

function openSocket(o: ListenOptions): UdpSocket {
  const sock = UdpSocket.create();
  try {
    let effective = 0;
    try {
      effective = sock.setRecvBuffer(o.rcvbuf, Deno.uid() === 0).effective;
    } catch {
      effective = sock.setRecvBuffer(o.rcvbuf).effective; // SO_RCVBUFFORCE refused
    }
    if (o.rcvbufGiven && effective < o.rcvbuf) {
      log.warn("Receive buffer clamped (raise net.core.rmem_max or run as root)", {
        requested: o.rcvbuf,
        effective,
      });
    }
    sock.setRecvTimeout(100);
    sock.enableDropCounter();
    sock.bind(o.on);
    if (isMulticast(o.on.ip)) {
      if (o.source !== undefined) sock.joinSourceGroup(o.on.ip, o.source, o.iface ?? 0);
      else sock.joinGroup(o.on.ip, o.iface ?? 0);
    }
  } catch (e) {
    sock.close();
    throw e;
  }
  return sock;
}

/** Receives until a stop condition; returns the report. Allocates nothing per datagram. */
export function runListen(o: ListenOptions, stop: StopSignal): ListenReport {
  const sock = openSocket(o);
  const tracker = new SequenceTracker();
  const latency = new LatencyHistogram();
  const batch = new DatagramBatch(64, 65536);
  const view = new DataView(batch.data.buffer);
  const slot = batch.slotSize;
  let short = 0;
  let truncated = 0;
  let bytes = 0;
  let drops = 0;
  let first = 0;
  let last = 0;
  let stoppedBy: ListenReport["stopped_by"] = "signal";
  const bound = sock.localAddress();
  const onText = formatAddress(isMulticast(o.on.ip) ? o.on : bound);
  try {
    const fields: Record<string, string | number> = { on: onText, rcvbuf: sock.recvBufferSize() };
    if (isMulticast(o.on.ip)) {
      fields.group = formatIPv4(o.on.ip);
      if (o.source !== undefined) fields.source = formatIPv4(o.source);
    }
    log.info("Listening", fields);
    const start = monotonicNs();
    const deadline = o.durationS === undefined ? Infinity : start + o.durationS * 1e9;
    const idleNs = o.idleS === undefined ? Infinity : o.idleS * 1e9;
    const count = o.count ?? Infinity;
    for (;;) {
      const n = sock.recvBatch(batch);
      const t = monotonicNs();
      if (n < 0) throw new ErrnoError("receive on", -n, onText);
      if (n > 0) {
        if (first === 0) first = t;
        last = t;
        for (let i = 0; i < n; i++) {
          const len = batch.lengths[i]!;
          bytes += len;
          if (batch.truncated[i] !== 0) truncated++;
          if (len < HEADER_SIZE) {
            short++;
            continue;
          }
          const off = i * slot;
          if (tracker.record(payloadSequence(view, off)) !== SEQ.DUPLICATE) {
            latency.record(t - payloadSendNs(view, off));
          }
        }
        drops = batch.drops;
        if (tracker.unique >= count) {
          stoppedBy = "count";
          break;
        }
      }
      if (t >= deadline) {
        stoppedBy = "duration";
        break;
      }
      if (first !== 0 && t - last >= idleNs) {
        stoppedBy = "idle";
        break;
      }
      if (stop.stopped) {
        stoppedBy = "signal";
        break;
      }
    }
  } finally {
    sock.close();
  }
  const s = tracker.stats(o.count);
  const received = s.received + short;
  const seconds = last > first ? (last - first) / 1e9 : 0;
  const expected = s.lost + s.unique;
  const us = (ns: number) => Math.round(ns / 100) / 10;
  return {
    on: onText,
    received,
    unique: s.unique,
    lost: s.lost,
    loss_pct: expected > 0 ? (100 * s.lost) / expected : 0,
    duplicates: s.duplicates,
    reordered: s.reordered,
    late: s.late,
    short,
    truncated,
    kernel_drops: drops,
    bytes,
    first_seq: s.lowest,
    highest_seq: s.highest,
    seconds,
    pps: seconds > 0 ? received / seconds : 0,
    mbps: seconds > 0 ? (bytes * 8) / seconds / 1e6 : 0,
    latency_p50_us: us(latency.percentile(50)),
    latency_p99_us: us(latency.percentile(99)),
    latency_max_us: us(latency.max),
    stopped_by: stoppedBy,
  };
}

/** The report as aligned text lines. */
export function formatListenReport(r: ListenReport): string {
  const rows: Array<[string, string]> = [
    ["on", r.on],
    ["received", `${r.received} datagrams, ${r.bytes} bytes`],
    ["unique", String(r.unique)],
    ["lost", `${r.lost} (${r.loss_pct.toFixed(3)} %)`],
    ["duplicates", String(r.duplicates)],
    ["reordered", r.late > 0 ? `${r.reordered} (${r.late} late)` : String(r.reordered)],
    ["short", String(r.short)],
    ["truncated", String(r.truncated)],
    ["kernel drops", String(r.kernel_drops)],
    ["sequence", r.first_seq < 0 ? "-" : `${r.first_seq} .. ${r.highest_seq}`],
    [
      "rate",
      `${Math.round(r.pps)} pps, ${r.mbps.toFixed(2)} Mbit/s over ${r.seconds.toFixed(3)} s`,
    ],
    [
      "latency",
      `p50 ${r.latency_p50_us} µs, p99 ${r.latency_p99_us} µs, max ${r.latency_max_us} µs`,
    ],
    ["stopped by", r.stopped_by],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

/** The `listen` command. */
export const command: Command = {
  name: NAME,
  summary: "Receive test datagrams and report loss and latency",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const o = parseListenOptions(args);
    using stop = new StopSignal();
    await stop.ready;
    const r = runListen(o, stop);
    console.log(o.json ? JSON.stringify(r) : formatListenReport(r));
    return 0;
  },
};
