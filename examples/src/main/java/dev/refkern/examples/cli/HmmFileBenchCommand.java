package dev.refkern.examples.cli;

import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.TextTable;
import dev.refkern.examples.fs.DeviceFileScenario;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.vm.DeviceFilePagePolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern hmmfilebench}: seed 004's GPU-on-a-file workload ({@link DeviceFileScenario})
 * under every {@code hmm.file_pages=} value the policy registry lists, on each filesystem asked
 * for: bytes bounced against migrations back and the time callers waited for them.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "hmmfilebench",
    sortOptions = false,
    description = {
      "A GPU computing into a file mapping with the file's pages in device memory, under each"
          + " hmm.file_pages= value (seed 004).",
      "Per filesystem and policy: mkfs, a sparse file mapped MAP_SHARED, a GPU with"
          + " device-private memory writing seeded rounds of pages (the first round fills every"
          + " hole through devicePageMkwrite), fsync after each round, umount, remount and fsck."
          + " Prints GPU page writes and failed DMAs, pages migrated to the device, migrations"
          + " back and the ns callers waited for them (scheduler clock), folios and bytes"
          + " bounced, pages whose fsync'd data a fresh kernel did not read, and wall time. Counts"
          + " are deterministic for a seed; times vary."
    })
final class HmmFileBenchCommand implements Callable<Integer> {
  static final String[] HEADERS = {
    "fs",
    "policy",
    "gpu-writes",
    "dma-failed",
    "to-device",
    "migrations-back",
    "stall-ns",
    "folios-bounced",
    "bounced-B",
    "synced-lost",
    "wall-ms"
  };

  @Option(
      names = "--fs",
      paramLabel = "NAME",
      split = ",",
      defaultValue = "ext4,xfs",
      description = "ext4 and/or xfs; repeat or comma-separate (default: ${DEFAULT-VALUE}).")
  List<String> fs;

  @Option(
      names = "--pages",
      defaultValue = "64",
      paramLabel = "N",
      description = "The file's size in pages, all holes at first (default: ${DEFAULT-VALUE}).")
  int pages;

  @Option(
      names = "--rounds",
      defaultValue = "8",
      paramLabel = "R",
      description = "GPU write + fsync rounds (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(
      names = "--seed",
      defaultValue = "1",
      paramLabel = "S",
      description = "Seed of the pages each round writes (default: ${DEFAULT-VALUE}).")
  long seed;

  @Override
  public Integer call() {
    if (pages < 1 || pages > 1024) {
      throw new KernelException(Errno.EINVAL, "--pages " + pages + ": must be 1 to 1024");
    }
    if (rounds < 1 || rounds > 1000) {
      throw new KernelException(Errno.EINVAL, "--rounds " + rounds + ": must be 1 to 1000");
    }
    for (String f : fs) {
      if (!f.equals("ext4") && !f.equals("xfs")) {
        throw new KernelException(Errno.EINVAL, "--fs " + f + ": must be ext4 or xfs");
      }
    }
    List<String> policies = PolicyRegistry.global().names(DeviceFilePagePolicy.PARAM);
    java.nio.file.Path dir = KernelSession.stateDir(null, "refkern-hmmfilebench");
    try {
      System.out.printf(
          "hmmfilebench: %s; %d pages, %d rounds, seed %d%n",
          String.join(",", fs), pages, rounds, seed);
      DeviceFileScenario s = new DeviceFileScenario(dir);
      List<String[]> rows = new ArrayList<>();
      rows.add(HEADERS);
      List<String> violations = new ArrayList<>();
      for (String f : fs) {
        for (String p : policies) {
          if (KernelSession.exiting()) {
            break;
          }
          long t0 = System.nanoTime();
          DeviceFileScenario.Outcome o =
              s.run(new DeviceFileScenario.Options(seed, p, f, pages, rounds, false, false));
          long wall = System.nanoTime() - t0;
          rows.add(row(o, wall));
          for (String v : o.violations()) {
            violations.add(f + " " + p + ": " + v);
          }
          for (String v : o.fsck()) {
            violations.add(f + " " + p + ": fsck: " + v);
          }
        }
      }
      System.out.print(TextTable.render(rows));
      System.out.flush();
      return FinalCheck.exitStatus(System.err, violations);
    } finally {
      KernelSession.release(dir);
    }
  }

  static String[] row(DeviceFileScenario.Outcome o, long wallNanos) {
    var st = o.policyStats();
    return new String[] {
      o.options().fs(),
      o.options().policy(),
      Long.toString(o.deviceWrites()),
      Long.toString(o.dmaFailed()),
      Long.toString(o.migratedToDevice()),
      Long.toString(st.get("migrations_back")),
      Long.toString(st.get("stall_ns")),
      Long.toString(st.get("folios_bounced")),
      Long.toString(st.get("bytes_bounced")),
      Integer.toString(o.syncedLost()),
      Long.toString(wallNanos / 1_000_000)
    };
  }
}
