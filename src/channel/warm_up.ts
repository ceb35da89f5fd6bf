/**
 * Warms a channel's code up before the channel binds its input. V8 runs new code in its
 * interpreter and compiles hot functions later, on helper threads that share the relay's core;
 * code that meets a case it has not seen (a first timeout, a first commit) is thrown away and
 * compiled again. Without a warm-up, the first second of traffic after a start (or an upgrade) was
 * relayed by slow code, with delays of several milliseconds, and V8 compiled the relay loop (25 ms
 * of a helper thread's time) while datagrams waited.
 *
 * The warm-up runs the channel's own relay loop (`relayLoop`) over private loopback sockets, with
 * scratch counters, a fan-out to a private sink with as many destinations as the channel has, a
 * scratch recorder in a temporary directory (removed afterwards) when the channel records, and a
 * scratch ring when it decimates. Before each receive it queues a batch of synthetic datagrams
 * (sizes from 32 to 1400 bytes, batches of one to the channel's batch size, and now and then none,
 * so the loop also sees an empty socket, its idle moments and its periodic work). Nothing of it
 * reaches the channel's destinations, counters, files or decimator.
 */
import { C } from "../../ffi/constants.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import type { MappingSlots } from "../../ffi/mapped_file.ts";
import type { ChannelRecorder } from "../recorder/channel_recorder.ts";
import {
  createBell,
  createRing,
  type RingHandle,
  ringKeepEvery,
  RingProducer,
} from "../decimate/ring.ts";
import { FanOut } from "../relay/fan_out.ts";
import { ChannelShared, CTL, CTR } from "./counters.ts";
import type { ChannelPlan, DestinationPlan } from "./plan.ts";
import { relayLoop, useImmediateYields } from "./relay_loop.ts";

/** What a warm-up did. */
export interface WarmUpResult {
  /** Datagrams that went through the relay loop. */
  datagrams: number;
  /** Datagrams the scratch recorder recorded (0 when the channel does not record). */
  recorded: number;
  /** Wall time, ms. */
  ms: number;
  /** Why a recording channel warmed up without its scratch recorder, or null. */
  recorderProblem: string | null;
}

/** Options of `warmUp`. */
export interface WarmUpOptions {
  /** The channel: its destinations, recording and decimation settings shape the warm-up. */
  plan: ChannelPlan;
  /** The channel's own receive batch (its slots are overwritten). */
  batch: DatagramBatch;
  /** The channel's decimation ring, if any: the scratch ring copies its settings. */
  ring?: RingHandle | null;
  /**
   * The address ranges the channel's recorder will map through: the scratch recorder uses them
   * too and leaves them open (see `RecorderContext.slots`), trimmed of its free ranges.
   */
  slots?: MappingSlots | null;
  /** Stop after this many datagrams… */
  datagrams?: number;
  /** …or after this long, ms. */
  maxMs?: number;
}

const SIZES = [64, 1400, 200, 512, 32, 1024];
const LOOPBACK = 0x7f000001;
/** One round in this many queues nothing: the loop then waits out its receive timeout. */
const EMPTY_EVERY = 16;
/** The receive timeout during the warm-up, ms. */
const RECV_TIMEOUT_MS = 1;
// big enough that the writer does not come within the hand-over margin at once: the chunks are
// prepared in the loop's idle moments, as a real channel's are
const SCRATCH_CHUNK = 4 << 20;
const SCRATCH_RING_BYTES = 1 << 16;
const REC_COUNTERS = [
  CTR.REC_RECORDS,
  CTR.REC_BYTES,
  CTR.REC_BLOCKS,
  CTR.REC_FILES,
  CTR.REC_FSYNCS,
  CTR.REC_ERRORS,
  CTR.REC_UNRECORDED,
];
/** Runs of the relay loop a recording channel's datagrams are spread over. */
const LOOP_RUNS = 4;

