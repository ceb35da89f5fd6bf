import assert from "node:assert/strict";
import {
  decodeSamples,
  encodeSamples,
  SAMPLE_FORMATS,
  type SampleFormat,
  sampleSize,
} from "../../../src/decimate/formats.ts";

const RANGES: Partial<Record<SampleFormat, [number, number]>> = {
  i8: [-128, 127],
  u8: [0, 255],
  i16le: [-32768, 32767],
  i16be: [-32768, 32767],
  u16le: [0, 65535],
  u16be: [0, 65535],
  i32le: [-2147483648, 2147483647],
  i32be: [-2147483648, 2147483647],
};

function roundTrip(format: SampleFormat, values: number[], at = 3): number[] {
  const bytes = new Uint8Array(at + values.length * sampleSize(format));
  const view = new DataView(bytes.buffer);
  encodeSamples(format, view, at, Float64Array.from(values), 0, values.length);
  const out = new Float64Array(values.length);
  decodeSamples(format, view, at, values.length, out, 0);
  return [...out];
}

for (const format of SAMPLE_FORMATS) {
  Deno.test(`${format} round-trips its representable values exactly`, () => {
    const r = RANGES[format];
    const values = r
      ? [r[0], r[0] + 1, -1 >= r[0] ? -1 : 1, 0, 1, 7, r[1] - 1, r[1]]
      : [0, -0.5, 1.25, -3e5, Math.fround(0.1), 1e-7, 3.4e38, -Infinity];
    const expect = format.startsWith("f32") ? values.map(Math.fround) : values;
    assert.deepEqual(roundTrip(format, values), expect);
  });
}

for (const [format, r] of Object.entries(RANGES) as [SampleFormat, [number, number]][]) {
  Deno.test(`${format} rounds half away from zero and saturates at ${r[0]} and ${r[1]}`, () => {
    const got = roundTrip(format, [
      2.5,
      2.49,
      -2.5,
      -2.49,
      0.5,
      r[1] + 0.6,
      r[1] + 1e6,
      r[0] - 1e6,
      NaN,
    ]);
    const lowHalf = r[0] < 0 ? -3 : 0;
    const lowUnder = r[0] < 0 ? -2 : 0;
    assert.deepEqual(got, [3, 2, lowHalf, lowUnder, 1, r[1], r[1], r[0], 0]);
  });
}

Deno.test("formats write the byte order their names say", () => {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  const cases: [SampleFormat, number, number[]][] = [
    ["i16le", 0x0102, [2, 1]],
    ["i16be", 0x0102, [1, 2]],
    ["u16le", 0xfffe, [0xfe, 0xff]],
    ["u16be", 0xfffe, [0xff, 0xfe]],
    ["i32le", -2, [0xfe, 0xff, 0xff, 0xff]],
    ["i32be", 0x01020304, [1, 2, 3, 4]],
    ["f32be", 1, [0x3f, 0x80, 0, 0]],
    ["f32le", 1, [0, 0, 0x80, 0x3f]],
    ["f64be", 2, [0x40, 0, 0, 0, 0, 0, 0, 0]],
    ["f64le", 2, [0, 0, 0, 0, 0, 0, 0, 0x40]],
    ["i8", -1, [0xff]],
    ["u8", 200, [200]],
  ];
  for (const [format, value, expect] of cases) {
    bytes.fill(0);
    encodeSamples(format, view, 0, Float64Array.of(value), 0, 1);
    assert.deepEqual([...bytes.subarray(0, expect.length)], expect, format);
  }
});
