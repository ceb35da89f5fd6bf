/// <reference lib="deno.worker" />
/**
 * A channel Worker: owns the channel's sockets and runs the blocking batch loop: receive a batch,
 * send it at once to every destination, then hand it on (recording, decimation). It yields to its
 * event loop every few milliseconds so timers and async work (the recorder's) can run, and when its
 * socket is empty it lets the recorder prepare a piece of its next pages (`grantIdle`).
 * Stopping: the supervisor sets CTL.STOP; SO_RCVTIMEO (100 ms) bounds how long a receive blocks.
 */
import { ErrnoError } from "../../ffi/errno.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { realtimeUs } from "../../ffi/clock.ts";
import { RELAY_SLICE_NS, shortenThisThreadSlice } from "../../ffi/threads.ts";
import { configureLog, log } from "../log.ts";
// the recorder is imported only by channels that record (keeps relay-only Workers small)
import type { ChannelRecorder } from "../recorder/channel_recorder.ts";
import { type RingHandle, RingProducer } from "../decimate/ring.ts";
import { FanOut } from "../relay/fan_out.ts";
import { warmUp } from "./warm_up.ts";
import { ChannelShared, CTL, CTR, WorkerState } from "./counters.ts";
import { type FromWorker, parseToWorker } from "./messages.ts";
import type { ChannelPlan } from "./plan.ts";

const RECV_TIMEOUT_MS = 100;
const YIELD_EVERY_MS = 5;
const IDLE_YIELD_MS = 100;
const RETRY_CONNECT_MS = 1000;
const RECORDER_RETRY_MS = 10_000;

function post(msg: FromWorker): void {
  self.postMessage(msg);
}

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
async function useImmediateYields(): Promise<void> {
  if (immediate === null) immediate = (await import("node:timers")).setImmediate;
}

function errInfo(e: unknown): { message: string; code: string | null } {
  if (e instanceof ErrnoError) return { message: e.message, code: e.code };
  return { message: e instanceof Error ? e.message : String(e), code: null };
}

