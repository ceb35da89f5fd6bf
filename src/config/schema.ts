/**
 * The one configuration schema: the source of the TypeScript types, the defaults, the validation
 * (with cross-field checks) and the JSON Schema for editors (see json_schema.ts).
 *
 * Keys are snake_case as written in YAML. Parsing turns addresses into `{ip, port, text}`, sizes
 * into bytes and durations into milliseconds.
 */
import { z } from "zod";
import { isMulticast, parseAddress, parseIPv4 } from "../../ffi/inet.ts";
import {
  DURATION_HINT,
  DURATION_PATTERN,
  formatDuration,
  formatSize,
  parseDuration,
  parseSize,
  SIZE_HINT,
  SIZE_PATTERN,
} from "./units.ts";
import { isSampleFormat, SAMPLE_FORMATS, sampleSize } from "../decimate/formats.ts";

/** An IPv4 socket address as parsed from `"HOST:PORT"`; `ip` is host order. */
export interface Address {
  /** The address as a host-order unsigned 32-bit number. */
  readonly ip: number;
  /** The UDP port. */
  readonly port: number;
  /** The text as written in the config. */
  readonly text: string;
}

/** An IPv4 address (no port) as parsed from a dotted quad. */
export interface IPv4Address {
  /** The address as a host-order unsigned 32-bit number. */
  readonly ip: number;
  /** The text as written in the config. */
  readonly text: string;
}

/** Channel names: what `channels` keys must match. */
export const CHANNEL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The default record file name template (UTC time tokens). */
export const DEFAULT_TEMPLATE = "{channel}-{yyyy}{MM}{dd}T{HH}{mm}{ss}Z";

/** Tokens a record file name template may use. */
export const TEMPLATE_TOKENS = ["channel", "yyyy", "MM", "dd", "HH", "mm", "ss"] as const;

/** Sample formats for `decimate.samples.format` (the decimator's own list). */
export { SAMPLE_FORMATS };

/** Sequence number types for `decimate.samples.seq.type`. */
export const SEQ_TYPES = ["u16le", "u16be", "u32le", "u32be", "u64le", "u64be"] as const;

/** Bytes of each sequence number type. */
export const SEQ_BYTES: Record<(typeof SEQ_TYPES)[number], number> = {
  u16le: 2,
  u16be: 2,
  u32le: 4,
  u32be: 4,
  u64le: 8,
  u64be: 8,
};

/** The largest UDP payload over IPv4 (an output datagram's upper bound). */
const MAX_UDP_PAYLOAD = 65507;

/** Describes a value for a message: strings quoted, numbers bare, other kinds by name. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "an empty value";
  if (typeof v === "string") return `"${v}"`;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return "a list";
  return "a mapping";
}

/** The value as written, quoted, for "Cannot parse" messages. */
function quoted(v: string | number): string {
  return `"${v}"`;
}

// ---------------------------------------------------------------------------------------------
// Scalars

interface AddressOptions {
  /** Accept port 0 (pick one). */
  zeroPort?: boolean;
  /** Reject 0.0.0.0 (a destination must be a real host or group). */
  destination?: boolean;
  description: string;
  examples: string[];
}

function addressSchema(o: AddressOptions) {
  return z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? undefined
          : `Expected "HOST:PORT" (e.g. ${o.examples[0]}), got ${describeValue(iss.input)}`,
    })
    .transform((text, ctx): Address => {
      const r = parseAddress(text.trim(), o.zeroPort ?? false);
      if (!r.ok) {
        ctx.addIssue({ code: "custom", message: `Cannot parse ${quoted(text)}: ${r.reason}` });
        return z.NEVER;
      }
      if (o.destination && r.value.ip === 0) {
        ctx.addIssue({
          code: "custom",
          message: `Cannot parse ${quoted(text)}: not a destination address`,
        });
        return z.NEVER;
      }
      return { ip: r.value.ip, port: r.value.port, text };
    })
    .meta({
      description: o.description,
      examples: o.examples,
      pattern: "^([0-9.]+|localhost|\\*)?:[0-9]{1,5}$",
    });
}

