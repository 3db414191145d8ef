package dev.refkern.mm.internal.memmap;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileChannel.MapMode;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Properties;
import java.util.function.ToLongFunction;
import net.openhft.chronicle.map.ChronicleMap;
import org.apiguardian.api.API;

/**
 * The persistent memmap: one Chronicle Map entry per memory section ({@code struct mem_section},
 * {@value #SECTION_SHIFT}-bit pfn sections of 128 MiB), each value the section's page descriptors.
 * The map is queried once per section at open; afterwards descriptors are reached by address
 * arithmetic, as {@code pfn_to_page()} does.
 *
 * <p>Beside the map, {@code kernel.properties} records the layout (including each section's file
 * offset, so an inspector maps the file read-only without Chronicle), the kernel's status (running,
 * stopped, crashed) and, once the kernel stopped or crashed, a CRC32C per section. The running
 * kernel holds OS file locks on both {@code lock} and the memmap file for its whole life, so a
 * second kernel gets {@code EBUSY} even if {@code lock} was deleted.
 *
 * <p>This class owns the open memmap and its one channel on the file; the state directory, the
 * checksums and the Chronicle layout are in {@code StateDir}, {@code SectionChecksums} and {@code
 * ChronicleLayout}.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class MemmapFile implements AutoCloseable {
  public static final int SECTION_SHIFT = 15;
  public static final long PAGES_PER_SECTION = 1L << SECTION_SHIFT;
  public static final int SECTION_BYTES = (int) (PAGES_PER_SECTION * PageDescriptor.SIZE);

  /**
   * Each section's value carries one spare descriptor's worth of bytes so that its descriptors can
   * start on a 64-byte (cache-line) boundary: Chronicle does not align values, and an atomic that
   * straddles a cache line is a split lock, microseconds each.
   */
  static final int VALUE_BYTES = SECTION_BYTES + PageDescriptor.SIZE;

  public static final String FORMAT = "refkern-memmap-2";
  public static final String MAP_FILE = "memmap.cmap";
  public static final String PROPS_FILE = "kernel.properties";
  public static final String LOCK_FILE = "lock";

  static {
    ChronicleRuntime.configure(); // before Chronicle's first class initialises
  }

  private final Path dir;
  private final ChronicleMap<Integer, byte[]> map; // null when opened for inspection
  private final long[] sectionBase;
  private final long[] sectionOffset;
  private final Properties props;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final FileChannel mapChannel;
  private ByteBuffer[] roBuffers; // an inspection's read-only sections
  private boolean closed;

  private MemmapFile(
      Path dir,
      ChronicleMap<Integer, byte[]> map,
      long[] sectionBase,
      long[] sectionOffset,
      Properties props,
      FileChannel[] channels,
      FileLock[] locks) {
    this.dir = dir;
    this.map = map;
    this.sectionBase = sectionBase;
    this.sectionOffset = sectionOffset;
    this.props = props;
    this.lockChannel = channels[0];
    this.mapChannel = channels[1];
    this.lock = locks[0];
  }

  /**
   * Creates a fresh memmap of {@code nrPfns} frames for a booting kernel.
   *
   * @param reset discard a previous kernel's memmap in {@code dir} instead of refusing to boot
   * @throws KernelException {@code EBUSY} if a kernel runs on {@code dir}; {@code EEXIST} if it
   *     holds a previous kernel's memmap and {@code reset} is false; {@code ENOSPC} if the disk
   *     cannot hold the memmap; {@code ENOENT}/{@code ENOTDIR}/{@code EACCES} for a bad {@code
   *     dir}; {@code EPERM} if the JVM lacks one of Chronicle's {@code --add-opens}/{@code
   *     --add-exports}
   */
  public static MemmapFile create(
      Path dir, long nrPfns, String cmdline, boolean reset, java.util.Map<String, String> extra) {
    return create(dir, nrPfns, cmdline, reset, extra, done -> {});
  }

  /**
   * Creates a fresh memmap, telling {@code progress} after each section how many frames have
   * descriptors (ending at {@code nrPfns}).
   */
  public static MemmapFile create(
      Path dir,
      long nrPfns,
      String cmdline,
      boolean reset,
      java.util.Map<String, String> extra,
      java.util.function.LongConsumer progress) {
    checkDir(dir, true);
    ChronicleRuntime.requireJvmFlags();
    FileChannel ch = null;
    FileLock lock = null;
    FileChannel mapCh = null;
    ChronicleMap<Integer, byte[]> map = null;
    Path mapFile = dir.resolve(MAP_FILE);
    boolean creating = false;
    try {
      Files.createDirectories(dir);
      ch = FileChannel.open(dir.resolve(LOCK_FILE), StateDir.CREATE_RW);
      lock = StateDir.tryLock(ch, false);
      // the memmap file's own lock: the lock file may have been deleted and recreated
      if (lock == null || StateDir.heldByKernel(mapFile)) {
        throw new KernelException(
            Errno.EBUSY,
            "state directory "
                + dir
                + " is in use by a running kernel ("
                + StateDir.describe(dir)
                + ")");
      }
      if (Files.exists(mapFile) || Files.exists(dir.resolve(PROPS_FILE))) {
        if (!reset) {
          throw new KernelException(
              Errno.EEXIST,
              "state directory "
                  + dir
                  + " holds the memmap of a previous kernel ("
                  + StateDir.describe(dir)
                  + "); inspect it with 'refkern inspect --state "
                  + dir
                  + "' or pass --reset to discard it");
        }
        Files.deleteIfExists(mapFile);
        Files.deleteIfExists(dir.resolve(PROPS_FILE));
      }
      int sections = (int) ((nrPfns + PAGES_PER_SECTION - 1) >>> SECTION_SHIFT);
      long need = ChronicleLayout.estimateBytes(sections);
      long free = StateDir.usableSpace(dir);
      if (free < need) {
        throw StateDir.noSpace(dir, need, free);
      }
      creating = true;
      map = ChronicleLayout.builder(sections).createPersistedTo(mapFile.toFile());
      ChronicleLayout.ZeroSection zero = new ChronicleLayout.ZeroSection();
      for (int s = 0; s < sections; s++) {
        ChronicleLayout.insert(map, s, zero);
        progress.accept(Math.min(nrPfns, (s + 1L) << SECTION_SHIFT));
      }
      long[] bases = ChronicleLayout.addresses(map, sections);
      // Chronicle holds a shared lock on the whole file while the map is open: the kernel's life
      // lock, which a second kernel's exclusive probe (heldByKernel) runs into. Closing any fd of
      // the file drops a process's locks (POSIX), so the kernel reads it through this one channel,
      // open until close().
      mapCh = FileChannel.open(mapFile, StandardOpenOption.READ, StandardOpenOption.WRITE);
      long[] offsets = ChronicleLayout.locate(map, mapCh, bases, new byte[Long.BYTES]);
      Properties p = new Properties();
      p.setProperty("format", FORMAT);
      p.setProperty("descriptor_bytes", Integer.toString(PageDescriptor.SIZE));
      p.setProperty("section_shift", Integer.toString(SECTION_SHIFT));
      p.setProperty("nr_pfns", Long.toString(nrPfns));
      p.setProperty("sections", Integer.toString(sections));
      p.setProperty("section_offsets", ChronicleLayout.encodeOffsets(offsets));
      p.setProperty("cmdline", cmdline);
      p.setProperty("pid", Long.toString(ProcessHandle.current().pid()));
      p.setProperty("boot_time", java.time.Instant.now().toString());
      p.setProperty("file_size", Long.toString(Files.size(mapFile)));
      p.setProperty("header_crc", Long.toString(SectionChecksums.headerCrc(mapCh)));
      extra.forEach(p::setProperty);
      p.setProperty("status", "running");
      MemmapFile f =
          new MemmapFile(
              dir,
              map,
              bases,
              offsets,
              p,
              new FileChannel[] {ch, mapCh},
              new FileLock[] {lock, null});
      f.storeProps();
      return f;
    } catch (IOException | RuntimeException e) {
      if (map != null) {
        map.close();
      }
      StateDir.release(mapCh, null);
      KernelException ke =
          e instanceof KernelException k ? k : ioError("cannot create memmap in " + dir, e);
      if (creating && (ke.errno() == Errno.ENOSPC || isNoSpace(e))) {
        // a half-allocated memmap would keep the disk full and look like a previous kernel's
        try {
          Files.deleteIfExists(mapFile);
          Files.deleteIfExists(dir.resolve(PROPS_FILE));
        } catch (IOException ignored) {
          // best effort
        }
        if (ke.errno() != Errno.ENOSPC) {
          ke =
              StateDir.noSpace(
                  dir,
                  ChronicleLayout.estimateBytes(
                      (int) ((nrPfns + PAGES_PER_SECTION - 1) >>> SECTION_SHIFT)),
                  StateDir.usableSpace(dir));
        }
      }
      StateDir.release(ch, lock);
      throw ke;
    }
  }

  // The state directory's helpers that mm-core's API package uses; they live in StateDir.

  /** Replaces the free-space probe (tests); null restores the file store's. */
  public static void setUsableSpaceProbe(ToLongFunction<Path> probe) {
    StateDir.setUsableSpaceProbe(probe);
  }

  /** True if {@code e} or a cause is the OS's ENOSPC ("No space left on device"). */
  public static boolean isNoSpace(Throwable e) {
    return StateDir.isNoSpace(e);
  }

  /** The errno an I/O failure on the state directory stands for, with one line of text. */
  public static KernelException ioError(String what, Throwable e) {
    return StateDir.ioError(what, e);
  }

  /**
   * Checks a state directory path the way {@code open()} would: {@code ENOENT} for an empty path
   * (or, unless {@code mayCreate}, a missing one), {@code ENOTDIR} if it or a parent is a regular
   * file, {@code EACCES} if it cannot be searched or read.
   */
  public static void checkDir(Path dir, boolean mayCreate) {
    StateDir.checkDir(dir, mayCreate);
  }

  /**
   * True when a kernel process holds the directory right now: the lock on {@code lock} or on the
   * memmap file itself. Opens both read-only, so inspecting a read-only directory works.
   */
  public static boolean isLive(Path dir) {
    return StateDir.isLive(dir);
  }

  /**
   * The directory's {@code kernel.properties}, or null if absent.
   *
   * @throws KernelException {@code EACCES} if it cannot be read, {@code EINVAL} if it is garbled
   */
  public static Properties readProps(Path dir) {
    return StateDir.readProps(dir);
  }

  /** A numeric property; a missing or malformed one is {@code EINVAL}, "corrupt state". */
  public static long longProp(Path dir, Properties p, String key) {
    return StateDir.longProp(dir, p, key);
  }

  /**
   * Opens a memmap read-only for inspection while its kernel runs or after it died: maps the file
   * itself ({@code MAP_SHARED}, {@code PROT_READ}) at the offsets recorded at boot, never writes to
   * the directory. Validates the layout and the file before mapping it, so a corrupt or foreign
   * file is a clear error, not a crash.
   *
   * @throws KernelException {@code ENOENT} if there is no memmap; {@code EINVAL} if it is corrupt
   *     or of another format; {@code EACCES} if it cannot be read
   */
  public static MemmapFile openForInspection(Path dir) {
    checkDir(dir, false);
    ChronicleRuntime.requireJvmFlags();
    Properties p = readProps(dir);
    if (p == null) {
      throw new KernelException(Errno.ENOENT, "no memmap in " + dir + " (no " + PROPS_FILE + ")");
    }
    StateDir.requireEquals(dir, p, "format", FORMAT);
    StateDir.requireEquals(dir, p, "descriptor_bytes", Integer.toString(PageDescriptor.SIZE));
    StateDir.requireEquals(dir, p, "section_shift", Integer.toString(SECTION_SHIFT));
    Path mapFile = dir.resolve(MAP_FILE);
    int sections = (int) longProp(dir, p, "sections");
    long expectSize = longProp(dir, p, "file_size");
    long nrPfns = longProp(dir, p, "nr_pfns");
    long headerCrc = longProp(dir, p, "header_crc");
    if (sections <= 0 || nrPfns <= 0 || nrPfns > ((long) sections << SECTION_SHIFT)) {
      throw StateDir.corrupt(dir, "inconsistent layout in " + PROPS_FILE);
    }
    long[] offsets = ChronicleLayout.decodeOffsets(dir, p, sections);
    if (!Files.exists(mapFile)) {
      throw new KernelException(Errno.ENOENT, "no memmap file " + mapFile);
    }
    ByteBuffer[] buffers = new ByteBuffer[sections];
    try (FileChannel ch = FileChannel.open(mapFile, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size != expectSize) {
        throw StateDir.corrupt(dir, MAP_FILE + " is " + size + " bytes, expected " + expectSize);
      }
      for (long off : offsets) {
        if (off < 0 || off + SECTION_BYTES > size) {
          throw StateDir.corrupt(dir, "section offset " + off + " outside " + MAP_FILE);
        }
      }
      if (SectionChecksums.headerCrc(ch) != headerCrc) {
        throw StateDir.corrupt(dir, MAP_FILE + " header does not match the one written at boot");
      }
      for (int s = 0; s < sections; s++) {
        buffers[s] = ch.map(MapMode.READ_ONLY, offsets[s], SECTION_BYTES);
      }
    } catch (IOException e) {
      throw ioError("cannot read memmap " + mapFile, e);
    }
    MemmapFile f =
        new MemmapFile(
            dir, null, new long[sections], offsets, p, new FileChannel[2], new FileLock[2]);
    f.roBuffers = buffers;
    return f;
  }

  /** True if the memmap recorded section checksums (the kernel stopped or crashed, then closed). */
  public boolean hasChecksums() {
    return SectionChecksums.present(props);
  }

  /**
   * Verifies each section's descriptors against the CRC32C recorded when the kernel stopped.
   *
   * @return the number of sections verified
   * @throws KernelException {@code EUCLEAN} naming the first section that does not match
   */
  public int verifyChecksums() {
    return SectionChecksums.verify(dir, props, sectionOffset);
  }

  /** Records the kernel's status ({@code running}, {@code stopped}, {@code crashed}). */
  public synchronized void setStatus(String status, String detail) {
    props.setProperty("status", status);
    if (detail != null) {
      props.setProperty("status_detail", detail);
    }
    storeProps();
  }

  private void storeProps() {
    StateDir.storeProps(dir, props);
  }

  /** True if this is a read-only inspection mapping (never writes to the directory). */
  public boolean readOnly() {
    return map == null;
  }

  /** The directory's recorded properties (status, cmdline, layout). */
  public Properties properties() {
    return (Properties) props.clone();
  }

  /** Base addresses of each section's descriptors; index by {@code pfn >>> SECTION_SHIFT}. */
  public long[] sectionBases() {
    return sectionBase.clone();
  }

  /**
   * Each section's descriptors as a direct buffer, for {@code VarHandle} access; index by {@code
   * pfn >>> SECTION_SHIFT}. A kernel's buffers map the same file pages as Chronicle's own {@code
   * MAP_SHARED} mapping (coherent on Linux) at the file offsets located at boot, through the one
   * channel the kernel keeps open (closing another fd of the file would drop its OS lock); an
   * inspection's are read-only.
   */
  public ByteBuffer[] sectionBuffers() {
    ByteBuffer[] out = new ByteBuffer[sectionOffset.length];
    for (int s = 0; s < out.length; s++) {
      try {
        out[s] =
            (map == null
                    ? roBuffers[s].duplicate()
                    : mapChannel.map(MapMode.READ_WRITE, sectionOffset[s], SECTION_BYTES))
                .order(ByteOrder.nativeOrder());
      } catch (IOException e) {
        throw ioError("cannot map memmap section " + s + " in " + dir, e);
      }
    }
    return out;
  }

  /** Section {@code s}'s value as Chronicle reads it (tests check the buffers against it). */
  byte[] sectionValue(int s) {
    return map.get(s);
  }

  /** Number of frames the memmap describes. */
  public long nrPfns() {
    return Long.parseLong(props.getProperty("nr_pfns"));
  }

  /** The state directory. */
  public Path dir() {
    return dir;
  }

  /** Total bytes of the memmap file. */
  public long fileBytes() {
    return Long.parseLong(props.getProperty("file_size"));
  }

  /**
   * Stops the kernel's memmap: unmaps it, records each section's CRC32C and {@code status}, then
   * releases the directory's locks. Call only once the kernel's tasks stopped touching it.
   *
   * @param status {@code stopped} or {@code crashed}; null leaves the status as it is (the kernel
   *     could not stop cleanly) and records no checksums
   */
  public synchronized void close(String status) {
    if (closed) {
      return;
    }
    closed = true;
    if (map == null) {
      unmapReadOnly();
      return;
    }
    map.close();
    try {
      if (status != null) {
        SectionChecksums.record(props, mapChannel, sectionOffset);
        props.setProperty("status", status);
        storeProps();
      }
    } catch (IOException e) {
      throw ioError("cannot checksum memmap in " + dir, e);
    } finally {
      StateDir.release(mapChannel, null);
      StateDir.release(lockChannel, lock);
    }
  }

  private void unmapReadOnly() {
    roBuffers = null; // the buffers' mappings go with the garbage collector
  }

  /**
   * Unmaps the memmap. An inspection just unmaps; a kernel's memmap is left with its status as is
   * (see {@link #close(String)}) and its locks released.
   */
  @Override
  public void close() {
    close(null);
  }
}
