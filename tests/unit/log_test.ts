import assert from "node:assert/strict";
import { configureLog, formatLine, log, logSettings } from "../../src/log.ts";

function capture(fn: () => void): string[] {
  const lines: string[] = [];
  const before = logSettings();
  configureLog({ sink: (l) => lines.push(l) });
  try {
    fn();
  } finally {
    configureLog({
      ...before,
      sink: (l) => Deno.stderr.writeSync(new TextEncoder().encode(l + "\n")),
    });
  }
  return lines;
}

Deno.test("log writes logfmt with quoted values and a channel field", () => {
  configureLog({ format: "text", level: "info" });
  const line = formatLine("warn", "Receive buffer clamped", {
    channel: "adc0",
    hint: "sysctl -w x=1",
    n: 3,
  }, new Date(0));
  assert.equal(
    line,
    'ts=1970-01-01T00:00:00.000Z level=warn msg="Receive buffer clamped" channel=adc0 hint="sysctl -w x=1" n=3',
  );
});

Deno.test("log writes one JSON object per line in json format", () => {
  configureLog({ format: "json", level: "info" });
  try {
    const line = formatLine("error", "x", { channel: "a", big: 5n, skip: undefined }, new Date(0));
    assert.deepEqual(JSON.parse(line), {
      ts: "1970-01-01T00:00:00.000Z",
      level: "error",
      msg: "x",
      channel: "a",
      big: 5,
    });
  } finally {
    configureLog({ format: "text" });
  }
});

Deno.test("log drops lines below the configured level", () => {
  const lines = capture(() => {
    configureLog({ level: "warn" });
    log.info("hidden");
    log.debug("hidden");
    log.warn("shown");
    log.error("shown too");
  });
  configureLog({ level: "info" });
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /level=warn msg=shown/);
});

Deno.test("log.limited writes a repeated message once per interval and counts the suppressed ones", () => {
  const lines = capture(() => {
    configureLog({ level: "info", format: "text" });
    for (let i = 0; i < 5; i++) {
      log.limited("test-key", 60_000, "error", "Disk full", { channel: "c" });
    }
  });
  assert.equal(lines.length, 1);
  const again = capture(() => log.limited("other-key", 0, "error", "Again"));
  assert.equal(again.length, 1);
});

Deno.test("log.limited reports how many lines it suppressed when the interval has passed", async () => {
  const first = capture(() => {
    for (let i = 0; i < 3; i++) log.limited("suppress-key", 30, "warn", "Send failed");
  });
  assert.equal(first.length, 1);
  await new Promise((r) => setTimeout(r, 40));
  const later = capture(() => log.limited("suppress-key", 30, "warn", "Send failed"));
  assert.equal(later.length, 1);
  assert.match(later[0]!, /msg="Send failed" suppressed=2$/);
});
