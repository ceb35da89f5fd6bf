/**
 * Decimation through a real `chanrelay run`, inside network namespaces: packet and rate modes
 * send exactly the expected datagrams to their multicast groups with the configured TTL and loop,
 * samples mode filters a sine stream, and an overloaded decimator never costs the relay a datagram.
 */
import assert from "node:assert/strict";
import { canRunInNamespace, lastJsonLine, runInNetns } from "../helpers/netns.ts";
import { NETNS_VETH_SETUP } from "../fixtures/decimate_run/common.ts";

const fixture = (name: string) => new URL(`../fixtures/decimate_run/${name}`, import.meta.url);

interface StreamSummary {
  count: number;
  seqs: number[];
  ttls: number[];
  atMs: number[];
  differing: number;
}

interface ChannelStats {
  received: number;
  relayed: number;
  published: number;
  overruns: number;
  out: number;
  sendErrors: number;
}

interface SendSummary {
  sent: number;
  seconds: number;
  send_errors: number;
}

const range = (from: number, to: number, step = 1) =>
  Array.from({ length: Math.ceil((to - from) / step) }, (_, i) => from + i * step);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

Deno.test({
  name:
    "chanrelay run decimates: packet mode sends exactly every 10th datagram and rate mode at most 50/s (every one when slower) to their groups with the configured TTL, loop off keeps the group's local members out, and the full-rate destinations get every datagram",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const r = await runInNetns(fixture("packet_rate_child.ts"), [], {
      extraSetup: NETNS_VETH_SETUP,
      timeoutMs: 60_000,
    });
    const out = lastJsonLine<{
      pk: { send: SendSummary; full: StreamSummary; dec: StreamSummary };
      rt: {
        sendA: SendSummary;
        sendB: SendSummary;
        fullA: StreamSummary;
        fullB: StreamSummary;
        decA: StreamSummary;
        decB: StreamSummary;
      };
      quiet: { send: SendSummary; full: StreamSummary; dec: StreamSummary };
      stats: Record<"pk" | "rt" | "quiet", ChannelStats>;
      metricsDecimated: string | null;
      stop: { code: number };
    }>(r);

    // packet mode, factor 10: ids 0, 10, 20 … 1990, byte-exact, TTL 3
    assert.equal(out.pk.send.sent, 2000);
    assert.deepEqual(out.pk.full.seqs, range(0, 2000), "full-rate destination of pk");
    assert.deepEqual(out.pk.dec.seqs, range(0, 2000, 10));
    assert.equal(out.pk.dec.differing, 0);
    assert.deepEqual(out.pk.dec.ttls, [3]);
    const { published: _, ...pk } = out.stats.pk; // (counts the datagrams offered, kept or not)
    assert.deepEqual(pk, { received: 2000, relayed: 2000, overruns: 0, out: 200, sendErrors: 0 });
    assert.equal(out.metricsDecimated, "200");

    // rate mode below max_rate: every datagram
    assert.deepEqual(out.rt.fullA.seqs, range(0, 15));
    assert.deepEqual(out.rt.decA.seqs, range(0, 15));
    assert.equal(out.rt.decA.differing, 0);
    assert.deepEqual(out.rt.decA.ttls, [4]);
    // rate mode at 40 × max_rate: at most 50/s, spread evenly over the stream
    const b = out.rt.decB;
    const seconds = out.rt.sendB.seconds;
    assert.deepEqual(out.rt.fullB.seqs, range(0, 4000), "full-rate destination of rt");
    assert.ok(b.count <= Math.floor(50 * seconds) + 2, `${b.count} in ${seconds} s`);
    assert.ok(b.count >= 0.6 * 50 * seconds, `only ${b.count} in ${seconds} s`);
    assert.ok(b.seqs.every((s, i) => i === 0 || s > b.seqs[i - 1]!), "ids increase");
    assert.ok(b.seqs.every((s) => s < 4000));
    const gaps = b.seqs.slice(1).map((s, i) => s - b.seqs[i]!);
    const mg = median(gaps);
    assert.ok(mg >= 30 && mg <= 50, `median id gap ${mg} (2000/s kept at 50/s: 40)`);
    let most = 0;
    for (let i = 0, j = 0; i < b.atMs.length; i++) {
      while (b.atMs[i]! - b.atMs[j]! >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    assert.ok(most <= 55, `${most} datagrams within one second`);
    console.error(
      `rate mode: ${b.count} of 4000 kept in ${seconds} s, median id gap ${mg}, ` +
        `at most ${most} in one second`,
    );
    assert.equal(b.differing, 0);
    assert.deepEqual(b.ttls, [4]);
    assert.equal(out.stats.rt.out, 15 + b.count);
    assert.equal(out.stats.rt.overruns, 0);

    // loop off: sent (counted) but not looped back to the group's members on this host
    assert.deepEqual(out.quiet.full.seqs, range(0, 500));
    assert.equal(out.quiet.dec.count, 0);
    assert.equal(out.stats.quiet.out, 50);
    assert.equal(out.stats.quiet.sendErrors, 0);
    assert.equal(out.stop.code, 0);
  },
});

Deno.test({
  name:
    "chanrelay run samples mode: an i16 sine in the pass band comes out of the group with gain 1 ± 0.01 and the filter's delay, a tone above the new Nyquist ≥ 60 dB down, every header that of the datagram that started it",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const r = await runInNetns(fixture("samples_child.ts"), [], {
      extraSetup: NETNS_VETH_SETUP,
      timeoutMs: 60_000,
    });
    const out = lastJsonLine<{
      errors: string[];
      taps: number;
      datagramsOut: number;
      samplesOut: number;
      expectedSamples: number;
      ttls: number[];
      wrongHeaders: number;
      oddSizes: number;
      maxErr: number;
      gain: number;
      aliasDb: number;
      stats: { received: number; out: number; samples: number; resets: number; overruns: number };
      stop: { code: number };
    }>(r);
    console.error(
      `samples: ${out.taps} taps, ${out.datagramsOut} datagrams, gain ${out.gain.toFixed(5)}, ` +
        `max error ${out.maxErr.toFixed(1)} of 12000, alias ${out.aliasDb.toFixed(1)} dB`,
    );
    assert.deepEqual(out.errors, [], "the full-rate destination got every datagram byte-exact");
    assert.equal(out.samplesOut, out.expectedSamples);
    assert.equal(out.wrongHeaders, 0);
    assert.equal(out.oddSizes, 0);
    assert.deepEqual(out.ttls, [2]);
    assert.ok(Math.abs(out.gain - 1) <= 0.01, `gain ${out.gain}`);
    assert.ok(out.maxErr <= 0.01 * 12000, `max error ${out.maxErr}`);
    assert.ok(out.aliasDb <= -60, `the tone above the new Nyquist is only ${out.aliasDb} dB down`);
    assert.deepEqual(out.stats, {
      received: 400,
      out: out.datagramsOut,
      samples: out.expectedSamples,
      resets: 0,
      overruns: 0,
    });
    assert.equal(out.stop.code, 0);
  },
});

