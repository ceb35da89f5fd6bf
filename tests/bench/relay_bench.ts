/**
 * `deno task bench`: chanrelay against the C reference relay, in one run of the shared harness
 * (../shared/bench/run.sh, case `cand`), and the ratio table: max loss-free rate, relay CPU per
 * datagram, unpaced delivery, latency p50/p99.
 *
 *   deno task bench                          relay only: CASES="cref-norec cand", 64 B and 1400 B
 *   deno task bench --record                 recording on: CASES="cref cref-rnd cand", DUR=12
 *   deno task bench --decimate               recording on, chanrelay alone, for each size twice
 *                                            in a row: without, then with packet decimation
 *   deno task bench --write                  also replace the table in BENCHMARKS.md
 *   deno task bench --cases "…" --sizes "…"  other cases or sizes; other knobs via run.sh's env
 *   deno task bench --tag NAME               with --write: the BENCHMARKS.md block to replace
 *
 * RATES, REPS, LAT_RATE and SAT_REPS (default here 3: unpaced delivery is the median of three
 * runs per case) from the environment pass through to run.sh (and into the command shown).
 * Without ../shared/bench it says so and exits 0. Never run two benchmarks at once.
 */
import { parseArgs } from "node:util";
import { UdpSocket } from "../../ffi/udp_socket.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const HARNESS = `${ROOT}../shared/bench/run.sh`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    record: { type: "boolean" },
    decimate: { type: "boolean" },
    write: { type: "boolean" },
    cases: { type: "string" },
    sizes: { type: "string" },
    dur: { type: "string" },
    tag: { type: "string" },
  },
});

try {
  Deno.statSync(HARNESS);
} catch {
  console.log(
    `No benchmark harness at ${HARNESS}: nothing to compare against (this is not an error).`,
  );
  Deno.exit(0);
}

const decimate = values.decimate === true;
const record = values.record === true || decimate;
const cases = values.cases ??
  (decimate ? "cand" : record ? "cref cref-rnd cand" : "cref-norec cand");
const sizes = values.sizes ?? "64 1400";
const dur = values.dur ?? (record ? "12" : "3");
const relayFlags = `--rcvbuf 4MiB --stats-interval 1h --metrics ""${
  record ? " --record-dir {REC}" : ""
}`;
const V8_FLAGS = "--v8-flags=--max-semi-space-size=1,--max-old-space-size=128"; // as the binary
const work = Deno.makeTempDirSync({ prefix: "chanrelay-bench-" });
const PASS_THROUGH = ["RATES", "REPS", "LAT_RATE"];

type Row = Record<string, string>;
type Parsed = { kind: string; kv: Row }[];

/** One run of the harness with chanrelay run by `flags`; returns its summary rows and command. */
async function harness(
  flags: string,
  name: string,
  sizeList = sizes,
): Promise<{ rows: Parsed; command: string }> {
  const summary = `${work}/summary-${name}.txt`;
  const env: Record<string, string> = {
    CASES: cases,
    SIZES: sizeList,
    DUR: dur,
    CAND_CMD:
      `${Deno.execPath()} run -A --frozen ${V8_FLAGS} ${ROOT}main.ts run --listen 127.0.0.1:{IN} --relay {OUT} ${flags}`,
    SUMMARY: summary,
    SAT_EXTRA: Deno.env.get("SAT_EXTRA") ?? "",
    // the generator's own speed drifts by a third between minutes on this VM, and an unpaced run
    // measures it as much as the relay: the median of three per case
    SAT_REPS: Deno.env.get("SAT_REPS") ?? "3",
    AUTOGROUP_NICE: Deno.env.get("AUTOGROUP_NICE") ?? "-20",
    SOCKPERF: "0",
  };
  for (const k of PASS_THROUGH) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  const shownEnv: Record<string, string> = {
    ...env,
    CAND_CMD:
      `deno run -A --frozen ${V8_FLAGS} main.ts run --listen 127.0.0.1:{IN} --relay {OUT} ${flags}`,
  };
  const command = Object.entries(shownEnv).filter(([k]) => k !== "SUMMARY")
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ") + " ../shared/bench/run.sh";
  console.error(`# ${command}`);
  const proc = await new Deno.Command("bash", {
    args: [HARNESS],
    env,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!proc.success) {
    console.error(`run.sh failed (exit ${proc.code})`);
    Deno.exit(1);
  }
  const rows = Deno.readTextFileSync(summary).split("\n")
    .filter((l) => /^(MAXRATE|LATENCY|SATURATION) /.test(l))
    .map((l) => {
      const [kind, ...rest] = l.split(" ");
      return {
        kind: kind!,
        kv: Object.fromEntries(rest.map((p) => p.split("=") as [string, string])),
      };
    });
  return { rows, command };
}

const started = new Date();
// decimated datagrams go to a socket of this process that is never read: the kernel drops
// them once its buffer is full, as cheaply as a real consumer would take them
const decimateSink = decimate ? UdpSocket.create() : null;
decimateSink?.bind({ ip: 0x7f000001, port: 0 });
const decimateFlags = decimateSink === null
  ? ""
  : ` --decimate-to 127.0.0.1:${decimateSink.localAddress().port} --decimate packet:10`;
let main: { rows: Parsed; command: string };
let decimated: { rows: Parsed; command: string } | null = null;
if (!decimate) {
  main = await harness(relayFlags, "main");
} else {
  // size by size, off then on, so the two halves compared are minutes apart, not a whole run
  main = { rows: [], command: "" };
  decimated = { rows: [], command: "" };
  for (const size of sizes.split(/\s+/).filter((x) => x !== "")) {
    const off = await harness(relayFlags, `off-${size}`, size);
    const on = await harness(relayFlags + decimateFlags, `on-${size}`, size);
    main.rows.push(...off.rows);
    decimated.rows.push(...on.rows);
    main.command = off.command.replace(`SIZES="${size}"`, `SIZES="<each size>"`);
    decimated.command = on.command.replace(`SIZES="${size}"`, `SIZES="<each size>"`);
  }
}
decimateSink?.close();
const rows = main.rows;
const command = decimated === null
  ? main.command
  : `for each size of ${JSON.stringify(sizes)}: ${main.command}, then ${decimated.command}`;
const get = (kind: string, c: string, size: string, key: string, from = rows): number => {
  const r = from.find((x) => x.kind === kind && x.kv.case === c && x.kv.size === size);
  const v = Number(r?.kv[key]);
  return Number.isFinite(v) ? v : NaN;
};
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "–");
const ratio = (
  a: number,
  b: number,
) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : "–");

