/**
 * A channel's resolved settings as the Worker receives them: plain, structured-clonable data
 * derived from the validated config.
 */
import type { LogFormat, LogLevel } from "../log.ts";
import type { RecorderOptions } from "../recorder/options.ts";
import type { DecimateOptions } from "../decimate/options.ts";

/** One relay destination. */
export interface DestinationPlan {
  /** As written in the config, e.g. "239.10.0.1:6000". */
  readonly text: string;
  readonly ip: number;
  readonly port: number;
  readonly multicast: boolean;
  /** TTL to set, or null to keep the system default (unicast without an explicit ttl). */
  readonly ttl: number | null;
  readonly loop: boolean;
  /** Interface address (host-order IPv4) for multicast sends / unicast source binding, 0 for default. */
  readonly iface: number;
}

/** A channel, ready to run. */
export interface ChannelPlan {
  readonly name: string;
  /** As written, e.g. "239.1.1.1:5000". */
  readonly listenText: string;
  readonly listenIp: number;
  readonly listenPort: number;
  /** True when listen is a multicast group (then it is joined). */
  readonly multicast: boolean;
  /** Source-specific join source (host-order IPv4), or null for any-source. */
  readonly source: number | null;
  /** Interface address for the join (and default for sends), 0 for the kernel's choice. */
  readonly iface: number;
  /** Receive buffer to ask for, bytes. */
  readonly rcvbuf: number;
  /** Largest datagram kept whole; longer ones are truncated and counted. */
  readonly maxDatagram: number;
  /** Datagrams per receive batch. */
  readonly batch: number;
  readonly relay: readonly DestinationPlan[];
  /** Logging settings for the Worker. */
  readonly log: { level: LogLevel; format: LogFormat };
  /** Recording settings, or null when the channel does not record. */
  readonly record: RecorderOptions | null;
  /** Decimation settings (the decimator pool consumes them), or null. */
  readonly decimate: DecimateOptions | null;
  /** Test hook: the Worker throws after this many datagrams (first start only). */
  readonly faultAfter: number | null;
}
