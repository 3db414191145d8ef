package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.examples.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A JFR recording of {@code refkern gup-test} holds its pin/unpin batches and vmstat. */
class GupTestJfrTest {
  @TempDir Path tmp;

  @Test
  void gupTestRecordingHoldsPinUnpinAndVmstatEvents() throws Exception {
    Path file = tmp.resolve("gup.jfr");
    int exit;
    PrintStream oldOut = System.out;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (Recording r = new Recording()) {
      r.enable("refkern.gup.PinBatch");
      r.enable("refkern.gup.UnpinBatch");
      r.enable("refkern.vmstat.VmStat");
      r.start();
      try {
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        exit =
            Main.execute(
                "gup-test",
                "--state",
                tmp.resolve("s").toString(),
                "-L",
                "-m",
                "4",
                "-n",
                "64",
                "-r",
                "2");
      } finally {
        System.setOut(oldOut);
      }
      r.stop();
      r.dump(file);
    }
    assertEquals(0, exit, out.toString(StandardCharsets.UTF_8));
    List<RecordedEvent> events = RecordingFile.readAllEvents(file);
    // 4 MiB = 1024 pages, 64 per call, 2 repeats: 32 pin calls (after the get_user_pages() that
    // faults the mapping in), and per repeat one unpin_user_pages() of all 1024, as
    // put_back_pages()
    List<RecordedEvent> pins =
        named(events, "refkern.gup.PinBatch").stream()
            .filter(e -> e.getString("function").equals("pin_user_pages"))
            .toList();
    assertEquals(32, pins.size());
    for (RecordedEvent e : pins) {
      assertEquals(64, e.getLong("nrPages"));
      assertEquals(64, e.getLong("result"));
      assertTrue((e.getInt("gupFlags") & dev.refkern.mm.vm.Foll.FOLL_LONGTERM) != 0);
    }
    List<RecordedEvent> unpins = named(events, "refkern.gup.UnpinBatch");
    assertEquals(2, unpins.size());
    assertEquals(2048, unpins.stream().mapToLong(e -> e.getLong("released")).sum());
    List<RecordedEvent> stats = named(events, "refkern.vmstat.VmStat");
    assertFalse(stats.isEmpty(), "the kernel's vmstat, at least the one at close");
    RecordedEvent last = stats.get(stats.size() - 1);
    assertEquals(2048, last.getLong("nrFollPinAcquired"));
    assertEquals(2048, last.getLong("nrFollPinReleased"));
  }

  private static List<RecordedEvent> named(List<RecordedEvent> events, String name) {
    return events.stream().filter(e -> e.getEventType().getName().equals(name)).toList();
  }
}
