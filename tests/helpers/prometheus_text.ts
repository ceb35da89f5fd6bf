/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: it rejects what the
 * spec forbids (bad names, bad escapes, HELP/TYPE twice or after samples, a family split in two,
 * duplicate series, a missing final newline) rather than guessing.
 */

/** One sample. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family. */
export interface PromFamily {
  help: string | null;
  type: string | null;
  readonly samples: PromSample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

function parseValue(s: string, where: string): number {
  if (s === "NaN") return NaN;
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (!FLOAT.test(s)) throw new Error(`${where}: bad value "${s}"`);
  return Number(s);
}

/** The family a sample name belongs to (histogram/summary suffixes fold into their base). */
function familyOf(name: string, families: Map<string, PromFamily>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = families.get(base)?.type;
      if (t === "histogram" || t === "summary") return base;
    }
  }
  return name;
}

/** Parses `text`; throws an Error naming the line on the first violation. */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (text !== "" && !text.endsWith("\n")) throw new Error("The text must end with a line feed");
  const families = new Map<string, PromFamily>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: string | null = null;
  const lines = text.split("\n");
  lines.pop();
  const enter = (name: string, where: string): PromFamily => {
    if (current !== name) {
      if (current !== null) closed.add(current);
      if (closed.has(name)) throw new Error(`${where}: family "${name}" is split in two`);
      current = name;
    }
    let f = families.get(name);
    if (!f) {
      f = { help: null, type: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a comment
      const [, kw, name, rest = ""] = m;
      if (!METRIC.test(name!)) throw new Error(`${where}: bad metric name "${name}"`);
      const f = enter(name!, where);
      if (kw === "HELP") {
        if (f.help !== null) throw new Error(`${where}: second HELP for "${name}"`);
        if (/\\[^\\n]/.test(rest.replaceAll("\\\\", ""))) {
          throw new Error(`${where}: bad escape in HELP`);
        }
        f.help = rest.replaceAll(/\\(\\|n)/g, (_, c) => (c === "n" ? "\n" : "\\"));
      } else {
        if (f.type !== null) throw new Error(`${where}: second TYPE for "${name}"`);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE after samples of "${name}"`);
        if (!TYPES.has(rest)) throw new Error(`${where}: bad type "${rest}"`);
        f.type = rest;
      }
      return;
    }
    // name{labels} value [timestamp]
    const nm = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!nm) throw new Error(`${where}: bad metric name in "${line}"`);
    const name = nm[1]!;
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === "{") {
      pos++;
      for (;;) {
        if (line[pos] === "}") {
          pos++;
          break;
        }
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
        if (!lm) throw new Error(`${where}: bad label at column ${pos + 1}`);
        const ln = lm[1]!;
        if (!LABEL.test(ln) || ln.startsWith("__")) throw new Error(`${where}: bad label "${ln}"`);
        if (ln in labels) throw new Error(`${where}: label "${ln}" twice`);
        pos += lm[0].length;
        let v = "";
        for (;;) {
          const c = line[pos];
          if (c === undefined) throw new Error(`${where}: unterminated label value`);
          if (c === '"') {
            pos++;
            break;
          }
          if (c === "\\") {
            const e = line[pos + 1];
            if (e === "\\") v += "\\";
            else if (e === '"') v += '"';
            else if (e === "n") v += "\n";
            else throw new Error(`${where}: bad escape "\\${e}" in label "${ln}"`);
            pos += 2;
            continue;
          }
          v += c;
          pos++;
        }
        labels[ln] = v;
        if (line[pos] === ",") pos++;
        else if (line[pos] !== "}") throw new Error(`${where}: expected , or } at ${pos + 1}`);
      }
    }
    if (line[pos] !== " ") throw new Error(`${where}: expected a space before the value`);
    const parts = line.slice(pos + 1).split(" ");
    if (parts.length < 1 || parts.length > 2 || parts[0] === "") {
      throw new Error(`${where}: expected "value [timestamp]"`);
    }
    const value = parseValue(parts[0]!, where);
    if (parts.length === 2 && !/^-?[0-9]+$/.test(parts[1]!)) {
      throw new Error(`${where}: bad timestamp`);
    }
    const fam = enter(familyOf(name, families), where);
    const key = name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (series.has(key)) throw new Error(`${where}: duplicate series ${line}`);
    series.add(key);
    fam.samples.push({ name, labels, value });
  });
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`; throws if not exactly one. */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const f = families.get(name);
  if (!f) throw new Error(`No family "${name}"`);
  const hits = f.samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  if (hits.length !== 1) {
    throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
  }
  return hits[0]!.value;
}
