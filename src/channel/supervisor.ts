/**
 * The supervisor: one Worker per channel, started, watched and restarted with backoff. A Worker
 * that throws or dies is logged with its channel and restarted while the other channels relay on.
 */
import { log } from "../log.ts";
import { ChannelShared, CTL, CTR, WorkerState } from "./counters.ts";
import { type FromWorker, parseFromWorker, type ToWorker } from "./messages.ts";
import type { ChannelPlan } from "./plan.ts";
import type { RingHandle } from "../decimate/ring.ts";

const WORKER_URL = new URL("./channel_worker.ts", import.meta.url);
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;
const HEALTHY_AFTER_MS = 10_000;

/** Why a channel could not start. */
export interface StartFailure {
  readonly channel: string;
  readonly stage: string;
  readonly message: string;
}

/** What the Worker reported when it became ready. */
export interface ReadyInfo {
  readonly rcvbufRequested: number;
  readonly rcvbufEffective: number;
  readonly rcvbufClamped: boolean;
  readonly dropCounter: boolean;
}

/** One supervised channel. */
export class ChannelRuntime {
  /** The channel's name. */
  readonly name: string;
  /** Its settings. */
  plan: ChannelPlan;
  /** Its counters and control words (kept across Worker restarts). */
  readonly shared = new ChannelShared();
  /** The ring its decimated stream is published into, or null. */
  readonly ring: RingHandle | null;
  /** What the last Worker reported on start. */
  ready: ReadyInfo | null = null;
  /** The last failure, if the channel is not running. */
  lastError: string | null = null;
  /** When the channel was first started (ms since epoch). */
  readonly createdMs = Date.now();
  #worker: Worker | null = null;
  #stopped: PromiseWithResolvers<void> | null = null;
  #backoffMs = BACKOFF_MIN_MS;
  #restartTimer: ReturnType<typeof setTimeout> | null = null;
  #removed = false;

  constructor(plan: ChannelPlan, ring: RingHandle | null = null) {
    this.name = plan.name;
    this.plan = plan;
    this.ring = ring;
  }

  /** The Worker's state (see WorkerState). */
  get state(): number {
    return Atomics.load(this.shared.control, CTL.STATE);
  }

  /** Whether the Worker is up and relaying. */
  get up(): boolean {
    return this.state === WorkerState.RUNNING;
  }

