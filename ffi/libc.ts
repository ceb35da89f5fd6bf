/**
 * The libc symbols chanrelay calls, opened lazily: importing this module loads nothing, so only
 * code that really calls into libc needs `--allow-ffi`.
 *
 * Results that are `ssize_t` in C are declared `i32` (faster than BigInt results; every length we
 * pass fits). Variadic functions (`open`, `fcntl`, `ioctl`) are called only with their fixed
 * arguments: macOS arm64 passes variadic arguments on the stack.
 */
import { C } from "./constants.ts";

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" }, // int socket(int domain, int type, int protocol)
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" }, // int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" }, // int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // int bind(int fd, const struct sockaddr *addr, socklen_t len)
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // int connect(int fd, const struct sockaddr *addr, socklen_t len)
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" }, // int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "i32" }, // ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src, socklen_t *srclen)
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "i32" }, // ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *dst, socklen_t dstlen)
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" }, // ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" }, // ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
  recvmmsg: {
    parameters: ["i32", "buffer", "u32", "i32", "pointer"],
    result: "i32",
    optional: true,
  }, // int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout)
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32", optional: true }, // int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
  shutdown: { parameters: ["i32", "i32"], result: "i32" }, // int shutdown(int fd, int how)
  close: { parameters: ["i32"], result: "i32" }, // int close(int fd)
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32" }, // int poll(struct pollfd *fds, nfds_t n, int timeout)
  open: { parameters: ["buffer", "i32"], result: "i32" }, // int open(const char *path, int flags, ...)
  posix_fallocate: { parameters: ["i32", "i64", "i64"], result: "i32", optional: true }, // int posix_fallocate(int fd, off_t off, off_t len)
  ftruncate: { parameters: ["i32", "i64"], result: "i32" }, // int ftruncate(int fd, off_t len)
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "i32" }, // ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
  fsync: { parameters: ["i32"], result: "i32" }, // int fsync(int fd)
  fdatasync: { parameters: ["i32"], result: "i32", optional: true }, // int fdatasync(int fd)
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" }, // void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
  munmap: { parameters: ["pointer", "usize"], result: "i32" }, // int munmap(void *addr, size_t len)
  msync: { parameters: ["pointer", "usize", "i32"], result: "i32" }, // int msync(void *addr, size_t len, int flags)
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" }, // int madvise(void *addr, size_t len, int advice)
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" }, // int setpriority(int which, id_t who, int prio)
  signal: { parameters: ["i32", "pointer"], result: "pointer" }, // sighandler_t signal(int sig, sighandler_t handler)
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" }, // int clock_gettime(clockid_t id, struct timespec *ts)
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" }, // off_t lseek(int fd, off_t off, int whence)
  getpagesize: { parameters: [], result: "i32" }, // int getpagesize(void)
  // long syscall(long nr, ...): called as syscall(nr, a, buf, b) for sched_getattr/sched_setattr
  // (Linux only, where variadic integer arguments travel in registers like fixed ones)
  syscall: { parameters: ["i64", "i64", "buffer", "i64", "i64"], result: "i32", optional: true },
  __errno_location: { parameters: [], result: "pointer", optional: true }, // int *__errno_location(void) (Linux)
  __error: { parameters: [], result: "pointer", optional: true }, // int *__error(void) (macOS)
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library's symbols. */
export type LibcSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;
let errnoView: Int32Array | undefined;

/**
 * Opens libc on first use (once per thread: every Worker has its own module instance).
 * `CHANRELAY_LIBC` overrides the library path.
 */
export function libc(): LibcSymbols {
  if (lib === undefined) {
    const path = Deno.env.get("CHANRELAY_LIBC") || C.libc;
    lib = Deno.dlopen(path, symbols);
  }
  return lib.symbols;
}

/** This thread's `errno`, read through `__errno_location()` / `__error()`. Read it right after the failing call. */
export function errno(): number {
  if (errnoView === undefined) {
    const s = libc();
    const fn = s.__errno_location ?? s.__error;
    if (fn === null || fn === undefined) {
      throw new Error("Cannot find errno: libc has neither __errno_location nor __error");
    }
    const ptr = fn();
    if (ptr === null) throw new Error("Cannot find errno: null pointer");
    errnoView = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(ptr, 4));
  }
  return errnoView[0]!;
}

/** Whether the batch calls recvmmsg/sendmmsg exist here (Linux: yes, macOS: no). */
export function hasMmsg(): boolean {
  const s = libc();
  return C.hasMmsg && s.recvmmsg !== null && s.sendmmsg !== null;
}
