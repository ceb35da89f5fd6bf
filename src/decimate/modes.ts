/**
 * The decimation modes, each fed a channel's datagrams in order:
 * - `packet`: datagrams 0, N, 2N… of the channel's stream (stream positions count datagrams
 *   lost to ring overruns, so the choice does not drift when some are lost);
 * - `rate`: at most `max_rate` datagrams/s, evenly spaced by arrival time;
 * - `samples`: a low-pass polyphase decimator over the samples after each datagram's header.
 */
import { designDecimationFilter } from "./fir.ts";
import { decodeSamples, encodeSamples, sampleSize } from "./formats.ts";
import type { ResolvedDecimate, ResolvedSamples } from "./options.ts";
import type { OutputQueue, RecordSource } from "./output_queue.ts";
import { PolyphaseDecimator } from "./polyphase.ts";
import { RING_STAT } from "./ring.ts";

/** Samples mode holds a partly filled output datagram at most this long before sending it. */
export const SAMPLES_FLUSH_MS = 100;

/** A decimation mode. Counters go to `stats` at `RING_STAT` indices. */
export interface DecimationMode {
  /**
   * Handles one datagram: `length` bytes at byte `offset` (a multiple of 8) of `src`; `index` is
   * its position in the channel's stream, `nowMs` its arrival time (monotonic milliseconds).
   */
  push(src: RecordSource, offset: number, length: number, index: number, nowMs: number): void;
  /** `count` datagrams of the stream were lost before the next one. */
  lost(count: number): void;
  /** Milliseconds until `idle` has something to do (Infinity: nothing held back). */
  due(nowMs: number): number;
  /** Sends output held back for longer than allowed. */
  idle(nowMs: number): void;
  /** Sends everything held back (at detach). */
  finish(): void;
}

/** Keeps datagrams 0, factor, 2·factor… of the stream. */
export class PacketMode implements DecimationMode {
  readonly #factor: number;
  readonly #queue: OutputQueue;
  readonly #stats: Float64Array;

  constructor(factor: number, queue: OutputQueue, stats: Float64Array) {
    this.#factor = factor;
    this.#queue = queue;
    this.#stats = stats;
  }

  push(src: RecordSource, offset: number, length: number, index: number): void {
    if (index % this.#factor !== 0) return;
    if (length > this.#queue.maxDatagram) {
      this.#stats[RING_STAT.bad]!++;
      return;
    }
    this.#queue.push(src, offset, length);
  }

  lost(): void {}
  due(): number {
    return Infinity;
  }
  idle(): void {}
  finish(): void {}
}

/**
 * Keeps at most `maxRate` datagrams per second: a datagram is kept when it arrives at or after
 * the next slot of a grid spaced 1/maxRate apart; the grid re-anchors at the arrival when the
 * input fell behind it by a whole interval (after a pause), so there are no catch-up bursts.
 */
export class RateMode implements DecimationMode {
  readonly #interval: number;
  readonly #queue: OutputQueue;
  readonly #stats: Float64Array;
  #next = -Infinity;

  constructor(maxRate: number, queue: OutputQueue, stats: Float64Array) {
    this.#interval = 1000 / maxRate;
    this.#queue = queue;
    this.#stats = stats;
  }

  push(src: RecordSource, offset: number, length: number, _index: number, nowMs: number): void {
    if (nowMs < this.#next) return;
    const late = nowMs - this.#next;
    this.#next = late < this.#interval ? this.#next + this.#interval : nowMs + this.#interval;
    if (length > this.#queue.maxDatagram) {
      this.#stats[RING_STAT.bad]!++;
      return;
    }
    this.#queue.push(src, offset, length);
  }

  lost(): void {}
  due(): number {
    return Infinity;
  }
  idle(): void {}
  finish(): void {}
}

/**
 * Filters and decimates the samples after each datagram's header, per interleaved channel, and
 * packs the output frames into datagrams of at most `maxDatagram` bytes, each starting with the
 * header of the input datagram whose samples started it. The filter state carries across
 * datagrams and is reset (counted in `resets`) by a sequence gap in the header (also counted in
 * `gaps`), by datagrams lost to overruns, and by a malformed datagram (counted in `bad`: shorter
 * than the header, or a payload that is not a whole number of frames), which is skipped.
 */
export class SamplesMode implements DecimationMode {
  readonly #s: ResolvedSamples;
  readonly #queue: OutputQueue;
  readonly #stats: Float64Array;
  readonly #dec: PolyphaseDecimator;
  readonly #frameBytes: number;
  readonly #framesPerOut: number;
  readonly #in: Float64Array;
  readonly #out: Float64Array;
  readonly #partial: Uint8Array;
  readonly #partialSource: RecordSource;
  #partialFrames = 0;
  #partialSince = 0;
  #haveSeq = false;
  #seqHi = 0;
  #seqLo = 0;