  /**
   * Starts a Worker; resolves when it is ready (null) or failed to start (the failure).
   * `first` passes the fault-injection hook, which only the first Worker of a channel honours.
   */
  start(first: boolean): Promise<StartFailure | null> {
    const { promise, resolve } = Promise.withResolvers<StartFailure | null>();
    let settled = false;
    const settle = (v: StartFailure | null) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    Atomics.store(this.shared.control, CTL.STOP, 0);
    Atomics.store(this.shared.control, CTL.STATE, WorkerState.STARTING);
    const worker = new Worker(WORKER_URL, { type: "module", name: `channel-${this.name}` });
    this.#worker = worker;
    this.#stopped = Promise.withResolvers<void>();
    const stopped = this.#stopped;
    const startedAt = Date.now();
    let wasReady = false;
    this.shared.counters[CTR.WORKER_STARTED_MS] = startedAt;
    const onExit = (reason: string) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      stopped.resolve();
      worker.terminate();
      if (Atomics.load(this.shared.control, CTL.STOP) === 1 || this.#removed) {
        Atomics.store(this.shared.control, CTL.STATE, WorkerState.STOPPED);
        return;
      }
      Atomics.store(this.shared.control, CTL.STATE, WorkerState.FAILED);
      this.lastError = reason;
      if (first && !wasReady) return; // a channel that cannot start: the caller decides
      if (Date.now() - startedAt > HEALTHY_AFTER_MS) this.#backoffMs = BACKOFF_MIN_MS;
      const delay = this.#backoffMs;
      this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
      log.error("Channel worker died; restarting", {
        channel: this.name,
        reason,
        restart_in_ms: delay,
      });
      Atomics.store(this.shared.control, CTL.STATE, WorkerState.BACKOFF);
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = null;
        if (this.#removed) return;
        this.shared.counters[CTR.WORKER_RESTARTS] = this.shared.counters[CTR.WORKER_RESTARTS]! + 1;
        this.start(false).then((f) => {
          if (f === null) log.info("Channel worker restarted", { channel: this.name });
        });
      }, delay);
    };
    worker.onmessage = (ev: MessageEvent) => {
      const msg: FromWorker | null = parseFromWorker(ev.data);
      if (msg === null) {
        log.error("Malformed message from channel worker", { channel: this.name });
        return;
      }
      switch (msg.type) {
        case "ready":
          wasReady = true;
          this.ready = msg;
          this.lastError = null;
          if (msg.rcvbufClamped) {
            log.warn("Receive buffer clamped by the kernel", {
              channel: this.name,
              requested: msg.rcvbufRequested,
              effective: msg.rcvbufEffective,
              hint: `sysctl -w net.core.rmem_max=${msg.rcvbufRequested}`,
            });
          }
          settle(null);
          break;
        case "fatal": {
          const failure = { channel: this.name, stage: msg.stage, message: msg.message };
          settle(failure);
          onExit(`${msg.stage}: ${msg.message}`);
          break;
        }
        case "crashed":
          settle({ channel: this.name, stage: "run", message: msg.message });
          onExit(msg.message);
          break;
        case "stopped":
          onExit("stopped");
          break;
        default: {
          const never: never = msg;
          log.error("Unknown message from channel worker", {
            channel: this.name,
            msg: String(never),
          });
        }
      }
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      settle({ channel: this.name, stage: "run", message: ev.message });
      onExit(ev.message);
    };
    const msg: ToWorker = {
      type: "start",
      plan: first ? this.plan : { ...this.plan, faultAfter: null },
      sab: this.shared.sab,
      ring: this.ring,
    };
    worker.postMessage(msg);
    return promise;
  }

  /**
   * Stops the Worker: sets the stop flag (the receive loop notices within its 100 ms timeout) and
   * waits up to `deadlineMs` before terminating it. With `remove`, the channel never restarts.
   */
  async stop(deadlineMs: number, remove = true): Promise<void> {
    if (remove) this.#removed = true;
    if (this.#restartTimer !== null) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = null;
    }
    Atomics.store(this.shared.control, CTL.STOP, 1);
    const worker = this.#worker;
    const stopped = this.#stopped;
    if (worker === null || stopped === null) {
      Atomics.store(this.shared.control, CTL.STATE, WorkerState.STOPPED);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)));
    await Promise.race([stopped.promise, timeout]);
    clearTimeout(timer);
    if (this.#worker === worker) {
      log.warn("Channel worker did not stop in time; terminating it", { channel: this.name });
      this.#worker = null;
      worker.terminate();
    }
    Atomics.store(this.shared.control, CTL.STATE, WorkerState.STOPPED);
  }
}

/** Starts and supervises the channels. */
export class Supervisor {
  readonly #channels = new Map<string, ChannelRuntime>();

  /** The supervised channels, by name. */
  get channels(): ReadonlyMap<string, ChannelRuntime> {
    return this.#channels;
  }

  /** Starts one channel; resolves with its start failure, or null once it is ready. */
  async add(plan: ChannelPlan, ring: RingHandle | null = null): Promise<StartFailure | null> {
    if (this.#channels.has(plan.name)) throw new Error(`Channel "${plan.name}" is already running`);
    const rt = new ChannelRuntime(plan, ring);
    this.#channels.set(plan.name, rt);
    const failure = await rt.start(true);
    if (failure !== null) {
      await rt.stop(250);
      this.#channels.delete(plan.name);
    }
    return failure;
  }

  /** Starts every channel in parallel; resolves with the failures (empty when all are ready). */
  async startAll(
    plans: readonly ChannelPlan[],
    ringOf: (name: string) => RingHandle | null = () => null,
  ): Promise<StartFailure[]> {
    const results = await Promise.all(plans.map((p) => this.add(p, ringOf(p.name))));
    return results.filter((r): r is StartFailure => r !== null);
  }

  /** Stops and forgets one channel. */
  async remove(name: string, deadlineMs = 250): Promise<void> {
    const rt = this.#channels.get(name);
    if (!rt) return;
    this.#channels.delete(name);
    await rt.stop(deadlineMs);
  }

  /** Stops every channel in parallel within `deadlineMs` (they stay listed, stopped). */
  async stopAll(deadlineMs = 250): Promise<void> {
    // the runtimes stay listed (stopped, never restarted) so their final counters can be read
    await Promise.all([...this.#channels.values()].map((rt) => rt.stop(deadlineMs)));
  }
}
