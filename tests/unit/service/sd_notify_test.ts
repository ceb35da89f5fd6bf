import assert from "node:assert/strict";
import { UnixDatagramSocket, writeSockaddrUn } from "../../../ffi/unix_datagram.ts";
import { DENO, ROOT } from "../../helpers/env.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";

/** Receives every datagram queued on `sock` (it has a short receive timeout). */
function drain(sock: UnixDatagramSocket): string[] {
  const buf = new Uint8Array(4096);
  const out: string[] = [];
  for (;;) {
    const n = sock.recv(buf);
    if (n === null) return out;
    out.push(new TextDecoder().decode(buf.subarray(0, n)));
  }
}

/** Runs a child Deno process that calls the sd_notify helpers with `env`. */
async function child(env: Record<string, string>): Promise<string> {
  const script = `
    import * as n from "${ROOT}src/service/sd_notify.ts";
    const r = [
      n.notifyStatus("Starting 2 channels"),
      n.notifyReady("Relaying 2 channels"),
      n.notifyReloading(),
      n.notifyReady(),
      n.notifyStatus("line one\\nline two"),
      n.notifyStopping(),
    ];
    console.log(JSON.stringify(r));
  `;
  const out = await new Deno.Command(DENO, {
    args: ["eval", "--frozen", script],
    cwd: ROOT,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

function checkMessages(got: string[], before: number, after: number): void {
  assert.equal(got.length, 6, JSON.stringify(got));
  assert.equal(got[0], "STATUS=Starting 2 channels");
  assert.equal(got[1], "READY=1\nSTATUS=Relaying 2 channels");
  const m = /^RELOADING=1\nMONOTONIC_USEC=([0-9]+)$/.exec(got[2]!);
  assert.ok(m, got[2]);
  const usec = Number(m[1]);
  assert.ok(usec >= before && usec <= after, `MONOTONIC_USEC ${usec} in [${before}, ${after}]`);
  assert.equal(got[3], "READY=1");
  assert.equal(got[4], "STATUS=line one line two", "a status stays on one line");
  assert.equal(got[5], "STOPPING=1");
}

/** CLOCK_MONOTONIC in microseconds, as systemd reads it. */
async function monotonicUsec(): Promise<number> {
  const { monotonicNs } = await import("../../../ffi/clock.ts");
  return Math.floor(monotonicNs() / 1000);
}

Deno.test("sd_notify messages arrive in order at a socket path named by NOTIFY_SOCKET", async () => {
  const dir = await Deno.makeTempDir();
  await assertNoFdLeak(async () => {
    using sock = UnixDatagramSocket.create();
    sock.bind(`${dir}/notify.sock`);
    sock.setRecvTimeout(200);
    const before = await monotonicUsec();
    const r = await child({ NOTIFY_SOCKET: `${dir}/notify.sock` });
    const after = await monotonicUsec();
    assert.equal(r, JSON.stringify([true, true, true, true, true, true]));
    checkMessages(drain(sock), before, after);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sd_notify messages arrive at an abstract socket (@name)", async () => {
  if (Deno.build.os !== "linux") return; // abstract sockets are Linux-only
  const name = `@chanrelay-test-${Deno.pid}-${crypto.randomUUID()}`;
  using sock = UnixDatagramSocket.create();
  sock.bind(name);
  sock.setRecvTimeout(200);
  const before = await monotonicUsec();
  const r = await child({ NOTIFY_SOCKET: name });
  const after = await monotonicUsec();
  assert.equal(r, JSON.stringify([true, true, true, true, true, true]));
  checkMessages(drain(sock), before, after);
});

Deno.test("sd_notify is a no-op returning false without NOTIFY_SOCKET, and false for a missing socket", async () => {
  assert.equal(await child({}), JSON.stringify([false, false, false, false, false, false]));
  const dir = await Deno.makeTempDir();
  try {
    const r = await child({ NOTIFY_SOCKET: `${dir}/nobody-listens.sock` });
    assert.equal(r, JSON.stringify([false, false, false, false, false, false]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sockaddr_un layout: family, NUL-terminated path, abstract names start with NUL", () => {
  const buf = new Uint8Array(110);
  if (Deno.build.os === "darwin") {
    assert.equal(writeSockaddrUn(buf, "/a"), 2 + 3);
    assert.deepEqual([...buf.subarray(0, 5)], [5, 1, 0x2f, 0x61, 0]);
  } else {
    assert.equal(writeSockaddrUn(buf, "/a"), 2 + 3);
    assert.deepEqual([...buf.subarray(0, 5)], [1, 0, 0x2f, 0x61, 0]);
    assert.equal(writeSockaddrUn(buf, "@x"), 2 + 2);
    assert.deepEqual([...buf.subarray(0, 5)], [1, 0, 0, 0x78, 0]);
  }
  assert.throws(() => writeSockaddrUn(buf, "/" + "x".repeat(200)), RangeError);
  assert.throws(() => writeSockaddrUn(buf, ""), RangeError);
});
