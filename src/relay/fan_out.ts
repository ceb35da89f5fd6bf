/**
 * The relay's fan-out: one connected socket per destination, each sent the whole batch at once
 * without waiting (MSG_DONTWAIT). An error on one destination is counted for it and never delays
 * the others. Nothing is allocated per datagram.
 */
import { C } from "../../ffi/constants.ts";
import { type DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import { ChannelShared, CTR, DEST } from "../channel/counters.ts";
import type { DestinationPlan } from "../channel/plan.ts";

/** Sockets for a channel's destinations, and the send loop. */
export class FanOut {
  readonly #sockets: UdpSocket[] = [];
  readonly #counters: Float64Array;
  readonly #base: number[] = [];

  /**
   * Opens and connects one socket per destination. Throws an ErrnoError (after closing what it
   * opened) when a destination cannot be set up.
   */
  constructor(destinations: readonly DestinationPlan[], shared: ChannelShared) {
    this.#counters = shared.counters;
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
        s.connect({ ip: dest.ip, port: dest.port });
        this.#base.push(ChannelShared.dest(d, 0));
      }
    } catch (e) {
      this.close();
      throw e;
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
    for (let d = 0; d < sockets.length; d++) {
      const s = sockets[d]!;
      const b = this.#base[d]!;
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
