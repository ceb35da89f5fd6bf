/**
 * The Avro format of chanrelay recordings: the `chanrelay.Datagram` record schema, the header
 * metadata keys, and the object container header (encoded and decoded with avsc).
 *
 * A file is `Obj\x01`, a metadata map<bytes>, a 16-byte sync marker, then blocks of
 * `count (long) · size (long) · records · sync`. chanrelay writes count and size as 10-byte padded
 * varints (see `varint.ts`), which every Avro reader accepts.
 */
import avro from "avsc";
import { Buffer } from "node:buffer";

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

// deno-lint-ignore no-explicit-any
type AvscType = any;
let datagramTypeCache: AvscType | undefined;
let headerTypeCache: AvscType | undefined;

/** The avsc Type of `chanrelay.Datagram` (created on first use). */
export function datagramType(): AvscType {
  datagramTypeCache ??= avro.Type.forSchema(JSON.parse(DATAGRAM_SCHEMA_JSON));
  return datagramTypeCache;
}

function headerType(): AvscType {
  headerTypeCache ??= avro.Type.forSchema({
    name: "Header",
    type: "record",
    fields: [
      { name: "magic", type: { type: "fixed", name: "Magic", size: 4 } },
      { name: "meta", type: { type: "map", values: "bytes" } },
      { name: "sync", type: { type: "fixed", name: "Sync", size: 16 } },
    ],
  });
  return headerTypeCache;
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

/** Encodes a container header (magic, metadata, sync marker). */
export function encodeHeader(meta: Record<string, string>, sync: Uint8Array): Uint8Array {
  if (sync.length !== SYNC_SIZE) throw new RangeError(`Sync marker must be 16 bytes`);
  const m: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(meta)) m[k] = Buffer.from(v, "utf8");
  const buf: Buffer = headerType().toBuffer({
    magic: Buffer.from(MAGIC),
    meta: m,
    sync: Buffer.from(sync),
  });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Why a header could not be decoded. */
export type HeaderResult = { ok: true; header: HeaderInfo } | { ok: false; reason: string };

/** Decodes the container header at the start of `bytes`. */
export function decodeHeader(bytes: Uint8Array): HeaderResult {
  if (bytes.length < 4) return { ok: false, reason: "file is shorter than the Avro magic" };
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC[i]) return { ok: false, reason: "no Avro magic (Obj\\x01)" };
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let r: { value: { meta: Record<string, Buffer>; sync: Buffer } | undefined; offset: number };
  try {
    r = headerType().decode(buf, 0);
  } catch (e) {
    return { ok: false, reason: `bad header: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (r.offset < 0 || r.value === undefined) return { ok: false, reason: "truncated header" };
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.value.meta)) meta[k] = v.toString("utf8");
  return {
    ok: true,
    header: { meta, sync: new Uint8Array(r.value.sync), length: r.offset },
  };
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
