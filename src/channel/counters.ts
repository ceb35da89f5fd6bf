/**
 * Per-channel counters in a SharedArrayBuffer: the channel Worker writes them, the main thread
 * (stats log, metrics) reads them without messages.
 *
 * Every slot has exactly one writer thread (the channel Worker, or the supervisor for the
 * supervisor's own slots), which stores whole float64 values; readers load them. Aligned 8-byte
 * stores are single instructions on every 64-bit target Deno supports, so a reader never sees a
 * torn value, and float64 counts exactly up to 2^53. The control words are an Int32Array used
 * with Atomics.
 */

/** Channel-wide counter slots. */
export const CTR = {
  RX_DATAGRAMS: 0,
  RX_BYTES: 1,
  RX_BATCHES: 2,
  RX_TRUNCATED: 3,
  RX_KERNEL_DROPS: 4,
  RX_ERRORS: 5,
  /** Wall time (ms) of the latest receive, as of the loop's last periodic check (every ~5 ms). */
  RX_LAST_MS: 6,
  RELAY_DATAGRAMS: 7,
  RELAY_ERRORS: 8,
  WORKER_RESTARTS: 9,
  WORKER_STARTED_MS: 10,
  REC_RECORDS: 11,
  REC_BYTES: 12,
  REC_BLOCKS: 13,
  REC_FILES: 14,
  REC_FSYNCS: 15,
  REC_ERRORS: 16,
  REC_UNRECORDED: 17,
  REC_NEXT_SEQ: 18,
  // 19..25: free (decimation counts live in the channel's ring)
  RCVBUF_EFFECTIVE: 26,
  /** seq of the last record in a committed block (-1: none yet). */
  REC_COMMITTED_SEQ: 27,
} as const;

/** Number of channel-wide slots reserved (room to grow). */
export const CHANNEL_SLOTS = 48;
/** Most relay destinations per channel. */
export const MAX_DESTINATIONS = 32;
/** Slots per destination. */
export const DEST_SLOTS = 4;
/** Per-destination slot offsets. */
export const DEST = { SENT: 0, BYTES: 1, ERRORS: 2, LAST_ERRNO: 3 } as const;

/** Control words (Int32Array, Atomics). */
export const CTL = {
  /** 1: the worker must stop. */
  STOP: 0,
  /** Incremented to request a file rotation. */
  ROTATE: 1,
  /** Worker state, see `WorkerState`. */
  STATE: 2,
  /** The receiving socket's descriptor (for shutdown from the supervisor), or -1. */
  RX_FD: 3,
} as const;
const CTL_SLOTS = 16;

/** What a channel Worker is doing. */
export const WorkerState = { STOPPED: 0, STARTING: 1, RUNNING: 2, FAILED: 3, BACKOFF: 4 } as const;

const FILE_BYTES = 1024;

/** The shared memory of one channel: counters, control words, the current file name. */
export class ChannelShared {
  /** The SharedArrayBuffer itself, to post to the Worker. */
  readonly sab: SharedArrayBuffer;
  /** Counter slots. */
  readonly counters: Float64Array;
  /** Control words. */
  readonly control: Int32Array;
  readonly #file: Uint8Array;

  /** Creates a fresh buffer, or wraps one received from another thread. */
  constructor(sab?: SharedArrayBuffer) {
    const counterBytes = (CHANNEL_SLOTS + MAX_DESTINATIONS * DEST_SLOTS) * 8;
    const total = counterBytes + CTL_SLOTS * 4 + FILE_BYTES;
    this.sab = sab ?? new SharedArrayBuffer(total);
    if (this.sab.byteLength !== total) {
      throw new RangeError("Channel shared buffer has the wrong size");
    }
    this.counters = new Float64Array(this.sab, 0, CHANNEL_SLOTS + MAX_DESTINATIONS * DEST_SLOTS);
    this.control = new Int32Array(this.sab, counterBytes, CTL_SLOTS);
    this.#file = new Uint8Array(this.sab, counterBytes + CTL_SLOTS * 4, FILE_BYTES);
    if (sab === undefined) {
      Atomics.store(this.control, CTL.RX_FD, -1);
      this.counters[CTR.REC_COMMITTED_SEQ] = -1;
    }
  }

  /** Slot index of destination `d`'s counter `field`. */
  static dest(d: number, field: number): number {
    return CHANNEL_SLOTS + d * DEST_SLOTS + field;
  }

  /** Reads a channel counter. */
  get(slot: number): number {
    return this.counters[slot]!;
  }

  /** Reads destination `d`'s counter. */
  getDest(d: number, field: number): number {
    return this.counters[ChannelShared.dest(d, field)]!;
  }

  /** Sets the current recording file name (written rarely, by the worker). */
  setCurrentFile(name: string): void {
    const bytes = new TextEncoder().encode(name).subarray(0, FILE_BYTES - 4);
    const v = new DataView(this.#file.buffer, this.#file.byteOffset, 4);
    v.setUint32(0, 0, true);
    this.#file.set(bytes, 4);
    v.setUint32(0, bytes.length, true);
  }

  /** The current recording file name, or "" (a read racing a write may see ""). */
  currentFile(): string {
    const v = new DataView(this.#file.buffer, this.#file.byteOffset, 4);
    const n = v.getUint32(0, true);
    if (n === 0 || n > FILE_BYTES - 4) return "";
    return new TextDecoder().decode(this.#file.slice(4, 4 + n));
  }
}
