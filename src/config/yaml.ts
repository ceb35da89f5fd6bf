/**
 * The one thin wrapper around the YAML library (npm:yaml): parsing with positions, syntax errors,
 * duplicate keys and locating a key path in the source. A later switch touches only this file.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseDocument,
} from "yaml";

/** A key path into the parsed value: mapping keys and list indexes. */
export type KeyPath = readonly (string | number)[];

/** A 1-based source position. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** A problem found while parsing the YAML itself. */
export interface YamlProblem extends SourcePosition {
  /** Where it is in the value, when known (duplicate keys), else empty. */
  path: KeyPath;
  message: string;
}

/** A parsed YAML document: its value, its problems and a way to find positions of key paths. */
export interface ParsedYaml {
  /** The value (mappings as plain objects); undefined for an empty document. */
  readonly value: unknown;
  /** Syntax errors and duplicate keys, in source order. */
  readonly problems: YamlProblem[];
  /**
   * The position of `path`: of its value, or of its key when `at` is "key". When the path does
   * not exist, the position of the deepest mapping or list on the way (`exact` false).
   */
  locate(path: KeyPath, at?: "value" | "key"): SourcePosition & { exact: boolean };
}

interface Found {
  node: YamlNode | null;
  key: YamlNode | null;
}

/** Parses YAML text; never throws for bad input (problems are returned). */
export function parseYaml(text: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: false,
    merge: true,
    prettyErrors: false,
  });
  const pos = (offset: number): SourcePosition => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const problems: YamlProblem[] = [];
  for (const e of doc.errors) {
    problems.push({
      ...pos(e.pos[0]),
      path: [],
      message: `YAML syntax error: ${firstSentence(e.message)}`,
    });
  }
  if (problems.length === 0) {
    findDuplicates(doc, doc.contents as YamlNode | null, [], problems, pos);
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);

  let value: unknown;
  if (problems.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      problems.push({
        line: 1,
        column: 1,
        path: [],
        message: `YAML error: ${e instanceof Error ? e.message : String(e)}`,
      });
    }
  }
  if (value === null) value = undefined;

  const locate = (path: KeyPath, at: "value" | "key" = "value") => {
    const root = doc.contents as YamlNode | null;
    let cur: YamlNode | null = resolve(doc, root);
    let last: Found = { node: cur, key: null };
    let fallback: YamlNode | null = cur;
    for (let i = 0; i < path.length; i++) {
      const f: Found | null = cur ? child(doc, cur, path[i]!) : null;
      if (!f) {
        return { ...nodePos(fallback, pos), exact: false };
      }
      last = f;
      cur = resolve(doc, f.node);
      if (cur && (isMap(cur) || isSeq(cur))) fallback = cur;
      else if (i < path.length - 1) return { ...nodePos(fallback, pos), exact: false };
    }
    const value = last.node;
    const emptyValue = !value || !value.range ||
      (isScalar(value) && value.range[0] === value.range[1]);
    if (at === "key" || emptyValue) {
      if (last.key) return { ...nodePos(last.key, pos), exact: true };
    }
    return { ...nodePos(value ?? fallback, pos), exact: true };
  };
  return { value, problems, locate };
}

function firstSentence(message: string): string {
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "").replace(/\.$/, "");
}

function nodePos(node: YamlNode | null, pos: (o: number) => SourcePosition): SourcePosition {
  if (!node || !node.range) return { line: 1, column: 1 };
  return pos(node.range[0]);
}

function resolve(doc: Document, node: YamlNode | null): YamlNode | null {
  let n = node;
  for (let i = 0; i < 100 && n && isAlias(n); i++) {
    n = (n.resolve(doc) as YamlNode | undefined) ?? null;
  }
  return n;
}

function keyText(node: unknown): string | undefined {
  if (isScalar(node)) return String(node.value);
  return undefined;
}

/** The child `seg` of a mapping (last match, then merged mappings) or list. */
function child(doc: Document, node: YamlNode, seg: string | number): Found | null {
  if (isSeq(node)) {
    const i = typeof seg === "number" ? seg : Number(seg);
    const item = node.items[i];
    if (!Number.isInteger(i) || item === undefined) return null;
    return { node: item as YamlNode | null, key: null };
  }
  if (!isMap(node)) return null;
  let found: Found | null = null;
  for (const pair of node.items) {
    if (isPair(pair) && keyText(pair.key) === String(seg)) {
      found = { node: pair.value as YamlNode | null, key: pair.key as YamlNode | null };
    }
  }
  if (found) return found;
  for (const pair of node.items) {
    if (isPair(pair) && keyText(pair.key) === "<<") {
      const v = resolve(doc, pair.value as YamlNode | null);
      const sources = v && isSeq(v) ? v.items.map((x) => resolve(doc, x as YamlNode)) : [v];
      for (const s of sources) {
        if (s && isMap(s)) {
          const f = child(doc, s, seg);
          if (f) return f;
        }
      }
    }
  }
  return null;
}

function findDuplicates(
  doc: Document,
  node: YamlNode | null,
  path: (string | number)[],
  out: YamlProblem[],
  pos: (o: number) => SourcePosition,
): void {
  if (!node) return;
  if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicates(doc, item as YamlNode, [...path, i], out, pos));
    return;
  }
  if (!isMap(node)) return;
  const seen = new Map<string, SourcePosition>();
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const k = keyText(pair.key);
    if (k === undefined) continue;
    const here = nodePos(pair.key as YamlNode, pos);
    const first = seen.get(k);
    if (first && k !== "<<") {
      out.push({
        ...here,
        path: [...path, k],
        message: `Duplicate key "${k}" (first at line ${first.line})`,
      });
    } else seen.set(k, here);
    findDuplicates(doc, pair.value as YamlNode | null, [...path, k], out, pos);
  }
}
