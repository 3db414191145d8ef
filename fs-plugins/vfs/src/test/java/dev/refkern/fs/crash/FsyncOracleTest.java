package dev.refkern.fs.crash;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a crash state may promise, exact or torn, from the log positions of fsyncs and changes. */
class FsyncOracleTest {
  private static final byte[] V1 = {1};

  @Test
  void anFsyncHoldsOnceItsLastEntryIsWholeInTheState() {
    FsyncOracle o = new FsyncOracle();
    o.changed("a", 3); // the write's entries start at 3
    o.synced("a", 10, V1); // the fsync's last entry is 9
    assertNull(o.expected(8).get("a"));
    assertArrayEquals(V1, o.expected(9).get("a"));
    assertNull(o.expectedTorn(9).get("a"), "entry 9, the fsync's last, torn: not durable");
    assertArrayEquals(V1, o.expectedTorn(10).get("a"));
  }

  @Test
  void aChangeBegunAtTheTornEntryDropsThePromise() {
    FsyncOracle o = new FsyncOracle();
    o.synced("a", 10, V1);
    o.synced("b", 10, V1);
    o.changed("a", 12); // its first write may be entry 12
    Map<String, byte[]> exact = o.expected(11);
    assertArrayEquals(V1, exact.get("a"), "entries 0..11 hold nothing of the change");
    Map<String, byte[]> torn = o.expectedTorn(12);
    assertFalse(torn.containsKey("a"), "entry 12 torn may be the change's own write");
    assertArrayEquals(V1, torn.get("b"));
    assertArrayEquals(V1, o.expectedTorn(11).get("a"), "torn 11: the change had not begun");
  }
}
