/**
 * A lock-free single-producer single-consumer ring of variable-length datagrams in a
 * SharedArrayBuffer, from a channel Worker (the relay hot path) to a decimator Worker.
 *
 * Layout of the ring's SharedArrayBuffer (byte offsets):
 * - 0: head (Int32, producer's free-running byte position), alone on its cache line
 * - 64: tail (Int32, consumer's free-running byte position), alone on its cache line
 * - 128: capacity in bytes (Int32, a power of two); 132: keep-every (Int32, see `createRing`)
 * - 192: producer statistics (Float64 each, see `RING_STAT`)
 * - 256: consumer statistics (Float64 each)
 * - 512: the data area
 *
 * Each record is 8-byte aligned: u32 payload length, u32 stream index (the datagram's position
 * in the channel's stream, counting overruns, modulo 2^32), then the payload padded to 8 bytes. A
 * record that does not fit before the end of the data area is preceded by a skip marker (length
 * 0xffffffff) and written at its start. Positions wrap modulo 2^32 (capacity ≤ 2^30).
 *
 * The consumer sleeps on a separate "bell" (an Int32Array in its own SharedArrayBuffer, shared by
 * every ring one decimator Worker consumes): it sets the bell's waiting flag, rechecks the rings,
 * then waits. A producer notifies only when the flag is set, so while the consumer is busy a
 * publish costs one extra atomic load.
 */

/** Byte offset of the head index. */
const HEAD = 0;
/** Int32 index of the tail. */
const TAIL = 16;
/** Int32 index of the capacity. */
const CAP = 32;
/** Int32 index of the producer-side prefilter: only stream positions 0, k, 2k… are published. */
const KEEP_EVERY = 33;
/** Byte offset of the data area. */
const DATA = 512;
/** Skip marker: the rest of the data area is unused, the next record is at its start. */
const SKIP = 0xffffffff;

/** Int32 index of the waiting flag in a bell. */
const BELL_WAITING = 0;
/** Int32 index of the stop flag in a bell. */
const BELL_STOP = 1;
/** Bytes of a bell's SharedArrayBuffer. */
const BELL_BYTES = 64;

/** Float64 indices of the ring's statistics in its SharedArrayBuffer. */
export const RING_STAT = {
  /** Producer: datagrams put in the ring. */
  published: 24,
  /** Producer: datagrams dropped for decimation because the ring was full (`decimate_overruns`). */
  overruns: 25,
  /** Producer: payload bytes put in the ring. */
  publishedBytes: 26,
  /** Producer: datagrams passed over by the keep-every prefilter (packet mode). */
  skipped: 27,
  /** Consumer: datagrams taken from the ring. */
  consumed: 32,
  /** Consumer: datagrams sent. */
  datagramsOut: 33,
  /** Consumer: sample frames sent (samples mode). */
  samplesOut: 34,
  /** Consumer: filter state resets (header sequence gaps, datagrams lost to overruns, bad datagrams). */
  resets: 35,
  /** Consumer: sequence gaps seen in the headers (samples mode with `seq`). */
  gaps: 36,
  /** Consumer: output datagrams that could not be sent. */
  sendErrors: 37,
  /** Consumer: input datagrams skipped as malformed (samples mode). */
  bad: 38,
  /** Consumer: bytes sent. */
  bytesOut: 39,
  /** Consumer: errno of the last send error. */
  lastErrno: 40,
} as const;

/** Name of a ring statistic. */
export type RingStatName = keyof typeof RING_STAT;

/** A ring's statistics, read without locks (each value is written by one thread). */
export type RingStats = Record<RingStatName, number>;

/**
 * What a producer or consumer needs: the ring and the bell of the Worker that consumes it. Both
 * are SharedArrayBuffers, so a handle can be posted to another Worker.
 */
export interface RingHandle {
  readonly sab: SharedArrayBuffer;
  readonly bell: SharedArrayBuffer;
}

/** Default ring size: 1 MiB. */
export const DEFAULT_RING_BYTES = 1 << 20;

/** Creates a bell: one per consuming Worker, shared by its rings. */
export function createBell(): SharedArrayBuffer {
  return new SharedArrayBuffer(BELL_BYTES);
}

/**
 * Creates a ring with a data area of `bytes` (a power of two, 4 KiB to 1 GiB). `bell` defaults to
 * a new one. With `keepEvery` k > 1 the producer publishes only stream positions 0, k, 2k… and
 * passes over the others without copying them (packet mode's choice, made where it is cheapest).
 */
