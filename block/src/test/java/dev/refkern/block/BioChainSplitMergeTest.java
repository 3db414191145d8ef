package dev.refkern.block;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** bio_split, bio_chain, plug merging, and swap on a block device. */
class BioChainSplitMergeTest {
  @TempDir Path dir;
  private PhysicalMemory mem;
  private VirtualMemory vm;
  private final List<Long> pages = new ArrayList<>();

  @BeforeEach
  void boot() {
    vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, false);
    mem = vm.physicalMemory();
  }

  @AfterEach
  void close() {
    pages.forEach(mem.allocator()::putPage);
    List<String> p = mem.debugVm().check();
    mem.close();
    assertTrue(p.isEmpty(), p.toString());
  }

  private long page() {
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    pages.add(pfn);
    return pfn;
  }

  @Test
  void splitCoversTheSameSectorsAndChainCompletesTheParentLast() {
    Bio bio = new Bio(BioOp.WRITE, 100, 0).addPage(page(), 0, 4096).addPage(page(), 0, 4096);
    AtomicInteger parentDone = new AtomicInteger();
    bio.onEnd(b -> parentDone.incrementAndGet());
    Bio front = bio.split(12);
    assertEquals(100, front.sector());
    assertEquals(12, front.sectors());
    assertEquals(112, bio.sector());
    assertEquals(4, bio.sectors());
    Bio.chain(front, bio);
    bio.endio(); // the remainder completes first
    assertEquals(0, parentDone.get(), "the parent waits for its chained child");
    front.setStatus(-Errno.EIO.number());
    front.endio();
    assertEquals(1, parentDone.get());
    assertEquals(-Errno.EIO.number(), bio.status(), "the child's error reaches the parent");
  }

  @Test
  void segmentsGrowPastTheAllocationAndSplitInsideAPageKeepsTheMarks() {
    long a = page();
    long b = page();
    Bio bio = new Bio(BioOp.READ, 10, 0, 1);
    for (int i = 0; i < 40; i++) {
      bio.addPage(i % 2 == 0 ? a : b, 0, 4096);
      if (i % 3 == 0) {
        bio.markVec(i);
      }
    }
    assertEquals(40, bio.vecCount());
    assertEquals(40L * 4096, bio.size());
    Bio front = bio.split(12); // one and a half pages
    assertEquals(2, front.vecCount());
    assertEquals(4096, front.vecLen(0));
    assertEquals(2048, front.vecLen(1));
    assertEquals(b, front.vecPfn(1));
    assertTrue(front.vecMarked(0));
    assertFalse(front.vecMarked(1));
    assertEquals(39, bio.vecCount(), "the split page stays, with its second half");
    assertEquals(b, bio.vecPfn(0));
    assertEquals(2048, bio.vecOffset(0));
    assertEquals(2048, bio.vecLen(0));
    assertEquals(22, bio.sector());
    assertEquals(40L * 4096 - 6144, bio.size());
    assertFalse(bio.vecMarked(0), "vector 1 was not marked");
    assertTrue(bio.vecMarked(2), "vector 3 was");
    assertEquals(new BioVec(b, 2048, 2048), bio.vecs().get(0));
    assertThrows(IndexOutOfBoundsException.class, () -> bio.vecPfn(39));
    assertThrows(IllegalArgumentException.class, () -> bio.addPage(a, 4000, 512));
  }

  @Test
  void plugMergesAdjacentBiosAndCompletesEachOnce() {
    RamDisk disk = new RamDisk(mem, 1024);
    RequestQueue q = new RequestQueue(disk);
    AtomicInteger done = new AtomicInteger();
    q.plug();
    for (int i = 2; i >= 0; i--) { // submitted out of order
      q.submitBio(
          new Bio(BioOp.WRITE, i * 8L, 0)
              .addPage(page(), 0, 4096)
              .onEnd(b -> done.incrementAndGet()));
    }
    q.submitBio(
        new Bio(BioOp.WRITE, 100, 0).addPage(page(), 0, 4096).onEnd(b -> done.incrementAndGet()));
    q.unplug();
    assertEquals(2, q.merges());
    assertEquals(2, q.submitted(), "sectors 0-23 as one request, sector 100 alone");
    assertEquals(4, done.get());
  }

  @Test
  void reclaimSwapsToABlockDeviceAndBack() {
    RamDisk disk = new RamDisk(mem, 8 * 256);
    vm.swapon(new BlockSwapDevice(disk, mem.scheduler()));
    Task t = vm.createTask("t");
    long a = t.mmapAnon(16 * 4096);
    for (int i = 0; i < 16; i++) {
      t.storeLong(a + i * 4096L, 500 + i);
    }
    vm.lru().lruAddDrainAll();
    assertEquals(16, vm.vmscan().shrinkNode(16).swappedOut());
    assertTrue(Pte.isSwap(t.mm().pte(a)));
    for (int i = 0; i < 16; i++) {
      assertEquals(500 + i, t.loadLong(a + i * 4096L));
    }
    assertEquals(16, mem.vmstat().get(VmItem.PSWPIN));
    t.exit();
    vm.lru().lruAddDrainAll();
  }
}
