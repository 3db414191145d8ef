package dev.refkern.mm.internal.memmap;

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
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Properties;
import java.util.zip.CRC32;
import net.openhft.chronicle.bytes.RandomDataInput;
import net.openhft.chronicle.hash.Data;
import net.openhft.chronicle.hash.impl.VanillaChronicleHash;
import net.openhft.chronicle.map.ChronicleMap;
import net.openhft.chronicle.map.ChronicleMapBuilder;
import net.openhft.chronicle.map.ExternalMapQueryContext;
import net.openhft.chronicle.map.MapEntry;

/**
 * The persistent memmap: one Chronicle Map entry per memory section ({@code struct mem_section},
 * {@value #SECTION_SHIFT}-bit pfn sections of 128 MiB), each value the section's page descriptors.
 * The map is queried once per section at open; afterwards descriptors are reached by address
 * arithmetic, as {@code pfn_to_page()} does.
 *
 * <p>Beside the map, {@code kernel.properties} records the layout and the kernel's status (running,
 * stopped, crashed) and {@code lock} is held by the running kernel, so that a second kernel cannot
 * boot on the same directory and an inspector can tell a live memmap from a dead one.
 */
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

  public static final String FORMAT = "refkern-memmap-1";
  public static final String MAP_FILE = "memmap.cmap";
  public static final String PROPS_FILE = "kernel.properties";
  public static final String LOCK_FILE = "lock";
  private static final int HEADER_CRC_BYTES = 64;

  static {
    ChronicleRuntime.configure(); // before Chronicle's first class initialises
  }

  private final Path dir;
  private final ChronicleMap<Integer, byte[]> map;
  private final long[] sectionBase;
  private final Properties props;
  private final FileChannel lockChannel;
  private final FileLock lock;

  private MemmapFile(
      Path dir,
      ChronicleMap<Integer, byte[]> map,
      long[] sectionBase,
      Properties props,
      FileChannel lockChannel,
      FileLock lock) {
    this.dir = dir;
    this.map = map;
    this.sectionBase = sectionBase;
    this.props = props;
    this.lockChannel = lockChannel;
    this.lock = lock;
  }

  /**
   * Creates a fresh memmap of {@code nrPfns} frames for a booting kernel.
   *
   * @param reset discard a previous kernel's memmap in {@code dir} instead of refusing to boot
   * @throws KernelException {@code EBUSY} if a kernel runs on {@code dir}; {@code EEXIST} if it
   *     holds a previous kernel's memmap and {@code reset} is false; {@code EPERM} if the JVM lacks
   *     one of Chronicle's {@code --add-opens}/{@code --add-exports}
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
    ChronicleRuntime.requireJvmFlags();
    FileChannel ch = null;
    FileLock lock = null;
    try {
      Files.createDirectories(dir);
      ch = FileChannel.open(dir.resolve(LOCK_FILE), CREATE_RW);
      lock = tryLock(ch);
      if (lock == null) {
        throw new KernelException(
            Errno.EBUSY,
            "state directory " + dir + " is in use by a running kernel (" + describe(dir) + ")");
      }
      Path mapFile = dir.resolve(MAP_FILE);
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
                  + "' or boot with --reset to discard it");
        }
        Files.deleteIfExists(mapFile);
        Files.deleteIfExists(dir.resolve(PROPS_FILE));
      }
      int sections = (int) ((nrPfns + PAGES_PER_SECTION - 1) >>> SECTION_SHIFT);
      ChronicleMap<Integer, byte[]> map = builder(sections).createPersistedTo(mapFile.toFile());
      byte[] zero = new byte[VALUE_BYTES];
      for (int s = 0; s < sections; s++) {
        map.put(s, zero);
        progress.accept(Math.min(nrPfns, (s + 1L) << SECTION_SHIFT));
      }
      long[] bases = addresses(map, sections);
      Properties p = new Properties();
      p.setProperty("format", FORMAT);
      p.setProperty("descriptor_bytes", Integer.toString(PageDescriptor.SIZE));
      p.setProperty("section_shift", Integer.toString(SECTION_SHIFT));
      p.setProperty("nr_pfns", Long.toString(nrPfns));
      p.setProperty("sections", Integer.toString(sections));
      p.setProperty("cmdline", cmdline);
      p.setProperty("pid", Long.toString(ProcessHandle.current().pid()));
      p.setProperty("boot_time", java.time.Instant.now().toString());
      p.setProperty("file_size", Long.toString(Files.size(mapFile)));
      p.setProperty("header_crc", Long.toString(headerCrc(mapFile)));
      extra.forEach(p::setProperty);
      p.setProperty("status", "running");
      MemmapFile f = new MemmapFile(dir, map, bases, p, ch, lock);
      f.storeProps();
      return f;
    } catch (IOException | RuntimeException e) {
      release(ch, lock);
      if (e instanceof KernelException ke) {
        throw ke;
      }
      throw new KernelException(Errno.EIO, "cannot create memmap in " + dir + ": " + e);
    }
  }

  /**
   * Opens a memmap for inspection while its kernel runs or after it died. Validates the layout and
   * the file before mapping it, so a corrupt or foreign file is a clear error, not a crash.
   *
   * @throws KernelException {@code ENOENT} if there is no memmap; {@code EINVAL} if it is corrupt
   *     or of another format
   */
  public static MemmapFile openForInspection(Path dir) {
    ChronicleRuntime.requireJvmFlags();
    Properties p = readProps(dir);
    if (p == null) {
      throw new KernelException(Errno.ENOENT, "no memmap in " + dir + " (no " + PROPS_FILE + ")");
    }
    requireEquals(dir, p, "format", FORMAT);
    requireEquals(dir, p, "descriptor_bytes", Integer.toString(PageDescriptor.SIZE));
    requireEquals(dir, p, "section_shift", Integer.toString(SECTION_SHIFT));
    Path mapFile = dir.resolve(MAP_FILE);
    int sections;
    try {
      sections = Integer.parseInt(p.getProperty("sections", "-1"));
      long expectSize = Long.parseLong(p.getProperty("file_size", "-1"));
      long nrPfns = Long.parseLong(p.getProperty("nr_pfns", "-1"));
      if (sections <= 0 || nrPfns <= 0 || nrPfns > ((long) sections << SECTION_SHIFT)) {
        throw corrupt(dir, "inconsistent layout in " + PROPS_FILE);
      }
      if (!Files.exists(mapFile)) {
        throw new KernelException(Errno.ENOENT, "no memmap file " + mapFile);
      }
      if (Files.size(mapFile) != expectSize) {
        throw corrupt(
            dir, MAP_FILE + " is " + Files.size(mapFile) + " bytes, expected " + expectSize);
      }
      if (headerCrc(mapFile) != Long.parseLong(p.getProperty("header_crc", "-1"))) {
        throw corrupt(dir, MAP_FILE + " header does not match the one written at boot");
      }
    } catch (NumberFormatException | IOException e) {
      throw corrupt(dir, e.toString());
    }
    ChronicleMap<Integer, byte[]> map;
    try {
      map = builder(sections).createPersistedTo(mapFile.toFile());
    } catch (IOException | RuntimeException | LinkageError e) {
      throw corrupt(dir, "Chronicle Map refused the file: " + e);
    }
    try {
      if (map.size() != sections) {
        throw corrupt(dir, "memmap holds " + map.size() + " sections, expected " + sections);
      }
      return new MemmapFile(dir, map, addresses(map, sections), p, null, null);
    } catch (RuntimeException e) {
      map.close();
      throw e instanceof KernelException ke ? ke : corrupt(dir, e.toString());
    }
  }

  private static ChronicleMapBuilder<Integer, byte[]> builder(int sections) {
    return ChronicleMapBuilder.of(Integer.class, byte[].class)
        .name("refkern-memmap")
        .entries(sections)
        .actualSegments(1) // one segment: no per-segment over-allocation, file = sections x 2 MiB
        .constantValueSizeBySample(new byte[VALUE_BYTES]);
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
        RandomDataInput bytes = v.bytes();
        long raw = bytes.addressForRead(v.offset());
        bases[s] = (raw + PageDescriptor.SIZE - 1) & -PageDescriptor.SIZE;
      }
    }
    return bases;
  }

  private static long headerCrc(Path mapFile) throws IOException {
    byte[] head = new byte[HEADER_CRC_BYTES];
    try (InputStream in = Files.newInputStream(mapFile)) {
      int n = in.readNBytes(head, 0, head.length);
      CRC32 crc = new CRC32();
      crc.update(head, 0, n);
      return crc.getValue();
    }
  }

  private static FileLock tryLock(FileChannel ch) throws IOException {
    try {
      return ch.tryLock();
    } catch (OverlappingFileLockException e) {
      return null; // held by this JVM
    }
  }

  /** True when a kernel process holds the directory's lock right now. */
  public static boolean isLive(Path dir) {
    Path lockFile = dir.resolve(LOCK_FILE);
    if (!Files.exists(lockFile)) {
      return false;
    }
    try (FileChannel ch = FileChannel.open(lockFile, CREATE_RW)) {
      FileLock l = tryLock(ch);
      if (l == null) {
        return true;
      }
      l.release();
      return false;
    } catch (IOException e) {
      return false;
    }
  }

  private static final java.util.Set<java.nio.file.OpenOption> CREATE_RW =
      java.util.Set.of(
          java.nio.file.StandardOpenOption.CREATE,
          java.nio.file.StandardOpenOption.READ,
          java.nio.file.StandardOpenOption.WRITE);

  private static String describe(Path dir) {
    Properties p = readProps(dir);
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

  /** The directory's {@code kernel.properties}, or null if absent or unreadable. */
  public static Properties readProps(Path dir) {
    Path f = dir.resolve(PROPS_FILE);
    if (!Files.exists(f)) {
      return null;
    }
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(f)) {
      p.load(in);
      return p;
    } catch (IOException | IllegalArgumentException e) {
      return null;
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
      if (lock != null) {
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
    try {
      Path tmp = dir.resolve(PROPS_FILE + ".tmp");
      try (OutputStream out = Files.newOutputStream(tmp)) {
        props.store(out, "refkern kernel state; memmap in " + MAP_FILE);
      }
      Files.move(
          tmp,
          dir.resolve(PROPS_FILE),
          StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot write " + PROPS_FILE + ": " + e);
    }
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
   * pfn >>> SECTION_SHIFT}. The buffers map the same file pages as Chronicle's own {@code
   * MAP_SHARED} mapping (coherent on Linux), at the file offset of each section's aligned
   * descriptors: Chronicle maps its main store from offset 0, and a memmap never needs an extra
   * tier.
   */
  public ByteBuffer[] sectionBuffers() {
    VanillaChronicleHash<?, ?, ?, ?> h = (VanillaChronicleHash<?, ?, ?, ?>) map;
    long fileStart = h.bsAddress();
    long storeEnd = fileStart + h.dataStoreSize();
    Path f = dir.resolve(MAP_FILE);
    boolean rw = Files.isWritable(f);
    try (FileChannel ch =
        rw
            ? FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)
            : FileChannel.open(f, StandardOpenOption.READ)) {
      ByteBuffer[] out = new ByteBuffer[sectionBase.length];
      for (int s = 0; s < out.length; s++) {
        long base = sectionBase[s];
        if (base < fileStart || base + SECTION_BYTES > storeEnd) {
          throw corrupt(dir, "memmap section " + s + " is outside the map's main store");
        }
        out[s] =
            ch.map(rw ? MapMode.READ_WRITE : MapMode.READ_ONLY, base - fileStart, SECTION_BYTES)
                .order(ByteOrder.nativeOrder());
      }
      return out;
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot map memmap sections in " + dir + ": " + e);
    }
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

  /** Unmaps the memmap and, for the kernel that created it, releases the directory lock. */
  @Override
  public void close() {
    map.close();
    release(lockChannel, lock);
  }
}