function ipv4Schema(what: "interface" | "source", description: string) {
  return z
    .string({ error: (iss) => `Expected an IPv4 address, got ${describeValue(iss.input)}` })
    .transform((text, ctx): IPv4Address => {
      const ip = parseIPv4(text.trim());
      let reason: string | undefined;
      if (ip === null) reason = "not an IPv4 address";
      else if (isMulticast(ip)) {
        reason = `a multicast address cannot be ${what === "source" ? "a source" : "an interface"}`;
      } else if (ip === 0 && what === "source") reason = "0.0.0.0 cannot be a source";
      if (reason !== undefined || ip === null) {
        ctx.addIssue({ code: "custom", message: `Cannot parse ${quoted(text)}: ${reason}` });
        return z.NEVER;
      }
      return { ip, text };
    })
    .meta({
      description,
      examples: ["10.0.0.2"],
      pattern: "^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$",
    });
}

interface RangeOptions {
  /** Smallest allowed value (bytes or ms). */
  min?: number;
  /** Largest allowed value. */
  max?: number;
  /** Allow 0 even when below `min` (0 = off). */
  zeroOff?: boolean;
  /** Must be a multiple of this. */
  multipleOf?: number;
}

function sizeSchema(description: string, r: RangeOptions = {}) {
  return z
    .union([z.string(), z.number()], {
      error: (iss) =>
        `Expected a size (e.g. 512KiB, 8MiB or a number of bytes), got ${describeValue(iss.input)}`,
    })
    .transform((v, ctx): number => {
      const p = parseSize(v);
      const message = !p.ok ? p.reason : rangeProblem(v, p.value, r, formatSize);
      if (message !== undefined) {
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
      }
      return (p as { value: number }).value;
    })
    .meta({ description, pattern: SIZE_PATTERN, examples: ["64KiB", "8MiB", "1GiB"] });
}

function durationSchema(description: string, r: RangeOptions = {}) {
  return z
    .union([z.string(), z.number()], {
      error: (iss) =>
        `Expected a duration (e.g. 500ms, 10s, 1h30m or a number of seconds), got ${
          describeValue(iss.input)
        }`,
    })
    .transform((v, ctx): number => {
      const p = parseDuration(v);
      const message = !p.ok ? p.reason : rangeProblem(v, p.value, r, formatDuration);
      if (message !== undefined) {
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
      }
      return (p as { value: number }).value;
    })
    .meta({ description, pattern: DURATION_PATTERN, examples: ["500ms", "10s", "1h30m"] });
}

function rangeProblem(
  written: string | number,
  value: number,
  r: RangeOptions,
  format: (n: number) => string,
): string | undefined {
  if (value === 0 && r.zeroOff) return undefined;
  const shown = typeof written === "number" ? String(written) : quoted(written);
  if (r.min !== undefined && value < r.min) {
    return `${shown} is below the minimum ${format(r.min)}`;
  }
  if (r.max !== undefined && value > r.max) {
    return `${shown} is above the maximum ${format(r.max)}`;
  }
  if (r.multipleOf !== undefined && value % r.multipleOf !== 0) {
    return `${shown} is not a multiple of ${format(r.multipleOf)}`;
  }
  return undefined;
}

function relativePathProblem(text: string): string | undefined {
  if (text.startsWith("/") || /^[A-Za-z]:[\\/]/.test(text) || text.startsWith("\\")) {
    return "it is an absolute path";
  }
  const segments = text.split(/[\\/]/);
  if (segments.includes("..")) return 'it contains a ".." segment';
  if (segments.some((s) => s === "")) return "it has an empty path segment";
  return undefined;
}

