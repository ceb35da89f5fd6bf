/**
 * `chanrelay demo`: several channels on loopback fed by built-in traffic sources, relaying to
 * built-in sinks, with a line of numbers per channel every second and a summary on Ctrl-C.
 * Needs no root and no set-up.
 */
import type { Command } from "./command.ts";
import { num, parseFlags, str } from "./flags.ts";
import { UsageError } from "./usage.ts";
import { validateConfigObject } from "../config/load.ts";
import { Daemon } from "../channel/daemon.ts";
import type { ChannelSnapshot } from "../channel/stats.ts";
import type { DemoSource, DemoTrafficMessage } from "./demo_traffic_worker.ts";

const HELP = `Usage: chanrelay demo [options]

Runs chanrelay on a built-in demo: three channels on 127.0.0.1, each fed by a built-in traffic
source and relaying to built-in receivers. Prints each channel's numbers every second and a
summary when stopped (Ctrl-C). Needs no root and no set-up.

Options:
  --duration S      Stop by itself after S seconds (default: run until Ctrl-C)
  --data-dir DIR    Where recordings go (default ./data)
  --base-port N     First UDP port used (default 47000; the demo uses N..N+2, N+100..N+103, N+200)
  --metrics ADDR    Status page and metrics HOST:PORT (default 127.0.0.1:9464; "" disables)
  --quiet           Print only the summary`;

const SPEC = {
  duration: { type: "string" },
  "data-dir": { type: "string" },
  "base-port": { type: "string" },
  metrics: { type: "string" },
  quiet: { type: "boolean" },
} as const;

interface DemoChannel {
  name: string;
  source: DemoSource;
  sinks: number[];
}

function fmtRate(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n));
}

