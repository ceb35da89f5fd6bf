import assert from "node:assert/strict";
import { DecimateOptionsError, resolveDecimateOptions } from "../../../src/decimate/options.ts";

function fieldOf(options: unknown): string {
  try {
    resolveDecimateOptions(options);
  } catch (e) {
    assert.ok(e instanceof DecimateOptionsError, `not a DecimateOptionsError: ${e}`);
    assert.ok(e.message.includes(e.field), `message "${e.message}" does not name the field`);
    return e.field;
  }
  assert.fail("accepted");
}

const samples = (s: Record<string, unknown>) => ({
  to: "239.20.0.1:7000",
  mode: "samples",
  factor: 10,
  samples: { format: "i16le", header_bytes: 16, ...s },
});

Deno.test("bad decimation options give an error naming the field", () => {
  assert.equal(fieldOf({ to: "239.20.0.1:7000", mode: "packet", factor: 0 }), "decimate.factor");
  assert.equal(fieldOf({ to: "239.20.0.1:7000", mode: "packet", factor: 2.5 }), "decimate.factor");
  assert.equal(fieldOf({ to: "239.20.0.1:7000", mode: "packet" }), "decimate.factor");
  assert.equal(fieldOf(samples({ format: "i24le" })), "decimate.samples.format");
  assert.equal(fieldOf(samples({ format: "i16" })), "decimate.samples.format");
  assert.equal(fieldOf(samples({ header_bytes: 1500 })), "decimate.samples.header_bytes");
  assert.equal(
    fieldOf(samples({ header_bytes: 1471, max_datagram: 1472 })),
    "decimate.samples.header_bytes",
  );
  assert.equal(fieldOf(samples({ cutoff: 0 })), "decimate.samples.cutoff");
  assert.equal(fieldOf(samples({ cutoff: 1.01 })), "decimate.samples.cutoff");
  assert.equal(fieldOf(samples({ cutoff: -0.5 })), "decimate.samples.cutoff");
  assert.equal(
    fieldOf(samples({ seq: { offset: 12, type: "u64le" } })),
    "decimate.samples.seq.offset",
  );
  assert.equal(fieldOf(samples({ seq: { offset: 0, type: "u128" } })), "decimate.samples.seq.type");
  assert.equal(fieldOf(samples({ channel: 2 })), "decimate.samples.channel");
  assert.equal(fieldOf({ to: "239.20.0.1:7000", mode: "rate", max_rate: 0 }), "decimate.max_rate");
  assert.equal(fieldOf({ to: "239.20.0.1:7000", mode: "every" }), "decimate.mode");
  assert.equal(fieldOf({ to: "239.20.0.1", mode: "packet", factor: 2 }), "decimate.to");
  assert.equal(
    fieldOf({ to: "239.20.0.1:7000", mode: "packet", factor: 2, ttl: 300 }),
    "decimate.ttl",
  );
  assert.equal(
    fieldOf({ to: "239.20.0.1:7000", mode: "packet", factor: 2, interface: "eth0" }),
    "decimate.interface",
  );
  assert.equal(
    fieldOf({ to: "239.20.0.1:7000", mode: "packet", factor: 2, samples: { format: "u8" } }),
    "decimate.samples",
  );
});

Deno.test("the error message quotes the bad value", () => {
  assert.throws(
    () => resolveDecimateOptions(samples({ format: "i24le" })),
    /^DecimateOptionsError: Bad decimate\.samples\.format "i24le": unknown format/,
  );
  assert.throws(
    () => resolveDecimateOptions({ to: "239.20.0.1:7000", mode: "packet", factor: 0 }),
    (e: Error) => e.message === 'Bad decimate.factor "0": expected an integer from 1 to 100000',
  );
});

Deno.test("decimation options resolve with the documented defaults", () => {
  const r = resolveDecimateOptions({
    to: "239.20.0.1:7000",
    mode: "samples",
    factor: 10,
    samples: { format: "i16le" },
  });
  assert.deepEqual(r, {
    toText: "239.20.0.1:7000",
    ip: 0xef140001,
    port: 7000,
    multicast: true,
    ttl: 1,
    loop: true,
    iface: 0,
    mode: "samples",
    factor: 10,
    maxRate: 0,
    samples: {
      format: "i16le",
      channels: 1,
      headerBytes: 0,
      seq: null,
      cutoff: 0.8,
      maxDatagram: 1472,
    },
  });
});
