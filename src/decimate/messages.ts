/** Messages between the `DecimatorPool` (main thread) and a decimator Worker: discriminated unions. */
import type { LogFormat, LogLevel } from "../log.ts";
import { isSampleFormat } from "./formats.ts";
import type { ResolvedDecimate } from "./options.ts";
import type { RingHandle } from "./ring.ts";

/** Pool → Worker. */
export type ToDecimator =
  | {
    type: "init";
    /** The bell every ring of this Worker rings. */
    bell: SharedArrayBuffer;
    log: { level: LogLevel; format: LogFormat };
  }
  | { type: "attach"; channel: string; ring: RingHandle; options: ResolvedDecimate }
  | { type: "detach"; channel: string }
  | { type: "stop" };

/** Worker → pool. */
export type FromDecimator =
  | { type: "ready" }
  | { type: "attached"; channel: string; taps: number }
  | { type: "attach_failed"; channel: string; message: string; code: string | null }
  | { type: "detached"; channel: string }
  | { type: "channel_failed"; channel: string; message: string }
  | { type: "stopped" };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

const LEVELS = ["debug", "info", "warn", "error"];
const SEQ_TYPES = ["u8", "u16le", "u16be", "u32le", "u32be", "u64le", "u64be"];

function isU32(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function isResolvedDecimate(o: unknown): o is ResolvedDecimate {
  if (!isObject(o)) return false;
  if (
    typeof o.toText !== "string" || !isU32(o.ip) || !isU32(o.port) ||
    typeof o.multicast !== "boolean" || !isU32(o.ttl) || typeof o.loop !== "boolean" ||
    !isU32(o.iface) || !isU32(o.factor) || (o.factor as number) < 1 ||
    typeof o.maxRate !== "number"
  ) return false;
  switch (o.mode) {
    case "packet":
      return o.samples === null;
    case "rate":
      return o.samples === null && (o.maxRate as number) > 0;
    case "samples": {
      const s = o.samples;
      return isObject(s) && isSampleFormat(s.format) && isU32(s.channels) &&
        isU32(s.headerBytes) && typeof s.cutoff === "number" && isU32(s.maxDatagram) &&
        (s.seq === null ||
          (isObject(s.seq) && isU32(s.seq.offset) && SEQ_TYPES.includes(s.seq.type as string)));
    }
    default:
      return false;
  }
}

function isRingHandle(r: unknown): r is RingHandle {
  return isObject(r) && r.sab instanceof SharedArrayBuffer && r.bell instanceof SharedArrayBuffer;
}

/** Returns the message if it is a well-formed `ToDecimator`, else null. */
export function parseToDecimator(data: unknown): ToDecimator | null {
  if (!isObject(data)) return null;
  switch (data.type) {
    case "init":
      return data.bell instanceof SharedArrayBuffer && isObject(data.log) &&
          LEVELS.includes(data.log.level as string) &&
          (data.log.format === "text" || data.log.format === "json")
        ? data as unknown as ToDecimator
        : null;
    case "attach":
      return typeof data.channel === "string" && isRingHandle(data.ring) &&
          isResolvedDecimate(data.options)
        ? data as unknown as ToDecimator
        : null;
    case "detach":
      return typeof data.channel === "string" ? { type: "detach", channel: data.channel } : null;
    case "stop":
      return { type: "stop" };
    default:
      return null;
  }
}

/** Returns the message if it is a well-formed `FromDecimator`, else null. */
export function parseFromDecimator(data: unknown): FromDecimator | null {
  if (!isObject(data)) return null;
  switch (data.type) {
    case "ready":
      return { type: "ready" };
    case "stopped":
      return { type: "stopped" };
    case "attached":
      return typeof data.channel === "string" && typeof data.taps === "number"
        ? data as unknown as FromDecimator
        : null;
    case "attach_failed":
    case "channel_failed":
      return typeof data.channel === "string" && typeof data.message === "string"
        ? data as unknown as FromDecimator
        : null;
    case "detached":
      return typeof data.channel === "string" ? { type: "detached", channel: data.channel } : null;
    default:
      return null;
  }
}
