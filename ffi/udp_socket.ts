/**
 * `UdpSocket`: an IPv4 UDP socket driven through libc, with batch receive and send that allocate
 * nothing per datagram (recvmmsg/sendmmsg on Linux, recvmsg/sendmsg loops on macOS).
 */
import { C } from "./constants.ts";
import { ErrnoError, unwrap } from "./errno.ts";
import { formatAddress, formatIPv4, type SocketAddress } from "./inet.ts";
import { errno, hasMmsg, libc } from "./libc.ts";
import {
  addressOf,
  L,
  readSockaddrIp,
  readSockaddrPort,
  setPointer,
  setUField,
  writeIpMreq,
  writeIpMreqSource,
  writeSockaddrIn,
  writeTimeval,
} from "./structs.ts";

/** The largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65507;

/**
 * Preallocated buffers for a batch of datagrams: `capacity` slots of `slotSize` bytes in `data`,
 * the lengths, the sender addresses and the kernel headers that point at them. Every buffer whose
 * address is handed to the kernel is a field of this object, so it lives as long as the batch.
 */
export class DatagramBatch {
  /** Number of slots. */
  readonly capacity: number;
  /** Bytes per slot; a longer datagram is truncated and flagged. */
  readonly slotSize: number;
  /** Slot `i` starts at `i * slotSize`. */
  readonly data: Uint8Array;
  /** Length of each datagram. */
  readonly lengths: Int32Array;
  /** 1 where the datagram was longer than its slot (MSG_TRUNC). */
  readonly truncated: Uint8Array;
  /** IP TTL of each received datagram, when the socket reports it (`enableTtlReport`), else 0. */
  readonly ttls: Uint8Array;
  /** Number of datagrams in the batch. */
  count = 0;
  /**
   * The socket's kernel drop counter (SO_RXQ_OVFL) as last reported: the kernel stamps it on
   * datagrams queued after a drop, so it stays 0 until then.
   */
  drops = 0;

  /** @internal sockaddr_in per slot (sender on receive, destination on send). */
  readonly _names: Uint8Array;
  /** @internal */
  readonly _namesView: DataView;
  /** @internal destination sockaddr for unconnected sends. */
  readonly _dest: Uint8Array;
  /** @internal iovecs for receiving (len = slotSize) and sending (len = datagram length). */
  readonly _iovRecv: Uint8Array;
  /** @internal */
  readonly _iovSend: Uint8Array;
  /** @internal */
  readonly _iovSendView: DataView;
  /** @internal control buffers (SO_RXQ_OVFL) per slot. */
  readonly _control: Uint8Array;
  /** @internal */
  readonly _controlView: DataView;
  /** @internal headers: mmsghdr[] on Linux, msghdr[] elsewhere. */
  readonly _hdrRecv: Uint8Array;
  /** @internal */
  readonly _hdrRecvView: DataView;
  /** @internal */
  readonly _hdrSend: Uint8Array;
  /** @internal */
  readonly _hdrSendView: DataView;
  /** @internal per-message header views for the recvmsg/sendmsg fallback. */
  readonly _hdrRecvItems: Uint8Array[];
  /** @internal */
  readonly _hdrSendItems: Uint8Array[];
  /** @internal header stride. */
  readonly _stride: number;
  /** @internal msg_namelen a receive header gets before each receive (0: no sender wanted). */
  _nameLen: number = L.sockaddr_in.size;
  #namesAddr: bigint;

