/**
 * The status page in a real browser: headless Chromium (Debian `chromium`) loads it from a server
 * in front of real channels while traffic flows.
 */
import assert from "node:assert/strict";
import { canRun, ROOT } from "../helpers/env.ts";
import { startChannels } from "../helpers/metrics_fixture.ts";

const CHROMIUM = Deno.env.get("CHROMIUM") ?? "chromium";
const ARTIFACTS = `${ROOT}.test-artifacts`;

function hasChromium(): boolean {
  try {
    return new Deno.Command(CHROMIUM, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Runs headless Chromium on `url` with `extra` flags; returns its stdout. */
async function chromium(url: string, extra: string[]): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "chanrelay-chromium-" });
  try {
    const out = await new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        ...extra,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, `chromium failed: ${new TextDecoder().decode(out.stderr)}`);
    return stdout;
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

/** `data-value` of the element with `data-field="field"` in the row of `channel`. */
function field(dom: string, channel: string, name: string): number {
  const row = new RegExp(`<tr data-channel="${channel}">([\\s\\S]*?)</tr>`).exec(dom);
  assert.ok(row, `no row for channel "${channel}"`);
  const m = new RegExp(`data-field="${name}" data-value="([^"]*)"`).exec(row[1]!);
  assert.ok(m, `no ${name} in the row of "${channel}"`);
  return Number(m[1]);
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Uint8Array): [number, number] {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.deepEqual([...png.subarray(0, 8)], sig, "a PNG file");
  const v = new DataView(png.buffer, png.byteOffset);
  return [v.getUint32(16), v.getUint32(20)];
}

Deno.test("the status page shows every channel in headless Chromium and its numbers move with traffic", async () => {
  if (!canRun("status page in Chromium", hasChromium(), "Debian chromium")) return;
  const names = ["adc0", "adc1", "gps_1"];
  const fx = await startChannels(names, { sampleMs: 250 });
  // steady traffic while the browser polls: 40 datagrams every 20 ms to two channels
  const traffic = setInterval(() => {
    fx.sendOnly("adc0", 40, 1200);
    fx.sendOnly("adc1", 20, 400);
  }, 20);
  try {
    fx.send("gps_1", 25, 80);
    await new Promise((r) => setTimeout(r, 600)); // two rate samples with traffic in them
    const first = await chromium(fx.server.url, ["--dump-dom"]);
    for (const n of names) {
      assert.ok(first.includes(`<tr data-channel="${n}">`), `row of ${n}`);
      assert.ok(first.includes(`<div class="name">${n}</div>`), `name of ${n}`);
    }
    assert.equal(field(first, "gps_1", "received"), 25);
    const a0 = field(first, "adc0", "received");
    assert.ok(a0 > 0);
    assert.ok(field(first, "adc0", "rx-pps") > 0, "a receive rate while traffic flows");
    assert.match(first, /<span id="health" class="badge b-ok">healthy<\/span>/);

    // a second load, with virtual time for the page's own polling: the numbers have moved
    const second = await chromium(fx.server.url, ["--dump-dom", "--virtual-time-budget=2500"]);
    const polls = /<body data-polls="([0-9]+)"/.exec(second);
    assert.ok(polls && Number(polls[1]) >= 1, "the page polled /stats");
    assert.ok(field(second, "adc0", "received") > a0, "received grew between loads");
    assert.ok(field(second, "adc1", "relayed") > field(first, "adc1", "relayed"));
    assert.equal(field(second, "gps_1", "received"), 25, "an idle channel stays put");
    assert.ok(/<path class="line"[^>]* d="M[0-9.]+,[0-9.]+L/.test(second), "a sparkline is drawn");

    // a stopped channel turns the page unhealthy, with the reason
    await fx.supervisor.channels.get("gps_1")!.stop(250, false);
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const third = await chromium(fx.server.url, ["--dump-dom"]);
    assert.match(third, /class="badge b-bad">unhealthy</);
    assert.ok(third.includes('<li>Channel "gps_1" is stopped</li>'), "the reason is listed");

    for (
      const [file, flags] of [
        ["status_page.png", []],
        ["status_page_dark.png", ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]],
      ] as const
    ) {
      const path = `${ARTIFACTS}/${file}`;
      await Deno.remove(path).catch(() => {});
      await chromium(fx.server.url, [`--screenshot=${path}`, "--window-size=1280,800", ...flags]);
      const png = await Deno.readFile(path);
      assert.deepEqual(pngSize(png), [1280, 800]);
      assert.ok(png.length > 20_000, `a real screenshot (${png.length} bytes)`);
    }
  } finally {
    clearInterval(traffic);
    await fx.close();
  }
});
