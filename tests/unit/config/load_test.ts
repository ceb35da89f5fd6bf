import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { ConfigError, formatProblem } from "../../../src/config/errors.ts";
import {
  editDistance,
  loadConfigFile,
  loadConfigText,
  resolveConfigPath,
  suggest,
  validateConfigObject,
} from "../../../src/config/load.ts";
import { defaultDecimateWorkers } from "../../../src/config/schema.ts";
import { parseIPv4 } from "../../../ffi/inet.ts";

const GOOD = new URL("../../fixtures/config/good/", import.meta.url).pathname;

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === null) throw new Error(`bad test address ${text}`);
  return v;
}
function addr(text: string) {
  const i = text.lastIndexOf(":");
  const host = text.slice(0, i);
  return {
    ip: host === "localhost" ? ip("127.0.0.1") : ip(host === "*" ? "0.0.0.0" : host),
    port: Number(text.slice(i + 1)),
    text,
  };
}

Deno.test("a minimal config gets every default", () => {
  const c = loadConfigFile(GOOD + "minimal.yaml");
  deepEqual(c, {
    data_dir: "./data",
    metrics: addr("127.0.0.1:9464"),
    stats_interval: 10_000,
    log: { level: "info", format: "text" },
    decimate_workers: Math.max(1, navigator.hardwareConcurrency - 1),
    channels: {
      in: {
        name: "in",
        listen: addr("239.1.1.1:5000"),
        rcvbuf: 8 * 1024 * 1024,
        max_datagram: 65535,
        relay: [{ to: addr("127.0.0.1:7000"), loop: false }],
      },
    },
  });
  equal(defaultDecimateWorkers(), c.decimate_workers);
});

Deno.test("an empty record block records with the default settings into data_dir/NAME", () => {
  const c = loadConfigFile(GOOD + "minimal_record.yaml");
  equal(c.metrics, null);
  const ch = c.channels["x-1"]!;
  equal(ch.rcvbuf, 1048576);
  deepEqual(ch.record, {
    enabled: true,
    dir: "x-1",
    path: "./data/x-1",
    template: "{channel}-{yyyy}{MM}{dd}T{HH}{mm}{ss}Z",
    block_size: 65536,
    block_interval: 500,
    msync_every: 4096,
    fsync_interval: 1000,
    rotate_size: 1024 ** 3,
    rotate_every: 0,
    prealloc_chunk: 8 * 1024 * 1024,
  });
});

Deno.test("a config using every option parses to the typed values", () => {
  const c = loadConfigFile(GOOD + "full.yaml");
  equal(c.data_dir, "/srv/chanrelay");
  deepEqual(c.metrics, addr("0.0.0.0:9500"));
  equal(c.stats_interval, 30_000);
  deepEqual(c.log, { level: "debug", format: "json" });
  equal(c.decimate_workers, 3);
  deepEqual(Object.keys(c.channels), ["adc0", "adc1", "adc_2"]);
  deepEqual(c.channels.adc0, {
    name: "adc0",
    listen: addr("232.1.1.1:5000"),
    source: { ip: ip("10.1.2.3"), text: "10.1.2.3" },
    interface: { ip: ip("10.0.0.2"), text: "10.0.0.2" },
    rcvbuf: 16 * 1024 * 1024,
    max_datagram: 9000,
    relay: [
      {
        to: addr("239.10.0.1:6000"),
        ttl: 4,
        loop: true,
        interface: { ip: ip("10.0.0.3"), text: "10.0.0.3" },
      },
      { to: addr("127.0.0.1:7000"), loop: false },
    ],
    record: {
      enabled: true,
      dir: "adc/zero",
      path: "/srv/chanrelay/adc/zero",
      template: "{yyyy}/{MM}/{dd}/{channel}-{HH}{mm}{ss}",
      block_size: 128 * 1024,
      block_interval: 250,
      msync_every: 1024,
      fsync_interval: 2000,
      rotate_size: 512 * 1024 * 1024,
      rotate_every: 3_600_000,
      keep_files: 48,
      keep_size: 100_000_000_000,
      keep_age: 7 * 86_400_000,
      prealloc_chunk: 32 * 1024 * 1024,
    },
    decimate: {
      to: addr("239.20.0.1:7000"),
      ttl: 2,
      loop: true,
      interface: { ip: ip("10.0.0.4"), text: "10.0.0.4" },
      mode: "samples",
      factor: 10,
      samples: {
        format: "i16le",
        channels: 2,
        header_bytes: 16,
        seq: { offset: 0, type: "u64le" },
        cutoff: 0.9,
        max_datagram: 1400,
      },
    },
  });
  const adc1 = c.channels.adc1!;
  equal(adc1.record?.enabled, false);
  deepEqual(adc1.decimate, {
    to: addr("239.20.0.2:7000"),
    ttl: 1,
    loop: false,
    mode: "rate",
    max_rate: 12.5,
  });
  const adc2 = c.channels.adc_2!;
  deepEqual(adc2.listen, addr("localhost:5002"));
  deepEqual(adc2.decimate, {
    to: addr("239.20.0.3:7000"),
    ttl: 1,
    loop: false,
    mode: "packet",
    factor: 100,
  });
});

