package dev.refkern.fs.crash;

import static dev.refkern.fs.Fcntl.O_RDONLY;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.block.LogWrites;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apiguardian.api.API;

/**
 * A crash-consistency harness after fstests' generic/482: an {@link FsStress} workload on a
 * filesystem over a {@link LogWrites} recorder (dm-log-writes), then, for every FLUSH/FUA point of
 * the log, the device as it was there ({@code replay-log --limit}) mounted by a fresh VFS (journal
 * recovery, if the filesystem has one), every fsync'd file compared with the oracle, unmounted, and
 * checked by the type's {@code fsck} ({@code e2fsck -n}), which must find nothing.
 *
 * <p>Variants: {@link Replay#TORN} also replays, at each point, the last write before it torn at a
 * sector (a power cut mid-write: a prefix of its sectors, chosen by the seed) and checks it against
 * the state before that write; {@link Replay#LYING_FLUSH} is a deliberately broken device whose
 * flush makes nothing durable (the plain writes since the previous flush point are dropped), to
 * show that the harness finds what a lost flush does.
 *
 * <p>One kernel serves every state: booting costs more than a state. It must end with no pin held
 * and no page leaked.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class CrashHarness {
  /** How each crash state is made. */
  public enum Replay {
    /** The log up to each flush point, as generic/482. */
    EXACT,
    /** {@link #EXACT} plus, per point, the last write before it torn at a sector. */
    TORN,
    /** A device whose flushes lie: the plain writes since the previous flush point are lost. */
    LYING_FLUSH
  }

  /**
   * One violation.
   *
   * @param seed the workload's seed
   * @param entry the last log entry replayed (the torn one for a torn state)
   * @param torn whether the entry was torn
   * @param file the file, or null for fsck and mount problems
   * @param what what differed
   */
  public record Violation(long seed, long entry, boolean torn, String file, String what) {
    @Override
    public String toString() {
      return "seed "
          + seed
          + " entry "
          + entry
          + (torn ? " (torn)" : "")
          + (file != null ? " " + file : "")
          + ": "
          + what;
    }
  }

  /**
   * What one seed's run found.
   *
   * @param seed the seed
   * @param entries the log's length
   * @param states crash states checked
   * @param violations what was wrong, in log order
   */
  public record Result(long seed, long entries, int states, List<Violation> violations) {}

  private static final long SECTORS = (4 << 20) / 512; // 4 MiB: 1024 blocks, one group
  private static final String MNT = "/mnt";

  /**
   * generic/482's {@code _log_writes_mark mkfs}: the states checked start after it, since a crash
   * inside mkfs leaves no filesystem to promise anything ({@code _log_writes_replay_log_range}
   * starts at {@code _log_writes_mark_to_entry_number mkfs}).
   */
  private static final String MKFS_MARK = "mkfs";

  private final FileSystemType type;
  private final String fs;
  private final Path dir;
  private final VirtualMemory vm;
  private final PhysicalMemory mem;
  private final long freeAtStart;
  private final Task task;
  private final long buf;

  /**
   * A harness for the type {@code fs} whose kernel keeps its memmap in {@code stateDir}; the images
   * go to a new directory of their own, on {@code /dev/shm} when there is one (the states' host
   * fsyncs cost more than the rest of a state on a disk), deleted by {@link #close()}.
   */
  public CrashHarness(String fs, Path stateDir) {
    this.fs = fs;
    this.type = FileSystems.standard().get(fs);
    vm = VirtualMemory.boot(BootParams.parse("mem=64M zone_device=0"), stateDir, false);
    this.dir = imageDir();
    mem = vm.physicalMemory();
    vm.lru().lruAddDrainAll();
    freeAtStart = mem.allocator().nrFreePages();
    task = vm.createTask("fsstress");
    buf = task.mmapAnon(FsStress.MAX_FILE);
  }

  /**
   * Records {@code ops} ops of seed {@code seed} and checks every crash state of the log. {@code
   * stop} is asked after each state (a Ctrl-C): once it says yes, that state is dropped (a fatal
   * signal may have failed it) and the run ends. {@code progress} is told of each state counted.
   */
  public Result run(long seed, int ops, Replay replay, BooleanSupplier stop, Runnable progress) {
    Recorded r = record(seed, ops);
    List<LogWrites.Entry> es = r.log.entries();
    List<Violation> out = new ArrayList<>();
    List<Violation> state = new ArrayList<>();
    int states = 0;
    Path img = dir.resolve("state.img");
    long prevPoint = -1;
    long prevTorn = -1;
    long mkfs = mkfsEntry(es);
    for (long p : r.log.flushPoints()) {
      if (p < mkfs) {
        continue;
      }
      if (replay == Replay.LYING_FLUSH) {
        lyingReplay(r.log, es, prevPoint, p, img);
      } else {
        r.log.replayToImage(p, img);
      }
      prevPoint = p;
      checkState(seed, p, false, r.stress.expected(p), img, state);
      if (stop.getAsBoolean()) {
        break;
      }
      states++;
      out.addAll(state);
      state.clear();
      progress.run();
      long w = replay == Replay.TORN ? lastWrite(es, p) : -1;
      if (w > prevTorn && w > mkfs && es.get((int) w).nrSectors() > 1) {
        prevTorn = w;
        r.log.replayTornToImage(w, seed, img);
        checkState(seed, w, true, r.stress.expectedTorn(w), img, state);
        if (stop.getAsBoolean()) {
          break;
        }
        states++;
        out.addAll(state);
        state.clear();
        progress.run();
      }
    }
    return new Result(seed, r.log.size(), states, out);
  }

  /**
   * One line for a run of {@code results} that took {@code nanos}: states, violations, states/s;
   * then the violations by kind ({@link #histogram}) and the first 40 violations, one per line.
   */
  public static String summary(List<Result> results, long nanos) {
    int states = results.stream().mapToInt(Result::states).sum();
    List<Violation> vs = results.stream().flatMap(r -> r.violations().stream()).toList();
    StringBuilder b = new StringBuilder();
    b.append(states)
        .append(" states, ")
        .append(vs.size())
        .append(" violations, ")
        .append(String.format("%.0f states/s", states / (nanos / 1e9)));
    histogram(vs).forEach((k, n) -> b.append("\n  ").append(n).append(" x ").append(k));
    vs.stream().limit(40).forEach(v -> b.append("\n  ").append(v));
    return b.toString();
  }

  /** The violations by kind: their text with the numbers taken out, most frequent first. */
  public static Map<String, Long> histogram(List<Violation> vs) {
    Map<String, Long> kinds =
        vs.stream()
            .collect(
                Collectors.groupingBy(
                    v -> (v.torn() ? "(torn) " : "") + v.what().replaceAll("[0-9]+", "N"),
                    Collectors.counting()));
    Map<String, Long> out = new LinkedHashMap<>();
    kinds.entrySet().stream()
        .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
        .forEach(e -> out.put(e.getKey(), e.getValue()));
    return out;
  }

  /**
   * Frees the kernel and deletes the images; the harness is done.
   *
   * @return what the kernel's checks found (pins held, {@code CONFIG_DEBUG_VM}, pages leaked)
   */
  public List<String> close() {
    try {
      task.exit();
      List<String> problems = new ArrayList<>(mem.debugVm().checkNoPinsHeld());
      problems.addAll(mem.debugVm().check());
      vm.lru().lruAddDrainAll();
      long free = mem.allocator().nrFreePages();
      mem.close();
      if (free != freeAtStart) {
        problems.add((freeAtStart - free) + " pages leaked");
      }
      return problems;
    } finally {
      deleteTree(dir);
    }
  }

  private record Recorded(LogWrites log, FsStress stress) {}

  /** The workload on a zeroed image through the recorder, then unmounted; the log closed. */
  private Recorded record(long seed, int ops) {
    FileDisk disk =
        FileDisk.create(mem, dir.resolve("record.img"), SECTORS, DiskOptions.defaults());
    LogWrites log = new LogWrites(mem, disk);
    Vfs vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
    FsStress stress;
    try {
      vfs.mkdir(MNT, 0755);
      vfs.registerBlockDevice("/dev/logw", log);
      vfs.mount(fs, "/dev/logw", MNT, "mkfs");
      log.mark(MKFS_MARK);
      stress = new FsStress(vfs, task, MNT, buf, log::size, seed);
      stress.run(ops);
      vfs.umount(MNT);
    } finally {
      vfs.shutdown();
      log.close();
      disk.close();
    }
    return new Recorded(log, stress);
  }

  private static long mkfsEntry(List<LogWrites.Entry> es) {
    for (LogWrites.Entry e : es) {
      if (e.isMark() && MKFS_MARK.equals(e.mark())) {
        return e.seq();
      }
    }
    throw new IllegalStateException("no " + MKFS_MARK + " mark in the log");
  }

  private static long lastWrite(List<LogWrites.Entry> es, long p) {
    for (long i = p; i >= 0; i--) {
      if (es.get((int) i).isWrite()) {
        return i;
      }
    }
    return -1;
  }

  /** Entries {@code 0..p}, but the plain writes after {@code prev} never reached the media. */
  private static void lyingReplay(
      LogWrites log, List<LogWrites.Entry> es, long prev, long p, Path img) {
    log.replayToImage(prev, img);
    try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
      for (long i = prev + 1; i <= p; i++) {
        LogWrites.Entry e = es.get((int) i);
        if (e.isWrite() && e.isFlushPoint()) { // only FUA writes (and flush+data) land
          ByteBuffer b = ByteBuffer.wrap(e.data());
          while (b.hasRemaining()) {
            ch.write(b, e.sector() * 512 + b.position());
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Mounts the state in {@code img}, compares the oracle's files, unmounts, runs fsck. */
  private void checkState(
      long seed,
      long entry,
      boolean torn,
      Map<String, byte[]> want,
      Path img,
      List<Violation> out) {
    FileDisk disk = FileDisk.open(mem, img, DiskOptions.defaults());
    Vfs vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
    try {
      vfs.mkdir(MNT, 0755);
      vfs.registerBlockDevice("/dev/state", disk);
      try {
        vfs.mount(fs, "/dev/state", MNT, "");
      } catch (KernelException e) {
        out.add(new Violation(seed, entry, torn, null, "mount failed: " + e.getMessage()));
        return;
      }
      for (Map.Entry<String, byte[]> w : want.entrySet()) {
        String what = compare(vfs, MNT + w.getKey(), w.getValue());
        if (what != null) {
          out.add(new Violation(seed, entry, torn, w.getKey(), what));
        }
      }
      vfs.umount(MNT);
    } catch (KernelException e) {
      out.add(new Violation(seed, entry, torn, null, "after mount: " + e.getMessage()));
    } finally {
      vfs.shutdown();
      disk.close();
    }
    for (String problem : type.check(img.toString())) {
      out.add(new Violation(seed, entry, torn, null, "fsck: " + problem));
    }
  }

  /** What differs between the file at {@code path} and {@code want}, or null. */
  private String compare(Vfs vfs, String path, byte[] want) {
    int fd;
    try {
      fd = vfs.open(task, path, O_RDONLY, 0);
    } catch (KernelException e) {
      return "missing (" + e.errno() + "), fsync'd with " + want.length + " bytes";
    }
    try {
      long size = vfs.fstat(task, fd).size();
      if (size != want.length) {
        return "size " + size + ", fsync'd " + want.length;
      }
      long n = vfs.pread(task, fd, buf, want.length, 0);
      byte[] got = new byte[(int) n];
      task.load(buf, got, 0, got.length);
      for (int i = 0; i < want.length; i++) {
        if (i >= got.length || got[i] != want[i]) {
          int end = i;
          while (end < want.length && end < got.length && got[end] != want[end]) {
            end++;
          }
          return "bytes "
              + i
              + ".."
              + (end - 1)
              + " differ from the fsync'd content (first: "
              + (i < got.length ? got[i] & 0xff : -1)
              + ", fsync'd "
              + (want[i] & 0xff)
              + ")";
        }
      }
      return null;
    } finally {
      vfs.close(task, fd);
    }
  }

  private static Path imageDir() {
    Path shm = Path.of("/dev/shm");
    try {
      return Files.isDirectory(shm) && Files.isWritable(shm)
          ? Files.createTempDirectory(shm, "refkern-crashtest")
          : Files.createTempDirectory("refkern-crashtest");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void deleteTree(Path dir) {
    try (var s = Files.walk(dir)) {
      for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
