import assert from "node:assert/strict";
import { C } from "../../../ffi/constants.ts";
import { ErrnoError } from "../../../ffi/errno.ts";
import { MappedFile, mmapLockBusy, pageSize } from "../../../ffi/mapped_file.ts";
import { dirTestWithoutFdLeak } from "../../helpers/fds.ts";
import { mappingsOf } from "../../helpers/smaps.ts";

const PAGE = pageSize();
const BIG = 64 << 20; // a memset of this takes tens of ms here: long enough to act during it

/** Runs `fn` with a fresh temp dir, checking that no descriptor leaks across it. */
function asyncTest(name: string, fn: (dir: string) => Promise<void>, ignore = false): void {
  dirTestWithoutFdLeak("chanrelay_mapped_async_", name, fn, ignore);
}

function isErrno(code: string, syscall?: string) {
  return (e: unknown) =>
    e instanceof ErrnoError && e.code === code && (syscall === undefined || e.syscall === syscall);
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

asyncTest("allocateAsync grows the file and zeroAsync zeroes exactly its range", async (dir) => {
  const path = `${dir}/zero.bin`;
  const f = MappedFile.create(path);
  try {
    const length = 4 * PAGE + 100;
    await f.allocateAsync(0, length);
    assert.equal(f.size(), length);
    const r = f.map(0, length);
    r.bytes.fill(0xee);
    const p = r.zeroAsync(PAGE + 3, 2 * PAGE + 5);
    assert.equal(r.inFlight, 1);
    assert.equal(f.inFlight, 1);
    await p;
    assert.equal(r.inFlight, 0);
    await r.zeroAsync(length - 7); // to the region's end
    r.unmap();
    const back = Deno.readFileSync(path);
    for (let i = 0; i < length; i++) {
      const zero = (i >= PAGE + 3 && i < 3 * PAGE + 8) || i >= length - 7;
      if (back[i] !== (zero ? 0 : 0xee)) assert.fail(`byte ${i} is ${back[i]}`);
    }
  } finally {
    f.close();
  }
});

asyncTest(
  "unmap() refuses while a zeroAsync is in flight and unmapAsync() waits for it",
  async (dir) => {
    const path = `${dir}/busy.bin`;
    const f = MappedFile.create(path);
    try {
      await f.allocateAsync(0, BIG);
      const r = f.map(0, BIG);
      r.bytes.fill(1, BIG - PAGE);
      const zeroing = r.zeroAsync();
      assert.throws(() => r.unmap(), isErrno("EBUSY", "unmap"));
      assert.equal(r.unmapped, false);
      assert.equal(r.bytes.length, BIG); // still mapped, views still attached
      assert.throws(() => f.close(), isErrno("EBUSY", "close"));
      assert.equal(f.mappedRegions, 1);
      assert.ok(f.fd >= 0);
      await r.unmapAsync(); // an munmap under the memset would crash the process
      await zeroing;
      assert.equal(r.unmapped, true);
      assert.equal(f.mappedRegions, 0);
      const tail = new Uint8Array(PAGE);
      using h = await Deno.open(path);
      await h.seek(BIG - PAGE, Deno.SeekMode.Start);
      assert.equal(await h.read(tail), PAGE);
      assert.ok(tail.every((b) => b === 0), "the memset ran to the end before the unmap");
    } finally {
      await f.closeAsync();
    }
  },
);

asyncTest("closeAsync() waits for async calls on the file and its regions", async (dir) => {
  const f = MappedFile.create(`${dir}/close.bin`);
  await f.allocateAsync(0, BIG);
  const r = f.map(0, BIG);
  const calls = [r.zeroAsync(), f.fdatasyncAsync(), r.msyncAsync(false)];
  assert.equal(f.inFlight, 3);
  assert.throws(() => f.close(), isErrno("EBUSY"));
  await f.closeAsync(); // close() would throw if a call were still counted
  await Promise.all(calls);
  assert.equal(f.fd, -1);
  assert.equal(r.unmapped, true);
  await f.closeAsync(); // twice is safe
});

asyncTest(
  "populateAsync makes the range resident and keeps its bytes",
  async (dir) => {
    const f = MappedFile.create(`${dir}/populate.bin`);
    try {
      const length = 32 * PAGE;
      await f.allocateAsync(0, length);
      const r = f.map(0, length);
      r.bytes[20 * PAGE] = 42;
      await r.madviseAsync(C.MADV_DONTNEED);
      assert.equal(residentKb(r.address), 0);
      assert.equal(await r.populateAsync(0, 8 * PAGE), true);
      assert.equal(residentKb(r.address) * 1024, 8 * PAGE);
      assert.equal(await r.populateAsync(10 * PAGE + 1, 1), true); // widened to its page
      assert.equal(residentKb(r.address) * 1024, 9 * PAGE);
      assert.equal(r.bytes[20 * PAGE], 42);
    } finally {
      f.close();
    }
  },
  Deno.build.os !== "linux", // residency is read from /proc/self/smaps; macOS has no POPULATE_WRITE
);

asyncTest("truncateAsync, fsyncAsync and msyncAsync(sync) reach the file", async (dir) => {
  const path = `${dir}/sync.bin`;
  const f = MappedFile.create(path);
  try {
    await f.allocateAsync(0, 2 * PAGE);
    const r = f.map(0, 2 * PAGE);
    r.bytes.set([5, 6, 7], PAGE + 10);
    await r.msyncAsync(true, PAGE + 10, 3);
    await r.unmapAsync();
    await f.truncateAsync(PAGE + 12);
    await f.fsyncAsync();
    await f.fdatasyncAsync();
    assert.equal(f.size(), PAGE + 12);
    assert.deepEqual([...Deno.readFileSync(path).subarray(PAGE + 10)], [5, 6]);
  } finally {
    f.close();
  }
});

asyncTest("async calls report failures as ErrnoErrors and reject bad ranges", async (dir) => {
  const path = `${dir}/errors.bin`;
  Deno.writeFileSync(path, new Uint8Array(PAGE));
  const ro = MappedFile.open(path, { readOnly: true });
  try {
    // posix_fallocate returns its error number: the real reason survives the pool thread
    await assert.rejects(ro.allocateAsync(0, 2 * PAGE), isErrno("EBADF", "allocate"));
    assert.equal(ro.inFlight, 0);
    const r = ro.map(0, PAGE);
    assert.throws(() => r.zeroAsync(1, PAGE), RangeError);
    assert.throws(() => r.zeroAsync(-1, 1), RangeError);
    assert.throws(() => r.populateAsync(0, PAGE + 1), RangeError);
    assert.throws(() => r.msyncAsync(false, PAGE, 1), RangeError);
    await assert.rejects(r.madviseAsync(0x7fff_0000), isErrno("EINVAL", "madvise"));
    r.unmap();
    assert.throws(() => r.zeroAsync(), isErrno("EBADF"));
    assert.throws(() => r.madviseAsync(C.MADV_DONTNEED), isErrno("EBADF"));
  } finally {
    ro.close();
  }
  assert.throws(() => ro.fdatasyncAsync(), isErrno("EBADF"));
  assert.throws(() => ro.allocateAsync(0, PAGE), isErrno("EBADF"));
});

asyncTest(
  "a region being zeroed while others are written keeps every byte in place",
  async (dir) => {
    // two regions of one file: one zeroed on a pool thread while the other is written here
    const HALF = BIG / 4;
    const path = `${dir}/two.bin`;
    const f = MappedFile.create(path);
    try {
      await f.allocateAsync(0, 2 * HALF);
      const a = f.map(0, HALF);
      const b = f.map(HALF, HALF);
      a.bytes.fill(9);
      const zeroing = a.zeroAsync();
      const bb = b.bytes;
      for (let i = 0; i < HALF; i += 4096) bb[i] = (i >>> 12) & 255;
      await zeroing;
      await Promise.all([a.unmapAsync(), b.unmapAsync()]);
      const back = Deno.readFileSync(path);
      assert.ok(back.subarray(0, HALF).every((x) => x === 0));
      for (let i = 0; i < HALF; i += 4096) {
        if (back[HALF + i] !== ((i >>> 12) & 255)) assert.fail(`byte ${HALF + i}`);
      }
    } finally {
      f.close();
    }
  },
);

/** Whether a mapping starts at `address` in /proc/self/maps. */
function isMapped(address: bigint): boolean {
  return Deno.readTextFileSync("/proc/self/maps").includes(`${address.toString(16)}-`);
}

/** The VmFlags of the mapping starting at `address`, from /proc/self/smaps. */
function vmFlags(address: bigint): string[] {
  const smaps = Deno.readTextFileSync("/proc/self/smaps");
  const start = smaps.indexOf(`${address.toString(16)}-`);
  assert.ok(start >= 0, `mapping 0x${address.toString(16)} not in /proc/self/smaps`);
  const m = /^VmFlags:(.*)$/m.exec(smaps.slice(start));
  assert.ok(m !== null, "no VmFlags line");
  return m[1]!.trim().split(/\s+/);
}

asyncTest(
  "mapAsync maps a range whose writes land in the file, with its advice; unmapAsync removes it",
  async (dir) => {
    const path = `${dir}/map_async.bin`;
    const f = MappedFile.create(path);
    try {
      await f.allocateAsync(0, 4 * PAGE);
      assert.throws(() => f.mapAsync(1, PAGE), RangeError);
      assert.throws(() => f.mapAsync(0, 0), RangeError);
      const p = f.mapAsync(PAGE, 2 * PAGE, C.MADV_RANDOM);
      assert.equal(f.inFlight, 1);
      const r = await p;
      assert.equal(r.offset, PAGE);
      assert.equal(r.length, 2 * PAGE);
      assert.equal(f.mappedRegions, 1);
      assert.ok(vmFlags(r.address).includes("rr"), `VmFlags ${vmFlags(r.address).join(" ")}`);
      const view = r.bytes;
      view.fill(0x5a, 0, 10);
      view[2 * PAGE - 1] = 0xa5;
      const address = r.address;
      const done = r.unmapAsync();
      assert.ok(r.unmapped, "the region counts as unmapped at once");
      assert.equal(view.length, 0, "views are detached before the munmap");
      await done;
      assert.equal(f.mappedRegions, 0);
      assert.equal(isMapped(address), false);
      await r.unmapAsync(); // twice is fine
      const back = Deno.readFileSync(path);
      assert.deepEqual([...back.subarray(PAGE, PAGE + 11)], [...new Array(10).fill(0x5a), 0]);
      assert.equal(back[3 * PAGE - 1], 0xa5);
      assert.equal(back[0], 0);
    } finally {
      await f.closeAsync();
    }
  },
  Deno.build.os !== "linux", // mappings are read from /proc/self/maps
);

asyncTest("closeAsync() during mapAsync leaves no mapping behind", async (dir) => {
  const f = MappedFile.create(`${dir}/map_close.bin`);
  f.allocate(0, 8 * PAGE);
  const p = f.mapAsync(0, 8 * PAGE, C.MADV_RANDOM);
  const closed = f.closeAsync();
  const r = await p;
  await closed;
  assert.ok(r.unmapped, "the region mapped during close was unmapped by it");
  assert.equal(f.mappedRegions, 0);
  assert.throws(() => f.mapAsync(0, PAGE), isErrno("EBADF"));
});

asyncTest(
  "mmapLockBusy is true exactly while a mapAsync, unmapAsync or flag madviseAsync is in flight",
  async (dir) => {
    const f = MappedFile.create(`${dir}/lock.bin`);
    try {
      await f.allocateAsync(0, 4 * PAGE);
      assert.equal(mmapLockBusy(), false);
      const mapping = f.mapAsync(0, 4 * PAGE);
      assert.equal(mmapLockBusy(), true, "during mmap");
      const r = await mapping;
      assert.equal(mmapLockBusy(), false, "after mmap");
      const random = r.madviseAsync(C.MADV_RANDOM);
      assert.equal(mmapLockBusy(), true, "during madvise(MADV_RANDOM)");
      await random;
      assert.equal(mmapLockBusy(), false);
      // MADV_DONTNEED and the writes of zeros change no mapping: they do not count
      const dontneed = r.madviseAsync(C.MADV_DONTNEED);
      const zero = r.zeroAsync(0, PAGE);
      assert.equal(mmapLockBusy(), false, "during madvise(MADV_DONTNEED) and zeroAsync");
      await Promise.all([dontneed, zero]);
      const unmapping = r.unmapAsync();
      await Promise.resolve(); // unmapAsync starts munmap once the region's calls are done
      assert.equal(mmapLockBusy(), true, "during munmap");
      await unmapping;
      assert.equal(mmapLockBusy(), false, "after munmap");
      // a failed call stops counting too
      await assert.rejects(f.mapAsync(0, 2 ** 50), isErrno("ENOMEM", "mmap"));
      assert.equal(mmapLockBusy(), false, "after a failed mmap");
    } finally {
      await f.closeAsync();
    }
  },
);

asyncTest(
  "syncRangeAsync writes back exactly its range, also where no region maps it, through a window with no pages",
  async (dir) => {
    const path = `${dir}/sync.bin`;
    const f = MappedFile.create(path);
    try {
      const pages = 16;
      await f.allocateAsync(0, pages * PAGE);
      const r = f.map(0, pages * PAGE);
      r.bytes.fill(0x5a);
      r.unmap(); // the dirty pages stay in the page cache, mapped by nothing
      await f.syncRangeAsync(PAGE + 100, 3 * PAGE); // pages 1 to 4, partly
      // the window: one read-only shared mapping of the whole file, of at least 1 GiB, no page
      const windows = mappingsOf(path);
      assert.equal(windows.length, 1, JSON.stringify(windows));
      const w = windows[0]!;
      assert.ok(w.perms === "r--s" && w.offset === 0 && w.rss === 0, JSON.stringify(w));
      assert.ok(w.size >= 1 << 30, `window of ${w.size} bytes`);
      // read every page through a probe: smaps counts a page dirty when its page-cache page is
      const probe = MappedFile.open(path, { readOnly: true });
      try {
        const parts = [[0, 1], [1, 4], [5, pages - 5]] as const;
        const dirty: number[] = [];
        for (const [first, count] of parts) {
          const v = probe.map(first * PAGE, count * PAGE);
          let sum = 0;
          for (let i = 0; i < v.length; i += PAGE) sum += v.bytes[i]!;
          assert.equal(sum, count * 0x5a);
          const m = mappingsOf(path).find((x) => x.addr === Number(v.address))!;
          assert.equal(m.rss * 1024, count * PAGE, JSON.stringify(m));
          dirty.push(m.dirty * 1024 / PAGE);
          v.unmap();
        }
        assert.deepEqual(dirty, [1, 0, pages - 5], "dirty pages before, in and after the range");
      } finally {
        probe.close();
      }
      // a range past the window maps a larger one in its place
      await f.syncRangeAsync(0, 3 * 2 ** 30);
      const again = mappingsOf(path);
      assert.equal(again.length, 1, JSON.stringify(again));
      assert.ok(again[0]!.size >= 6 * 2 ** 30, `window of ${again[0]!.size} bytes`);
    } finally {
      await f.closeAsync();
    }
    assert.deepEqual(mappingsOf(path), [], "closeAsync() unmaps the window");
    const g = MappedFile.open(path);
    await g.syncRangeAsync(0, PAGE);
    assert.equal(mappingsOf(path).length, 1);
    g.close();
    assert.deepEqual(mappingsOf(path), [], "close() unmaps the window");
  },
  Deno.build.os !== "linux", // smaps
);
