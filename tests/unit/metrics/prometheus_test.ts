import assert from "node:assert/strict";
import type { ChannelSnapshot } from "../../../src/channel/stats.ts";
import {
  escapeLabelValue,
  formatValue,
  type MetricsInput,
  renderPrometheus,
} from "../../../src/metrics/prometheus.ts";
import { parsePrometheusText, sampleValue } from "../../helpers/prometheus_text.ts";
import { canRun } from "../../helpers/env.ts";

function channel(name: string, n: number, over: Partial<ChannelSnapshot> = {}): ChannelSnapshot {
  return {
    name,
    atMs: 1_700_000_000_000,
    state: "running",
    received: 1000 * n,
    receivedBytes: 64_000 * n,
    truncated: 1 * n,
    kernelDrops: 2 * n,
    receiveErrors: 3 * n,
    relayed: 2000 * n,
    relayErrors: 4 * n,
    restarts: 5 * n,
    recorded: 6 * n,
    recordedBytes: 7 * n,
    recordBlocks: 8 * n,
    recordFiles: 9 * n,
    recordFsyncs: 10 * n,
    recordErrors: 11 * n,
    unrecorded: 12 * n,
    committedSeq: -1,
    nextSeq: 0,
    currentFile: "",
    decimatePublished: 13 * n,
    decimateOverruns: 14 * n,
    decimatedOut: 15 * n,
    decimatedSamples: 16 * n,
    decimateResets: 17 * n,
    decimateSendErrors: 18 * n,
    rcvbufEffective: 4 << 20,
    destinations: [
      { to: "127.0.0.1:6000", sent: 1000 * n, bytes: 64_000 * n, errors: 0, lastError: "" },
      { to: "239.1.1.1:6000", sent: 1000 * n - 4 * n, bytes: 1, errors: 4 * n, lastError: "" },
    ],
    ...over,
  };
}

const INPUT: MetricsInput = {
  version: '0.1.0-"dev"\\x',
  channels: [channel("adc0", 1), channel("adc-1", 2, { state: "backoff" })],
  rssBytes: 52_428_800,
  uptimeSeconds: 12.5,
  startTimeSeconds: 1_700_000_000,
  disk: [{ channel: "adc0", path: "/data/adc0", usedBytes: 1234, availableBytes: 5678 }],
};

Deno.test("prometheus text parses strictly: HELP and TYPE once per family, no duplicate series", () => {
  const text = renderPrometheus(INPUT);
  const fams = parsePrometheusText(text);
  for (const [name, f] of fams) {
    assert.ok(f.help !== null && f.help.length > 0, `${name} has HELP`);
    assert.ok(f.type === "counter" || f.type === "gauge", `${name} has a TYPE`);
    if (f.type === "counter") assert.match(name, /_total$/, `counter ${name} ends in _total`);
    else assert.doesNotMatch(name, /_total$/, `gauge ${name} does not end in _total`);
    assert.ok(name.startsWith("chanrelay_") || name.startsWith("process_"), name);
  }
  // every line is HELP, TYPE or a sample; no blank lines
  for (const line of text.trimEnd().split("\n")) {
    assert.match(line, /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{.*\})? [0-9.e+-]+)$/, line);
  }
});

Deno.test("prometheus text carries each channel's counters under a channel label", () => {
  const f = parsePrometheusText(renderPrometheus(INPUT));
  const v = (name: string, labels: Record<string, string>) => sampleValue(f, name, labels);
  for (const [ch, n] of [["adc0", 1], ["adc-1", 2]] as const) {
    const l = { channel: ch };
    assert.equal(v("chanrelay_received_datagrams_total", l), 1000 * n);
    assert.equal(v("chanrelay_received_bytes_total", l), 64_000 * n);
    assert.equal(v("chanrelay_truncated_datagrams_total", l), 1 * n);
    assert.equal(v("chanrelay_kernel_drops_total", l), 2 * n);
    assert.equal(v("chanrelay_receive_errors_total", l), 3 * n);
    assert.equal(v("chanrelay_worker_restarts_total", l), 5 * n);
    assert.equal(v("chanrelay_recorded_records_total", l), 6 * n);
    assert.equal(v("chanrelay_recorded_bytes_total", l), 7 * n);
    assert.equal(v("chanrelay_record_files_total", l), 9 * n);
    assert.equal(v("chanrelay_record_fsyncs_total", l), 10 * n);
    assert.equal(v("chanrelay_record_errors_total", l), 11 * n);
    assert.equal(v("chanrelay_unrecorded_datagrams_total", l), 12 * n);
    assert.equal(v("chanrelay_ring_overruns_total", l), 14 * n);
    assert.equal(v("chanrelay_decimated_datagrams_total", l), 15 * n);
    assert.equal(v("chanrelay_decimated_samples_total", l), 16 * n);
    assert.equal(v("chanrelay_receive_buffer_bytes", l), 4 << 20);
    assert.equal(
      v("chanrelay_relayed_datagrams_total", { ...l, destination: "127.0.0.1:6000" }),
      1000 * n,
    );
    assert.equal(v("chanrelay_relay_errors_total", { ...l, destination: "239.1.1.1:6000" }), 4 * n);
  }
  assert.equal(v("chanrelay_channel_up", { channel: "adc0" }), 1);
  assert.equal(v("chanrelay_channel_up", { channel: "adc-1" }), 0);
  assert.equal(v("chanrelay_channel_state", { channel: "adc-1", state: "backoff" }), 1);
  assert.equal(v("chanrelay_channel_state", { channel: "adc-1", state: "running" }), 0);
  assert.equal(v("process_resident_memory_bytes", {}), 52_428_800);
  assert.equal(v("chanrelay_uptime_seconds", {}), 12.5);
  assert.equal(v("process_start_time_seconds", {}), 1_700_000_000);
  assert.equal(v("chanrelay_build_info", { version: '0.1.0-"dev"\\x' }), 1, "escaped version");
  assert.equal(v("chanrelay_record_dir_bytes", { channel: "adc0" }), 1234);
  assert.equal(v("chanrelay_record_dir_available_bytes", { channel: "adc0" }), 5678);
});

