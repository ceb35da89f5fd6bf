/**
 * `ChannelRecorder`: records a channel's datagrams into Avro container files through mmap.
 *
 * Threading model. `append()` and `poll()` are synchronous, cheap and never throw: the channel
 * thread calls them from its blocking relay loop. Everything slow (posix_fallocate, writing zeros
 * over fresh pages, dropping page tables before munmap, fdatasync, finishing a file, retention)
 * runs as async calls of `MappedFile`/`MappedRegion` (pool threads) or async Deno calls; their
 * Promises settle (and the next step is scheduled) only when the caller's thread yields to its
 * event loop. The caller must therefore yield (e.g. `await` a resolved timer) at least every
 * ~10 ms while `busy` is true, and call `poll(Date.now())` every few ms. A caller that calls
 * `useIdleTime()` also offers its idle moments: whenever its socket is empty and `wantsIdle` is
 * true it calls `grantIdle()` and awaits (a resolved value is enough: the piece runs as a
 * microtask), and the next piece of page preparation (page tables, or a first write to each
 * page; 16 to 64 KiB) runs on its thread right then, synchronously, instead of as a pool call; a
 * piece that gets no idle moment within `idleWaitMs` goes to the pool as before.
 *
 * Layout. A file is preallocated and mapped in chunks of `preallocChunk` bytes, each its own
 * mapping. Two chunks ahead of the writer (and the next file, a hidden spare, so rotation is a
 * rename plus a header write) are prepared in the background, each by its own job: posix_fallocate,
 * mmap (MADV_RANDOM, against ext4 read-around stalls), MADV_POPULATE_WRITE in small pieces (see
 * `RECORDER_TUNING`), then zeros written from the chunk's start in pieces (the first write to each
 * page costs ~6-13 µs here; a pool thread pays it instead of the channel thread). mmap, munmap
 * and msync run on pool threads too: they take the process's mmap lock. Each zeroed piece
 * becomes the writer's; once the writer comes within the hand-over margin of the next piece (what
 * it writes in ~50 ms at its measured rate), the rest of the chunk is handed over as it is. Only
 * allocated space is ever mapped: a full disk is an ENOSPC from posix_fallocate, never a SIGBUS.
 *
 * Invariants (what makes the background work race-free):
 * 1. Ownership. Each chunk is split at `owned`: the writer owns `[start, owned)`, the background
 *    the rest. `owned` only ever grows, so a cached copy of it (the fast path's limit) is always
 *    safe. The writer writes, msyncs and commits only below `owned` (at or below its frontier);
 *    a background call writes only memory at or after `owned` (every call that writes a chunk's
 *    memory is issued with `busy` set, and `owned` moves past a piece only once its call has
 *    settled). MADV_POPULATE_WRITE changes no byte: it may still be in flight on claimed memory.
 * 2. Hand-off. `owned` moves (a) past a piece when its zeroing settles, (b) to the end when the
 *    job stops (done, or the writer is near), or (c) to the end when the writer claims the chunk:
 *    only while no call on its memory is in flight (`busy` false); the job checks `claimed` before
 *    every call and issues nothing more. `busy`, `claimed` and `owned` are read and written on the
 *    recorder's thread only, so claiming and issuing a call cannot interleave. The one call that
 *    may still be in flight on a claimed chunk is its posix_fallocate: it works on the descriptor,
 *    never on mapped bytes (the writer then allocates the same range itself, which is harmless).
 * 3. No waiting, no racing. When the writer needs space where a call is in flight, the datagram
 *    is dropped (`unrecorded`; the episode counts one `stalls`), never waited for. A chunk the
 *    writer had to take over itself also counts as a stall.
 * 4. Retirement. A chunk is retired (page tables dropped, then unmapped, in the background) only
 *    when it lies wholly before the last commit and the msync mark, and before the writer's own
 *    chunk: nothing writes there any more. `MappedRegion.unmap()` throws while a call is in
 *    flight on the region and `unmapAsync()`/`closeAsync()` wait for them, so a pool thread can
 *    never write into unmapped memory, nor use a descriptor number that was closed and reused.
 *    A file is finished (unmapped, truncated, fsync'd, closed, renamed) only after every job on
 *    its chunks has settled.
 * 5. seq. Each datagram passed to `append()` takes the next seq, once, in order, whether it is
 *    recorded or not. Inside a block seq is contiguous: before the first datagram it drops, the
 *    writer commits the open block, so a gap (datagrams not recorded) falls between blocks or
 *    between files, never inside a block. Across blocks seq strictly increases; a file's first
 *    seq (header metadata) is the seq of the first datagram after it was started.
 * 6. Blocks. A block reserves a 20-byte header (padded count and size, still zero), then records
 *    are encoded in place (each record's first byte last), and the block is committed by writing
 *    the sync marker, then the size, then the count (its first byte last, atomically). A reader
 *    (recovery after kill -9) therefore sees a block either uncommitted (first byte 0) or whole.
 *    A block is closed at `blockSize` bytes or when its first record is `blockInterval` ms old.
 * 7. Files. Only finished files (renamed, fsync'd) are candidates for retention; the file being
 *    written and the files being finished are not in that list yet.
 *
 * Durability. kill -9: every committed block survives (it is in the page cache), and recovery also
 * salvages the complete records of the open block. Power loss: every block committed before the
 * last completed sync, i.e. blocks older than about `fsyncInterval` (plus the sync's own
 * duration); `msync(MS_ASYNC)` every `msyncEvery` datagrams starts no I/O on Linux.
 *
 * Full disk. When a chunk cannot be allocated, the writer uses what is mapped, then commits, finishes
 * the file and stops recording: datagrams are counted as `unrecorded` (their seq numbers are still
 * consumed, so the gap is visible), allocation errors as `recordErrors`; every `retryInterval` ms a
 * new file is tried, and recording resumes into it when space returns.
 */
import { C } from "../../ffi/constants.ts";
import { ErrnoError } from "../../ffi/errno.ts";
import {
  MappedFile,
  type MappedRegion,
  MappingSlots,
  mmapLockBusy,
  pageSize,
} from "../../ffi/mapped_file.ts";
import type { DatagramBatch } from "../../ffi/udp_socket.ts";
import { log } from "../log.ts";
import { VERSION } from "../version.ts";
import { decodeHeader, encodeHeader, headerMeta, META, SYNC_SIZE } from "./avro_schema.ts";
import { RESERVED_HEADER, scanRecording } from "./avro_scan.ts";
import {
  DAMAGED_SUFFIX,
  INPROGRESS_SUFFIX,
  listRecordings,
  renderTemplate,
  safeSegment,
  SPARE_PREFIX,
  uniqueRecordingPath,
} from "./file_names.ts";
import {
  type RecorderOptions,
  type ResolvedRecorderOptions,
  resolveRecorderOptions,
} from "./options.ts";
import { AddressCache, encodeRecord, recordSize } from "./record_encoder.ts";
import { fsyncDir, recoverFile, type RecoveryReport } from "./recover.ts";
import { type FinishedFile, planRetention } from "./retention.ts";
import { writePaddedLong } from "./varint.ts";