const templateSchema = z
  .string({ error: (iss) => `Expected a file name template, got ${describeValue(iss.input)}` })
  .superRefine((t, ctx) => {
    const bad = relativePathProblem(t);
    if (bad !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: `Cannot use template "${t}": ${bad}, so files could leave the record directory`,
      });
      return;
    }
    const stripped = t.replace(/\{([^{}]*)\}/g, (all, name: string) => {
      if (!(TEMPLATE_TOKENS as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: "custom",
          message: `Unknown token "${all}" in template "${t}" (use ${
            TEMPLATE_TOKENS.map((n) => `{${n}}`).join(" ")
          })`,
        });
      }
      return "x";
    });
    if (/[{}]/.test(stripped)) {
      ctx.addIssue({ code: "custom", message: `Unbalanced "{" or "}" in template "${t}"` });
    }
  })
  .meta({
    description: "File name (without extension) from {channel} and UTC time tokens " +
      "{yyyy} {MM} {dd} {HH} {mm} {ss}; may contain / for subdirectories of the record dir",
    examples: [DEFAULT_TEMPLATE, "{yyyy}/{MM}/{dd}/{channel}-{HH}{mm}{ss}"],
  });

const dirSchema = z
  .string({ error: (iss) => `Expected a directory path, got ${describeValue(iss.input)}` })
  .superRefine((d, ctx) => {
    const bad = relativePathProblem(d);
    if (bad !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: `Cannot use dir "${d}": ${bad}; it must stay inside data_dir`,
      });
    }
  })
  .meta({ description: "Directory relative to data_dir (default: the channel name)" });

const ttlSchema = z.int().min(0).max(255).default(1).meta({
  description: "Multicast TTL (hops) of sent datagrams",
});
const loopSchema = z.boolean().default(false).meta({
  description: "IP_MULTICAST_LOOP: deliver sent multicast to listeners on this host too",
});

// ---------------------------------------------------------------------------------------------
// Objects

/**
 * TTL 0 keeps multicast on this host; a unicast socket refuses it (IP_TTL is 1 to 255), so it is
 * a config error there rather than a channel that fails to start.
 */
function checkUnicastTtl(
  to: Address | undefined,
  ttl: number | undefined,
  // (runs even when other fields failed: `to` may then be anything)
  ctx: { addIssue(issue: { code: "custom"; path: string[]; message: string }): void },
): void {
  if (ttl !== 0 || typeof to !== "object" || to === null || typeof to.ip !== "number") return;
  if (!isMulticast(to.ip)) {
    ctx.addIssue({
      code: "custom",
      path: ["ttl"],
      message:
        `TTL 0 applies only to a multicast destination; "${to.text}" is unicast (use 1 to 255)`,
    });
  }
}

/** Cross-field checks run even when other fields failed, as long as the value is a mapping. */
const WHEN_OBJECT = {
  when: (p: { value: unknown }) => typeof p.value === "object" && p.value !== null,
};

/** A relay destination as written. */
export const relayDestinationSchema = z
  .strictObject({
    to: addressSchema({
      destination: true,
      description: "Destination HOST:PORT (unicast or multicast GROUP:PORT)",
      examples: ["239.10.0.1:6000", "127.0.0.1:7000"],
    }),
    ttl: z.int().min(0).max(255).optional().meta({
      description: "TTL (hops) of sent datagrams: default 1 for a multicast destination, " +
        "the system's default (64) for unicast",
    }),
    loop: loopSchema,
    interface: ipv4Schema("interface", "Interface address the datagrams leave by").optional(),
  })
  .superRefine((d, ctx) => checkUnicastTtl(d.to, d.ttl, ctx), WHEN_OBJECT)
  .meta({ title: "Relay destination" });

