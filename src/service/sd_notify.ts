/**
 * The systemd notification protocol (sd_notify(3)): newline-separated `KEY=VALUE` assignments in
 * one datagram to the unix socket named by `$NOTIFY_SOCKET` (a path, or an abstract name when it
 * starts with "@"). Without `$NOTIFY_SOCKET` (not started by systemd with Type=notify) every call
 * is a no-op returning false. Errors never throw: a lost notification must not stop the relay.
 */
import { monotonicNs } from "../../ffi/clock.ts";
import { UnixDatagramSocket } from "../../ffi/unix_datagram.ts";
import { log } from "../log.ts";

/** The environment variable systemd sets for Type=notify services. */
export const NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET";

const encoder = new TextEncoder();
let socket: UnixDatagramSocket | null = null;

function target(): string | null {
  let v: string | undefined;
  try {
    v = Deno.env.get(NOTIFY_SOCKET_ENV);
  } catch {
    return null; // no --allow-env: not under systemd as far as we can tell
  }
  return v === undefined || v === "" ? null : v;
}

/**
 * Sends `state` (e.g. `"READY=1\nSTATUS=Relaying"`) to `$NOTIFY_SOCKET`. Returns true when the
 * datagram was sent, false when there is no socket or the send failed (logged at debug level).
 */
export function notify(state: string): boolean {
  const to = target();
  if (to === null) return false;
  try {
    socket ??= UnixDatagramSocket.create();
    socket.sendTo(to, encoder.encode(state));
    return true;
  } catch (e) {
    log.limited("sd_notify", 60_000, "warn", "Cannot notify systemd", {
      socket: to,
      error: e instanceof Error ? e.message : String(e),
    });
    return false;
  }
}

/** Status text on one line (the protocol is newline-separated). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}

/** Tells systemd the service is up (`READY=1`), with an optional status line. */
export function notifyReady(status?: string): boolean {
  return notify(status === undefined ? "READY=1" : `READY=1\nSTATUS=${oneLine(status)}`);
}

/**
 * Tells systemd a reload started (`RELOADING=1` with `MONOTONIC_USEC=`, which Type=notify-reload
 * requires since systemd 253); send `notifyReady()` when it is done.
 */
export function notifyReloading(status?: string): boolean {
  if (target() === null) return false; // no clock read (FFI) when nobody listens
  const usec = Math.floor(monotonicNs() / 1000);
  let s = `RELOADING=1\nMONOTONIC_USEC=${usec}`;
  if (status !== undefined) s += `\nSTATUS=${oneLine(status)}`;
  return notify(s);
}

/** Tells systemd the service is stopping (`STOPPING=1`). */
export function notifyStopping(status?: string): boolean {
  return notify(status === undefined ? "STOPPING=1" : `STOPPING=1\nSTATUS=${oneLine(status)}`);
}

/** Updates the status line `systemctl status` shows (`STATUS=`). */
export function notifyStatus(text: string): boolean {
  return notify(`STATUS=${oneLine(text)}`);
}

/** Closes the notification socket (it is reopened on the next call). */
export function closeNotifySocket(): void {
  socket?.close();
  socket = null;
}
