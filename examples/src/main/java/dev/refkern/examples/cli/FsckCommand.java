package dev.refkern.examples.cli;

import dev.refkern.fs.FileSystems;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.mm.KernelException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code refkern fsck IMAGE}: {@code e2fsck -n} of an image, with e2fsck's exit codes ({@code
 * e2fsck(8)}): 0 clean, 1 errors corrected (a journal replayed, once ext4 has one), 4 errors left
 * uncorrected, 8 an operational error (no such image, not that filesystem).
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "fsck",
    description = {
      "Check the filesystem image IMAGE (e2fsck -n); repairs nothing, prints each problem.",
      "Exit status as e2fsck: 0 clean, 1 errors corrected, 4 errors left, 8 operational error."
    })
final class FsckCommand implements Callable<Integer> {
  /** {@code FSCK_OK}, {@code FSCK_NONDESTRUCT}, {@code FSCK_UNCORRECTED}, {@code FSCK_ERROR}. */
  static final int OK = 0;

  static final int CORRECTED = 1;
  static final int UNCORRECTED = 4;
  static final int OPERATIONAL = 8;

  /** A check's line saying it corrected something (a journal replay), exit 1 when alone. */
  static final String CORRECTED_PREFIX = "corrected: ";

  @Option(
      names = "-t",
      defaultValue = "ext4",
      paramLabel = "TYPE",
      description = "Filesystem type (default: ${DEFAULT-VALUE}).")
  String type;

  @Parameters(index = "0", paramLabel = "IMAGE")
  Path image;

  @Override
  public Integer call() {
    List<String> problems;
    try {
      FileSystemType t = FileSystems.standard().get(type);
      FsCommand.requireImage(image);
      problems = t.check(image.toString());
    } catch (KernelException e) {
      System.err.println("refkern: fsck: " + e.getMessage()); // e2fsck: "No such file"
      return OPERATIONAL;
    }
    int corrected = 0;
    for (String p : problems) {
      System.out.println(image + ": " + p);
      corrected += p.startsWith(CORRECTED_PREFIX) ? 1 : 0;
    }
    if (problems.isEmpty()) {
      System.out.println(image + ": clean");
      return OK;
    }
    return corrected == problems.size() ? CORRECTED : UNCORRECTED;
  }
}
