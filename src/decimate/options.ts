/**
 * A channel's `decimate` options as the config carries them (snake_case keys, as in the config
 * file), and their validation into the resolved, structured-clonable form the decimator Worker
 * runs.
 */
import { isMulticast, parseAddress, parseIPv4 } from "../../ffi/inet.ts";
import { DESIGN_ATTENUATION_DB, kaiserLength, MAX_EFFECTIVE_CUTOFF } from "./fir.ts";
import { isSampleFormat, type SampleFormat, sampleSize } from "./formats.ts";

/** Decimation modes. */
export type DecimateMode = "packet" | "rate" | "samples";

/** Types of a sequence number in the header. */
export type SeqType = "u8" | "u16le" | "u16be" | "u32le" | "u32be" | "u64le" | "u64be";

const SEQ_SIZES: Record<SeqType, number> = {
  u8: 1,
  u16le: 2,
  u16be: 2,
  u32le: 4,
  u32be: 4,
  u64le: 8,
  u64be: 8,
};

/** Samples-mode options, as in the config. */
export interface SamplesOptions {
  /** Sample format. */
  format: string;
  /** Interleaved channels per frame. @default 1 */
  channels?: number;
  /** Leading bytes of each datagram copied through unfiltered. @default 0 */
  header_bytes?: number;
  /** Sequence number in the header; a gap resets the filter. */
  seq?: { offset: number; type: string };
  /** Pass-band edge as a fraction of the new Nyquist, in (0, 1]. @default 0.8 */
  cutoff?: number;
  /** Largest output datagram, bytes. @default 1472 */
  max_datagram?: number;
}

/** A channel's `decimate` options, as in the config. */
export interface DecimateOptions {
  /** Destination, `HOST:PORT` or `GROUP:PORT`. */
  to: string;
  /** TTL (multicast TTL for a group). @default 1 */
  ttl?: number;
  /** IP_MULTICAST_LOOP. @default true (the kernel's default) */
  loop?: boolean;
  /** Interface address to send from. @default the kernel's choice */
  interface?: string;
  /** What to keep. */
  mode: DecimateMode;
  /** packet: every factor-th datagram; samples: one sample in factor. */
  factor?: number;
  /** rate: at most this many datagrams per second. */
  max_rate?: number;
  /** samples mode only. */
  samples?: SamplesOptions;
}

/** Resolved samples-mode settings. */
export interface ResolvedSamples {
  readonly format: SampleFormat;
  readonly channels: number;
  readonly headerBytes: number;
  readonly seq: { readonly offset: number; readonly type: SeqType } | null;
  readonly cutoff: number;
  readonly maxDatagram: number;
}

/** Validated decimation settings: plain data, posted to the decimator Worker. */
export interface ResolvedDecimate {
  /** `to` as written. */
  readonly toText: string;
  readonly ip: number;
  readonly port: number;
  readonly multicast: boolean;
  readonly ttl: number;
  readonly loop: boolean;
  /** Interface address (host-order IPv4), 0 for the kernel's choice. */
  readonly iface: number;
  readonly mode: DecimateMode;
  /** packet and samples modes (1 in rate mode). */
  readonly factor: number;
  /** rate mode (0 otherwise). */
  readonly maxRate: number;
  readonly samples: ResolvedSamples | null;
}

/** A bad decimation option: `field` is its path, e.g. `"decimate.samples.cutoff"`. */
export class DecimateOptionsError extends Error {
  /** Path of the offending field. */
  readonly field: string;
  /** The offending value. */
  readonly value: unknown;

  constructor(field: string, value: unknown, reason: string) {
    super(`Bad ${field} ${show(value)}: ${reason}`);
    this.name = "DecimateOptionsError";
    this.field = field;
    this.value = value;
  }
}

function show(v: unknown): string {
  if (typeof v === "string") return `"${v}"`;
  if (v === undefined) return "(missing)";
  try {
    return `"${JSON.stringify(v)}"`;
  } catch {
    return `"${String(v)}"`;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkKeys(o: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw new DecimateOptionsError(
        `${path}.${k}`,
        o[k],
        `unknown key (expected one of ${allowed.join(", ")})`,
      );
    }
  }
}

function int(
  o: Record<string, unknown>,
  key: string,
  path: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new DecimateOptionsError(
      `${path}.${key}`,
      v,
      `expected an integer from ${min} to ${max}`,
    );
  }
  return v;
}

/** The largest decimation factor accepted. */
export const MAX_FACTOR = 100_000;
/** The largest UDP payload over IPv4. */
const MAX_UDP = 65507;

/**
 * Validates `options` (a channel's `decimate` block, as the config holds it) and resolves it.
 * Throws a `DecimateOptionsError` naming the first bad field, e.g. `decimate.factor`.
 * @param path prefix of field names in errors
 */