/** A channel's `record` block. */
export const recordSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: "Record this channel" }),
    dir: dirSchema.optional(),
    template: templateSchema.default(DEFAULT_TEMPLATE),
    block_size: sizeSchema("Close an Avro block at this size", { min: 1024, max: 64 * 2 ** 20 })
      .prefault("64KiB"),
    block_interval: durationSchema("Close a non-empty block after this long", {
      min: 1,
      max: 3_600_000,
    }).prefault("500ms"),
    msync_every: z.int().min(0).default(4096).meta({
      description: "msync(MS_ASYNC) every N datagrams (0: never)",
    }),
    fsync_interval: durationSchema(
      "Flush committed blocks to disk (MS_SYNC/fdatasync) at least this often",
      { min: 1 },
    ).prefault("1s"),
    rotate_size: sizeSchema("Start a new file at this size", { min: 65536 }).prefault("1GiB"),
    rotate_every: durationSchema(
      "Start a new file at every UTC-aligned multiple of this duration (0 or absent: off)",
      { min: 1000, zeroOff: true },
    ).prefault(0),
    keep_files: z.int().min(1).optional().meta({
      description: "Keep at most this many finished files",
    }),
    keep_size: sizeSchema("Keep at most this many bytes of finished files", { min: 1 })
      .optional(),
    keep_age: durationSchema("Delete finished files older than this", { min: 1000 }).optional(),
    prealloc_chunk: sizeSchema(
      "Preallocate and map the file in chunks of this size (a multiple of 64KiB)",
      { min: 256 * 1024, multipleOf: 65536 },
    ).prefault("8MiB"),
  })
  .superRefine((r, ctx) => {
    const bs = r.block_size;
    if (typeof bs !== "number") return;
    if (typeof r.rotate_size === "number" && r.rotate_size < bs) {
      ctx.addIssue({
        code: "custom",
        path: ["rotate_size"],
        message: `rotate_size (${formatSize(r.rotate_size)}) is smaller than block_size (${
          formatSize(bs)
        })`,
      });
    }
    if (typeof r.prealloc_chunk === "number" && r.prealloc_chunk < bs) {
      ctx.addIssue({
        code: "custom",
        path: ["prealloc_chunk"],
        message: `prealloc_chunk (${formatSize(r.prealloc_chunk)}) is smaller than block_size (${
          formatSize(bs)
        })`,
      });
    }
  }, WHEN_OBJECT)
  .meta({ title: "Recording", description: "Record every datagram into Avro files" });

/** `decimate.samples`. */
export const samplesSchema = z
  .strictObject({
    format: z.enum(SAMPLE_FORMATS).meta({ description: "Sample format" }),
    channels: z.int().min(1).max(1024).default(1).meta({
      description: "Interleaved channels per sample frame",
    }),
    header_bytes: z.int().min(0).max(MAX_UDP_PAYLOAD).default(0).meta({
      description: "Leading bytes of each datagram copied through, not filtered",
    }),
    seq: z
      .strictObject({
        offset: z.int().min(0).default(0).meta({ description: "Byte offset in the header" }),
        type: z.enum(SEQ_TYPES).meta({ description: "Integer type of the sequence number" }),
      })
      .optional()
      .meta({ description: "Sequence number in the header, to detect gaps" }),
    cutoff: z.number().gt(0).max(1).default(0.8).meta({
      description: "Pass band edge as a fraction of the new Nyquist frequency",
    }),
    max_datagram: z.int().min(1).max(MAX_UDP_PAYLOAD).default(1472).meta({
      description: "Largest output datagram in bytes",
    }),
  })
  .superRefine((s, ctx) => {
    const hb = s.header_bytes;
    if (typeof hb !== "number") return;
    if (s.seq && typeof s.seq.offset === "number" && s.seq.type in SEQ_BYTES) {
      const end = s.seq.offset + SEQ_BYTES[s.seq.type];
      if (end > hb) {
        ctx.addIssue({
          code: "custom",
          path: ["seq", "offset"],
          message: `The sequence number (bytes ${s.seq.offset}..${end}) does not fit in ` +
            `header_bytes (${hb})`,
        });
      }
    }
    if (typeof s.max_datagram === "number" && isSampleFormat(s.format)) {
      const frame = sampleSize(s.format) * (typeof s.channels === "number" ? s.channels : 1);
      if (hb + frame > s.max_datagram) {
        ctx.addIssue({
          code: "custom",
          path: ["header_bytes"],
          message: `header_bytes (${hb}) plus one sample frame (${frame} bytes) is larger ` +
            `than max_datagram (${s.max_datagram})`,
        });
      }
    }
  }, WHEN_OBJECT)
  .meta({ title: "Sample decimation" });

