package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.notifier.MmuNotifier;
import dev.refkern.notifier.MmuNotifierOps;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** File-backed mappings through the page cache, and the GUP rules that concern them. */
class FileMappingTest extends VmTestBase {
  private RamBackedAops disk;
  private AddressSpace file;
  private Task task;

  @BeforeEach
  void setUp() {
    boot();
    disk = new RamBackedAops();
    file = AddressSpace.create(mem, disk);
    file.setSize(4 * 4096);
    for (int i = 0; i < 4; i++) {
      byte[] block = new byte[4096];
      block[0] = (byte) (10 + i);
      disk.writeBlock(i, block);
    }
    task = vm.createTask("t");
  }

  @Test
  void privateMappingReadsThePageCacheAndCopiesOnWrite() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
    assertEquals(11, task.loadLong(a + 4096) & 0xff);
    long cached = vm.filemap().filemapGetFolio(file, 1);
    assertEquals(cached, Pte.pfn(task.mm().pte(a + 4096)), "a read maps the page cache page");
    mem.allocator().putPage(cached);
    task.storeLong(a + 4096, 99);
    assertNotEquals(cached, Pte.pfn(task.mm().pte(a + 4096)), "a write copies");
    assertEquals(99, task.loadLong(a + 4096));
    byte[] b = new byte[8];
    mem.ram().read(cached, 0, b, 0, 8);
    assertEquals(11, b[0], "the file is untouched");
    assertFalse(mem.memmap().testFlag(cached, PageFlags.PG_DIRTY));
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void sharedMappingTracksDirtyPagesByWriteProtection() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    assertEquals(12, task.loadLong(a + 2 * 4096) & 0xff);
    long pfn = Pte.pfn(task.mm().pte(a + 2 * 4096));
    assertFalse(
        Pte.write(task.mm().pte(a + 2 * 4096)), "a read fault maps a shared file page read-only");
    assertFalse(mem.memmap().testFlag(pfn, PageFlags.PG_DIRTY));
    task.storeLong(a + 2 * 4096, 77);
    assertTrue(Pte.write(task.mm().pte(a + 2 * 4096)));
    assertTrue(mem.memmap().testFlag(pfn, PageFlags.PG_DIRTY), "page_mkwrite dirtied the folio");
    assertEquals(pfn, Pte.pfn(task.mm().pte(a + 2 * 4096)), "no copy for a shared mapping");
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertEquals(77, disk.readBlock(2)[0]);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void accessBeyondEndOfFileIsSigbus() {
    long a = task.mmap(0, 8 * 4096, PROT_READ, MAP_SHARED, file, 0);
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> task.loadLong(a + 5 * 4096)).errno());
    task.exit();
  }

  @Test
  void writableLongtermPinOfADirtyTrackedSharedFileMappingIsRefused() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    long[] pages = new long[1];
    assertEquals(
        Errno.EFAULT,
        assertThrows(
                KernelException.class,
                () -> gup.pinUserPages(task, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages))
            .errno());
    assertEquals(
        Errno.EFAULT,
        assertThrows(
                KernelException.class,
                () -> gup.pinUserPagesFast(task, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages))
            .errno());
    assertEquals(
        1,
        gup.pinUserPages(task, a, 1, FOLL_LONGTERM, pages),
        "a read-only long-term pin is allowed");
    gup.unpinUserPage(pages[0]);
    assertEquals(
        1,
        gup.pinUserPagesFast(task, a, 1, FOLL_WRITE, pages),
        "a short-term writable pin is allowed");
    gup.unpinUserPagesDirtyLock(pages, 1, true);
    long p = private_(a);
    assertEquals(
        1,
        gup.pinUserPages(task, p, 1, FOLL_WRITE | FOLL_LONGTERM, pages),
        "a private file mapping COWs");
    assertTrue(mem.memmap().testFlag(pages[0], PageFlags.PG_ANON));
    gup.unpinUserPage(pages[0]);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  private long private_(long unused) {
    return task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
  }

  @Test
  void unpinDirtyLockDirtiesACleanFilePage() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    long[] pages = new long[2];
    assertEquals(2, gup.pinUserPages(task, a, 2, 0, pages));
    assertFalse(mem.memmap().testFlag(pages[0], PageFlags.PG_DIRTY));
    gup.unpinUserPageRangeDirtyLock(pages[0], 1, true);
    assertTrue(mem.memmap().testFlag(pages[0], PageFlags.PG_DIRTY));
    assertTrue(file.testDirtyTag(0), "dirtied through the mapping's dirty_folio");
    gup.unpinUserPagesDirtyLock(new long[] {pages[1]}, 1, false);
    assertFalse(mem.memmap().testFlag(pages[1], PageFlags.PG_DIRTY));
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void writebackWriteProtectsSoTheNextWriteIsTrackedAgain() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(a, 1);
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    long pte = task.mm().pte(a);
    assertFalse(Pte.write(pte), "folio_mkclean write-protected the pte");
    assertFalse(file.testDirtyTag(0));
    task.storeLong(a, 2);
    assertTrue(file.testDirtyTag(0), "the write after writeback dirtied the folio again");
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertEquals(2, disk.readBlock(0)[0]);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void truncateUnmapsThePageButAPinKeepsItAlive() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.loadLong(a + 3 * 4096);
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a + 3 * 4096, 1, 0, pages));
    file.setSize(3 * 4096);
    vm.truncate().truncateInodePages(file, 3);
    assertEquals(0, task.mm().pte(a + 3 * 4096), "truncate zapped the mapping");
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> task.loadLong(a + 3 * 4096)).errno(),
        "SIGBUS beyond EOF");
    settle();
    assertEquals(
        GUP_PIN_COUNTING_BIAS,
        mem.memmap().refcount(pages[0]),
        "the orphaned page lives on for its pin");
    assertEquals(0, mem.memmap().mapping(pages[0]));
    gup.unpinUserPage(pages[0]);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void exitSendsReleaseOnce() {
    AtomicInteger released = new AtomicInteger();
    task.mm()
        .notifiers()
        .register(
            new MmuNotifierOps() {
              @Override
              public void release(MmuNotifier sub, Object mm) {
                released.incrementAndGet();
              }
            });
    task.mmapAnon(4096);
    task.exit();
    assertEquals(1, released.get());
  }

  private long cachedPage(long index) {
    long pfn = vm.filemap().filemapGetFolio(file, index);
    mem.allocator().putPage(pfn);
    return pfn;
  }

  @Test
  void forcedWriteToAnUntouchedReadOnlyPrivateFileMappingCopiesAndStaysReadOnly() {
    long a = task.mmap(0, 4 * 4096, PROT_READ, MAP_PRIVATE, file, 0);
    long[] pages = new long[1];
    assertEquals(1, gup.getUserPages(task, a + 4096, 1, FOLL_WRITE | FOLL_FORCE, pages));
    long cached = cachedPage(1);
    assertNotEquals(cached, pages[0], "do_cow_fault(): a private copy");
    assertTrue(mem.memmap().testFlag(pages[0], PageFlags.PG_ANON_EXCLUSIVE));
    long pte = task.mm().pte(a + 4096);
    assertEquals(pages[0], Pte.pfn(pte));
    assertFalse(Pte.write(pte), "maybe_mkwrite(): no write bit without VM_WRITE");
    mem.ram().writeLong(pages[0], 0, 42);
    assertEquals(42, task.loadLong(a + 4096));
    assertEquals(11, mem.ram().readLong(cached, 0) & 0xff, "the page cache is unchanged");
    KernelException e = assertThrows(KernelException.class, () -> task.storeLong(a + 4096, 7));
    assertEquals(Errno.EFAULT, e.errno());
    assertTrue(e.getMessage().contains("SIGSEGV: write"), e.getMessage());
    long[] again = new long[1];
    assertEquals(1, gup.getUserPages(task, a + 4096, 1, FOLL_WRITE | FOLL_FORCE, again));
    assertEquals(pages[0], again[0], "a second forced write finds the same page");
    gup.putPage(pages[0]);
    gup.putPage(again[0]);
    assertEquals(11, disk.readBlock(1)[0]);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void longtermReadPinOfAPrivateFilePageUnsharesAndTheProcessWritesGoToThePin() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
    assertEquals(11, task.loadLong(a + 4096) & 0xff);
    assertEquals(12, task.loadLong(a + 2 * 4096) & 0xff);
    long cached = cachedPage(1);
    long cached2 = cachedPage(2);
    assertEquals(cached, Pte.pfn(task.mm().pte(a + 4096)));
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a + 4096, 1, FOLL_LONGTERM, pages));
    long[] fast = new long[1];
    assertEquals(1, gup.pinUserPagesFast(task, a + 2 * 4096, 1, FOLL_LONGTERM, fast));
    assertNotEquals(cached, pages[0], "gup_must_unshare(): not the page cache page");
    assertNotEquals(cached2, fast[0], "gup_fast falls back to the slow path to unshare");
    assertFalse(gup.folioMaybeDmaPinned(cached));
    assertFalse(gup.folioMaybeDmaPinned(cached2));
    for (long[] p : new long[][] {pages, fast}) {
      assertTrue(mem.memmap().testFlag(p[0], PageFlags.PG_ANON_EXCLUSIVE));
      assertEquals(11 + (p == fast ? 1 : 0), mem.ram().readLong(p[0], 0) & 0xff, "a copy");
    }
    assertEquals(pages[0], Pte.pfn(task.mm().pte(a + 4096)));
    assertFalse(Pte.write(task.mm().pte(a + 4096)), "unsharing does not make the pte writable");
    task.storeLong(a + 4096, 99);
    task.storeLong(a + 2 * 4096, 98);
    assertEquals(pages[0], Pte.pfn(task.mm().pte(a + 4096)), "no COW away from the pin");
    assertEquals(99, mem.ram().readLong(pages[0], 0), "the device sees the process's store");
    assertEquals(98, mem.ram().readLong(fast[0], 0));
    assertEquals(11, mem.ram().readLong(cached, 0) & 0xff);
    gup.unpinUserPage(pages[0]);
    gup.unpinUserPage(fast[0]);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void shortTermReadPinOfAPrivateFilePagePinsThePageCachePage() {
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
    assertEquals(11, task.loadLong(a + 4096) & 0xff);
    long cached = cachedPage(1);
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a + 4096, 1, 0, pages));
    assertEquals(cached, pages[0], "gup_must_unshare() is false without FOLL_LONGTERM");
    assertEquals(1, gup.pinUserPagesFast(task, a + 4096, 1, 0, pages));
    assertEquals(cached, pages[0]);
    gup.unpinUserPage(cached);
    gup.unpinUserPage(cached);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }
}