export function createRing(
  bytes: number = DEFAULT_RING_BYTES,
  bell: SharedArrayBuffer = createBell(),
  keepEvery = 1,
): RingHandle {
  if (!Number.isInteger(bytes) || bytes < 4096 || bytes > 1 << 30 || (bytes & (bytes - 1)) !== 0) {
    throw new RangeError(`Bad ring size "${bytes}": expected a power of two from 4096 to 2^30`);
  }
  if (!Number.isInteger(keepEvery) || keepEvery < 1 || keepEvery > 0x7fffffff) {
    throw new RangeError(`Bad keep-every "${keepEvery}"`);
  }
  const sab = new SharedArrayBuffer(DATA + bytes);
  const ctl = new Int32Array(sab);
  ctl[CAP] = bytes;
  ctl[KEEP_EVERY] = keepEvery;
  return { sab, bell };
}

/** A ring's keep-every setting (see `createRing`). */
export function ringKeepEvery(handle: RingHandle): number {
  checkHandle(handle);
  return Math.max(1, new Int32Array(handle.sab, 0, DATA / 4)[KEEP_EVERY]!);
}

function checkHandle(handle: RingHandle): number {
  if (!(handle.sab instanceof SharedArrayBuffer) || !(handle.bell instanceof SharedArrayBuffer)) {
    throw new TypeError("A ring handle needs two SharedArrayBuffers");
  }
  const cap = new Int32Array(handle.sab, 0, DATA / 4)[CAP]!;
  if (cap < 4096 || (cap & (cap - 1)) !== 0 || handle.sab.byteLength !== DATA + cap) {
    throw new TypeError("Not a ring: bad capacity");
  }
  if (handle.bell.byteLength !== BELL_BYTES) throw new TypeError("Not a bell");
  return cap;
}

/** Reads a ring's statistics. */
export function readRingStats(handle: RingHandle): RingStats {
  const f = new Float64Array(handle.sab, 0, DATA / 8);
  const out = {} as RingStats;
  for (const [k, i] of Object.entries(RING_STAT)) out[k as RingStatName] = f[i]!;
  return out;
}

/** The largest payload a ring of `capacity` data bytes takes (a record may use half the ring). */
export function maxPayload(capacity: number): number {
  return capacity / 2 - 8;
}

/**
 * The producer side, used on the relay hot path: `publish` never blocks and allocates nothing
 * (payloads whose source is 4-byte aligned are copied by word; others fall back to
 * `TypedArray.set`, which allocates a view). Several producers on one ring are not allowed; a new
 * producer may take over from a dead one (it resumes from the ring's head and counters).
 */
export class RingProducer {
  readonly #ctl: Int32Array;
  readonly #bell: Int32Array;
  readonly #u8: Uint8Array;
  readonly #u32: Uint32Array;
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly #stats: Float64Array;
  readonly #cap: number;
  readonly #mask: number;
  readonly #maxRecord: number;
  readonly #keepEvery: number;
  #head: number;
  #tail: number;
  #index: number;
  /** Datagrams still to pass over before the next one kept (keep-every prefilter). */
  #countdown: number;
  #srcBuffer: ArrayBufferLike | null = null;
  #srcI32: Int32Array = new Int32Array(0);
  #srcF64: Float64Array = new Float64Array(0);

  constructor(handle: RingHandle) {
    const cap = checkHandle(handle);
    this.#ctl = new Int32Array(handle.sab, 0, DATA / 4);
    this.#bell = new Int32Array(handle.bell);
    this.#u8 = new Uint8Array(handle.sab, DATA, cap);
    this.#u32 = new Uint32Array(handle.sab, DATA, cap / 4);
    this.#i32 = new Int32Array(handle.sab, DATA, cap / 4);
    this.#f64 = new Float64Array(handle.sab, DATA, cap / 8);
    this.#stats = new Float64Array(handle.sab, 0, DATA / 8);
    this.#cap = cap;
    this.#mask = cap - 1;
    this.#maxRecord = cap / 2;
    this.#head = Atomics.load(this.#ctl, HEAD);
    this.#tail = Atomics.load(this.#ctl, TAIL);
    const position = this.#stats[RING_STAT.published]! + this.#stats[RING_STAT.overruns]! +
      this.#stats[RING_STAT.skipped]!;
    this.#index = position % 4294967296;
    this.#keepEvery = Math.max(1, this.#ctl[KEEP_EVERY]!);
    const r = position % this.#keepEvery;
    this.#countdown = r === 0 ? 0 : this.#keepEvery - r;
  }

