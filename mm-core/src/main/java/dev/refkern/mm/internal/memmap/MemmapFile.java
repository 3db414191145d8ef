package dev.refkern.mm.internal.memmap;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileChannel.MapMode;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Properties;
import java.util.function.ToLongFunction;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import net.openhft.chronicle.hash.Data;
import net.openhft.chronicle.hash.impl.VanillaChronicleHash;
import net.openhft.chronicle.map.ChronicleMap;
import net.openhft.chronicle.map.ChronicleMapBuilder;
import net.openhft.chronicle.map.ExternalMapQueryContext;
import net.openhft.chronicle.map.MapEntry;
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
  private static final int HEADER_CRC_BYTES = 64;
  private static final String CRC_KEY = "section_crc32c";

  /** Free bytes where a memmap would go; replaceable so a test need not fill a disk. */
  private static volatile ToLongFunction<Path> usableSpace = MemmapFile::fileStoreUsableSpace;

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
      ch = FileChannel.open(dir.resolve(LOCK_FILE), CREATE_RW);
      lock = tryLock(ch, false);
      // the memmap file's own lock: the lock file may have been deleted and recreated
      if (lock == null || heldByKernel(mapFile)) {
        throw new KernelException(
            Errno.EBUSY,
            "state directory " + dir + " is in use by a running kernel (" + describe(dir) + ")");
      }
      if (Files.exists(mapFile) || Files.exists(dir.resolve(PROPS_FILE))) {
        if (!reset) {
          throw new KernelException(
              Errno.EEXIST,
              "state directory "
                  + dir
                  + " holds the memmap of a previous kernel ("
                  + describe(dir)
                  + "); inspect it with 'refkern inspect --state "
                  + dir
                  + "' or pass --reset to discard it");
        }
        Files.deleteIfExists(mapFile);
        Files.deleteIfExists(dir.resolve(PROPS_FILE));
      }
      int sections = (int) ((nrPfns + PAGES_PER_SECTION - 1) >>> SECTION_SHIFT);
      long need = estimateBytes(sections);
      long free = usableSpace.applyAsLong(dir);
      if (free < need) {
        throw noSpace(dir, need, free);
      }
      creating = true;
      map = builder(sections).createPersistedTo(mapFile.toFile());
      byte[] zero = new byte[VALUE_BYTES];
      for (int s = 0; s < sections; s++) {
        map.put(s, zero);
        progress.accept(Math.min(nrPfns, (s + 1L) << SECTION_SHIFT));
      }
      long[] bases = addresses(map, sections);
      // Chronicle holds a shared lock on the whole file while the map is open: the kernel's life
      // lock, which a second kernel's exclusive probe (heldByKernel) runs into. Closing any fd of
      // the file drops a process's locks (POSIX), so the kernel reads it through this one channel,
      // open until close().
      mapCh = FileChannel.open(mapFile, StandardOpenOption.READ, StandardOpenOption.WRITE);
      long[] offsets = locate(map, mapCh, bases, zero);
      Properties p = new Properties();
      p.setProperty("format", FORMAT);
      p.setProperty("descriptor_bytes", Integer.toString(PageDescriptor.SIZE));
      p.setProperty("section_shift", Integer.toString(SECTION_SHIFT));
      p.setProperty("nr_pfns", Long.toString(nrPfns));
      p.setProperty("sections", Integer.toString(sections));
      p.setProperty("section_offsets", encodeOffsets(offsets));
      p.setProperty("cmdline", cmdline);
      p.setProperty("pid", Long.toString(ProcessHandle.current().pid()));
      p.setProperty("boot_time", java.time.Instant.now().toString());
      p.setProperty("file_size", Long.toString(Files.size(mapFile)));
      p.setProperty("header_crc", Long.toString(headerCrc(mapCh)));
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
      release(mapCh, null);
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
              noSpace(
                  dir,
                  estimateBytes((int) ((nrPfns + PAGES_PER_SECTION - 1) >>> SECTION_SHIFT)),
                  usableSpace.applyAsLong(dir));
        }
      }
      release(ch, lock);
      throw ke;
    }
  }

  /** Bytes the memmap file takes: the sections' values, their entry headers and Chronicle's own. */
  static long estimateBytes(int sections) {
    return (long) sections * (VALUE_BYTES + 4096) + (1L << 20);
  }

  private static KernelException noSpace(Path dir, long need, long free) {
    return new KernelException(
        Errno.ENOSPC,
        String.format(
            java.util.Locale.ROOT,
            "memmap needs %.1f GiB, only %.1f GiB free on %s",
            need / (double) (1L << 30),
            Math.max(0, free) / (double) (1L << 30),
            dir.toAbsolutePath()));
  }

  private static long fileStoreUsableSpace(Path dir) {
    try {
      return Files.getFileStore(dir).getUsableSpace();
    } catch (IOException e) {
      return Long.MAX_VALUE; // unknown: let the allocation itself report ENOSPC
    }
  }

  /** Replaces the free-space probe (tests); null restores the file store's. */
  public static void setUsableSpaceProbe(ToLongFunction<Path> probe) {
    usableSpace = probe != null ? probe : MemmapFile::fileStoreUsableSpace;
  }

  /** True if {@code e} or a cause is the OS's ENOSPC ("No space left on device"). */
  public static boolean isNoSpace(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t.getMessage() != null && t.getMessage().contains("No space left on device")) {
        return true;
      }
    }
    return false;
  }

  /** The errno an I/O failure on the state directory stands for, with one line of text. */
  public static KernelException ioError(String what, Throwable e) {
    if (isNoSpace(e)) {
      return new KernelException(Errno.ENOSPC, what + ": no space left on device");
    }
    if (e instanceof AccessDeniedException) {
      return new KernelException(Errno.EACCES, what + ": permission denied: " + e.getMessage());
    }
    if (e instanceof NoSuchFileException) {
      return new KernelException(Errno.ENOENT, what + ": no such file: " + e.getMessage());
    }
    if (e instanceof NotDirectoryException
        || e instanceof java.nio.file.FileAlreadyExistsException) {
      return new KernelException(Errno.ENOTDIR, what + ": not a directory: " + e.getMessage());
    }
    return new KernelException(Errno.EIO, what + ": " + e);
  }

  /**
   * Checks a state directory path the way {@code open()} would: {@code ENOENT} for an empty path
   * (or, unless {@code mayCreate}, a missing one), {@code ENOTDIR} if it or a parent is a regular
   * file, {@code EACCES} if it cannot be searched or read.
   */
  public static void checkDir(Path dir, boolean mayCreate) {
    if (dir == null || dir.toString().isEmpty()) {
      throw new KernelException(Errno.ENOENT, "state directory '': no such file or directory");
    }
    Path abs = dir.toAbsolutePath();
    if (Files.exists(abs)) {
      if (!Files.isDirectory(abs)) {
        throw new KernelException(Errno.ENOTDIR, "state directory " + dir + " is not a directory");
      }
      if (!Files.isReadable(abs) || !Files.isExecutable(abs)) {
        throw new KernelException(Errno.EACCES, "state directory " + dir + ": permission denied");
      }
      return;
    }
    for (Path p = abs.getParent(); p != null; p = p.getParent()) {
      if (Files.exists(p)) {
        if (!Files.isDirectory(p)) {
          throw new KernelException(
              Errno.ENOTDIR, "state directory " + dir + ": " + p + " is not a directory");
        }
        break;
      }
    }
    if (!mayCreate) {
      throw new KernelException(Errno.ENOENT, "no state directory " + dir);
    }
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
    requireEquals(dir, p, "format", FORMAT);
    requireEquals(dir, p, "descriptor_bytes", Integer.toString(PageDescriptor.SIZE));
    requireEquals(dir, p, "section_shift", Integer.toString(SECTION_SHIFT));
    Path mapFile = dir.resolve(MAP_FILE);
    int sections = (int) longProp(dir, p, "sections");
    long expectSize = longProp(dir, p, "file_size");
    long nrPfns = longProp(dir, p, "nr_pfns");
    long headerCrc = longProp(dir, p, "header_crc");
    if (sections <= 0 || nrPfns <= 0 || nrPfns > ((long) sections << SECTION_SHIFT)) {
      throw corrupt(dir, "inconsistent layout in " + PROPS_FILE);
    }
    long[] offsets = decodeOffsets(dir, p, sections);
    if (!Files.exists(mapFile)) {
      throw new KernelException(Errno.ENOENT, "no memmap file " + mapFile);
    }
    ByteBuffer[] buffers = new ByteBuffer[sections];
    try (FileChannel ch = FileChannel.open(mapFile, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size != expectSize) {
        throw corrupt(dir, MAP_FILE + " is " + size + " bytes, expected " + expectSize);
      }
      for (long off : offsets) {
        if (off < 0 || off + SECTION_BYTES > size) {
          throw corrupt(dir, "section offset " + off + " outside " + MAP_FILE);
        }
      }
      if (headerCrc(ch) != headerCrc) {
        throw corrupt(dir, MAP_FILE + " header does not match the one written at boot");
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

  /** A numeric property; a missing or malformed one is {@code EINVAL}, "corrupt state". */
  public static long longProp(Path dir, Properties p, String key) {
    String v = p.getProperty(key);
    try {
      return Long.parseLong(v == null ? "" : v.trim());
    } catch (NumberFormatException e) {
      throw new KernelException(
          Errno.EINVAL,
          "corrupt state: "
              + key
              + "="
              + (v == null ? "(missing)" : v)
              + " in "
              + dir.resolve(PROPS_FILE));
    }
  }

  private static ChronicleMapBuilder<Integer, byte[]> builder(int sections) {
    return ChronicleMapBuilder.of(Integer.class, byte[].class)
        .name("refkern-memmap")
        .entries(sections)
        .actualSegments(1) // one segment: no per-segment over-allocation, file = sections x 2 MiB
        .constantValueSizeBySample(new byte[VALUE_BYTES])
        // Chronicle's close-on-exit hook would unmap the memmap under running threads (SIGSEGV);
        // the kernel closes it itself, after its tasks stopped
        .skipCloseOnExitHook(true);
  }

  private static long[] addresses(ChronicleMap<Integer, byte[]> map, int sections) {
    long[] bases = new long[sections];
    for (int s = 0; s < sections; s++) {
      try (ExternalMapQueryContext<Integer, byte[], ?> c = map.queryContext(s)) {
        MapEntry<Integer, byte[]> e = c.entry();
        if (e == null) {
          throw new KernelException(Errno.EINVAL, "memmap section " + s + " missing");
        }
        Data<byte[]> v = e.value();
        if (v.size() != VALUE_BYTES) {
          throw new KernelException(Errno.EINVAL, "memmap section " + s + " has wrong size");
        }
        long raw = v.bytes().addressForRead(v.offset());
        bases[s] = (raw + PageDescriptor.SIZE - 1) & -PageDescriptor.SIZE;
      }
    }
    return bases;
  }

  /**
   * File offsets of each section's descriptors: Chronicle maps the whole file from offset 0, so an
   * address minus the mapping's start is the offset. Proved on section 0 with a marker read back
   * through the file, so a Chronicle layout change fails the boot, not a later inspection.
   */
  private static long[] locate(
      ChronicleMap<Integer, byte[]> map, FileChannel ch, long[] bases, byte[] zero)
      throws IOException {
    long start = ((VanillaChronicleHash<?, ?, ?, ?>) map).bsAddress();
    long[] offsets = new long[bases.length];
    for (int s = 0; s < bases.length; s++) {
      offsets[s] = bases[s] - start;
    }
    byte[] marker = new byte[VALUE_BYTES];
    java.util.Arrays.fill(marker, (byte) 0x5a);
    map.put(0, marker);
    ByteBuffer b = ByteBuffer.allocate(SECTION_BYTES);
    readFully(ch, b, offsets[0]);
    map.put(0, zero);
    for (int i = 0; i < SECTION_BYTES; i++) {
      if (b.get(i) != 0x5a) {
        throw new KernelException(
            Errno.EIO,
            "cannot locate the memmap's sections in " + MAP_FILE + " (Chronicle layout)");
      }
    }
    if (addresses(map, 1)[0] != bases[0]) {
      throw new KernelException(Errno.EIO, "memmap section 0 moved on update");
    }
    return offsets;
  }

  /** Offsets as "first+stride" when evenly spaced (the usual case), else a comma list. */
  private static String encodeOffsets(long[] offsets) {
    long stride = offsets.length > 1 ? offsets[1] - offsets[0] : 0;
    boolean even = true;
    for (int s = 1; s < offsets.length && even; s++) {
      even = offsets[s] - offsets[s - 1] == stride;
    }
    if (even) {
      return offsets[0] + "+" + stride;
    }
    StringBuilder sb = new StringBuilder();
    for (long o : offsets) {
      sb.append(sb.length() == 0 ? "" : ",").append(o);
    }
    return sb.toString();
  }

  private static long[] decodeOffsets(Path dir, Properties p, int sections) {
    String v = p.getProperty("section_offsets", "");
    long[] out = new long[sections];
    try {
      int plus = v.indexOf('+');
      if (plus > 0) {
        long first = Long.parseLong(v.substring(0, plus));
        long stride = Long.parseLong(v.substring(plus + 1));
        for (int s = 0; s < sections; s++) {
          out[s] = first + s * stride;
        }
        return out;
      }
      String[] parts = v.split(",");
      if (parts.length != sections) {
        throw new NumberFormatException();
      }
      for (int s = 0; s < sections; s++) {
        out[s] = Long.parseLong(parts[s]);
      }
      return out;
    } catch (NumberFormatException e) {
      throw new KernelException(
          Errno.EINVAL, "corrupt state: section_offsets=" + v + " in " + dir.resolve(PROPS_FILE));
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    b.clear();
    while (b.hasRemaining()) {
      int n = ch.read(b, pos + b.position());
      if (n < 0) {
        throw new IOException("short read at " + pos);
      }
    }
    b.flip();
  }

  /** CRC32C of each section's descriptors, read through the file (the page cache). */
  private static long[] sectionCrcs(FileChannel ch, long[] offsets) throws IOException {
    ByteBuffer b = ByteBuffer.allocateDirect(SECTION_BYTES);
    CRC32C crc = new CRC32C();
    long[] out = new long[offsets.length];
    for (int s = 0; s < offsets.length; s++) {
      readFully(ch, b, offsets[s]);
      crc.reset();
      crc.update(b);
      out[s] = crc.getValue();
    }
    return out;
  }

  /** True if the memmap recorded section checksums (the kernel stopped or crashed, then closed). */
  public boolean hasChecksums() {
    return props.getProperty(CRC_KEY) != null;
  }

  /**
   * Verifies each section's descriptors against the CRC32C recorded when the kernel stopped.
   *
   * @return the number of sections verified
   * @throws KernelException {@code EUCLEAN} naming the first section that does not match
   */
  public int verifyChecksums() {
    String[] crcs = props.getProperty(CRC_KEY, "").split(",");
    if (crcs.length != sectionOffset.length) {
      throw new KernelException(
          Errno.EUCLEAN,
          "memmap checksums list "
              + crcs.length
              + " sections, expected "
              + sectionOffset.length
              + " ("
              + dir.resolve(PROPS_FILE)
              + ")");
    }
    long[] actual;
    try (FileChannel ch = FileChannel.open(dir.resolve(MAP_FILE), StandardOpenOption.READ)) {
      actual = sectionCrcs(ch, sectionOffset);
    } catch (IOException e) {
      throw ioError("cannot read memmap in " + dir, e);
    }
    for (int s = 0; s < crcs.length; s++) {
      long want;
      try {
        want = Long.parseUnsignedLong(crcs[s], 16);
      } catch (NumberFormatException e) {
        throw new KernelException(
            Errno.EUCLEAN, "memmap section " + s + ": checksum '" + crcs[s] + "' unreadable");
      }
      if (want != actual[s]) {
        long first = (long) s << SECTION_SHIFT;
        throw new KernelException(
            Errno.EUCLEAN,
            String.format(
                "memmap section %d (pfns %d-%d) fails its CRC32C: recorded %08x, found %08x;"
                    + " the memmap in %s was modified after its kernel stopped",
                s, first, first + PAGES_PER_SECTION - 1, want, actual[s], dir));
      }
    }
    return crcs.length;
  }

  private static long headerCrc(FileChannel ch) throws IOException {
    ByteBuffer head = ByteBuffer.allocate((int) Math.min(HEADER_CRC_BYTES, ch.size()));
    readFully(ch, head, 0);
    CRC32 crc = new CRC32();
    crc.update(head);
    return crc.getValue();
  }

  private static FileLock tryLock(FileChannel ch, boolean shared) throws IOException {
    try {
      return ch.tryLock(0, Long.MAX_VALUE, shared);
    } catch (OverlappingFileLockException e) {
      return null; // held by this JVM
    }
  }

  /**
   * True if a live kernel holds a lock on {@code file}: an exclusive probe fails against the
   * kernel's lock (or Chronicle's shared one on the memmap) from another process, and with {@link
   * OverlappingFileLockException} in this JVM. A file this process cannot write is probed shared,
   * which only an exclusive lock stops.
   */
  private static boolean heldByKernel(Path file) {
    if (!Files.exists(file)) {
      return false;
    }
    boolean rw = Files.isWritable(file);
    try (FileChannel ch =
        rw
            ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)
            : FileChannel.open(file, StandardOpenOption.READ)) {
      FileLock l = tryLock(ch, !rw);
      if (l == null) {
        return true;
      }
      l.release();
      return false;
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * True when a kernel process holds the directory right now: the lock on {@code lock} or on the
   * memmap file itself. Opens both read-only, so inspecting a read-only directory works.
   */
  public static boolean isLive(Path dir) {
    return heldByKernel(dir.resolve(LOCK_FILE)) || heldByKernel(dir.resolve(MAP_FILE));
  }

  private static final java.util.Set<java.nio.file.OpenOption> CREATE_RW =
      java.util.Set.of(
          StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);

  private static String describe(Path dir) {
    Properties p;
    try {
      p = readProps(dir);
    } catch (KernelException e) {
      return e.getMessage();
    }
    if (p == null) {
      return "no " + PROPS_FILE;
    }
    return "pid "
        + p.getProperty("pid", "?")
        + ", status "
        + p.getProperty("status", "?")
        + ", booted "
        + p.getProperty("boot_time", "?");
  }

  /**
   * The directory's {@code kernel.properties}, or null if absent.
   *
   * @throws KernelException {@code EACCES} if it cannot be read, {@code EINVAL} if it is garbled
   */
  public static Properties readProps(Path dir) {
    Path f = dir.resolve(PROPS_FILE);
    if (!Files.exists(f)) {
      return null;
    }
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(f)) {
      p.load(in);
      return p;
    } catch (IllegalArgumentException e) {
      throw new KernelException(Errno.EINVAL, "corrupt state: " + f + ": " + e.getMessage());
    } catch (IOException e) {
      throw ioError("cannot read " + f, e);
    }
  }

  private static void requireEquals(Path dir, Properties p, String key, String expect) {
    String v = p.getProperty(key);
    if (!expect.equals(v)) {
      throw new KernelException(
          Errno.EINVAL,
          "incompatible memmap in "
              + dir
              + ": "
              + key
              + "="
              + v
              + ", this refkern needs "
              + expect);
    }
  }

  private static KernelException corrupt(Path dir, String why) {
    return new KernelException(Errno.EINVAL, "corrupt memmap in " + dir + ": " + why);
  }

  private static void release(FileChannel ch, FileLock lock) {
    try {
      if (lock != null && lock.isValid()) {
        lock.release();
      }
      if (ch != null) {
        ch.close();
      }
    } catch (IOException ignored) {
      // best effort on a failed boot
    }
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
    Path tmp = dir.resolve(PROPS_FILE + ".tmp");
    try {
      try (OutputStream out = Files.newOutputStream(tmp)) {
        props.store(out, "refkern kernel state; memmap in " + MAP_FILE);
      }
      Files.move(
          tmp,
          dir.resolve(PROPS_FILE),
          StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException ignored) {
        // best effort
      }
      throw ioError("cannot write " + dir.resolve(PROPS_FILE), e);
    }
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
        long[] crcs = sectionCrcs(mapChannel, sectionOffset);
        StringBuilder sb = new StringBuilder();
        for (long c : crcs) {
          sb.append(sb.length() == 0 ? "" : ",").append(Long.toHexString(c));
        }
        props.setProperty(CRC_KEY, sb.toString());
        props.setProperty("status", status);
        storeProps();
      }
    } catch (IOException e) {
      throw ioError("cannot checksum memmap in " + dir, e);
    } finally {
      release(mapChannel, null);
      release(lockChannel, lock);
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