Deno.test("label values escape backslash, double quote and line feed", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = renderPrometheus({
    ...INPUT,
    channels: [channel("x", 1, {
      destinations: [{ to: 'we"ird\\\n', sent: 7, bytes: 1, errors: 0, lastError: "" }],
    })],
  });
  assert.ok(text.includes('destination="we\\"ird\\\\\\n"'), text);
  const f = parsePrometheusText(text);
  assert.equal(
    sampleValue(f, "chanrelay_relayed_datagrams_total", { destination: 'we"ird\\\n' }),
    7,
  );
});

Deno.test("a destination listed twice in one channel stays two distinct series", () => {
  const d = { to: "127.0.0.1:6000", sent: 1, bytes: 1, errors: 0, lastError: "" };
  const f = parsePrometheusText(renderPrometheus({
    ...INPUT,
    channels: [channel("x", 1, { destinations: [d, { ...d, sent: 2 }] })],
  }));
  const v = (to: string) =>
    sampleValue(f, "chanrelay_relayed_datagrams_total", { channel: "x", destination: to });
  assert.equal(v("127.0.0.1:6000"), 1);
  assert.equal(v("127.0.0.1:6000#2"), 2);
});

Deno.test("no channels and no disk still render valid text with the process families", () => {
  const f = parsePrometheusText(renderPrometheus({
    version: "1",
    channels: [],
    rssBytes: 1,
    uptimeSeconds: 0,
    startTimeSeconds: 0,
  }));
  assert.equal(sampleValue(f, "chanrelay_build_info", { version: "1" }), 1);
  assert.equal(f.get("chanrelay_received_datagrams_total")?.samples.length, 0);
  assert.ok(!f.has("chanrelay_record_dir_bytes"));
});

Deno.test("values are written as Go's ParseFloat reads them", () => {
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(2 ** 53), "9007199254740992");
  assert.equal(formatValue(1e21), "1e+21");
  assert.equal(formatValue(0.5), "0.5");
});

Deno.test("the strict parser rejects what the format forbids", () => {
  const bad: [string, RegExp][] = [
    ["a 1", /end with a line feed/],
    ["# TYPE a counter\n# TYPE a counter\na 1\n", /second TYPE/],
    ["# HELP a x\n# HELP a y\n", /second HELP/],
    ["a 1\n# TYPE a counter\n", /TYPE after samples/],
    ['a 1\nb 1\na{x="1"} 2\n', /split in two/],
    ["a 1\na 2\n", /duplicate series/],
    ['a{x="1",x="2"} 1\n', /label "x" twice/],
    ['a{x="\\t"} 1\n', /bad escape/],
    ['a{__x="1"} 1\n', /bad label/],
    ["a{x=1} 1\n", /bad label/],
    ["1a 1\n", /bad metric name/],
    ["a one\n", /bad value/],
    ["a  1\n", /value/],
  ];
  for (const [text, re] of bad) assert.throws(() => parsePrometheusText(text), re, text);
  // and accepts the forms it allows
  const f = parsePrometheusText('# a comment\na{y="1",x="2"} +Inf 123\na{x="2",y="2"} NaN\n');
  assert.equal(f.get("a")?.samples.length, 2);
});

function hasPromClient(): boolean {
  try {
    return new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import prometheus_client.parser"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test("the official Python client's parser reads the same families and values", async () => {
  const what = "prometheus_client parse";
  if (!canRun(what, hasPromClient(), "Debian python3-prometheus-client")) return;
  const text = renderPrometheus(INPUT);
  const child = new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      `import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append([f.name, f.type, s.name, s.labels, s.value])
print(json.dumps(out))`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const theirs: [string, string, string, Record<string, string>, number][] = JSON.parse(
    new TextDecoder().decode(out.stdout),
  );
  const ours = [...parsePrometheusText(text).values()].flatMap((f) => f.samples);
  assert.equal(theirs.length, ours.length);
  theirs.forEach(([, type, name, labels, value], i) => {
    assert.equal(name, ours[i]!.name);
    assert.deepEqual(labels, ours[i]!.labels);
    assert.equal(value, ours[i]!.value);
    assert.ok(type === "counter" || type === "gauge", type);
  });
});
