/**
 * A channel's relay loop, the hot path of chanrelay: receive a batch (blocking, with a timeout),
 * send it at once to every destination, then hand it to the recorder and the decimation ring. It
 * yields to its event loop every few milliseconds so timers and async work (the recorder's) can
 * run, and when its socket is empty it lets the recorder prepare a piece of its next pages
 * (`grantIdle`). The channel Worker first runs it on scratch sockets, files and counters to warm
 * its code up (`warm_up.ts`), then on the channel's own.
 */
import { ErrnoError } from "../../ffi/errno.ts";
import type { MappingSlots } from "../../ffi/mapped_file.ts";
import type { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { realtimeUs } from "../../ffi/clock.ts";
import { log } from "../log.ts";
// the recorder is imported only by channels that record (keeps relay-only Workers small)
import type { ChannelRecorder } from "../recorder/channel_recorder.ts";
import type { RingProducer } from "../decimate/ring.ts";
import type { FanOut } from "../relay/fan_out.ts";
import { type ChannelShared, CTL, CTR } from "./counters.ts";
import type { ChannelPlan } from "./plan.ts";

const YIELD_EVERY_MS = 5;
const IDLE_YIELD_MS = 100;
const RETRY_CONNECT_MS = 1000;
const RECORDER_RETRY_MS = 10_000;

// Yielding to the event loop, every few ms of a busy loop. A MessageChannel round trip costs ~20 µs
// but starves completions of nonblocking FFI calls and async ops (seen: a 0.1 ms call took 0.7 s
// to settle), which the recorder's background work is made of. setImmediate (~50 µs) lets them
// settle within a loop turn; setTimeout(0) would idle ~2 ms per yield. setImmediate comes from
// node:timers, which loads the Node compatibility layer (~3 MiB per Worker), so only recording
// channels use it.
const yieldChannel = new MessageChannel();
let resumeLoop: (() => void) | null = null;
yieldChannel.port1.onmessage = () => {
  const r = resumeLoop;
  resumeLoop = null;
  r?.();
};
let immediate: ((fn: () => void) => unknown) | null = null;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (immediate !== null) {
      immediate(resolve);
      return;
    }
    resumeLoop = resolve;
    yieldChannel.port2.postMessage(0);
  });
}

/** Makes `yieldToEventLoop` let async work settle (needed by the recorder). */
export async function useImmediateYields(): Promise<void> {
  if (immediate === null) immediate = (await import("node:timers")).setImmediate;
}

/** Opens the channel's recorder (recovering its files), or returns null after logging why. */
export async function openRecorder(
  plan: ChannelPlan,
  shared: ChannelShared,
  slots: MappingSlots | null,
): Promise<ChannelRecorder | null> {
  if (plan.record === null) return null;
  await useImmediateYields();
  const ctr = shared.counters;
  try {
    const { ChannelRecorder } = await import("../recorder/channel_recorder.ts");
    const rec = await ChannelRecorder.open({
      ...plan.record,
      firstSeq: Math.max(0, ctr[CTR.REC_NEXT_SEQ]!),
    }, { slots });
    // the first chunks and the spare file are prepared now, before the channel reports ready,
    // not while its first datagrams arrive (that work competed with the relay for its core)
    await rec.settle();
    for (const r of rec.recovered) {
      log.info("Recovered recording", {
        channel: plan.name,
        file: r.path ?? "",
        report: JSON.stringify(r),
      });
    }
    return rec;
  } catch (e) {
    ctr[CTR.REC_ERRORS] = ctr[CTR.REC_ERRORS]! + 1;
    log.limited(
      `rec-open-${plan.name}`,
      60_000,
      "error",
      "Cannot start recording; relaying on, retrying",
      {
        channel: plan.name,
        dir: plan.record.dir,
        error: e instanceof Error ? e.message : String(e),
      },
    );
    return null;
  }
}

/** Recorder counters of earlier Worker lives (and of failed opens), added to the recorder's own. */
interface RecordBase {
  records: number;
  bytes: number;
  blocks: number;
  files: number;
  fsyncs: number;
  errors: number;
  unrecorded: number;
  file: string;
}

