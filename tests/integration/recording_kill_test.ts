/**
 * kill -9 of `chanrelay run` while it records under load, many times over one data directory:
 * after each restart every in-progress file of the killed process has been recovered, every
 * reader reads every finished file, every datagram committed before the kill is there once and
 * byte-exact, and seq goes on after the last recovered record.
 *
 * CHANRELAY_KILL_ROUNDS sets the rounds outside CI (CI always runs at least 20).
 */
import assert from "node:assert/strict";
import { IN_CI } from "../helpers/env.ts";
import { ChanrelayProcess, parseLogfmt, tempFile } from "../helpers/relay_process.ts";
import { canReadEverywhere, readEverywhere, type ReadFile } from "../helpers/avro_readers.ts";
import {
  channelStats,
  checkSeq,
  exists,
  freeUdpPort,
  listDir,
  metricsUrl,
  missingUpTo,
  type ReceiverReport,
  recordingYaml,
  statsUntil,
  TrafficProcess,
} from "../fixtures/recording/harness.ts";

const NAME = "kill -9 of chanrelay run under load loses no committed datagram and seq goes on";
const MIN_CI_ROUNDS = 20;
const ROUNDS = Math.max(
  IN_CI ? MIN_CI_ROUNDS : 1,
  Number(Deno.env.get("CHANRELAY_KILL_ROUNDS") ?? MIN_CI_ROUNDS),
);
const CHANNEL = "k";
const RATE = 1500; // datagrams/s, 8..800 bytes: ~0.6 MB/s, a 128 KiB file every ~0.2 s

/** Reads the finished files not read yet into `known`. */
async function readNew(dir: string, known: Map<string, ReadFile>): Promise<void> {
  const fresh = listDir(dir).finished.filter((p) => !known.has(p));
  for (const f of await readEverywhere(fresh)) known.set(f.path, f);
}

/** Recovery reports the daemon logged at start ("Recovered recording … report={…}"). */
function recoveryReports(p: ChanrelayProcess): { path: string; action: string }[] {
  return p.lines.filter((l) => l.includes('msg="Recovered recording"') && l.includes("report="))
    .map((l) => JSON.parse(parseLogfmt(l).report!) as { path: string; action: string });
}

/** One `chanrelay run` of the test, and what /stats said just before it was killed. */
interface Instance {
  spawnMs: number;
  /** committedSeq noted before the kill (-1 if never noted). */
  noted: number;
  /** unrecorded at that moment. */
  unrecorded: number;
}

