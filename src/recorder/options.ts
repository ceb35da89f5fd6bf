/**
 * Recorder options: the record settings of a channel, as a plain object (sizes in bytes, durations
 * in ms; 0 turns a limit off). The config schema maps its `record:` keys onto these
 * (`block_size` → `blockSize`, …).
 */
import { templateError } from "./file_names.ts";

/** Options of one channel's recorder. */
export interface RecorderOptions {
  /** The channel's data directory (created when missing). */
  dir: string;
  /** Channel name (header metadata and the `{channel}` token). */
  channel: string;
  /** Host name for the header. @default Deno.hostname() */
  host?: string;
  /** File name template, relative to `dir`. @default "{channel}-{yyyy}{MM}{dd}T{HH}{mm}{ss}Z" */
  template?: string;
  /** A block is committed once its records reach this many bytes. @default 65536 */
  blockSize?: number;
  /** …or once its first record is this old (ms), checked by `poll()`. @default 500 */
  blockInterval?: number;
  /** msync(MS_ASYNC) of the new range every this many datagrams (0: never). @default 4096 */
  msyncEvery?: number;
  /** fdatasync of the committed data every this many ms (0: only when a file is finished). @default 1000 */
  fsyncInterval?: number;
  /** Rotate once a file reaches this many bytes (0: no limit). @default 1073741824 */
  rotateSize?: number;
  /** Rotate at every multiple of this many ms since the epoch, UTC-aligned (0: never). @default 3600000 */
  rotateEvery?: number;
  /** Keep at most this many finished files (0: no limit). @default 0 */
  keepFiles?: number;
  /** Keep at most this many bytes of finished files (0: no limit). @default 0 */
  keepSize?: number;
  /** Delete finished files older than this many ms (by modification time; 0: never). @default 0 */
  keepAge?: number;
  /** Preallocation step (posix_fallocate + mmap + prefault), bytes. @default 8388608 */
  preallocChunk?: number;
  /** After ENOSPC (or another allocation error), retry every this many ms. @default 1000 */
  retryInterval?: number;
  /** seq of the first datagram when the directory holds no recording. @default 0 */
  firstSeq?: number;
}

/** Options with every default filled in. */
export type ResolvedRecorderOptions = Required<RecorderOptions>;

/** Smallest preallocation step: room for the largest record plus block framing. */
export const MIN_PREALLOC_CHUNK = 256 << 10;

/** The defaults. */
export const RECORDER_DEFAULTS = {
  template: "{channel}-{yyyy}{MM}{dd}T{HH}{mm}{ss}Z",
  blockSize: 64 << 10,
  blockInterval: 500,
  msyncEvery: 4096,
  fsyncInterval: 1000,
  rotateSize: 1 << 30,
  rotateEvery: 3_600_000,
  keepFiles: 0,
  keepSize: 0,
  keepAge: 0,
  preallocChunk: 8 << 20,
  retryInterval: 1000,
  firstSeq: 0,
} as const;

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** Fills in defaults and checks every value; throws a RangeError naming the bad one. */
export function resolveRecorderOptions(o: RecorderOptions): ResolvedRecorderOptions {
  const r: ResolvedRecorderOptions = {
    dir: o.dir,
    channel: o.channel,
    host: o.host ?? hostname(),
    template: o.template ?? RECORDER_DEFAULTS.template,
    blockSize: o.blockSize ?? RECORDER_DEFAULTS.blockSize,
    blockInterval: o.blockInterval ?? RECORDER_DEFAULTS.blockInterval,
    msyncEvery: o.msyncEvery ?? RECORDER_DEFAULTS.msyncEvery,
    fsyncInterval: o.fsyncInterval ?? RECORDER_DEFAULTS.fsyncInterval,
    rotateSize: o.rotateSize ?? RECORDER_DEFAULTS.rotateSize,
    rotateEvery: o.rotateEvery ?? RECORDER_DEFAULTS.rotateEvery,
    keepFiles: o.keepFiles ?? RECORDER_DEFAULTS.keepFiles,
    keepSize: o.keepSize ?? RECORDER_DEFAULTS.keepSize,
    keepAge: o.keepAge ?? RECORDER_DEFAULTS.keepAge,
    preallocChunk: o.preallocChunk ?? RECORDER_DEFAULTS.preallocChunk,
    retryInterval: o.retryInterval ?? RECORDER_DEFAULTS.retryInterval,
    firstSeq: o.firstSeq ?? RECORDER_DEFAULTS.firstSeq,
  };
  if (r.dir === "") throw new RangeError("Recorder dir must not be empty");
  if (r.channel === "") throw new RangeError("Recorder channel must not be empty");
  const t = templateError(r.template);
  if (t !== null) throw new RangeError(`Bad file name template "${r.template}": ${t}`);
  const nonNegative: (keyof ResolvedRecorderOptions)[] = [
    "blockInterval",
    "msyncEvery",
    "fsyncInterval",
    "rotateSize",
    "rotateEvery",
    "keepFiles",
    "keepSize",
    "keepAge",
  ];
  for (const k of nonNegative) {
    const v = r[k] as number;
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`Recorder option ${k} must be a non-negative integer, got ${v}`);
    }
  }
  if (!Number.isSafeInteger(r.blockSize) || r.blockSize < 1 || r.blockSize > 64 << 20) {
    throw new RangeError(`Recorder option blockSize must be 1..67108864, got ${r.blockSize}`);
  }
  if (!Number.isSafeInteger(r.preallocChunk) || r.preallocChunk < MIN_PREALLOC_CHUNK) {
    throw new RangeError(
      `Recorder option preallocChunk must be at least ${MIN_PREALLOC_CHUNK}, got ${r.preallocChunk}`,
    );
  }
  if (!Number.isSafeInteger(r.retryInterval) || r.retryInterval < 1) {
    throw new RangeError(`Recorder option retryInterval must be positive, got ${r.retryInterval}`);
  }
  if (!Number.isSafeInteger(r.firstSeq) || r.firstSeq < 0) {
    throw new RangeError(`Recorder option firstSeq must be a non-negative integer`);
  }
  return r;
}
