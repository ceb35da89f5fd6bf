/**
 * `deno task compile`: builds the single `dist/chanrelay` binary with `deno compile`, worker
 * modules included and permissions baked in. Extra arguments pass through (e.g.
 * `--target aarch64-apple-darwin --output dist/chanrelay-aarch64-apple-darwin`).
 *
 * `deno compile` needs the `denort` runtime of this Deno version. It downloads it unless
 * `DENORT_BIN` names a denort binary or the zip is in the Deno cache; when none of that works this
 * script stops with a message saying so.
 */
import { PERMISSIONS, V8_FLAGS } from "./compile_flags.ts";

const DENO_VERSION = "2.9.6";
const ROOT = new URL("../", import.meta.url).pathname;

const WORKERS = [
  "src/channel/channel_worker.ts",
  "src/cli/demo_traffic_worker.ts",
  "src/decimate/decimator_worker.ts",
];

function hostTarget(): string {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  return Deno.build.os === "darwin" ? `${arch}-apple-darwin` : `${arch}-unknown-linux-gnu`;
}

function denoDir(): string {
  const env = Deno.env.get("DENO_DIR");
  if (env) return env;
  const home = Deno.env.get("HOME") ?? "";
  return Deno.build.os === "darwin"
    ? `${home}/Library/Caches/deno`
    : `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/deno`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const args = [...Deno.args];
const ti = args.indexOf("--target");
const target = ti >= 0 ? args[ti + 1] ?? hostTarget() : hostTarget();
const hasOutput = args.includes("--output") || args.includes("-o");
const denort = Deno.env.get("DENORT_BIN");
const cached = `${denoDir()}/dl/release/v${DENO_VERSION}/denort-${target}.zip`;

const explain = [
  `Cannot get the denort runtime for ${target}: "deno compile" downloads it, and this machine cannot reach the download server.`,
  `Do one of these, then run "deno task compile" again:`,
  `  - set DENORT_BIN=/path/to/denort (the denort binary of Deno ${DENO_VERSION} for ${target}; not the deno binary itself)`,
  `  - put denort-${target}.zip into ${cached.replace(/\/[^/]+$/, "/")}`,
  `  - or build in CI: pushing a tag v* runs .github/workflows/release.yml, which compiles for every platform`,
].join("\n");

if (denort !== undefined && denort !== "" && !exists(denort)) {
  console.error(`DENORT_BIN="${denort}" does not exist.\n\n${explain}`);
  Deno.exit(1);
}

const include = WORKERS.filter((w) => exists(`${ROOT}${w}`)).flatMap((w) => ["--include", w]);
const cmdArgs = [
  "compile",
  "--frozen",
  ...PERMISSIONS,
  V8_FLAGS,
  ...include,
  ...(hasOutput ? [] : ["--output", "dist/chanrelay"]),
  ...args,
  "main.ts",
];
console.error(`deno ${cmdArgs.join(" ")}`);
const out = await new Deno.Command(Deno.execPath(), {
  args: cmdArgs,
  cwd: ROOT,
  stdout: "inherit",
  stderr: "piped",
}).output();
const err = new TextDecoder().decode(out.stderr);
if (!out.success) {
  if (/denort|base binary|error sending request|dns error/i.test(err) && !denort) {
    console.error(
      `${err.split("\n").filter((l) => /error/i.test(l)).slice(0, 2).join("\n")}\n\n${explain}`,
    );
  } else {
    console.error(err);
  }
  Deno.exit(1);
}
if (err.trim()) console.error(err.trim());
console.error(`Built ${hasOutput ? "the binary" : "dist/chanrelay"} for ${target}`);