Deno.test(NAME, async () => {
  if (!canReadEverywhere(NAME)) return;
  const dataDir = Deno.makeTempDirSync({ prefix: "chanrelay-kill-e2e-" });
  const dir = `${dataDir}/${CHANNEL}`;
  const sink = await TrafficProcess.receive();
  const listenPort = freeUdpPort();
  const cfg = tempFile(recordingYaml({
    dataDir,
    channel: CHANNEL,
    listenPort,
    relayPort: sink.port,
    record: {
      block_interval: "50ms",
      prealloc_chunk: "256KiB",
      rotate_size: "128KiB",
      fsync_interval: "200ms",
    },
  }));
  const sender = await TrafficProcess.send(listenPort, RATE);
  await sender.pause();
  const known = new Map<string, ReadFile>();
  const runs: Instance[] = [];
  let p: ChanrelayProcess | null = null;
  let droppedTotal = 0;
  const t0 = performance.now();
  const ms = { start: 0, read: 0, load: 0 };
  let mark = performance.now();
  const phase = (k: keyof typeof ms) => {
    const now = performance.now();
    ms[k] += now - mark;
    mark = now;
  };
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      const killed = listDir(dir);
      const spawnMs = Date.now();
      p = await ChanrelayProcess.run(["--config", cfg]);
      const url = await metricsUrl(p);
      phase("start");

      // every in-progress file (and spare) the killed process left was dealt with before ready
      for (const f of [...killed.inprogress, ...killed.spares]) {
        if (exists(f)) {
          // what the restarted process said about its recordings, to tell why
          const said = p.lines.filter((l) => /recover|recording|Cannot/i.test(l)).join("\n");
          assert.fail(`round ${round}: "${f}" is still there after the restart\n${said}`);
        }
      }
      const reports = recoveryReports(p);
      assert.deepEqual(reports.map((r) => r.path).sort(), killed.inprogress, `round ${round}`);
      for (const r of reports) {
        assert.ok(r.action === "repaired" || r.action === "removed", JSON.stringify(r));
      }
      assert.deepEqual(listDir(dir).other, [], `round ${round}: damaged or stray files`);

      // every reader reads every finished file; seq strictly increases across everything the
      // earlier instances wrote, each datagram at most once and intact
      await readNew(dir, known);
      phase("read");
      const before = [...known.values()].filter((f) => f.startMs < spawnMs);
      const check = checkSeq(before);
      if (round > 0) {
        const prev = runs[round - 1]!;
        const older = before.filter((f) => f.startMs < prev.spawnMs);
        const mine = before.filter((f) => f.startMs >= prev.spawnMs);
        const prevEnd = checkSeq(older).lastSeq;
        // the killed instance went on right after what the one before it left
        assert.ok(mine.length > 0, `round ${round}: the killed instance left no file`);
        assert.equal(Math.min(...mine.map((f) => f.firstSeq)), prevEnd + 1, `round ${round}`);
        // everything it committed before the kill is there, but datagrams it counted unrecorded
        assert.ok(
          check.lastSeq >= prev.noted,
          `round ${round}: recovered up to seq ${check.lastSeq}, ${prev.noted} was committed`,
        );
        const missing = missingUpTo(check.gaps, prev.noted) - missingUpTo(check.gaps, prevEnd);
        assert.ok(
          missing <= prev.unrecorded,
          `round ${round}: ${missing} committed-range datagrams missing, ${prev.unrecorded} ` +
            `counted unrecorded; gaps ${JSON.stringify(check.gaps)}`,
        );
        droppedTotal += missing;
      }
      const first = await channelStats(url, CHANNEL);
      assert.ok(first.nextSeq >= check.lastSeq + 1, `round ${round}: nextSeq ${first.nextSeq}`);
      runs.push({ spawnMs, noted: -1, unrecorded: 0 });
      if (round === ROUNDS) break;

      // run under load for a random while, note what is committed, kill -9
      await sender.resume();
      phase("read");
      await statsUntil(url, CHANNEL, (s) => s.recorded > 50, "records");
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 900));
      const s = await channelStats(url, CHANNEL);
      assert.equal(s.recordErrors, 0, `round ${round}: record errors ${JSON.stringify(s)}`);
      assert.ok(
        s.committedSeq > check.lastSeq,
        `round ${round}: nothing committed ${s.committedSeq}`,
      );
      runs[round]!.noted = s.committedSeq;
      runs[round]!.unrecorded = s.unrecorded;
      await p.stop("SIGKILL");
      p = null;
      phase("load");
      // no traffic while the files are read (it would only make the next round slower)
      await sender.pause();
    }

    // a clean stop under load finishes everything
    await sender.resume();
    await new Promise((r) => setTimeout(r, 300));
    const last = await channelStats(await metricsUrl(p!), CHANNEL);
    const stop = await p!.stop("SIGTERM");
    p = null;
    assert.equal(stop.code, 0);
    const end = listDir(dir);
    assert.deepEqual([...end.inprogress, ...end.spares, ...end.other], []);
    await readNew(dir, known);
    const all = [...known.values()];
    const final = checkSeq(all);
    assert.ok(final.lastSeq >= last.committedSeq);
    // rotations happened under the kills (some instance wrote more than one file)
    assert.ok(all.length > runs.length, `${all.length} files from ${runs.length} runs`);
    // the relay delivered only intact datagrams, and recorded ones were sent
    const sent = await sender.stop<{ sent: number }>();
    const relayed = await sink.stop<ReceiverReport>();
    assert.equal(relayed.corrupt, 0);
    assert.equal(relayed.duplicates, 0);
    for (const n of final.streams.keys()) assert.ok(n < sent.sent, `datagram ${n} never sent`);
    console.log(
      `${ROUNDS} kill rounds in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
        `${all.length} files, ${final.records} records up to seq ${final.lastSeq}, ` +
        `${sent.sent} datagrams sent, ${droppedTotal} dropped by the recorder (counted); ` +
        `ms starting ${ms.start.toFixed(0)}, checking ${ms.read.toFixed(0)}, ` +
        `under load ${ms.load.toFixed(0)}`,
    );
  } finally {
    if (p !== null) await p.stop("SIGKILL");
    await sender.stop().catch(() => {});
    await sink.stop().catch(() => {});
    if (Deno.env.get("CHANRELAY_KEEP_DATA")) console.error(`kept ${dataDir}`);
    else Deno.removeSync(dataDir, { recursive: true });
  }
});