/** Counters of a recorder (plain numbers, updated in place; copy them into shared memory). */
export interface RecorderStats {
  /** Records written. */
  records: number;
  /** Encoded record bytes written. */
  bytes: number;
  /** Blocks committed. */
  blocks: number;
  /** Files started. */
  files: number;
  /** fdatasync/fsync calls completed. */
  fsyncs: number;
  /** Allocation, sync and finishing failures. */
  recordErrors: number;
  /** Datagrams not recorded (no space, or recorder closed). */
  unrecorded: number;
  /** seq the next datagram gets. */
  nextSeq: number;
  /** seq of the last committed record (-1: none yet). */
  committedSeq: number;
  /**
   * Times the writer found its next chunk unprepared: it prepared the chunk itself, or (while a
   * background call was in flight on it) dropped datagrams until it was ready.
   */
  stalls: number;
  /** Path of the file being written ("" when not recording). */
  currentFile: string;
}

interface Chunk {
  start: number;
  length: number;
  region: MappedRegion | null;
  /**
   * `preparing`: the writer owns `[start, owned)`, the background the rest; `ready`: the writer
   * owns it all (no background call touches its bytes until it is retired); `failed`: no space.
   */
  state: "preparing" | "ready" | "failed";
  /** End of the writer's part (file offset). Only ever grows: a cached copy is always safe. */
  owned: number;
  /**
   * End of the chunk's first part whose page tables are set up (populated or zeroed, by the
   * background or by the writer). Only ever grows.
   */
  populated: number;
  /** A background call that writes the chunk's memory (at `owned` or after) is in flight. */
  busy: boolean;
  /** The writer took it over: its preparation job issues nothing more. */
  claimed: boolean;
  /** Settles when the preparation job is over (never rejects). */
  done: Promise<void>;
}

interface RecFile {
  mf: MappedFile;
  path: string;
  finalPath: string;
  sync: Uint8Array;
  firstSeq: number;
  chunks: Chunk[];
  /** Chunks before this index are retired (unmapped): `#retireOldChunks` starts here. */
  retiredBelow: number;
  committedEnd: number;
  syncedEnd: number;
  rotateAtMs: number;
  retryAtMs: number;
  closed: boolean;
  records: number;
}

const MADV_DONTNEED = C.MADV_DONTNEED;

/**
 * Writes a zero into the first byte of each page of `[offset, offset+length)` of `bytes`, pages
 * the file system already gave as zeros: what costs is a page's first write (the hypervisor backs
 * the page then), and one byte pays it. A memset wrote every byte a second time (the kernel
 * zero-fills them when they are populated): 1.3 % of the relay thread's time at 1400 B × 50k.
 */
function touchPages(bytes: Uint8Array, offset: number, length: number): void {
  const page = pageSize();
  const end = offset + length;
  for (let p = offset; p < end; p = p - (p % page) + page) bytes[p] = 0;
}

/**
 * How chunks are zeroed ahead of the writer. Tests and benchmarks may change these (the stress
 * test makes hand-offs race on purpose); nothing else should.
 */
export const RECORDER_TUNING = {
  /**
   * Zeros are written over a chunk in pieces of at most this size (one pool-thread call each; 0:
   * no zeros, the writer pays the first write to each page)… A call holds the core it runs on
   * until it ends (a relay thread woken meanwhile may wait for the next scheduler tick, 4 ms
   * here): at about 7 µs a page here, 256 KiB take 0.5 ms. With 2 MiB pieces the latency p99 of
   * a 1400 B × 20k recording channel was 1.6 to 2.7 ms; with 256 KiB, 0.8 to 1.7 (5 alternating
   * pairs); 128 and 64 KiB did no better.
   */
  zeroPiece: 256 << 10,
  /**
   * …and, within that, in eighths of the chunk, but no smaller than this: every piece costs the
   * channel thread an event-loop turn, so a small chunk (small `prealloc_chunk`) is prepared in
   * one or two calls rather than sixteen, in time for frequent rotations…
   */
  minPiece: 256 << 10,
  /**
   * …and no piece is started once the writer is closer to the chunk than it writes in this many
   * ms (its rate measured by `poll()`, a decaying maximum), nor closer than `minMargin` bytes: a
   * piece's end is seen only when the thread next yields, and until then the writer could not
   * enter the chunk (it would drop datagrams).
   */
  handoverWindowMs: 50,
  minMargin: 4 << 20,
  /**
   * Page tables are set up (MADV_POPULATE_WRITE) in pieces of at most this size before the zeros
   * (0: not at all). Measured on this VM: first touch of a fresh page 17 µs; populate 2.5 µs plus
   * 7 µs for the zeros after it. The call holds the process's mmap lock for reading throughout,
   * and a low-priority pool thread can be preempted while it does: small pieces bound how long an
   * mmap (and a page fault queued behind it) can wait.
   */
  populatePiece: 256 << 10,
  /**
   * When the writer reaches pages the background has not prepared yet (it runs at the lowest
   * priority, so a saturated core starves it), it sets up their page tables itself, this many
   * bytes ahead at a time, in one MADV_POPULATE_WRITE call (0: never): on this VM 2.5 µs a page
   * plus 7 µs for the first write after it, against 17 µs for a first write that faults.
   */
  warmPiece: 128 << 10,
  /**
   * A channel thread that offers its idle moments (`useIdleTime`) runs the pieces itself, one per
   * idle moment, whenever its socket is empty. That spares a pool call per piece, whose hand-off
   * to a pool thread on the same core cost the channel thread 50–200 µs at each event-loop turn.
   * A piece is the most a datagram that arrives meanwhile waits: page tables for 64 KiB took up to
   * ~150 µs here (the kernel's zeroing pays the first touch of each page), and the relay's own
   * MADV_POPULATE_WRITE was the largest part of what its core did while its slowest datagrams
   * waited. So a piece covers twice what was recorded since the previous idle moment (page tables,
   * then first writes, keep pace with the writer), at least `idlePiece` and at most `idlePieceMax`:
   * small where idle moments are many (a channel at 20k datagrams/s has one per datagram), large
   * where they are few. A piece that got no idle moment within `idleWaitMs` goes to the pool.
   */
  idlePiece: 16 << 10,
  idlePieceMax: 64 << 10,
  idleWaitMs: 50,
};

type Lane = "spare" | "unmap" | "io";
const MAX_RECORD_OVERHEAD = 10 + 10 + 1 + 64 + 3 + 10; // varints + address text

