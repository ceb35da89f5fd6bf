/**
 * The Avro format of chanrelay recordings: the `chanrelay.Datagram` record schema, the header
 * metadata keys, and the object container header (encoded and decoded with avsc).
 *
 * A file is `Obj\x01`, a metadata map<bytes>, a 16-byte sync marker, then blocks of
 * `count (long) · size (long) · records · sync`. chanrelay writes count and size as 10-byte padded
 * varints (see `varint.ts`), which every Avro reader accepts.
 *
 * The header is encoded and decoded by hand here, so the recorder (which runs in each recording
 * channel's Worker) does not load avsc; `avro_type.ts` has the avsc Type for readers and tests.
 */

/** The record schema, as written into `avro.schema`. */
export const DATAGRAM_SCHEMA = {
  type: "record",
  name: "Datagram",
  namespace: "chanrelay",
  fields: [
    { name: "seq", type: "long" },
    { name: "recv_time", type: { type: "long", logicalType: "timestamp-micros" } },
    { name: "src_addr", type: "string" },
    { name: "src_port", type: "int" },
    { name: "payload", type: "bytes" },
  ],
} as const;

/** `DATAGRAM_SCHEMA` as JSON text. */
export const DATAGRAM_SCHEMA_JSON: string = JSON.stringify(DATAGRAM_SCHEMA);

/** Header metadata keys chanrelay writes (besides `avro.schema` and `avro.codec`). */
export const META = {
  channel: "chanrelay.channel",
  host: "chanrelay.host",
  version: "chanrelay.version",
  firstSeq: "chanrelay.first_seq",
  startTime: "chanrelay.start_time",
} as const;

/** Magic bytes of an Avro object container file. */
export const MAGIC: Uint8Array = new Uint8Array([0x4f, 0x62, 0x6a, 0x01]);
/** Length of the sync marker. */
export const SYNC_SIZE = 16;

/** A decoded datagram record (as avsc returns it). */
export interface DatagramRecord {
  seq: number;
  recv_time: number;
  src_addr: string;
  src_port: number;
  payload: Uint8Array;
}

/** What a recording's header says. */
export interface HeaderInfo {
  /** Every metadata entry, decoded as UTF-8 text. */
  meta: Record<string, string>;
  /** The 16-byte sync marker. */
  sync: Uint8Array;
  /** Byte length of the header (offset of the first block). */
  length: number;
}

/** Metadata of a new recording. */
export interface HeaderFields {
  channel: string;
  host: string;
  version: string;
  firstSeq: number;
  /** Wall-clock start of the file, ms since the epoch (written as ISO 8601 UTC). */
  startMs: number;
}

/** Builds the metadata map chanrelay writes into a file header. */
export function headerMeta(fields: HeaderFields): Record<string, string> {
  return {
    "avro.schema": DATAGRAM_SCHEMA_JSON,
    "avro.codec": "null",
    [META.channel]: fields.channel,
    [META.host]: fields.host,
    [META.version]: fields.version,
    [META.firstSeq]: String(fields.firstSeq),
    [META.startTime]: new Date(fields.startMs).toISOString(),
  };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Appends a zig-zag varint long (|v| < 2^53) to `out`. */
function pushLong(out: number[], v: number): void {
  let n = v >= 0 ? v * 2 : -v * 2 - 1;
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function pushBytes(out: number[], b: Uint8Array): void {
  pushLong(out, b.length);
  for (const x of b) out.push(x);
}

/** Encodes a container header (magic, metadata map<bytes>, sync marker). */
export function encodeHeader(meta: Record<string, string>, sync: Uint8Array): Uint8Array {
  if (sync.length !== SYNC_SIZE) throw new RangeError(`Sync marker must be 16 bytes`);
  const out: number[] = [...MAGIC];
  const entries = Object.entries(meta);
  if (entries.length > 0) {
    pushLong(out, entries.length);
    for (const [k, v] of entries) {
      pushBytes(out, utf8.encode(k));
      pushBytes(out, utf8.encode(v));
    }
  }
  out.push(0);
  for (const x of sync) out.push(x);
  return new Uint8Array(out);
}

/** Why a header could not be decoded. */
export type HeaderResult = { ok: true; header: HeaderInfo } | { ok: false; reason: string };

/** Decodes the container header at the start of `bytes`. */
export function decodeHeader(bytes: Uint8Array): HeaderResult {
  if (bytes.length < 4) return { ok: false, reason: "file is shorter than the Avro magic" };
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC[i]) return { ok: false, reason: "no Avro magic (Obj\\x01)" };
  }
  let pos = 4;
  const long = (): number | null => {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= bytes.length) return null;
      const b = bytes[pos++]!;
      n += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      mul *= 0x80;
    }
    return null;
  };
  const chunk = (): Uint8Array | null => {
    const len = long();
    if (len === null || len < 0 || pos + len > bytes.length) return null;
    const b = bytes.subarray(pos, pos + len);
    pos += len;
    return b;
  };
  const meta: Record<string, string> = {};
  for (let blocks = 0; blocks < 1 << 16; blocks++) {
    let count = long();
    if (count === null) return { ok: false, reason: "truncated header" };
    if (count === 0) {
      if (pos + SYNC_SIZE > bytes.length) return { ok: false, reason: "truncated header" };
      const sync = bytes.slice(pos, pos + SYNC_SIZE);
      return { ok: true, header: { meta, sync, length: pos + SYNC_SIZE } };
    }
    if (count < 0) {
      // a negative count is followed by the block's byte size
      count = -count;
      if (long() === null) return { ok: false, reason: "truncated header" };
    }
    if (count > 1 << 16) return { ok: false, reason: `bad header: ${count} metadata entries` };
    for (let i = 0; i < count; i++) {
      const k = chunk();
      const v = chunk();
      if (k === null || v === null) return { ok: false, reason: "truncated header" };
      try {
        meta[fromUtf8.decode(k)] = fromUtf8.decode(v);
      } catch {
        return { ok: false, reason: "bad header: metadata is not UTF-8" };
      }
    }
  }
  return { ok: false, reason: "bad header: too many metadata blocks" };
}

/**
 * Whether a header's schema is `chanrelay.Datagram` with the expected fields and codec null: only
 * such files can be validated record by record. Returns the reason when not.
 */
export function checkDatagramHeader(header: HeaderInfo): string | null {
  const codec = header.meta["avro.codec"] ?? "null";
  if (codec !== "null") return `codec "${codec}" is not supported (only "null")`;
  const text = header.meta["avro.schema"];
  if (text === undefined) return "no avro.schema in the header";
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch {
    return "avro.schema is not JSON";
  }
  const s = schema as { name?: string; namespace?: string; fields?: { name?: string }[] };
  const full = s.name?.includes(".") ? s.name : `${s.namespace ?? ""}.${s.name ?? ""}`;
  const names = (s.fields ?? []).map((f) => f.name).join(",");
  if (full !== "chanrelay.Datagram" || names !== "seq,recv_time,src_addr,src_port,payload") {
    return `schema "${full}" is not chanrelay.Datagram`;
  }
  // field types must match too (a same-named schema with other types cannot be validated)
  const types = JSON.stringify((s.fields ?? []).map((f) => (f as { type?: unknown }).type));
  const expected = JSON.stringify(DATAGRAM_SCHEMA.fields.map((f) => f.type));
  if (types !== expected) return "schema chanrelay.Datagram has unexpected field types";
  return null;
}
