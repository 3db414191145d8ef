package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.RamSwapDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/**
 * The mm JFR events (GUP batches, mm_migrate_pages, vmscan, vmstat), read back from a recording.
 */
class MmJfrEventsTest extends VmTestBase {
  private List<RecordedEvent> record(Runnable work) throws Exception {
    Path file = Files.createTempFile("refkern-mm", ".jfr");
    try (Recording r = new Recording()) {
      for (String n :
          List.of(
              "refkern.gup.PinBatch",
              "refkern.gup.UnpinBatch",
              "refkern.migrate.MigratePages",
              "refkern.vmscan.ShrinkInactive")) {
        r.enable(n);
      }
      // emitted when the recording's chunk ends, i.e. at stop(): no waiting on a period
      r.enable("refkern.vmstat.VmStat").with("period", "endChunk");
      r.start();
      work.run();
      r.stop();
      r.dump(file);
    }
    try {
      return RecordingFile.readAllEvents(file);
    } finally {
      Files.delete(file);
    }
  }

  private static List<RecordedEvent> named(List<RecordedEvent> events, String name) {
    return events.stream().filter(e -> e.getEventType().getName().equals(name)).toList();
  }

  @Test
  void pinUnpinAndAFailedThenSuccessfulMigrationAreRecorded() throws Exception {
    boot();
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4 * 4096L);
    t.storeLong(a, 5);
    long[] pages = new long[4];
    List<RecordedEvent> events =
        record(
            () -> {
              assertEquals(4, gup.pinUserPages(t, a, 4, Foll.FOLL_WRITE, pages));
              assertEquals(-Errno.EAGAIN.number(), vm.migrateFolio(pages[0], true));
              gup.unpinUserPages(pages, 4);
              assertEquals(0, vm.migrateFolio(pages[0], true));
            });
    List<RecordedEvent> pins = named(events, "refkern.gup.PinBatch");
    assertEquals(1, pins.size(), events.toString());
    assertEquals("pin_user_pages", pins.get(0).getString("function"));
    assertEquals(4, pins.get(0).getLong("nrPages"));
    assertEquals(Foll.FOLL_WRITE, pins.get(0).getInt("gupFlags"));
    assertEquals(t.mm().id(), pins.get(0).getLong("mm"));
    assertEquals(4, pins.get(0).getLong("result"));
    List<RecordedEvent> unpins = named(events, "refkern.gup.UnpinBatch");
    assertEquals(1, unpins.size(), events.toString());
    assertEquals(4, unpins.get(0).getLong("released"));
    List<RecordedEvent> mig = named(events, "refkern.migrate.MigratePages");
    assertEquals(2, mig.size(), events.toString());
    assertEquals(1, mig.get(0).getLong("failed"));
    assertEquals(-Errno.EAGAIN.number(), mig.get(0).getInt("result"));
    assertEquals(1, mig.get(1).getLong("succeeded"));
    assertEquals("syscall_or_cpuset", mig.get(1).getString("reason"));
    t.exit();
  }

  @Test
  void aGupErrorRecordsTheNegativeErrno() throws Exception {
    boot();
    Task t = vm.createTask("t");
    long[] pages = new long[1];
    List<RecordedEvent> events =
        record(
            () ->
                assertThrows(
                    dev.refkern.mm.KernelException.class,
                    () -> gup.pinUserPagesFast(t, 0x1000, 1, Foll.FOLL_WRITE, pages)));
    List<RecordedEvent> pins = named(events, "refkern.gup.PinBatch");
    assertEquals(1, pins.size(), events.toString());
    assertEquals("pin_user_pages_fast", pins.get(0).getString("function"));
    assertEquals(-Errno.EFAULT.number(), pins.get(0).getLong("result"));
    t.exit();
  }

  @Test
  void reclaimRecordsShrinkInactiveAndVmstatCarriesTheCounters() throws Exception {
    boot();
    vm.swapon(new RamSwapDevice(1024));
    Task t = vm.createTask("t");
    long a = t.mmapAnon(16 * 4096L);
    for (int i = 0; i < 16; i++) {
      t.storeLong(a + i * 4096L, i);
    }
    settle();
    List<RecordedEvent> events =
        record(() -> assertEquals(16, vm.vmscan().shrinkNode(16).reclaimed()));
    List<RecordedEvent> shrink = named(events, "refkern.vmscan.ShrinkInactive");
    assertEquals(16, shrink.stream().mapToLong(e -> e.getLong("reclaimed")).sum(), shrink + "");
    assertTrue(shrink.stream().anyMatch(e -> !e.getBoolean("file") && e.getLong("scanned") > 0));
    List<RecordedEvent> stats = named(events, "refkern.vmstat.VmStat");
    assertFalse(stats.isEmpty(), events.toString());
    RecordedEvent last = stats.get(stats.size() - 1);
    assertEquals(dir.toString(), last.getString("kernel"));
    assertEquals(16, last.getLong("pswpout"));
    assertTrue(last.getLong("nrFreePages") > 0);
    t.exit();
  }
}
