/** errno names and the error class every failing libc call throws. */
import { errno } from "./libc.ts";

const LINUX_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  61: "ENODATA",
  75: "EOVERFLOW",
  88: "ENOTSOCK",
  89: "EDESTADDRREQ",
  90: "EMSGSIZE",
  91: "EPROTOTYPE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  102: "ENETRESET",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  112: "EHOSTDOWN",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  122: "EDQUOT",
};

const DARWIN_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EDEADLK",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  34: "ERANGE",
  35: "EAGAIN",
  36: "EINPROGRESS",
  37: "EALREADY",
  38: "ENOTSOCK",
  39: "EDESTADDRREQ",
  40: "EMSGSIZE",
  41: "EPROTOTYPE",
  42: "ENOPROTOOPT",
  43: "EPROTONOSUPPORT",
  45: "ENOTSUP",
  47: "EAFNOSUPPORT",
  48: "EADDRINUSE",
  49: "EADDRNOTAVAIL",
  50: "ENETDOWN",
  51: "ENETUNREACH",
  52: "ENETRESET",
  53: "ECONNABORTED",
  54: "ECONNRESET",
  55: "ENOBUFS",
  56: "EISCONN",
  57: "ENOTCONN",
  60: "ETIMEDOUT",
  61: "ECONNREFUSED",
  62: "ELOOP",
  63: "ENAMETOOLONG",
  64: "EHOSTDOWN",
  65: "EHOSTUNREACH",
  69: "EDQUOT",
  78: "ENOSYS",
  84: "EOVERFLOW",
  96: "ENODATA",
  102: "EOPNOTSUPP",
};

const NAMES = Deno.build.os === "darwin" ? DARWIN_NAMES : LINUX_NAMES;
const NUMBERS: Record<string, number> = Object.fromEntries(
  Object.entries(NAMES).map(([n, name]) => [name, Number(n)]),
);

/** The symbolic name of an errno value on this OS, e.g. `"EADDRINUSE"`. */
export function errnoName(code: number): string {
  return NAMES[code] ?? `errno ${code}`;
}

/** The errno value of a symbolic name on this OS, e.g. `errnoNumber("EAGAIN")`. */
export function errnoNumber(name: string): number {
  const n = NUMBERS[name];
  if (n === undefined) throw new Error(`Unknown errno name "${name}"`);
  return n;
}

/**
 * A failed libc call: `syscall` is the call's name, `errno` its number, `code` the symbolic name.
 * The message reads `Cannot bind "0.0.0.0:9000": EADDRINUSE`.
 */
export class ErrnoError extends Error {
  /** The libc function that failed. */
  readonly syscall: string;
  /** The raw errno value. */
  readonly errno: number;
  /** The symbolic name, e.g. `"ENOSPC"`. */
  readonly code: string;
  /** What the call was working on (an address, a path), if any. */
  readonly subject: string | undefined;

  constructor(syscall: string, errnoValue: number, subject?: string) {
    const code = errnoName(errnoValue);
    super(
      subject === undefined
        ? `Cannot ${syscall}: ${code}`
        : `Cannot ${syscall} "${subject}": ${code}`,
    );
    this.name = "ErrnoError";
    this.syscall = syscall;
    this.errno = errnoValue;
    this.code = code;
    this.subject = subject;
  }
}

/** Throws an ErrnoError built from the current errno when `result` is negative; returns it otherwise. */
export function unwrap(result: number, syscall: string, subject?: string): number {
  if (result < 0) throw new ErrnoError(syscall, errno(), subject);
  return result;
}
