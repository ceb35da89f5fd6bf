/**
 * Sample codecs for samples-mode decimation: integer and float samples of either byte order,
 * read to float64 and written back with rounding and saturation. Whole runs are converted per
 * call, with the format switch outside the loop; nothing is allocated.
 */

/** Every sample format name, in a stable order. */
export const SAMPLE_FORMATS = [
  "i8",
  "u8",
  "i16le",
  "i16be",
  "u16le",
  "u16be",
  "i32le",
  "i32be",
  "f32le",
  "f32be",
  "f64le",
  "f64be",
] as const;

/** The sample formats. Integers are read as their plain values (an i16 reads -32768..32767). */
export type SampleFormat = (typeof SAMPLE_FORMATS)[number];

const SIZES: Record<SampleFormat, number> = {
  i8: 1,
  u8: 1,
  i16le: 2,
  i16be: 2,
  u16le: 2,
  u16be: 2,
  i32le: 4,
  i32be: 4,
  f32le: 4,
  f32be: 4,
  f64le: 8,
  f64be: 8,
};

/** Whether `name` is a sample format. */
export function isSampleFormat(name: unknown): name is SampleFormat {
  return typeof name === "string" && Object.hasOwn(SIZES, name);
}

/** Bytes per sample of `format`. */
export function sampleSize(format: SampleFormat): number {
  return SIZES[format];
}

/**
 * Rounds half away from zero and clamps to `[lo, hi]`; NaN becomes 0. Used for every integer
 * format, so -2.5 becomes -3 and 2.5 becomes 3.
 */
function toInt(v: number, lo: number, hi: number): number {
  if (!(v === v)) return 0;
  const r = v < 0 ? -Math.floor(0.5 - v) : Math.floor(v + 0.5);
  return r < lo ? lo : r > hi ? hi : r;
}

/**
 * Reads `count` consecutive samples starting at byte `byteOffset` of `view` into
 * `out[outOffset..]`.
 */
export function decodeSamples(
  format: SampleFormat,
  view: DataView,
  byteOffset: number,
  count: number,
  out: Float64Array,
  outOffset: number,
): void {
  let p = byteOffset;
  const end = outOffset + count;
  switch (format) {
    case "i8":
      for (let i = outOffset; i < end; i++, p++) out[i] = view.getInt8(p);
      return;
    case "u8":
      for (let i = outOffset; i < end; i++, p++) out[i] = view.getUint8(p);
      return;
    case "i16le":
      for (let i = outOffset; i < end; i++, p += 2) out[i] = view.getInt16(p, true);
      return;
    case "i16be":
      for (let i = outOffset; i < end; i++, p += 2) out[i] = view.getInt16(p, false);
      return;
    case "u16le":
      for (let i = outOffset; i < end; i++, p += 2) out[i] = view.getUint16(p, true);
      return;
    case "u16be":
      for (let i = outOffset; i < end; i++, p += 2) out[i] = view.getUint16(p, false);
      return;
    case "i32le":
      for (let i = outOffset; i < end; i++, p += 4) out[i] = view.getInt32(p, true);
      return;
    case "i32be":
      for (let i = outOffset; i < end; i++, p += 4) out[i] = view.getInt32(p, false);
      return;
    case "f32le":
      for (let i = outOffset; i < end; i++, p += 4) out[i] = view.getFloat32(p, true);
      return;
    case "f32be":
      for (let i = outOffset; i < end; i++, p += 4) out[i] = view.getFloat32(p, false);
      return;
    case "f64le":
      for (let i = outOffset; i < end; i++, p += 8) out[i] = view.getFloat64(p, true);
      return;
    case "f64be":
      for (let i = outOffset; i < end; i++, p += 8) out[i] = view.getFloat64(p, false);
      return;
    default:
      throw unknownFormat(format);
  }
}

/**
 * Writes `count` samples from `input[inOffset..]` at byte `byteOffset` of `view`. Integer formats
 * round half away from zero and saturate (NaN writes 0); float formats store the nearest value.
 */
export function encodeSamples(
  format: SampleFormat,
  view: DataView,
  byteOffset: number,
  input: Float64Array,
  inOffset: number,
  count: number,
): void {
  let p = byteOffset;
  const end = inOffset + count;
  switch (format) {
    case "i8":
      for (let i = inOffset; i < end; i++, p++) view.setInt8(p, toInt(input[i]!, -128, 127));
      return;
    case "u8":
      for (let i = inOffset; i < end; i++, p++) view.setUint8(p, toInt(input[i]!, 0, 255));
      return;
    case "i16le":
      for (let i = inOffset; i < end; i++, p += 2) {
        view.setInt16(p, toInt(input[i]!, -32768, 32767), true);
      }
      return;
    case "i16be":
      for (let i = inOffset; i < end; i++, p += 2) {
        view.setInt16(p, toInt(input[i]!, -32768, 32767), false);
      }
      return;
    case "u16le":
      for (let i = inOffset; i < end; i++, p += 2) {
        view.setUint16(p, toInt(input[i]!, 0, 65535), true);
      }
      return;
    case "u16be":
      for (let i = inOffset; i < end; i++, p += 2) {
        view.setUint16(p, toInt(input[i]!, 0, 65535), false);
      }
      return;
    case "i32le":
      for (let i = inOffset; i < end; i++, p += 4) {
        view.setInt32(p, toInt(input[i]!, -2147483648, 2147483647), true);
      }
      return;
    case "i32be":
      for (let i = inOffset; i < end; i++, p += 4) {
        view.setInt32(p, toInt(input[i]!, -2147483648, 2147483647), false);
      }
      return;
    case "f32le":
      for (let i = inOffset; i < end; i++, p += 4) view.setFloat32(p, input[i]!, true);
      return;
    case "f32be":
      for (let i = inOffset; i < end; i++, p += 4) view.setFloat32(p, input[i]!, false);
      return;
    case "f64le":
      for (let i = inOffset; i < end; i++, p += 8) view.setFloat64(p, input[i]!, true);
      return;
    case "f64be":
      for (let i = inOffset; i < end; i++, p += 8) view.setFloat64(p, input[i]!, false);
      return;
    default:
      throw unknownFormat(format);
  }
}

function unknownFormat(format: never): Error {
  return new TypeError(`Unknown sample format "${String(format)}"`);
}