  /**
   * @param taps the filter (default: designed from `factor` and `samples.cutoff`)
   */
  constructor(
    samples: ResolvedSamples,
    factor: number,
    queue: OutputQueue,
    stats: Float64Array,
    taps: Float64Array = designDecimationFilter(factor, samples.cutoff).taps,
  ) {
    this.#s = samples;
    this.#queue = queue;
    this.#stats = stats;
    if (samples.maxDatagram > queue.maxDatagram) {
      throw new RangeError(
        `Output slots of ${queue.maxDatagram} bytes cannot hold max_datagram ${samples.maxDatagram}`,
      );
    }
    this.#dec = new PolyphaseDecimator(taps, factor, samples.channels);
    this.#frameBytes = samples.channels * sampleSize(samples.format);
    this.#framesPerOut = Math.floor((samples.maxDatagram - samples.headerBytes) / this.#frameBytes);
    const maxFrames = Math.floor(65536 / this.#frameBytes);
    this.#in = new Float64Array(maxFrames * samples.channels);
    this.#out = new Float64Array((Math.ceil(maxFrames / factor) + 1) * samples.channels);
    this.#partial = new Uint8Array((samples.maxDatagram + 7) & ~7);
    this.#partialSource = {
      bytes: this.#partial,
      view: new DataView(this.#partial.buffer),
      words: new Float64Array(this.#partial.buffer),
    };
  }

  /** The filter's tap count. */
  get taps(): number {
    return this.#dec.length;
  }

  push(src: RecordSource, offset: number, length: number, _index: number, nowMs: number): void {
    const s = this.#s;
    const H = s.headerBytes;
    const payload = length - H;
    if (payload < 0 || payload % this.#frameBytes !== 0) {
      this.#stats[RING_STAT.bad]!++;
      this.#discontinuity();
      return;
    }
    if (s.seq !== null) this.#checkSeq(src.view, offset + s.seq.offset);
    const frames = payload / this.#frameBytes;
    const C = s.channels;
    decodeSamples(s.format, src.view, offset + H, frames * C, this.#in, 0);
    const n = this.#dec.process(this.#in, 0, frames, this.#out, 0);
    const pv = this.#partialSource.view;
    const partial = this.#partial;
    const src8 = src.bytes;
    let k = 0;
    while (k < n) {
      if (this.#partialFrames === 0) {
        for (let b = 0; b < H; b++) partial[b] = src8[offset + b]!;
        this.#partialSince = nowMs;
      }
      const room = this.#framesPerOut - this.#partialFrames;
      const take = n - k < room ? n - k : room;
      encodeSamples(
        s.format,
        pv,
        H + this.#partialFrames * this.#frameBytes,
        this.#out,
        k * C,
        take * C,
      );
      this.#partialFrames += take;
      k += take;
      if (this.#partialFrames === this.#framesPerOut) this.#emit();
    }
    if (this.#partialFrames > 0 && nowMs - this.#partialSince >= SAMPLES_FLUSH_MS) this.#emit();
  }

  #checkSeq(view: DataView, at: number): void {
    let hi = 0;
    let lo: number;
    let mask = 0xffffffff;
    switch (this.#s.seq!.type) {
      case "u8":
        lo = view.getUint8(at);
        mask = 0xff;
        break;
      case "u16le":
        lo = view.getUint16(at, true);
        mask = 0xffff;
        break;
      case "u16be":
        lo = view.getUint16(at, false);
        mask = 0xffff;
        break;
      case "u32le":
        lo = view.getUint32(at, true);
        break;
      case "u32be":
        lo = view.getUint32(at, false);
        break;
      case "u64le":
        lo = view.getUint32(at, true);
        hi = view.getUint32(at + 4, true);
        break;
      case "u64be":
        hi = view.getUint32(at, false);
        lo = view.getUint32(at + 4, false);
        break;
    }
    if (this.#haveSeq) {
      // expected = last + 1, modulo the type's range (64-bit: carry into the high word)
      const nextLo = mask === 0xffffffff ? (this.#seqLo + 1) >>> 0 : (this.#seqLo + 1) & mask;
      const nextHi = this.#s.seq!.type.startsWith("u64") && nextLo === 0
        ? (this.#seqHi + 1) >>> 0
        : this.#seqHi;
      if (lo !== nextLo || hi !== nextHi) {
        this.#stats[RING_STAT.gaps]!++;
        this.#discontinuity();
      }
    }
    this.#haveSeq = true;
    this.#seqHi = hi;
    this.#seqLo = lo;
  }

  #discontinuity(): void {
    if (this.#partialFrames > 0) this.#emit();
    this.#dec.reset();
    this.#haveSeq = false;
    this.#stats[RING_STAT.resets]!++;
  }

  #emit(): void {
    const frames = this.#partialFrames;
    this.#partialFrames = 0;
    this.#queue.push(this.#partialSource, 0, this.#s.headerBytes + frames * this.#frameBytes);
    this.#stats[RING_STAT.samplesOut]! += frames;
  }

  lost(): void {
    this.#discontinuity();
  }

  due(nowMs: number): number {
    if (this.#partialFrames === 0) return Infinity;
    return Math.max(0, this.#partialSince + SAMPLES_FLUSH_MS - nowMs);
  }

  idle(nowMs: number): void {
    if (this.#partialFrames > 0 && nowMs - this.#partialSince >= SAMPLES_FLUSH_MS) this.#emit();
  }

  finish(): void {
    if (this.#partialFrames > 0) this.#emit();
  }
}

/** Creates the mode `options` ask for, writing to `queue` and counting in `stats`. */
export function createMode(
  options: ResolvedDecimate,
  queue: OutputQueue,
  stats: Float64Array,
): DecimationMode {
  switch (options.mode) {
    case "packet":
      return new PacketMode(options.factor, queue, stats);
    case "rate":
      return new RateMode(options.maxRate, queue, stats);
    case "samples":
      if (options.samples === null) throw new TypeError("Samples mode without samples options");
      return new SamplesMode(options.samples, options.factor, queue, stats);
    default: {
      const never: never = options.mode;
      throw new TypeError(`Unknown decimation mode "${String(never)}"`);
    }
  }
}

/** Records read in place, in order: what `RingConsumer` offers. */
export interface RecordStream extends RecordSource {
  /** Shows the oldest record (sets `offset`, `length`, `index`); -1 when there is none. */
  peek(): number;
  /** Releases the record shown. */
  advance(): void;
  /** Whether a record is waiting. */
  hasData(): boolean;
  readonly offset: number;
  readonly length: number;
  readonly index: number;
}

/**
 * Drains one channel's ring into its mode: tracks stream positions across the ring's 32-bit
 * indices (a jump means datagrams lost to overruns) and sends the mode's output.
 */
export class ChannelDecimator {
  readonly #source: RecordStream;
  readonly #mode: DecimationMode;
  readonly #queue: OutputQueue;
  #started = false;
  #last = 0;
  #position = 0;

  constructor(consumer: RecordStream, mode: DecimationMode, queue: OutputQueue) {
    this.#source = consumer;
    this.#mode = mode;
    this.#queue = queue;
  }

  /** Whether the ring holds a record. */
  hasData(): boolean {
    return this.#source.hasData();
  }

  /** Handles up to `max` records, then sends the output. Returns how many it handled. */
  drain(max: number, nowMs: number): number {
    const src = this.#source;
    const mode = this.#mode;
    let n = 0;
    while (n < max && src.peek() >= 0) {
      const idx = src.index;
      if (this.#started) {
        const delta = (idx - this.#last) >>> 0;
        if (delta > 1) mode.lost(delta - 1);
        this.#position += delta === 0 ? 1 : delta;
      } else {
        this.#started = true;
        this.#position = idx;
      }
      this.#last = idx;
      mode.push(src, src.offset, src.length, this.#position, nowMs);
      src.advance();
      n++;
    }
    mode.idle(nowMs);
    this.#queue.flush();
    return n;
  }

  /** Milliseconds until held-back output is due (Infinity: none). */
  due(nowMs: number): number {
    return this.#mode.due(nowMs);
  }

  /** Sends held-back output that is due. */
  idle(nowMs: number): void {
    this.#mode.idle(nowMs);
    this.#queue.flush();
  }

  /** Sends everything held back. */
  finish(): void {
    this.#mode.finish();
    this.#queue.flush();
  }
}