function errnoOf(e: unknown): string {
  return e instanceof ErrnoError ? e.code : e instanceof Error ? e.message : String(e);
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** What a recorder may share with its caller (not options: these are live objects). */
export interface RecorderContext {
  /**
   * Address ranges to map chunks over, lent by the caller, who closes them after the recorder.
   * A channel lends its own to the warm-up's scratch recorder and then to its real one: closing
   * slots detaches their ArrayBuffers, and V8 then throws away every optimised function that
   * touches a typed array (the whole hot path), so a channel closes them only when it stops.
   * Null or absent: the recorder makes and closes its own.
   */
  slots?: MappingSlots | null;
}

/** Records one channel. See the module documentation for the threading model. */
export class ChannelRecorder {
  /** Counters, updated in place. */
  readonly stats: RecorderStats = {
    records: 0,
    bytes: 0,
    blocks: 0,
    files: 0,
    fsyncs: 0,
    recordErrors: 0,
    unrecorded: 0,
    nextSeq: 0,
    committedSeq: -1,
    stalls: 0,
    currentFile: "",
  };
  /** What recovery did at open, one report per `.inprogress` file found. */
  readonly recovered: RecoveryReport[] = [];

  readonly #o: ResolvedRecorderOptions;
  readonly #dir: string;
  readonly #addrs = new AddressCache();
  readonly #hdr = new Uint8Array(RESERVED_HEADER);
  readonly #zeros = new Uint8Array(RESERVED_HEADER);
  #scratch = new Uint8Array(0);
  readonly #finished: FinishedFile[] = [];
  /**
   * Address ranges the chunks are mapped over, reused from chunk to chunk and file to file: a
   * new ArrayBuffer per chunk made V8 run a full GC every few chunks (see `MappingSlots`). The
   * recorder's own unless the caller lent it theirs (`RecorderContext.slots`).
   */
  readonly #slots: MappingSlots;
  readonly #ownSlots: boolean;

  // writer state (hot)
  #file: RecFile | null = null;
  #buf: Uint8Array = new Uint8Array(0);
  #base = 0;
  #limit = 0;
  /** Whether the caller offers idle moments (`useIdleTime`). */
  #idleDriven = false;
  /** Preparation pieces waiting for an idle moment, oldest first. */
  #idleWaiters: { resolve: (idle: boolean) => void; sinceMs: number }[] = [];
  #idlePieces = 0;
  #idleBytes = 0;
  /** Bytes the piece run in the current idle moment covers (see `RECORDER_TUNING.idlePiece`). */
  #idleGrant = 0;
  /** `stats.bytes` at the last idle moment. */
  #bytesAtGrant = 0;
  /** Where the writer next sets up page tables ahead of itself (see #warmUp). */
  #warm = 0;
  /** Whether MADV_POPULATE_WRITE works here (cleared at its first failure). */
  #canPopulate = C.MADV_POPULATE_WRITE >= 0;
  #cur = 0;
  #pos = 0;
  #blockStart = -1;
  #blockCount = 0;
  #blockOpenUs = 0;
  #nextSeq = 0;
  #lastSeq = -1;
  #sinceMsync = 0;
  #msyncFrom = 0;

  // payload views per batch slot (reused while a slot's length does not change)
  #viewBatch: DatagramBatch | null = null;
  #views: Uint8Array[] = [];
  #viewLengths = new Int32Array(0);

  // control state
  #spare: RecFile | null = null;
  #spareRetryAtMs = 0;
  #rotateWanted = false;
  #nowMs = 0;
  #lastFsyncMs = 0;
  #fsyncBusy = false;
  #closed = false;
  #suspended = false;
  /** Background job chains: spare file upkeep, unmapping, file I/O (chunks prepare on their own). */
  readonly #lanes: Record<Lane, Promise<void>> = {
    spare: Promise.resolve(),
    unmap: Promise.resolve(),
    io: Promise.resolve(),
  };
  /** Background promises not yet settled (chunk preparations and lane jobs). */
  #inFlight = 0;
  /** The writer is dropping datagrams because its next chunk is busy (one stall per episode). */
  #stalled = false;
  /** The writer's recent peak rate, record bytes per ms (decaying), measured by `poll()`. */
  #rate = 0;
  #rateAtMs = 0;
  #rateBytes = 0;
  readonly #taken = new Set<string>();

  private constructor(o: ResolvedRecorderOptions, context: RecorderContext) {
    this.#o = o;
    this.#dir = o.dir.replace(/\/+$/, "") || "/";
    this.#ownSlots = (context.slots ?? null) === null;
    this.#slots = context.slots ?? new MappingSlots();
  }

  /**
   * Opens a channel's recorder: recovers every `.inprogress` file of the channel in `dir`, resumes
   * seq after the newest recording, and starts a new file. A full disk does not fail the open: the
   * recorder then starts suspended and retries.
   * @throws RangeError on bad options; Deno/Errno errors when `dir` cannot be created or listed
   */
  static async open(
    options: RecorderOptions,
    context: RecorderContext = {},
  ): Promise<ChannelRecorder> {
    const r = new ChannelRecorder(resolveRecorderOptions(options), context);
    await r.#start();
    return r;
  }

  /** The resolved options. */
  get options(): Readonly<ResolvedRecorderOptions> {
    return this.#o;
  }

  async #start(): Promise<void> {
    const o = this.#o;
    await Deno.mkdir(this.#dir, { recursive: true });
    const listing = await listRecordings(this.#dir);
    const sparePrefix = SPARE_PREFIX + safeSegment(o.channel) + "-";
    for (const p of listing.spares) {
      if (p.slice(dirOf(p).length + 1).startsWith(sparePrefix)) {
        await Deno.remove(p).catch(() => {});
      }
    }
    let nextSeq = o.firstSeq;
    for (const p of listing.inprogress) {
      const meta = await readMeta(p);
      if (meta !== null && meta[META.channel] !== o.channel) continue;
      let report: RecoveryReport;
      try {
        report = await recoverFile(p);
      } catch (e) {
        log.error("Cannot recover recording", { channel: o.channel, file: p, error: errnoOf(e) });
        this.stats.recordErrors++;
        continue;
      }
      this.recovered.push(report);
      if (report.action === "refused" || report.action === "invalid") {
        const to = p.slice(0, -INPROGRESS_SUFFIX.length) + DAMAGED_SUFFIX;
        log.error("Recording is damaged; kept aside", {
          channel: o.channel,
          file: p,
          moved_to: to,
          reason: report.message,
        });
        await Deno.rename(p, to).catch(() => {});
        const last = report.scan?.lastSeq;
        if (last !== null && last !== undefined) nextSeq = Math.max(nextSeq, last + 1);
      } else {
        log.info("Recovered recording", {
          channel: o.channel,
          file: report.finalPath ?? p,
          result: report.message,
        });
      }
    }
    // finished files of this channel (including the ones just recovered)
    const after = await listRecordings(this.#dir);
    for (const p of after.finished) {
      const meta = await readMeta(p);
      if (meta === null || meta[META.channel] !== o.channel) continue;
      const st = await Deno.stat(p);
      const f: FinishedFile = {
        path: p,
        size: st.size,
        mtimeMs: st.mtime?.getTime() ?? 0,
        firstSeq: Number(meta[META.firstSeq] ?? 0),
      };
      this.#finished.push(f);
      nextSeq = Math.max(nextSeq, f.firstSeq);
    }
    // The highest seq is in the newest file that holds a record. A file without one (killed right
    // after it was started) shares its first seq with the file that followed it: skip those.
    const newestFirst = [...this.#finished].sort((a, b) => b.firstSeq - a.firstSeq);
    for (const f of newestFirst) {
      const last = lastSeqOf(f.path);
      if (last !== null) {
        nextSeq = Math.max(nextSeq, last + 1);
        break;
      }
    }
    this.#nextSeq = nextSeq;
    this.stats.nextSeq = nextSeq;
    this.#nowMs = Date.now();
    this.#lastFsyncMs = this.#nowMs;
    this.#prepareSpare();
    if (this.#spare !== null) await this.#spare.chunks[0]!.done;
    if (this.#spare !== null && this.#spare.chunks[0]!.state === "ready") {
      this.#activate(this.#spare, this.#nowMs);
    } else {
      this.#suspended = true;
    }
    this.#runRetention();
  }

  // ---------------------------------------------------------------- hot path

  /**
   * Records datagrams `0..count-1` of `batch`, all received at `recvTimeUs` (µs since the epoch).
   * Synchronous, allocation-free in the steady state, never throws.
   */
  append(batch: DatagramBatch, count: number, recvTimeUs: number): void {
    const lengths = batch.lengths;
    const slotSize = batch.slotSize;
    const o = this.#o;
    if (batch !== this.#viewBatch) this.#resetViews(batch);
    for (let i = 0; i < count; i++) {
      const seq = this.#nextSeq++;
      if (this.#file === null) {
        this.stats.unrecorded++;
        continue;
      }
      let len = lengths[i]!;
      if (len > slotSize) len = slotSize;
      else if (len < 0) len = 0;
      const addr = this.#addrs.get(batch.sourceIp(i));
      const port = batch.sourcePort(i);
      let payload = this.#views[i]!;
      if (this.#viewLengths[i] !== len) payload = this.#view(batch, i, len);
      const size = recordSize(seq, recvTimeUs, addr.length, port, len);
      const reserve = this.#blockStart < 0 ? RESERVED_HEADER : 0;
      if (this.#pos + reserve + size + SYNC_SIZE <= this.#limit) {
        let p = this.#pos - this.#base;
        if (reserve !== 0) {
          this.#buf.fill(0, p, p + RESERVED_HEADER);
          this.#blockStart = this.#pos;
          this.#blockOpenUs = recvTimeUs;
          p += RESERVED_HEADER;
          this.#pos += RESERVED_HEADER;
        }
        encodeRecord(this.#buf, p, seq, recvTimeUs, addr, port, payload);
        this.#pos += size;
      } else if (!this.#appendSlow(seq, recvTimeUs, addr, port, payload, size)) {
        this.stats.unrecorded++;
        continue;
      }
      this.#lastSeq = seq;
      this.#stalled = false;
      this.#blockCount++;
      this.stats.records++;
      this.stats.bytes += size;
      if (o.msyncEvery > 0 && ++this.#sinceMsync >= o.msyncEvery) this.#msync();
      if (this.#pos - this.#blockStart - RESERVED_HEADER >= o.blockSize) this.#commit();
    }
    this.stats.nextSeq = this.#nextSeq;
  }

  #resetViews(batch: DatagramBatch): void {
    this.#viewBatch = batch;
    this.#views = new Array(batch.capacity).fill(new Uint8Array(0));
    this.#viewLengths = new Int32Array(batch.capacity).fill(-1);
  }

  #view(batch: DatagramBatch, i: number, len: number): Uint8Array {
    const off = batch.offset(i);
    const v = batch.data.subarray(off, off + len);
    this.#views[i] = v;
    this.#viewLengths[i] = len;
    return v;
  }

  /** A record that does not fit in the current chunk: cross into the next one, or drop it. */
  #appendSlow(
    seq: number,
    recvTimeUs: number,
    addr: Uint8Array,
    port: number,
    payload: Uint8Array,
    size: number,
  ): boolean {
    const f = this.#file!;
    const reserve = this.#blockStart < 0 ? RESERVED_HEADER : 0;
    const need = reserve + size + SYNC_SIZE;
    for (let tries = 0; this.#pos + need > this.#frontier(f); tries++) {
      // a record (< 66 KiB) fits in the current chunk plus the next (>= 256 KiB)
      const r = tries < 2 ? this.#extend(f) : "failed";
      if (r === "busy") {
        // a background call is on the space it needs: drop rather than wait, and keep the gap
        // out of the open block
        if (!this.#stalled) this.stats.stalls++;
        this.#stalled = true;
        this.#commit();
        return false;
      }
      if (r === "failed") {
        this.#suspend(f);
        return false;
      }
    }
    if (this.#pos + need > this.#warm) this.#warmUp(f, this.#pos + need);
    if (reserve !== 0) {
      this.#writeAt(f, this.#pos, this.#zeros, 0, RESERVED_HEADER);
      this.#blockStart = this.#pos;
      this.#blockOpenUs = recvTimeUs;
      this.#pos += RESERVED_HEADER;
    }
    if (this.#scratch.length < size) this.#scratch = new Uint8Array(Math.max(size, 70_000));
    const s = this.#scratch;
    encodeRecord(s, 0, seq, recvTimeUs, addr, port, payload);
    this.#writeAt(f, this.#pos + 1, s, 1, size - 1);
    this.#storeByte(f, this.#pos, s[0]!);
    this.#pos += size;
    this.#advance(f);
    return true;
  }

  /**
   * Makes sure the pages from the writer's position to `target` and `warmPiece` beyond (within
   * the space it owns) have page tables set up, populating here what the background has not: a
   * write to a page that is not there yet faults and costs about twice as much. The next call
   * comes once the writer is within half a piece of the end of that (`#warm`), so between half a
   * piece and a piece stays populated ahead of it. A page left out only costs its fault.
   */
  #warmUp(f: RecFile, target: number): void {
    const piece = RECORDER_TUNING.warmPiece;
    if (piece <= 0 || !this.#canPopulate) {
      this.#warm = Infinity;
      return;
    }
    if (mmapLockBusy()) {
      // a pool call of this channel holds or awaits the mmap lock for writing: a populate now
      // would queue behind it (seen: 10 to 24 ms). Pages fault one by one meanwhile (a fault
      // takes only its mapping's own lock); try again a quarter piece further on.
      this.#warm = Math.max(this.#pos + (piece >>> 2), target);
      return;
    }
    let warm = this.#pos;
    const want = target + piece;
    for (let i = this.#cur; i < f.chunks.length && warm < want; i++) {
      const c = f.chunks[i]!;
      if (c.region === null || c.state === "failed") break;
      // only what the writer owns: up to `owned` (a zeroing may be in flight after it)
      const to = Math.min(want, c.owned);
      if (c.populated < to) {
        if (!c.region.populate(c.populated - c.start, to - c.populated)) {
          this.#canPopulate = false;
          break;
        }
        c.populated = to;
      }
      warm = Math.max(warm, c.populated);
      if (c.populated < c.start + c.length) break;
    }
    this.#warm = Math.max(warm - (piece >>> 1), target);
  }

  /** End of the space the writer owns contiguously from its position. */
  #frontier(f: RecFile): number {
    const c = f.chunks[this.#cur]!;
    if (c.owned < c.start + c.length) return c.owned;
    const next = f.chunks[this.#cur + 1];
    return next === undefined ? c.owned : next.owned;
  }

  /**
   * Moves the writer's view to the chunk holding `#pos` once it reached the current one's end and
   * owns part of the next; refreshes the fast path's limit.
   */
  #advance(f: RecFile): void {
    for (;;) {
      const c = f.chunks[this.#cur]!;
      if (this.#pos < c.start + c.length) break;
      const next = f.chunks[this.#cur + 1];
      if (next === undefined || next.owned === next.start) break;
      this.#cur++;
      this.#buf = next.region!.bytes;
      this.#base = next.start;
      this.#prepareNextChunk(f);
    }
    this.#limit = Math.min(f.chunks[this.#cur]!.owned, this.#warm);
  }

  /**
   * Makes more space the writer's, at its frontier: `"ok"` when it did (the rest of the chunk
   * there, claimed while no call is in flight on it, allocated and mapped here if need be: a
   * stall), `"busy"` when a call on that memory is in flight (invariant 2), `"failed"` when no
   * space.
   */
  #extend(f: RecFile): "ok" | "busy" | "failed" {
    let c = f.chunks[this.#cur]!;
    if (c.owned === c.start + c.length) {
      if (f.chunks[this.#cur + 1] === undefined) this.#prepareNextChunk(f);
      const next = f.chunks[this.#cur + 1];
      if (next === undefined) return "failed";
      c = next;
    }
    if (c.state === "failed") return "failed";
    if (c.owned === c.start + c.length) return "ok";
    if (c.busy) return "busy";
    c.claimed = true; // its job issues nothing more from now on
    this.stats.stalls++;
    try {
      if (c.region === null) {
        f.mf.allocate(c.start, c.length, c.length);
        c.region = this.#mapChunk(f, c);
      }
    } catch (e) {
      c.state = "failed";
      this.#allocationFailed(f, e);
      return "failed";
    }
    c.owned = c.start + c.length;
    c.state = "ready";
    this.#advance(f);
    return "ok";
  }

  #writeAt(f: RecFile, offset: number, src: Uint8Array, from: number, length: number): void {
    let done = 0;
    for (const c of f.chunks) {
      if (done >= length) break;
      const at = offset + done;
      if (c.region === null || at < c.start || at >= c.owned) continue;
      const n = Math.min(length - done, c.owned - at);
      c.region.bytes.set(src.subarray(from + done, from + done + n), at - c.start);
      done += n;
    }
  }

  #storeByte(f: RecFile, offset: number, value: number): void {
    for (const c of f.chunks) {
      if (c.region !== null && offset >= c.start && offset < c.owned) {
        Atomics.store(c.region.bytes, offset - c.start, value);
        return;
      }
    }
  }

  #msync(): void {
    const f = this.#file;
    this.#sinceMsync = 0;
    if (f === null) return;
    const from = this.#msyncFrom;
    const to = this.#pos;
    for (const c of f.chunks) {
      if (c.region === null || c.owned <= from || c.start >= to) continue;
      const a = Math.max(from, c.start);
      const b = Math.min(to, c.owned);
      // on a pool thread: msync takes the mmap lock, which a pending mmap elsewhere in the
      // process can hold up for milliseconds (MS_ASYNC cannot fail on a live mapping)
      this.#track(c.region.msyncAsync(false, a - c.start, b - a).catch(() => {}));
    }
    this.#msyncFrom = to;
  }

  /** Commits the open block: sync marker, size, then count (its first byte last). */
  #commit(): void {
    const f = this.#file;
    if (f === null || this.#blockStart < 0) return;
    const dataSize = this.#pos - this.#blockStart - RESERVED_HEADER;
    if (this.#pos + SYNC_SIZE <= this.#limit) {
      this.#buf.set(f.sync, this.#pos - this.#base);
    } else {
      this.#writeAt(f, this.#pos, f.sync, 0, SYNC_SIZE);
    }
    const h = this.#hdr;
    writePaddedLong(h, 0, this.#blockCount);
    writePaddedLong(h, 10, dataSize);
    if (this.#blockStart >= this.#base && this.#blockStart + RESERVED_HEADER <= this.#limit) {
      const p = this.#blockStart - this.#base;
      for (let i = RESERVED_HEADER - 1; i >= 1; i--) this.#buf[p + i] = h[i]!;
      Atomics.store(this.#buf, p, h[0]!);
    } else {
      this.#writeAt(f, this.#blockStart + 1, h, 1, RESERVED_HEADER - 1);
      this.#storeByte(f, this.#blockStart, h[0]!);
    }
    this.#pos += SYNC_SIZE;
    f.committedEnd = this.#pos;
    f.records += this.#blockCount;
    this.#blockStart = -1;
    this.#blockCount = 0;
    this.stats.blocks++;
    this.stats.committedSeq = this.#lastSeq;
    this.#advance(f);
    this.#retireOldChunks(f);
    if (this.#o.rotateSize > 0 && f.committedEnd >= this.#o.rotateSize) {
      this.#rotateWanted = true;
      this.#tryRotate();
    }
  }

  // ---------------------------------------------------------------- control

  /**
   * Cheap periodic work (call every few ms with the wall clock): commits a block older than
   * `blockInterval`, rotates on time, schedules fdatasync, retries after allocation failures.
   */
  poll(nowMs: number): void {
    this.#nowMs = nowMs;
    if (this.#idleWaiters.length > 0) {
      this.#releaseIdleWaiters(this.#closed ? Infinity : nowMs - RECORDER_TUNING.idleWaitMs);
    }
    if (this.#closed) return;
    const dt = nowMs - this.#rateAtMs;
    if (dt >= 5) {
      const rate = (this.stats.bytes - this.#rateBytes) / dt;
      this.#rate = Math.max(rate, this.#rate * 0.9);
      this.#rateAtMs = nowMs;
      this.#rateBytes = this.stats.bytes;
    }
    const o = this.#o;
    const f = this.#file;
    if (f !== null) {
      this.#advance(f); // the zeroing may have handed over more space since
      if (this.#blockStart >= 0 && nowMs * 1000 - this.#blockOpenUs >= o.blockInterval * 1000) {
        this.#commit();
      }
      if (nowMs >= f.rotateAtMs) this.#rotateWanted = true;
      if (this.#rotateWanted) this.#tryRotate();
      const file = this.#file;
      const last = file?.chunks.at(-1);
      if (file !== null && last?.state === "failed" && nowMs >= file.retryAtMs) {
        file.chunks.pop();
        this.#prepareNextChunk(file);
      }
      if (
        file !== null && o.fsyncInterval > 0 && !this.#fsyncBusy &&
        nowMs - this.#lastFsyncMs >= o.fsyncInterval && file.committedEnd > file.syncedEnd
      ) {
        this.#fsync(file);
      }
    } else if (this.#spare !== null && this.#takeSpare(this.#spare)) {
      this.#activate(this.#spare, nowMs);
      log.info("Recording resumed", { channel: o.channel, file: this.stats.currentFile });
    }
    if (this.#spare === null && nowMs >= this.#spareRetryAtMs) this.#prepareSpare();
  }

  /** Asks for a rotation: done now when the next file is ready, else on a following `poll()`. */
  rotate(): void {
    if (this.#closed) return;
    this.#rotateWanted = true;
    this.#tryRotate();
  }

  #tryRotate(): void {
    const f = this.#file;
    if (f === null || this.#closed) {
      this.#rotateWanted = false;
      return;
    }
    const spare = this.#spare;
    if (spare === null || !this.#takeSpare(spare)) return;
    this.#rotateWanted = false;
    this.#commit();
    // committing a file past rotateSize rotates it (a nested call): then it is done already
    if (this.#file !== f) return;
    this.#detach(f);
    this.#activate(spare, this.#nowMs);
    this.#finish(f);
  }

  /**
   * Whether the spare can become the file being written now: its first chunk is ready, or mapped
   * with no zeroing in flight (then the writer claims it as it is and faults in the rest itself,
   * rather than let a rotation wait on a preparation that a busy machine may starve for long).
   */
  #takeSpare(spare: RecFile): boolean {
    const c = spare.chunks[0]!;
    if (c.state === "ready") return true;
    if (c.state !== "preparing" || c.region === null || c.busy) return false;
    c.claimed = true;
    c.owned = c.start + c.length;
    c.state = "ready";
    return true;
  }

  /** Stops writing `f` (no space): commit, finish it, and wait for a new file. */
  #suspend(f: RecFile): void {
    this.#commit();
    if (this.#file !== f) return; // the commit rotated
    this.#detach(f);
    this.#finish(f);
    this.#suspended = true;
    log.limited(
      `rec-suspend-${this.#o.channel}`,
      10_000,
      "error",
      "Recording stopped: no space to preallocate",
      { channel: this.#o.channel, retry_ms: this.#o.retryInterval },
    );
  }

  #detach(f: RecFile): void {
    this.#msync();
    this.#file = null;
    this.stats.currentFile = "";
    this.#buf = new Uint8Array(0);
    this.#base = 0;
    this.#limit = 0;
    this.#pos = 0;
    f.closed = true;
  }

  #allocationFailed(f: RecFile, e: unknown): void {
    this.stats.recordErrors++;
    f.retryAtMs = this.#nowMs + this.#o.retryInterval;
    log.limited(
      `rec-alloc-${this.#o.channel}`,
      10_000,
      "error",
      "Cannot preallocate recording space",
      { channel: this.#o.channel, file: f.path, error: errnoOf(e) },
    );
  }

  #mapChunk(f: RecFile, c: Chunk): MappedRegion {
    const region = f.mf.map(c.start, c.length, this.#slots);
    try {
      region.madvise(C.MADV_RANDOM);
    } catch {
      // advisory only
    }
    return region;
  }

  #chunkLength(start: number): number {
    const o = this.#o;
    const page = pageSize();
    const round = (n: number) => Math.ceil(n / page) * page;
    let len = o.preallocChunk;
    if (o.rotateSize > 0) {
      const cap = o.rotateSize + o.blockSize + 2 * (65536 + MAX_RECORD_OVERHEAD) + 4096;
      if (start < cap) len = Math.min(len, Math.max(cap - start, 256 << 10));
    }
    return round(len);
  }

  /** A chunk at `start` of `f`, its preparation started at once (see `#prepareChunk`). */
  #newChunk(f: RecFile, start: number): Chunk {
    const chunk: Chunk = {
      start,
      length: this.#chunkLength(start),
      region: null,
      state: "preparing",
      owned: start,
      populated: start,
      busy: false,
      claimed: false,
      done: Promise.resolve(),
    };
    chunk.done = this.#track(this.#prepareChunk(f, chunk).catch((e) => this.#backgroundError(e)));
    return chunk;
  }

  /**
   * A chunk's preparation: posix_fallocate, mmap, then zeros written from its start in pieces;
   * each zeroed piece becomes the writer's. Once the writer comes within the hand-over margin of
   * the next piece, the rest is handed over as it is. Before every call it checks that the writer
   * has not claimed the chunk and the file is still open (invariant 2).
   */
  async #prepareChunk(f: RecFile, c: Chunk): Promise<void> {
    if (c.claimed || f.closed) return;
    try {
      await f.mf.allocateAsync(c.start, c.length);
      if (c.claimed || f.closed) return;
      // mapped on a pool thread: mmap on this thread could wait for the mmap lock (see mapAsync)
      const region = await f.mf.mapAsync(c.start, c.length, C.MADV_RANDOM, this.#slots);
      if (c.claimed || f.closed || c.region !== null) {
        // the writer took the chunk (and mapped it itself) meanwhile, or the file was closed
        await region.unmapAsync();
        return;
      }
      c.region = region;
    } catch (e) {
      if (c.claimed || f.closed) return;
      c.state = "failed";
      this.#allocationFailed(f, e);
      return;
    }
    const region = c.region;
    const end = c.start + c.length;
    const t = RECORDER_TUNING;
    const piece = Math.max(pageSize(), Math.min(t.zeroPiece, Math.max(c.length >>> 3, t.minPiece)));
    // page tables first (cheaper than faults, and they spare the writer some fault cost on the
    // part handed over unzeroed), then zeros
    const page = pageSize();
    const populatePiece = Math.max(page, Math.min(t.populatePiece, piece));
    // the piece for this idle moment, whole pages
    const idlePiece = () =>
      Math.max(page, Math.min(Math.ceil(this.#idleGrant / page) * page, piece));
    // Each piece runs either here in an idle moment of the channel thread (synchronously, so no
    // call is in flight and the writer cannot interleave) or on a pool thread. Every wait is
    // followed by the checks again: the writer may have come near or claimed the chunk meanwhile.
    let at = c.start;
    while (t.populatePiece > 0 && at < end) {
      if (c.claimed || f.closed) return;
      if (this.#writerNear(f, c.start)) break;
      if (at < c.populated) {
        at = c.populated; // the writer did it
        continue;
      }
      const idle = await this.#nextIdle();
      if (c.claimed || f.closed) return;
      if (this.#writerNear(f, c.start)) break;
      if (idle && mmapLockBusy()) continue; // it would wait for the mmap lock: next moment
      if (at < c.populated) continue; // the writer did it meanwhile
      const n = Math.min(idle ? idlePiece() : populatePiece, end - at);
      if (idle) {
        this.#idlePieces++;
        this.#idleBytes += n;
        if (!region.populate(at - c.start, n)) break;
        // not `busy`: it changes no byte, so the writer may claim the chunk meanwhile
      } else if (!await region.populateAsync(at - c.start, n)) break;
      if (at <= c.populated) c.populated = Math.max(c.populated, at + n);
      at += n;
    }
    while (t.zeroPiece > 0 && c.owned < end) {
      if (c.claimed || f.closed) return;
      if (this.#writerNear(f, c.owned)) break; // hand the rest over as it is
      const idle = await this.#nextIdle();
      if (c.claimed || f.closed) return;
      const at = c.owned;
      if (this.#writerNear(f, at)) break;
      const n = Math.min(idle ? idlePiece() : piece, end - at);
      if (idle) {
        this.#idlePieces++;
        this.#idleBytes += n;
        touchPages(region.bytes, at - c.start, n);
      } else {
        c.busy = true;
        try {
          await region.zeroAsync(at - c.start, n);
        } finally {
          c.busy = false;
        }
      }
      c.owned = at + n;
      if (at <= c.populated) c.populated = Math.max(c.populated, at + n);
    }
    if (c.claimed || f.closed) return;
    c.owned = end;
    c.state = "ready";
  }

  /** Whether the writer of `f` is within the hand-over margin of `at` (see `RECORDER_TUNING`). */
  #writerNear(f: RecFile, at: number): boolean {
    const t = RECORDER_TUNING;
    return this.#file === f &&
      at - this.#pos < Math.max(t.minMargin, this.#rate * t.handoverWindowMs);
  }

  #prepareNextChunk(f: RecFile): void {
    // keep two chunks prepared ahead of the writer
    while (f.chunks.length < this.#cur + 3) {
      const last = f.chunks[f.chunks.length - 1]!;
      if (last.state === "failed") return;
      f.chunks.push(this.#newChunk(f, last.start + last.length));
    }
  }

  /** Queues `job` after the previous job of `lane`; the result settles with it, never rejects. */
  #queue(lane: Lane, job: () => Promise<void> | void): Promise<void> {
    const p = this.#track(this.#lanes[lane].then(job).catch((e) => this.#backgroundError(e)));
    this.#lanes[lane] = p;
    return p;
  }

  /** Counts `p` in `#inFlight` until it settles (it never rejects). */
  #track(p: Promise<void>): Promise<void> {
    this.#inFlight++;
    return p.finally(() => {
      this.#inFlight--;
    });
  }

  #backgroundError(e: unknown): void {
    this.stats.recordErrors++;
    log.error("Recorder background task failed", { channel: this.#o.channel, error: errnoOf(e) });
  }

  /**
   * Unmaps (in the background) chunks wholly before the writer's chunk, the last commit and the
   * msync mark (invariant 4).
   */
  #retireOldChunks(f: RecFile): void {
    const o = this.#o;
    // the periodic sync does not need them (it goes through the file's sync window)
    const keepFrom = Math.min(f.committedEnd, o.msyncEvery > 0 ? this.#msyncFrom : Infinity);
    // chunks before the writer's are never mapped again: skip those already retired (this runs
    // at every commit, and a file can have a hundred chunks)
    let i = f.retiredBelow;
    while (i < this.#cur && f.chunks[i]!.region === null) i++;
    f.retiredBelow = i;
    for (; i < this.#cur; i++) {
      const c = f.chunks[i]!;
      if (c.region === null || c.owned < c.start + c.length || c.start + c.length > keepFrom) {
        continue;
      }
      const region = c.region;
      c.region = null;
      this.#queue("unmap", () => dropAndUnmap(region));
    }
  }

  #prepareSpare(): void {
    if (this.#closed || this.#spare !== null) return;
    const o = this.#o;
    const rand = crypto.getRandomValues(new Uint8Array(6));
    const tag = Array.from(rand, (b) => b.toString(16).padStart(2, "0")).join("");
    const path = `${this.#dir}/${SPARE_PREFIX}${safeSegment(o.channel)}-${tag}.tmp`;
    let mf: MappedFile;
    try {
      mf = MappedFile.create(path);
    } catch (e) {
      this.stats.recordErrors++;
      this.#spareRetryAtMs = this.#nowMs + o.retryInterval;
      log.limited(`rec-spare-${o.channel}`, 10_000, "error", "Cannot create recording file", {
        channel: o.channel,
        file: path,
        error: errnoOf(e),
      });
      return;
    }
    const spare: RecFile = {
      mf,
      path,
      finalPath: "",
      sync: crypto.getRandomValues(new Uint8Array(SYNC_SIZE)),
      firstSeq: 0,
      chunks: [],
      retiredBelow: 0,
      committedEnd: 0,
      syncedEnd: 0,
      rotateAtMs: Infinity,
      retryAtMs: 0,
      closed: false,
      records: 0,
    };
    const c = this.#newChunk(spare, 0);
    spare.chunks.push(c);
    this.#spare = spare;
    this.#queue("spare", async () => {
      await c.done;
      if (c.state === "failed" && this.#spare === spare) {
        this.#spare = null;
        this.#spareRetryAtMs = this.#nowMs + o.retryInterval;
        spare.closed = true;
        await spare.mf.closeAsync();
        await Deno.remove(path).catch(() => {});
      }
    });
  }

  /** Makes the prepared spare the file being written. */
  #activate(spare: RecFile, nowMs: number): void {
    const o = this.#o;
    this.#spare = null;
    const seq = this.#nextSeq;
    const base = renderTemplate(o.template, o.channel, nowMs, seq);
    let header: Uint8Array;
    try {
      const finalPath = uniqueRecordingPath(this.#dir, base, this.#taken);
      const path = finalPath + INPROGRESS_SUFFIX;
      const sub = dirOf(finalPath);
      if (sub !== this.#dir) Deno.mkdirSync(sub, { recursive: true });
      Deno.renameSync(spare.path, path);
      spare.path = path;
      spare.finalPath = finalPath;
      this.#taken.add(finalPath);
      header = encodeHeader(
        headerMeta({
          channel: o.channel,
          host: o.host,
          version: VERSION,
          firstSeq: seq,
          startMs: nowMs,
        }),
        spare.sync,
      );
    } catch (e) {
      this.stats.recordErrors++;
      log.limited(`rec-activate-${o.channel}`, 10_000, "error", "Cannot start recording file", {
        channel: o.channel,
        error: errnoOf(e),
      });
      spare.closed = true;
      this.#queue("spare", async () => {
        await Promise.all(spare.chunks.map((c) => c.done));
        await spare.mf.closeAsync();
        await Deno.remove(spare.path).catch(() => {});
      });
      this.#spareRetryAtMs = nowMs + o.retryInterval;
      this.#suspended = true;
      return;
    }
    const c0 = spare.chunks[0]!;
    const bytes = c0.region!.bytes;
    bytes.set(header, 0);
    spare.firstSeq = seq;
    spare.committedEnd = header.length;
    spare.syncedEnd = 0;
    spare.rotateAtMs = o.rotateEvery > 0
      ? (Math.floor(nowMs / o.rotateEvery) + 1) * o.rotateEvery
      : Infinity;
    this.#file = spare;
    this.#cur = 0;
    this.#buf = bytes;
    this.#base = 0;
    this.#warm = 0;
    this.#limit = 0; // the first append sets up page tables (#warmUp)
    this.#pos = header.length;
    this.#msyncFrom = 0;
    this.#blockStart = -1;
    this.#blockCount = 0;
    this.#suspended = false;
    this.stats.files++;
    this.stats.currentFile = spare.path;
    this.#prepareNextChunk(spare);
    this.#prepareSpare();
    // make the new name durable (power loss) off the hot path
    const dir = dirOf(spare.path);
    this.#queue("io", () => fsyncDir(dir).catch(() => {}));
  }

  #fsync(f: RecFile): void {
    this.#fsyncBusy = true;
    const upTo = f.committedEnd;
    this.#lastFsyncMs = this.#nowMs;
    const from = f.syncedEnd;
    this.#queue("io", async () => {
      try {
        if (f.closed) return;
        await this.#syncRange(f, from, upTo);
        this.stats.fsyncs++;
        f.syncedEnd = upTo;
      } catch (e) {
        this.stats.recordErrors++;
        log.limited(`rec-fsync-${this.#o.channel}`, 10_000, "error", "Cannot sync the recording", {
          channel: this.#o.channel,
          file: f.path,
          error: errnoOf(e),
        });
      } finally {
        this.#fsyncBusy = false;
      }
    });
  }

  /**
   * Makes `[from, to)` of `f` durable: msync(MS_SYNC) of just that range through the file's
   * read-only sync window (`MappedFile.syncRangeAsync`), which writes and waits for that range and
   * what is needed to read it back. A whole-file fdatasync would also write the zeroed pages
   * prepared ahead of the writer and write-protect them, so the relay thread would fault again on
   * every one of them; and msync through the chunk mappings themselves needed them all mapped until
   * synced (a slow sync then let hundreds of MiB of mappings pile up, and past a limit fell back to
   * that fdatasync: measured, relay stalls of up to 1.3 s on the mmap lock at 1400 B × 100k).
   */
  async #syncRange(f: RecFile, from: number, to: number): Promise<void> {
    // Drop the page-table entries of the pages wholly committed in chunks still mapped (the
    // writer never writes below the last commit): write-back then has no mapped page to
    // write-protect, where it would otherwise flush the TLB once per page (8 % of the relay's
    // core at 64 B × 250k, measured). The pages stay in the page cache, dirty until written.
    const page = pageSize();
    for (const c of f.chunks) {
      const r = c.region;
      if (r === null || r.unmapped || c.start >= to || c.start + c.length <= from) continue;
      const a = Math.max(from, c.start);
      const b = Math.min(to, c.start + c.length);
      const za = a - (a % page);
      const zb = b - (b % page);
      if (zb > za) await r.madviseAsync(MADV_DONTNEED, za - c.start, zb - za).catch(() => {});
    }
    await f.mf.syncRangeAsync(from, to - from);
  }

  /**
   * Unmaps every chunk of a detached file once every job on its chunks is over, and so are its
   * pending unmaps (invariant 4).
   */
  async #releaseChunks(f: RecFile): Promise<void> {
    await Promise.all(f.chunks.map((c) => c.done));
    await this.#lanes.unmap;
    for (const c of f.chunks) {
      const r = c.region;
      if (r === null) continue;
      c.region = null;
      await dropAndUnmap(r);
    }
  }

  /** Removes a detached file that holds no record, off the hot path (after its jobs settle). */
  #discard(f: RecFile): void {
    this.#queue("io", async () => {
      await this.#releaseChunks(f);
      await f.mf.closeAsync();
      await Deno.remove(f.path).catch(() => {});
    });
  }

  /** Finishes a detached file off the hot path: unmap, truncate, fsync, rename, fsync the dir. */
  #finish(f: RecFile): void {
    const o = this.#o;
    this.#queue("io", async () => {
      try {
        await this.#releaseChunks(f);
        await f.mf.truncateAsync(f.committedEnd);
        await f.mf.fsyncAsync();
        this.stats.fsyncs++;
        await f.mf.closeAsync();
        let target = f.finalPath;
        try {
          await Deno.lstat(target);
          const stem = target.slice(this.#dir.length + 1, -".avro".length);
          target = uniqueRecordingPath(this.#dir, stem, this.#taken);
        } catch {
          // the name is free
        }
        await Deno.rename(f.path, target);
        this.#taken.delete(f.finalPath);
        await fsyncDir(dirOf(target));
        const st = await Deno.stat(target);
        this.#finished.push({
          path: target,
          size: st.size,
          mtimeMs: st.mtime?.getTime() ?? Date.now(),
          firstSeq: f.firstSeq,
        });
        log.debug("Recording finished", {
          channel: o.channel,
          file: target,
          records: f.records,
          bytes: f.committedEnd,
        });
        await this.#retention();
      } catch (e) {
        this.stats.recordErrors++;
        log.error("Cannot finish recording", {
          channel: o.channel,
          file: f.path,
          error: errnoOf(e),
        });
        await f.mf.closeAsync().catch(() => {});
      }
    });
  }

  #runRetention(): void {
    this.#queue("io", () => this.#retention());
  }

  async #retention(): Promise<void> {
    const o = this.#o;
    const doomed = planRetention(this.#finished, o, Date.now());
    for (const f of doomed) {
      try {
        await Deno.remove(f.path);
        log.info("Deleted old recording", { channel: o.channel, file: f.path });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          log.warn("Cannot delete old recording", {
            channel: o.channel,
            file: f.path,
            error: errnoOf(e),
          });
          continue;
        }
      }
      const i = this.#finished.indexOf(f);
      if (i >= 0) this.#finished.splice(i, 1);
    }
  }

  /**
   * Whether background work is under way: its steps advance only while the caller's thread yields
   * to its event loop, so a busy caller yields every few ms while this is true (and may run on
   * without yielding while it is false).
   */
  get busy(): boolean {
    return this.#inFlight > 0;
  }

  /**
   * The caller promises idle moments: whenever its socket is empty and `wantsIdle` is true, it
   * calls `grantIdle()` and then awaits anything (the piece runs as a microtask before the caller
   * resumes). Chunk preparation then runs in small pieces on the caller's thread instead of on
   * pool threads (see `RECORDER_TUNING.idlePiece`).
   */
  useIdleTime(): void {
    this.#idleDriven = true;
  }

  /** Whether a preparation piece waits for an idle moment (`grantIdle`). */
  get wantsIdle(): boolean {
    return this.#idleWaiters.length > 0;
  }

  /** The caller is idle: the oldest waiting piece runs at the caller's next `await`. */
  grantIdle(): void {
    const t = RECORDER_TUNING;
    const recorded = this.stats.bytes - this.#bytesAtGrant;
    this.#bytesAtGrant = this.stats.bytes;
    this.#idleGrant = Math.min(t.idlePieceMax, Math.max(t.idlePiece, 2 * recorded));
    this.#idleWaiters.shift()?.resolve(true);
  }

  /** Preparation pieces run on the caller's thread so far (`useIdleTime`). */
  get idlePieces(): number {
    return this.#idlePieces;
  }

  /** Bytes those pieces covered (page tables and first writes counted apart). */
  get idleBytes(): number {
    return this.#idleBytes;
  }

  /** Resolves true in an idle moment, or false: then the piece goes to the pool. */
  #nextIdle(): Promise<boolean> {
    if (!this.#idleDriven || this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => this.#idleWaiters.push({ resolve, sinceMs: this.#nowMs }));
  }

  /** Sends the pieces waiting since `sinceMs` or earlier to the pool. */
  #releaseIdleWaiters(sinceMs: number): void {
    const w = this.#idleWaiters;
    while (w.length > 0 && w[0]!.sinceMs <= sinceMs) w.shift()!.resolve(false);
  }

  /** Background work still queued (for tests and shutdown). */
  async settle(): Promise<void> {
    const lanes = this.#lanes;
    for (;;) {
      const { spare, unmap, io } = lanes;
      const chunks = [this.#file, this.#spare].flatMap((f) => f?.chunks.map((c) => c.done) ?? []);
      await Promise.all([spare, unmap, io, ...chunks]);
      if (spare === lanes.spare && unmap === lanes.unmap && io === lanes.io) return;
    }
  }

  /** Whether datagrams are being recorded (false while suspended by a full disk, or closed). */
  get recording(): boolean {
    return this.#file !== null;
  }

  /** Finished files of this channel known to the recorder, oldest first. */
  get finishedFiles(): readonly FinishedFile[] {
    return [...this.#finished].sort((a, b) => a.firstSeq - b.firstSeq);
  }

  /**
   * Commits the open block, finishes the file and removes the spare. With `dropEmpty`, a file
   * that holds no record is removed instead of finished (a channel that never started); with
   * `discard`, the file is removed whatever it holds (a scratch recording, e.g. the warm-up's).
   * Safe to call twice.
   */
  async close(opts: { dropEmpty?: boolean; discard?: boolean } = {}): Promise<void> {
    if (this.#closed) {
      await this.settle();
      return;
    }
    this.#closed = true; // before the commit: a file past rotateSize must not rotate now
    this.#releaseIdleWaiters(Infinity);
    const f = this.#file;
    const empty = f !== null && f.records === 0 && this.#blockCount === 0;
    if (f !== null && (opts.discard === true || (opts.dropEmpty === true && empty))) {
      this.#detach(f);
      this.#discard(f);
    } else if (f !== null) {
      this.#commit();
      this.#detach(f);
      this.#finish(f);
    }
    await this.settle();
    const spare = this.#spare;
    this.#spare = null;
    if (spare !== null) {
      spare.closed = true;
      await Promise.all(spare.chunks.map((c) => c.done));
      await spare.mf.closeAsync();
      await Deno.remove(spare.path).catch(() => {});
    }
    if (this.#ownSlots) this.#slots.close();
  }

  /** Address ranges kept for chunk mappings (see `MappingSlots`): alive, ever reserved, buffers. */
  get mappingSlots(): { size: number; reserved: number; buffers: number } {
    return { size: this.#slots.size, reserved: this.#slots.reserved, buffers: this.#slots.buffers };
  }

  /** `await using` support. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Drops a retired region's page tables on a pool thread (cheap munmap after), then unmaps it. */
async function dropAndUnmap(region: MappedRegion): Promise<void> {
  if (region.unmapped) return;
  await region.madviseAsync(MADV_DONTNEED).catch(() => {}); // advisory only
  await region.unmapAsync();
}

async function readMeta(path: string): Promise<Record<string, string> | null> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch {
    return null;
  }
  try {
    const buf = new Uint8Array(64 << 10);
    let n = 0;
    while (n < buf.length) {
      const r = await f.read(buf.subarray(n));
      if (r === null) break;
      n += r;
    }
    const h = decodeHeader(buf.subarray(0, n));
    return h.ok ? h.header.meta : null;
  } finally {
    f.close();
  }
}

/** The last seq of a finished recording, from its framing (no record decoding); null if none. */
export function lastSeqOf(path: string): number | null {
  const size = Deno.statSync(path).size;
  if (size === 0) return null;
  const mf = MappedFile.open(path, { readOnly: true });
  try {
    const region = mf.map(0, size);
    try {
      return scanRecording(region.bytes, { deep: false }).lastSeq;
    } finally {
      region.unmap();
    }
  } finally {
    mf.close();
  }
}