/** The `decimate` block as validated, before it is narrowed by mode. */
const decimateObject = z
  .strictObject({
    to: addressSchema({
      destination: true,
      description: "Where the decimated stream goes (usually a multicast GROUP:PORT)",
      examples: ["239.20.0.1:7000"],
    }),
    ttl: ttlSchema,
    loop: loopSchema,
    interface: ipv4Schema("interface", "Interface address the datagrams leave by").optional(),
    mode: z.enum(["packet", "rate", "samples"]).default("packet").meta({
      description: "packet: every factor-th datagram; rate: at most max_rate datagrams/s; " +
        "samples: low-pass filter and keep 1 sample in factor",
    }),
    factor: z.int().min(1).optional().meta({ description: "Decimation factor" }),
    max_rate: z.number().gt(0).optional().meta({
      description: "rate mode: datagrams per second",
    }),
    samples: samplesSchema.optional(),
  })
  .superRefine((d, ctx) => {
    checkUnicastTtl(d.to, d.ttl, ctx);
    const mode = d.mode;
    const need = (key: "factor" | "max_rate" | "samples") => {
      if (d[key] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `Missing required key "${key}" for mode "${mode}"`,
        });
      }
    };
    const forbid = (key: "factor" | "max_rate" | "samples", only: string) => {
      if (d[key] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `"${key}" applies only to mode ${only}, not "${mode}"`,
        });
      }
    };
    if (mode === "packet") {
      need("factor");
      forbid("max_rate", '"rate"');
      forbid("samples", '"samples"');
    } else if (mode === "rate") {
      need("max_rate");
      forbid("factor", '"packet" or "samples"');
      forbid("samples", '"samples"');
    } else if (mode === "samples") {
      need("factor");
      need("samples");
      forbid("max_rate", '"rate"');
    }
  }, WHEN_OBJECT);

type DecimateObject = z.output<typeof decimateObject>;
type DecimateCommon = Pick<DecimateObject, "to" | "ttl" | "loop" | "interface">;
/** `decimate.samples` after parsing. */
export type SamplesConfig = z.output<typeof samplesSchema>;
/** The decimation settings of a channel, narrowed by `mode`. */
export type DecimateConfig =
  & DecimateCommon
  & (
    | { mode: "packet"; factor: number }
    | { mode: "rate"; max_rate: number }
    | { mode: "samples"; factor: number; samples: SamplesConfig }
  );

/** A channel's `decimate` block. */
export const decimateSchema = decimateObject
  .transform((d): DecimateConfig => {
    const common: DecimateCommon = { to: d.to, ttl: d.ttl, loop: d.loop };
    if (d.interface) (common as { interface?: IPv4Address }).interface = d.interface;
    switch (d.mode) {
      case "packet":
        return { ...common, mode: "packet", factor: d.factor! };
      case "rate":
        return { ...common, mode: "rate", max_rate: d.max_rate! };
      case "samples":
        return { ...common, mode: "samples", factor: d.factor!, samples: d.samples! };
    }
  })
  .meta({ title: "Decimation", description: "A decimated copy of the stream, off the hot path" });

function isAddress(v: unknown): v is Address {
  return typeof v === "object" && v !== null && typeof (v as Address).ip === "number" &&
    typeof (v as Address).port === "number" && typeof (v as Address).text === "string";
}

