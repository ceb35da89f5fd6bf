/** Deterministic datagram payloads for end-to-end checks: (stream id, seq) → bytes. */
import type { DatagramBatch } from "../../ffi/udp_socket.ts";

/** Payload size of datagram `seq` of stream `id` (16..1416 bytes). */
export function patternSize(id: number, seq: number): number {
  return 16 + ((seq * 37 + id * 101) % 1401);
}

/** Writes datagram `seq` of stream `id` into slot `i` of `batch`. */
export function fillPattern(batch: DatagramBatch, i: number, id: number, seq: number): void {
  const size = patternSize(id, seq);
  const o = batch.offset(i);
  const d = batch.data;
  const v = new DataView(d.buffer, d.byteOffset);
  v.setUint32(o, id, true);
  v.setUint32(o + 4, seq, true);
  let x = (seq * 2654435761 + id) >>> 0;
  for (let j = 8; j < size; j++) {
    x = (x * 1103515245 + 12345) >>> 0;
    d[o + j] = x >>> 24;
  }
  batch.setLength(i, size);
}

/** Checks slot `i` holds exactly datagram `seq` of stream `id`; returns an error text or null. */
export function checkPattern(
  batch: DatagramBatch,
  i: number,
  id: number,
  seq: number,
): string | null {
  const size = patternSize(id, seq);
  const o = batch.offset(i);
  const d = batch.data;
  const v = new DataView(d.buffer, d.byteOffset);
  if (batch.lengths[i] !== size) {
    return `stream ${id}: expected seq ${seq} (${size} B), got ${batch.lengths[i]} B with seq ${
      batch.lengths[i]! >= 8 ? v.getUint32(o + 4, true) : "?"
    }`;
  }
  if (v.getUint32(o, true) !== id) {
    return `stream ${id} seq ${seq}: wrong stream ${v.getUint32(o, true)}`;
  }
  if (v.getUint32(o + 4, true) !== seq) {
    return `stream ${id}: expected seq ${seq}, got ${v.getUint32(o + 4, true)}`;
  }
  let x = (seq * 2654435761 + id) >>> 0;
  for (let j = 8; j < size; j++) {
    x = (x * 1103515245 + 12345) >>> 0;
    if (d[o + j] !== x >>> 24) return `stream ${id} seq ${seq}: byte ${j} differs`;
  }
  return null;
}
