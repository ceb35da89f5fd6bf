import assert from "node:assert/strict";
import { canRunInNamespace, lastJsonLine, runInNetns } from "../helpers/netns.ts";

const fixture = (name: string) => new URL(`../fixtures/relay/${name}`, import.meta.url);

Deno.test({
  name:
    "relay moves 100 000 datagrams per channel (unicast, any-source and source-specific multicast in) to every destination byte-exact, in order, with the configured TTL",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const n = 100_000;
    const r = await runInNetns(fixture("three_channels_child.ts"), [String(n)], {
      timeoutMs: 120_000,
    });
    const out = lastJsonLine<{
      errors: string[];
      received: Record<string, number>;
      wrongTtls: Record<string, number[]>;
      extra: Record<string, number>;
      stats: Record<string, Record<string, string> | null>;
      stop: { code: number };
    }>(r);
    assert.deepEqual(out.errors, []);
    assert.equal(Object.keys(out.received).length, 6);
    for (const [k, v] of Object.entries(out.received)) assert.equal(v, n, `${k} received ${v}`);
    for (const [k, v] of Object.entries(out.wrongTtls)) {
      assert.deepEqual(v, [], `${k} had wrong TTLs`);
    }
    for (const [k, v] of Object.entries(out.extra)) {
      assert.equal(v, 0, `${k} received ${v} extra datagrams`);
    }
    for (const ch of ["uni", "asm", "ssm"]) {
      assert.equal(out.stats[ch]?.rx, String(n), `${ch} stats rx`);
      assert.equal(out.stats[ch]?.relayed, String(2 * n), `${ch} stats relayed`);
      assert.equal(out.stats[ch]?.relay_errors, "0", `${ch} stats relay_errors`);
    }
    assert.equal(out.stop.code, 0);
  },
});

Deno.test({
  name:
    "relay: an unreachable or refusing destination does not lower delivery to the channel's other destinations",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const n = 20_000;
    const r = await runInNetns(fixture("unreachable_child.ts"), [String(n)], { timeoutMs: 60_000 });
    const out = lastJsonLine<
      { errors: string[]; received: number; stats: Record<string, string>; stop: { code: number } }
    >(r);
    assert.deepEqual(out.errors, []);
    assert.equal(out.received, n);
    assert.equal(out.stats.rx, String(n));
    assert.equal(
      out.stats.dest1_errors,
      String(n),
      "every datagram to the unrouted address is an error",
    );
    assert.ok(Number(out.stats.dest0_errors) > 0, "the refusing port reports errors");
    assert.equal(out.stats.dest2_errors, undefined, "the good destination has no errors");
    assert.equal(out.stop.code, 0);
  },
});

Deno.test({
  name:
    "relay: a Worker killed by an injected fault restarts, and the other channel loses nothing meanwhile",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const r = await runInNetns(fixture("fault_child.ts"), [], { timeoutMs: 60_000 });
    const out = lastJsonLine<{
      errors: string[];
      aSent: number;
      aReceived: number;
      restarted: boolean;
      died: number;
      bAfterRestart: number;
      statsA: Record<string, string>;
      statsB: Record<string, string>;
      stop: { code: number };
    }>(r);
    assert.deepEqual(out.errors, []);
    assert.equal(out.aReceived, out.aSent, "channel a lost datagrams");
    assert.ok(out.aSent >= 20_000);
    assert.equal(out.died, 1);
    assert.equal(out.restarted, true);
    assert.ok(out.bAfterRestart >= 6400, `b relayed only ${out.bAfterRestart} after its restart`);
    assert.equal(out.statsB.restarts, "1");
    assert.equal(out.statsA.restarts, "0");
    assert.equal(out.statsA.rx, String(out.aSent));
    assert.equal(out.stop.code, 0);
  },
});

Deno.test({
  name:
    "relay: SIGTERM under load exits 0 within bounds, and a second instance on the same ports takes over a multicast input with no datagram lost",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const r = await runInNetns(fixture("takeover_child.ts"), ["20000", "4"], { timeoutMs: 60_000 });
    const out = lastJsonLine<{
      sent: { sent: number; send_errors: number };
      got: { unique: number; lost: number; duplicates: number; highest_seq: number };
      stopA: { code: number; ms: number };
      stoppedLine: string;
      stopB: { code: number };
    }>(r);
    assert.equal(out.sent.sent, 80_000);
    assert.equal(out.got.lost, 0, "datagrams lost in the handover");
    assert.equal(out.got.unique, out.sent.sent);
    assert.ok(out.got.duplicates > 0, "both instances relayed while they overlapped");
    assert.equal(out.stopA.code, 0);
    const stoppedMs = Number(/ms=(\d+)/.exec(out.stoppedLine)?.[1] ?? "NaN");
    assert.ok(stoppedMs <= 250, `workers took ${stoppedMs} ms to stop`);
    assert.ok(out.stopA.ms < 2000, `exit took ${out.stopA.ms} ms after SIGTERM`);
    assert.equal(out.stopB.code, 0);
  },
});
