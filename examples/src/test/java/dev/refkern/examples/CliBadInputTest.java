package dev.refkern.examples;

import static dev.refkern.examples.CliRun.run;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input to every command: one line on stderr, {@code "refkern: <ERRNO>: ..."}, the errno as the
 * exit status, never a stack trace.
 */
class CliBadInputTest {
  @TempDir Path tmp;

  private record Bad(String errno, int exit, String... args) {}

  @Test
  void everyBadInputIsOneLineWithTheErrno() throws Exception {
    Path file = Files.writeString(tmp.resolve("file"), "x");
    Path full = Files.createDirectories(tmp.resolve("full"));
    Files.writeString(full.resolve("inside"), "x");
    String st = tmp.resolve("state").toString();
    List<String> typos =
        List.of(
            "mem=64M gup.pin_trakcing=bias",
            "mem=64M gup.pin_tracking=nope",
            "mem=64M block.bio_pin_tracking=x");
    List<Bad> table = new java.util.ArrayList<>();
    for (String t : typos) {
      table.add(new Bad("EINVAL", 22, "boot", "--state", st, "--cmdline", t));
      table.add(new Bad("EINVAL", 22, "gup-test", "-m", "1", "--state", st, "--cmdline", t));
      table.add(new Bad("EINVAL", 22, "compare", "pin-tracking", "--no-chart", "--cmdline", t));
      table.add(new Bad("EINVAL", 22, "run", "dio", "--mb", "1", "--state", st, "--cmdline", t));
      table.add(new Bad("EINVAL", 22, "demo", "--state", st, "--cmdline", t));
    }
    table.addAll(
        List.of(
            // gup-test ranges, numbers and a size the machine cannot hold
            new Bad("EINVAL", 22, "gup-test", "-n", "0"),
            new Bad("EINVAL", 22, "gup-test", "-n", "-5"),
            new Bad("EINVAL", 22, "gup-test", "-n", "abc"),
            new Bad("EINVAL", 22, "gup-test", "-m", "0"),
            new Bad("EINVAL", 22, "gup-test", "-m", "9999999"),
            new Bad("EINVAL", 22, "gup-test", "-r", "0"),
            new Bad("EINVAL", 22, "gup-test", "-j", "100000"),
            new Bad("ENOMEM", 12, "gup-test", "-m", "2048", "--cmdline", "mem=1G"),
            new Bad("ENOMEM", 12, "gup-test", "-m", "16384", "--state", st, "-j", "1024"),
            // compare's output path, checked before the run, and a workload that cannot fit
            new Bad("ENOENT", 2, "compare", "pin-tracking", "--out", "/proc/x.png"),
            new Bad("ENOTDIR", 20, "compare", "pin-tracking", "--out", file + "/x.png"),
            new Bad("EISDIR", 21, "compare", "pin-tracking", "--out", full.toString()),
            new Bad("ENOMEM", 12, "compare", "pin-tracking", "--pages", "1000000"),
            new Bad("EINVAL", 22, "compare", "pin-tracking", "--pages", "-1"),
            // report: seeds and output paths, checked before anything runs
            new Bad("EINVAL", 22, "report", "--seeds", "5..1"),
            new Bad("EINVAL", 22, "report", "--seeds", "a..b"),
            new Bad("EINVAL", 22, "report", "--seeds", "1..2..3"),
            new Bad("EINVAL", 22, "report", "--pin-pages", "1"),
            new Bad("ENOTDIR", 20, "report", "--out", file + "/r"),
            new Bad("ENOENT", 2, "report", "--out", "/proc/r"),
            new Bad("EISDIR", 21, "report", "--out", tmp.toString(), "--markdown", full.toString()),
            // kernel command line values
            new Bad(
                "EINVAL", 22, "boot", "--state", st, "--cmdline", "min_free_kbytes=99999999999"),
            new Bad("EINVAL", 22, "boot", "--state", st, "--cmdline", "mem=1G zone_device=4T"),
            new Bad("EINVAL", 22, "bench", "--mem", "1G gup.pin_trakcing=bias"),
            // bench
            new Bad("EINVAL", 22, "bench", "--ops", "0"),
            new Bad("EINVAL", 22, "bench", "--ops", "-3"),
            new Bad("EINVAL", 22, "bench", "--ops", "many"),
            new Bad("EINVAL", 22, "run", "dio", "--mb", "x"),
            // usage errors are EINVAL too, on every command
            new Bad("EINVAL", 22, "--bogus"),
            new Bad("EINVAL", 22, "nosuchcommand"),
            new Bad("EINVAL", 22, "boot", "--bogus"),
            new Bad("EINVAL", 22, "inspect", "--bogus"),
            new Bad("EINVAL", 22, "inspect", "--pfn", "x"),
            new Bad("EINVAL", 22, "demo", "--bogus"),
            new Bad("EINVAL", 22, "bench", "--bogus"),
            new Bad("EINVAL", 22, "gup-test", "--bogus"),
            new Bad("EINVAL", 22, "compare", "pin-tracking", "--bogus"),
            new Bad("EINVAL", 22, "run", "dio", "--bogus")));
    for (Bad b : table) {
      String what = String.join(" ", b.args());
      CliRun r = run(b.args());
      List<String> lines = r.err().lines().toList();
      assertEquals(b.exit(), r.exit(), what + "\n" + r.out() + r.err());
      assertEquals(1, lines.size(), what + "\n" + r.err());
      assertTrue(lines.get(0).startsWith("refkern: " + b.errno() + ": "), what + "\n" + r.err());
      for (String s : new String[] {r.out(), r.err()}) {
        assertFalse(s.contains("Exception") || s.contains("\tat "), what + "\n" + s);
      }
    }
    assertEquals(List.of("inside"), List.of(full.toFile().list()), "nothing written");
  }

  @Test
  void aHugeBatchIsClampedToTheMappingNotAnOutOfMemoryError() {
    CliRun r = run("gup-test", "-m", "1", "-n", "2147483647", "--state", tmp.toString());
    assertEquals(0, r.exit(), r.out() + r.err());
    assertTrue(r.out().contains("ok 1 ioctl status 0"), r.out());
  }

  @Test
  void everyCommandHasHelp() {
    for (String[] cmd :
        new String[][] {
          {"boot"},
          {"inspect"},
          {"demo"},
          {"bench"},
          {"gup-test"},
          {"compare"},
          {"compare", "pin-tracking"},
          {"run"},
          {"run", "dio"}
        }) {
      String[] args = java.util.Arrays.copyOf(cmd, cmd.length + 1);
      args[cmd.length] = "--help";
      CliRun r = run(args);
      assertEquals(0, r.exit(), String.join(" ", args) + r.err());
      assertTrue(r.out().startsWith("Usage: refkern " + String.join(" ", cmd)), r.out());
    }
  }
}