Deno.test("YAML anchors and merge keys are resolved", () => {
  const c = loadConfigFile(GOOD + "anchors.yaml");
  equal(c.channels.a!.record!.block_size, 256 * 1024);
  equal(c.channels.b!.record!.block_size, 256 * 1024);
  equal(c.channels.b!.record!.rotate_size, 2 * 1024 ** 3);
  equal(c.channels.b!.record!.keep_files, 10);
  equal(c.channels.a!.record!.keep_files, undefined);
});

Deno.test("a problem inherited through a merge key is reported for each user, where it is used", () => {
  const text = [
    "channels:",
    "  a:",
    "    listen: 239.1.1.1:5000",
    "    relay: [{ to: 127.0.0.1:7000 }]",
    "    record: &rec { block_size: 1 }",
    "  b:",
    "    listen: 239.1.1.2:5000",
    "    relay: [{ to: 127.0.0.1:7001 }]",
    "    record: { <<: *rec }",
  ].join("\n");
  const e = captureConfigError(() => loadConfigText(text, "m.yaml"));
  deepEqual(e.message.split("\n"), [
    "m.yaml:5:32: channels.a.record.block_size: 1 is below the minimum 1KiB",
    "m.yaml:9:13: channels.b.record.block_size: 1 is below the minimum 1KiB",
  ]);
});

function captureConfigError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("ConfigError carries the file, the first position and every problem", () => {
  const text = "channels:\n  adc0:\n    listen: 239.1.1.1:70000\n    rcvbuff: 1\n";
  const e = captureConfigError(() => loadConfigText(text, "chanrelay.yaml"));
  equal(e.name, "ConfigError");
  ok(e instanceof Error);
  equal(e.path, "chanrelay.yaml");
  equal(e.line, 3);
  equal(e.column, 5);
  deepEqual(
    e.problems,
    [
      {
        file: "chanrelay.yaml",
        line: 3,
        column: 13,
        keyPath: "channels.adc0.listen",
        message: 'Cannot parse "239.1.1.1:70000": port out of range',
      },
      {
        file: "chanrelay.yaml",
        line: 4,
        column: 5,
        keyPath: "channels.adc0.rcvbuff",
        message: 'Unknown key "rcvbuff" (did you mean "rcvbuf"?)',
      },
      {
        file: "chanrelay.yaml",
        line: 3,
        column: 5,
        keyPath: "channels.adc0.relay",
        message: 'Missing required key "relay"',
      },
    ].sort((a, b) => a.line - b.line || a.column - b.column),
  );
  equal(e.message, e.problems.map(formatProblem).join("\n"));
});

Deno.test("a missing config file is a ConfigError naming the file and errno", () => {
  const e = captureConfigError(() => loadConfigFile("/nonexistent/chanrelay.yaml"));
  equal(
    e.message,
    '/nonexistent/chanrelay.yaml: Cannot read "/nonexistent/chanrelay.yaml": ENOENT',
  );
});

