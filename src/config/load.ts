/**
 * Loading the configuration: YAML file or text, or an object built from flags, validated by the
 * one schema with every problem reported (file, line, column, key path).
 */
import type { z } from "zod";
import { type ChanrelayConfig, configSchema, describeValue } from "./schema.ts";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { type KeyPath, parseYaml, type SourcePosition } from "./yaml.ts";

/** The environment variable naming the default config file. */
export const CONFIG_ENV = "CHANRELAY_CONFIG";

/** Where a config object came from, for problem messages. */
export type ConfigOrigin =
  /** A plain object; `name` (if any) prefixes each message. */
  | { kind: "object"; name?: string }
  /** Built from command-line flags: `flagFor` names the flag behind a key path. */
  | { kind: "flags"; flagFor: (keyPath: KeyPath) => string | undefined };

/** A loaded config plus the source positions of its keys (for later messages, e.g. probes). */
export interface LoadedConfig {
  /** The typed config. */
  config: ChanrelayConfig;
  /** The file name as given. */
  file: string;
  /** The position of a key path's value (or key), or of its nearest existing parent. */
  locate(path: KeyPath, at?: "value" | "key"): SourcePosition;
}

/** `flag ?? $CHANRELAY_CONFIG`, or undefined when neither is set (or the variable is empty). */
export function resolveConfigPath(flag?: string): string | undefined {
  if (flag !== undefined && flag !== "") return flag;
  let env: string | undefined;
  try {
    env = Deno.env.get(CONFIG_ENV);
  } catch {
    env = undefined; // no --allow-env: as if unset
  }
  return env === undefined || env === "" ? undefined : env;
}

/** Formats a key path: `channels.adc0.relay[1].to`. */
export function formatKeyPath(path: KeyPath): string {
  let s = "";
  for (const seg of path) {
    if (typeof seg === "number") s += `[${seg}]`;
    else s += s === "" ? seg : `.${seg}`;
  }
  return s;
}

function readError(file: string, e: unknown): ConfigError {
  const code = (e as { code?: string })?.code;
  const why = code ?? (e instanceof Error ? e.message : String(e));
  return new ConfigError([
    { file, line: 0, column: 0, keyPath: "", message: `Cannot read "${file}": ${why}` },
  ]);
}

/** Reads, parses and validates a YAML config file (synchronously: it is small). @throws ConfigError */
export function loadConfigFile(path: string): ChanrelayConfig {
  return loadConfigFileWithPositions(path).config;
}

/** Like `loadConfigFile`, keeping source positions. @throws ConfigError */
export function loadConfigFileWithPositions(path: string): LoadedConfig {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw readError(path, e);
  }
  return loadConfigTextWithPositions(text, path);
}

/** Parses and validates YAML text; `fileName` appears in messages. @throws ConfigError */
export function loadConfigText(text: string, fileName: string): ChanrelayConfig {
  return loadConfigTextWithPositions(text, fileName).config;
}

/** Like `loadConfigText`, keeping source positions. @throws ConfigError */
export function loadConfigTextWithPositions(text: string, fileName: string): LoadedConfig {
  const y = parseYaml(text);
  if (y.problems.length > 0) {
    throw new ConfigError(y.problems.map((p) => ({
      file: fileName,
      line: p.line,
      column: p.column,
      keyPath: formatKeyPath(p.path),
      message: p.message,
    })));
  }
  const value = y.value === undefined ? {} : y.value;
  const found = collectProblems(value);
  if (found.length > 0) {
    const problems = found.map((f): ConfigProblem => {
      const p = y.locate(f.path, f.at);
      return {
        file: fileName,
        line: p.line,
        column: p.column,
        keyPath: formatKeyPath(f.path),
        message: f.message,
      };
    });
    throw new ConfigError(sortProblems(problems));
  }
  const config = configSchema.parse(value);
  return { config, file: fileName, locate: (path, at) => y.locate(path, at) };
}

/**
 * Validates a config object (e.g. built from flags, or YAML already parsed). @throws ConfigError
 */
