import assert from "node:assert/strict";
import { ErrnoError } from "../../../ffi/errno.ts";
import { MappedFile, MappingSlots, pageSize } from "../../../ffi/mapped_file.ts";
import { dirTestWithoutFdLeak } from "../../helpers/fds.ts";

const PAGE = pageSize();

/** Runs `fn` with a fresh temp dir, checking that no descriptor leaks across it. */
function slotsTest(name: string, fn: (dir: string) => void | Promise<void>, ignore = false): void {
  dirTestWithoutFdLeak("chanrelay_slots_", name, fn, ignore);
}

/** A file of `pages` pages, allocated, opened for mapping. */
function fileOf(dir: string, name: string, pages: number): MappedFile {
  const mf = MappedFile.create(`${dir}/${name}`);
  mf.allocate(0, pages * PAGE);
  return mf;
}

/** Permissions of the mapping that starts at `address` in /proc/self/maps, or null. */
function permsAt(address: bigint): string | null {
  const hex = address.toString(16);
  for (const line of Deno.readTextFileSync("/proc/self/maps").split("\n")) {
    if (line.startsWith(`${hex}-`)) return line.split(" ")[1] ?? null;
  }
  return null;
}

slotsTest(
  "a region mapped through slots reuses the range and the view an unmapped one left",
  (dir) => {
    const slots = new MappingSlots();
    const mf = fileOf(dir, "a.bin", 4);
    try {
      const r1 = mf.map(0, 2 * PAGE, slots);
      const view1 = r1.bytes;
      view1.fill(0x11);
      const address = r1.address;
      r1.unmap();
      assert.throws(() => r1.bytes, (e) => e instanceof ErrnoError && e.code === "EBADF");
      const r2 = mf.map(2 * PAGE, 2 * PAGE, slots);
      assert.equal(r2.address, address, "the second mapping went over the first one's range");
      assert.equal(r2.bytes.buffer, view1.buffer, "through the same ArrayBuffer");
      r2.bytes.fill(0x22);
      r2.unmap();
      assert.deepEqual({ size: slots.size, reserved: slots.reserved, buffers: slots.buffers }, {
        size: 1,
        reserved: 1,
        buffers: 1,
      });
    } finally {
      mf.close();
      slots.close();
    }
    const bytes = Deno.readFileSync(`${dir}/a.bin`);
    assert.ok(bytes.subarray(0, 2 * PAGE).every((b) => b === 0x11), "the first region's bytes");
    assert.ok(bytes.subarray(2 * PAGE).every((b) => b === 0x22), "the second region's bytes");
    assert.equal(slots.size, 0);
  },
);

slotsTest(
  "an unmapped slot stays reserved with no access until the slots close, then goes with its view",
  (dir) => {
    const slots = new MappingSlots();
    const mf = fileOf(dir, "b.bin", 2);
    try {
      const r = mf.map(0, 2 * PAGE, slots);
      const address = r.address;
      const view = r.bytes;
      assert.equal(permsAt(address), "rw-s", "a shared, writable file mapping");
      assert.equal(view.byteLength, 2 * PAGE);
      r.unmap();
      assert.equal(permsAt(address), "---p", "reserved: private, no access");
      slots.close();
      assert.equal(permsAt(address), null, "given back to the OS");
      assert.equal(view.byteLength, 0, "its view detached");
      assert.equal(slots.size, 0);
    } finally {
      mf.close();
      slots.close();
    }
  },
  Deno.build.os !== "linux", // reads /proc/self/maps
);

