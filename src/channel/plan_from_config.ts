/** Turns validated config into the plans the channel Workers run. */
import { isMulticast } from "../../ffi/inet.ts";
import type { ChannelConfig, ChanrelayConfig } from "../config/schema.ts";
import type { ChannelPlan, DestinationPlan } from "./plan.ts";

/** Datagrams per receive batch. */
export const BATCH_SIZE = 64;

/** Options that do not come from the config file. */
export interface PlanOptions {
  /** Test hook: the first Worker of `channel` throws after `after` datagrams. */
  fault?: { channel: string; after: number } | null;
}

/** The plan of one channel. */
export function planChannel(
  cfg: ChanrelayConfig,
  ch: ChannelConfig,
  options: PlanOptions = {},
): ChannelPlan {
  const iface = ch.interface?.ip ?? 0;
  const relay: DestinationPlan[] = ch.relay.map((d) => ({
    text: d.to.text,
    ip: d.to.ip,
    port: d.to.port,
    multicast: isMulticast(d.to.ip),
    ttl: d.ttl ?? (isMulticast(d.to.ip) ? 1 : null),
    loop: d.loop,
    iface: d.interface?.ip ?? iface,
  }));
  return {
    name: ch.name,
    listenText: ch.listen.text,
    listenIp: ch.listen.ip,
    listenPort: ch.listen.port,
    multicast: isMulticast(ch.listen.ip),
    source: ch.source?.ip ?? null,
    iface,
    rcvbuf: ch.rcvbuf,
    maxDatagram: ch.max_datagram,
    batch: BATCH_SIZE,
    relay,
    log: { level: cfg.log.level, format: cfg.log.format },
    faultAfter: options.fault && options.fault.channel === ch.name ? options.fault.after : null,
  };
}

/** Plans of every channel, in config order. */
export function planAll(cfg: ChanrelayConfig, options: PlanOptions = {}): ChannelPlan[] {
  return Object.values(cfg.channels).map((ch) => planChannel(cfg, ch, options));
}
