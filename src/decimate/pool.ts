/**
 * `DecimatorPool`: the main thread's side of decimation. It starts decimator Workers on demand
 * (at most `workers` of them), gives each attached channel a ring on the least loaded Worker, and
 * hands back the ring's handle for the channel Worker to publish into (a `RingProducer` built from
 * it). A Worker that dies is restarted with the same bell and rings, so producers keep theirs.
 */
import { log, logSettings } from "../log.ts";
import { type FromDecimator, parseFromDecimator, type ToDecimator } from "./messages.ts";
import { type ResolvedDecimate, resolveDecimateOptions } from "./options.ts";
import {
  Bell,
  createBell,
  createRing,
  DEFAULT_RING_BYTES,
  readRingStats,
  type RingHandle,
  type RingStats,
} from "./ring.ts";

/** How long `close()` waits for Workers to stop before terminating them, ms. */
export const STOP_DEADLINE_MS = 250;

/** Options of a `DecimatorPool`. */
export interface DecimatorPoolOptions {
  /** Number of decimator Workers (`decimate_workers`). @default max(1, cores − 1) */
  workers?: number;
  /** Ring size per channel, bytes (a power of two). @default 1 MiB */
  ringBytes?: number;
}

/** A channel attached to the pool. */
interface Attached {
  readonly ring: RingHandle;
  readonly options: ResolvedDecimate;
  readonly slot: number;
  taps: number;
}

interface Pending {
  resolve(value: number): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker | null;
  readonly bell: SharedArrayBuffer;
  readonly channels: Set<string>;
  readonly attaching: Map<string, Pending>;
  readonly detaching: Map<string, () => void>;
  stopped: (() => void) | null;
  restarts: number;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Channels whose attach was posted to the current Worker. */
  readonly sent: Set<string>;
}

/** A failed attach: the decimator Worker could not set the channel up (e.g. its socket). */
export class DecimateAttachError extends Error {
  /** The channel. */
  readonly channel: string;
  /** errno name when a socket call failed. */
  readonly code: string | null;

  constructor(channel: string, message: string, code: string | null) {
    super(message);
    this.name = "DecimateAttachError";
    this.channel = channel;
    this.code = code;
  }
}

/** The default number of decimator Workers: max(1, cores − 1). */
export function defaultDecimateWorkers(): number {
  return Math.max(1, (navigator.hardwareConcurrency ?? 1) - 1);
}

/** Decimator Workers and the channels assigned to them. */
export class DecimatorPool {
  readonly #slots: Slot[] = [];
  readonly #attached = new Map<string, Attached>();
  readonly #ringBytes: number;
  #closed = false;