slotsTest("mapAsync and unmapAsync use slots too, one set of ranges per length", async (dir) => {
  const slots = new MappingSlots();
  const mf = fileOf(dir, "c.bin", 8);
  try {
    const a = await mf.mapAsync(0, 2 * PAGE, undefined, slots);
    const address = a.address;
    a.bytes[0] = 7;
    await a.unmapAsync();
    const b = await mf.mapAsync(2 * PAGE, 2 * PAGE, undefined, slots);
    const c = await mf.mapAsync(4 * PAGE, PAGE, undefined, slots);
    assert.equal(b.address, address, "same length: the free range is reused");
    assert.notEqual(c.address, address, "another length: a range of its own");
    const d = await mf.mapAsync(6 * PAGE, 2 * PAGE, undefined, slots);
    assert.notEqual(d.address, b.address, "no free range of that length: a new one");
    assert.deepEqual({ size: slots.size, reserved: slots.reserved, buffers: slots.buffers }, {
      size: 3,
      reserved: 3,
      buffers: 1,
    }, "three ranges cut from one arena");
    await b.unmapAsync(); // one after the other: the free list's order is the unmap order
    await d.unmapAsync();
    await c.unmapAsync();
    assert.equal(slots.size, 3, "unmapped ranges are kept for the next mappings");
    const e = await mf.mapAsync(0, 2 * PAGE, undefined, slots);
    assert.equal(e.bytes[0], 7, "a mapping over a reused range shows its own file's bytes");
    assert.equal(e.address, address, "free ranges are reused oldest first");
    await e.unmapAsync();
  } finally {
    await mf.closeAsync();
    slots.close();
  }
  assert.equal(slots.size, 0);
});

slotsTest("a region unmapped after its slots closed gives its range back to the OS", (dir) => {
  const slots = new MappingSlots();
  const mf = fileOf(dir, "d.bin", 1);
  try {
    const r = mf.map(0, PAGE, slots);
    const view = r.bytes;
    const address = r.address;
    slots.close();
    assert.equal(slots.size, 1, "still holding a mapping");
    assert.throws(() => mf.map(0, PAGE, slots), /after close/);
    r.unmap();
    assert.equal(slots.size, 0);
    assert.equal(view.byteLength, 0, "its view detached");
    if (Deno.build.os === "linux") assert.equal(permsAt(address), null);
  } finally {
    mf.close();
  }
});

slotsTest("slots of lengths that are not whole pages stay page-aligned and apart", (dir) => {
  const slots = new MappingSlots();
  const mf = fileOf(dir, "e.bin", 3);
  try {
    const a = mf.map(0, PAGE + 100, slots);
    const b = mf.map(2 * PAGE, 100, slots);
    assert.equal(Number(a.address % BigInt(PAGE)), 0);
    assert.equal(Number(b.address % BigInt(PAGE)), 0);
    assert.ok(b.address >= a.address + BigInt(3 * PAGE), "a reserved page between them");
    a.bytes[PAGE + 99] = 1;
    b.bytes[99] = 2;
    a.unmap();
    b.unmap();
  } finally {
    mf.close();
    slots.close();
  }
  const bytes = Deno.readFileSync(`${dir}/e.bin`);
  assert.deepEqual([bytes[PAGE + 99], bytes[2 * PAGE + 99]], [1, 2]);
});

slotsTest(
  "trim gives free ranges back to the OS and keeps the slots open, their views attached",
  (dir) => {
    const slots = new MappingSlots();
    const mf = fileOf(dir, "f.bin", 4);
    try {
      const a = mf.map(0, 2 * PAGE, slots);
      const view = a.bytes;
      const address = a.address;
      a.unmap();
      const b = mf.map(2 * PAGE, PAGE, slots); // still mapped while the slots are trimmed
      assert.equal(slots.size, 2);
      slots.trim();
      assert.equal(slots.size, 1, "the free range went, the one holding a mapping stays");
      if (Deno.build.os === "linux") assert.equal(permsAt(address), null, "given back to the OS");
      assert.equal(view.byteLength, 2 * PAGE, "no view detached");
      b.bytes[0] = 9;
      const c = mf.map(0, 2 * PAGE, slots); // open: a new range, from the same arena
      assert.notEqual(c.address, address, "the trimmed range is not reused");
      assert.equal(slots.buffers, 1);
      c.unmap();
      b.unmap();
    } finally {
      mf.close();
      slots.close();
    }
    assert.equal(slots.size, 0);
    assert.equal(Deno.readFileSync(`${dir}/f.bin`)[2 * PAGE], 9);
  },
);
