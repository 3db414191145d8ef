package dev.refkern.hmm.internal;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.reflect.Method;
import org.junit.jupiter.api.Test;

/** The dmirror's device page table: xarray outcomes, and no allocation per page. */
class DevicePageTableTest {
  /** A user address's virtual pfn, high enough that a boxed leaf key is never cached. */
  private static final long VPFN = 0x7f12_3440_0000L >>> 12; // first of a 512-entry leaf

  @Test
  void eraseOfOnePageKeepsItsNeighboursAndALeafEmptiedThenRefilledWorks() {
    DevicePageTable pt = new DevicePageTable();
    pt.store(VPFN, 100, DevicePageTable.TAG_WRITE);
    pt.store(VPFN + 1, 101, 0);
    pt.store(VPFN + 600, 700, DevicePageTable.TAG_ATOMIC); // the next leaf
    pt.erase(VPFN, VPFN);
    assertEquals(0, pt.load(VPFN));
    assertEquals(101, DevicePageTable.pfn(pt.load(VPFN + 1)));
    assertEquals(DevicePageTable.TAG_ATOMIC, DevicePageTable.tag(pt.load(VPFN + 600)));
    pt.erase(VPFN + 1, VPFN + 1); // the leaf is empty now
    assertEquals(0, pt.load(VPFN + 1));
    pt.store(VPFN + 2, 102, 0); // and refilled
    assertEquals(102, DevicePageTable.pfn(pt.load(VPFN + 2)));
    assertTrue(DevicePageTable.present(pt.load(VPFN + 2)));
    pt.erase(0, Long.MAX_VALUE >>> 12); // across leaves, as an invalidation of everything
    assertEquals(0, pt.load(VPFN + 2));
    assertEquals(0, pt.load(VPFN + 600));
    pt.store(VPFN + 600, 9, 0);
    assertEquals(9, DevicePageTable.pfn(pt.load(VPFN + 600)));
    pt.clear();
    assertEquals(0, pt.load(VPFN + 600));
  }

  /** The driver stores, loads and erases per page: that must not allocate (a boxed key did). */
  @Test
  void perPageStoreLoadAndEraseInOneLeafAllocateNothing() throws Exception {
    DevicePageTable pt = new DevicePageTable();
    pt.store(VPFN + 511, 1, 0); // the leaf exists
    Object bean =
        Class.forName("java.lang.management.ManagementFactory")
            .getMethod("getThreadMXBean")
            .invoke(null);
    Method allocated =
        Class.forName("com.sun.management.ThreadMXBean")
            .getMethod("getCurrentThreadAllocatedBytes");
    allocated.invoke(bean);
    long before = (Long) allocated.invoke(bean);
    long sum = 0;
    for (int round = 0; round < 20; round++) {
      for (long v = VPFN; v < VPFN + 511; v++) {
        pt.store(v, v, DevicePageTable.TAG_WRITE);
        sum += pt.load(v);
        pt.erase(v, v);
      }
    }
    long bytes = (Long) allocated.invoke(bean) - before;
    assertNotEquals(0, sum);
    // 30,660 calls: one boxed key each would be ~490 KB; allow the probe's own few objects
    assertTrue(bytes < 4096, "allocated " + bytes + " bytes for 30,660 per-page calls");
  }
}
