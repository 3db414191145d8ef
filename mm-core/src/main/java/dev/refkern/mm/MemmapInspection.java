package dev.refkern.mm;

import dev.refkern.mm.internal.memmap.MemmapFile;
import dev.refkern.mm.internal.memmap.OffHeapMemmap;
import java.nio.file.Path;
import java.util.Properties;

/**
 * A memmap opened by another process for post-mortem or live inspection, the way {@code page-types}
 * reads {@code /proc/kpageflags}: works while its kernel runs, after a clean shutdown, after a
 * {@code BUG()} and after the process was killed.
 */
public final class MemmapInspection implements AutoCloseable {
  /** What the state directory says of its kernel. */
  public enum KernelState {
    /** A kernel process holds the directory now. */
    RUNNING,
    /** Shut down cleanly. */
    STOPPED,
    /** Stopped by {@code BUG()}. */
    CRASHED,
    /** Was running and vanished without shutting down (killed). */
    DIED
  }

  private final MemmapFile file;
  private final Memmap memmap;
  private final KernelState state;

  private MemmapInspection(MemmapFile file, KernelState state) {
    this.file = file;
    Properties p = file.properties();
    long ram = Long.parseLong(p.getProperty("ram_pfns", Long.toString(file.nrPfns())));
    long movable = Long.parseLong(p.getProperty("movable_start", Long.toString(ram)));
    this.memmap =
        new CheckedMemmap(new OffHeapMemmap(file.sectionBuffers(), file.nrPfns(), movable, ram));
    this.state = state;
  }

  /**
   * Opens the memmap in {@code stateDir}.
   *
   * @throws KernelException {@code ENOENT} if there is none; {@code EINVAL} if it is corrupt or of
   *     another format
   */
  public static MemmapInspection open(Path stateDir) {
    boolean live = MemmapFile.isLive(stateDir);
    MemmapFile f = MemmapFile.openForInspection(stateDir);
    String status = f.properties().getProperty("status", "");
    KernelState s =
        live
            ? KernelState.RUNNING
            : switch (status) {
              case "stopped" -> KernelState.STOPPED;
              case "crashed" -> KernelState.CRASHED;
              default -> KernelState.DIED;
            };
    return new MemmapInspection(f, s);
  }

  /** The memmap, read live from the file. */
  public Memmap memmap() {
    return memmap;
  }

  public KernelState state() {
    return state;
  }

  /**
   * A recorded property: {@code cmdline}, {@code pid}, {@code boot_time}, {@code status_detail}.
   */
  public String property(String key) {
    return file.properties().getProperty(key);
  }

  /** Frames of RAM (the rest is {@code ZONE_DEVICE}). */
  public long ramPfns() {
    return Long.parseLong(property("ram_pfns"));
  }

  @Override
  public void close() {
    file.close();
  }
}
