import assert from "node:assert/strict";
import { C } from "../../../ffi/constants.ts";
import { ErrnoError } from "../../../ffi/errno.ts";
import { MappedFile, pageSize } from "../../../ffi/mapped_file.ts";
import { dirTestWithoutFdLeak } from "../../helpers/fds.ts";
import { canRunInNamespace, lastJsonLine, runUnshared, shellQuote } from "../../helpers/netns.ts";

const PAGE = pageSize();

/** Runs `fn` with a fresh temp dir, checking that no descriptor leaks across it. */
function mappedTest(name: string, fn: (dir: string) => void, ignore = false): void {
  dirTestWithoutFdLeak("chanrelay_mapped_", name, fn, ignore);
}

function pattern(i: number): number {
  return (i * 131 + 7) & 255;
}

/** Resident kilobytes of the mapping starting at `address`, from /proc/self/smaps. */
function residentKb(address: bigint): number {
  const smaps = Deno.readTextFileSync("/proc/self/smaps");
  const start = smaps.indexOf(`${address.toString(16)}-`);
  assert.ok(start >= 0, `mapping 0x${address.toString(16)} not in /proc/self/smaps`);
  const m = /^Rss:\s+(\d+) kB$/m.exec(smaps.slice(start));
  assert.ok(m !== null, "no Rss line");
  return Number(m[1]);
}

mappedTest(
  "MappedFile: bytes written through the view are in the file after unmap and close",
  (dir) => {
    const path = `${dir}/data.bin`;
    const f = MappedFile.create(path);
    const length = 3 * PAGE + 123;
    f.allocate(0, length);
    assert.equal(f.size(), length);
    const r = f.map(0, length);
    const b = r.bytes;
    assert.equal(b.length, length);
    for (let i = 0; i < length; i++) b[i] = pattern(i);
    r.unmap();
    f.close();
    const back = Deno.readFileSync(path);
    assert.equal(back.length, length);
    for (let i = 0; i < length; i++) {
      if (back[i] !== pattern(i)) assert.fail(`byte ${i} is ${back[i]}, wrote ${pattern(i)}`);
    }
  },
);

mappedTest("MappedFile: a region at a page-aligned offset writes at that file offset", (dir) => {
  const path = `${dir}/offset.bin`;
  const f = MappedFile.create(path);
  try {
    f.allocate(0, 4 * PAGE);
    const r = f.map(2 * PAGE, PAGE);
    assert.equal(r.offset, 2 * PAGE);
    r.bytes.fill(0xab);
    r.msync(true);
    const back = Deno.readFileSync(path);
    assert.equal(back[2 * PAGE - 1], 0);
    assert.equal(back[2 * PAGE], 0xab);
    assert.equal(back[3 * PAGE - 1], 0xab);
    assert.equal(back[3 * PAGE], 0);
  } finally {
    f.close();
  }
});

mappedTest(
  "MappedFile: a view taken before unmap is detached by it and bytes then throws",
  (dir) => {
    const f = MappedFile.create(`${dir}/detach.bin`);
    try {
      f.allocate(0, PAGE);
      const r = f.map(0, PAGE);
      const view = r.bytes;
      view[0] = 1;
      assert.equal(f.mappedRegions, 1);
      r.unmap();
      assert.equal(r.unmapped, true);
      assert.equal(f.mappedRegions, 0);
      assert.equal(view.length, 0);
      assert.equal(view.byteLength, 0);
      assert.equal(view[0], undefined); // reads nothing instead of faulting
      assert.throws(() => r.bytes, (e: unknown) => e instanceof ErrnoError && e.code === "EBADF");
      assert.throws(() => r.address, ErrnoError);
      assert.throws(() => r.msync(false), ErrnoError);
      r.unmap(); // twice is safe
    } finally {
      f.close();
    }
  },
);

mappedTest("MappedFile: close is safe twice and unmaps the regions still mapped", (dir) => {
  const f = MappedFile.create(`${dir}/close.bin`);
  f.allocate(0, 2 * PAGE);
  const a = f.map(0, PAGE);
  const b = f.map(PAGE, PAGE);
  const viewA = a.bytes;
  assert.equal(f.mappedRegions, 2);
  f.close();
  assert.equal(f.fd, -1);
  assert.equal(f.mappedRegions, 0);
  assert.equal(a.unmapped, true);
  assert.equal(b.unmapped, true);
  assert.equal(viewA.length, 0);
  f.close();
  assert.throws(() => f.size(), (e: unknown) => e instanceof ErrnoError && e.code === "EBADF");
  assert.throws(() => f.map(0, PAGE), ErrnoError);
});

mappedTest(
  "MappedFile: msync, madvise, prefault, fsync and fdatasync succeed on a mapped file",
  (dir) => {
    const path = `${dir}/sync.bin`;
    const f = MappedFile.create(path);
    try {
      const length = 64 * PAGE;
      f.allocate(0, length);
      const r = f.map(0, length);
      r.bytes.set([1, 2, 3], 5000);
      r.msync(false);
      r.msync(true);
      r.msync(true, 5000, 3); // widened to the page that holds it
      r.msync(false, PAGE + 1, 10);
      assert.deepEqual([...Deno.readFileSync(path).subarray(5000, 5003)], [1, 2, 3]);
      for (
        const advice of [C.MADV_RANDOM, C.MADV_SEQUENTIAL, C.MADV_WILLNEED, C.MADV_NORMAL]
      ) r.madvise(advice);
      r.madvise(C.MADV_RANDOM, 3 * PAGE + 17, PAGE);
      assert.throws(
        () => r.madvise(0x7fff_0000),
        (e: unknown) => e instanceof ErrnoError && e.syscall === "madvise" && e.code === "EINVAL",
      );
      f.fsync();
      f.fdatasync();
    } finally {
      f.close();
    }
  },
);

