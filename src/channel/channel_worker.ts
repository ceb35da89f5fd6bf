/// <reference lib="deno.worker" />
/**
 * A channel Worker: warms its code up, opens the channel's sockets and recorder, reports ready and
 * runs the relay loop (`relay_loop.ts`) until the supervisor sets CTL.STOP; SO_RCVTIMEO (100 ms)
 * bounds how long a receive blocks.
 */
import { ErrnoError } from "../../ffi/errno.ts";
import { MappingSlots } from "../../ffi/mapped_file.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { RELAY_SLICE_NS, shortenThisThreadSlice } from "../../ffi/threads.ts";
import { configureLog, log } from "../log.ts";
import type { ChannelRecorder } from "../recorder/channel_recorder.ts";
import { type RingHandle, RingProducer } from "../decimate/ring.ts";
import { FanOut } from "../relay/fan_out.ts";
import { warmUp } from "./warm_up.ts";
import { openRecorder, relayLoop } from "./relay_loop.ts";
import { ChannelShared, CTL, CTR, WorkerState } from "./counters.ts";
import { type FromWorker, parseToWorker } from "./messages.ts";
import type { ChannelPlan } from "./plan.ts";

const RECV_TIMEOUT_MS = 100;

function post(msg: FromWorker): void {
  self.postMessage(msg);
}

function errInfo(e: unknown): { message: string; code: string | null } {
  if (e instanceof ErrnoError) return { message: e.message, code: e.code };
  return { message: e instanceof Error ? e.message : String(e), code: null };
}

async function run(
  plan: ChannelPlan,
  shared: ChannelShared,
  ring: RingHandle | null,
): Promise<void> {
  configureLog(plan.log);
  Atomics.store(shared.control, CTL.STATE, WorkerState.STARTING);
  // a datagram's arrival should preempt whatever else runs on this core at once
  if (!shortenThisThreadSlice(RELAY_SLICE_NS)) {
    log.debug("Cannot shorten the relay thread's time slice", { channel: plan.name });
  }
  const batch = new DatagramBatch(plan.batch, plan.maxDatagram);
  // only the recorder needs each datagram's sender: without it the kernel need not write it
  batch.captureSources = plan.record !== null;
  // the channel's recorders map through these, from the warm-up's on; closed when the channel ends
  const slots = plan.record !== null ? new MappingSlots() : null;
  try {
    await warmUpAndRelay(plan, shared, ring, batch, slots);
  } finally {
    slots?.close();
  }
}

/** The rest of `run`: warm-up, sockets, recorder, ready, the relay loop. */
async function warmUpAndRelay(
  plan: ChannelPlan,
  shared: ChannelShared,
  ring: RingHandle | null,
  batch: DatagramBatch,
  slots: MappingSlots | null,
): Promise<void> {
  const ctl = shared.control;
  const ctr = shared.counters;
  try {
    const w = await warmUp({ plan, batch, ring, slots });
    log.debug("Warmed up", {
      channel: plan.name,
      datagrams: w.datagrams,
      recorded: w.recorded,
      ms: Math.round(w.ms),
    });
    if (w.recorderProblem !== null) {
      log.warn("Warmed up without a scratch recording", {
        channel: plan.name,
        error: w.recorderProblem,
      });
    }
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
    recorder = await openRecorder(plan, shared, slots);
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
    await relayLoop({
      plan,
      shared,
      rx,
      pollDrops,
      batch,
      fan,
      recorder,
      ring: producer,
      slots,
      feed: null,
      recorderAtEnd: "finish",
    });
  } finally {
    if (!looping) await closeUnstarted();
    fan?.close();
    rx.close();
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
