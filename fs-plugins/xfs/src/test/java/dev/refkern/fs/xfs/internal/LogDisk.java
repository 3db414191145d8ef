package dev.refkern.fs.xfs.internal;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.Bio;
import dev.refkern.block.BioOp;
import dev.refkern.block.BlockDevice;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.PhysicalMemory;
import java.nio.file.Path;
import java.util.List;

/**
 * A booted physical memory and a {@link FileDisk} image for the log's tests, seen through a tap
 * that can cut the power at the n-th write bio from now (the bio itself never reaches the disk),
 * and that counts the flags of the writes it passes.
 */
final class LogDisk implements BlockDevice, AutoCloseable {
  static final int BS = 4096;

  final PhysicalMemory mem;
  final FileDisk disk;
  final long freeAtStart;
  private int loseIn;
  private int cutIn; // writes left before the cut, 0: none armed
  private long cutSeed;
  private FileDisk.TearMode cutMode;
  FileDisk.PowerCut lastCut;
  int writes;
  int fuaPreflushWrites;

  LogDisk(Path dir, long blocks) {
    try {
      java.nio.file.Files.createDirectories(dir);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir.resolve("k"), false);
    freeAtStart = mem.allocator().nrFreePages();
    disk =
        FileDisk.create(mem, dir.resolve("xfs.img"), blocks * (BS / 512), DiskOptions.defaults());
  }

  /** Cuts the power instead of submitting the {@code n}-th write from now (1: the next). */
  void cutAtWrite(int n, FileDisk.TearMode mode, long seed) {
    cutIn = n;
    cutMode = mode;
    cutSeed = seed;
  }

  /** The {@code n}-th write from now completes without reaching the disk (a lost write). */
  void loseWrite(int n) {
    loseIn = n;
  }

  /** Cuts the power now, then brings the disk back as the file says. */
  FileDisk.PowerCut cutAndReopen(FileDisk.TearMode mode, long seed) {
    FileDisk.PowerCut c = disk.powerCut(mode, seed);
    disk.reopen();
    return c;
  }

  /** After a cut through {@link #cutAtWrite}: the disk back online. */
  void reopenAfterCut() {
    cutIn = 0;
    if (!disk.online()) {
      disk.reopen();
    }
  }

  byte[] block(long blk) {
    return disk.peek(blk * (BS / 512), BS / 512);
  }

  @Override
  public String name() {
    return disk.name();
  }

  @Override
  public long capacitySectors() {
    return disk.capacitySectors();
  }

  @Override
  public int features() {
    return disk.features();
  }

  @Override
  public void submitBio(Bio bio) {
    if (bio.op() == BioOp.WRITE) {
      writes++;
      if ((bio.flags() & (Bio.REQ_FUA | Bio.REQ_PREFLUSH)) == (Bio.REQ_FUA | Bio.REQ_PREFLUSH)) {
        fuaPreflushWrites++;
      }
      if (loseIn > 0 && --loseIn == 0) {
        bio.endio();
        return;
      }
      if (cutIn > 0 && --cutIn == 0) {
        lastCut = disk.powerCut(cutMode, cutSeed);
        bio.setStatus(-Errno.EIO.number());
        bio.endio();
        return;
      }
    }
    disk.submitBio(bio);
  }

  /** The kernel's invariants and every page back: the log freed what it allocated. */
  @Override
  public void close() {
    disk.close();
    assertEquals(List.of(), mem.debugVm().check());
    assertEquals(freeAtStart, mem.allocator().nrFreePages(), "pages leaked");
    mem.close();
  }
}
