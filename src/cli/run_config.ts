/**
 * The config of `chanrelay run`, from --config/$CHANRELAY_CONFIG or from the one-channel flags.
 * It imports the YAML parser and the schema library, so the daemon runs it in a child process
 * (`config_child.ts`) and never loads them itself.
 */
import { bool, parseFlags, str } from "./flags.ts";
import { UsageError } from "./usage.ts";
import { loadConfigFile, resolveConfigPath, validateConfigObject } from "../config/load.ts";
import type { ChanrelayConfig } from "../config/schema.ts";

const SPEC = {
  config: { type: "string" },
  listen: { type: "string" },
  source: { type: "string" },
  interface: { type: "string" },
  relay: { type: "string", multiple: true },
  ttl: { type: "string" },
  rcvbuf: { type: "string" },
  name: { type: "string" },
  "record-dir": { type: "string" },
  "decimate-to": { type: "string" },
  decimate: { type: "string" },
  "keep-going": { type: "boolean" },
  "stats-interval": { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  metrics: { type: "string" },
  rotate: { type: "boolean" },
} as const;

const CHANNEL_FLAGS = [
  "listen",
  "source",
  "interface",
  "relay",
  "ttl",
  "rcvbuf",
  "name",
  "record-dir",
  "decimate-to",
  "decimate",
];

/** Builds the config object described by the one-channel flags. */
function objectFromFlags(f: ReturnType<typeof parseFlags>): Record<string, unknown> {
  const name = str(f, "name") ?? "main";
  const relays = ((f.values.relay as string[] | undefined) ?? []).flatMap((r) => r.split(",")).map((
    s,
  ) => s.trim()).filter((s) => s !== "");
  const ttlText = str(f, "ttl");
  const ttl = ttlText === undefined
    ? undefined
    : /^[0-9]+$/.test(ttlText)
    ? Number(ttlText)
    : ttlText;
  const ch: Record<string, unknown> = {
    listen: str(f, "listen"),
    relay: relays.map((to) => (ttl === undefined ? { to } : { to, ttl })),
  };
  if (str(f, "source") !== undefined) ch.source = str(f, "source");
  if (str(f, "interface") !== undefined) ch.interface = str(f, "interface");
  if (str(f, "rcvbuf") !== undefined) ch.rcvbuf = str(f, "rcvbuf");
  const obj: Record<string, unknown> = { channels: { [name]: ch } };
  const rec = str(f, "record-dir");
  if (rec !== undefined) {
    obj.data_dir = rec;
    ch.record = {};
  }
  const decTo = str(f, "decimate-to");
  const dec = str(f, "decimate");
  if (decTo !== undefined || dec !== undefined) {
    const [mode, arg] = (dec ?? "packet:10").split(":");
    const d: Record<string, unknown> = { to: decTo, mode };
    if (mode === "rate") d.max_rate = arg === undefined ? arg : Number(arg);
    else d.factor = arg === undefined ? arg : Number(arg);
    ch.decimate = d;
  }
  return obj;
}

/** Maps a key path of the flags' config object back to the flag that set it. */
function flagFor(path: readonly (string | number)[]): string {
  const key = path.filter((p) => typeof p === "string").at(-1);
  switch (key) {
    case "to":
      return path.includes("decimate") ? "--decimate-to" : "--relay";
    case "relay":
      return "--relay";
    case "ttl":
      return "--ttl";
    case "data_dir":
      return "--record-dir";
    case "channels":
      return "--name";
    case "mode":
    case "factor":
    case "max_rate":
      return "--decimate";
    default:
      return typeof key === "string" ? `--${key.replaceAll("_", "-")}` : "--listen";
  }
}

/** What `run` gets from its flags. */
export interface RunConfig {
  config: ChanrelayConfig;
  keepGoing: boolean;
  rotateOnHup: boolean;
  /** The config file, or null when the channel came from flags. */
  source: string | null;
}

/** Loads the config from --config/$CHANRELAY_CONFIG or from the one-channel flags; flags win. */
export function configFromFlags(args: string[]): RunConfig {
  const f = parseFlags("run", args, SPEC);
  const usedChannelFlags = CHANNEL_FLAGS.filter((k) => f.values[k] !== undefined);
  const path = usedChannelFlags.length > 0 ? str(f, "config") : resolveConfigPath(str(f, "config"));
  let config: ChanrelayConfig;
  if (path !== undefined) {
    if (usedChannelFlags.length > 0) {
      throw new UsageError(
        "run",
        `--${
          usedChannelFlags[0]
        } cannot be combined with --config: put the channel in the config file`,
      );
    }
    config = loadConfigFile(path);
  } else {
    if (str(f, "listen") === undefined) {
      throw new UsageError(
        "run",
        "Give --config FILE (or set CHANRELAY_CONFIG), or --listen and --relay for one channel",
      );
    }
    if (f.values.relay === undefined) {
      throw new UsageError("run", "--relay is required with --listen");
    }
    config = validateConfigObject(objectFromFlags(f), { kind: "flags", flagFor });
  }
  const level = str(f, "log-level");
  if (level !== undefined) {
    if (!["debug", "info", "warn", "error"].includes(level)) {
      throw new UsageError(
        "run",
        `--log-level: Cannot parse "${level}": expected debug, info, warn or error`,
      );
    }
    config.log.level = level as ChanrelayConfig["log"]["level"];
  }
  const format = str(f, "log-format");
  if (format !== undefined) {
    if (format !== "text" && format !== "json") {
      throw new UsageError("run", `--log-format: Cannot parse "${format}": expected text or json`);
    }
    config.log.format = format;
  }
  const si = str(f, "stats-interval");
  const metrics = str(f, "metrics");
  if (si !== undefined || metrics !== undefined) {
    // re-validate the overrides through the schema so they get the same parsing and messages
    const o = validateConfigObject(
      {
        channels: { x: { listen: "127.0.0.1:1", relay: [{ to: "127.0.0.1:2" }] } },
        ...(si !== undefined ? { stats_interval: si } : {}),
        ...(metrics !== undefined ? { metrics } : {}),
      },
      { kind: "flags", flagFor: (p) => `--${String(p.at(-1) ?? "").replaceAll("_", "-")}` },
    );
    if (si !== undefined) config.stats_interval = o.stats_interval;
    if (metrics !== undefined) config.metrics = o.metrics;
  }
  return {
    config,
    keepGoing: bool(f, "keep-going"),
    rotateOnHup: bool(f, "rotate"),
    source: path ?? null,
  };
}