/** Runs the warm-up; see the module comment. Throws only if it cannot open loopback sockets. */
export async function warmUp(o: WarmUpOptions): Promise<WarmUpResult> {
  const t0 = performance.now();
  detachOneArrayBuffer();
  // a channel that does not record runs its loop once over fewer datagrams: more warming did not
  // spare it compile work after ready, and cost each idle Worker about 1 MiB (BENCHMARKS.md)
  const target = o.datagrams ?? (o.plan.record === null ? 10_000 : 20_000);
  const deadline = t0 + (o.maxMs ?? 500);
  const { plan, batch } = o;
  const rx = UdpSocket.create({ reuseAddr: false, reusePort: false });
  const sink = UdpSocket.create({ reuseAddr: false, reusePort: false });
  const tx = UdpSocket.create({ reuseAddr: false, reusePort: false });
  let fan: FanOut | null = null;
  let recorder: ChannelRecorder | null = null;
  let scratchDir: string | null = null;
  let scratchProblem: string | null = null;
  const shared = new ChannelShared();
  try {
    rx.bind({ ip: LOOPBACK, port: 0 });
    rx.setRecvTimeout(RECV_TIMEOUT_MS);
    const pollDrops = rx.kernelDrops() >= 0;
    if (!pollDrops) rx.enableDropCounter();
    sink.bind({ ip: LOOPBACK, port: 0 });
    // the sink reads nothing: what it cannot queue is dropped, which costs the sender nothing
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
    fan = new FanOut(new Array(Math.max(1, plan.relay.length)).fill(dest), shared);
    if (plan.record !== null) {
      await useImmediateYields();
      try {
        scratchDir = await Deno.makeTempDir({ prefix: "chanrelay-warm-up-" });
        const { ChannelRecorder } = await import("../recorder/channel_recorder.ts");
        recorder = await ChannelRecorder.open({
          ...plan.record,
          dir: scratchDir,
          firstSeq: 0,
          preallocChunk: SCRATCH_CHUNK,
          rotateSize: 0,
          rotateEvery: 0,
          keepFiles: 0,
          keepSize: 0,
          keepAge: 0,
        }, { slots: o.slots ?? null });
        await recorder.settle();
      } catch (e) {
        // no scratch directory (a read-only or missing temp dir): the relay path warms up alone
        scratchProblem = e instanceof Error ? e.message : String(e);
        await recorder?.close({ discard: true }).catch(() => {});
        recorder = null;
      }
    }
    const ring = o.ring
      ? new RingProducer(createRing(SCRATCH_RING_BYTES, createBell(), ringKeepEvery(o.ring)))
      : null;

    const out = new DatagramBatch(batch.capacity, 2048);
    for (let i = 0; i < out.capacity; i++) {
      const size = SIZES[i % SIZES.length]!;
      out.data.fill(i & 0xff, i * 2048, i * 2048 + size);
      out.setLength(i, size);
    }
    const ctl = shared.control;
    const ctr = shared.counters;
    let round = 0;
    let upTo = 0; // datagrams at which this run of the loop ends
    const feed = () => {
      if (ctr[CTR.RX_DATAGRAMS]! >= upTo || performance.now() >= deadline) {
        Atomics.store(ctl, CTL.STOP, 1);
        return;
      }
      round++;
      if (round % EMPTY_EVERY === 0) return;
      // batches of 1 (a quiet channel) and of every size up to the capacity
      const want = round % 4 === 0 ? 1 : 1 + (round % batch.capacity);
      if (tx.sendBatch(out, 0, want, C.MSG_DONTWAIT) <= 0) Atomics.store(ctl, CTL.STOP, 1);
    };
    const loopPlan = { ...plan, record: recorder === null ? null : plan.record, faultAfter: null };
    // several runs of the loop: V8 then compiles the loop function for its entry too, and the
    // channel's own run starts in optimised code instead of compiling it again on a helper thread
    const runs = plan.record === null ? 1 : LOOP_RUNS;
    for (let run = 1; run <= runs; run++) {
      const last = run === runs || performance.now() >= deadline;
      upTo = last ? target : Math.ceil((target * run) / runs);
      Atomics.store(ctl, CTL.STOP, 0);
      // the loop adds the recorder's totals to what the counters held when it started
      for (const k of REC_COUNTERS) ctr[k] = 0;
      await relayLoop({
        plan: loopPlan,
        shared,
        rx,
        pollDrops,
        batch,
        fan,
        recorder,
        ring,
        slots: null,
        feed,
        recorderAtEnd: last ? "discard" : "keep",
      });
      if (last) break;
    }
    recorder = null; // the loop closed it
    return {
      datagrams: ctr[CTR.RX_DATAGRAMS]!,
      recorded: ctr[CTR.REC_RECORDS]!,
      ms: performance.now() - t0,
      recorderProblem: scratchProblem,
    };
  } finally {
    await recorder?.close({ discard: true }).catch(() => {});
    o.slots?.trim();
    if (scratchDir !== null) await Deno.remove(scratchDir, { recursive: true }).catch(() => {});
    fan?.close();
    tx.close();
    sink.close();
    rx.close();
  }
}

/**
 * Detaches a throwaway ArrayBuffer over foreign memory, with a view, as the recorder's are when it
 * unmaps. The first such detach made V8 throw away the encoder's optimised code ("dependent
 * prototype chain changed"); done here, before anything is compiled, it costs nothing. It does not
 * spare the deoptimisation that closing `MappingSlots` causes: that is why the channel's slots stay
 * open (see `RecorderContext.slots`).
 */
function detachOneArrayBuffer(): void {
  const memory = new Uint8Array(64);
  const buffer = Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.of(memory)!, 64);
  new Uint8Array(buffer)[0] = 1;
  buffer.transfer(0);
}
