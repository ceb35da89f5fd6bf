/**
 * `deno task bench:memory`: the resident size of `chanrelay run` with idle relay-only channels
 * (issue 3's target: at most 100 MiB with 4), started as `deno task start` and the compiled binary
 * start it (the same V8 flags). Each start is measured `--settle` seconds after "ready", from
 * /proc/PID/status; prints every start and the median.
 *
 *   deno task bench:memory [--channels 4] [--starts 3] [--settle 6] [--metrics]
 *
 * `--metrics` also serves the metrics endpoint (off otherwise, as in `deno task bench`).
 */
import { parseArgs } from "node:util";

const ROOT = new URL("../../", import.meta.url).pathname;
const V8_FLAGS = "--v8-flags=--max-semi-space-size=1,--max-old-space-size=128"; // as the binary

const { values } = parseArgs({
  args: Deno.args,
  options: {
    channels: { type: "string", default: "4" },
    starts: { type: "string", default: "3" },
    settle: { type: "string", default: "6" },
    metrics: { type: "boolean", default: false },
  },
});
const channels = Number(values.channels);
const starts = Number(values.starts);
const settleMs = Number(values.settle) * 1000;
if (Deno.build.os !== "linux") {
  console.log("bench:memory reads /proc: Linux only.");
  Deno.exit(0);
}

const dir = Deno.makeTempDirSync({ prefix: "chanrelay-mem-" });
const lines = [`data_dir: ${dir}/data`, `metrics: ${values.metrics ? "127.0.0.1:0" : '""'}`];
lines.push("channels:");
for (let i = 0; i < channels; i++) {
  lines.push(`  ch${i}: { listen: 127.0.0.1:0, relay: [ { to: 127.0.0.1:${40000 + i} } ] }`);
}
const config = `${dir}/idle.yaml`;
Deno.writeTextFileSync(config, lines.join("\n") + "\n");

function status(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")) {
    const m = /^(VmRSS|RssAnon|RssFile|RssShmem):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) / 1024;
  }
  return out;
}

async function once(): Promise<Record<string, number>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--frozen", "-A", V8_FLAGS, `${ROOT}main.ts`, "run", "--config", config],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/msg=ready/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`chanrelay run ended before ready:\n${seen}`);
    seen += value;
  }
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  await new Promise((r) => setTimeout(r, settleMs));
  const s = status(child.pid);
  child.kill("SIGTERM");
  await child.status;
  return s;
}

const rows: Record<string, number>[] = [];
for (let i = 0; i < starts; i++) {
  const s = await once();
  rows.push(s);
  console.log(
    `start ${i + 1}: VmRSS ${s.VmRSS!.toFixed(1)} MiB (anonymous ${s.RssAnon!.toFixed(1)}, file ${
      s.RssFile!.toFixed(1)
    })`,
  );
}
const rss = rows.map((r) => r.VmRSS!).sort((a, b) => a - b);
const median = rss[Math.floor(rss.length / 2)]!;
console.log(
  `chanrelay run, ${channels} idle relay-only channels${
    values.metrics ? " and the metrics endpoint" : ""
  }, ${settleMs / 1000} s after ready: median VmRSS ${median.toFixed(1)} MiB of ${starts} starts`,
);
Deno.removeSync(dir, { recursive: true });