/** One channel as written, without its name. */
export const channelSchema = z
  .strictObject({
    listen: addressSchema({
      zeroPort: true,
      description: "GROUP:PORT joins a multicast group; HOST:PORT binds unicast",
      examples: ["239.1.1.1:5000", "0.0.0.0:5000"],
    }),
    source: ipv4Schema("source", "Source address for a source-specific join (multicast only)")
      .optional(),
    interface: ipv4Schema("interface", "Interface address for the join and the sends").optional(),
    rcvbuf: sizeSchema("Socket receive buffer (SO_RCVBUF)", { min: 4096, max: 2 ** 31 - 1 })
      .prefault("8MiB"),
    max_datagram: z.int().min(1).max(65535).default(65535).meta({
      description: "Largest datagram received whole (slot size); longer ones are truncated",
    }),
    relay: z
      .array(relayDestinationSchema, {
        error: (iss) => `Expected a list of destinations, got ${describeValue(iss.input)}`,
      })
      .min(1, { error: "At least one relay destination is required" })
      .meta({ description: "Where every datagram is sent" }),
    record: recordSchema.optional(),
    decimate: decimateSchema.optional(),
  })
  .superRefine((c, ctx) => {
    const listen = isAddress(c.listen) ? c.listen : undefined;
    if (listen && isMulticast(listen.ip) && listen.port === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["listen"],
        message: `Cannot parse "${listen.text}": a multicast listen address needs a port`,
      });
    }
    if (c.source !== undefined && listen && !isMulticast(listen.ip)) {
      ctx.addIssue({
        code: "custom",
        path: ["source"],
        message: `A source-specific join needs a multicast listen address, ` +
          `but listen is "${listen.text}"`,
      });
    }
    const same = (a: Address, b: Address) => a.ip === b.ip && a.port === b.port;
    if (Array.isArray(c.relay)) {
      const seen: Address[] = [];
      c.relay.forEach((r, i) => {
        const to = isAddress(r?.to) ? r.to : undefined;
        if (!to) return;
        if (listen && same(to, listen)) {
          ctx.addIssue({
            code: "custom",
            path: ["relay", i, "to"],
            message: `Relaying to "${to.text}" would feed the channel's own input`,
          });
        }
        const j = seen.findIndex((s) => same(s, to));
        if (j >= 0) {
          ctx.addIssue({
            code: "custom",
            path: ["relay", i, "to"],
            message: `Duplicate destination "${to.text}" (also relay[${j}])`,
          });
        }
        seen.push(to);
      });
    }
    const dto = (c.decimate as { to?: unknown } | undefined)?.to;
    if (listen && isAddress(dto) && same(dto, listen)) {
      ctx.addIssue({
        code: "custom",
        path: ["decimate", "to"],
        message: `Decimating to "${dto.text}" would feed the channel's own input`,
      });
    }
    const samples = (c.decimate as { samples?: { header_bytes?: unknown } } | undefined)?.samples;
    const hb = samples?.header_bytes;
    if (typeof hb === "number" && typeof c.max_datagram === "number" && hb >= c.max_datagram) {
      ctx.addIssue({
        code: "custom",
        path: ["decimate", "samples", "header_bytes"],
        message: `header_bytes (${hb}) leaves no samples in a datagram of max_datagram ` +
          `(${c.max_datagram}) bytes`,
      });
    }
  }, WHEN_OBJECT)
  .meta({ title: "Channel" });

const logSchema = z
  .strictObject({
    level: z.enum(["debug", "info", "warn", "error"]).default("info").meta({
      description: "Least severe level logged",
    }),
    format: z.enum(["text", "json"]).default("text").meta({
      description: "text: logfmt lines; json: JSON lines (both on stderr)",
    }),
  })
  .meta({ title: "Logging" });

/** The default number of decimator Workers: one per core but one, at least one. */
export function defaultDecimateWorkers(): number {
  const cores = typeof navigator !== "undefined" ? navigator.hardwareConcurrency ?? 1 : 1;
  return Math.max(1, cores - 1);
}

const metricsSchema = z
  .string({
    error: (iss) => `Expected "HOST:PORT" or "" (disabled), got ${describeValue(iss.input)}`,
  })
  .transform((text, ctx): Address | null => {
    if (text.trim() === "") return null;
    const r = parseAddress(text.trim(), true);
    if (!r.ok) {
      ctx.addIssue({ code: "custom", message: `Cannot parse ${quoted(text)}: ${r.reason}` });
      return z.NEVER;
    }
    return { ip: r.value.ip, port: r.value.port, text };
  })
  .prefault("127.0.0.1:9464")
  .meta({
    description: 'Metrics and status page server HOST:PORT; "" disables it',
    examples: ["127.0.0.1:9464", ""],
    pattern: "^(|([0-9.]+|localhost|\\*)?:[0-9]{1,5})$",
  });