  /**
   * @param capacity datagrams per batch
   * @param slotSize bytes per datagram slot
   * @default capacity 64, slotSize 65536
   */
  constructor(capacity = 64, slotSize = 65536) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1024) {
      throw new RangeError(`Batch capacity must be 1..1024, got ${capacity}`);
    }
    if (!Number.isInteger(slotSize) || slotSize < 1) {
      throw new RangeError(`Bad slot size ${slotSize}`);
    }
    this.capacity = capacity;
    this.slotSize = slotSize;
    this.data = new Uint8Array(capacity * slotSize);
    this.lengths = new Int32Array(capacity);
    this.truncated = new Uint8Array(capacity);
    this.ttls = new Uint8Array(capacity);
    const sa = L.sockaddr_in.size;
    this._names = new Uint8Array(capacity * sa);
    this._namesView = new DataView(this._names.buffer);
    this._dest = new Uint8Array(sa);
    this._iovRecv = new Uint8Array(capacity * L.iovec.size);
    this._iovSend = new Uint8Array(capacity * L.iovec.size);
    this._iovSendView = new DataView(this._iovSend.buffer);
    this._control = new Uint8Array(capacity * CONTROL_SPACE);
    this._controlView = new DataView(this._control.buffer);
    this._stride = C.hasMmsg ? L.mmsghdr.size : L.msghdr.size;
    this._hdrRecv = new Uint8Array(capacity * this._stride);
    this._hdrRecvView = new DataView(this._hdrRecv.buffer);
    this._hdrSend = new Uint8Array(capacity * this._stride);
    this._hdrSendView = new DataView(this._hdrSend.buffer);
    this._hdrRecvItems = [];
    this._hdrSendItems = [];

    const dataAddr = addressOf(this.data);
    const namesAddr = addressOf(this._names);
    this.#namesAddr = namesAddr;
    const iovRecvAddr = addressOf(this._iovRecv);
    const iovSendAddr = addressOf(this._iovSend);
    const controlAddr = addressOf(this._control);
    const iovRecvView = new DataView(this._iovRecv.buffer);
    const m = L.msghdr;
    for (let i = 0; i < capacity; i++) {
      const slot = dataAddr + BigInt(i * slotSize);
      setPointer(iovRecvView, i * L.iovec.size + L.iovec.base, slot);
      setUField(iovRecvView, i * L.iovec.size + L.iovec.len, 8, slotSize);
      setPointer(this._iovSendView, i * L.iovec.size + L.iovec.base, slot);
      setUField(this._iovSendView, i * L.iovec.size + L.iovec.len, 8, 0);

      const h = i * this._stride;
      const rv = this._hdrRecvView;
      setPointer(rv, h + m.name, namesAddr + BigInt(i * sa));
      rv.setUint32(h + m.namelen, sa, true);
      setPointer(rv, h + m.iov, iovRecvAddr + BigInt(i * L.iovec.size));
      setUField(rv, h + m.iovlen, m.iovlenBytes, 1);
      setPointer(rv, h + m.control, controlAddr + BigInt(i * CONTROL_SPACE));
      setUField(rv, h + m.controllen, m.controllenBytes, CONTROL_SPACE);

      const sv = this._hdrSendView;
      setPointer(sv, h + m.name, 0n);
      sv.setUint32(h + m.namelen, 0, true);
      setPointer(sv, h + m.iov, iovSendAddr + BigInt(i * L.iovec.size));
      setUField(sv, h + m.iovlen, m.iovlenBytes, 1);

      this._hdrRecvItems.push(this._hdrRecv.subarray(h, h + this._stride));
      this._hdrSendItems.push(this._hdrSend.subarray(h, h + this._stride));
    }
  }

  /**
   * Whether receives into this batch capture each datagram's sender (`sourceIp`, `sourcePort`);
   * on by default. Off, the kernel does not write the address at all (a relay that only forwards
   * saves that per datagram), and `sourceIp`/`sourcePort` read 0.
   */
  get captureSources(): boolean {
    return this._nameLen !== 0;
  }

  set captureSources(on: boolean) {
    const sa = L.sockaddr_in.size;
    const rv = this._hdrRecvView;
    this._nameLen = on ? sa : 0;
    for (let i = 0; i < this.capacity; i++) {
      const h = i * this._stride;
      setPointer(rv, h + L.msghdr.name, on ? this.#namesAddr + BigInt(i * sa) : 0n);
      rv.setUint32(h + L.msghdr.namelen, this._nameLen, true);
    }
    if (!on) this._names.fill(0);
  }

  /** Byte offset of slot `i` in `data`. */
  offset(i: number): number {
    return i * this.slotSize;
  }

  /** Sender IPv4 address (host order) of received datagram `i`. */
  sourceIp(i: number): number {
    return readSockaddrIp(this._namesView, i * L.sockaddr_in.size);
  }

  /** Sender port of received datagram `i`. */
  sourcePort(i: number): number {
    return readSockaddrPort(this._namesView, i * L.sockaddr_in.size);
  }

  /** Sets the length of datagram `i` (its bytes are already in slot `i`) for sending. */
  setLength(i: number, length: number): void {
    if (length > this.slotSize) {
      throw new RangeError(`Datagram of ${length} bytes exceeds the slot size ${this.slotSize}`);
    }
    this.lengths[i] = length;
    setUField(this._iovSendView, i * L.iovec.size + L.iovec.len, 8, length);
  }

  /**
   * Sets where `sendBatch` sends on an unconnected socket (null: the socket's connected peer).
   * Written once into every send header; not for the per-packet path.
   */
  setDestination(addr: SocketAddress | null): void {
    const m = L.msghdr;
    if (addr !== null) writeSockaddrIn(new DataView(this._dest.buffer), 0, addr);
    const destAddr = addr === null ? 0n : addressOf(this._dest);
    for (let i = 0; i < this.capacity; i++) {
      const h = i * this._stride;
      setPointer(this._hdrSendView, h + m.name, destAddr);
      this._hdrSendView.setUint32(h + m.namelen, addr === null ? 0 : L.sockaddr_in.size, true);
    }
  }
}

