/// <reference lib="deno.worker" />
/**
 * Test Worker: publishes `count` records into a ring. Record k has length 1 + (k * 37) % span and
 * byte j = (k + j * 13) & 255, with k as a u32 LE in its first 4 bytes when long enough. When the
 * ring is full it waits a little and moves on (the record is an overrun).
 */
import { RingProducer } from "../../../src/decimate/ring.ts";
import type { RingHandle } from "../../../src/decimate/ring.ts";

/** Fills `buf` with record `k` at `offset`; returns its length. */
export function fillRecord(buf: Uint8Array, offset: number, k: number, span = 700): number {
  const len = 1 + (k * 37) % span;
  for (let j = 0; j < len; j++) buf[offset + j] = (k + j * 13) & 255;
  if (len >= 4) new DataView(buf.buffer, buf.byteOffset).setUint32(offset, k, true);
  return len;
}

if (import.meta.main) {
  self.onmessage = (
    e: MessageEvent<{ ring: RingHandle; count: number; offset: number; span: number }>,
  ) => {
    const { ring, count, offset, span } = e.data;
    const p = new RingProducer(ring);
    const buf = new Uint8Array(4096);
    const pause = new Int32Array(new SharedArrayBuffer(4));
    let full = 0;
    for (let k = 0; k < count; k++) {
      const len = fillRecord(buf, offset, k, span);
      if (!p.publish(buf, offset, len)) {
        full++;
        Atomics.wait(pause, 0, 0, 0.05);
      }
    }
    self.postMessage({ full });
  };
}
