/**
 * `nonblocking` variants of the slow file and mapping calls. Each runs on a Deno pool thread and
 * returns a Promise that settles when the calling thread next turns its event loop.
 *
 * Only `mapped_file.ts` calls these: it passes addresses of mappings it owns and keeps them mapped
 * until every call on them has settled. errno is lost on a pool thread (it is thread-local), so a
 * failure is known only by its return value. Opened lazily, like `libc.ts`.
 */
import { C } from "./constants.ts";

const symbols = {
  posix_fallocate: {
    parameters: ["i32", "i64", "i64"],
    result: "i32",
    nonblocking: true,
    optional: true,
  }, // int posix_fallocate(int fd, off_t off, off_t len)
  fdatasync: { parameters: ["i32"], result: "i32", nonblocking: true, optional: true }, // int fdatasync(int fd)
  fsync: { parameters: ["i32"], result: "i32", nonblocking: true }, // int fsync(int fd)
  ftruncate: { parameters: ["i32", "i64"], result: "i32", nonblocking: true }, // int ftruncate(int fd, off_t len)
  memset: { parameters: ["pointer", "i32", "usize"], result: "pointer", nonblocking: true }, // void *memset(void *s, int c, size_t n)
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32", nonblocking: true }, // int madvise(void *addr, size_t len, int advice)
  msync: { parameters: ["pointer", "usize", "i32"], result: "i32", nonblocking: true }, // int msync(void *addr, size_t len, int flags)
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
    nonblocking: true,
  }, // void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
  munmap: { parameters: ["pointer", "usize"], result: "i32", nonblocking: true }, // int munmap(void *addr, size_t len)
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library's nonblocking symbols. */
export type LibcAsyncSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** Opens the nonblocking symbol set on first use. `CHANRELAY_LIBC` overrides the library path. */
export function libcAsync(): LibcAsyncSymbols {
  if (lib === undefined) lib = Deno.dlopen(Deno.env.get("CHANRELAY_LIBC") || C.libc, symbols);
  return lib.symbols;
}
