package dev.refkern.block;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PhysicalMemory;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The block_bio_queue / block_bio_complete JFR events, read back from a recording. */
class BlockJfrEventsTest {
  @TempDir Path dir;

  @Test
  void ramDiskBiosRecordQueueAndCompleteWithTheirStatus() throws Exception {
    Path file = dir.resolve("b.jfr");
    try (PhysicalMemory mem =
            PhysicalMemory.boot(BootParams.parse("mem=64M"), dir.resolve("s"), false);
        Recording r = new Recording()) {
      RamDisk disk = new RamDisk(mem, 64);
      long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
      r.enable("refkern.block.BioQueue");
      r.enable("refkern.block.BioComplete");
      r.start();
      assertEquals(0, RamDiskTest.submit(disk, new Bio(BioOp.WRITE, 8, 0).addPage(pfn, 0, 4096)));
      int eio = -Errno.EIO.number();
      assertEquals(eio, RamDiskTest.submit(disk, new Bio(BioOp.READ, 62, 0).addPage(pfn, 0, 4096)));
      r.stop();
      r.dump(file);
      mem.allocator().putPage(pfn);
    }
    List<RecordedEvent> events = RecordingFile.readAllEvents(file);
    List<RecordedEvent> queued = named(events, "refkern.block.BioQueue");
    assertEquals(2, queued.size(), events.toString());
    assertEquals("ram0", queued.get(0).getString("device"));
    assertEquals(8, queued.get(0).getLong("sector"));
    assertEquals(4096, queued.get(0).getLong("size"));
    assertEquals("WRITE", queued.get(0).getString("op"));
    List<RecordedEvent> done = named(events, "refkern.block.BioComplete");
    assertEquals(2, done.size(), events.toString());
    assertEquals("WRITE", done.get(0).getString("op"));
    assertEquals(0, done.get(0).getInt("error"));
    assertEquals("READ", done.get(1).getString("op"));
    assertEquals(62, done.get(1).getLong("sector"));
    assertEquals(-Errno.EIO.number(), done.get(1).getInt("error"));
  }

  private static List<RecordedEvent> named(List<RecordedEvent> events, String name) {
    return events.stream()
        .filter(e -> e.getEventType().getName().equals(name))
        .sorted((a, b) -> a.getStartTime().compareTo(b.getStartTime()))
        .toList();
  }
}
