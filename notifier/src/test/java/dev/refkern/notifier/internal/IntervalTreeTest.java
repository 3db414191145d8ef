package dev.refkern.notifier.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class IntervalTreeTest {

  @Test
  void closedIntervalsMeetAtTheirEndpoints() {
    IntervalTree<String> t = new IntervalTree<>();
    t.insert(10, 19, "a");
    t.insert(20, 29, "b");
    assertEquals(List.of("a"), t.overlapping(0, 10));
    assertEquals(List.of("a", "b"), t.overlapping(19, 20));
    assertEquals(List.of("b"), t.overlapping(29, 100));
    assertEquals(List.of(), t.overlapping(30, 100));
    assertEquals(List.of(), t.overlapping(0, 9));
  }

  @Test
  void ordersAddressesUnsigned() {
    IntervalTree<String> t = new IntervalTree<>();
    t.insert(0x8000_0000_0000_0000L, -1L, "high");
    t.insert(0, 0xfff, "low");
    assertEquals(List.of("low", "high"), t.overlapping(0, -1L));
    assertEquals(List.of("high"), t.overlapping(-4096L, -4096L));
  }

  @Test
  void removesByIdentityAmongEqualIntervals() {
    IntervalTree<Object> t = new IntervalTree<>();
    Object a = new Object();
    Object b = new Object();
    t.insert(5, 6, a);
    t.insert(5, 6, b);
    assertTrue(t.remove(5, b));
    assertFalse(t.remove(5, b));
    assertEquals(List.of(a), t.overlapping(0, 10));
    assertEquals(1, t.size());
  }

  @Test
  void agreesWithABruteForceScan() {
    long seed = System.nanoTime();
    Random rnd = new Random(seed);
    IntervalTree<long[]> t = new IntervalTree<>();
    List<long[]> all = new ArrayList<>();
    for (int step = 0; step < 2000; step++) {
      if (!all.isEmpty() && rnd.nextInt(3) == 0) {
        long[] victim = all.remove(rnd.nextInt(all.size()));
        assertTrue(t.remove(victim[0], victim), "seed=" + seed);
      } else {
        long s = rnd.nextInt(1000) - 500L; // crosses the signed/unsigned boundary
        long[] iv = {s, s + rnd.nextInt(50)};
        if (Long.compareUnsigned(iv[0], iv[1]) > 0) {
          continue;
        }
        t.insert(iv[0], iv[1], iv);
        all.add(iv);
      }
      long q = rnd.nextInt(1000) - 500L;
      long ql = q + rnd.nextInt(80);
      if (Long.compareUnsigned(q, ql) > 0) {
        continue;
      }
      List<long[]> got = t.overlapping(q, ql);
      long expected =
          all.stream()
              .filter(
                  iv -> Long.compareUnsigned(iv[0], ql) <= 0 && Long.compareUnsigned(q, iv[1]) <= 0)
              .count();
      assertEquals(expected, got.size(), "seed=" + seed + " step=" + step);
      for (long[] iv : got) {
        assertTrue(
            Long.compareUnsigned(iv[0], ql) <= 0 && Long.compareUnsigned(q, iv[1]) <= 0,
            "seed=" + seed);
      }
    }
  }
}
