package dev.refkern.fs.crash;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The fsync'd oracle of a crash-consistency run (generic/482's promise, made per file): per name,
 * events stamped with the recorder's log position, an fsync with the content it made durable or a
 * change with none. A state that holds entries {@code 0..p} must show a name's last fsync whose
 * entries all lie in {@code 0..p}, unless a change of the name that may have written into the state
 * came after it.
 */
final class FsyncOracle {
  /** An event of one name: an fsync with its content, or a change (content null). */
  private record Event(long pos, byte[] content) {}

  private final Map<String, List<Event>> events = new HashMap<>();

  /**
   * A change of {@code name} began when the log held {@code pos} entries: its first may be {@code
   * pos}.
   */
  void changed(String name, long pos) {
    events.computeIfAbsent(name, x -> new ArrayList<>()).add(new Event(pos, null));
  }

  /**
   * An fsync of {@code name} returned when the log held {@code pos} entries: its last is {@code pos
   * - 1}.
   */
  void synced(String name, long pos, byte[] content) {
    events.computeIfAbsent(name, x -> new ArrayList<>()).add(new Event(pos, content));
  }

  /** The names with an expectation in the state of entries {@code 0..p}, with their content. */
  Map<String, byte[]> expected(long p) {
    return expected(p + 1, p);
  }

  /**
   * The names with an expectation in the state of entries {@code 0..w-1} plus part of entry {@code
   * w} (a torn write): an op that began at {@code w} may have written that entry, so its name has
   * none, while an fsync that ended before {@code w} still holds.
   */
  Map<String, byte[]> expectedTorn(long w) {
    return expected(w, w);
  }

  /**
   * Each name's last event up to an fsync returned by {@code syncs} or a change begun by {@code
   * changes}.
   */
  private Map<String, byte[]> expected(long syncs, long changes) {
    Map<String, byte[]> out = new TreeMap<>();
    for (Map.Entry<String, List<Event>> e : events.entrySet()) {
      byte[] want = null;
      for (Event ev : e.getValue()) {
        if (ev.pos > (ev.content != null ? syncs : changes)) {
          break; // positions only grow: nothing later is in the state
        }
        want = ev.content;
      }
      if (want != null) {
        out.put(e.getKey(), want);
      }
    }
    return out;
  }
}
