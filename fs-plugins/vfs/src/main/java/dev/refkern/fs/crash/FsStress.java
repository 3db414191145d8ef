package dev.refkern.fs.crash;

import static dev.refkern.fs.Fcntl.O_CREAT;
import static dev.refkern.fs.Fcntl.O_RDWR;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.Falloc;
import dev.refkern.fs.Vfs;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Task;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.function.LongSupplier;
import org.apiguardian.api.API;

/**
 * An fsstress-like workload (fstests' {@code ltp/fsstress.c}, as generic/482 runs it) through the
 * VFS syscalls, seeded, with the "fsync'd oracle": what each name must hold in a crash state.
 *
 * <p>Ops: create, write (random offset and length), mmap-write ({@code MAP_SHARED} store, then
 * {@code msync(MS_SYNC)} or not), truncate, rename, unlink, mkdir, fsync, fdatasync, sync,
 * fallocate (mode 0 or keep size), punch hole and a whole-file clone ({@code FICLONE}); an op the
 * filesystem answers {@code EOPNOTSUPP} is not tried again, as fsstress skips it. {@code
 * msync(MS_SYNC)} is {@code vfs_fsync_range(file, start, end, 1)} in {@code mm/msync.c}, so it is a
 * {@code fdatasync} here.
 *
 * <p>The oracle records, per name, events stamped with the log position (entries logged so far by
 * the recorder): an fsync (fsync, fdatasync, msync, or a sync for every file) when it returned,
 * with the content then; a change (write, truncate, mmap store) or a namespace change (create,
 * rename from or onto, unlink) when it started. A crash state that replays entries {@code 0..p}
 * must show a name's content of its last fsync whose entries are all in {@code 0..p}, unless a
 * change or namespace change of that name started at or before {@code p} after that fsync: its
 * writes may be in the state, so nothing is expected of the name (generic/482 itself checks only
 * fsck cleanliness).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class FsStress {
  /** The most bytes a file grows to: past the 12 direct blocks, so indirect blocks appear. */
  public static final int MAX_FILE = 15 * Page.PAGE_SIZE;

  private static final int MAX_IO = 4 * Page.PAGE_SIZE;
  private static final String[] DIRS = {"", "/d0", "/d1"};
  private static final int NAMES = 4; // per directory: small, so names are reused

  /** What one op does. */
  public enum Kind {
    CREATE,
    WRITE,
    MMAP_WRITE,
    TRUNCATE,
    RENAME,
    UNLINK,
    MKDIR,
    FSYNC,
    FDATASYNC,
    SYNC,
    /** {@code fallocate} mode 0 or {@code FALLOC_FL_KEEP_SIZE}. */
    FALLOCATE,
    /** {@code fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)}. */
    PUNCH_HOLE,
    /** {@code ioctl(FICLONE)} of one whole file into another. */
    CLONE
  }

  private static final Kind[] WEIGHTED = {
    Kind.CREATE, Kind.CREATE, Kind.WRITE, Kind.WRITE, Kind.WRITE, Kind.MMAP_WRITE, Kind.MMAP_WRITE,
    Kind.TRUNCATE, Kind.RENAME, Kind.UNLINK, Kind.MKDIR, Kind.FSYNC, Kind.FSYNC, Kind.FSYNC,
    Kind.FDATASYNC, Kind.SYNC, Kind.FALLOCATE, Kind.PUNCH_HOLE, Kind.CLONE
  };

  private final Vfs vfs;
  private final Task task;
  private final String root;
  private final LongSupplier logPos;
  private final SplittableRandom rnd;
  private final long buf;
  private final Map<String, byte[]> files = new TreeMap<>(); // what the application wrote
  private final List<String> dirs = new ArrayList<>(List.of(""));
  private final FsyncOracle oracle = new FsyncOracle();
  private final Map<Kind, Integer> counts = new LinkedHashMap<>();
  private final EnumSet<Kind> unsupported = EnumSet.noneOf(Kind.class); // EOPNOTSUPP once: skipped

  /**
   * A workload on the filesystem mounted at {@code root}; {@code logPos} is the recorder's entry
   * count; {@code buf} is a user buffer of {@code task} of at least {@link #MAX_FILE} bytes.
   */
  public FsStress(Vfs vfs, Task task, String root, long buf, LongSupplier logPos, long seed) {
    this.vfs = vfs;
    this.task = task;
    this.root = root;
    this.buf = buf;
    this.logPos = logPos;
    this.rnd = new SplittableRandom(seed);
  }

  /** Runs {@code n} ops. */
  public void run(int n) {
    for (int i = 0; i < n; i++) {
      Kind k = WEIGHTED[rnd.nextInt(WEIGHTED.length)];
      if (step(k)) {
        counts.merge(k, 1, Integer::sum);
      }
    }
  }

  /** How many of each op ran. */
  public Map<Kind, Integer> counts() {
    return counts;
  }

  /** The names with an expectation in the state of entries {@code 0..p}, with their content. */
  public Map<String, byte[]> expected(long p) {
    return oracle.expected(p);
  }

  /**
   * The names with an expectation in the state of entries {@code 0..w-1} plus part of entry {@code
   * w} (a torn write), with their content.
   */
  public Map<String, byte[]> expectedTorn(long w) {
    return oracle.expectedTorn(w);
  }

  private boolean step(Kind k) {
    if (unsupported.contains(k)) {
      return false;
    }
    try {
      return step(k, anyFile());
    } catch (KernelException e) {
      if (e.errno() != dev.refkern.mm.Errno.EOPNOTSUPP) {
        throw e;
      }
      unsupported.add(k); // the filesystem has no such op: nothing changed, never tried again
      return false;
    }
  }

  private boolean step(Kind k, String f) {
    switch (k) {
      case CREATE -> {
        String name = newName();
        if (name == null || files.containsKey(name)) {
          return false;
        }
        changed(name);
        byte[] data = randomBytes(rnd.nextInt(MAX_IO + 1));
        int fd = vfs.open(task, root + name, O_RDWR | O_CREAT, 0644);
        try {
          pwrite(fd, data, 0);
        } finally {
          vfs.close(task, fd);
        }
        files.put(name, data);
      }
      case WRITE -> {
        if (f == null) {
          return false;
        }
        int off = rnd.nextInt(MAX_FILE);
        byte[] data = randomBytes(1 + rnd.nextInt(Math.min(MAX_IO, MAX_FILE - off)));
        changed(f);
        int fd = vfs.open(task, root + f, O_RDWR, 0);
        try {
          pwrite(fd, data, off);
        } finally {
          vfs.close(task, fd);
        }
        byte[] old = files.get(f);
        byte[] now = Arrays.copyOf(old, Math.max(old.length, off + data.length));
        System.arraycopy(data, 0, now, off, data.length);
        files.put(f, now);
      }
      case MMAP_WRITE -> {
        if (f == null || files.get(f).length == 0) {
          return false;
        }
        byte[] cur = files.get(f);
        int off = rnd.nextInt(cur.length);
        byte[] data = randomBytes(1 + rnd.nextInt(Math.min(MAX_IO, cur.length - off)));
        long pgoff = off & ~(long) (Page.PAGE_SIZE - 1);
        long maplen = ((off + data.length - pgoff) + Page.PAGE_SIZE - 1) & ~(Page.PAGE_SIZE - 1L);
        boolean msync = rnd.nextBoolean();
        changed(f);
        int fd = vfs.open(task, root + f, O_RDWR, 0);
        try {
          long a =
              vfs.mmap(
                  task, 0, maplen, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, fd, pgoff);
          try {
            task.store(a + (off - pgoff), data, 0, data.length);
            System.arraycopy(data, 0, cur, off, data.length);
            if (msync) {
              vfs.fdatasync(task, fd); // msync(MS_SYNC): vfs_fsync_range(file, .., 1)
              synced(f);
            }
          } finally {
            vfs.munmap(task, a, maplen);
          }
        } finally {
          vfs.close(task, fd);
        }
      }
      case TRUNCATE -> {
        if (f == null) {
          return false;
        }
        int len = rnd.nextInt(MAX_FILE + 1);
        changed(f);
        int fd = vfs.open(task, root + f, O_RDWR, 0);
        try {
          vfs.ftruncate(task, fd, len);
        } finally {
          vfs.close(task, fd);
        }
        files.put(f, Arrays.copyOf(files.get(f), len));
      }
      case RENAME -> {
        String to = newName();
        if (f == null || to == null || to.equals(f)) {
          return false;
        }
        changed(f);
        changed(to);
        vfs.rename(root + f, root + to);
        files.put(to, files.remove(f));
      }
      case UNLINK -> {
        if (f == null) {
          return false;
        }
        changed(f);
        vfs.unlink(root + f);
        files.remove(f);
      }
      case MKDIR -> {
        String d = DIRS[rnd.nextInt(DIRS.length)];
        if (dirs.contains(d)) {
          return false;
        }
        vfs.mkdir(root + d, 0755);
        dirs.add(d);
      }
      case FSYNC, FDATASYNC -> {
        if (f == null) {
          return false;
        }
        int fd = vfs.open(task, root + f, O_RDWR, 0);
        try {
          if (k == Kind.FSYNC) {
            vfs.fsync(task, fd);
          } else {
            vfs.fdatasync(task, fd);
          }
        } finally {
          vfs.close(task, fd);
        }
        synced(f);
      }
      case FALLOCATE, PUNCH_HOLE -> {
        if (f == null) {
          return false;
        }
        int off = rnd.nextInt(MAX_FILE);
        int len = 1 + rnd.nextInt(Math.min(MAX_IO, MAX_FILE - off));
        int mode =
            k == Kind.PUNCH_HOLE
                ? Falloc.FALLOC_FL_PUNCH_HOLE | Falloc.FALLOC_FL_KEEP_SIZE
                : rnd.nextBoolean() ? 0 : Falloc.FALLOC_FL_KEEP_SIZE;
        changed(f);
        int fd = vfs.open(task, root + f, O_RDWR, 0);
        try {
          vfs.fallocate(task, fd, mode, off, len);
        } finally {
          vfs.close(task, fd);
        }
        byte[] cur = files.get(f);
        if (k == Kind.PUNCH_HOLE) {
          Arrays.fill(cur, Math.min(off, cur.length), Math.min(off + len, cur.length), (byte) 0);
        } else if (mode == 0 && off + len > cur.length) {
          files.put(f, Arrays.copyOf(cur, off + len));
        }
      }
      case CLONE -> {
        String to = anyFile();
        if (f == null || f.equals(to)) {
          return false;
        }
        byte[] src = files.get(f);
        byte[] dst = files.get(to);
        if (src.length == 0 || (src.length % Page.PAGE_SIZE != 0 && src.length < dst.length)) {
          return false; // nothing to share, or EINVAL: a partial EOF block inside the destination
        }
        changed(to);
        int in = vfs.open(task, root + f, O_RDWR, 0);
        try {
          int out = vfs.open(task, root + to, O_RDWR, 0);
          try {
            vfs.ficlone(task, in, out);
          } finally {
            vfs.close(task, out);
          }
        } finally {
          vfs.close(task, in);
        }
        byte[] now = Arrays.copyOf(dst, Math.max(dst.length, src.length));
        System.arraycopy(src, 0, now, 0, src.length);
        files.put(to, now);
      }
      case SYNC -> {
        vfs.sync();
        for (String name : files.keySet()) {
          synced(name);
        }
      }
    }
    return true;
  }

  private void pwrite(int fd, byte[] data, long off) {
    if (data.length == 0) {
      return;
    }
    task.store(buf, data, 0, data.length);
    long n = vfs.pwrite(task, fd, buf, data.length, off);
    if (n != data.length) {
      throw new KernelException(
          dev.refkern.mm.Errno.EIO, "short write " + n + " of " + data.length);
    }
  }

  private void changed(String name) {
    oracle.changed(name, logPos.getAsLong());
  }

  private void synced(String name) {
    oracle.synced(name, logPos.getAsLong(), files.get(name).clone());
  }

  /** A file of the model, or null if there is none. */
  private String anyFile() {
    if (files.isEmpty()) {
      return null;
    }
    int i = rnd.nextInt(files.size());
    for (String name : files.keySet()) {
      if (i-- == 0) {
        return name;
      }
    }
    throw new AssertionError();
  }

  /** A name in an existing directory, or null. */
  private String newName() {
    String d = dirs.get(rnd.nextInt(dirs.size()));
    return d + "/f" + rnd.nextInt(NAMES);
  }

  private byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) rnd.nextInt(256);
    }
    return b;
  }
}
