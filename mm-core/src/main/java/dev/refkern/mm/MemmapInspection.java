package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.internal.memmap.MemmapFile;
import dev.refkern.mm.internal.memmap.OffHeapMemmap;
import dev.refkern.mm.internal.pageops.CheckedMemmap;
import java.nio.file.Path;
import java.util.Properties;
import org.apiguardian.api.API;

/**
 * A memmap opened by another process for post-mortem or live inspection, the way {@code page-types}
 * reads {@code /proc/kpageflags}: works while its kernel runs, after a clean shutdown, after a
 * {@code BUG()} and after the process was killed.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
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

  private final long ramPfns;

  private MemmapInspection(MemmapFile file, KernelState state) {
    this.file = file;
    Properties p = file.properties();
    long ram = p.containsKey("ram_pfns") ? prop(p, "ram_pfns") : file.nrPfns();
    long movable = p.containsKey("movable_start") ? prop(p, "movable_start") : ram;
    if (ram < 0 || ram > file.nrPfns() || movable < 0 || movable > ram) {
      throw new KernelException(
          Errno.EINVAL,
          "corrupt state: ram_pfns="
              + ram
              + ", movable_start="
              + movable
              + " in "
              + file.dir().resolve(MemmapFile.PROPS_FILE));
    }
    this.ramPfns = ram;
    this.memmap =
        new CheckedMemmap(new OffHeapMemmap(file.sectionBuffers(), file.nrPfns(), movable, ram));
    this.state = state;
  }

  private long prop(Properties p, String key) {
    return MemmapFile.longProp(file.dir(), p, key);
  }

  /**
   * Opens the memmap in {@code stateDir} read-only: nothing in the directory is written, not even
   * its times, so a read-only or another user's memmap can be inspected.
   *
   * @throws KernelException {@code ENOENT} if there is none; {@code ENOTDIR} if {@code stateDir} is
   *     a file; {@code EACCES} if it cannot be read; {@code EINVAL} if it is corrupt or of another
   *     format
   */
  public static MemmapInspection open(Path stateDir) {
    MemmapFile.checkDir(stateDir, false);
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
    try {
      return new MemmapInspection(f, s);
    } catch (RuntimeException e) {
      f.close();
      throw e;
    }
  }

  /** True: the memmap is mapped read-only; an inspection never writes to it. */
  public boolean readOnly() {
    return file.readOnly();
  }

  /** What {@link #verify()} can prove about this memmap, as one line for the inspector's output. */
  public String integrityNote() {
    if (state == KernelState.RUNNING) {
      return "checksums not verified: the kernel is running";
    }
    if (file.hasChecksums()) {
      return "checksums: CRC32C per section, recorded when the kernel stopped";
    }
    return state == KernelState.DIED
        ? "checksums not verifiable: the kernel died without shutdown; structure checked instead"
        : "checksums not verifiable: the kernel did not shut down; structure checked instead";
  }

  /**
   * Checks a dead kernel's memmap: each section against its recorded CRC32C, or, when none could be
   * recorded (the kernel died), every descriptor against structural invariants. A live kernel's
   * memmap changes under the reader and is not checked.
   *
   * @throws KernelException {@code EUCLEAN} naming the bad section or the first bad pfn
   */
  public void verify() {
    if (state == KernelState.RUNNING) {
      return;
    }
    if (file.hasChecksums()) {
      file.verifyChecksums();
      return;
    }
    checkStructure();
  }

  /** Sanity checks a memmap without checksums; the first violation is {@code EUCLEAN}. */
  private void checkStructure() {
    long head = PageFlags.bit(PageFlags.PG_HEAD);
    long tail = PageFlags.bit(PageFlags.PG_TAIL);
    long buddy = PageFlags.bit(PageFlags.PG_BUDDY);
    for (long pfn = 0; pfn < memmap.nrPfns(); pfn++) {
      long flags = memmap.flags(pfn);
      if (memmap.refcount(pfn) < 0) {
        throw unclean(pfn, "refcount " + memmap.refcount(pfn) + " is negative");
      }
      if (memmap.mapcount(pfn) < 0 || memmap.pincount(pfn) < 0) {
        throw unclean(
            pfn, "mapcount " + memmap.mapcount(pfn) + ", pincount " + memmap.pincount(pfn));
      }
      if ((flags & buddy) != 0) {
        long order = memmap.privateData(pfn);
        if (order < 0 || order > PageAllocator.MAX_ORDER) {
          throw unclean(
              pfn,
              "free buddy block of order "
                  + order
                  + " (outside 0.."
                  + PageAllocator.MAX_ORDER
                  + ")");
        }
        if ((flags & (head | tail)) != 0 || memmap.refcount(pfn) != 0) {
          throw unclean(pfn, "free buddy page with compound flags or references");
        }
      }
      if ((flags & head) != 0 && (flags & tail) != 0) {
        throw unclean(pfn, "both PG_head and PG_tail");
      }
      if ((flags & head) != 0) {
        int order = memmap.compound(pfn);
        if (order < 1
            || order > PageAllocator.MAX_ORDER
            || (pfn & ((1L << order) - 1)) != 0
            || pfn + (1L << order) > memmap.nrPfns()) {
          throw unclean(pfn, "compound head of order " + order);
        }
      }
      if ((flags & tail) != 0) {
        long off = memmap.compound(pfn);
        long h = pfn - off;
        if (off < 1
            || h < 0
            || (memmap.flags(h) & head) == 0
            || off >= (1L << Math.min(PageAllocator.MAX_ORDER, Math.max(0, memmap.compound(h))))) {
          throw unclean(pfn, "tail page " + off + " pages after a pfn that is not its head");
        }
      }
    }
  }

  private KernelException unclean(long pfn, String why) {
    return new KernelException(
        Errno.EUCLEAN,
        "memmap in " + file.dir() + " fails sanity checks at pfn " + pfn + ": " + why);
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
    return ramPfns;
  }

  @Override
  public void close() {
    file.close();
  }
}
