/**
 * Output datagrams of one decimated channel, gathered into the slots of a batch (a
 * `DatagramBatch` in the decimator Worker) and handed to a send function when the batch is full or
 * flushed.
 */

/** Slots to write output datagrams into: `DatagramBatch` has this shape. */
export interface OutputSlots {
  /** Slot `i` starts at `offset(i)` in `data`. */
  readonly data: Uint8Array;
  /** Number of slots. */
  readonly capacity: number;
  /** Bytes per slot (a multiple of 8). */
  readonly slotSize: number;
  /** Byte offset of slot `i`. */
  offset(i: number): number;
  /** Sets the length of datagram `i`. */
  setLength(i: number, length: number): void;
}

/** Something that holds datagram bytes with aligned views: a ring's consumer, or a plain buffer. */
export interface RecordSource {
  /** The bytes. */
  readonly bytes: Uint8Array;
  /** A DataView over `bytes`. */
  readonly view: DataView;
  /** A Float64Array over `bytes` (which must start 8-byte aligned), for copying by word. */
  readonly words: Float64Array;
}

/** Builds a `RecordSource` over `bytes` (its byteOffset must be a multiple of 8). */
export function recordSource(bytes: Uint8Array): RecordSource {
  if (bytes.byteOffset % 8 !== 0) throw new RangeError("A record source must be 8-byte aligned");
  return {
    bytes,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    words: new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 3),
  };
}

/** Sends datagrams 0..count-1 of `slots`. */
export type SendSlots = (slots: OutputSlots, count: number) => void;

/** Fills slots in order and sends them in batches. Allocates nothing per datagram. */
export class OutputQueue {
  /** The slots. */
  readonly slots: OutputSlots;
  readonly #send: SendSlots;
  readonly #words: Float64Array;
  #count = 0;

  constructor(slots: OutputSlots, send: SendSlots) {
    if (slots.slotSize % 8 !== 0 || slots.data.byteOffset % 8 !== 0) {
      throw new RangeError("Output slots must be 8-byte aligned");
    }
    this.slots = slots;
    this.#send = send;
    this.#words = new Float64Array(
      slots.data.buffer,
      slots.data.byteOffset,
      slots.data.byteLength >> 3,
    );
  }

  /** Datagrams waiting to be sent. */
  get pending(): number {
    return this.#count;
  }

  /** The largest datagram a slot holds. */
  get maxDatagram(): number {
    return this.slots.slotSize;
  }

  /**
   * Appends a datagram of `length` bytes copied from `src` at byte `offset` (a multiple of 8;
   * up to 7 bytes past the end may be read). Sends the batch first when it is full.
   */
  push(src: RecordSource, offset: number, length: number): void {
    if (this.#count === this.slots.capacity) this.flush();
    const i = this.#count;
    const dst = this.slots.offset(i);
    const n = (length + 7) >> 3;
    if ((offset & 7) === 0 && (offset >> 3) + n <= src.words.length) {
      const s = offset >> 3;
      const d = dst >> 3;
      const from = src.words;
      const to = this.#words;
      for (let k = 0; k < n; k++) to[d + k] = from[s + k]!;
    } else {
      const from = src.bytes;
      const to = this.slots.data;
      for (let k = 0; k < length; k++) to[dst + k] = from[offset + k]!;
    }
    this.slots.setLength(i, length);
    this.#count = i + 1;
  }

  /** Sends what is queued. */
  flush(): void {
    const n = this.#count;
    if (n === 0) return;
    this.#count = 0;
    this.#send(this.slots, n);
  }
}
