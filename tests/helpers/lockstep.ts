/**
 * Pushes numbered pattern datagrams into a relay and reads them back from its destinations in
 * lock-step (a window at a time), checking each byte.
 */
import { DatagramBatch, UdpSocket } from "../../ffi/udp_socket.ts";
import type { SocketAddress } from "../../ffi/inet.ts";
import { checkPattern, fillPattern } from "./patterns.ts";

/** A destination socket the test reads from. */
export interface Sink {
  readonly name: string;
  readonly sock: UdpSocket;
  /** Datagrams received byte-exact and in order. */
  received: number;
  /** Next expected sequence number. */
  next: number;
}

/** Binds a receiving socket on `port` of `ip` (joining `group` on 127.0.0.1 when given). */
export function openSink(name: string, ip: number, port: number, group?: number): Sink {
  const sock = UdpSocket.create();
  sock.setRecvBuffer(4 << 20);
  sock.bind({ ip: group ?? ip, port });
  if (group !== undefined) sock.joinGroup(group, 0x7f000001);
  sock.setRecvTimeout(3000);
  return { name, sock, received: 0, next: 0 };
}

const out = new DatagramBatch(64, 2048);
const inb = new DatagramBatch(64, 2048);

/**
 * Sends datagrams `from .. from+count-1` of stream `id` to `to`, `window` at a time, and after each
 * window reads exactly that many from every sink. Returns the errors (empty when all arrived).
 * `optional` sinks are drained without waiting (a channel that may be down).
 */
export function pushThrough(
  tx: UdpSocket,
  to: SocketAddress,
  id: number,
  from: number,
  count: number,
  sinks: Sink[],
  window = 64,
): string[] {
  const errors: string[] = [];
  out.setDestination(to);
  for (let seq = from; seq < from + count && errors.length === 0; seq += window) {
    const k = Math.min(window, from + count - seq);
    for (let i = 0; i < k; i++) fillPattern(out, i, id, seq + i);
    const sent = tx.sendBatch(out, 0, k);
    if (sent !== k) errors.push(`send of ${k} returned ${sent}`);
    for (const s of sinks) {
      let got = 0;
      while (got < k) {
        const n = s.sock.recvBatch(inb);
        if (n <= 0) {
          errors.push(`${s.name}: timed out waiting for seq ${seq + got}`);
          break;
        }
        for (let i = 0; i < n; i++, got++) {
          const e = checkPattern(inb, i, id, s.next);
          if (e) {
            errors.push(`${s.name}: ${e}`);
            return errors;
          }
          s.next++;
          s.received++;
        }
      }
    }
  }
  return errors;
}