  constructor(options: DecimatorPoolOptions = {}) {
    const n = options.workers ?? defaultDecimateWorkers();
    if (!Number.isInteger(n) || n < 1 || n > 1024) {
      throw new RangeError(`Bad decimate_workers "${n}": expected an integer from 1 to 1024`);
    }
    this.#ringBytes = options.ringBytes ?? DEFAULT_RING_BYTES;
    createRing(this.#ringBytes); // validates the size now rather than at the first attach
    for (let i = 0; i < n; i++) {
      this.#slots.push({
        worker: null,
        bell: createBell(),
        channels: new Set(),
        attaching: new Map(),
        detaching: new Map(),
        stopped: null,
        restarts: 0,
        restartTimer: undefined,
        sent: new Set(),
      });
    }
  }

  /** Number of Worker slots (`decimate_workers`). */
  get size(): number {
    return this.#slots.length;
  }

  /** Number of Workers running now (they start with their first channel). */
  get running(): number {
    return this.#slots.filter((s) => s.worker !== null).length;
  }

  /** Names of the attached channels. */
  channels(): string[] {
    return [...this.#attached.keys()];
  }

  /** Which Worker slot a channel runs on, or -1. */
  workerOf(channel: string): number {
    return this.#attached.get(channel)?.slot ?? -1;
  }

  /** Tap count of a samples-mode channel's filter (0 otherwise or unknown). */
  taps(channel: string): number {
    return this.#attached.get(channel)?.taps ?? 0;
  }

  /**
   * Attaches a channel: validates `options` (its `decimate` block; a `DecimateOptionsError`
   * naming the field is thrown at once when bad), creates its ring, and resolves with the ring's
   * handle once the decimator Worker has opened the output socket. Post the handle to the
   * channel Worker and publish with a `RingProducer`.
   */
  attach(channel: string, options: unknown): Promise<RingHandle> {
    if (this.#closed) throw new Error("Cannot attach to a closed decimator pool");
    if (this.#attached.has(channel)) {
      throw new Error(`Cannot attach "${channel}": already attached`);
    }
    const resolved = resolveDecimateOptions(options);
    let slot = 0;
    for (let i = 1; i < this.#slots.length; i++) {
      if (this.#slots[i]!.channels.size < this.#slots[slot]!.channels.size) slot = i;
    }
    const s = this.#slots[slot]!;
    // packet mode: the producer itself passes over the datagrams that would not be kept
    const keepEvery = resolved.mode === "packet" ? resolved.factor : 1;
    const ring = createRing(this.#ringBytes, s.bell, keepEvery);
    const entry: Attached = { ring, options: resolved, slot, taps: 0 };
    this.#attached.set(channel, entry);
    s.channels.add(channel);
    return new Promise<number>((resolve, reject) => {
      s.attaching.set(channel, { resolve, reject });
      this.#sync(s);
    }).then(
      (taps) => {
        entry.taps = taps;
        return ring;
      },
      (e: Error) => {
        if (this.#attached.get(channel) === entry) {
          this.#attached.delete(channel);
          s.channels.delete(channel);
          s.sent.delete(channel);
        }
        throw e;
      },
    );
  }

  /** Detaches a channel; resolves once its Worker has sent what it held and closed its socket. */
  detach(channel: string): Promise<void> {
    const a = this.#attached.get(channel);
    if (a === undefined) return Promise.resolve();
    const s = this.#slots[a.slot]!;
    this.#attached.delete(channel);
    s.channels.delete(channel);
    const sent = s.sent.delete(channel);
    if (s.worker === null || !sent) return Promise.resolve();
    return new Promise<void>((resolve) => {
      s.detaching.set(channel, resolve);
      s.worker!.postMessage({ type: "detach", channel } satisfies ToDecimator);
    });
  }

  /** The channel's ring statistics (overruns, datagrams and samples out, resets…), or null. */
  stats(channel: string): RingStats | null {
    const a = this.#attached.get(channel);
    return a === undefined ? null : readRingStats(a.ring);
  }

  /** Stops every Worker: each sends what it holds and closes its sockets; terminated after 250 ms. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const waits: Promise<void>[] = [];
    for (const s of this.#slots) {
      clearTimeout(s.restartTimer);
      const w = s.worker;
      if (w === null) continue;
      const stopped = new Promise<void>((resolve) => (s.stopped = resolve));
      new Bell(s.bell).stop();
      w.postMessage({ type: "stop" } satisfies ToDecimator);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn("decimator Worker did not stop in time: terminated", {
            deadline_ms: STOP_DEADLINE_MS,
          });
          resolve();
        }, STOP_DEADLINE_MS);
      });
      waits.push(
        Promise.race([stopped, deadline]).then(() => {
          clearTimeout(timer);
          w.terminate();
          s.worker = null;
        }),
      );
    }
    await Promise.all(waits);
    for (const s of this.#slots) {
      for (const [ch, p] of s.attaching) {
        p.reject(new DecimateAttachError(ch, "The decimator pool was closed", null));
      }
      s.attaching.clear();
      for (const done of s.detaching.values()) done();
      s.detaching.clear();
    }
    this.#attached.clear();
  }

  /** `await using pool = new DecimatorPool()` closes it at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Starts the slot's Worker if needed and posts the attaches it has not had yet. */
  #sync(s: Slot): void {
    if (s.restartTimer !== undefined || this.#closed) return; // the restart will sync
    if (s.worker === null) this.#start(s);
    for (const ch of s.channels) {
      if (s.sent.has(ch)) continue;
      const a = this.#attached.get(ch);
      if (a === undefined) continue;
      s.sent.add(ch);
      s.worker!.postMessage(
        { type: "attach", channel: ch, ring: a.ring, options: a.options } satisfies ToDecimator,
      );
    }
  }

  #start(s: Slot): void {
    const w = new Worker(new URL("./decimator_worker.ts", import.meta.url), { type: "module" });
    s.worker = w;
    s.sent.clear();
    w.onmessage = (e: MessageEvent) => {
      const m = parseFromDecimator(e.data);
      if (m === null) {
        log.error("decimator Worker sent a malformed message");
        return;
      }
      this.#receive(s, m);
    };
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#crashed(s, w, e.message);
    };
    w.postMessage({ type: "init", bell: s.bell, log: logSettings() } satisfies ToDecimator);
  }

  #crashed(s: Slot, w: Worker, message: string): void {
    w.terminate();
    if (s.worker !== w) return;
    s.worker = null;
    s.sent.clear();
    s.restarts++;
    log.error("decimator Worker died", {
      error: message,
      channels: [...s.channels].join(","),
      restarts: s.restarts,
    });
    if (this.#closed) {
      s.stopped?.();
      return;
    }
    for (const done of s.detaching.values()) done();
    s.detaching.clear();
    if (s.channels.size === 0) return;
    // start again with the same bell and rings (producers keep their handles; the new consumers
    // resume from each ring's tail); pending attaches are answered by the new Worker
    const delay = Math.min(5000, 50 * 2 ** (s.restarts - 1));
    s.restartTimer = setTimeout(() => {
      s.restartTimer = undefined;
      this.#sync(s);
    }, delay);
  }

  #receive(s: Slot, m: FromDecimator): void {
    switch (m.type) {
      case "ready":
        return;
      case "attached": {
        const p = s.attaching.get(m.channel);
        s.attaching.delete(m.channel);
        p?.resolve(m.taps);
        return;
      }
      case "attach_failed": {
        const p = s.attaching.get(m.channel);
        s.attaching.delete(m.channel);
        if (p !== undefined) p.reject(new DecimateAttachError(m.channel, m.message, m.code));
        else log.error("decimation could not restart", { channel: m.channel, error: m.message });
        return;
      }
      case "detached": {
        const done = s.detaching.get(m.channel);
        s.detaching.delete(m.channel);
        done?.();
        return;
      }
      case "channel_failed":
        log.error("decimation stopped for a channel", { channel: m.channel, error: m.message });
        return;
      case "stopped":
        s.stopped?.();
        return;
      default: {
        const never: never = m;
        log.error("decimator Worker: unhandled message", { type: String(never) });
      }
    }
  }
}
