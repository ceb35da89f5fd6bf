/**
 * Rendering of chanrelay's counters in the Prometheus text exposition format 0.0.4: one `# HELP`
 * and `# TYPE` per family, counters named `…_total`, label values escaped (`\\`, `\"`, `\n`).
 * Pure: the server passes in everything it shows.
 */
import type { ChannelSnapshot } from "../channel/stats.ts";

/** The Content-Type of the format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Disk use of one channel's recording directory. */
export interface DiskUsage {
  /** The channel that records there. */
  readonly channel: string;
  /** The directory. */
  readonly path: string;
  /** Bytes of the files in it. */
  readonly usedBytes: number;
  /** Bytes free for unprivileged users on its file system, or null when unknown. */
  readonly availableBytes: number | null;
}

/** Everything `/metrics` shows. */
export interface MetricsInput {
  readonly version: string;
  readonly channels: readonly ChannelSnapshot[];
  /** Resident set size of the process, bytes. */
  readonly rssBytes: number;
  /** Seconds since the process started. */
  readonly uptimeSeconds: number;
  /** Process start, seconds since the Unix epoch. */
  readonly startTimeSeconds: number;
  readonly disk?: readonly DiskUsage[];
}

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [Labels, number];

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Escapes HELP text: backslash and line feed. */
export function escapeHelp(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** A sample value as Go's ParseFloat reads it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

class Writer {
  readonly #out: string[] = [];

  family(
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: readonly Sample[],
  ): void {
    this.#out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      this.#out.push(`${name}${labelText(labels)} ${formatValue(value)}`);
    }
  }

  text(): string {
    return this.#out.join("\n") + "\n";
  }
}

/** Destination labels of a channel; a repeated destination gets "#2", "#3"… to stay distinct. */
function destinationLabels(ch: ChannelSnapshot): string[] {
  const seen = new Map<string, number>();
  return ch.destinations.map((d) => {
    const n = (seen.get(d.to) ?? 0) + 1;
    seen.set(d.to, n);
    return n === 1 ? d.to : `${d.to}#${n}`;
  });
}

const STATES: readonly ChannelSnapshot["state"][] = [
  "stopped",
  "starting",
  "running",
  "failed",
  "backoff",
];

/** Per-channel counters: [metric suffix, help, field]. */
const CHANNEL_COUNTERS: readonly [string, string, keyof ChannelSnapshot][] = [
  ["received_datagrams_total", "Datagrams received", "received"],
  ["received_bytes_total", "Payload bytes received", "receivedBytes"],
  ["truncated_datagrams_total", "Datagrams longer than max_datagram (cut)", "truncated"],
  ["kernel_drops_total", "Datagrams the kernel dropped: receive buffer full", "kernelDrops"],
  ["receive_errors_total", "Receive calls that failed", "receiveErrors"],
  ["ring_overruns_total", "Datagrams the decimator lost: its ring was full", "decimateOverruns"],
  ["recorded_records_total", "Records written to recording files", "recorded"],
  ["recorded_bytes_total", "Bytes written to recording files", "recordedBytes"],
  ["record_blocks_total", "Avro blocks committed", "recordBlocks"],
  ["record_files_total", "Recording files started", "recordFiles"],
  ["record_fsyncs_total", "fsync/msync calls of the recorder", "recordFsyncs"],
  ["record_errors_total", "Recorder errors", "recordErrors"],
  ["unrecorded_datagrams_total", "Datagrams not recorded because of errors", "unrecorded"],
  ["decimate_published_total", "Datagrams published to the decimator", "decimatePublished"],
  ["decimated_datagrams_total", "Decimated datagrams sent", "decimatedOut"],
  ["decimated_samples_total", "Decimated samples sent", "decimatedSamples"],
  ["decimate_resets_total", "Decimator state resets (gaps, bad datagrams)", "decimateResets"],
  [
    "decimate_send_errors_total",
    "Decimated datagrams that could not be sent",
    "decimateSendErrors",
  ],
  ["worker_restarts_total", "Times the channel Worker was restarted", "restarts"],
];

/** Renders the exposition text. Families and series come in a stable order. */
export function renderPrometheus(input: MetricsInput): string {
  const w = new Writer();
  const chans = input.channels;
  const per = (f: (c: ChannelSnapshot) => number): Sample[] =>
    chans.map((c) => [{ channel: c.name }, f(c)]);

  w.family("chanrelay_build_info", "gauge", "Always 1; the version is a label", [
    [{ version: input.version }, 1],
  ]);
  w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes", [
    [{}, input.rssBytes],
  ]);
  w.family(
    "process_start_time_seconds",
    "gauge",
    "Start time of the process since unix epoch in seconds",
    [[{}, input.startTimeSeconds]],
  );
  w.family("chanrelay_uptime_seconds", "gauge", "Seconds since chanrelay started", [
    [{}, input.uptimeSeconds],
  ]);
  w.family(
    "chanrelay_channel_up",
    "gauge",
    "1 when the channel's Worker is running",
    per((c) => (c.state === "running" ? 1 : 0)),
  );
  w.family(
    "chanrelay_channel_state",
    "gauge",
    "1 for the channel's current state",
    chans.flatMap((c) =>
      STATES.map((s): Sample => [{ channel: c.name, state: s }, c.state === s ? 1 : 0])
    ),
  );
  w.family(
    "chanrelay_receive_buffer_bytes",
    "gauge",
    "Effective receive buffer of the channel's socket",
    per((c) => c.rcvbufEffective),
  );
  for (const [suffix, help, field] of CHANNEL_COUNTERS) {
    w.family(`chanrelay_${suffix}`, "counter", help, per((c) => c[field] as number));
  }
  const perDest = (f: (d: ChannelSnapshot["destinations"][number]) => number): Sample[] =>
    chans.flatMap((c) => {
      const names = destinationLabels(c);
      return c.destinations.map((d, i): Sample => [
        { channel: c.name, destination: names[i]! },
        f(d),
      ]);
    });
  w.family(
    "chanrelay_relayed_datagrams_total",
    "counter",
    "Datagrams sent to a destination",
    perDest((d) => d.sent),
  );
  w.family(
    "chanrelay_relayed_bytes_total",
    "counter",
    "Bytes sent to a destination",
    perDest((d) => d.bytes),
  );
  w.family(
    "chanrelay_relay_errors_total",
    "counter",
    "Datagrams that could not be sent to a destination",
    perDest((d) => d.errors),
  );
  if (input.disk !== undefined && input.disk.length > 0) {
    const disk = input.disk;
    w.family(
      "chanrelay_record_dir_bytes",
      "gauge",
      "Bytes of the files in the channel's recording directory",
      disk.map((d): Sample => [{ channel: d.channel }, d.usedBytes]),
    );
    w.family(
      "chanrelay_record_dir_available_bytes",
      "gauge",
      "Free bytes on the file system of the channel's recording directory",
      disk.filter((d) => d.availableBytes !== null).map((d): Sample => [
        { channel: d.channel },
        d.availableBytes!,
      ]),
    );
  }
  return w.text();
}
