import assert from "node:assert/strict";
import {
  fillPattern,
  hasPattern,
  patternByte,
  payloadSendNs,
  payloadSequence,
  readU64,
  stampPayload,
  writeU64,
} from "../../../src/traffic/payload.ts";

Deno.test("stampPayload writes the sequence and the send time as u64 little-endian, like gen.c", () => {
  const buf = new Uint8Array(32);
  const view = new DataView(buf.buffer);
  stampPayload(view, 8, 0x0102030405, 0x1122334455667);
  // byte layout of gen.c: uint64 seq at 0, uint64 CLOCK_MONOTONIC ns at 8, both host order (LE)
  assert.deepEqual([...buf.subarray(8, 24)], [
    0x05,
    0x04,
    0x03,
    0x02,
    0x01,
    0,
    0,
    0,
    0x67,
    0x56,
    0x45,
    0x34,
    0x23,
    0x12,
    0x01,
    0,
  ]);
  assert.equal(view.getBigUint64(8, true), 0x0102030405n);
  assert.equal(view.getBigUint64(16, true), 0x1122334455667n);
  assert.equal(payloadSequence(view, 8), 0x0102030405);
  assert.equal(payloadSendNs(view, 8), 0x1122334455667);
});

Deno.test("writeU64 and readU64 round-trip every magnitude up to 2^53 - 1", () => {
  const view = new DataView(new ArrayBuffer(8));
  for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1e15 + 7, 2 ** 53 - 1]) {
    writeU64(view, 0, v);
    assert.equal(view.getBigUint64(0, true), BigInt(v));
    assert.equal(readU64(view, 0), v);
  }
});

Deno.test("fillPattern writes the offset pattern after the header and hasPattern detects a change", () => {
  const buf = new Uint8Array(200);
  fillPattern(buf, 50, 100);
  assert.equal(buf[50 + 15], 0, "the header is left alone");
  assert.equal(buf[50 + 16], patternByte(16));
  assert.equal(buf[150], 0, "nothing written past the payload");
  assert.ok(hasPattern(buf, 50, 100));
  buf[50 + 70]! ^= 1;
  assert.ok(!hasPattern(buf, 50, 100));
});