const caseList = cases.split(/\s+/).filter((c) => c !== "");
const refs = caseList.filter((c) => c !== "cand");
const lines: string[] = [];
lines.push(
  `| size | case | max loss-free pps | CPU µs/datagram | unpaced delivered pps | latency p50 / p99 µs | ratios vs ${
    refs.join(", ")
  } (rate, CPU, unpaced, p50, p99) |`,
);
lines.push("|---|---|---|---|---|---|---|");
for (const size of sizes.split(/\s+/).filter((s) => s !== "")) {
  for (const c of caseList) {
    const max = get("MAXRATE", c, size, "max_pps");
    const us = get("MAXRATE", c, size, "cpu_us_per_pkt");
    const sat = get("SATURATION", c, size, "sink_pps");
    const p50 = get("LATENCY", c, size, "p50_us");
    const p99 = get("LATENCY", c, size, "p99_us");
    let ratios = "";
    if (c === "cand") {
      ratios = refs.map((r) =>
        `vs ${r}: ${ratio(max, get("MAXRATE", r, size, "max_pps"))}, ${
          ratio(us, get("MAXRATE", r, size, "cpu_us_per_pkt"))
        }, ${ratio(sat, get("SATURATION", r, size, "sink_pps"))}, ${
          ratio(p50, get("LATENCY", r, size, "p50_us"))
        }, ${ratio(p99, get("LATENCY", r, size, "p99_us"))}`
      ).join("; ");
    }
    lines.push(
      `| ${size} | ${c === "cand" ? "chanrelay" : c} | ${fmt(max)} | ${fmt(us, 2)} | ${
        fmt(sat)
      } | ${fmt(p50)} / ${fmt(p99)} | ${ratios} |`,
    );
  }
}
if (decimated !== null) {
  // the question: how much max loss-free rate does packet decimation cost?
  lines.length = 0;
  lines.push(
    "| size | max loss-free pps, decimation off | on (packet, 1 in 10) | change | CPU µs/datagram off / on |",
  );
  lines.push("|---|---|---|---|---|");
  for (const size of sizes.split(/\s+/).filter((x) => x !== "")) {
    const off = get("MAXRATE", "cand", size, "max_pps");
    const on = get("MAXRATE", "cand", size, "max_pps", decimated.rows);
    const change = Number.isFinite(off) && Number.isFinite(on) && off > 0
      ? `${((on / off - 1) * 100).toFixed(1)} %`
      : "–";
    lines.push(
      `| ${size} | ${fmt(off)} | ${fmt(on)} | ${change} | ${
        fmt(get("MAXRATE", "cand", size, "cpu_us_per_pkt"), 2)
      } / ${fmt(get("MAXRATE", "cand", size, "cpu_us_per_pkt", decimated.rows), 2)} |`,
    );
  }
}
const table = lines.join("\n");
console.log(`\n${table}\n`);
console.log(`(${started.toISOString()}; raw summaries in ${work})`);

if (values.write) {
  const path = `${ROOT}BENCHMARKS.md`;
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    text = "# Benchmarks\n";
  }
  const tag = values.tag ?? (decimate ? "decimation" : record ? "recording" : "relay-only");
  const begin = `<!-- bench:${tag}:begin -->`;
  const end = `<!-- bench:${tag}:end -->`;
  const block =
    `${begin}\n${started.toISOString().slice(0, 16)}Z, \`deno task bench${
      decimate ? " --decimate" : record ? " --record" : ""
    }\` ` +
    `(equivalent to \`${command}\` with CAND_CMD running \`chanrelay run\`).\n\n${table}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  text = i >= 0 && j > i
    ? text.slice(0, i) + block + text.slice(j + end.length)
    : `${text.trimEnd()}\n\n${block}\n`;
  Deno.writeTextFileSync(path, text);
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "-q", path],
    stdout: "null",
    stderr: "null",
  })
    .output();
  console.log(`Updated ${path}`);
}
