/**
 * Loss, duplicate and reorder accounting over the sequence numbers of received datagrams, in a
 * preallocated ring bitmap that slides with the highest sequence number: it handles any number of
 * datagrams with fixed memory and allocates nothing per datagram.
 */

/** What `SequenceTracker.record` made of a sequence number. */
export const SEQ = {
  /** New, and above every sequence number seen before. */
  IN_ORDER: 0,
  /** New, but below the highest seen so far. */
  REORDERED: 1,
  /** Seen before. */
  DUPLICATE: 2,
  /** So far below the highest that the window no longer covers it: counted new and reordered. */
  LATE: 3,
} as const;

/** One of the `SEQ` values. */
export type SeqKind = (typeof SEQ)[keyof typeof SEQ];

/** The tracker's counts. */
export interface SequenceStats {
  /** Datagrams recorded. */
  received: number;
  /** Distinct sequence numbers. */
  unique: number;
  /** Datagrams whose sequence number had been seen before. */
  duplicates: number;
  /** New datagrams that arrived after a higher sequence number (late ones included). */
  reordered: number;
  /** Reordered datagrams older than the window: counted new, but a duplicate would go unnoticed. */
  late: number;
  /**
   * Sequence numbers never seen: the gaps from the lowest to the highest seen, plus, when
   * `expected` is given, the ones missing at the end (`lowest + expected - 1` above the highest).
   */
  lost: number;
  /** Lowest sequence number seen, or -1. */
  lowest: number;
  /** Highest sequence number seen, or -1. */
  highest: number;
}

/** Default window: 2^23 sequence numbers (1 MiB of bitmap). */
export const DEFAULT_WINDOW = 1 << 23;

/**
 * Tracks sequence numbers (integers from 0 to 2^53). The window is a ring of `window` bits that
 * covers the sequence numbers `highest - window + 1 .. highest`; a number below that is `LATE`.
 */
export class SequenceTracker {
  readonly #window: number;
  readonly #bits: Int32Array;
  #received = 0;
  #unique = 0;
  #duplicates = 0;
  #reordered = 0;
  #late = 0;
  #lowest = -1;
  #highest = -1;

  /** @param window bits in the ring, a power of two ≥ 32 @default DEFAULT_WINDOW */
  constructor(window: number = DEFAULT_WINDOW) {
    if (!Number.isInteger(window) || window < 32 || (window & (window - 1)) !== 0) {
      throw new RangeError(`Window must be a power of two of at least 32, got ${window}`);
    }
    this.#window = window;
    this.#bits = new Int32Array(window >>> 5);
  }

  /** Window size in sequence numbers. */
  get window(): number {
    return this.#window;
  }

  /** Records the arrival of sequence number `seq` and says what it was. */
  record(seq: number): SeqKind {
    this.#received++;
    const w = this.#window;
    if (this.#highest < 0) {
      this.#highest = seq;
      this.#lowest = seq;
      this.#set(seq % w);
      this.#unique++;
      return SEQ.IN_ORDER;
    }
    if (seq > this.#highest) {
      this.#clear(this.#highest + 1, seq - this.#highest);
      this.#highest = seq;
      this.#set(seq % w);
      this.#unique++;
      return SEQ.IN_ORDER;
    }
    if (seq <= this.#highest - w) {
      this.#late++;
      this.#reordered++;
      this.#unique++;
      if (seq < this.#lowest) this.#lowest = seq;
      return SEQ.LATE;
    }
    const p = seq % w;
    if ((this.#bits[p >>> 5]! & (1 << (p & 31))) !== 0) {
      this.#duplicates++;
      return SEQ.DUPLICATE;
    }
    this.#set(p);
    this.#unique++;
    if (seq < this.#lowest) this.#lowest = seq;
    this.#reordered++;
    return SEQ.REORDERED;
  }

  #set(p: number): void {
    this.#bits[p >>> 5]! |= 1 << (p & 31);
  }

  /** Clears the bits of the `n` sequence numbers from `from` as they enter the window. */
  #clear(from: number, n: number): void {
    const w = this.#window;
    const bits = this.#bits;
    if (n >= w) {
      bits.fill(0);
      return;
    }
    let p = from % w;
    while (n > 0) {
      if ((p & 31) === 0 && n >= 32) {
        const words = Math.min(n >>> 5, (w - p) >>> 5);
        bits.fill(0, p >>> 5, (p >>> 5) + words);
        p += words << 5;
        n -= words << 5;
      } else {
        bits[p >>> 5]! &= ~(1 << (p & 31));
        p++;
        n--;
      }
      if (p === w) p = 0;
    }
  }

  /** Datagrams recorded so far. */
  get received(): number {
    return this.#received;
  }

  /** Distinct sequence numbers so far. */
  get unique(): number {
    return this.#unique;
  }

  /**
   * The counts. `expected` (a `--count`) adds the sequence numbers missing after the highest up to
   * `lowest + expected - 1`.
   */
  stats(expected?: number): SequenceStats {
    let span = this.#highest < 0 ? 0 : this.#highest - this.#lowest + 1;
    if (expected !== undefined && expected > span) span = expected;
    return {
      received: this.#received,
      unique: this.#unique,
      duplicates: this.#duplicates,
      reordered: this.#reordered,
      late: this.#late,
      lost: Math.max(0, span - this.#unique),
      lowest: this.#lowest,
      highest: this.#highest,
    };
  }
}
