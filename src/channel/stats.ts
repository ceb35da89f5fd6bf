/** Reading a channel's shared counters into plain snapshots, and the periodic stats line. */
import { errnoName } from "../../ffi/errno.ts";
import type { LogFields } from "../log.ts";
import { ChannelShared, CTR, DEST, WorkerState } from "./counters.ts";
import type { ChannelPlan } from "./plan.ts";
import { readRingStats, type RingHandle } from "../decimate/ring.ts";

/** One destination's counters. */
export interface DestinationSnapshot {
  readonly to: string;
  readonly sent: number;
  readonly bytes: number;
  readonly errors: number;
  /** Name of the last send error, or "". */
  readonly lastError: string;
}

/** A channel's counters at one moment. */
export interface ChannelSnapshot {
  readonly name: string;
  readonly atMs: number;
  readonly state: "stopped" | "starting" | "running" | "failed" | "backoff";
  readonly received: number;
  readonly receivedBytes: number;
  readonly truncated: number;
  readonly kernelDrops: number;
  readonly receiveErrors: number;
  readonly relayed: number;
  readonly relayErrors: number;
  readonly restarts: number;
  readonly recorded: number;
  readonly recordedBytes: number;
  readonly recordBlocks: number;
  readonly recordFiles: number;
  readonly recordFsyncs: number;
  readonly recordErrors: number;
  readonly unrecorded: number;
  /** seq of the last record in a committed block (-1: none). */
  readonly committedSeq: number;
  /** seq the next recorded datagram gets. */
  readonly nextSeq: number;
  readonly currentFile: string;
  readonly decimatePublished: number;
  readonly decimateOverruns: number;
  readonly decimatedOut: number;
  readonly decimatedSamples: number;
  readonly decimateResets: number;
  readonly decimateSendErrors: number;
  readonly rcvbufEffective: number;
  readonly destinations: readonly DestinationSnapshot[];
}

const STATES = ["stopped", "starting", "running", "failed", "backoff"] as const;

/** Reads every counter of a channel. */
export function snapshot(
  plan: ChannelPlan,
  shared: ChannelShared,
  state: number,
  ring: RingHandle | null = null,
): ChannelSnapshot {
  const g = (slot: number) => shared.get(slot);
  const dec = ring === null ? null : readRingStats(ring);
  return {
    name: plan.name,
    atMs: Date.now(),
    state: STATES[state] ?? (state === WorkerState.RUNNING ? "running" : "stopped"),
    received: g(CTR.RX_DATAGRAMS),
    receivedBytes: g(CTR.RX_BYTES),
    truncated: g(CTR.RX_TRUNCATED),
    kernelDrops: g(CTR.RX_KERNEL_DROPS),
    receiveErrors: g(CTR.RX_ERRORS),
    relayed: g(CTR.RELAY_DATAGRAMS),
    relayErrors: g(CTR.RELAY_ERRORS),
    restarts: g(CTR.WORKER_RESTARTS),
    recorded: g(CTR.REC_RECORDS),
    recordedBytes: g(CTR.REC_BYTES),
    recordBlocks: g(CTR.REC_BLOCKS),
    recordFiles: g(CTR.REC_FILES),
    recordFsyncs: g(CTR.REC_FSYNCS),
    recordErrors: g(CTR.REC_ERRORS),
    unrecorded: g(CTR.REC_UNRECORDED),
    committedSeq: plan.record === null ? -1 : g(CTR.REC_COMMITTED_SEQ),
    nextSeq: g(CTR.REC_NEXT_SEQ),
    currentFile: shared.currentFile(),
    // the ring counts what it really took (packet mode skips the datagrams it will not keep)
    decimatePublished: dec?.published ?? 0,
    decimateOverruns: dec?.overruns ?? 0,
    decimatedOut: dec?.datagramsOut ?? 0,
    decimatedSamples: dec?.samplesOut ?? 0,
    decimateResets: dec?.resets ?? 0,
    decimateSendErrors: dec?.sendErrors ?? 0,
    rcvbufEffective: g(CTR.RCVBUF_EFFECTIVE),
    destinations: plan.relay.map((d, i) => {
      const e = shared.getDest(i, DEST.LAST_ERRNO);
      return {
        to: d.text,
        sent: shared.getDest(i, DEST.SENT),
        bytes: shared.getDest(i, DEST.BYTES),
        errors: shared.getDest(i, DEST.ERRORS),
        lastError: e > 0 ? errnoName(e) : "",
      };
    }),
  };
}

function rate(cur: number, prev: number, seconds: number): number {
  return seconds > 0 ? Math.round((cur - prev) / seconds) : 0;
}

/** The fields of a channel's periodic stats line: totals plus rates since `prev`. */
export function statsFields(cur: ChannelSnapshot, prev: ChannelSnapshot | null): LogFields {
  const secs = prev ? (cur.atMs - prev.atMs) / 1000 : 0;
  const f: LogFields = {
    channel: cur.name,
    state: cur.state,
    rx: cur.received,
    rx_pps: prev ? rate(cur.received, prev.received, secs) : undefined,
    rx_mbps: prev
      ? Math.round((cur.receivedBytes - prev.receivedBytes) * 8 / 1e4 / Math.max(secs, 1e-9)) / 100
      : undefined,
    relayed: cur.relayed,
    relay_errors: cur.relayErrors,
    kernel_drops: cur.kernelDrops,
    truncated: cur.truncated,
    restarts: cur.restarts,
  };
  if (cur.recordFiles > 0 || cur.recorded > 0 || cur.recordErrors > 0) {
    f.recorded = cur.recorded;
    f.record_errors = cur.recordErrors;
    f.unrecorded = cur.unrecorded;
  }
  if (cur.decimatePublished > 0 || cur.decimateOverruns > 0) {
    f.decimated = cur.decimatedOut;
    f.decimate_overruns = cur.decimateOverruns;
  }
  cur.destinations.forEach((d, i) => {
    if (d.errors > 0) f[`dest${i}_errors`] = d.errors;
  });
  return f;
}