export function resolveDecimateOptions(options: unknown, path = "decimate"): ResolvedDecimate {
  if (!isObject(options)) throw new DecimateOptionsError(path, options, "expected a mapping");
  checkKeys(
    options,
    ["to", "ttl", "loop", "interface", "mode", "factor", "max_rate", "samples"],
    path,
  );
  const toText = options.to;
  if (typeof toText !== "string") {
    throw new DecimateOptionsError(`${path}.to`, toText, "expected HOST:PORT");
  }
  const to = parseAddress(toText);
  if (!to.ok) throw new DecimateOptionsError(`${path}.to`, toText, to.reason);
  if (to.value.ip === 0) {
    throw new DecimateOptionsError(`${path}.to`, toText, "cannot send to the any address");
  }
  const ttl = int(options, "ttl", path, 0, 255, 1);
  const loop = options.loop ?? true;
  if (typeof loop !== "boolean") {
    throw new DecimateOptionsError(`${path}.loop`, loop, "expected true or false");
  }
  let iface = 0;
  if (options.interface !== undefined) {
    const ip = typeof options.interface === "string" ? parseIPv4(options.interface) : null;
    if (ip === null) {
      throw new DecimateOptionsError(
        `${path}.interface`,
        options.interface,
        "expected an IPv4 address",
      );
    }
    iface = ip;
  }
  const mode = options.mode;
  if (mode !== "packet" && mode !== "rate" && mode !== "samples") {
    throw new DecimateOptionsError(`${path}.mode`, mode, "expected packet, rate or samples");
  }
  let factor = 1;
  let maxRate = 0;
  let samples: ResolvedSamples | null = null;
  if (mode === "rate") {
    const r = options.max_rate;
    if (typeof r !== "number" || !(r > 0) || !Number.isFinite(r) || r > 1e9) {
      throw new DecimateOptionsError(
        `${path}.max_rate`,
        r,
        "expected a number of datagrams/s above 0",
      );
    }
    maxRate = r;
  } else {
    factor = int(options, "factor", path, 1, MAX_FACTOR);
  }
  if (mode === "samples") {
    samples = resolveSamples(options.samples, `${path}.samples`, factor);
  } else if (options.samples !== undefined) {
    throw new DecimateOptionsError(
      `${path}.samples`,
      options.samples,
      `only for mode samples, not ${mode}`,
    );
  }
  return {
    toText,
    ip: to.value.ip,
    port: to.value.port,
    multicast: isMulticast(to.value.ip),
    ttl,
    loop,
    iface,
    mode,
    factor,
    maxRate,
    samples,
  };
}

function resolveSamples(s: unknown, path: string, factor: number): ResolvedSamples {
  if (!isObject(s)) {
    throw new DecimateOptionsError(path, s, "expected a mapping (required in samples mode)");
  }
  checkKeys(s, ["format", "channels", "header_bytes", "seq", "cutoff", "max_datagram"], path);
  const format = s.format;
  if (!isSampleFormat(format)) {
    throw new DecimateOptionsError(
      `${path}.format`,
      format,
      "unknown format (expected i8, u8, i16le, i16be, u16le, u16be, i32le, i32be, f32le, f32be, f64le or f64be)",
    );
  }
  const channels = int(s, "channels", path, 1, 1024, 1);
  const maxDatagram = int(s, "max_datagram", path, 1, MAX_UDP, 1472);
  const headerBytes = int(s, "header_bytes", path, 0, MAX_UDP, 0);
  if (headerBytes > maxDatagram) {
    throw new DecimateOptionsError(
      `${path}.header_bytes`,
      headerBytes,
      `larger than max_datagram (${maxDatagram})`,
    );
  }
  const frame = channels * sampleSize(format);
  if (headerBytes + frame > maxDatagram) {
    throw new DecimateOptionsError(
      `${path}.header_bytes`,
      headerBytes,
      `leaves no room for one ${frame}-byte sample frame in max_datagram (${maxDatagram})`,
    );
  }
  const cutoff = s.cutoff ?? 0.8;
  if (typeof cutoff !== "number" || !(cutoff > 0 && cutoff <= 1)) {
    throw new DecimateOptionsError(`${path}.cutoff`, cutoff, "expected a number in (0, 1]");
  }
  let seq: ResolvedSamples["seq"] = null;
  if (s.seq !== undefined) {
    if (!isObject(s.seq)) {
      throw new DecimateOptionsError(`${path}.seq`, s.seq, "expected { offset, type }");
    }
    checkKeys(s.seq, ["offset", "type"], `${path}.seq`);
    const type = s.seq.type;
    if (typeof type !== "string" || !Object.hasOwn(SEQ_SIZES, type)) {
      throw new DecimateOptionsError(
        `${path}.seq.type`,
        type,
        "expected u8, u16le, u16be, u32le, u32be, u64le or u64be",
      );
    }
    const t = type as SeqType;
    const offset = int(s.seq, "offset", `${path}.seq`, 0, MAX_UDP);
    if (offset + SEQ_SIZES[t] > headerBytes) {
      throw new DecimateOptionsError(
        `${path}.seq.offset`,
        offset,
        `a ${t} there does not fit in header_bytes (${headerBytes})`,
      );
    }
    seq = { offset, type: t };
  }
  // the filter must be designable: taps grow with factor / (1 - cutoff)
  const taps = designLength(factor, cutoff);
  if (taps > 1_000_000) {
    throw new DecimateOptionsError(
      `${path.replace(/\.samples$/, "")}.factor`,
      factor,
      `needs a filter of ${taps} taps (at most 1000000)`,
    );
  }
  return { format, channels, headerBytes, seq, cutoff, maxDatagram };
}

function designLength(factor: number, cutoff: number): number {
  // Kaiser's length estimate, without computing the taps
  const stop = 0.5 / factor;
  const pass = Math.min(cutoff, MAX_EFFECTIVE_CUTOFF) * stop;
  return factor === 1 ? 1 : kaiserLength(DESIGN_ATTENUATION_DB, stop - pass);
}

/** Bytes of a sequence number of `type`. */
export function seqSize(type: SeqType): number {
  return SEQ_SIZES[type];
}