async function openRecorder(
  plan: ChannelPlan,
  shared: ChannelShared,
): Promise<ChannelRecorder | null> {
  if (plan.record === null) return null;
  await useImmediateYields();
  const ctr = shared.counters;
  try {
    const { ChannelRecorder } = await import("../recorder/channel_recorder.ts");
    const rec = await ChannelRecorder.open({
      ...plan.record,
      firstSeq: Math.max(0, ctr[CTR.REC_NEXT_SEQ]!),
    });
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

async function run(
  plan: ChannelPlan,
  shared: ChannelShared,
  ring: RingHandle | null,
): Promise<void> {
  const ctl = shared.control;
  const ctr = shared.counters;
  configureLog(plan.log);
  Atomics.store(ctl, CTL.STATE, WorkerState.STARTING);
  // a datagram's arrival should preempt whatever else runs on this core at once
  if (!shortenThisThreadSlice(RELAY_SLICE_NS)) {
    log.debug("Cannot shorten the relay thread's time slice", { channel: plan.name });
  }
  const batch = new DatagramBatch(plan.batch, plan.maxDatagram);
  // only the recorder needs each datagram's sender: without it the kernel need not write it
  batch.captureSources = plan.record !== null;
  try {
    const w = warmUp({ batch, destinations: plan.relay.length, record: plan.record !== null });
    log.debug("Warmed up", { channel: plan.name, datagrams: w.datagrams, ms: Math.round(w.ms) });
  } catch (e) {
    log.warn("Cannot warm up; starting cold", { channel: plan.name, ...errInfo(e) });
  }

  let rx: UdpSocket;
  try {
    rx = UdpSocket.create();
  } catch (e) {
    post({ type: "fatal", stage: "socket", ...errInfo(e) });
    return;
  }
  let fan: FanOut | null = null;
  let recorder: ChannelRecorder | null = null;
  let looping = false;
  // a channel that never started relaying leaves no empty recording behind
  const closeUnstarted = () => recorder?.close({ dropEmpty: true }).catch(() => {});
  try {
    const buf = rx.setRecvBuffer(plan.rcvbuf);
    ctr[CTR.RCVBUF_EFFECTIVE] = buf.effective;
    // Linux: the loop reads the socket's drop counter every few ms (SO_MEMINFO), which costs
    // nothing per datagram; elsewhere the kernel stamps it on datagrams (SO_RXQ_OVFL), if it can
    const pollDrops = rx.kernelDrops() >= 0;
    const dropCounter = pollDrops || rx.enableDropCounter();
    rx.setRecvTimeout(RECV_TIMEOUT_MS);
    try {
      fan = new FanOut(plan.relay, shared);
    } catch (e) {
      post({ type: "fatal", stage: "destination", ...errInfo(e) });
      return;
    }
    // The recorder comes before the bind: recovering and preparing its files takes a while, and
    // a bound socket that nobody reads only fills up and drops datagrams (or, with SO_REUSEPORT,
    // takes them away from the instance this one replaces). Bound means read from now on.
    recorder = await openRecorder(plan, shared);
    try {
      rx.bind({ ip: plan.listenIp, port: plan.listenPort });
    } catch (e) {
      // before the report: the supervisor ends this Worker when it reads it
      await closeUnstarted();
      post({ type: "fatal", stage: "bind", ...errInfo(e) });
      return;
    }
    if (plan.multicast) {
      try {
        if (plan.source !== null) rx.joinSourceGroup(plan.listenIp, plan.source, plan.iface);
        else rx.joinGroup(plan.listenIp, plan.iface);
      } catch (e) {
        await closeUnstarted();
        post({ type: "fatal", stage: "join", ...errInfo(e) });
        return;
      }
    }
    Atomics.store(ctl, CTL.STATE, WorkerState.RUNNING);
    post({
      type: "ready",
      rcvbufRequested: buf.requested,
      rcvbufEffective: buf.effective,
      rcvbufClamped: buf.clamped,
      dropCounter,
    });
    const producer = ring === null ? null : new RingProducer(ring);
    looping = true; // from here the loop closes the recorder
    await loop(plan, shared, rx, pollDrops, batch, fan, recorder, producer);
  } finally {
    if (!looping) await closeUnstarted();
    fan?.close();
    rx.close();
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

async function loop(
  plan: ChannelPlan,
  shared: ChannelShared,
  rx: UdpSocket,
  pollDrops: boolean,
  batch: DatagramBatch,
  fan: FanOut,
  recorderAtStart: ChannelRecorder | null,
  ring: RingProducer | null,
): Promise<void> {
  const ctl = shared.control;
  const ctr = shared.counters;
  const lengths = batch.lengths;
  const truncated = batch.truncated;
  const data = batch.data;
  const slot = batch.slotSize;
  const dropBase = ctr[CTR.RX_KERNEL_DROPS]!; // drops of earlier sockets of this channel
  const faultAfter = plan.faultAfter;
  let recorder = recorderAtStart;
  const base = recordBase(ctr);
  if (recorder !== null) publishRecorderStats(recorder, shared, base);
  let unrecorded = 0; // while recording is wanted but the recorder could not open
  let rotateSeen = Atomics.load(ctl, CTL.ROTATE);
  let nextYield = performance.now() + YIELD_EVERY_MS;
  let nextRecYield = plan.record !== null ? 0 : Infinity;
  let nextRetry = performance.now() + RETRY_CONNECT_MS;
  let nextRecorderRetry = performance.now() + RECORDER_RETRY_MS;
  let receivedSeen = ctr[CTR.RX_DATAGRAMS]!;
  const readDrops = () => {
    const d = rx.kernelDrops();
    if (d > 0) ctr[CTR.RX_KERNEL_DROPS] = dropBase + d;
  };
  recorder?.useIdleTime();
  try {
    while (Atomics.load(ctl, CTL.STOP) === 0) {
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
        else if (plan.record !== null) unrecorded += n;
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
        log.limited(`rx-${plan.name}`, 10_000, "warn", "Receive failed", {
          channel: plan.name,
          error: new ErrnoError("receive on", -n, plan.listenText).message,
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
        } else if (plan.record !== null) {
          ctr[CTR.REC_UNRECORDED] = base.unrecorded + unrecorded;
          if (now >= nextRecorderRetry) {
            nextRecorderRetry = now + RECORDER_RETRY_MS;
            recorder = await openRecorder(plan, shared);
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
    if (recorder !== null) {
      try {
        await recorder.close();
        publishRecorderStats(recorder, shared, base);
      } catch (e) {
        log.error("Cannot finish the recording", {
          channel: plan.name,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }
}

self.onmessage = (ev: MessageEvent) => {
  const msg = parseToWorker(ev.data);
  if (msg === null) {
    log.error("Channel worker received a malformed message");
    return;
  }
  switch (msg.type) {
    case "start": {
      const shared = new ChannelShared(msg.sab);
      run(msg.plan, shared, msg.ring).then(
        () => {
          Atomics.store(shared.control, CTL.STATE, WorkerState.STOPPED);
          post({ type: "stopped" });
          self.close();
        },
        (e) => {
          // the supervisor marks the channel failed when it gets this message, with the reason
          post({
            type: "crashed",
            message: e instanceof Error ? e.message : String(e),
            stack: e instanceof Error ? e.stack ?? "" : "",
          });
          self.close();
        },
      );
      break;
    }
    default: {
      const never: never = msg.type;
      log.error("Channel worker received an unknown message", { type: String(never) });
    }
  }
};