function recordBase(ctr: Float64Array): RecordBase {
  return {
    records: ctr[CTR.REC_RECORDS]!,
    bytes: ctr[CTR.REC_BYTES]!,
    blocks: ctr[CTR.REC_BLOCKS]!,
    files: ctr[CTR.REC_FILES]!,
    fsyncs: ctr[CTR.REC_FSYNCS]!,
    errors: ctr[CTR.REC_ERRORS]!,
    unrecorded: ctr[CTR.REC_UNRECORDED]!,
    file: "",
  };
}

/** Copies the recorder's counters into shared memory. */
function publishRecorderStats(rec: ChannelRecorder, shared: ChannelShared, base: RecordBase): void {
  const ctr = shared.counters;
  const st = rec.stats;
  ctr[CTR.REC_RECORDS] = base.records + st.records;
  ctr[CTR.REC_BYTES] = base.bytes + st.bytes;
  ctr[CTR.REC_BLOCKS] = base.blocks + st.blocks;
  ctr[CTR.REC_FILES] = base.files + st.files;
  ctr[CTR.REC_FSYNCS] = base.fsyncs + st.fsyncs;
  ctr[CTR.REC_ERRORS] = base.errors + st.recordErrors;
  ctr[CTR.REC_UNRECORDED] = base.unrecorded + st.unrecorded;
  ctr[CTR.REC_NEXT_SEQ] = st.nextSeq;
  ctr[CTR.REC_COMMITTED_SEQ] = st.committedSeq;
  if (st.currentFile !== base.file) {
    base.file = st.currentFile;
    shared.setCurrentFile(st.currentFile);
  }
}

/** What `relayLoop` runs on. */
export interface RelayLoopInput {
  plan: ChannelPlan;
  shared: ChannelShared;
  rx: UdpSocket;
  /** Whether the kernel's drop counter is read with `rx.kernelDrops()` (else it comes per batch). */
  pollDrops: boolean;
  batch: DatagramBatch;
  fan: FanOut;
  /** The channel's recorder; null when it does not record or its recorder could not open. */
  recorder: ChannelRecorder | null;
  ring: RingProducer | null;
  /** Address ranges for a recorder the loop opens later (see `RecorderContext.slots`). */
  slots: MappingSlots | null;
  /** Warm-up only: called before every receive (it queues datagrams on `rx`); null otherwise. */
  feed: (() => void) | null;
  /**
   * What happens to the recorder when the loop ends: "finish" its file; "discard" it (a scratch
   * recording); "keep" it open for another run of the loop (the warm-up's rounds).
   */
  recorderAtEnd: "finish" | "discard" | "keep";
}

/**
 * Relays until CTL.STOP is set in `shared`, then closes the recorder (the one it was given, or
 * the one it opened later). Everything the loop reads of its input is read once, before the loop:
 * its optimised code then depends on nothing that differs between the warm-up and the real run.
 */
