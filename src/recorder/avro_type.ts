/** The avsc Type of `chanrelay.Datagram`, for readers and tests (the writer does not load avsc). */
import avro from "avsc";
import { DATAGRAM_SCHEMA_JSON } from "./avro_schema.ts";

// deno-lint-ignore no-explicit-any
type AvscType = any;
let datagramTypeCache: AvscType | undefined;

/** The avsc Type of `chanrelay.Datagram` (created on first use). */
export function datagramType(): AvscType {
  datagramTypeCache ??= avro.Type.forSchema(JSON.parse(DATAGRAM_SCHEMA_JSON));
  return datagramTypeCache;
}
