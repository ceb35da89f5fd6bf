/**
 * The deep scanner: validates a chanrelay recording block by block (count and size sane, sync
 * marker, every record decodes, seq in order) straight from a byte view (a read-only mmap), with a
 * hand-rolled varint decoder: nothing is allocated per record. Recovery, `inspect` and seq
 * resumption all use it.
 *
 * seq rules (what the recorder guarantees): inside a block seq is contiguous; from block to block
 * it strictly increases, and the first block starts at or after the header's first seq. A jump
 * between blocks is a gap (datagrams the recorder counted but could not record); the scan counts
 * the seq numbers skipped in `missing`. A block whose seq goes backwards, repeats, or jumps inside
 * the block is damage.
 */
import {
  checkDatagramHeader,
  decodeHeader,
  type HeaderInfo,
  META,
  SYNC_SIZE,
} from "./avro_schema.ts";
import { PADDED_WIDTH } from "./varint.ts";

/** Largest `src_addr` a valid record carries (IPv4 text is at most 15 bytes). */
export const MAX_ADDR_LENGTH = 64;
/** Largest payload a valid record carries. */
export const MAX_PAYLOAD_LENGTH = 1 << 20;
/** Size of the header reserved at the start of an uncommitted block (padded count + size). */
export const RESERVED_HEADER = 2 * PADDED_WIDTH;

/** One decoded record, reused for every callback (copy what you keep). */
export interface RecordView {
  /** The scanned bytes. */
  buf: Uint8Array;
  seq: number;
  recvTimeUs: number;
  addrStart: number;
  addrLength: number;
  port: number;
  payloadStart: number;
  payloadLength: number;
}

/** Scan options. */
export interface ScanOptions {
  /** Decode and check every record; false checks the framing only. @default true */
  deep?: boolean;
  /** Called for every record of every valid block (and of the salvageable open block). */
  onRecord?: (r: RecordView) => void;
  /** Called now and then with the offset reached. */
  onProgress?: (offset: number, total: number) => void;
  /** Stop visiting records after this many (the scan itself goes on). */
  recordLimit?: number;
}

/** Where the data stops being valid, and why. */
export interface Damage {
  offset: number;
  reason: string;
}

/** Complete records of an uncommitted block, which recovery can commit. */
export interface OpenBlock {
  /** Offset of the block (its reserved header). */
  offset: number;
  records: number;
  /** Offset after the last complete record. */
  end: number;
  firstSeq: number;
  lastSeq: number;
}

/** A range of seq numbers (inclusive) missing from a recording. */
export interface SeqGap {
  from: number;
  to: number;
}

/** How many gaps a scan lists (it counts every missing seq in `missing` regardless). */
export const MAX_LISTED_GAPS = 1000;