const channelsSchema = z
  .record(
    z.string().regex(CHANNEL_NAME, {
      error: (iss) => `Channel name ${describeValue(iss.input)} must be 1 to 64 of A-Z a-z 0-9 _ -`,
    }),
    channelSchema,
    {
      error: (iss) =>
        `Expected a mapping of channel names to channels, got ${describeValue(iss.input)}`,
    },
  )
  .superRefine((m, ctx) => {
    if (Object.keys(m).length === 0) {
      ctx.addIssue({ code: "custom", message: "At least one channel is required" });
    }
  })
  .meta({ description: "Channels by name", minProperties: 1 });

const topObject = z
  .strictObject({
    data_dir: z.string().min(1).default("./data").meta({
      description: "Where recordings go (relative to the working directory)",
    }),
    metrics: metricsSchema,
    stats_interval: durationSchema("How often each channel logs a stats line", { min: 100 })
      .prefault("10s"),
    log: logSchema.prefault({}),
    decimate_workers: z.int().min(1).max(1024).default(defaultDecimateWorkers).meta({
      description: "Decimator Workers (default: cores - 1, at least 1)",
    }),
    channels: channelsSchema,
  })
  .superRefine((c, ctx) => {
    if (typeof c.channels !== "object" || c.channels === null) return;
    const byAddr = new Map<string, string>();
    for (const [name, ch] of Object.entries(c.channels)) {
      const l = (ch as { listen?: unknown } | undefined)?.listen;
      if (!isAddress(l) || isMulticast(l.ip) || l.port === 0) continue;
      const key = `${l.ip}:${l.port}`;
      const other = byAddr.get(key);
      if (other !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["channels", name, "listen"],
          message: `Channel "${other}" already listens on "${l.text}"`,
        });
      } else byAddr.set(key, name);
    }
  }, WHEN_OBJECT)
  .meta({ title: "chanrelay configuration" });

type TopObject = z.output<typeof topObject>;
type ChannelObject = z.output<typeof channelSchema>;
type RecordObject = z.output<typeof recordSchema>;

/** A channel's recording settings after parsing; `dir` is resolved, `path` is data_dir/dir. */
export type RecordConfig = Omit<RecordObject, "dir"> & {
  /** Directory relative to data_dir (the channel name unless set). */
  dir: string;
  /** `data_dir` joined with `dir`. */
  path: string;
};

/** A relay destination after parsing. */
export type RelayDestination = z.output<typeof relayDestinationSchema>;

/** One channel after parsing. */
export type ChannelConfig = Omit<ChannelObject, "record" | "decimate"> & {
  /** The channel's name (its key under `channels`). */
  name: string;
  /** Recording, when the channel has a `record` block (check `enabled`). */
  record?: RecordConfig;
  /** Decimation, when the channel has a `decimate` block. */
  decimate?: DecimateConfig;
};

/** The whole configuration after parsing. */
export type ChanrelayConfig = Omit<TopObject, "channels"> & {
  /** Channels by name, in the order written. */
  channels: Record<string, ChannelConfig>;
};

/** Log settings after parsing. */
export type LogConfig = TopObject["log"];

function joinDir(base: string, dir: string): string {
  return base.endsWith("/") ? base + dir : `${base}/${dir}`;
}

/** The schema of the whole file: parse with `safeParse`, or better with load.ts. */
export const configSchema = topObject.transform((c): ChanrelayConfig => {
  const channels: Record<string, ChannelConfig> = {};
  for (const [name, ch] of Object.entries(c.channels)) {
    const { record, decimate, ...rest } = ch;
    const out: ChannelConfig = { ...rest, name };
    if (record) {
      const dir = record.dir ?? name;
      out.record = { ...record, dir, path: joinDir(c.data_dir, dir) };
    }
    if (decimate) out.decimate = decimate;
    channels[name] = out;
  }
  return { ...c, channels };
});

/** What a user writes (all defaults optional): the input side of `configSchema`. */
export type ChanrelayConfigInput = z.input<typeof configSchema>;

/** Size and duration hints, re-exported for messages elsewhere. */
export { DURATION_HINT, SIZE_HINT };