Deno.test({
  name:
    "chanrelay run with an overloaded decimator (one Worker, a long samples filter on 1472-byte datagrams): the relay still delivers every datagram and decimate_overruns counts what the decimator lost",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const n = 20_000;
    const r = await runInNetns(fixture("overload_child.ts"), [String(n)], {
      extraSetup: NETNS_VETH_SETUP,
      timeoutMs: 60_000,
    });
    const out = lastJsonLine<{
      errors: string[];
      sent: number;
      received: number;
      seconds: number;
      stats: {
        received: number;
        relayed: number;
        kernelDrops: number;
        relayErrors: number;
        published: number;
        overruns: number;
        out: number;
        samples: number;
        resets: number;
      };
      metricsOverruns: number;
      stop: { code: number };
    }>(r);
    console.error(
      `overload: ${n} datagrams in ${out.seconds.toFixed(2)} s ` +
        `(${Math.round(n / out.seconds)}/s); decimator took ${out.stats.published}, ` +
        `lost ${out.stats.overruns}, sent ${out.stats.out}`,
    );
    assert.deepEqual(out.errors, []);
    assert.equal(out.received, n);
    assert.equal(out.stats.received, n);
    assert.equal(out.stats.relayed, n);
    assert.equal(out.stats.kernelDrops, 0);
    assert.equal(out.stats.relayErrors, 0);
    assert.ok(out.stats.overruns > 0, "the decimator kept up: no overload to test");
    assert.equal(out.stats.published + out.stats.overruns, n);
    assert.equal(out.metricsOverruns, out.stats.overruns);
    assert.ok(out.stats.out > 0, "the decimator sent nothing");
    assert.ok(out.stats.resets > 0, "datagrams lost to overruns reset the filter");
    assert.equal(out.stop.code, 0);
  },
});
