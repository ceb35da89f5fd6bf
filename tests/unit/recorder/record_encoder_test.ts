import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import avro from "avsc";
import { decodeHeader, encodeHeader, headerMeta } from "../../../src/recorder/avro_schema.ts";
import { datagramType } from "../../../src/recorder/avro_type.ts";
import { AddressCache, encodeRecord, recordSize } from "../../../src/recorder/record_encoder.ts";
import { longSize, writeLong, writePaddedLong } from "../../../src/recorder/varint.ts";
import { formatIPv4 } from "../../../ffi/inet.ts";

/** Spec reference: zig-zag varint through BigInt (exact). */
function refLong(n: number): number[] {
  let z = n >= 0 ? BigInt(n) * 2n : -BigInt(n) * 2n - 1n;
  const out: number[] = [];
  while (z >= 128n) {
    out.push(Number(z & 127n) | 128);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
}

/** A small seeded PRNG (xorshift32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

// avsc's own long encoder rounds negative values below -2^52 (it forms -2n-1 in floating point),
// so identity with avsc is checked on its exact range and the rest against the BigInt reference.
const AVSC_EXACT_MIN = -(2 ** 52);
const AVSC_MAX = 9007199254740990;

Deno.test("writeLong matches the zig-zag reference over the whole safe-integer range", () => {
  const r = rng(1);
  const values = [0, 1, -1, 63, 64, -64, -65, 2 ** 31, -(2 ** 31), 2 ** 52, -(2 ** 52)];
  values.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -(2 ** 52) - 1, -(2 ** 53) + 2);
  for (let i = 0; i < 20000; i++) {
    const mag = Math.floor(r() * 2 ** Math.floor(r() * 54));
    values.push(r() < 0.5 ? -mag : mag);
  }
  const buf = new Uint8Array(16);
  for (const v of values) {
    const end = writeLong(buf, 0, v);
    const want = refLong(v);
    assert.deepEqual([...buf.subarray(0, end)], want, `value ${v}`);
    assert.equal(longSize(v), want.length, `size of ${v}`);
  }
});

Deno.test("padded varints decode to the same value in avsc and take 10 bytes", () => {
  const long = avro.Type.forSchema("long");
  const buf = new Uint8Array(10);
  for (const v of [0, 1, 127, 128, 65536, 2 ** 40 + 3, AVSC_MAX]) {
    writePaddedLong(buf, 0, v);
    assert.notEqual(buf[0], 0);
    const r = long.decode(Buffer.from(buf), 0);
    assert.equal(r.value, v);
    assert.equal(r.offset, 10);
  }
});

Deno.test("encodeRecord output is byte-identical to avsc over random records", () => {
  const type = datagramType();
  const r = rng(42);
  const cache = new AddressCache();
  const out = new Uint8Array(70_000);
  const payloadSizes = [0, 1, 24, 25, 64, 1400, 65507];
  for (let i = 0; i < 3000; i++) {
    let seq: number;
    const k = i % 4;
    if (k === 0) seq = Math.floor(r() * 2 ** 20);
    else if (k === 1) seq = AVSC_MAX - Math.floor(r() * 1000);
    else if (k === 2) seq = Math.floor(r() * AVSC_MAX);
    else seq = AVSC_EXACT_MIN + Math.floor(r() * 2 ** 52);
    const recvTime = Math.floor(r() * 2 ** 53);
    const ip = Math.floor(r() * 2 ** 32);
    const port = Math.floor(r() * 65536);
    const len = i < payloadSizes.length ? payloadSizes[i]! : Math.floor(r() * 2000);
    const payload = new Uint8Array(len);
    for (let j = 0; j < len; j++) payload[j] = Math.floor(r() * 256);
    const addr = cache.get(ip);
    const end = encodeRecord(out, 3, seq, recvTime, addr, port, payload);
    const want: Buffer = type.toBuffer({
      seq,
      recv_time: recvTime,
      src_addr: formatIPv4(ip),
      src_port: port,
      payload: Buffer.from(payload),
    });
    assert.equal(end - 3, want.length, `record ${i}: length`);
    assert.equal(recordSize(seq, recvTime, addr.length, port, len), want.length);
    assert.ok(Buffer.from(out.subarray(3, end)).equals(want), `record ${i} (seq ${seq}) differs`);
  }
});

Deno.test("encodeRecord is exact for negative seq below -2^52, where avsc rounds", () => {
  const type = datagramType();
  const out = new Uint8Array(64);
  const cache = new AddressCache();
  for (const seq of [-(2 ** 52) - 1, -9007199254740989, Number.MIN_SAFE_INTEGER]) {
    const end = encodeRecord(out, 0, seq, 5, cache.get(0x7f000001), 9, new Uint8Array([1]));
    const ref = refLong(seq);
    assert.deepEqual([...out.subarray(0, ref.length)], ref);
    // the rest of the record is what avsc writes for the same fields
    const tail: Buffer = type.toBuffer({
      seq: 0,
      recv_time: 5,
      src_addr: "127.0.0.1",
      src_port: 9,
      payload: Buffer.from([1]),
    });
    assert.ok(Buffer.from(out.subarray(ref.length, end)).equals(tail.subarray(1)));
  }
});

Deno.test("the header encodes every metadata key and decodes back with avsc's reader", () => {
  const sync = new Uint8Array(16).map((_, i) => i * 7 + 1);
  const meta = headerMeta({
    channel: "ch-α",
    host: "h1",
    version: "0.1.0",
    firstSeq: 42,
    startMs: Date.UTC(2026, 0, 2, 3, 4, 5),
  });
  const bytes = encodeHeader(meta, sync);
  const h = decodeHeader(bytes);
  assert.ok(h.ok);
  assert.equal(h.header.length, bytes.length);
  assert.deepEqual(h.header.sync, sync);
  assert.equal(h.header.meta["chanrelay.channel"], "ch-α");
  assert.equal(h.header.meta["chanrelay.first_seq"], "42");
  assert.equal(h.header.meta["chanrelay.start_time"], "2026-01-02T03:04:05.000Z");
  assert.equal(h.header.meta["avro.codec"], "null");
  const schema = JSON.parse(h.header.meta["avro.schema"]!);
  assert.equal(schema.fields[1].type.logicalType, "timestamp-micros");
});

Deno.test("AddressCache returns the same bytes for a sender and survives collisions", () => {
  const c = new AddressCache();
  const a = c.get(0x0a000001);
  assert.equal(c.get(0x0a000001), a);
  for (let i = 0; i < 1000; i++) c.get(0xc0a80000 + i);
  const again = c.get(0x0a000001);
  assert.deepEqual([...again], [...a]);
  assert.equal(new TextDecoder().decode(again.subarray(1)), "10.0.0.1");
});

function avscHeaderType() {
  return avro.Type.forSchema({
    name: "Header",
    type: "record",
    fields: [
      { name: "magic", type: { type: "fixed", name: "Magic", size: 4 } },
      { name: "meta", type: { type: "map", values: "bytes" } },
      { name: "sync", type: { type: "fixed", name: "Sync", size: 16 } },
    ],
  });
}

Deno.test("the hand-written header is byte-identical to avsc's encoding and reads avsc's back", () => {
  const type = avscHeaderType();
  for (
    const [i, meta] of [
      headerMeta({
        channel: "adc0",
        host: "host-é",
        version: "0.1.0",
        firstSeq: 2 ** 40,
        startMs: 0,
      }),
      {},
      { "k": "", "long": "x".repeat(300), "ünï": "çødé" },
    ].entries()
  ) {
    const sync = new Uint8Array(16).map((_, j) => (j * 31 + i) & 255);
    const m: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(meta)) m[k] = Buffer.from(v, "utf8");
    const ref = type.toBuffer({
      magic: Buffer.from([0x4f, 0x62, 0x6a, 0x01]),
      meta: m,
      sync: Buffer.from(sync),
    });
    const mine = encodeHeader(meta, sync);
    assert.deepEqual([...mine], [...ref], `header ${i}`);
    const back = decodeHeader(new Uint8Array(ref));
    assert.ok(back.ok);
    assert.deepEqual(back.header.meta, meta);
    assert.equal(back.header.length, ref.length);
  }
});

Deno.test("decodeHeader reads a metadata map written in blocks with negative counts, and rejects damage", () => {
  const sync = new Uint8Array(16).fill(9);
  // magic, block of -2 entries with byte size, then a block of 1 entry, then 0, then sync
  const enc = new TextEncoder();
  const entry = (k: string, v: string) => {
    const kb = enc.encode(k);
    const vb = enc.encode(v);
    return [kb.length * 2, ...kb, vb.length * 2, ...vb];
  };
  const two = [...entry("a", "1"), ...entry("b", "2")];
  const bytes = new Uint8Array([
    0x4f,
    0x62,
    0x6a,
    0x01,
    3,
    two.length * 2,
    ...two, // count -2 (zig-zag 3), size
    2,
    ...entry("c", "3"), // count 1
    0,
    ...sync,
  ]);
  const h = decodeHeader(bytes);
  assert.ok(h.ok);
  assert.deepEqual(h.header.meta, { a: "1", b: "2", c: "3" });
  assert.equal(h.header.length, bytes.length);
  assert.equal(decodeHeader(bytes.subarray(0, bytes.length - 3)).ok, false);
  assert.equal(decodeHeader(new Uint8Array([1, 2, 3, 4, 0])).ok, false);
});
