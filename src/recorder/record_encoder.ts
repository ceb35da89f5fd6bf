/**
 * The hand-rolled `chanrelay.Datagram` encoder: writes a record in place (into an mmap view) without
 * allocating. Its output is byte-identical to avsc's (tested over random records).
 */
import { formatIPv4 } from "../../ffi/inet.ts";
import { longSize, writeLong } from "./varint.ts";

const CACHE_SLOTS = 256;
const textEncoder = new TextEncoder();
// the last encoded recv_time: a batch shares one, so its varint is encoded once per batch
const timeBytes = new Uint8Array(10);
let timeValue = Number.NaN;
let timeLength = 0;

/**
 * Caches the encoded `src_addr` string (length varint + text) per sender address: a small
 * direct-mapped table, so a steady set of senders costs no allocation.
 */
export class AddressCache {
  readonly #keys = new Float64Array(CACHE_SLOTS).fill(-1);
  readonly #values: Uint8Array[] = new Array(CACHE_SLOTS);
  #lastKey = -1;
  #last: Uint8Array = new Uint8Array(0);

  /** The encoded `src_addr` of a host-order IPv4 address. */
  get(ip: number): Uint8Array {
    if (ip === this.#lastKey) return this.#last;
    const h = (ip ^ (ip >>> 8) ^ (ip >>> 16) ^ (ip >>> 24)) & (CACHE_SLOTS - 1);
    let v: Uint8Array;
    if (this.#keys[h] === ip) {
      v = this.#values[h]!;
    } else {
      v = encodeString(formatIPv4(ip));
      this.#keys[h] = ip;
      this.#values[h] = v;
    }
    this.#lastKey = ip;
    this.#last = v;
    return v;
  }
}

/** Encodes an Avro string (length varint + UTF-8). */
export function encodeString(s: string): Uint8Array {
  const text = textEncoder.encode(s);
  const out = new Uint8Array(longSize(text.length) + text.length);
  const p = writeLong(out, 0, text.length);
  out.set(text, p);
  return out;
}

/** Encoded size of a record whose encoded `src_addr` is `addrSize` bytes. */
export function recordSize(
  seq: number,
  recvTimeUs: number,
  addrSize: number,
  port: number,
  payloadLength: number,
): number {
  return longSize(seq) + longSize(recvTimeUs) + addrSize + longSize(port) +
    longSize(payloadLength) + payloadLength;
}

/**
 * Writes one record at `pos` of `buf`; returns the position after it. The payload is `payload`
 * (copied whole). The record's first byte is written last (an atomic store): a record whose first
 * byte is still 0 was not completely written, which recovery uses to salvage an open block.
 */
export function encodeRecord(
  buf: Uint8Array,
  pos: number,
  seq: number,
  recvTimeUs: number,
  addr: Uint8Array,
  port: number,
  payload: Uint8Array,
): number {
  let p = writeLong(buf, pos, seq);
  const first = buf[pos]!;
  buf[pos] = 0;
  if (recvTimeUs !== timeValue) {
    timeLength = writeLong(timeBytes, 0, recvTimeUs);
    timeValue = recvTimeUs;
  }
  for (let i = 0; i < timeLength; i++) buf[p + i] = timeBytes[i]!;
  p += timeLength;
  const n = addr.length;
  if (n <= 16) {
    for (let i = 0; i < n; i++) buf[p + i] = addr[i]!;
  } else {
    buf.set(addr, p);
  }
  p += n;
  p = writeLong(buf, p, port);
  const len = payload.length;
  p = writeLong(buf, p, len);
  if (len <= 24) {
    for (let i = 0; i < len; i++) buf[p + i] = payload[i]!;
  } else {
    buf.set(payload, p);
  }
  p += len;
  Atomics.store(buf, pos, first);
  return p;
}
