package dev.refkern.notifier;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The invalidate_range_start/end JFR events, read back from a recording. */
class NotifierJfrEventsTest {
  @TempDir Path tmp;

  @Test
  void invalidationRecordsStartAndEndEvents() throws Exception {
    Object mm = "mm";
    MmuNotifierSubscriptions subs = new MmuNotifierSubscriptions(mm);
    subs.register(new RecordingOps("a", new CopyOnWriteArrayList<>()));
    MmuNotifierRange range =
        MmuNotifierRange.init(
            MmuNotifierEvent.CLEAR,
            MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
            mm,
            0x7000_1000L,
            0x7000_5000L);
    Path file = tmp.resolve("n.jfr");
    try (Recording r = new Recording()) {
      r.enable("refkern.mmu_notifier.InvalidateRangeStart");
      r.enable("refkern.mmu_notifier.InvalidateRangeEnd");
      r.start();
      assertEquals(0, subs.invalidateRangeStart(range));
      subs.invalidateRangeEnd(range);
      r.stop();
      r.dump(file);
    }
    List<RecordedEvent> events = RecordingFile.readAllEvents(file);
    RecordedEvent start = only(events, "refkern.mmu_notifier.InvalidateRangeStart");
    assertEquals("CLEAR", start.getString("event"));
    assertEquals(0x7000_1000L, start.getLong("start"));
    assertEquals(0x7000_5000L, start.getLong("end"));
    assertEquals(0, start.getInt("result"));
    RecordedEvent end = only(events, "refkern.mmu_notifier.InvalidateRangeEnd");
    assertEquals("CLEAR", end.getString("event"));
    assertEquals(0x7000_5000L, end.getLong("end"));
  }

  private static RecordedEvent only(List<RecordedEvent> events, String name) {
    List<RecordedEvent> l =
        events.stream().filter(e -> e.getEventType().getName().equals(name)).toList();
    assertEquals(1, l.size(), name + " in " + events);
    return l.get(0);
  }
}
