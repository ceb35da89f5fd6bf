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
