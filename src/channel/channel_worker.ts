/// <reference lib="deno.worker" />
/**
 * A channel Worker: owns the channel's sockets and runs the blocking batch loop: receive a batch,
 * send it at once to every destination, then hand it on (recording, decimation). It yields to its
 * event loop every few milliseconds (~10 µs) so timers and async work can run.
 * Stopping: the supervisor sets CTL.STOP; SO_RCVTIMEO (100 ms) bounds how long a receive blocks.
 */
import { ErrnoError } from "../../ffi/errno.ts";
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { configureLog, log } from "../log.ts";
import { FanOut } from "../relay/fan_out.ts";
import { ChannelShared, CTL, CTR, WorkerState } from "./counters.ts";
import { type FromWorker, parseToWorker } from "./messages.ts";
import type { ChannelPlan } from "./plan.ts";

const RECV_TIMEOUT_MS = 100;
const YIELD_EVERY_MS = 5;
const RETRY_CONNECT_MS = 1000;

function post(msg: FromWorker): void {
  self.postMessage(msg);
}

// Yielding through a MessageChannel costs ~10 µs (setTimeout(0) is clamped to ms; node:timers'
// setImmediate would load the Node compatibility layer into every Worker: ~3 MiB each).
const yieldChannel = new MessageChannel();
let resumeLoop: (() => void) | null = null;
yieldChannel.port1.onmessage = () => {
  const r = resumeLoop;
  resumeLoop = null;
  r?.();
};

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    resumeLoop = resolve;
    yieldChannel.port2.postMessage(0);
  });
}

function errInfo(e: unknown): { message: string; code: string | null } {
  if (e instanceof ErrnoError) return { message: e.message, code: e.code };
  return { message: e instanceof Error ? e.message : String(e), code: null };
}

async function run(plan: ChannelPlan, shared: ChannelShared): Promise<void> {
  const ctl = shared.control;
  const ctr = shared.counters;
  configureLog(plan.log);
  Atomics.store(ctl, CTL.STATE, WorkerState.STARTING);

  let rx: UdpSocket;
  try {
    rx = UdpSocket.create();
  } catch (e) {
    post({ type: "fatal", stage: "socket", ...errInfo(e) });
    return;
  }
  let fan: FanOut | null = null;
  try {
    const buf = rx.setRecvBuffer(plan.rcvbuf);
    ctr[CTR.RCVBUF_EFFECTIVE] = buf.effective;
    const dropCounter = rx.enableDropCounter();
    rx.setRecvTimeout(RECV_TIMEOUT_MS);
    try {
      rx.bind({ ip: plan.listenIp, port: plan.listenPort });
    } catch (e) {
      post({ type: "fatal", stage: "bind", ...errInfo(e) });
      return;
    }
    if (plan.multicast) {
      try {
        if (plan.source !== null) rx.joinSourceGroup(plan.listenIp, plan.source, plan.iface);
        else rx.joinGroup(plan.listenIp, plan.iface);
      } catch (e) {
        post({ type: "fatal", stage: "join", ...errInfo(e) });
        return;
      }
    }
    try {
      fan = new FanOut(plan.relay, shared);
    } catch (e) {
      post({ type: "fatal", stage: "destination", ...errInfo(e) });
      return;
    }
    post({
      type: "ready",
      rcvbufRequested: buf.requested,
      rcvbufEffective: buf.effective,
      rcvbufClamped: buf.clamped,
      dropCounter,
    });
    Atomics.store(ctl, CTL.STATE, WorkerState.RUNNING);
    await loop(plan, shared, rx, fan);
  } finally {
    fan?.close();
    rx.close();
  }
}

async function loop(
  plan: ChannelPlan,
  shared: ChannelShared,
  rx: UdpSocket,
  fan: FanOut,
): Promise<void> {
  const ctl = shared.control;
  const ctr = shared.counters;
  const batch = new DatagramBatch(plan.batch, plan.maxDatagram);
  const lengths = batch.lengths;
  const truncated = batch.truncated;
  const dropBase = ctr[CTR.RX_KERNEL_DROPS]!; // drops of earlier sockets of this channel
  const faultAfter = plan.faultAfter;
  let nextYield = performance.now() + YIELD_EVERY_MS;
  let nextRetry = performance.now() + RETRY_CONNECT_MS;
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
    const now = performance.now();
    if (n > 0) ctr[CTR.RX_LAST_MS] = Date.now();
    if (now >= nextYield) {
      if (now >= nextRetry) {
        if (fan.unconnected > 0) fan.retry();
        nextRetry = now + RETRY_CONNECT_MS;
      }
      await yieldToEventLoop();
      nextYield = performance.now() + YIELD_EVERY_MS;
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
      run(msg.plan, shared).then(
        () => {
          Atomics.store(shared.control, CTL.STATE, WorkerState.STOPPED);
          post({ type: "stopped" });
          self.close();
        },
        (e) => {
          Atomics.store(shared.control, CTL.STATE, WorkerState.FAILED);
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