export function validateConfigObject(
  obj: unknown,
  origin: ConfigOrigin = { kind: "object" },
): ChanrelayConfig {
  const found = collectProblems(obj);
  if (found.length === 0) return configSchema.parse(obj);
  throw new ConfigError(found.map((f): ConfigProblem => {
    const keyPath = formatKeyPath(f.path);
    const problem: ConfigProblem = { file: "", line: 0, column: 0, keyPath, message: f.message };
    if (origin.kind === "flags") {
      const flag = origin.flagFor(f.path);
      if (flag !== undefined) problem.flag = flag;
    } else if (origin.name !== undefined) problem.file = origin.name;
    return problem;
  }));
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map((x) => x.p)
    .filter((p) => {
      const k = `${p.line}:${p.column}:${p.keyPath}:${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
}

// ---------------------------------------------------------------------------------------------
// zod issues to problems

interface Found {
  path: (string | number)[];
  /** Point at the key (unknown keys, bad names) rather than the value. */
  at: "value" | "key";
  message: string;
}

/** Every problem of `obj` against the schema (empty when valid). */
export function collectProblems(obj: unknown): Found[] {
  const r = configSchema.safeParse(obj);
  if (r.success) return [];
  const out: Found[] = [];
  for (const issue of r.error.issues) out.push(...issueToProblems(issue, obj));
  return out;
}

type Issue = z.core.$ZodIssue;

function toPath(p: readonly PropertyKey[]): (string | number)[] {
  return p.map((s) => (typeof s === "number" ? s : String(s)));
}

function lookup(root: unknown, path: KeyPath): { found: boolean; value: unknown } {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, seg)) {
      return { found: false, value: undefined };
    }
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return { found: true, value: cur };
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping",
  record: "a mapping",
  array: "a list",
};

function issueToProblems(issue: Issue, root: unknown): Found[] {
  const path = toPath(issue.path);
  const raw = lookup(root, path);
  const last = path[path.length - 1];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => ({
        path: [...path, k],
        at: "key" as const,
        message: `Unknown key "${k}"${suggest(k, knownKeys(path))}`,
      }));
    case "invalid_key":
      return [{ path, at: "key", message: issue.issues[0]?.message ?? issue.message }];
    case "invalid_type": {
      if (!raw.found && typeof last === "string") {
        return [{ path, at: "value", message: `Missing required key "${last}"` }];
      }
      if (path.length === 0) {
        return [{
          path,
          at: "value",
          message: `The config must be a mapping (data_dir, channels, …), got ${
            describeValue(raw.value)
          }`,
        }];
      }
      if (!issue.message.startsWith("Invalid input")) {
        return [{ path, at: "value", message: issue.message }];
      }
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      return [{
        path,
        at: "value",
        message: `Expected ${expected}, got ${describeValue(raw.value)}`,
      }];
    }
    case "too_small": {
      if (issue.origin === "string") return [{ path, at: "value", message: "Must not be empty" }];
      if (!issue.message.startsWith("Too small")) {
        return [{ path, at: "value", message: issue.message }];
      }
      const v = describeValue(raw.value);
      const message = issue.inclusive === false
        ? `${v} must be greater than ${issue.minimum}`
        : `${v} is below the minimum ${issue.minimum}`;
      return [{ path, at: "value", message }];
    }
    case "too_big": {
      if (!issue.message.startsWith("Too big")) {
        return [{ path, at: "value", message: issue.message }];
      }
      const v = describeValue(raw.value);
      const message = issue.inclusive === false
        ? `${v} must be less than ${issue.maximum}`
        : `${v} is above the maximum ${issue.maximum}`;
      return [{ path, at: "value", message }];
    }
    case "invalid_value": {
      const values = issue.values.map((v) => describeValue(v));
      const hint = typeof raw.value === "string"
        ? suggest(raw.value, issue.values.filter((v): v is string => typeof v === "string"))
        : "";
      return [{
        path,
        at: "value",
        message: `Expected one of ${values.join(", ")}, got ${describeValue(raw.value)}${hint}`,
      }];
    }
    default:
      return [{ path, at: "value", message: issue.message }];
  }
}

// ---------------------------------------------------------------------------------------------
// "did you mean"

/** The minimal view of a zod schema's definition needed to find an object's keys by path. */
interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  in?: { _zod: { def: Def } };
  valueType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
}

function unwrap(def: Def): Def {
  let d = def;
  for (let i = 0; i < 20; i++) {
    if (d.innerType) d = d.innerType._zod.def;
    else if (d.type === "pipe" && d.in) d = d.in._zod.def;
    else break;
  }
  return d;
}

/** The keys the schema allows in the mapping at `path`. */
export function knownKeys(path: KeyPath): string[] {
  let def = unwrap((configSchema as unknown as { _zod: { def: Def } })._zod.def);
  for (const seg of path) {
    if (def.type === "object" && def.shape && typeof seg === "string") {
      const next = def.shape[seg];
      if (!next) return [];
      def = unwrap(next._zod.def);
    } else if (def.type === "record" && def.valueType) {
      def = unwrap(def.valueType._zod.def);
    } else if (def.type === "array" && def.element) {
      def = unwrap(def.element._zod.def);
    } else return [];
  }
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    d.push([i]);
    for (let j = 1; j <= b.length; j++) d[i]![j] = i === 0 ? j : 0;
  }
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** `` (did you mean "x"?)`` for the closest candidate, or "" when none is close. */
export function suggest(word: string, candidates: readonly string[]): string {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = norm(c) === norm(word) ? 0 : editDistance(word, c);
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  const limit = word.length <= 3 ? 1 : word.length <= 6 ? 2 : 3;
  return best !== undefined && bestD <= limit ? ` (did you mean "${best}"?)` : "";
}