async function run(args: string[]): Promise<number> {
  const f = parseFlags("demo", args, SPEC);
  const duration = num("demo", f, "duration", { float: true, min: 0 });
  const base = num("demo", f, "base-port", { min: 1024, max: 65000 }) ?? 47000;
  const dataDir = str(f, "data-dir") ?? "./data";
  const metrics = str(f, "metrics") ?? "127.0.0.1:9464";
  const quiet = f.values.quiet === true;
  if (duration === 0) throw new UsageError("demo", `--duration: "0" is below the minimum 0.001`);

  const channels: DemoChannel[] = [
    {
      name: "adc0",
      source: { port: base, rate: 5000, size: 256 },
      sinks: [base + 100, base + 101],
    },
    { name: "adc1", source: { port: base + 1, rate: 2000, size: 1024 }, sinks: [base + 102] },
    { name: "gps", source: { port: base + 2, rate: 10, size: 64 }, sinks: [base + 103] },
  ];
  const config = validateConfigObject({
    data_dir: dataDir,
    metrics,
    stats_interval: "10s",
    log: { level: "warn" },
    channels: Object.fromEntries(channels.map((c) => [c.name, {
      listen: `127.0.0.1:${c.source.port}`,
      rcvbuf: "4MiB",
      relay: c.sinks.map((p) => ({ to: `127.0.0.1:${p}` })),
      record: { rotate_every: "1m", rotate_size: "64MiB", prealloc_chunk: "4MiB", keep_files: 10 },
      ...(c.name === "adc0"
        ? { decimate: { to: `127.0.0.1:${base + 200}`, mode: "packet", factor: 100 } }
        : {}),
    }])),
  }, { kind: "object", name: "demo config" });

  // every channel's destinations, plus one receiver for adc0's decimated stream
  const sinkCount = channels.reduce((a, c) => a + c.sinks.length, 0) + 1;
  const counters = new Float64Array(new SharedArrayBuffer(8 * 3 * (channels.length + sinkCount)));
  const control = new Int32Array(new SharedArrayBuffer(4));
  let traffic: Worker | null = null;
  let trafficDone: Promise<void> = Promise.resolve();
  let ticker: ReturnType<typeof setInterval> | null = null;
  const startedAt = performance.now();
  let prev: ChannelSnapshot[] = [];

  const sinkSlot = (ch: number, k: number) =>
    3 * (channels.length + channels.slice(0, ch).reduce((a, c) => a + c.sinks.length, 0) + k);

  const tick = (d: Daemon) => {
    const snaps = d.snapshots();
    const t = ((performance.now() - startedAt) / 1000).toFixed(0).padStart(4);
    const parts = snaps.map((s) => {
      const p = prev.find((x) => x.name === s.name);
      const dt = p ? (s.atMs - p.atMs) / 1000 : 0;
      const pps = p && dt > 0 ? (s.received - p.received) / dt : 0;
      const i = channels.findIndex((c) => c.name === s.name);
      const lost = channels[i]!.sinks.reduce((a, _, k) => a + counters[sinkSlot(i, k) + 2]!, 0);
      const extra = (s.kernelDrops > 0 ? ` kdrops ${s.kernelDrops}` : "") +
        (s.decimatedOut > 0 ? ` dec ${s.decimatedOut}` : "");
      return `${s.name} ${fmtRate(pps).padStart(5)} pps rx ${String(s.received).padStart(7)} ` +
        `rec ${String(s.recorded).padStart(7)} lost ${lost}${extra}`;
    });
    prev = snaps;
    console.log(`${t}s  ${parts.join("  |  ")}`);
  };

  let finalSnaps: ChannelSnapshot[] = [];
  const daemon = new Daemon(config, {
    configPath: null,
    keepGoing: false,
    rotateOnHup: false,
    ...(duration !== undefined ? { stopAfterMs: duration * 1000 } : {}),
    onReady: (d) => {
      console.log(
        `chanrelay demo: ${channels.length} channels on 127.0.0.1 (${
          channels.map((c) => `${c.name} ${c.source.rate} pps of ${c.source.size} B`).join(", ")
        }), recording into ${dataDir}; adc0 also decimated 1:100 to 127.0.0.1:${base + 200}.`,
      );
      console.log(
        d.metricsUrl !== null
          ? `Status page: ${d.metricsUrl}  (Prometheus: ${d.metricsUrl}metrics). Ctrl-C stops.`
          : "Ctrl-C stops.",
      );
      traffic = new Worker(new URL("./demo_traffic_worker.ts", import.meta.url), {
        type: "module",
        name: "demo-traffic",
      });
      const done = Promise.withResolvers<void>();
      trafficDone = done.promise;
      traffic.onmessage = () => done.resolve();
      traffic.onerror = (e) => {
        e.preventDefault();
        console.error(`demo traffic failed: ${e.message}`);
        done.resolve();
      };
      const msg: DemoTrafficMessage = {
        type: "start",
        sources: channels.map((c) => c.source),
        sinks: [...channels.flatMap((c) => c.sinks), base + 200],
        counters: counters.buffer as SharedArrayBuffer,
        control: control.buffer as SharedArrayBuffer,
      };
      traffic.postMessage(msg);
      if (!quiet) ticker = setInterval(() => tick(d), 1000);
    },
    onStopping: async () => {
      if (ticker !== null) clearInterval(ticker);
      // stop the sources first, give the relay a moment to pass the last datagrams on
      Atomics.store(control, 0, 1);
      await Promise.race([trafficDone, new Promise((r) => setTimeout(r, 500))]);
      traffic?.terminate();
    },
    onStopped: (d) => {
      finalSnaps = d.snapshots();
    },
  });
  const code = await daemon.run();
  const seconds = (performance.now() - startedAt) / 1000;
  console.log(`\nSummary after ${seconds.toFixed(1)} s:`);
  channels.forEach((c, i) => {
    const sent = counters[3 * i]!;
    const delivered = c.sinks.map((_, k) => counters[sinkSlot(i, k) + 1]!);
    const lost = c.sinks.reduce((a, _, k) => a + counters[sinkSlot(i, k) + 2]!, 0);
    const s = finalSnaps.find((x) => x.name === c.name);
    const more = s
      ? `, kernel drops ${s.kernelDrops}, recorded ${s.recorded} in ${s.recordFiles} file(s)` +
        (s.decimatedOut > 0 ? `, decimated ${s.decimatedOut}` : "")
      : "";
    console.log(
      `  ${c.name.padEnd(5)} sent ${sent}, relayed to ${c.sinks.length} destination(s), delivered ${
        delivered.join(" / ")
      }, lost ${lost}${more}`,
    );
  });
  console.log(`Recordings: ${dataDir}/<channel>/ (read them with "chanrelay inspect FILE")`);
  return code;
}

/** The `demo` command. */
export const command: Command = {
  name: "demo",
  summary: "Run the built-in demo on loopback",
  help: HELP,
  run,
};