export async function relayLoop(input: RelayLoopInput): Promise<void> {
  const { plan, shared, rx, pollDrops, batch, fan, ring, slots, feed, recorderAtEnd } = input;
  const name = plan.name;
  const listenText = plan.listenText;
  const recordWanted = plan.record !== null;
  const ctl = shared.control;
  const ctr = shared.counters;
  const lengths = batch.lengths;
  const truncated = batch.truncated;
  const data = batch.data;
  const slot = batch.slotSize;
  const dropBase = ctr[CTR.RX_KERNEL_DROPS]!; // drops of earlier sockets of this channel
  const faultAfter = plan.faultAfter;
  let recorder = input.recorder;
  const base = recordBase(ctr);
  if (recorder !== null) publishRecorderStats(recorder, shared, base);
  let unrecorded = 0; // while recording is wanted but the recorder could not open
  let rotateSeen = Atomics.load(ctl, CTL.ROTATE);
  let nextYield = performance.now() + YIELD_EVERY_MS;
  let nextRecYield = recordWanted ? 0 : Infinity;
  let nextRetry = performance.now(); // checked at once: the warm-up then runs that code too
  let nextRecorderRetry = performance.now() + RECORDER_RETRY_MS;
  let receivedSeen = ctr[CTR.RX_DATAGRAMS]!;
  const readDrops = () => {
    const d = rx.kernelDrops();
    if (d > 0) ctr[CTR.RX_KERNEL_DROPS] = dropBase + d;
  };
  recorder?.useIdleTime();
  try {
    while (Atomics.load(ctl, CTL.STOP) === 0) {
      if (feed !== null) feed();
      const n = rx.recvBatch(batch);
      if (n > 0) {
        let bytes = 0;
        let trunc = 0;
        for (let i = 0; i < n; i++) {
          bytes += lengths[i]!;
          trunc += truncated[i]!;
        }
        fan.send(batch, n, bytes);
        if (recorder !== null) recorder.append(batch, n, realtimeUs());
        else if (recordWanted) unrecorded += n;
        if (ring !== null) {
          // the ring counts what it took and what it dropped (decimate_overruns) itself
          for (let i = 0; i < n; i++) ring.publish(data, i * slot, lengths[i]!);
        }
        ctr[CTR.RX_DATAGRAMS] = ctr[CTR.RX_DATAGRAMS]! + n;
        ctr[CTR.RX_BYTES] = ctr[CTR.RX_BYTES]! + bytes;
        ctr[CTR.RX_BATCHES] = ctr[CTR.RX_BATCHES]! + 1;
        if (trunc > 0) ctr[CTR.RX_TRUNCATED] = ctr[CTR.RX_TRUNCATED]! + trunc;
        if (batch.drops > 0) ctr[CTR.RX_KERNEL_DROPS] = dropBase + batch.drops;
        if (faultAfter !== null && ctr[CTR.RX_DATAGRAMS]! >= faultAfter) {
          throw new Error(`Injected fault after ${faultAfter} datagrams`);
        }
      } else if (n < 0) {
        ctr[CTR.RX_ERRORS] = ctr[CTR.RX_ERRORS]! + 1;
        log.limited(`rx-${name}`, 10_000, "warn", "Receive failed", {
          channel: name,
          error: new ErrnoError("receive on", -n, listenText).message,
        });
      }
      if (n >= 0 && n < batch.capacity && recorder !== null && recorder.wantsIdle) {
        // the socket is empty: a piece of the recorder's chunk preparation runs now, as a
        // microtask (no event-loop turn: cheaper, and it allocates less)
        recorder.grantIdle();
        await undefined;
      }
      const now = performance.now();
      if (now >= nextYield) {
        if (pollDrops) readDrops();
        if (ctr[CTR.RX_DATAGRAMS] !== receivedSeen) {
          receivedSeen = ctr[CTR.RX_DATAGRAMS]!;
          ctr[CTR.RX_LAST_MS] = Date.now();
        }
        if (recorder !== null) {
          const r = Atomics.load(ctl, CTL.ROTATE);
          if (r !== rotateSeen) {
            rotateSeen = r;
            recorder.rotate();
          }
          recorder.poll(Date.now());
          publishRecorderStats(recorder, shared, base);
        } else if (recordWanted) {
          ctr[CTR.REC_UNRECORDED] = base.unrecorded + unrecorded;
          if (now >= nextRecorderRetry) {
            nextRecorderRetry = now + RECORDER_RETRY_MS;
            recorder = await openRecorder(plan, shared, slots);
            if (recorder !== null) {
              recorder.useIdleTime();
              base.unrecorded += unrecorded;
              unrecorded = 0;
              base.errors = ctr[CTR.REC_ERRORS]!;
              publishRecorderStats(recorder, shared, base);
            }
          }
        }
        if (now >= nextRetry) {
          if (fan.unconnected > 0) fan.retry();
          nextRetry = now + RETRY_CONNECT_MS;
        }
        // a busy channel yields only while its recorder has background work under way (whose
        // steps advance only in event-loop turns), and a recording one every 100 ms besides: an
        // event-loop turn can take a millisecond now and then. An idle channel always yields.
        if (n === 0 || recorder?.busy === true || now >= nextRecYield) {
          nextRecYield = now + IDLE_YIELD_MS;
          await yieldToEventLoop();
        }
        nextYield = performance.now() + YIELD_EVERY_MS;
      }
    }
  } finally {
    if (pollDrops) readDrops();
    if (recorder !== null && recorderAtEnd === "keep") {
      publishRecorderStats(recorder, shared, base);
    } else if (recorder !== null) {
      try {
        await recorder.close({ discard: recorderAtEnd === "discard" });
        publishRecorderStats(recorder, shared, base);
      } catch (e) {
        log.error("Cannot finish the recording", {
          channel: name,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }
}
