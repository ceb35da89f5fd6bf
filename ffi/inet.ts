/** IPv4 socket addresses: parsing and formatting, no native code. */

/** An IPv4 address and port. `ip` is the address as an unsigned 32-bit number in host order. */
export interface SocketAddress {
  readonly ip: number;
  readonly port: number;
}

/** Parses a dotted-quad IPv4 address (`"239.1.1.1"`); returns null when it is not one. */
export function parseIPv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let ip = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    ip = ip * 256 + n;
  }
  return ip;
}

/** Formats a host-order IPv4 number as a dotted quad. */
export function formatIPv4(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** Formats an address as `"HOST:PORT"`. */
export function formatAddress(addr: SocketAddress): string {
  return `${formatIPv4(addr.ip)}:${addr.port}`;
}

/** Whether the address is in 224.0.0.0/4 (IPv4 multicast). */
export function isMulticast(ip: number): boolean {
  return ip >>> 28 === 0xe;
}

/** The result of parsing `"HOST:PORT"`: an address, or the reason it is not one. */
export type ParsedAddress = { ok: true; value: SocketAddress } | { ok: false; reason: string };

/**
 * Parses `"HOST:PORT"` where HOST is a dotted quad, `localhost` or `*` (any, 0.0.0.0).
 * With `allowZeroPort`, port 0 (pick one) is accepted.
 */
export function parseAddress(text: string, allowZeroPort = false): ParsedAddress {
  const i = text.lastIndexOf(":");
  if (i < 0) return { ok: false, reason: "expected HOST:PORT" };
  const host = text.slice(0, i);
  const portText = text.slice(i + 1);
  let ip: number | null;
  if (host === "localhost") ip = 0x7f000001;
  else if (host === "*" || host === "") ip = 0;
  else ip = parseIPv4(host);
  if (ip === null) return { ok: false, reason: `"${host}" is not an IPv4 address` };
  if (!/^[0-9]{1,5}$/.test(portText)) return { ok: false, reason: "port is not a number" };
  const port = Number(portText);
  if (port > 65535) return { ok: false, reason: "port out of range" };
  if (port === 0 && !allowZeroPort) return { ok: false, reason: "port 0 is not allowed here" };
  return { ok: true, value: { ip, port } };
}
