package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import java.nio.file.Path;
import org.apiguardian.api.API;

/**
 * What a kernel boots from: its command line ({@code boot_command_line}) and its state directory.
 *
 * @param reset discard a previous kernel's memmap in {@code stateDir} instead of refusing
 * @param progress told how far boot's loops over every frame have got ({@link BootProgress#NONE}
 *     for nothing)
 */
@API(status = STABLE, since = "0.1.0")
public record BootConfig(BootParams params, Path stateDir, boolean reset, BootProgress progress) {
  /** The default state directory, {@code ./refkern-state}. */
  public static final Path DEFAULT_STATE_DIR = Path.of("refkern-state");

  public BootConfig {
    if (params == null || stateDir == null) {
      throw new KernelException(Errno.EINVAL, "boot needs a command line and a state directory");
    }
    if (progress == null) {
      progress = BootProgress.NONE;
    }
  }

  /** A boot that reports no progress. */
  public BootConfig(BootParams params, Path stateDir, boolean reset) {
    this(params, stateDir, reset, BootProgress.NONE);
  }
}
