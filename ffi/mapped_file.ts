/**
 * `MappedFile`: a file preallocated with posix_fallocate and mapped MAP_SHARED, with zero-copy
 * views that cannot be reached after unmap (the views are detached first, so a stale one reads as
 * empty instead of faulting).
 *
 * Slow calls also come as `…Async` methods that run on a Deno pool thread (`allocateAsync`,
 * `fdatasyncAsync`, `region.zeroAsync`, `region.populateAsync`…). A file and each region count
 * their calls in flight: `unmap()` and `close()` throw EBUSY while one is, so a pool thread can
 * never touch unmapped memory or a descriptor number that was closed (and maybe reused);
 * `unmapAsync()` and `closeAsync()` wait for them first. errno is thread-local and lost on a pool
 * thread: a failed async call rejects with an ErrnoError whose code is the likeliest reason (EIO
 * for fsync, fdatasync and ftruncate; EINVAL for madvise and msync), except posix_fallocate, which
 * returns its real error number (ENOSPC).
 */
import { C } from "./constants.ts";
import { ErrnoError, errnoNumber, unwrap } from "./errno.ts";
import { errno, libc } from "./libc.ts";
import { libcAsync } from "./libc_async.ts";

const MAP_FAILED = 0xffffffffffffffffn;
const encoder = new TextEncoder();

/** The system page size (mmap offsets must be multiples of it). */
export function pageSize(): number {
  return libc().getpagesize();
}