mappedTest(
  "MappedFile: populate sets up the pages of the range for writing and changes no byte",
  (dir) => {
    const f = MappedFile.create(`${dir}/populate.bin`);
    try {
      const length = 32 * PAGE;
      f.allocate(0, length);
      const r = f.map(0, length);
      r.bytes[3 * PAGE + 5] = 7;
      r.madvise(C.MADV_DONTNEED); // nothing of this mapping resident, the byte is in the file
      assert.equal(residentKb(r.address), 0);
      assert.equal(r.populate(2 * PAGE, 4 * PAGE), true);
      assert.equal(residentKb(r.address) * 1024, 4 * PAGE);
      assert.equal(r.bytes[3 * PAGE + 5], 7);
      assert.equal(r.populate(0, 0), false); // nothing to do
      assert.throws(() => r.populate(length, 1), RangeError);
    } finally {
      f.close();
    }
  },
  Deno.build.os !== "linux", // residency is read from /proc/self/smaps
);

mappedTest(
  "MappedFile: prefault makes every page of the range resident and keeps its bytes",
  (dir) => {
    const f = MappedFile.create(`${dir}/prefault.bin`);
    try {
      const length = 32 * PAGE;
      f.allocate(0, length);
      const r = f.map(0, length);
      r.madvise(C.MADV_DONTNEED); // nothing of this mapping resident yet
      assert.equal(residentKb(r.address), 0);
      r.prefault(0, 8 * PAGE);
      assert.equal(residentKb(r.address) * 1024, 8 * PAGE);
      r.bytes[20 * PAGE] = 42;
      r.prefault(10 * PAGE + 1, 1); // widened to its page
      assert.equal(residentKb(r.address) * 1024, 10 * PAGE);
      r.prefault();
      assert.equal(residentKb(r.address) * 1024, length);
      assert.equal(r.bytes[20 * PAGE], 42);
      assert.equal(r.bytes[0], 0);
    } finally {
      f.close();
    }
  },
  Deno.build.os !== "linux", // residency is read from /proc/self/smaps
);

mappedTest(
  "MappedFile: truncate sets the logical length that size() and the file report",
  (dir) => {
    const path = `${dir}/trunc.bin`;
    const f = MappedFile.create(path);
    try {
      f.allocate(0, 3 * 65536 + 5, 65536); // in four chunks
      assert.equal(f.size(), 3 * 65536 + 5);
      const r = f.map(0, PAGE);
      r.bytes.set([9, 8, 7, 6, 5, 4, 3]);
      r.unmap();
      f.truncate(5);
      assert.equal(f.size(), 5);
      assert.deepEqual([...Deno.readFileSync(path)], [9, 8, 7, 6, 5]);
      f.allocate(0, 2 * PAGE);
      assert.equal(f.size(), 2 * PAGE);
    } finally {
      f.close();
    }
  },
);

mappedTest(
  "MappedFile: map rejects an offset that is not page-aligned and an empty length",
  (dir) => {
    const f = MappedFile.create(`${dir}/align.bin`);
    try {
      f.allocate(0, 2 * PAGE);
      assert.throws(() => f.map(100, PAGE), RangeError);
      assert.throws(() => f.map(PAGE + 1, 10), /not page-aligned/);
      assert.throws(() => f.map(0, 0), RangeError);
      assert.equal(f.mappedRegions, 0);
    } finally {
      f.close();
    }
  },
);

mappedTest(
  "MappedFile: opening a missing file fails with ENOENT and the path in the message",
  (dir) => {
    const path = `${dir}/missing.bin`;
    assert.throws(() => MappedFile.open(path), (e: unknown) => {
      assert.ok(e instanceof ErrnoError);
      assert.equal(e.code, "ENOENT");
      assert.equal(e.message, `Cannot open "${path}": ENOENT`);
      return true;
    });
  },
);

mappedTest("MappedFile: a read-only file maps and reads what another writer put there", (dir) => {
  const path = `${dir}/ro.bin`;
  Deno.writeFileSync(path, new Uint8Array(PAGE).fill(7));
  const f = MappedFile.open(path, { readOnly: true });
  try {
    const r = f.map(0, PAGE);
    assert.equal(r.bytes[PAGE - 1], 7);
    assert.throws(() => f.allocate(0, 2 * PAGE), (e: unknown) => e instanceof ErrnoError);
  } finally {
    f.close();
  }
});

Deno.test({
  name: "MappedFile.allocate on a full tmpfs throws ENOSPC and the process lives on",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name, false)) return;
    const dir = await Deno.makeTempDir({ prefix: "chanrelay_enospc_" });
    try {
      const r = await runUnshared(
        ["-m", "--propagation", "private"],
        [`mount -t tmpfs -o size=1m tmpfs ${shellQuote(dir)}`],
        new URL("../../fixtures/ffi/allocate_enospc_child.ts", import.meta.url),
        [dir],
        { timeoutMs: 20_000 },
      );
      const out = lastJsonLine<Record<string, unknown>>(r);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(out.code, "ENOSPC", JSON.stringify(out));
      assert.equal(out.syscall, "allocate");
      assert.match(String(out.message), /^Cannot allocate ".*full\.bin @\d+\+\d+": ENOSPC$/);
      assert.equal(out.allocatedStillWritable, true);
      assert.equal(out.alive, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
