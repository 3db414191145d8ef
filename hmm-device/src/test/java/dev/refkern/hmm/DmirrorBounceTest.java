package dev.refkern.hmm;

import static dev.refkern.mm.Page.PAGE_SHIFT;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.lang.reflect.Method;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dmirror's bounce buffer: each ioctl returns its own data, and none allocates one per page.
 */
class DmirrorBounceTest {
  private static final int PAGES = 512;

  @TempDir Path dir;

  @Test
  void migrationRoundsReturnTheirDataWithoutABounceArrayPerCall() throws Exception {
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=64M zone_device=8M"), dir, false);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      Task task = vm.createTask("app");
      long addr = task.mmapAnon((long) PAGES << PAGE_SHIFT);
      DmirrorDevice device =
          new DmirrorDevice(vm, DevPagemap.MemoryType.DEVICE_PRIVATE, "dmirror0", PAGES);
      Dmirror mirror = device.open(task.mm());
      HmmDmirrorCmd toDev = new HmmDmirrorCmd(addr, new byte[PAGES << PAGE_SHIFT], PAGES);
      HmmDmirrorCmd toSys = new HmmDmirrorCmd(addr, null, PAGES);
      Object bean =
          Class.forName("java.lang.management.ManagementFactory")
              .getMethod("getThreadMXBean")
              .invoke(null);
      Method allocated =
          Class.forName("com.sun.management.ThreadMXBean")
              .getMethod("getCurrentThreadAllocatedBytes");
      long bytes = 0;
      for (int round = 0; round < 4; round++) {
        for (int p = 0; p < PAGES; p++) {
          task.storeLong(addr + ((long) p << PAGE_SHIFT), round * 1000 + p);
        }
        long before = (Long) allocated.invoke(bean);
        mirror.ioctl(HmmDmirrorCmd.MIGRATE_TO_DEV, toDev);
        mirror.ioctl(HmmDmirrorCmd.MIGRATE_TO_SYS, toSys);
        bytes = (Long) allocated.invoke(bean) - before;
        assertEquals(PAGES, toDev.cpages);
        assertEquals(PAGES, toSys.cpages);
        for (int p = 0; p < PAGES; p++) {
          long v =
              java.nio.ByteBuffer.wrap(toDev.ptr, p << PAGE_SHIFT, 8)
                  .order(java.nio.ByteOrder.nativeOrder())
                  .getLong();
          assertEquals(round * 1000 + p, v, "round " + round + ", page " + p);
          assertEquals(round * 1000 + p, task.loadLong(addr + ((long) p << PAGE_SHIFT)));
        }
      }
      // a 2 MiB bounce array per MIGRATE_TO_DEV was 4 KiB a page; what is left is per batch
      assertTrue(bytes < (PAGES << PAGE_SHIFT) / 4, "a round allocated " + bytes + " bytes");
      mirror.close();
      task.exit();
    }
  }
}
