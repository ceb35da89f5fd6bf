/** Turns validated config into the plans the channel Workers run. */
import { isMulticast } from "../../ffi/inet.ts";
import type {
  ChannelConfig,
  ChanrelayConfig,
  DecimateConfig,
  RecordConfig,
} from "../config/schema.ts";
import type { RecorderOptions } from "../recorder/options.ts";
import type { DecimateOptions } from "../decimate/options.ts";
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
    record: ch.record && ch.record.enabled ? recorderOptions(ch.name, ch.record) : null,
    decimate: ch.decimate ? decimateOptions(ch.decimate) : null,
    faultAfter: options.fault && options.fault.channel === ch.name ? options.fault.after : null,
  };
}

/** Plans of every channel, in config order. */
export function planAll(cfg: ChanrelayConfig, options: PlanOptions = {}): ChannelPlan[] {
  return Object.values(cfg.channels).map((ch) => planChannel(cfg, ch, options));
}

/** The recorder's options for a channel's `record` block. */
export function recorderOptions(channel: string, r: RecordConfig): RecorderOptions {
  return {
    dir: r.path,
    channel,
    template: r.template,
    blockSize: r.block_size,
    blockInterval: r.block_interval,
    msyncEvery: r.msync_every,
    fsyncInterval: r.fsync_interval,
    rotateSize: r.rotate_size,
    rotateEvery: r.rotate_every ?? 0,
    keepFiles: r.keep_files ?? 0,
    keepSize: r.keep_size ?? 0,
    keepAge: r.keep_age ?? 0,
    preallocChunk: r.prealloc_chunk,
  };
}

/** The decimator's options for a channel's `decimate` block. */
export function decimateOptions(d: DecimateConfig): DecimateOptions {
  const o: DecimateOptions = { to: d.to.text, ttl: d.ttl, loop: d.loop, mode: d.mode };
  if (d.interface) o.interface = d.interface.text;
  switch (d.mode) {
    case "packet":
      o.factor = d.factor;
      break;
    case "rate":
      o.max_rate = d.max_rate;
      break;
    case "samples": {
      o.factor = d.factor;
      const s = d.samples;
      o.samples = {
        format: s.format,
        channels: s.channels,
        header_bytes: s.header_bytes,
        cutoff: s.cutoff,
        max_datagram: s.max_datagram,
        ...(s.seq ? { seq: { offset: s.seq.offset, type: s.seq.type } } : {}),
      };
      break;
    }
  }
  return o;
}