Deno.test("a config built from flags reports problems by flag, without positions", () => {
  const obj = {
    channels: {
      cli: {
        listen: "239.1.1.1:70000",
        relay: [{ to: "127.0.0.1:7000", ttl: 300 }],
        decimate: { to: "239.2.2.2:1", mode: "packet", factor: 0 },
      },
    },
  };
  const flagFor = (path: readonly (string | number)[]) => {
    const key = path.at(-1);
    if (key === "listen") return "--listen";
    if (key === "ttl") return "--ttl";
    if (key === "factor") return "--decimate";
    return undefined;
  };
  const e = captureConfigError(() => validateConfigObject(obj, { kind: "flags", flagFor }));
  deepEqual(e.message.split("\n"), [
    '--listen: Cannot parse "239.1.1.1:70000": port out of range',
    "--ttl: 300 is above the maximum 255",
    "--decimate: 0 is below the minimum 1",
  ]);
  equal(e.line, 0);
  equal(e.problems[0]!.flag, "--listen");
});

Deno.test("validateConfigObject accepts a plain object and names it in messages", () => {
  const c = validateConfigObject({
    channels: { a: { listen: "127.0.0.1:5000", relay: [{ to: "127.0.0.1:5001" }] } },
  });
  equal(c.channels.a!.listen.port, 5000);
  const e = captureConfigError(() =>
    validateConfigObject({ channels: { a: { listen: 5 } } }, { kind: "object", name: "api" })
  );
  deepEqual(e.message.split("\n"), [
    'api: channels.a.listen: Expected "HOST:PORT" (e.g. 239.1.1.1:5000), got 5',
    'api: channels.a.relay: Missing required key "relay"',
  ]);
});

Deno.test("resolveConfigPath prefers the flag, then CHANRELAY_CONFIG", () => {
  const old = Deno.env.get("CHANRELAY_CONFIG");
  try {
    Deno.env.delete("CHANRELAY_CONFIG");
    equal(resolveConfigPath(), undefined);
    equal(resolveConfigPath("a.yaml"), "a.yaml");
    Deno.env.set("CHANRELAY_CONFIG", "/etc/chanrelay.yaml");
    equal(resolveConfigPath(), "/etc/chanrelay.yaml");
    equal(resolveConfigPath("a.yaml"), "a.yaml");
    Deno.env.set("CHANRELAY_CONFIG", "");
    equal(resolveConfigPath(), undefined);
  } finally {
    if (old === undefined) Deno.env.delete("CHANRELAY_CONFIG");
    else Deno.env.set("CHANRELAY_CONFIG", old);
  }
});

Deno.test("did-you-mean picks the closest key within a small edit distance", () => {
  equal(editDistance("rcvbuff", "rcvbuf"), 1);
  equal(editDistance("lsiten", "listen"), 1);
  equal(editDistance("kitten", "sitting"), 3);
  equal(suggest("rcvbuff", ["listen", "rcvbuf", "relay"]), ' (did you mean "rcvbuf"?)');
  equal(suggest("blockSize", ["block_size", "block_interval"]), ' (did you mean "block_size"?)');
  equal(suggest("colour", ["level", "format"]), "");
  equal(suggest("xyz", ["to", "ttl"]), "");
});

Deno.test("an unknown key deep in a relay entry is reported at the key with a suggestion", () => {
  const text =
    "channels:\n  a:\n    listen: 239.1.1.1:5000\n    relay:\n      - to: 127.0.0.1:1\n        tll: 3\n";
  throws(() => loadConfigText(text, "c.yaml"), {
    name: "ConfigError",
    message: 'c.yaml:6:9: channels.a.relay[0].tll: Unknown key "tll" (did you mean "ttl"?)',
  });
});

Deno.test("a relay destination's ttl is left unset when not written (the sender picks by kind)", () => {
  const c = validateConfigObject({
    channels: {
      a: {
        listen: "127.0.0.1:5000",
        relay: [{ to: "239.1.1.1:6000" }, { to: "127.0.0.1:6001" }, {
          to: "127.0.0.1:6002",
          ttl: 5,
        }, { to: "239.1.1.2:6003", ttl: 0 }],
      },
    },
  });
  const relay = c.channels.a!.relay;
  equal(relay[0]!.ttl, undefined);
  equal(relay[1]!.ttl, undefined);
  equal(relay[2]!.ttl, 5);
  equal(
    relay[3]!.ttl,
    0,
    "TTL 0 keeps multicast on this host (unicast refuses it: a config error)",
  );
});