  /** The largest payload `publish` accepts. */
  get maxPayload(): number {
    return maxPayload(this.#cap);
  }

  /**
   * Copies `length` bytes of `src` from `offset` into the ring and wakes the consumer if it
   * sleeps. Returns false when the ring is full (or the payload larger than `maxPayload`): the
   * datagram is dropped for decimation and counted as an overrun. A datagram the keep-every
   * prefilter passes over returns true at once.
   */
  publish(src: Uint8Array, offset: number, length: number): boolean {
    const index = this.#index;
    this.#index = (index + 1) >>> 0;
    if (this.#countdown !== 0) {
      this.#countdown--;
      this.#stats[RING_STAT.skipped]!++;
      return true;
    }
    this.#countdown = this.#keepEvery - 1;
    const rec = (length + 15) & ~7;
    const head = this.#head;
    const pos = head & this.#mask;
    const toEnd = this.#cap - pos;
    const need = toEnd < rec ? toEnd + rec : rec;
    const stats = this.#stats;
    if (rec > this.#maxRecord) {
      stats[RING_STAT.overruns]!++;
      return false;
    }
    if (this.#cap - ((head - this.#tail) | 0) < need) {
      this.#tail = Atomics.load(this.#ctl, TAIL);
      if (this.#cap - ((head - this.#tail) | 0) < need) {
        stats[RING_STAT.overruns]!++;
        return false;
      }
    }
    let p = pos;
    if (toEnd < rec) {
      this.#u32[pos >> 2] = SKIP;
      p = 0;
    }
    this.#u32[p >> 2] = length;
    this.#u32[(p >> 2) + 1] = index;
    this.#copy(src, offset, length, p + 8);
    const next = (head + need) | 0;
    this.#head = next;
    Atomics.store(this.#ctl, HEAD, next);
    stats[RING_STAT.published]!++;
    stats[RING_STAT.publishedBytes]! += length;
    if (Atomics.load(this.#bell, BELL_WAITING) !== 0) {
      Atomics.store(this.#bell, BELL_WAITING, 0);
      Atomics.notify(this.#bell, BELL_WAITING);
    }
    return true;
  }

  #copy(src: Uint8Array, offset: number, length: number, dst: number): void {
    const start = src.byteOffset + offset;
    if (src.buffer !== this.#srcBuffer) {
      const b = src.buffer;
      this.#srcBuffer = b;
      this.#srcI32 = new Int32Array(b, 0, b.byteLength >> 2);
      this.#srcF64 = new Float64Array(b, 0, b.byteLength >> 3);
    }
    if ((start & 7) === 0) {
      // 8 bytes at a time; Float64Array copies preserve NaN bit patterns in V8 (tested)
      const s = start >> 3;
      const d = dst >> 3;
      const n = (length + 7) >> 3;
      const f = this.#f64;
      const sf = this.#srcF64;
      if (s + n <= sf.length) {
        for (let i = 0; i < n; i++) f[d + i] = sf[s + i]!;
        return;
      }
    } else if ((start & 3) === 0) {
      const s = start >> 2;
      const d = dst >> 2;
      const n = (length + 3) >> 2;
      const w = this.#i32;
      const sw = this.#srcI32;
      if (s + n <= sw.length) {
        for (let i = 0; i < n; i++) w[d + i] = sw[s + i]!;
        return;
      }
    }
    this.#u8.set(src.subarray(offset, offset + length), dst);
  }
}

/**
 * The consumer side: `peek` shows the oldest record in place (`offset`, `length`, `index` into
 * `bytes`), `advance` releases it. No copies.
 */
export class RingConsumer {
  /** The data area; records' payloads are read in place from it. */
  readonly bytes: Uint8Array;
  /** A DataView over `bytes`. */
  readonly view: DataView;
  /** A Float64Array over `bytes`, for copying records by word. */
  readonly words: Float64Array;
  /** The ring's statistics, for the consumer's counters (`RING_STAT` indices). */
  readonly stats: Float64Array;
  /** Payload offset in `bytes` of the record shown by the last successful `peek`. */
  offset = 0;
  /** Payload length of that record. */
  length = 0;
  /** Stream index (mod 2^32) of that record. */
  index = 0;
  readonly #ctl: Int32Array;
  readonly #u32: Uint32Array;
  readonly #cap: number;
  readonly #mask: number;
  #tail: number;
  #head: number;
  #next = 0;

  constructor(handle: RingHandle) {
    const cap = checkHandle(handle);
    this.#ctl = new Int32Array(handle.sab, 0, DATA / 4);
    this.bytes = new Uint8Array(handle.sab, DATA, cap);
    this.view = new DataView(handle.sab, DATA, cap);
    this.words = new Float64Array(handle.sab, DATA, cap / 8);
    this.#u32 = new Uint32Array(handle.sab, DATA, cap / 4);
    this.stats = new Float64Array(handle.sab, 0, DATA / 8);
    this.#cap = cap;
    this.#mask = cap - 1;
    this.#tail = Atomics.load(this.#ctl, TAIL);
    this.#head = this.#tail;
  }

  /** Whether a record is waiting (an atomic load of the head). */
  hasData(): boolean {
    if (this.#head !== this.#tail) return true;
    this.#head = Atomics.load(this.#ctl, HEAD);
    return this.#head !== this.#tail;
  }

  /**
   * Shows the oldest record: returns its payload length (also in `length`, with `offset` and
   * `index`), or -1 when the ring is empty. Call `advance()` once done with it.
   */
  peek(): number {
    if (this.#head === this.#tail) {
      this.#head = Atomics.load(this.#ctl, HEAD);
      if (this.#head === this.#tail) return -1;
    }
    let pos = this.#tail & this.#mask;
    let skipped = 0;
    let len = this.#u32[pos >> 2]!;
    if (len === SKIP) {
      skipped = this.#cap - pos;
      pos = 0;
      len = this.#u32[0]!;
    }
    this.offset = pos + 8;
    this.length = len;
    this.index = this.#u32[(pos >> 2) + 1]!;
    this.#next = (this.#tail + skipped + ((len + 15) & ~7)) | 0;
    return len;
  }

  /** Releases the record shown by the last `peek`. */
  advance(): void {
    this.#tail = this.#next;
    Atomics.store(this.#ctl, TAIL, this.#tail);
    this.stats[RING_STAT.consumed]!++;
  }

  /**
   * Calls `fn(bytes, offset, length, index)` for up to `max` records in order, releasing each
   * after its call. Returns how many it handled.
   */
  consume(
    fn: (bytes: Uint8Array, offset: number, length: number, index: number) => void,
    max = Infinity,
  ): number {
    let n = 0;
    while (n < max && this.peek() >= 0) {
      fn(this.bytes, this.offset, this.length, this.index);
      this.advance();
      n++;
    }
    return n;
  }
}

/**
 * The consumer's end of a bell: arm it, recheck the rings, then sleep until a producer publishes,
 * `wake()` is called, or the timeout passes.
 */
export class Bell {
  readonly #bell: Int32Array;

  constructor(bell: SharedArrayBuffer) {
    if (!(bell instanceof SharedArrayBuffer) || bell.byteLength !== BELL_BYTES) {
      throw new TypeError("Not a bell");
    }
    this.#bell = new Int32Array(bell);
  }

  /** Announces that the consumer is about to sleep: producers notify from now on. */
  arm(): void {
    Atomics.store(this.#bell, BELL_WAITING, 1);
  }

  /** Withdraws the announcement (there was data after all, or the sleep ended). */
  disarm(): void {
    Atomics.store(this.#bell, BELL_WAITING, 0);
  }

  /**
   * Sleeps without blocking the event loop until notified or `timeoutMs` passes. Call after
   * `arm()` and a recheck; returns at once if a producer has published since `arm()`.
   */
  async sleep(timeoutMs: number): Promise<void> {
    const r = Atomics.waitAsync(this.#bell, BELL_WAITING, 1, timeoutMs);
    if (r.async) await r.value;
    Atomics.store(this.#bell, BELL_WAITING, 0);
  }

  /** Sleeps blocking the thread (for consumers that have no event loop to keep). */
  sleepSync(timeoutMs: number): void {
    Atomics.wait(this.#bell, BELL_WAITING, 1, timeoutMs);
    Atomics.store(this.#bell, BELL_WAITING, 0);
  }

  /** Wakes a sleeping consumer (from any thread). */
  wake(): void {
    Atomics.store(this.#bell, BELL_WAITING, 0);
    Atomics.notify(this.#bell, BELL_WAITING);
  }

  /** Sets the stop flag and wakes the consumer. */
  stop(): void {
    Atomics.store(this.#bell, BELL_STOP, 1);
    this.wake();
  }

  /** Whether `stop()` was called. */
  get stopped(): boolean {
    return Atomics.load(this.#bell, BELL_STOP) !== 0;
  }
}
