/**
 * The relay's fan-out: one connected socket per destination, each sent the whole batch at once
 * without waiting (MSG_DONTWAIT). An error on one destination is counted for it and never delays
 * the others. Nothing is allocated per datagram.
 */
import { C } from "../../ffi/constants.ts";
import { ErrnoError, errnoNumber } from "../../ffi/errno.ts";
import { type DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { ChannelShared, CTR, DEST } from "../channel/counters.ts";
import type { DestinationPlan } from "../channel/plan.ts";

/** connect(2) failures that mean "no route yet": retried, not fatal. */
const RETRYABLE = new Set(
  ["ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL", "ENETDOWN"].map(errnoNumber),
);

/** Sockets for a channel's destinations, and the send loop. */
export class FanOut {
  readonly #sockets: UdpSocket[] = [];
  readonly #dests: readonly DestinationPlan[];
  readonly #connected: boolean[] = [];
  readonly #counters: Float64Array;
  readonly #base: number[] = [];

  /**
   * Opens one socket per destination and connects it. A destination without a route yet
   * (ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL) is not fatal: its datagrams are counted as errors
   * and `retry()` connects it later. Any other setup error is thrown (after closing what it opened).
   */
  constructor(destinations: readonly DestinationPlan[], shared: ChannelShared) {
    this.#counters = shared.counters;
    this.#dests = destinations;
    try {
      for (let d = 0; d < destinations.length; d++) {
        const dest = destinations[d]!;
        const s = UdpSocket.create({ reuseAddr: false, reusePort: false });
        this.#sockets.push(s);
        if (dest.multicast) {
          if (dest.iface !== 0) s.setMulticastInterface(dest.iface);
          s.setMulticastTtl(dest.ttl ?? 1);
          s.setMulticastLoop(dest.loop);
        } else {
          if (dest.iface !== 0) s.bind({ ip: dest.iface, port: 0 });
          if (dest.ttl !== null) s.setUnicastTtl(dest.ttl);
        }
        s.setSendBuffer(4 << 20);
        this.#base.push(ChannelShared.dest(d, 0));
        this.#connected.push(false);
        this.#connect(d);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  #connect(d: number): boolean {
    const dest = this.#dests[d]!;
    try {
      this.#sockets[d]!.connect({ ip: dest.ip, port: dest.port });
    } catch (e) {
      if (e instanceof ErrnoError && RETRYABLE.has(e.errno)) {
        this.#connected[d] = false;
        this.#counters[this.#base[d]! + DEST.LAST_ERRNO] = e.errno;
        return false;
      }
      throw e;
    }
    this.#connected[d] = true;
    return true;
  }

  /** Number of destinations waiting for a route. */
  get unconnected(): number {
    return this.#connected.filter((c) => !c).length;
  }

  /** Tries again to connect destinations that had no route (call every second or so). */
  retry(): void {
    for (let d = 0; d < this.#sockets.length; d++) {
      if (!this.#connected[d]) {
        try {
          this.#connect(d);
        } catch {
          // counted through LAST_ERRNO; the next retry tries again
        }
      }
    }
  }

  /** Descriptors of the destination sockets. */
  get fds(): number[] {
    return this.#sockets.map((s) => s.fd);
  }

  /** Sends datagrams 0..n-1 of `batch` to every destination; returns the total of datagrams sent. */
  send(batch: DatagramBatch, n: number, batchBytes: number): number {
    const ctr = this.#counters;
    const sockets = this.#sockets;
    const lengths = batch.lengths;
    let total = 0;
    let failed = 0;
    const connected = this.#connected;
    for (let d = 0; d < sockets.length; d++) {
      const s = sockets[d]!;
      const b = this.#base[d]!;
      if (!connected[d]) {
        ctr[b + DEST.ERRORS] = ctr[b + DEST.ERRORS]! + n;
        failed += n;
        continue;
      }
      let start = 0;
      let sent = 0;
      let bytes = 0;
      let errors = 0;
      while (start < n) {
        const r = s.sendBatch(batch, start, n - start, C.MSG_DONTWAIT);
        if (r > 0) {
          if (r === n && start === 0) bytes = batchBytes;
          else for (let i = start; i < start + r; i++) bytes += lengths[i]!;
          sent += r;
          start += r;
          continue;
        }
        const e = r < 0 ? -r : C.EAGAIN;
        ctr[b + DEST.LAST_ERRNO] = e;
        if (e === C.EAGAIN || e === C.ENOBUFS) {
          // the socket's send queue is full: drop the rest of this batch for this destination only
          errors += n - start;
          break;
        }
        errors++; // ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EMSGSIZE…: skip that datagram
        start++;
      }
      ctr[b + DEST.SENT] = ctr[b + DEST.SENT]! + sent;
      ctr[b + DEST.BYTES] = ctr[b + DEST.BYTES]! + bytes;
      if (errors > 0) ctr[b + DEST.ERRORS] = ctr[b + DEST.ERRORS]! + errors;
      total += sent;
      failed += errors;
    }
    ctr[CTR.RELAY_DATAGRAMS] = ctr[CTR.RELAY_DATAGRAMS]! + total;
    if (failed > 0) ctr[CTR.RELAY_ERRORS] = ctr[CTR.RELAY_ERRORS]! + failed;
    return total;
  }

  /** Closes every destination socket. Safe to call twice. */
  close(): void {
    for (const s of this.#sockets) s.close();
  }
}
