/**
 * Runs inside a fresh network namespace (see traffic_tools_test.ts): an any-source and a
 * source-specific `chanrelay listen` on one group, two `chanrelay send` from 127.0.0.1 and
 * 127.0.0.2 to it; prints `{asm, ssm, sends}` as one JSON line.
 */
const td = new TextDecoder();
const ROOT = new URL("../../", import.meta.url).pathname;
const GROUP = "239.7.7.7:5500";
const COUNT = 3000;

function chanrelay(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", "main.ts", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Reads stderr until the "Listening" line; hands back the rest of the stream's reader. */
async function listening(child: Deno.ChildProcess): Promise<() => Promise<string>> {
  const reader = child.stderr.getReader();
  let err = "";
  while (!err.includes("msg=Listening")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`listen ended before it was ready: ${err}`);
    err += td.decode(value);
  }
  return async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return err;
      err += td.decode(value);
    }
  };
}

const common = ["--on", GROUP, "--interface", "127.0.0.1", "--idle", "1", "--json"];
const asm = chanrelay(["listen", ...common]);
const ssm = chanrelay(["listen", ...common, "--source", "127.0.0.1"]);
const asmRest = await listening(asm);
const ssmRest = await listening(ssm);

const sends = await Promise.all(["127.0.0.1", "127.0.0.2"].map(async (from) => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--frozen",
      "main.ts",
      "send",
      "--to",
      GROUP,
      "--bind",
      `${from}:0`,
      "--ttl",
      "2",
      "--rate",
      "10000",
      "--count",
      String(COUNT),
      "--json",
    ],
    cwd: ROOT,
  }).output();
  if (!out.success) throw new Error(`send from ${from} failed: ${td.decode(out.stderr)}`);
  return JSON.parse(td.decode(out.stdout));
}));

async function report(child: Deno.ChildProcess, rest: () => Promise<string>) {
  const [out, status, err] = await Promise.all([
    new Response(child.stdout).text(),
    child.status,
    rest(),
  ]);
  if (!status.success) throw new Error(`listen failed: ${err}`);
  return JSON.parse(out);
}
console.log(JSON.stringify({
  asm: await report(asm, asmRest),
  ssm: await report(ssm, ssmRest),
  sends,
}));
