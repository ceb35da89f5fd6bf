import assert from "node:assert/strict";
import { DatagramBatch } from "../../../ffi/udp_socket.ts";
import { warmUp } from "../../../src/channel/warm_up.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";

Deno.test("warmUp pushes its datagrams through private loopback sockets and closes them", async () => {
  const batch = new DatagramBatch(64, 65536);
  await assertNoFdLeak(() => {
    const r = warmUp({ batch, destinations: 3, record: true, datagrams: 5000, maxMs: 30_000 });
    assert.ok(r.datagrams >= 5000, `only ${r.datagrams} datagrams`);
  });
  // the channel's batch was really used: its slots hold the last synthetic datagrams
  assert.ok(batch.count > 0);
  assert.ok(batch.lengths[0]! > 0);
});

Deno.test("warmUp stops at its time budget", () => {
  const batch = new DatagramBatch(64, 2048);
  const r = warmUp({ batch, destinations: 1, record: false, datagrams: 1e12, maxMs: 50 });
  assert.ok(r.datagrams > 0, "nothing went through");
  assert.ok(r.ms < 1000, `ran ${r.ms} ms against a 50 ms budget`);
});
