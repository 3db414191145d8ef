package dev.refkern.examples;

import static dev.refkern.examples.CliRun.run;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code refkern gup-test}: the kernel selftest's options and output; timings are not asserted. */
class GupTestCommandTest {
  private static final Pattern TIME_LINE = Pattern.compile("# (\\w+): Time: get:\\d+ put:\\d+ us");

  @TempDir Path tmp;

  private CliRun gupTest(String... args) {
    List<String> all = new ArrayList<>(List.of("gup-test", "--state", tmp.toString(), "--reset"));
    all.addAll(List.of(args));
    return run(all.toArray(String[]::new));
  }

  @Test
  void pinLongtermBenchmark() {
    CliRun r = gupTest("-m", "4", "-n", "64", "-r", "2", "-L");
    assertEquals(0, r.exit(), r.out() + r.err());
    assertTrue(r.out().startsWith("TAP version 13\n1..1\n"), r.out());
    assertEquals(2, r.count(TIME_LINE), r.out());
    assertTrue(r.out().contains("# PIN_LONGTERM_BENCHMARK: Time: get:"), r.out());
    assertFalse(r.out().contains("truncated"), r.out());
    assertTrue(
        r.out().contains("# PIN_LONGTERM_BENCHMARK: summary: 2 run(s) x 1024 pages, 64 per call"),
        r.out());
    assertTrue(r.out().matches("(?s).*get [0-9.]+ ns/page, put [0-9.]+ ns/page.*"), r.out());
    assertTrue(r.out().contains("pins balanced: yes"), r.out());
    assertTrue(r.out().contains("# debug_vm: clean"), r.out());
    assertTrue(r.out().contains("\nok 1 ioctl status 0\n"), r.out());
  }

  @Test
  void pinFastBenchmarkOnThp() {
    // -t is gup_test.c's THP letter (MADV_HUGEPAGE); -H is MAP_HUGETLB, which needs hugetlbfs
    CliRun r = gupTest("-a", "-t", "-m", "8", "-n", "512", "-r", "3");
    assertEquals(0, r.exit(), r.out() + r.err());
    assertEquals(3, r.count(TIME_LINE), r.out());
    assertTrue(r.out().contains("# PIN_FAST_BENCHMARK: Time: get:"), r.out());
    assertTrue(r.out().contains("pins balanced: yes (nr_foll_pin_acquired 6144,"), r.out());
    assertTrue(r.out().contains("# debug_vm: clean"), r.out());
  }

  @Test
  void defaultIsGupFastAndLastCommandLetterWins() {
    CliRun r = gupTest("-m", "1", "-n", "32");
    assertEquals(0, r.exit(), r.out() + r.err());
    assertTrue(r.out().contains("# GUP_FAST_BENCHMARK: Time: get:"), r.out());
    assertTrue(r.out().contains("pins balanced: yes (nr_foll_pin_acquired 0,"), r.out());

    CliRun last = gupTest("-L", "-a", "-m", "1", "-n", "32", "-S");
    assertEquals(0, last.exit(), last.out() + last.err());
    assertTrue(last.out().contains("# PIN_FAST_BENCHMARK: Time: get:"), last.out());
  }

  @Test
  void basicTestsRunOnce() {
    CliRun gup = gupTest("-U", "-m", "1", "-n", "16", "-r", "5");
    assertEquals(0, gup.exit(), gup.out() + gup.err());
    assertTrue(gup.out().contains("# GUP_BASIC_TEST: done\n"), gup.out());
    assertEquals(0, gup.count(TIME_LINE), gup.out());
    CliRun pin = gupTest("-b", "-m", "1", "-n", "16", "-j", "2");
    assertEquals(0, pin.exit(), pin.out() + pin.err());
    assertTrue(pin.out().startsWith("TAP version 13\n1..2\n"), pin.out());
    assertEquals(2, pin.out().lines().filter(l -> l.equals("# PIN_BASIC_TEST: done")).count());
    assertTrue(pin.out().contains("ok 2 ioctl status 0"), pin.out());
    assertTrue(pin.out().contains("pins balanced: yes (nr_foll_pin_acquired 512,"), pin.out());
  }

  @Test
  void dumpUserPagesShowsThePinnedPages() {
    CliRun r = gupTest("-c", "-p", "-m", "1", "-n", "8", "0", "0x10");
    assertEquals(0, r.exit(), r.out() + r.err());
    assertTrue(r.out().contains("# DUMP_USER_PAGES_TEST: done"), r.out());
    assertTrue(r.out().contains("# ---- page #0, starting from user virt addr: 0x"), r.out());
    assertTrue(r.out().contains("# ---- page #16, starting from user virt addr: 0x"), r.out());
    assertTrue(
        r.out().matches("(?s).*# page: refcount:1025 mapcount:1 .*pfn:0x[0-9a-f]+\n.*"), r.out());
    assertTrue(r.out().contains("# anon flags: 0x"), r.out());
    assertTrue(r.out().contains("# page dumped because: gup_test: dump_pages() test"), r.out());

    CliRun get = gupTest("-c", "-m", "1");
    assertTrue(get.out().matches("(?s).*# page: refcount:2 mapcount:1 .*"), get.out());
  }

  @Test
  void badInputIsEinval() {
    CliRun size = gupTest("-m", "0");
    assertEquals(22, size.exit(), size.out() + size.err());
    assertTrue(size.err().contains("EINVAL"), size.err());
    assertTrue(size.err().contains("size_in_MB"), size.err());
    assertEquals("", size.out());

    CliRun nr = gupTest("-n", "-1", "-m", "1");
    assertEquals(22, nr.exit(), nr.out() + nr.err());
    assertTrue(nr.err().contains("nr_pages_per_call"), nr.err());

    assertEquals(22, gupTest("-r", "0", "-m", "1").exit());
    assertEquals(22, gupTest("-z", "-m", "1").exit());
    assertEquals(95, gupTest("-H", "-m", "1").exit());
    assertEquals(95, gupTest("-f", "/tmp/file", "-m", "1").exit());
  }
}
