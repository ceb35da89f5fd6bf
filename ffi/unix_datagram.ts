/**
 * Unix-domain datagram sockets (AF_UNIX, SOCK_DGRAM) through libc: just enough for sd_notify
 * (send one datagram to a path or an abstract name) and for tests that receive those datagrams.
 *
 * Uses only symbols already in libc.ts. The sockaddr_un layouts differ by OS:
 * Linux `{u16 sun_family; char sun_path[108]}`, macOS `{u8 sun_len; u8 sun_family; char sun_path[104]}`.
 * AF_UNIX is 1 on both. A name starting with "@" is a Linux abstract socket (first byte NUL).
 */
import { C } from "./constants.ts";
import { ErrnoError, unwrap } from "./errno.ts";
import { errno, libc } from "./libc.ts";
import { writeTimeval } from "./structs.ts";

/** AF_UNIX on Linux and macOS. */
const AF_UNIX = 1;
const DARWIN = Deno.build.os === "darwin";
/** Offset of sun_path in sockaddr_un. */
const PATH_OFFSET = 2;
/** Bytes of sun_path. */
const PATH_BYTES = DARWIN ? 104 : 108;
/** sizeof(struct sockaddr_un). */
const SOCKADDR_UN_SIZE = PATH_OFFSET + PATH_BYTES;

const encoder = new TextEncoder();

/**
 * Writes a sockaddr_un for `name` into `out` (at least SOCKADDR_UN_SIZE bytes); returns the
 * address length to pass to the call, or throws a RangeError when the name does not fit.
 */
export function writeSockaddrUn(out: Uint8Array, name: string): number {
  const abstract = name.startsWith("@");
  if (abstract && DARWIN) throw new RangeError(`Cannot use abstract socket "${name}" on macOS`);
  const bytes = encoder.encode(abstract ? name.slice(1) : name);
  if (bytes.length === 0) throw new RangeError("Cannot use an empty socket path");
  // abstract: NUL + name (no terminator); path: name + NUL terminator
  const used = bytes.length + 1;
  if (used > PATH_BYTES) {
    throw new RangeError(`Cannot use socket path "${name}": longer than ${PATH_BYTES - 1} bytes`);
  }
  out.fill(0, 0, SOCKADDR_UN_SIZE);
  if (DARWIN) {
    out[0] = PATH_OFFSET + used;
    out[1] = AF_UNIX;
  } else {
    new DataView(out.buffer, out.byteOffset, 2).setUint16(0, AF_UNIX, true);
  }
  out.set(bytes, PATH_OFFSET + (abstract ? 1 : 0));
  return PATH_OFFSET + used;
}

/** A CLOEXEC unix datagram socket. `close()` is safe to call twice. */
export class UnixDatagramSocket {
  #fd: number;
  readonly #addr = new Uint8Array(SOCKADDR_UN_SIZE);
  readonly #opt = new Uint8Array(16);

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Creates an unbound socket. */
  static create(): UnixDatagramSocket {
    const type = C.SOCK_DGRAM | (C.hasSockCloexec ? C.SOCK_CLOEXEC : 0);
    return new UnixDatagramSocket(unwrap(libc().socket(AF_UNIX, type, 0), "create unix socket"));
  }

  /** The descriptor, or -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  #live(): number {
    if (this.#fd < 0) throw new ErrnoError("use closed socket", C.EBADF);
    return this.#fd;
  }

  /** Binds to a path (which must not exist) or an "@abstract" name. */
  bind(name: string): void {
    const len = writeSockaddrUn(this.#addr, name);
    unwrap(libc().bind(this.#live(), this.#addr, len), "bind", name);
  }

  /** Sends one datagram to `name`; returns the bytes sent or throws an ErrnoError. */
  sendTo(name: string, data: Uint8Array): number {
    const len = writeSockaddrUn(this.#addr, name);
    const n = libc().sendto(
      this.#live(),
      data as Uint8Array<ArrayBuffer>,
      BigInt(data.length),
      0,
      this.#addr,
      len,
    );
    if (n < 0) throw new ErrnoError("send to", errno(), name);
    return n;
  }

  /** Sets how long `recv` may block (0: forever). */
  setRecvTimeout(ms: number): void {
    writeTimeval(new DataView(this.#opt.buffer), 0, ms);
    unwrap(
      libc().setsockopt(this.#live(), C.SOL_SOCKET, C.SO_RCVTIMEO, this.#opt, 16),
      "set SO_RCVTIMEO on",
      `fd ${this.#fd}`,
    );
  }

  /** Receives one datagram into `buf`; returns its length, or null on timeout (EAGAIN) or a signal (EINTR). */
  recv(buf: Uint8Array): number | null {
    const n = libc().recvfrom(
      this.#live(),
      buf as Uint8Array<ArrayBuffer>,
      BigInt(buf.length),
      0,
      null,
      null,
    );
    if (n >= 0) return n;
    const e = errno();
    if (e === C.EAGAIN || e === C.EINTR) return null;
    throw new ErrnoError("receive on", e, `fd ${this.#fd}`);
  }

  /** Closes the socket (idempotent). */
  close(): void {
    if (this.#fd < 0) return;
    libc().close(this.#fd);
    this.#fd = -1;
  }

  /** Closes the socket (`using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