/** What a scan found. */
export interface ScanResult {
  size: number;
  header: HeaderInfo | null;
  /** Why the header (or its schema) is unusable; nothing else is valid then. */
  headerError: string | null;
  blocks: number;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** seq numbers skipped between blocks (from the header's first seq on): datagrams not recorded. */
  missing: number;
  /** Where they were skipped, in order: the first `MAX_LISTED_GAPS` ranges (inclusive). */
  gaps: SeqGap[];
  minTimeUs: number | null;
  maxTimeUs: number | null;
  /** Offset after the last valid committed block (the header's end if none). */
  goodEnd: number;
  /** Salvageable records of an uncommitted block right after `goodEnd`. */
  open: OpenBlock | null;
  /** What follows the valid data: nothing, zeros (preallocated space), or damage. */
  tail: "none" | "zeros" | "damage";
  damage: Damage | null;
  /** A valid block found after the damage: truncating would lose it. */
  validAfter: number | null;
}

// ---- the decoder: module-level results, no allocation ----
let at = 0;
let rSeq = 0;
let rTime = 0;
let rAddrStart = 0;
let rAddrLen = 0;
let rPort = 0;
let rPayStart = 0;
let rPayLen = 0;

/** Reads a zig-zag varint long at `p` (below `end`); NaN when malformed. Sets `at`. */
function readLong(buf: Uint8Array, p: number, end: number): number {
  if (p >= end) return NaN;
  let b = buf[p]!;
  if (b < 0x80) {
    at = p + 1;
    return (b & 1) === 0 ? b >>> 1 : -((b + 1) >>> 1);
  }
  let value = b & 0x7f;
  let mul = 0x80;
  let i = p + 1;
  for (;;) {
    if (i >= end || i - p >= PADDED_WIDTH) return NaN;
    b = buf[i++]!;
    value += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 0x80;
  }
  at = i;
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

/** Decodes the record at `p` (not past `end`); returns its end or -1. */
function decodeRecord(buf: Uint8Array, p: number, end: number): number {
  rSeq = readLong(buf, p, end);
  if (rSeq !== rSeq) return -1;
  rTime = readLong(buf, at, end);
  if (rTime !== rTime) return -1;
  rAddrLen = readLong(buf, at, end);
  if (!(rAddrLen >= 0 && rAddrLen <= MAX_ADDR_LENGTH)) return -1;
  rAddrStart = at;
  p = at + rAddrLen;
  if (p > end) return -1;
  rPort = readLong(buf, p, end);
  if (!(rPort >= 0 && rPort <= 65535)) return -1;
  rPayLen = readLong(buf, at, end);
  if (!(rPayLen >= 0 && rPayLen <= MAX_PAYLOAD_LENGTH)) return -1;
  rPayStart = at;
  p = at + rPayLen;
  if (p > end) return -1;
  return p;
}

function syncAt(buf: Uint8Array, p: number, sync: Uint8Array): boolean {
  if (p + SYNC_SIZE > buf.length) return false;
  for (let i = 0; i < SYNC_SIZE; i++) if (buf[p + i] !== sync[i]) return false;
  return true;
}

/** Whether `[from, buf.length)` is all zero bytes. */
export function allZero(buf: Uint8Array, from: number): boolean {
  let p = from;
  const end = buf.length;
  while (p < end && ((buf.byteOffset + p) & 3) !== 0) if (buf[p++] !== 0) return false;
  const words = (end - p) >>> 2;
  if (words > 0) {
    const u = new Uint32Array(buf.buffer, buf.byteOffset + p, words);
    for (let i = 0; i < words; i++) if (u[i] !== 0) return false;
    p += words * 4;
  }
  while (p < end) if (buf[p++] !== 0) return false;
  return true;
}

const view: RecordView = {
  buf: new Uint8Array(0),
  seq: 0,
  recvTimeUs: 0,
  addrStart: 0,
  addrLength: 0,
  port: 0,
  payloadStart: 0,
  payloadLength: 0,
};

function fillView(buf: Uint8Array): RecordView {
  view.buf = buf;
  view.seq = rSeq;
  view.recvTimeUs = rTime;
  view.addrStart = rAddrStart;
  view.addrLength = rAddrLen;
  view.port = rPort;
  view.payloadStart = rPayStart;
  view.payloadLength = rPayLen;
  return view;
}

/**
 * Validates the committed block at `pos`. Returns its end (after the sync marker) or a reason.
 * `expected` is the lowest seq its first record may have (NaN: any). A deep check decodes every
 * record; a shallow one checks the framing and reads the first record's seq only.
 */
function checkBlock(
  buf: Uint8Array,
  pos: number,
  sync: Uint8Array,
  expected: number,
  deep: boolean,
): number | string {
  const size = buf.length;
  const count = readLong(buf, pos, size);
  if (count !== count) return "block header does not decode";
  const dataSize = readLong(buf, at, size);
  if (dataSize !== dataSize) return "block header does not decode";
  const dataStart = at;
  if (count < 1 || dataSize < 5 * count) {
    return `implausible block (count ${count}, size ${dataSize})`;
  }
  const dataEnd = dataStart + dataSize;
  if (dataEnd + SYNC_SIZE > size) {
    return `block of ${dataSize} bytes runs past the end of the file (truncated)`;
  }
  if (!syncAt(buf, dataEnd, sync)) return "sync marker mismatch after the block";
  if (!deep) {
    const first = readLong(buf, dataStart, dataEnd);
    if (first !== first) return "record 0 of the block does not decode";
    if (expected === expected && first < expected) {
      return `seq goes backwards: expected at least ${expected}, found ${first}`;
    }
    blockCount = count;
    blockFirstSeq = first;
    return dataEnd + SYNC_SIZE;
  }
  let p = dataStart;
  let want = NaN;
  for (let i = 0; i < count; i++) {
    p = decodeRecord(buf, p, dataEnd);
    if (p < 0) return `record ${i} of the block does not decode`;
    if (i === 0) {
      if (expected === expected && rSeq < expected) {
        return `seq goes backwards: expected at least ${expected}, found ${rSeq}`;
      }
      blockFirstSeq = rSeq;
    } else if (rSeq !== want) {
      return `seq discontinuity inside a block: expected ${want}, found ${rSeq}`;
    }
    want = rSeq + 1;
    if (rTime < minTime) minTime = rTime;
    if (rTime > maxTime) maxTime = rTime;
  }
  if (p !== dataEnd) return `block has ${dataEnd - p} bytes after its ${count} records`;
  blockCount = count;
  blockLastSeq = want - 1;
  return dataEnd + SYNC_SIZE;
}

let blockCount = 0;
let blockFirstSeq = 0;
let blockLastSeq = 0;
let minTime = Infinity;
let maxTime = -Infinity;

function visitBlock(
  buf: Uint8Array,
  pos: number,
  end: number,
  count: number,
  onRecord: (r: RecordView) => void,
  budget: number,
): number {
  readLong(buf, pos, end);
  readLong(buf, at, end);
  let p = at;
  const n = Math.min(count, budget);
  for (let i = 0; i < n; i++) {
    p = decodeRecord(buf, p, end);
    onRecord(fillView(buf));
  }
  return n;
}

/** Counts (and lists) the seq numbers from `expected` up to `next` as missing. */
function skipped(result: ScanResult, expected: number, next: number): void {
  if (next <= expected) return;
  result.missing += next - expected;
  if (result.gaps.length < MAX_LISTED_GAPS) result.gaps.push({ from: expected, to: next - 1 });
}

/** Scans a whole recording held in `buf` (e.g. a read-only mmap of the file). */
export function scanRecording(buf: Uint8Array, options: ScanOptions = {}): ScanResult {
  const deepOpt = options.deep ?? true;
  const size = buf.length;
  const result: ScanResult = {
    size,
    header: null,
    headerError: null,
    blocks: 0,
    records: 0,
    firstSeq: null,
    lastSeq: null,
    missing: 0,
    gaps: [],
    minTimeUs: null,
    maxTimeUs: null,
    goodEnd: 0,
    open: null,
    tail: "none",
    damage: null,
    validAfter: null,
  };
  const h = decodeHeader(buf.subarray(0, Math.min(size, 1 << 20)));
  if (!h.ok) {
    result.headerError = h.reason;
    return result;
  }
  result.header = h.header;
  const schemaError = checkDatagramHeader(h.header);
  if (schemaError !== null) {
    result.headerError = schemaError;
    return result;
  }
  const sync = h.header.sync;
  const firstSeqText = h.header.meta[META.firstSeq];
  let expected = firstSeqText !== undefined && /^-?[0-9]+$/.test(firstSeqText)
    ? Number(firstSeqText)
    : NaN;
  const deep = deepOpt;
  minTime = Infinity;
  maxTime = -Infinity;
  let pos = h.header.length;
  result.goodEnd = pos;
  let budget = options.recordLimit ?? Infinity;
  let lastBlock = -1;
  let nextProgress = 0;
  const progressStep = 64 << 20;

  while (pos < size) {
    if (options.onProgress && pos >= nextProgress) {
      options.onProgress(pos, size);
      nextProgress = pos + progressStep;
    }
    if (buf[pos] === 0) {
      // an uncommitted block (its reserved header is still zero), or preallocated zeros
      const open = salvageOpen(buf, pos, sync, expected);
      let end = pos;
      if (open !== null) {
        result.open = open;
        end = open.end;
        if (options.onRecord && budget > 0) {
          let p = pos + RESERVED_HEADER;
          for (let i = 0; i < open.records && budget > 0; i++, budget--) {
            p = decodeRecord(buf, p, size);
            options.onRecord(fillView(buf));
          }
        }
        if (syncAt(buf, end, sync)) end += SYNC_SIZE; // the commit had begun
      }
      if (allZero(buf, end)) {
        result.tail = end < size ? "zeros" : "none";
      } else {
        result.tail = "damage";
        result.damage = {
          offset: open === null ? pos : end,
          reason: open === null
            ? "data after an empty block header"
            : "data after the records of the open block",
        };
      }
      break;
    }
    const r = checkBlock(buf, pos, sync, expected, deep);
    if (typeof r === "string") {
      result.tail = "damage";
      result.damage = { offset: pos, reason: r };
      break;
    }
    if (result.firstSeq === null) result.firstSeq = blockFirstSeq;
    if (expected === expected) skipped(result, expected, blockFirstSeq);
    // a shallow scan assumes the block contiguous (and checks its last one below)
    expected = blockFirstSeq + blockCount;
    result.lastSeq = expected - 1;
    lastBlock = pos;
    if (options.onRecord && budget > 0) {
      budget -= visitBlock(buf, pos, r, blockCount, options.onRecord, budget);
    }
    result.blocks++;
    result.records += blockCount;
    pos = r;
    result.goodEnd = pos;
  }
  if (!deep && lastBlock >= 0) {
    // the exact last seq: decode the last committed block (it cannot fail: the framing was valid
    // and deep scans of recorder output agree; if it does, the framing-only answer stands)
    const r = checkBlock(buf, lastBlock, sync, NaN, true);
    if (typeof r === "number") result.lastSeq = blockLastSeq;
  }
  if (result.open !== null) {
    if (result.firstSeq === null) result.firstSeq = result.open.firstSeq;
    if (expected === expected) skipped(result, expected, result.open.firstSeq);
    result.lastSeq = result.open.lastSeq;
  }
  if (minTime <= maxTime) {
    result.minTimeUs = minTime;
    result.maxTimeUs = maxTime;
  }
  if (result.damage !== null) result.validAfter = findValidBlock(buf, result.damage.offset, sync);
  options.onProgress?.(size, size);
  return result;
}

/** The complete records of the uncommitted block at `pos`, or null when it has none. */
function salvageOpen(
  buf: Uint8Array,
  pos: number,
  sync: Uint8Array,
  expected: number,
): OpenBlock | null {
  const size = buf.length;
  let p = pos + RESERVED_HEADER;
  if (p > size) return null;
  // buf[pos] (the count's first byte, written last by a commit) is 0; the rest of the reserved
  // header may hold part of an interrupted commit
  let want = expected;
  let records = 0;
  let firstSeq = NaN;
  const savedMin = minTime;
  const savedMax = maxTime;
  while (p < size) {
    if (syncAt(buf, p, sync)) break;
    const end = decodeRecord(buf, p, size);
    if (end < 0) break;
    // the first record may follow a gap (seq at or after `expected`), the others are contiguous
    if (want === want && (records === 0 ? rSeq < want : rSeq !== want)) break;
    if (buf[p] === 0) {
      // first byte written last: 0 means incomplete, unless it is seq 0 and the next record
      // (written after this one completed) has begun
      if (rSeq !== 0 || end >= size || buf[end] === 0) break;
    }
    if (records === 0) firstSeq = rSeq;
    records++;
    want = rSeq + 1;
    if (rTime < minTime) minTime = rTime;
    if (rTime > maxTime) maxTime = rTime;
    p = end;
  }
  if (records === 0) {
    minTime = savedMin;
    maxTime = savedMax;
    return null;
  }
  return { offset: pos, records, end: p, firstSeq, lastSeq: want - 1 };
}

/** The offset of the first fully valid block after `from` (found by its sync marker), or null. */
function findValidBlock(buf: Uint8Array, from: number, sync: Uint8Array): number | null {
  const s0 = sync[0]!;
  const savedMin = minTime;
  const savedMax = maxTime;
  let p = buf.indexOf(s0, from);
  try {
    while (p >= 0 && p + SYNC_SIZE < buf.length) {
      if (syncAt(buf, p, sync)) {
        const start = p + SYNC_SIZE;
        if (buf[start] !== 0 && typeof checkBlock(buf, start, sync, NaN, true) === "number") {
          return start;
        }
      }
      p = buf.indexOf(s0, p + 1);
    }
    return null;
  } finally {
    minTime = savedMin;
    maxTime = savedMax;
  }
}
