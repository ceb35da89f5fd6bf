import assert from "node:assert/strict";
import { parseFromDecimator, parseToDecimator } from "../../../src/decimate/messages.ts";
import { resolveDecimateOptions } from "../../../src/decimate/options.ts";
import { createRing } from "../../../src/decimate/ring.ts";

Deno.test("decimator Worker messages: well-formed ones pass, malformed ones are rejected", () => {
  const ring = createRing(4096);
  const options = resolveDecimateOptions({
    to: "127.0.0.1:9",
    mode: "samples",
    factor: 4,
    samples: { format: "f32le", header_bytes: 8, seq: { offset: 0, type: "u32be" } },
  });
  const attach = { type: "attach", channel: "a", ring, options };
  assert.deepEqual(parseToDecimator(attach), attach);
  assert.equal(
    parseToDecimator({
      ...attach,
      options: { ...options, samples: { ...options.samples, format: "f16le" } },
    }),
    null,
  );
  assert.equal(
    parseToDecimator({ ...attach, ring: { sab: new ArrayBuffer(8), bell: ring.bell } }),
    null,
  );
  assert.equal(parseToDecimator({ ...attach, options: { ...options, mode: "all" } }), null);
  assert.equal(parseToDecimator({ type: "detach" }), null);
  assert.deepEqual(parseToDecimator({ type: "detach", channel: "a" }), {
    type: "detach",
    channel: "a",
  });
  assert.equal(
    parseToDecimator({ type: "init", bell: ring.bell, log: { level: "loud", format: "text" } }),
    null,
  );
  assert.equal(parseToDecimator({ type: "reboot" }), null);
  assert.equal(parseToDecimator(null), null);
  assert.equal(parseFromDecimator({ type: "attached", channel: "a" }), null);
  assert.deepEqual(parseFromDecimator({ type: "attached", channel: "a", taps: 3 }), {
    type: "attached",
    channel: "a",
    taps: 3,
  });
});
