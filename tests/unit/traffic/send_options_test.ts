import assert from "node:assert/strict";
import { openSendSocket, parseSendOptions } from "../../../src/cli/send.ts";
import { parseListenOptions } from "../../../src/cli/listen.ts";
import { UsageError } from "../../../src/cli/usage.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";

Deno.test("parseSendOptions applies the defaults and reads every flag", () => {
  const d = parseSendOptions(["--to", "127.0.0.1:7000"]);
  assert.deepEqual(
    { rate: d.rate, size: d.size, batch: d.batch, count: d.count, ttl: d.ttl, json: d.json },
    { rate: 0, size: 64, batch: 32, count: undefined, ttl: undefined, json: false },
  );
  const o = parseSendOptions([
    "--to=239.1.2.3:5000",
    "--rate",
    "1500.5",
    "--size",
    "1400",
    "--count",
    "10",
    "--duration",
    "2.5",
    "--ttl",
    "4",
    "--interface",
    "127.0.0.1",
    "--bind",
    "127.0.0.1:0",
    "--batch",
    "8",
    "--json",
  ]);
  assert.equal(o.rate, 1500.5);
  assert.equal(o.size, 1400);
  assert.equal(o.count, 10);
  assert.equal(o.durationS, 2.5);
  assert.equal(o.ttl, 4);
  assert.equal(o.iface, 0x7f000001);
  assert.deepEqual(o.bind, { ip: 0x7f000001, port: 0 });
  assert.equal(o.batch, 8);
  assert.equal(o.json, true);
});

Deno.test("parseSendOptions and parseListenOptions name the flag and the value they reject", () => {
  const bad: Array<[() => unknown, RegExp]> = [
    [() => parseSendOptions([]), /--to: missing/],
    [() => parseSendOptions(["--to", "0.0.0.0:5"]), /--to: "0\.0\.0\.0:5"/],
    [() => parseSendOptions(["--to", "1.2.3.4:5", "--ttl", "300"]), /--ttl: "300"/],
    [() => parseSendOptions(["--to", "1.2.3.4:5", "--batch", "0"]), /--batch: "0"/],
    [() => parseSendOptions(["--to", "1.2.3.4:5", "--count", "1.5"]), /--count: .*"1\.5"/],
    [() => parseSendOptions(["--to", "1.2.3.4:5", "--interface", "eth0"]), /--interface: .*"eth0"/],
    [() => parseListenOptions(["--on", "127.0.0.1:0", "--count", "0"]), /--count: "0"/],
    [() => parseListenOptions(["--on", "127.0.0.1:0", "--duration", "0"]), /--duration: "0"/],
    [() => parseListenOptions(["--on", "239.1.1.1:0"]), /--on: "239\.1\.1\.1:0"/],
  ];
  for (const [fn, re] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof UsageError && re.test(e.message));
  }
});

Deno.test("openSendSocket sets multicast TTL 1 by default and the --ttl given", async () => {
  await assertNoFdLeak(() => {
    const def = openSendSocket(parseSendOptions(["--to", "239.1.2.3:5000"]));
    try {
      assert.equal(def.multicastTtl(), 1);
    } finally {
      def.close();
    }
    const seven = openSendSocket(
      parseSendOptions(["--to", "239.1.2.3:5000", "--ttl", "7", "--interface", "127.0.0.1"]),
    );
    try {
      assert.equal(seven.multicastTtl(), 7);
    } finally {
      seven.close();
    }
  });
});
