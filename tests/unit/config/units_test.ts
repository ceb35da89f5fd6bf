import { deepEqual as assertEquals } from "node:assert/strict";
import {
  formatDuration,
  formatSize,
  humanSize,
  parseDuration,
  parseSize,
} from "../../../src/config/units.ts";

Deno.test("parseSize reads binary and decimal units as written and plain byte counts", () => {
  const cases: [string | number, number][] = [
    [4096, 4096],
    ["512", 512],
    ["512B", 512],
    ["64KiB", 65536],
    ["8MiB", 8 * 1024 * 1024],
    ["1GiB", 1024 ** 3],
    ["1TiB", 1024 ** 4],
    ["10kB", 10_000],
    ["10MB", 10_000_000],
    ["1GB", 1_000_000_000],
    ["2TB", 2_000_000_000_000],
    ["1.5KiB", 1536],
    ["8 MiB", 8 * 1024 * 1024],
    [0, 0],
  ];
  for (const [input, bytes] of cases) assertEquals(parseSize(input), { ok: true, value: bytes });
});

Deno.test("parseSize rejects unknown units, wrong case, fractions of a byte and negatives", () => {
  const hint = "not a size (use e.g. 512KiB, 8MiB)";
  for (const input of ["8MB?", "8mib", "8KB", "8 M", "", "MiB", "-1", "1e3", "8MiBs"]) {
    assertEquals(parseSize(input), { ok: false, reason: `Cannot parse "${input}": ${hint}` });
  }
  assertEquals(parseSize(-5), { ok: false, reason: `Cannot parse "-5": ${hint}` });
  assertEquals(parseSize(1.5), { ok: false, reason: `Cannot parse "1.5": ${hint}` });
  assertEquals(parseSize("0.3KiB"), {
    ok: false,
    reason: 'Cannot parse "0.3KiB": not a whole number of bytes',
  });
  assertEquals(parseSize("99999999TiB"), {
    ok: false,
    reason: 'Cannot parse "99999999TiB": too large',
  });
});

Deno.test("parseDuration reads units, compound durations and plain numbers as seconds", () => {
  const cases: [string | number, number][] = [
    ["500ms", 500],
    ["10s", 10_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["1h30m", 5_400_000],
    ["1m30s", 90_000],
    ["2h0m5s250ms", 7_205_250],
    ["1.5s", 1500],
    ["10", 10_000],
    [10, 10_000],
    [0.25, 250],
    [0, 0],
  ];
  for (const [input, ms] of cases) assertEquals(parseDuration(input), { ok: true, value: ms });
});

Deno.test("parseDuration rejects words, spaces between parts, bad units and negatives", () => {
  const hint = "not a duration (use e.g. 500ms, 10s, 1h30m)";
  for (const input of ["10 sec", "1h 30m", "5min", "ms", "", "-1s", "1w", "s10"]) {
    assertEquals(parseDuration(input), { ok: false, reason: `Cannot parse "${input}": ${hint}` });
  }
  assertEquals(parseDuration(-1), { ok: false, reason: `Cannot parse "-1": ${hint}` });
});

Deno.test("formatSize, formatDuration and humanSize print compact units", () => {
  assertEquals(formatSize(8 * 1024 * 1024), "8MiB");
  assertEquals(formatSize(65536), "64KiB");
  assertEquals(formatSize(1000), "1000B");
  assertEquals(formatDuration(5_400_000), "1h30m");
  assertEquals(formatDuration(500), "500ms");
  assertEquals(formatDuration(0), "0s");
  assertEquals(humanSize(85603614720), "79.7GiB");
  assertEquals(humanSize(512), "512B");
  assertEquals(humanSize(4 * 1024 * 1024), "4MiB");
});
