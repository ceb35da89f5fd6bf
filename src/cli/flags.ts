/**
 * The one thin wrapper around the flag parser (`node:util` parseArgs, standing in for @std/cli,
 * which lives on JSR). A later switch touches only this file.
 */
import { parseArgs as nodeParseArgs } from "node:util";
import { UsageError } from "./usage.ts";

/** A flag: string-valued or boolean, optionally repeatable, with a short alias. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

/** Parsed flags and positionals. */
export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Parses `args` against `spec`; unknown flags and missing values are UsageErrors naming them. */
export function parseFlags(
  command: string,
  args: string[],
  spec: Record<string, FlagSpec>,
  allowPositionals = false,
): ParsedFlags {
  try {
    // parseArgs refuses "--rate -5" as ambiguous without naming the value: glue a value that
    // looks like a negative number to its flag, so the flag's own check reports it
    const glued: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const next = args[i + 1];
      if (
        a.startsWith("--") && !a.includes("=") && spec[a.slice(2)]?.type === "string" &&
        next !== undefined && /^-\.?[0-9]/.test(next)
      ) {
        glued.push(`${a}=${next}`);
        i++;
      } else glued.push(a);
    }
    const r = nodeParseArgs({ args: glued, options: spec, strict: true, allowPositionals });
    return { values: r.values as ParsedFlags["values"], positionals: r.positionals };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new UsageError(command, msg.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

/** A string flag's value, or undefined. */
export function str(f: ParsedFlags, name: string): string | undefined {
  const v = f.values[name];
  return typeof v === "string" ? v : undefined;
}

/** A boolean flag's value. */
export function bool(f: ParsedFlags, name: string): boolean {
  return f.values[name] === true;
}

/** A flag that must be a non-negative number (integer unless `float`). */
export function num(
  command: string,
  f: ParsedFlags,
  name: string,
  options: { float?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const v = str(f, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  const ok = v.trim() !== "" && Number.isFinite(n) && (options.float || Number.isInteger(n));
  if (!ok) {
    throw new UsageError(
      command,
      `--${name}: Cannot parse "${v}": not a${options.float ? " number" : "n integer"}`,
    );
  }
  if (options.min !== undefined && n < options.min) {
    throw new UsageError(command, `--${name}: "${v}" is below the minimum ${options.min}`);
  }
  if (options.max !== undefined && n > options.max) {
    throw new UsageError(command, `--${name}: "${v}" is above the maximum ${options.max}`);
  }
  return n;
}