function cString(path: string): Uint8Array {
  const b = encoder.encode(path);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** Counts calls in flight and wakes the waiters of `idle()` when none is left. */
class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  /** Counts `call` until it settles (the count drops in a continuation, never early). */
  track<T>(call: Promise<T>): Promise<T> {
    this.#count++;
    return call.finally(() => {
      if (--this.#count > 0) return;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** Settles once no call is in flight. */
  idle(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }
}

/**
 * This thread's pool calls that take the process's mmap lock for writing (mmap, munmap, madvise
 * that changes a mapping's flags). A MADV_POPULATE_WRITE issued meanwhile queues behind them (a
 * read-write semaphore lets no reader pass a waiting writer), and the pool thread holding the
 * lock runs at the lowest priority: the populate could wait for tens of ms.
 */
const mmapWriters = new InFlight();

/**
 * Whether a pool call started by this thread (mapAsync, unmapAsync, madviseAsync with a flag
 * advice) may be holding or waiting for the process's mmap lock for writing: a synchronous
 * `populate()` now could wait behind it. Calls of other threads are not counted.
 */
export function mmapLockBusy(): boolean {
  return mmapWriters.count > 0;
}

/** Advice values that only change a mapping's flags (mmap lock taken for writing). */
const FLAG_ADVICE = new Set([C.MADV_RANDOM, C.MADV_SEQUENTIAL, C.MADV_NORMAL]);

function busy(syscall: string, path: string): ErrnoError {
  return new ErrnoError(syscall, errnoNumber("EBUSY"), path);
}

function checkRange(offset: number, length: number, size: number): void {
  if (
    !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
    offset + length > size
  ) {
    throw new RangeError(`Range ${offset}+${length} is outside the region of ${size} bytes`);
  }
}

/** Address space reserved in one piece, with one ArrayBuffer over all of it. */
interface Arena {
  readonly ptr: Deno.PointerObject;
  readonly size: number;
  readonly buffer: ArrayBuffer;
  /** Bytes handed out as slots, from the start. */
  used: number;
  /** Slots of it not given back to the OS. */
  live: number;
}

/** An address range kept for mappings of one length, inside an arena. */
interface Slot {
  readonly owner: MappingSlots;
  readonly ptr: Deno.PointerObject;
  readonly length: number;
  readonly arena: Arena;
  /** Offset in the arena (and its buffer). */
  readonly offset: number;
}

/** Flags of an address range kept reserved: no access, no memory committed. */
const RESERVE_FLAGS = C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_NORESERVE;
/** The same, over a mapping it replaces (a slot's range after unmap). */
const RESERVE_AGAIN_FLAGS = RESERVE_FLAGS | C.MAP_FIXED;
const FIRST_ARENA = 64 << 20;
const MAX_ARENA = 1 << 30;

function mapFailed(ptr: Deno.PointerObject | null): boolean {
  return ptr === null || Deno.UnsafePointer.value(ptr) === MAP_FAILED;
}

function release(ptr: Deno.PointerObject, offset: number, length: number): void {
  if (length > 0) libc().munmap(Deno.UnsafePointer.offset(ptr, offset), BigInt(length));
}

/**
 * Address ranges reused by the mappings of a long-running writer, so that a new mapping does not
 * need a new ArrayBuffer. V8 counts every ArrayBuffer over foreign memory as external memory until
 * a garbage collection has seen it die, and schedules full collections by it: a recorder that
 * mapped an 8 MiB chunk ten times a second started a full GC (1 to 3 ms on its thread) every 0.2 to
 * 0.3 s. With slots, a mapping goes over a range kept from an earlier one (`MAP_FIXED`), through
 * a view of an ArrayBuffer made once; an unmapped range is kept reserved (PROT_NONE), not given
 * back. New ranges are cut from arenas of reserved address space (64 MiB, then each twice the
 * last, up to 1 GiB), one ArrayBuffer each, so even a growing set of ranges makes few of them.
 *
 * The cost: unmapping a region of a slot cannot detach the views taken from it (the arena's
 * ArrayBuffer lives on). `region.bytes` still throws once it is unmapped, but a view kept from
 * before then reaches a PROT_NONE range (a crash, SIGSEGV) or, once the range is reused, another
 * mapping. Only code that drops its views before unmapping (the recorder, by its invariants)
 * should map through slots. Free ranges are reused oldest first, to keep such a mistake loud.
 */
export class MappingSlots {
  readonly #free = new Map<number, Slot[]>();
  readonly #arenas: Arena[] = [];
  #nextArena = FIRST_ARENA;
  #reserved = 0;
  #closed = false;

  /** Ranges alive: free or holding a mapping. */
  get size(): number {
    return this.#arenas.reduce((n, a) => n + a.live, 0);
  }

  /** Ranges ever cut out for a mapping (each later reused by mappings of its length). */
  get reserved(): number {
    return this.#reserved;
  }

  /** ArrayBuffers made: one per arena. */
  get buffers(): number {
    return this.#arenas.length;
  }

  /** @internal a free range of `length` bytes, or a new one */
  take(length: number): Slot {
    if (this.#closed) throw new Error("MappingSlots used after close()");
    const s = this.#free.get(length)?.shift();
    if (s !== undefined) return s;
    // a page left reserved after each range: neighbouring mappings of one file never merge into
    // one (each stays its own entry in /proc/self/maps), and a write past the end faults
    const page = pageSize();
    const span = Math.ceil(length / page) * page + page;
    let arena = this.#arenas.at(-1);
    if (arena === undefined || arena.size - arena.used < span) arena = this.#newArena(span);
    const slot = {
      owner: this,
      ptr: Deno.UnsafePointer.offset(arena.ptr, arena.used)!,
      length,
      arena,
      offset: arena.used,
    };
    arena.used += span;
    arena.live++;
    this.#reserved++;
    return slot;
  }

  #newArena(span: number): Arena {
    const page = pageSize();
    const size = Math.max(this.#nextArena, Math.ceil(span / page) * page);
    this.#nextArena = Math.min(this.#nextArena * 2, MAX_ARENA);
    const ptr = libc().mmap(null, BigInt(size), C.PROT_NONE, RESERVE_FLAGS, -1, 0n);
    if (mapFailed(ptr)) throw new ErrnoError("reserve address space for", errno(), `${size} bytes`);
    const buffer = Deno.UnsafePointerView.getArrayBuffer(ptr!, size);
    const arena = { ptr: ptr!, size, buffer, used: 0, live: 0 };
    this.#arenas.push(arena);
    return arena;
  }

  /**
   * @internal `slot` after its mapping was replaced by a reservation (PROT_NONE; `again` is what
   * that mmap returned): free for the next mapping of its length, or, if that failed or the slots
   * are closed, given back to the OS
   */
  give(slot: Slot, again: Deno.PointerObject | null): void {
    if (this.#closed || mapFailed(again)) {
      this.drop(slot);
      return;
    }
    let free = this.#free.get(slot.length);
    if (free === undefined) this.#free.set(slot.length, free = []);
    free.push(slot);
  }

  /** @internal gives `slot`'s range back to the OS (and its arena, once the last is gone) */
  drop(slot: Slot): void {
    release(slot.arena.ptr, slot.offset, slot.length);
    if (--slot.arena.live === 0 && this.#closed) slot.arena.buffer.transfer(0);
  }

  /**
   * Gives every free range back to the OS, and keeps the slots open: unlike `close()` it detaches
   * no ArrayBuffer (which would make V8 throw away optimised code; see `RecorderContext.slots`).
   */
  trim(): void {
    for (const free of this.#free.values()) for (const s of free) this.drop(s);
    this.#free.clear();
  }

  /**
   * Gives every free range back to the OS; a range still holding a mapping goes when that is
   * unmapped. An arena's views detach once all of it is gone. Safe to call twice.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const a of this.#arenas) {
      release(a.ptr, a.used, a.size - a.used); // never handed out
      if (a.live === 0) a.buffer.transfer(0);
    }
    for (const free of this.#free.values()) for (const s of free) this.drop(s);
    this.#free.clear();
  }
}

/** How to open a MappedFile. */
export interface MappedFileOptions {
  /** Create the file when missing. @default false */
  create?: boolean;
  /** Truncate it to zero length on open. @default false */
  truncate?: boolean;
  /** Open read-only (maps are then PROT_READ). @default false */
  readOnly?: boolean;
  /** Permission bits for a created file. @default 0o644 */
  mode?: number;
}

/** A file descriptor opened for mapping. Close it with `close()`, which is safe to call twice. */
export class MappedFile {
  #fd: number;
  readonly #path: string;
  readonly #readOnly: boolean;
  readonly #regions = new Set<MappedRegion>();
  readonly #calls = new InFlight();
  /** The read-only window `syncRangeAsync` msyncs through (no views, never touched). */
  #window: Deno.PointerObject | null = null;
  #windowLength = 0;
  /** `syncRangeAsync` calls run one after another (a window is replaced only between them). */
  #windowOps: Promise<void> = Promise.resolve();

  private constructor(fd: number, path: string, readOnly: boolean) {
    this.#fd = fd;
    this.#path = path;
    this.#readOnly = readOnly;
  }

  /**
   * Opens `path`. The file is created with Deno APIs first (open(2) is variadic, and macOS arm64
   * passes variadic arguments differently), then opened O_CLOEXEC with two arguments.
   */
  static open(path: string, options: MappedFileOptions = {}): MappedFile {
    const readOnly = options.readOnly ?? false;
    if (options.create || options.truncate) {
      const f = Deno.openSync(path, {
        read: true,
        write: true,
        create: options.create ?? false,
        truncate: options.truncate ?? false,
        mode: options.mode ?? 0o644,
      });
      f.close();
    }
    const flags = (readOnly ? C.O_RDONLY : C.O_RDWR) | C.O_CLOEXEC;
    const fd = unwrap(libc().open(cString(path), flags), "open", path);
    return new MappedFile(fd, path, readOnly);
  }

  /** Creates (or truncates) `path` for writing. */
  static create(path: string, mode = 0o644): MappedFile {
    return MappedFile.open(path, { create: true, truncate: true, mode });
  }

  /** The path the file was opened by. */
  get path(): string {
    return this.#path;
  }

  /** The descriptor, or -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  #live(): number {
    if (this.#fd < 0) throw new ErrnoError("use closed file", C.EBADF, this.#path);
    return this.#fd;
  }

  /** The file's current size in bytes. */
  size(): number {
    const r = libc().lseek(this.#live(), 0n, C.SEEK_END);
    const n = Number(r);
    if (n < 0) throw new ErrnoError("seek in", errno(), this.#path);
    return n;
  }

  /**
   * Reserves disk blocks for `[offset, offset+length)` with posix_fallocate, `chunk` bytes per call,
   * growing the file as needed. A full disk is an ErrnoError with code ENOSPC, never a SIGBUS later.
   * (macOS has no posix_fallocate: zeros are written instead, which reserves the blocks too.)
   */
  allocate(offset: number, length: number, chunk = 8 << 20): void {
    const fd = this.#live();
    const s = libc();
    for (let at = offset; at < offset + length; at += chunk) {
      const n = Math.min(chunk, offset + length - at);
      if (s.posix_fallocate !== null && C.hasFallocate) {
        const r = s.posix_fallocate(fd, BigInt(at), BigInt(n));
        if (r !== 0) throw new ErrnoError("allocate", r, `${this.#path} @${at}+${n}`);
      } else {
        const zeros = new Uint8Array(Math.min(n, 1 << 20));
        for (let p = at; p < at + n; p += zeros.length) {
          const w = Math.min(zeros.length, at + n - p);
          unwrap(s.pwrite(fd, zeros, BigInt(w), BigInt(p)), "allocate", `${this.#path} @${p}+${w}`);
        }
      }
    }
  }

  /**
   * `allocate` of `[offset, offset+length)` in one posix_fallocate call on a pool thread. Rejects
   * with an ErrnoError carrying the real error (ENOSPC on a full disk). Where the OS has no
   * posix_fallocate, zeros are written synchronously instead.
   */
  allocateAsync(offset: number, length: number): Promise<void> {
    const fd = this.#live();
    const s = libcAsync();
    if (s.posix_fallocate === null || !C.hasFallocate) {
      try {
        this.allocate(offset, length);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const call = s.posix_fallocate(fd, BigInt(offset), BigInt(length));
    return this.#calls.track(call).then((rc) => {
      if (rc !== 0) throw new ErrnoError("allocate", rc, `${this.#path} @${offset}+${length}`);
    });
  }

  /** fdatasync(2) (fsync where the OS has none) on a pool thread. Fails as EIO (errno is lost). */
  fdatasyncAsync(): Promise<void> {
    const fd = this.#live();
    const s = libcAsync();
    const call = s.fdatasync !== null ? s.fdatasync(fd) : s.fsync(fd);
    return this.#fdCall(call, "fdatasync");
  }

  /** fsync(2) on a pool thread. Fails as EIO (errno is lost). */
  fsyncAsync(): Promise<void> {
    return this.#fdCall(libcAsync().fsync(this.#live()), "fsync");
  }

  /** ftruncate(2) on a pool thread. Fails as EIO (errno is lost). */
  truncateAsync(length: number): Promise<void> {
    return this.#fdCall(libcAsync().ftruncate(this.#live(), BigInt(length)), "truncate");
  }

  /**
   * Makes `[offset, offset+length)` durable, and only that range, on pool threads: msync(MS_SYNC)
   * through a read-only window mapping of the whole file that nothing ever reads or writes. That
   * is vfs_fsync_range (the range's dirty pages, then what is needed to read them back, then a
   * disk cache flush), whether or not regions of this file still cover the range. The window has
   * no page tables, so it adds nothing to the write-back; pages outside the range (e.g. prepared
   * ahead of a writer) are neither written nor write-protected, as they are by `fdatasyncAsync`.
   * The window (at least 1 GiB of address space, no memory) is mapped on the first call and again,
   * larger, when a range ends past it. Where it cannot be mapped, the whole file is fdatasync'd.
   * Fails as EIO (errno is lost).
   * @throws ErrnoError EBADF after close
   */
  syncRangeAsync(offset: number, length: number): Promise<void> {
    this.#live();
    checkRange(offset, length, Number.MAX_SAFE_INTEGER);
    const op = this.#windowOps.then(() => this.#syncThroughWindow(offset, length));
    this.#windowOps = op.catch(() => {});
    return op;
  }

  async #syncThroughWindow(offset: number, length: number): Promise<void> {
    if (length === 0 || this.#readOnly) return;
    const end = offset + length;
    if (end > this.#windowLength) await this.#mapWindow(end);
    const w = this.#window;
    if (w === null) return await this.fdatasyncAsync();
    const page = pageSize();
    const from = offset - (offset % page);
    const call = libcAsync().msync(
      Deno.UnsafePointer.offset(w, from),
      BigInt(end - from),
      C.MS_SYNC,
    );
    await this.#fdCall(call, "msync");
  }

  /** Forgets the sync window; returns it (to unmap) if there was one. */
  #detachWindow(): { ptr: Deno.PointerObject; length: bigint } | null {
    const ptr = this.#window;
    if (ptr === null) return null;
    const length = BigInt(this.#windowLength);
    this.#window = null;
    this.#windowLength = 0;
    return { ptr, length };
  }

  /** Unmaps a detached sync window on a pool thread (munmap takes the mmap lock). */
  #unmapWindowAsync(w: { ptr: Deno.PointerObject; length: bigint }): Promise<number> {
    return this.#calls.track(mmapWriters.track(libcAsync().munmap(w.ptr, w.length)));
  }

  /** (Re)maps the sync window to cover at least `[0, end)`; on failure there is none. */
  async #mapWindow(end: number): Promise<void> {
    const page = pageSize();
    const want = Math.max(1 << 30, Math.ceil((end * 2) / page) * page);
    const old = this.#detachWindow();
    if (old !== null) await this.#unmapWindowAsync(old);
    const map = libcAsync().mmap(null, BigInt(want), C.PROT_READ, C.MAP_SHARED, this.#live(), 0n);
    const ptr = await this.#calls.track(mmapWriters.track(map));
    if (mapFailed(ptr)) return;
    if (this.#fd < 0) {
      // closed meanwhile (close() waits only for calls it can see)
      libc().munmap(ptr!, BigInt(want));
      return;
    }
    this.#window = ptr;
    this.#windowLength = want;
  }

  #fdCall(call: Promise<number>, syscall: string): Promise<void> {
    return this.#calls.track(call).then((rc) => {
      if (rc !== 0) throw new ErrnoError(syscall, errnoNumber("EIO"), this.#path);
    });
  }

  /** Async calls in flight on the descriptor and on every region still mapped. */
  get inFlight(): number {
    let n = this.#calls.count;
    for (const r of this.#regions) n += r.inFlight;
    return n;
  }

  /** Settles once no async call is in flight on the file or its regions. */
  async idle(): Promise<void> {
    while (this.inFlight > 0) {
      await Promise.all([this.#calls.idle(), ...[...this.#regions].map((r) => r.idle())]);
    }
  }

  /** Sets the file's length (e.g. to the logical end of what was written). */
  truncate(length: number): void {
    unwrap(libc().ftruncate(this.#live(), BigInt(length)), "truncate", this.#path);
  }

  /** fsync(2): data and metadata to stable storage. */
  fsync(): void {
    unwrap(libc().fsync(this.#live()), "fsync", this.#path);
  }

  /** fdatasync(2) (fsync where the OS has none). */
  fdatasync(): void {
    const s = libc();
    if (s.fdatasync !== null) unwrap(s.fdatasync(this.#live()), "fdatasync", this.#path);
    else this.fsync();
  }

  /**
   * Maps `[offset, offset+length)` MAP_SHARED. `offset` must be a multiple of the page size.
   * Map only what was allocated: touching an unallocated page of a full disk raises SIGBUS.
   * With `slots`, the mapping goes over a range kept from an earlier one (see `MappingSlots`).
   */
  map(offset: number, length: number, slots?: MappingSlots): MappedRegion {
    const { fd, prot } = this.#mapArgs(offset, length);
    const slot = slots?.take(length);
    const flags = slot === undefined ? C.MAP_SHARED : C.MAP_SHARED | C.MAP_FIXED;
    const ptr = libc().mmap(slot?.ptr ?? null, BigInt(length), prot, flags, fd, BigInt(offset));
    if (mapFailed(ptr)) {
      const e = new ErrnoError("mmap", errno(), `${this.#path} @${offset}+${length}`);
      slot?.owner.drop(slot); // a failed MAP_FIXED may have unmapped the range
      throw e;
    }
    return this.#adopt(ptr!, offset, length, slot);
  }

  /** Checks `map()`'s arguments; the descriptor and protection to map with. */
  #mapArgs(offset: number, length: number): { fd: number; prot: number } {
    const fd = this.#live();
    if (offset % pageSize() !== 0) throw new RangeError(`Map offset ${offset} is not page-aligned`);
    if (length <= 0) throw new RangeError(`Map length must be positive, got ${length}`);
    return { fd, prot: this.#readOnly ? C.PROT_READ : C.PROT_READ | C.PROT_WRITE };
  }

  /** Wraps a fresh mapping in a region this file keeps track of. */
  #adopt(ptr: Deno.PointerObject, offset: number, length: number, slot?: Slot): MappedRegion {
    const region = new MappedRegion(
      ptr,
      offset,
      length,
      this.#path,
      () => this.#regions.delete(region),
      slot ?? null,
    );
    this.#regions.add(region);
    return region;
  }

  /**
   * `map()` on a pool thread, then `madvise(advice)` there too when given (advisory: its failure
   * is ignored). mmap, munmap and madvise flags changes take the process's mmap lock for writing:
   * on a relay thread they would wait for every call holding it (a MADV_POPULATE_WRITE of
   * another region on a low-priority pool thread) and stall the relay. Fails as ENOMEM. With
   * `slots`, as in `map()`.
   * @throws RangeError for an unaligned offset or a non-positive length; ErrnoError EBADF after close
   */
  mapAsync(
    offset: number,
    length: number,
    advice?: number,
    slots?: MappingSlots,
  ): Promise<MappedRegion> {
    const { fd, prot } = this.#mapArgs(offset, length);
    const what = `${this.#path} @${offset}+${length}`;
    const slot = slots?.take(length);
    const flags = slot === undefined ? C.MAP_SHARED : C.MAP_SHARED | C.MAP_FIXED;
    // the region is registered before the call stops counting, so closeAsync() unmaps it
    const call = mmapWriters.track(
      libcAsync().mmap(slot?.ptr ?? null, BigInt(length), prot, flags, fd, BigInt(offset)),
    ).then((ptr) => {
      if (mapFailed(ptr)) {
        slot?.owner.drop(slot); // a failed MAP_FIXED may have unmapped the range
        throw new ErrnoError("mmap", errnoNumber("ENOMEM"), what);
      }
      return this.#adopt(ptr!, offset, length, slot);
    });
    return this.#calls.track(call).then(async (region) => {
      if (advice !== undefined && !region.unmapped) {
        await region.madviseAsync(advice).catch(() => {});
      }
      return region;
    });
  }

  /** Number of regions still mapped. */
  get mappedRegions(): number {
    return this.#regions.size;
  }

  /**
   * Unmaps every region still mapped, then closes the descriptor. Safe to call twice.
   * @throws ErrnoError EBUSY while an async call is in flight (nothing is unmapped or closed then)
   */
  close(): void {
    if (this.inFlight > 0) throw busy("close", this.#path);
    for (const r of [...this.#regions]) r.unmap();
    const w = this.#detachWindow();
    if (w !== null) libc().munmap(w.ptr, w.length);
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    libc().close(fd);
  }

  /**
   * Waits for every async call on the file and its regions, unmaps the sync window on a pool
   * thread (munmap takes the mmap lock: see `mapAsync`), then `close()`s it.
   */
  async closeAsync(): Promise<void> {
    while (this.inFlight > 0) await this.idle();
    const w = this.#detachWindow();
    if (w !== null) {
      await this.#unmapWindowAsync(w);
      while (this.inFlight > 0) await this.idle();
    }
    this.close();
  }
}

/** One mmap'd range of a MappedFile. */
export class MappedRegion {
  #ptr: Deno.PointerObject | null;
  #buffer: ArrayBuffer | null;
  #bytes: Uint8Array | null;
  readonly #length: number;
  readonly #offset: number;
  readonly #path: string;
  readonly #onUnmap: () => void;
  readonly #calls = new InFlight();
  readonly #slot: Slot | null;

  /** @internal use MappedFile.map */
  constructor(
    ptr: Deno.PointerObject,
    offset: number,
    length: number,
    path: string,
    onUnmap: () => void,
    slot: Slot | null = null,
  ) {
    this.#ptr = ptr;
    this.#offset = offset;
    this.#length = length;
    this.#path = path;
    this.#onUnmap = onUnmap;
    this.#slot = slot;
    this.#buffer = slot?.arena.buffer ?? Deno.UnsafePointerView.getArrayBuffer(ptr, length);
    this.#bytes = new Uint8Array(this.#buffer, slot?.offset ?? 0, length);
  }

  /** File offset of the region's first byte. */
  get offset(): number {
    return this.#offset;
  }

  /** Length in bytes. */
  get length(): number {
    return this.#length;
  }

  /** Whether `unmap()` was called. */
  get unmapped(): boolean {
    return this.#ptr === null;
  }

  /**
   * The zero-copy view: writes land in the file. Throws after unmap; a view taken before unmap
   * is detached by it (length 0), so it can never touch unmapped memory (except for a region of
   * `MappingSlots`: see there).
   */
  get bytes(): Uint8Array {
    if (this.#bytes === null) throw new ErrnoError("use unmapped region of", C.EBADF, this.#path);
    return this.#bytes;
  }

  /** The mapping's address, to rebuild a view in another thread of this process. */
  get address(): bigint {
    if (this.#ptr === null) throw new ErrnoError("use unmapped region of", C.EBADF, this.#path);
    return Deno.UnsafePointer.value(this.#ptr);
  }

  #at(offset: number): Deno.PointerObject {
    if (this.#ptr === null) throw new ErrnoError("use unmapped region of", C.EBADF, this.#path);
    const page = pageSize();
    const aligned = offset - (offset % page);
    return aligned === 0 ? this.#ptr : Deno.UnsafePointer.offset(this.#ptr, aligned)!;
  }

  #span(offset: number, length: number): number {
    const page = pageSize();
    const aligned = offset - (offset % page);
    return Math.min(this.#length - aligned, length + (offset - aligned));
  }

  /**
   * msync over `[offset, offset+length)` of the region (widened to pages). `sync` false is
   * MS_ASYNC (on Linux: starts no I/O), true is MS_SYNC (waits for the write-back).
   */
  msync(sync: boolean, offset = 0, length = this.#length): void {
    const r = libc().msync(
      this.#at(offset),
      BigInt(this.#span(offset, length)),
      sync ? C.MS_SYNC : C.MS_ASYNC,
    );
    if (r < 0) throw new ErrnoError("msync", errno(), this.#path);
  }

  /** madvise over `[offset, offset+length)` (widened to pages). */
  madvise(advice: number, offset = 0, length = this.#length): void {
    const r = libc().madvise(this.#at(offset), BigInt(this.#span(offset, length)), advice);
    if (r < 0) throw new ErrnoError("madvise", errno(), this.#path);
  }

  /**
   * MADV_POPULATE_WRITE over `[offset, offset+length)` (widened to pages), here and now: page
   * tables set up for writing, bytes unchanged. False where the kernel lacks it or the call
   * failed (then nothing else is tried: see `prefault` for a fallback that touches the pages).
   */
  populate(offset = 0, length = this.#length - offset): boolean {
    checkRange(offset, length, this.#length);
    return length > 0 && this.#populate(offset, length);
  }

  #populate(offset: number, length: number): boolean {
    if (C.MADV_POPULATE_WRITE < 0) return false;
    const r = libc().madvise(
      this.#at(offset),
      BigInt(this.#span(offset, length)),
      C.MADV_POPULATE_WRITE,
    );
    return r === 0;
  }

  /**
   * Faults in `[offset, offset+length)` for writing so a later writer does not stall on it:
   * MADV_POPULATE_WRITE where the kernel has it, else one write per page of the byte already there.
   */
  prefault(offset = 0, length = this.#length - offset): void {
    if (this.#populate(offset, length)) return;
    const b = this.bytes;
    const page = pageSize();
    const end = Math.min(this.#length, offset + length);
    for (let i = offset - (offset % page); i < end; i += page) b[i] = b[i]!;
  }

  /**
   * Writes zeros over `[offset, offset+length)` (memset on a pool thread): to make the pages
   * resident and written once before a writer needs them. The caller must make sure nobody else
   * writes that range until the Promise settles.
   * @throws RangeError when the range leaves the region; ErrnoError EBADF after unmap
   */
  zeroAsync(offset = 0, length: number = this.#length - offset): Promise<void> {
    checkRange(offset, length, this.#length);
    const ptr = this.#live();
    if (length === 0) return Promise.resolve();
    const at = offset === 0 ? ptr : Deno.UnsafePointer.offset(ptr, offset)!;
    return this.#calls.track(libcAsync().memset(at, 0, BigInt(length))).then(() => {});
  }

  /**
   * MADV_POPULATE_WRITE over `[offset, offset+length)` (widened to pages) on a pool thread: page
   * tables set up for writing, bytes unchanged. Resolves to false where the kernel lacks it.
   * @throws RangeError when the range leaves the region; ErrnoError EBADF after unmap
   */
  populateAsync(offset = 0, length: number = this.#length - offset): Promise<boolean> {
    checkRange(offset, length, this.#length);
    this.#live();
    if (C.MADV_POPULATE_WRITE < 0 || length === 0) return Promise.resolve(false);
    const call = libcAsync().madvise(
      this.#at(offset),
      BigInt(this.#span(offset, length)),
      C.MADV_POPULATE_WRITE,
    );
    return this.#calls.track(call).then((rc) => rc === 0);
  }

  /**
   * madvise over `[offset, offset+length)` (widened to pages) on a pool thread. Fails as EINVAL.
   * @throws RangeError when the range leaves the region; ErrnoError EBADF after unmap
   */
  madviseAsync(advice: number, offset = 0, length: number = this.#length - offset): Promise<void> {
    checkRange(offset, length, this.#length);
    const call = libcAsync().madvise(
      this.#at(offset),
      BigInt(this.#span(offset, length)),
      advice,
    );
    return this.#calls.track(FLAG_ADVICE.has(advice) ? mmapWriters.track(call) : call).then(
      (rc) => {
        if (rc !== 0) throw new ErrnoError("madvise", errnoNumber("EINVAL"), this.#path);
      },
    );
  }

  /**
   * msync over `[offset, offset+length)` (widened to pages) on a pool thread (see `msync`).
   * Fails as EINVAL.
   * @throws RangeError when the range leaves the region; ErrnoError EBADF after unmap
   */
  msyncAsync(sync: boolean, offset = 0, length: number = this.#length - offset): Promise<void> {
    checkRange(offset, length, this.#length);
    const call = libcAsync().msync(
      this.#at(offset),
      BigInt(this.#span(offset, length)),
      sync ? C.MS_SYNC : C.MS_ASYNC,
    );
    return this.#calls.track(call).then((rc) => {
      if (rc !== 0) throw new ErrnoError("msync", errnoNumber("EINVAL"), this.#path);
    });
  }

  /** Async calls in flight on this region. */
  get inFlight(): number {
    return this.#calls.count;
  }

  /** Settles once no async call is in flight on this region. */
  idle(): Promise<void> {
    return this.#calls.idle();
  }

  #live(): Deno.PointerObject {
    if (this.#ptr === null) throw new ErrnoError("use unmapped region of", C.EBADF, this.#path);
    return this.#ptr;
  }

  /**
   * Waits for the async calls on this region, detaches its views, then munmaps on a pool thread
   * (see `MappedFile.mapAsync` for why). The region counts as unmapped from the start. A region
   * of `MappingSlots` instead gives its range back to them, reserved, and its views stay attached.
   */
  async unmapAsync(): Promise<void> {
    while (this.#calls.count > 0) await this.#calls.idle();
    const ptr = this.#detach();
    if (ptr === null) return;
    const s = this.#slot;
    if (s !== null) {
      // the range goes back to its slot, reserved again (PROT_NONE) by a mapping over it
      const len = BigInt(this.#length);
      const again = await this.#calls.track(
        mmapWriters.track(libcAsync().mmap(ptr, len, C.PROT_NONE, RESERVE_AGAIN_FLAGS, -1, 0n)),
      );
      s.owner.give(s, again);
      this.#onUnmap();
      return;
    }
    // counted in flight, so the file's closeAsync() waits for it
    const rc = await this.#calls.track(
      mmapWriters.track(libcAsync().munmap(ptr, BigInt(this.#length))),
    );
    this.#onUnmap();
    if (rc !== 0) throw new ErrnoError("munmap", errnoNumber("EINVAL"), this.#path);
  }

  #detach(): Deno.PointerObject | null {
    const ptr = this.#ptr;
    if (ptr === null) return null;
    const buf = this.#buffer!;
    this.#ptr = null;
    this.#bytes = null;
    this.#buffer = null;
    if (this.#slot === null) buf.transfer(0); // a slot's view lives on (see MappingSlots)
    return ptr;
  }

  /**
   * Detaches every view, then munmaps (a region of `MappingSlots`: see `unmapAsync`). Safe to
   * call twice.
   * @throws ErrnoError EBUSY while an async call is in flight on the region (it stays mapped)
   */
  unmap(): void {
    if (this.#ptr === null) return;
    if (this.#calls.count > 0) throw busy("unmap", this.#path);
    const ptr = this.#detach()!;
    const s = this.#slot;
    if (s === null) libc().munmap(ptr, BigInt(this.#length));
    else {
      const len = BigInt(this.#length);
      s.owner.give(s, libc().mmap(ptr, len, C.PROT_NONE, RESERVE_AGAIN_FLAGS, -1, 0n));
    }
    this.#onUnmap();
  }
}
