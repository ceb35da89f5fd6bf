import assert from "node:assert/strict";
import { DENO, ROOT } from "../helpers/env.ts";

Deno.test("demo relays its built-in traffic to every receiver without loss, records all of it into ./data and exits 0 after --duration", async () => {
  const dir = Deno.makeTempDirSync();
  const out = await new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      "--frozen",
      `${ROOT}main.ts`,
      "demo",
      "--duration",
      "3",
      "--quiet",
      "--base-port",
      "47300",
      "--data-dir",
      `${dir}/data`,
      "--metrics",
      "",
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const lines = stdout.split("\n").filter((l) => /^\s+(adc0|adc1|gps)\s+sent/.test(l));
  assert.equal(lines.length, 3, stdout);
  for (const l of lines) {
    const m = /sent (\d+), relayed to (\d+) destination\(s\), delivered ([\d /]+), lost (\d+)/.exec(
      l,
    );
    assert.ok(m, l);
    const sent = Number(m[1]);
    assert.ok(sent > 0, l);
    const delivered = m[3]!.split("/").map((s) => Number(s.trim()));
    assert.equal(delivered.length, Number(m[2]));
    for (const d of delivered) assert.equal(d, sent, l);
    assert.equal(m[4], "0", l);
    const rec = /recorded (\d+) in (\d+) file/.exec(l);
    assert.ok(rec, l);
    assert.equal(Number(rec[1]), sent, `recorded all: ${l}`);
  }
  for (const ch of ["adc0", "adc1", "gps"]) {
    const files = [...Deno.readDirSync(`${dir}/data/${ch}`)].map((e) => e.name);
    assert.ok(files.some((f) => f.endsWith(".avro")), `${ch}: ${files.join(", ")}`);
    assert.ok(!files.some((f) => f.endsWith(".inprogress")), `${ch}: ${files.join(", ")}`);
  }
  assert.match(stdout, /decimated \d+/);
});