/** Control buffer bytes per slot: room for two 4-byte control messages (drops, TTL). */
const CONTROL_SPACE = L.cmsgSpaceU32 * 2;
const CMSG_ALIGN = C.os === "linux" ? 8 : 4;

/** Options for `UdpSocket.create`. */
export interface UdpSocketOptions {
  /** SO_REUSEADDR. @default true */
  reuseAddr?: boolean;
  /** SO_REUSEPORT. @default true */
  reusePort?: boolean;
}

/** Outcome of `setRecvBuffer`. */
export interface RecvBufferResult {
  /** Bytes asked for. */
  requested: number;
  /** Usable bytes the kernel granted (on Linux half of what getsockopt reports). */
  effective: number;
  /** What getsockopt(SO_RCVBUF) reports (on Linux twice the usable size, bookkeeping included). */
  reported: number;
  /** True when the kernel gave less than asked (on Linux: `net.core.rmem_max`). */
  clamped: boolean;
}

/** An IPv4 UDP socket. Close it with `close()`, which is safe to call twice. */
export class UdpSocket {
  #fd: number;
  #opt = new Uint8Array(64); // SO_MEMINFO needs 36 bytes
  #optView = new DataView(this.#opt.buffer);
  #optLen = new Uint32Array(1);
  #addr = new Uint8Array(L.sockaddr_in.size);
  #addrView = new DataView(this.#addr.buffer);
  #one = new Uint8Array(L.sockaddr_in.size);
  #oneLen = new Uint32Array(1);
  #mmsg: boolean;

  private constructor(fd: number) {
    this.#fd = fd;
    this.#mmsg = hasMmsg();
  }

  /**
   * Creates a CLOEXEC UDP socket with SO_REUSEADDR and SO_REUSEPORT (both on by default). macOS
   * has no SOCK_CLOEXEC and fcntl is variadic there: its sockets are created without the flag
   * (chanrelay execs nothing but Deno.Command children, which close descriptors >= 3).
   */
  static create(options: UdpSocketOptions = {}): UdpSocket {
    const s = libc();
    const type = C.SOCK_DGRAM | (C.hasSockCloexec ? C.SOCK_CLOEXEC : 0);
    const fd = unwrap(s.socket(C.AF_INET, type, C.IPPROTO_UDP), "socket");
    const sock = new UdpSocket(fd);
    try {
      if (options.reuseAddr ?? true) {
        sock.#setInt(C.SOL_SOCKET, C.SO_REUSEADDR, 1, "set SO_REUSEADDR on");
      }
      if (options.reusePort ?? true) {
        sock.#setInt(C.SOL_SOCKET, C.SO_REUSEPORT, 1, "set SO_REUSEPORT on");
      }
    } catch (e) {
      sock.close();
      throw e;
    }
    return sock;
  }

