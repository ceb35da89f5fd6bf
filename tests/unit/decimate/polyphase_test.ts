import assert from "node:assert/strict";
import { designDecimationFilter } from "../../../src/decimate/fir.ts";
import { PolyphaseDecimator } from "../../../src/decimate/polyphase.ts";
import { offlineDecimate, rng } from "./reference.ts";

function assertClose(a: Float64Array, b: Float64Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= tol)) assert.fail(`${what}: [${i}] ${a[i]} vs ${b[i]}`);
  }
}

for (const channels of [1, 3]) {
  Deno.test(`polyphase output over 1000 datagrams equals the filter run offline over the concatenated input (${channels} channel${channels > 1 ? "s" : ""})`, () => {
    const factor = 10;
    const { taps } = designDecimationFilter(factor, 0.8);
    const rand = rng(42 + channels);
    const sizes: number[] = [];
    for (let i = 0; i < 1000; i++) sizes.push(1 + Math.floor(rand() * 97)); // frames per datagram
    const total = sizes.reduce((a, b) => a + b, 0);
    const x = new Float64Array(total * channels);
    for (let i = 0; i < x.length; i++) x[i] = (rand() - 0.5) * 60000;
    const dec = new PolyphaseDecimator(taps, factor, channels);
    const got = new Float64Array(dec.outputFrames(total) * channels);
    let inFrame = 0;
    let outFrame = 0;
    for (const n of sizes) {
      const expect = dec.outputFrames(n);
      const w = dec.process(x, inFrame * channels, n, got, outFrame * channels);
      assert.equal(w, expect);
      inFrame += n;
      outFrame += w;
    }
    assert.equal(outFrame * channels, got.length);
    assertClose(got, offlineDecimate(taps, factor, channels, x), 1e-7, "streamed vs offline");
  });
}

Deno.test("polyphase keeps outputs n = 0, D, 2D…: an impulse at n = 0 gives h[0], h[D], h[2D]…", () => {
  const taps = Float64Array.from({ length: 23 }, (_, i) => i + 1);
  const dec = new PolyphaseDecimator(taps, 4);
  const x = new Float64Array(40);
  x[0] = 1;
  const out = new Float64Array(10);
  assert.equal(dec.process(x, 0, 40, out, 0), 10);
  assert.deepEqual([...out], [1, 5, 9, 13, 17, 21, 0, 0, 0, 0]);
});

Deno.test("polyphase reset forgets the past: output after reset equals a fresh decimator's", () => {
  const { taps } = designDecimationFilter(5, 0.8);
  const rand = rng(7);
  const a = new Float64Array(333).map(() => rand() - 0.5);
  const b = new Float64Array(512).map(() => rand() - 0.5);
  const used = new PolyphaseDecimator(taps, 5);
  const scratch = new Float64Array(200);
  used.process(a, 0, a.length, scratch, 0);
  used.reset();
  const fresh = new PolyphaseDecimator(taps, 5);
  const o1 = new Float64Array(fresh.outputFrames(b.length));
  const o2 = new Float64Array(used.outputFrames(b.length));
  fresh.process(b, 0, b.length, o1, 0);
  used.process(b, 0, b.length, o2, 0);
  assert.deepEqual(o2, o1);
});
