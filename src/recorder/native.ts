/**
 * The recorder's own small libc symbol set: `nonblocking` variants of the slow file calls
 * (posix_fallocate, madvise for prefaulting and dropping page tables, memset for really touching
 * fresh pages, fdatasync, fsync, ftruncate).
 * Each runs on a Deno pool thread and returns a Promise, so the channel thread never waits on them;
 * the Promises settle when that thread next yields to its event loop.
 *
 * errno is lost on a pool thread: calls that report failure through errno (madvise, fdatasync,
 * fsync, ftruncate) resolve to -1 without the reason; posix_fallocate returns its error number.
 * Opened lazily (importing this module needs no permission).
 */
import { C } from "../../ffi/constants.ts";

const symbols = {
  posix_fallocate: {
    parameters: ["i32", "i64", "i64"],
    result: "i32",
    nonblocking: true,
    optional: true,
  }, // int posix_fallocate(int fd, off_t off, off_t len)
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32", nonblocking: true }, // int madvise(void *addr, size_t len, int advice)
  fdatasync: { parameters: ["i32"], result: "i32", nonblocking: true, optional: true }, // int fdatasync(int fd)
  fsync: { parameters: ["i32"], result: "i32", nonblocking: true }, // int fsync(int fd)
  ftruncate: { parameters: ["i32", "i64"], result: "i32", nonblocking: true }, // int ftruncate(int fd, off_t len)
  memset: { parameters: ["pointer", "i32", "usize"], result: "pointer", nonblocking: true }, // void *memset(void *s, int c, size_t n)
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

function native(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  if (lib === undefined) {
    lib = Deno.dlopen(Deno.env.get("CHANRELAY_LIBC") || C.libc, symbols);
  }
  return lib.symbols;
}

/**
 * posix_fallocate on a pool thread: resolves to 0 or the error number (e.g. ENOSPC). Resolves to
 * -1 where the OS has no posix_fallocate (the caller then allocates synchronously).
 */
export function fallocateAsync(fd: number, offset: number, length: number): Promise<number> {
  const s = native();
  if (s.posix_fallocate === null || !C.hasFallocate) return Promise.resolve(-1);
  return s.posix_fallocate(fd, BigInt(offset), BigInt(length));
}

/** madvise over a mapping (by the address MappedRegion reports) on a pool thread: 0 or -1. */
export function madviseAsync(address: bigint, length: number, advice: number): Promise<number> {
  if (advice < 0) return Promise.resolve(-1);
  const ptr = Deno.UnsafePointer.create(address);
  return native().madvise(ptr, BigInt(length), advice);
}

/** fdatasync (fsync where there is none) on a pool thread: 0 or -1. */
export function fdatasyncAsync(fd: number): Promise<number> {
  const s = native();
  return s.fdatasync !== null ? s.fdatasync(fd) : s.fsync(fd);
}

/** fsync on a pool thread: 0 or -1. */
export function fsyncAsync(fd: number): Promise<number> {
  return native().fsync(fd);
}

/** ftruncate on a pool thread: 0 or -1. */
export function ftruncateAsync(fd: number, length: number): Promise<number> {
  return native().ftruncate(fd, BigInt(length));
}

/**
 * memset over a mapping on a pool thread. Used to write zeros over a fresh chunk before the writer
 * gets it: on this kind of VM the first write to each page costs ~6 µs even after
 * MADV_POPULATE_WRITE (the host backs the page only then), so the pages are written once here,
 * off the hot path. Never call it on memory anyone else is writing.
 */
export async function memsetAsync(address: bigint, value: number, length: number): Promise<void> {
  await native().memset(Deno.UnsafePointer.create(address), value, BigInt(length));
}
