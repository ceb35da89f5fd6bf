/** `chanrelay run`: relays (and records, and decimates) the configured channels until stopped. */
import type { Command } from "./command.ts";
import { loadInChild } from "./config_child.ts";
import { Daemon } from "../channel/daemon.ts";

const HELP = `Usage: chanrelay run [--config FILE] [options]
       chanrelay run --listen HOST:PORT|GROUP:PORT --relay HOST:PORT[,HOST:PORT…] [options]

Relays every datagram of each configured channel to its destinations (and records and decimates
it where configured) until SIGINT or SIGTERM. Reports "ready" once every channel is bound and
joined.

Config:
  --config FILE          YAML config (default: $CHANRELAY_CONFIG)

One quick channel from flags (instead of --config):
  --listen ADDR          HOST:PORT binds unicast; GROUP:PORT joins a multicast group
  --source IP            Source-specific join (with a GROUP:PORT listen address)
  --interface ADDR       Interface address for the join and the sends
  --relay LIST           Destinations, comma-separated HOST:PORT (at least one)
  --ttl N                Multicast TTL of the relayed datagrams (default 1)
  --rcvbuf SIZE          Receive buffer, e.g. 8MiB (default 8MiB)
  --name NAME            Channel name (default "main")
  --record-dir DIR       Record into DIR/NAME (Avro files)

Either way:
  --keep-going           Run the channels that start even if some cannot bind (else exit 78)
  --stats-interval DUR   Stats line period, e.g. 10s
  --log-level LEVEL      debug | info | warn | error
  --log-format FORMAT    text (logfmt) | json
  --metrics ADDR         Metrics/status server HOST:PORT ("" disables)

Exit codes: 0 stopped by a signal, 64 bad flags, 78 bad config or a channel cannot start.`;

async function run(args: string[]): Promise<number> {
  const { config, keepGoing, rotateOnHup, source } = await loadInChild({ kind: "run", args });
  const fault = Deno.env.get("CHANRELAY_TEST_FAULT"); // "channel:after" (tests only)
  const [fc, fa] = fault?.split(":") ?? [];
  const daemon = new Daemon(config, {
    configPath: source,
    keepGoing,
    rotateOnHup,
    planOptions: { fault: fc && fa ? { channel: fc, after: Number(fa) } : null },
  });
  return await daemon.run();
}

/** The `run` command. */
export const command: Command = {
  name: "run",
  summary: "Relay the configured channels",
  help: HELP,
  run,
};
