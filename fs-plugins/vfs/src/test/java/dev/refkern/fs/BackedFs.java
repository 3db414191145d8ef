package dev.refkern.fs;

import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Page;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.WaitQueue;
import dev.refkern.mm.sched.Workqueue;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A test filesystem with a backing store in the heap ({@code "backedfs"}): blocks by mapping id and
 * index, injected {@code -EIO} write errors, and an optional time per page written, slept on the
 * scheduler's clock, to make the disk slower than the writer.
 */
final class BackedFs implements FileSystemType {
  final Map<Long, Map<Long, byte[]>> disk = new ConcurrentHashMap<>();
  final AtomicInteger failWrites = new AtomicInteger();
  final AtomicLong writes = new AtomicLong();
  volatile long jiffiesPerWrite;
  private final Aops aops = new Aops();
  private Workqueue timers;
  private WaitQueue wait;

  @Override
  public String name() {
    return "backedfs";
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, String source, String options) {
    SuperBlock sb = new SuperBlock(this, vm, aops, source, SuperBlock.MAX_LFS_FILESIZE, 1 << 20);
    sb.setRoot(sb.newInode(Inode.S_IFDIR | 0755));
    return sb;
  }

  @Override
  public void killSb(SuperBlock sb) {
    for (Inode i : sb.inodes()) {
      i.evict();
    }
  }

  @Override
  public List<String> check(String source) {
    return List.of();
  }

  /** The block at {@code index} of {@code mapping}, or null if never written. */
  byte[] block(AddressSpace mapping, long index) {
    return disk.getOrDefault(mapping.id(), Map.of()).get(index);
  }

  void destroy() {
    if (timers != null) {
      timers.destroy();
    }
  }

  private void sleep(Scheduler sched, long jiffies) {
    synchronized (this) {
      if (timers == null) {
        timers = sched.allocWorkqueue("backedfs-disk");
        wait = sched.newWaitQueue();
      }
    }
    long deadline = sched.clock().jiffies() + jiffies;
    WaitQueue w = wait;
    timers.queueDelayedWork(() -> w.wakeAll(), jiffies);
    w.await(() -> sched.clock().jiffies() - deadline >= 0);
  }

  private final class Aops implements AddressSpaceOperations {
    @Override
    public int readFolio(AddressSpace mapping, long pfn) {
      byte[] b = block(mapping, mapping.physicalMemory().memmap().index(pfn));
      if (b == null) {
        mapping.physicalMemory().ram().zeroPage(pfn);
      } else {
        mapping.physicalMemory().ram().write(pfn, 0, b, 0, b.length);
      }
      mapping.folios().folioMarkUptodate(pfn);
      mapping.folios().folioUnlock(pfn);
      return 0;
    }

    @Override
    public int writeFolio(AddressSpace mapping, long pfn) {
      writes.incrementAndGet();
      long j = jiffiesPerWrite;
      if (j > 0) {
        sleep(mapping.physicalMemory().scheduler(), j);
      }
      if (failWrites.getAndUpdate(n -> Math.max(n - 1, 0)) > 0) {
        return -Errno.EIO.number();
      }
      byte[] b = new byte[Page.PAGE_SIZE];
      mapping.physicalMemory().ram().read(pfn, 0, b, 0, b.length);
      disk.computeIfAbsent(mapping.id(), k -> new ConcurrentHashMap<>())
          .put(mapping.physicalMemory().memmap().index(pfn), b);
      return 0;
    }
  }
}