  /** The file descriptor, or -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  #live(): number {
    if (this.#fd < 0) throw new ErrnoError("use closed socket", C.EBADF);
    return this.#fd;
  }

  #setInt(level: number, name: number, value: number, what: string): void {
    this.#optView.setInt32(0, value, true);
    unwrap(libc().setsockopt(this.#live(), level, name, this.#opt, 4), what, `fd ${this.#fd}`);
  }

  #getInt(level: number, name: number, what: string): number {
    this.#optLen[0] = 4;
    unwrap(libc().getsockopt(this.#live(), level, name, this.#opt, this.#optLen), what);
    return this.#optView.getInt32(0, true);
  }

  /** Binds to `addr` (port 0: the kernel picks one; read it with `localAddress()`). */
  bind(addr: SocketAddress): void {
    writeSockaddrIn(this.#addrView, 0, addr);
    unwrap(libc().bind(this.#live(), this.#addr, L.sockaddr_in.size), "bind", formatAddress(addr));
  }

  /** Connects to `addr`: sends without an address go there, and ICMP errors are reported. */
  connect(addr: SocketAddress): void {
    writeSockaddrIn(this.#addrView, 0, addr);
    unwrap(
      libc().connect(this.#live(), this.#addr, L.sockaddr_in.size),
      "connect to",
      formatAddress(addr),
    );
  }

  /** The bound local address. */
  localAddress(): SocketAddress {
    this.#optLen[0] = L.sockaddr_in.size;
    unwrap(libc().getsockname(this.#live(), this.#addr, this.#optLen), "getsockname");
    return { ip: readSockaddrIp(this.#addrView, 0), port: readSockaddrPort(this.#addrView, 0) };
  }

  /** Sets SO_RCVBUF (SO_RCVBUFFORCE with `force`, root only) and reads back what the kernel gave. */
  setRecvBuffer(bytes: number, force = false): RecvBufferResult {
    if (force && C.SO_RCVBUFFORCE >= 0) {
      this.#setInt(C.SOL_SOCKET, C.SO_RCVBUFFORCE, bytes, "set SO_RCVBUFFORCE on");
    } else {
      this.#setInt(C.SOL_SOCKET, C.SO_RCVBUF, bytes, "set SO_RCVBUF on");
    }
    const reported = this.recvBufferSize();
    const effective = C.os === "linux" ? Math.floor(reported / 2) : reported;
    return { requested: bytes, effective, reported, clamped: effective < bytes };
  }

  /** SO_RCVBUF as the kernel reports it (on Linux twice the usable size). */
  recvBufferSize(): number {
    return this.#getInt(C.SOL_SOCKET, C.SO_RCVBUF, "get SO_RCVBUF of");
  }

  /** Sets SO_SNDBUF. */
  setSendBuffer(bytes: number): void {
    this.#setInt(C.SOL_SOCKET, C.SO_SNDBUF, bytes, "set SO_SNDBUF on");
  }

  /** Sets SO_RCVTIMEO: a blocking receive returns nothing after `ms` milliseconds (0: never). */
  setRecvTimeout(ms: number): void {
    writeTimeval(this.#optView, 0, ms);
    unwrap(
      libc().setsockopt(this.#live(), C.SOL_SOCKET, C.SO_RCVTIMEO, this.#opt, L.timeval.size),
      "set SO_RCVTIMEO on",
      `fd ${this.#fd}`,
    );
  }

  /** Any-source join of `group` on the interface with address `iface` (0: the kernel chooses). */
  joinGroup(group: number, iface = 0): void {
    writeIpMreq(this.#optView, 0, group, iface);
    unwrap(
      libc().setsockopt(this.#live(), C.IPPROTO_IP, C.IP_ADD_MEMBERSHIP, this.#opt, L.ip_mreq.size),
      "join",
      `${formatIPv4(group)} on ${formatIPv4(iface)}`,
    );
  }

  /** Leaves an any-source group. */
  leaveGroup(group: number, iface = 0): void {
    writeIpMreq(this.#optView, 0, group, iface);
    unwrap(
      libc().setsockopt(
        this.#live(),
        C.IPPROTO_IP,
        C.IP_DROP_MEMBERSHIP,
        this.#opt,
        L.ip_mreq.size,
      ),
      "leave",
      formatIPv4(group),
    );
  }

  /** Source-specific join: receive `group` only from `source`, on interface `iface`. */
  joinSourceGroup(group: number, source: number, iface = 0): void {
    writeIpMreqSource(this.#optView, 0, group, iface, source);
    unwrap(
      libc().setsockopt(
        this.#live(),
        C.IPPROTO_IP,
        C.IP_ADD_SOURCE_MEMBERSHIP,
        this.#opt,
        L.ip_mreq_source.size,
      ),
      "join",
      `${formatIPv4(group)} from ${formatIPv4(source)} on ${formatIPv4(iface)}`,
    );
  }

  /** Leaves a source-specific group. */
  leaveSourceGroup(group: number, source: number, iface = 0): void {
    writeIpMreqSource(this.#optView, 0, group, iface, source);
    unwrap(
      libc().setsockopt(
        this.#live(),
        C.IPPROTO_IP,
        C.IP_DROP_SOURCE_MEMBERSHIP,
        this.#opt,
        L.ip_mreq_source.size,
      ),
      "leave",
      `${formatIPv4(group)} from ${formatIPv4(source)}`,
    );
  }

  /** IP_MULTICAST_IF: the interface (by address) multicast is sent from. */
  setMulticastInterface(iface: number): void {
    this.#optView.setUint32(0, iface, false);
    unwrap(
      libc().setsockopt(this.#live(), C.IPPROTO_IP, C.IP_MULTICAST_IF, this.#opt, 4),
      "set IP_MULTICAST_IF to",
      formatIPv4(iface),
    );
  }

  /** IP_MULTICAST_TTL. */
  setMulticastTtl(ttl: number): void {
    if (C.os === "darwin") {
      this.#opt[0] = ttl; // u_char on BSD
      unwrap(
        libc().setsockopt(this.#live(), C.IPPROTO_IP, C.IP_MULTICAST_TTL, this.#opt, 1),
        "set IP_MULTICAST_TTL",
      );
    } else this.#setInt(C.IPPROTO_IP, C.IP_MULTICAST_TTL, ttl, "set IP_MULTICAST_TTL on");
  }

  /** IP_MULTICAST_TTL as set. */
  multicastTtl(): number {
    return this.#getInt(C.IPPROTO_IP, C.IP_MULTICAST_TTL, "get IP_MULTICAST_TTL of") & 0xff;
  }

  /** IP_MULTICAST_LOOP: whether this host's own sockets receive what we send to a group. */
  setMulticastLoop(on: boolean): void {
    if (C.os === "darwin") {
      this.#opt[0] = on ? 1 : 0;
      unwrap(
        libc().setsockopt(this.#live(), C.IPPROTO_IP, C.IP_MULTICAST_LOOP, this.#opt, 1),
        "set IP_MULTICAST_LOOP",
      );
    } else this.#setInt(C.IPPROTO_IP, C.IP_MULTICAST_LOOP, on ? 1 : 0, "set IP_MULTICAST_LOOP on");
  }

  /** IP_TTL for unicast sends. */
  setUnicastTtl(ttl: number): void {
    this.#setInt(C.IPPROTO_IP, C.IP_TTL, ttl, "set IP_TTL on");
  }

  /**
   * Asks the kernel to report its drop counter with every datagram (SO_RXQ_OVFL); batches then
   * carry it in `drops`. Returns false where the OS has no such option.
   */
  enableDropCounter(): boolean {
    if (!C.hasRxqOvfl) return false;
    this.#setInt(C.SOL_SOCKET, C.SO_RXQ_OVFL, 1, "set SO_RXQ_OVFL on");
    return true;
  }

  /**
   * The socket's kernel drop counter: datagrams the kernel dropped because the receive queue was
   * full, read with getsockopt(SO_MEMINFO) (Linux). It is the counter SO_RXQ_OVFL reports, but
   * costs one call when read instead of a control message on every datagram received. Returns -1
   * where the OS has no such option (macOS) or the socket is closed. Allocates nothing.
   */
  kernelDrops(): number {
    if (C.SO_MEMINFO < 0 || this.#fd < 0) return -1;
    const need = (C.SK_MEMINFO_DROPS + 1) * 4;
    this.#optLen[0] = this.#opt.length;
    const r = libc().getsockopt(this.#fd, C.SOL_SOCKET, C.SO_MEMINFO, this.#opt, this.#optLen);
    if (r < 0 || this.#optLen[0]! < need) return -1;
    return this.#optView.getUint32(C.SK_MEMINFO_DROPS * 4, true);
  }

  /**
   * Asks the kernel to report each datagram's IP TTL (IP_RECVTTL); batches then carry it in
   * `ttls`. Returns false where the OS has no such option.
   */
  enableTtlReport(): boolean {
    if (C.IP_RECVTTL < 0) return false;
    this.#setInt(C.IPPROTO_IP, C.IP_RECVTTL, 1, "set IP_RECVTTL on");
    return true;
  }

  /**
   * Receives up to `batch.capacity` datagrams: blocks for the first (up to SO_RCVTIMEO), then takes
   * what is queued. Returns how many arrived (also in `batch.count`), 0 on timeout or interruption,
   * or minus the errno of any other failure. Allocates nothing.
   */
  recvBatch(batch: DatagramBatch): number {
    const fd = this.#fd;
    if (fd < 0) return -C.EBADF;
    const s = libc();
    const m = L.msghdr;
    const stride = batch._stride;
    const hv = batch._hdrRecvView;
    let n: number;
    if (this.#mmsg) {
      n = s.recvmmsg!(fd, batch._hdrRecv, batch.capacity, C.MSG_WAITFORONE, null);
      if (n < 0) {
        batch.count = 0;
        const e = errno();
        return e === C.EAGAIN || e === C.EINTR ? 0 : -e;
      }
      for (let i = 0; i < n; i++) {
        const h = i * stride;
        const len = hv.getUint32(h + L.mmsghdr.len, true);
        const flags = hv.getInt32(h + m.flags, true);
        this.#finishRecv(batch, i, h, len, flags);
      }
    } else {
      n = 0;
      const items = batch._hdrRecvItems;
      for (; n < batch.capacity; n++) {
        const r = s.recvmsg(fd, items[n]!, n === 0 ? 0 : C.MSG_DONTWAIT);
        if (r < 0) {
          const e = errno();
          if (n > 0 || e === C.EAGAIN || e === C.EINTR) break;
          batch.count = 0;
          return -e;
        }
        const h = n * stride;
        this.#finishRecv(batch, n, h, r, hv.getInt32(h + m.flags, true));
      }
    }
    batch.count = n;
    return n;
  }

  #finishRecv(batch: DatagramBatch, i: number, h: number, len: number, flags: number): void {
    const m = L.msghdr;
    const hv = batch._hdrRecvView;
    const slot = batch.slotSize;
    const trunc = (flags & C.MSG_TRUNC) !== 0 || len > slot;
    const real = len > slot ? slot : len;
    batch.lengths[i] = real;
    batch.truncated[i] = trunc ? 1 : 0;
    setUField(batch._iovSendView, i * L.iovec.size + L.iovec.len, 8, real);
    hv.setUint32(h + m.namelen, batch._nameLen, true);
    const clen = hv.getUint32(h + m.controllen, true);
    batch.ttls[i] = 0;
    if (clen > 0) {
      const cv = batch._controlView;
      const base = i * CONTROL_SPACE;
      let c = 0;
      while (c + L.cmsghdr.size <= clen) {
        const cl = cv.getUint32(base + c + L.cmsghdr.len, true);
        if (cl < L.cmsghdr.size) break;
        const level = cv.getInt32(base + c + L.cmsghdr.level, true);
        const type = cv.getInt32(base + c + L.cmsghdr.type, true);
        if (level === C.SOL_SOCKET && type === C.SO_RXQ_OVFL) {
          batch.drops = cv.getUint32(base + c + L.cmsghdr.data, true);
        } else if (level === C.IPPROTO_IP && type === C.IP_TTL) {
          batch.ttls[i] = cv.getUint8(base + c + L.cmsghdr.data);
        }
        c += Math.ceil(cl / CMSG_ALIGN) * CMSG_ALIGN;
      }
    }
    setUField(hv, h + m.controllen, m.controllenBytes, CONTROL_SPACE);
  }

  /**
   * Sends datagrams `start .. start+count-1` of `batch` (their lengths as received or set with
   * `setLength`) to the connected peer or to `batch.setDestination()`. Returns how many were sent
   * (fewer when one failed: that one is next), or minus the errno when the first one failed.
   * Allocates nothing.
   */
  sendBatch(batch: DatagramBatch, start: number, count: number, flags = 0): number {
    const fd = this.#fd;
    if (fd < 0) return -C.EBADF;
    const s = libc();
    if (this.#mmsg) {
      const r = start === 0
        ? s.sendmmsg!(fd, batch._hdrSend, count, flags)
        : s.sendmmsg!(fd, batch._hdrSendItems[start]!, count, flags);
      return r < 0 ? -errno() : r;
    }
    let n = 0;
    const items = batch._hdrSendItems;
    for (; n < count; n++) {
      const r = s.sendmsg(fd, items[start + n]!, flags);
      if (r < 0) return n > 0 ? n : -errno();
    }
    return n;
  }

  /** Receives one datagram into `buf` (blocking up to SO_RCVTIMEO). Returns its length, or -1 on timeout. */
  recvFrom(buf: Uint8Array): { length: number; from: SocketAddress } | null {
    this.#oneLen[0] = L.sockaddr_in.size;
    const r = libc().recvfrom(
      this.#live(),
      buf,
      BigInt(buf.byteLength),
      0,
      this.#one,
      this.#oneLen,
    );
    if (r < 0) {
      const e = errno();
      if (e === C.EAGAIN || e === C.EINTR) return null;
      throw new ErrnoError("receive on", e, `fd ${this.#fd}`);
    }
    const v = new DataView(this.#one.buffer);
    return { length: r, from: { ip: readSockaddrIp(v, 0), port: readSockaddrPort(v, 0) } };
  }

  /** Sends one datagram to `addr`. Throws an ErrnoError on failure. */
  sendTo(buf: Uint8Array, length: number, addr: SocketAddress): void {
    writeSockaddrIn(this.#addrView, 0, addr);
    unwrap(
      libc().sendto(this.#live(), buf, BigInt(length), 0, this.#addr, L.sockaddr_in.size),
      "send to",
      formatAddress(addr),
    );
  }

  /** shutdown(2): with "read", a receive blocked in another thread returns at once. */
  shutdown(how: "read" | "write" | "both" = "read"): void {
    shutdownDescriptor(this.#live(), how);
  }

  /** Closes the socket. Safe to call twice. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    libc().close(fd);
  }
}

/**
 * shutdown(2) on a raw descriptor, from any thread: wakes a receive blocked on that socket
 * (`worker.terminate()` cannot). ENOTCONN (an unconnected UDP socket) still wakes it and is ignored.
 */
export function shutdownDescriptor(fd: number, how: "read" | "write" | "both" = "read"): void {
  const h = how === "read" ? C.SHUT_RD : how === "write" ? C.SHUT_WR : C.SHUT_RDWR;
  const r = libc().shutdown(fd, h);
  if (r < 0) {
    const e = errno();
    if (e !== C.ENOTCONN) throw new ErrnoError("shutdown", e, `fd ${fd}`);
  }
}

/** close(2) on a raw descriptor (for a supervisor cleaning up after a dead worker). */
export function closeDescriptor(fd: number): void {
  libc().close(fd);
}
