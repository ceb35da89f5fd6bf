/**
 * The test payload of `chanrelay send` / `listen`, the same layout as ../shared/bench/gen.c:
 * bytes 0..7 a u64 LE sequence number (0, 1, 2, …), bytes 8..15 a u64 LE send time in CLOCK_MONOTONIC
 * nanoseconds, then a fixed pattern that depends only on the byte's offset. Every function works
 * in place on preallocated buffers and allocates nothing.
 */

/** Bytes taken by the sequence number and the send stamp. */
export const HEADER_SIZE = 16;
/** The smallest payload that carries the header. */
export const MIN_PAYLOAD_SIZE = HEADER_SIZE;
/** The default payload size of `chanrelay send`. */
export const DEFAULT_PAYLOAD_SIZE = 64;

const TWO_32 = 4294967296;

/** The pattern byte at `offset` (≥ 16) of every payload: `(offset * 7 + 0xa5) & 0xff`. */
export function patternByte(offset: number): number {
  return (offset * 7 + 0xa5) & 0xff;
}

/** Fills bytes 16 .. `size`-1 of the payload at `start` of `buf` with the pattern (once per slot). */
export function fillPattern(buf: Uint8Array, start: number, size: number): void {
  for (let i = HEADER_SIZE; i < size; i++) buf[start + i] = patternByte(i);
}

/** Whether bytes 16 .. `size`-1 of the payload at `start` carry the pattern. */
export function hasPattern(buf: Uint8Array, start: number, size: number): boolean {
  for (let i = HEADER_SIZE; i < size; i++) {
    if (buf[start + i] !== patternByte(i)) return false;
  }
  return true;
}

/** Writes a non-negative integer below 2^53 as a u64 LE at `offset` of `view`. */
export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/** Reads a u64 LE at `offset` of `view` as a number (exact below 2^53). */
export function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * TWO_32;
}

/** Stamps the payload at `start`: sequence number `seq` and send time `sendNs`. */
export function stampPayload(view: DataView, start: number, seq: number, sendNs: number): void {
  writeU64(view, start, seq);
  writeU64(view, start + 8, sendNs);
}

/** The sequence number of the payload at `start`. */
export function payloadSequence(view: DataView, start: number): number {
  return readU64(view, start);
}

/** The send time (ns, CLOCK_MONOTONIC of the sender) of the payload at `start`. */
export function payloadSendNs(view: DataView, start: number): number {
  return readU64(view, start + 8);
}
