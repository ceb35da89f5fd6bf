/**
 * The send schedule of `chanrelay send`: datagram `j` is due at `start + j / rate`. Whatever is due
 * goes out at once (up to a batch), so a sender that falls behind catches up and the long-run rate
 * is exact; when on time, datagrams leave in chunks of about a millisecond's worth.
 */

/** Pacing of a sender. Pure arithmetic on nanosecond times; allocates nothing. */
export class Pacer {
  /** Datagrams per second; 0: as fast as possible. */
  readonly rate: number;
  /** Largest number of datagrams per send call. */
  readonly batch: number;
  /** Datagrams sent together when on time: a millisecond's worth, 1 .. `batch`. */
  readonly chunk: number;
  /** Time of datagram 0 (ns). */
  readonly startNs: number;
  readonly #nsPerDatagram: number;
  #wakeNs = 0;

  /**
   * @param rate datagrams per second (0: unpaced)
   * @param batch most datagrams per send call
   * @param startNs the schedule's origin, a monotonic time in ns
   */
  constructor(rate: number, batch: number, startNs: number) {
    if (!(rate >= 0) || !Number.isFinite(rate)) throw new RangeError(`Bad rate ${rate}`);
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`Bad batch ${batch}`);
    this.rate = rate;
    this.batch = batch;
    this.startNs = startNs;
    this.#nsPerDatagram = rate > 0 ? 1e9 / rate : 0;
    this.chunk = rate > 0 ? Math.max(1, Math.min(batch, Math.floor(rate / 1000))) : batch;
  }

  /** How many datagrams are due by `nowNs` (all of 0 .. n-1 are). */
  dueBy(nowNs: number): number {
    if (this.rate === 0) return Infinity;
    return Math.floor((nowNs - this.startNs) / this.#nsPerDatagram) + 1;
  }

  /**
   * The number of datagrams that fit a duration of `durationNs` from the start (those due strictly
   * before its end), or Infinity when unpaced.
   */
  totalFor(durationNs: number): number {
    if (this.rate === 0) return Infinity;
    return Math.ceil(durationNs / this.#nsPerDatagram);
  }

  /**
   * How many datagrams to send at `nowNs`, given `sent` so far and `remaining` still to send:
   * a positive number, or 0 to wait until `wakeNs`.
   */
  ready(nowNs: number, sent: number, remaining: number): number {
    const cap = Math.min(this.batch, remaining);
    if (this.rate === 0) return cap;
    const available = this.dueBy(nowNs) - sent;
    const want = Math.min(this.chunk, remaining);
    if (available >= want) return Math.min(available, cap);
    this.#wakeNs = this.startNs + (sent + want - 1) * this.#nsPerDatagram;
    return 0;
  }

  /** When the next chunk is due, after `ready` returned 0. */
  get wakeNs(): number {
    return this.#wakeNs;
  }
}
