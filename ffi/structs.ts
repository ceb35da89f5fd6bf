/**
 * C struct layouts per OS, and encoders that write into preallocated DataViews.
 * Every size and offset here is checked against a C probe compiled with gcc in the tests (Linux).
 */
import type { SocketAddress } from "./inet.ts";

/** Byte sizes and field offsets of the structs chanrelay passes to libc. */
export interface StructLayouts {
  readonly sockaddr_in: {
    size: number;
    len: number;
    family: number;
    familyBytes: 1 | 2;
    port: number;
    addr: number;
  };
  readonly ip_mreq: { size: number; multiaddr: number; interface: number };
  readonly ip_mreq_source: {
    size: number;
    multiaddr: number;
    interface: number;
    sourceaddr: number;
  };
  readonly iovec: { size: number; base: number; len: number };
  readonly msghdr: {
    size: number;
    name: number;
    namelen: number;
    iov: number;
    iovlen: number;
    iovlenBytes: 4 | 8;
    control: number;
    controllen: number;
    controllenBytes: 4 | 8;
    flags: number;
  };
  readonly mmsghdr: { size: number; hdr: number; len: number };
  readonly pollfd: { size: number; fd: number; events: number; revents: number };
  readonly timeval: { size: number; sec: number; usec: number; usecBytes: 4 | 8 };
  readonly cmsghdr: { size: number; len: number; level: number; type: number; data: number };
  /** CMSG_SPACE(sizeof(uint32_t)). */
  readonly cmsgSpaceU32: number;
  /** struct sched_attr as far as SCHED_ATTR_SIZE_VER0 (Linux only; -1 elsewhere). */
  readonly sched_attr: {
    size: number;
    policy: number;
    flags: number;
    nice: number;
    priority: number;
    runtime: number;
  };
}

/** Linux, LP64 (x86_64, aarch64). */
export const LINUX_LAYOUT: StructLayouts = {
  sockaddr_in: { size: 16, len: -1, family: 0, familyBytes: 2, port: 2, addr: 4 },
  ip_mreq: { size: 8, multiaddr: 0, interface: 4 },
  ip_mreq_source: { size: 12, multiaddr: 0, interface: 4, sourceaddr: 8 },
  iovec: { size: 16, base: 0, len: 8 },
  msghdr: {
    size: 56,
    name: 0,
    namelen: 8,
    iov: 16,
    iovlen: 24,
    iovlenBytes: 8,
    control: 32,
    controllen: 40,
    controllenBytes: 8,
    flags: 48,
  },
  mmsghdr: { size: 64, hdr: 0, len: 56 },
  pollfd: { size: 8, fd: 0, events: 4, revents: 6 },
  timeval: { size: 16, sec: 0, usec: 8, usecBytes: 8 },
  cmsghdr: { size: 16, len: 0, level: 8, type: 12, data: 16 },
  cmsgSpaceU32: 24,
  sched_attr: { size: 48, policy: 4, flags: 8, nice: 16, priority: 20, runtime: 24 },
};

/** macOS (x86_64, arm64): BSD sockaddr with sin_len, 32-bit iovlen/controllen, no mmsghdr. */
export const DARWIN_LAYOUT: StructLayouts = {
  sockaddr_in: { size: 16, len: 0, family: 1, familyBytes: 1, port: 2, addr: 4 },
  ip_mreq: { size: 8, multiaddr: 0, interface: 4 },
  ip_mreq_source: { size: 12, multiaddr: 0, sourceaddr: 4, interface: 8 },
  iovec: { size: 16, base: 0, len: 8 },
  msghdr: {
    size: 48,
    name: 0,
    namelen: 8,
    iov: 16,
    iovlen: 24,
    iovlenBytes: 4,
    control: 32,
    controllen: 40,
    controllenBytes: 4,
    flags: 44,
  },
  mmsghdr: { size: 0, hdr: 0, len: 0 },
  pollfd: { size: 8, fd: 0, events: 4, revents: 6 },
  timeval: { size: 16, sec: 0, usec: 8, usecBytes: 4 },
  cmsghdr: { size: 12, len: 0, level: 4, type: 8, data: 12 },
  cmsgSpaceU32: 16,
  sched_attr: { size: -1, policy: -1, flags: -1, nice: -1, priority: -1, runtime: -1 },
};

/** Layouts of the OS this process runs on. */
export const L: StructLayouts = Deno.build.os === "darwin" ? DARWIN_LAYOUT : LINUX_LAYOUT;

const AF_INET = 2;

/** Writes a sockaddr_in for `addr` at `offset` of `view`. */
export function writeSockaddrIn(view: DataView, offset: number, addr: SocketAddress): void {
  const s = L.sockaddr_in;
  for (let i = 0; i < s.size; i++) view.setUint8(offset + i, 0);
  if (s.len >= 0) view.setUint8(offset + s.len, s.size);
  if (s.familyBytes === 1) view.setUint8(offset + s.family, AF_INET);
  else view.setUint16(offset + s.family, AF_INET, true);
  view.setUint16(offset + s.port, addr.port, false);
  view.setUint32(offset + s.addr, addr.ip, false);
}

/** Reads the IPv4 address (host order) of a sockaddr_in at `offset`. */
export function readSockaddrIp(view: DataView, offset: number): number {
  return view.getUint32(offset + L.sockaddr_in.addr, false);
}

/** Reads the port of a sockaddr_in at `offset`. */
export function readSockaddrPort(view: DataView, offset: number): number {
  return view.getUint16(offset + L.sockaddr_in.port, false);
}

/** Writes an ip_mreq (group, interface; host-order IPv4 numbers). */
export function writeIpMreq(view: DataView, offset: number, group: number, iface: number): void {
  view.setUint32(offset + L.ip_mreq.multiaddr, group, false);
  view.setUint32(offset + L.ip_mreq.interface, iface, false);
}

/** Writes an ip_mreq_source (group, interface, source; host-order IPv4 numbers). */
export function writeIpMreqSource(
  view: DataView,
  offset: number,
  group: number,
  iface: number,
  source: number,
): void {
  const s = L.ip_mreq_source;
  view.setUint32(offset + s.multiaddr, group, false);
  view.setUint32(offset + s.interface, iface, false);
  view.setUint32(offset + s.sourceaddr, source, false);
}

/** Writes a 64-bit unsigned value given as a number (< 2^53) without allocating a BigInt. */
export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / 4294967296), true);
}

/** Writes an unsigned field of 4 or 8 bytes (little-endian platforms). */
export function setUField(view: DataView, offset: number, bytes: 4 | 8, value: number): void {
  if (bytes === 8) setU64(view, offset, value);
  else view.setUint32(offset, value, true);
}

/** Writes a pointer (an address as a bigint) at `offset`. */
export function setPointer(view: DataView, offset: number, address: bigint): void {
  view.setBigUint64(offset, address, true);
}

/** The address of the first byte of a typed array's storage (which never moves in Deno). */
export function addressOf(array: ArrayBufferView): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(array as Uint8Array<ArrayBuffer>));
}

/** Writes a timeval of `ms` milliseconds. */
export function writeTimeval(view: DataView, offset: number, ms: number): void {
  const t = L.timeval;
  setU64(view, offset + t.sec, Math.floor(ms / 1000));
  setUField(view, offset + t.usec, t.usecBytes, (ms % 1000) * 1000);
}
