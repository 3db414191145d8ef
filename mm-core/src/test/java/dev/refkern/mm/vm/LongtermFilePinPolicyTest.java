package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.RamBackedAops;
import org.junit.jupiter.api.Test;

/**
 * {@code gup.longterm_file=}: mainline (6.5+) refuses a writable {@code FOLL_LONGTERM} pin of a
 * shared file mapping that needs dirty tracking with {@code EFAULT}; before 6.5 it was allowed.
 * Shmem, short-term and read-only pins are never the policy's business.
 */
class LongtermFilePinPolicyTest extends VmTestBase {
  private Task task;
  private long fileAddr;

  private void bootWithFile(String cmdline) {
    boot("mem=256M " + cmdline);
    AddressSpace file = AddressSpace.create(mem, new RamBackedAops());
    file.setSize(4096);
    task = vm.createTask("t");
    fileAddr = task.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(fileAddr, 1);
  }

  @Test
  void refuseIsTheMainlineDefaultAndLetsOnlyShmemAndShortTermPinsThrough() {
    assertEquals("refuse", PolicyRegistry.global().mainline(LongtermFilePinPolicy.PARAM));
    bootWithFile("");
    assertInstanceOf(RefuseLongtermFilePins.class, gup.longtermFile());
    long[] pages = new long[1];
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> gup.pinUserPages(task, fileAddr, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
    assertEquals(Errno.EFAULT, e.errno());
    assertEquals(
        Errno.EFAULT,
        assertThrows(
                KernelException.class,
                () -> gup.pinUserPagesFast(task, fileAddr, 1, FOLL_WRITE | FOLL_LONGTERM, pages))
            .errno(),
        "the fast path falls back to the slow one, which refuses");
    assertEquals(2, gup.longtermFile().stats().get("refused"));

    assertEquals(1, gup.pinUserPages(task, fileAddr, 1, FOLL_WRITE, pages), "short-term");
    gup.unpinUserPage(pages[0]);
    assertEquals(1, gup.pinUserPages(task, fileAddr, 1, FOLL_LONGTERM, pages), "read-only");
    gup.unpinUserPage(pages[0]);
    long shm = task.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, null, 0);
    task.storeLong(shm, 1);
    assertEquals(1, gup.pinUserPages(task, shm, 1, FOLL_WRITE | FOLL_LONGTERM, pages), "shmem");
    gup.unpinUserPage(pages[0]);
    assertEquals(2, gup.longtermFile().stats().get("refused"));
    assertEquals(0, gup.longtermFile().stats().get("allowed"), "none of those asked the policy");
    task.exit();
  }

  @Test
  void allowOnTheCommandLinePinsTheFileAsKernelsBefore65Did() {
    bootWithFile("gup.longterm_file=allow");
    assertInstanceOf(AllowLongtermFilePins.class, gup.longtermFile());
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, fileAddr, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
    assertTrue(gup.folioMaybeDmaPinned(pages[0]));
    gup.unpinUserPage(pages[0]);
    assertEquals(1, gup.longtermFile().stats().get("allowed"));
    assertEquals(0, gup.longtermFile().stats().get("refused"));
    task.exit();
  }

  @Test
  void anUnknownValueIsEinvalListingBoth() {
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> dev.refkern.mm.BootParams.parse("mem=64M gup.longterm_file=maybe"));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("refuse, allow"), e.getMessage());
  }
}
