/** Per-channel rates over the last minutes, sampled once a second, for the status page. */
import type { ChannelSnapshot } from "../channel/stats.ts";

/** A channel's rates over one sampling interval. */
export interface RatePoint {
  /** End of the interval, ms since the epoch. */
  readonly t: number;
  /** Datagrams received per second. */
  readonly rxPps: number;
  /** Payload bits received per second. */
  readonly rxBitsPerSec: number;
  /** Datagrams sent per second, all destinations together. */
  readonly relayPps: number;
  /** Losses per second: kernel drops, relay errors, ring overruns, record errors, unrecorded, truncated. */
  readonly lossPerSec: number;
}

/** Columns of a channel's history (parallel arrays: compact JSON). */
export interface RateSeries {
  readonly t: number[];
  readonly rxPps: number[];
  readonly rxBitsPerSec: number[];
  readonly relayPps: number[];
  readonly lossPerSec: number[];
}

/** The sum of a snapshot's loss counters. */
export function lossCount(s: ChannelSnapshot): number {
  return s.kernelDrops + s.relayErrors + s.decimateOverruns + s.recordErrors + s.unrecorded +
    s.truncated;
}

/** Increase of a counter; a counter that went down was reset (channel restarted by a reload). */
function increase(cur: number, prev: number): number {
  return cur >= prev ? cur - prev : cur;
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

class Ring {
  readonly points: RatePoint[] = [];
  prev: ChannelSnapshot;
  constructor(first: ChannelSnapshot) {
    this.prev = first;
  }
}

/** Rate history of every channel, `capacity` points each (300 at 1 s: five minutes). */
export class RateHistory {
  readonly #capacity: number;
  readonly #rings = new Map<string, Ring>();

  constructor(capacity = 300) {
    this.#capacity = capacity;
  }

  /** Adds a sample of every channel; channels absent from `snaps` are forgotten. */
  add(snaps: readonly ChannelSnapshot[]): void {
    const seen = new Set<string>();
    for (const s of snaps) {
      seen.add(s.name);
      const ring = this.#rings.get(s.name);
      if (ring === undefined) {
        this.#rings.set(s.name, new Ring(s));
        continue;
      }
      const p = ring.prev;
      const secs = (s.atMs - p.atMs) / 1000;
      if (secs <= 0) continue;
      ring.points.push({
        t: s.atMs,
        rxPps: round(increase(s.received, p.received) / secs, 1),
        rxBitsPerSec: Math.round(increase(s.receivedBytes, p.receivedBytes) * 8 / secs),
        relayPps: round(increase(s.relayed, p.relayed) / secs, 1),
        lossPerSec: round(increase(lossCount(s), lossCount(p)) / secs, 2),
      });
      if (ring.points.length > this.#capacity) ring.points.shift();
      ring.prev = s;
    }
    for (const name of [...this.#rings.keys()]) if (!seen.has(name)) this.#rings.delete(name);
  }

  /** The latest rates of a channel, or null before its second sample. */
  latest(name: string): RatePoint | null {
    return this.#rings.get(name)?.points.at(-1) ?? null;
  }

  /** A channel's points newer than `sinceMs`, as columns. */
  series(name: string, sinceMs = 0): RateSeries {
    const out: RateSeries = { t: [], rxPps: [], rxBitsPerSec: [], relayPps: [], lossPerSec: [] };
    for (const p of this.#rings.get(name)?.points ?? []) {
      if (p.t <= sinceMs) continue;
      out.t.push(p.t);
      out.rxPps.push(p.rxPps);
      out.rxBitsPerSec.push(p.rxBitsPerSec);
      out.relayPps.push(p.relayPps);
      out.lossPerSec.push(p.lossPerSec);
    }
    return out;
  }
}
