/**
 * Real channels on 127.0.0.1 under a real Supervisor, with a sink socket per destination and the
 * metrics server in front: what the metrics and status page tests look at.
 */
import { UdpSocket } from "../../ffi/udp_socket.ts";
import type { SocketAddress } from "../../ffi/inet.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { planAll, type PlanOptions } from "../../src/channel/plan_from_config.ts";
import { Supervisor } from "../../src/channel/supervisor.ts";
import { type MetricsServer, startMetricsServer } from "../../src/metrics/server.ts";
import { supervisorStatusSource } from "../../src/metrics/status_source.ts";
import { VERSION } from "../../src/version.ts";

const LOCALHOST = 0x7f000001;

/** A free UDP port on 127.0.0.1 (bound and released: good enough on a test machine). */
export function freeUdpPort(): number {
  const s = UdpSocket.create({ reusePort: false });
  try {
    s.bind({ ip: LOCALHOST, port: 0 });
    return s.localAddress().port;
  } finally {
    s.close();
  }
}

/** Channels, their sinks and the server. */
export interface ChannelsFixture {
  readonly supervisor: Supervisor;
  readonly server: MetricsServer;
  /** Each channel's listen address. */
  readonly listen: ReadonlyMap<string, SocketAddress>;
  /** Each channel's one destination socket. */
  readonly sinks: ReadonlyMap<string, UdpSocket>;
  /** Sends `count` datagrams of `size` bytes to `channel` and reads them back from its sink. */
  send(channel: string, count: number, size?: number): void;
  /** Sends `count` datagrams of `size` bytes to `channel` without reading them back. */
  sendOnly(channel: string, count: number, size?: number): void;
  /** Stops everything (idempotent). */
  close(): Promise<void>;
}

/**
 * Starts one channel per name (listen 127.0.0.1:P, relay to a sink 127.0.0.1:Q) and the metrics
 * server on a free TCP port of 127.0.0.1.
 */
export async function startChannels(
  names: readonly string[],
  options: PlanOptions & { sampleMs?: number } = {},
): Promise<ChannelsFixture> {
  const sinks = new Map<string, UdpSocket>();
  const listen = new Map<string, SocketAddress>();
  let yaml = "channels:\n";
  for (const name of names) {
    const sink = UdpSocket.create({ reusePort: false });
    sink.setRecvBuffer(4 << 20);
    sink.bind({ ip: LOCALHOST, port: 0 });
    sink.setRecvTimeout(3000);
    sinks.set(name, sink);
    const port = freeUdpPort();
    listen.set(name, { ip: LOCALHOST, port });
    yaml += `  ${name}:\n    listen: 127.0.0.1:${port}\n    rcvbuf: 1MiB\n` +
      `    relay: [{ to: "127.0.0.1:${sink.localAddress().port}" }]\n`;
  }
  const config = loadConfigText(yaml, "test.yaml");
  const supervisor = new Supervisor();
  const failures = await supervisor.startAll(planAll(config, options));
  if (failures.length > 0) {
    await supervisor.stopAll();
    for (const s of sinks.values()) s.close();
    throw new Error(`Channels failed to start: ${JSON.stringify(failures)}`);
  }
  const source = supervisorStatusSource(supervisor, { version: VERSION, configFile: "test.yaml" });
  const server = await startMetricsServer({
    hostname: "127.0.0.1",
    port: 0,
    source,
    ...(options.sampleMs !== undefined ? { sampleMs: options.sampleMs } : {}),
  });
  const tx = UdpSocket.create({ reusePort: false });
  tx.bind({ ip: LOCALHOST, port: 0 });
  const buf = new Uint8Array(65536);
  let closed = false;
  return {
    supervisor,
    server,
    listen,
    sinks,
    send(channel, count, size = 100) {
      const to = listen.get(channel)!;
      const sink = sinks.get(channel)!;
      // a window at a time, so no buffer on the way overflows
      for (let done = 0; done < count;) {
        const k = Math.min(64, count - done);
        for (let i = 0; i < k; i++) tx.sendTo(buf, size, to);
        for (let i = 0; i < k; i++) {
          if (sink.recvFrom(buf) === null) {
            throw new Error(`Channel "${channel}": datagram ${done + i} did not arrive`);
          }
        }
        done += k;
      }
    },
    sendOnly(channel, count, size = 100) {
      const to = listen.get(channel)!;
      for (let i = 0; i < count; i++) tx.sendTo(buf, size, to);
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await supervisor.stopAll();
      tx.close();
      for (const s of sinks.values()) s.close();
    },
  };
}

/** Polls `check` every 20 ms until it returns true; throws with `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
