package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.ext4.internal.Ext4Sb;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PageAllocator;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ext4_sync_file()}'s commit writes the ordered data without the filesystem's lock, which
 * the writeback path takes after a folio lock.
 */
class Ext4FsyncLogTest {
  private static final long SECTORS = (16 << 20) / 512;

  @TempDir Path dir;
  private Ext4Machine m;

  @AfterEach
  void clean() {
    if (m != null) {
      m.shutdown();
    }
  }

  private Ext4Sb fs() {
    return (Ext4Sb) m.mount().sb().aops();
  }

  @Test
  void theCommitWritesOrderedDataWithoutTheLockWritebackTakesUnderAFolioLock() throws Exception {
    m = new Ext4Machine(dir.resolve("k"), dir.resolve("img"), SECTORS);
    m.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    int fd = m.vfs.open(m.task, "/mnt/f", O_RDWR | O_CREAT, 0640);
    m.write(fd, Ext4Machine.pattern(8192, 3), 0);
    Inode f = m.inode("/mnt/f");
    // writeback of page 0 allocates both delayed blocks (one extent): the inode joins the ordered
    // list while page 1 stays dirty
    FileOperations.fileWriteAndWaitRange(f, 0, 4095);
    assertNotEquals(0, m.ext4().bmap(f, 1), "page 1's block allocated with page 0's");
    AddressSpace mapping = f.mapping();
    long pfn = m.vm.filemap().filemapGetFolio(mapping, 1);
    assertNotEquals(PageAllocator.NO_PFN, pfn);

    CountDownLatch locked = new CountDownLatch(1);
    CountDownLatch go = new CountDownLatch(1);
    // a writeback worker: folio lock, then the filesystem's lock to map the folio's blocks
    CompletableFuture<Void> writeback =
        CompletableFuture.runAsync(
            () -> {
              mapping.folios().folioLock(pfn);
              try {
                locked.countDown();
                go.await();
                m.ext4().bmap(f, 1);
              } catch (InterruptedException e) {
                throw new AssertionError(e);
              } finally {
                mapping.folios().folioUnlock(pfn);
              }
            });
    assertTrue(locked.await(60, TimeUnit.SECONDS));
    Thread[] syncer = new Thread[1];
    CompletableFuture<Void> fsync = new CompletableFuture<>();
    syncer[0] =
        new Thread(
            () -> {
              try {
                fs().fsyncInode(f); // the commit meets the ordered inode
                fsync.complete(null);
              } catch (Throwable t) {
                fsync.completeExceptionally(t);
              }
            });
    syncer[0].setDaemon(true);
    syncer[0].start();
    // the commit is waiting for page 1's folio lock
    for (int i = 0; i < 60_000 && !waiting(syncer[0]); i++) {
      Thread.sleep(1);
    }
    assertTrue(waiting(syncer[0]), "fsync waits for the locked folio");
    go.countDown();
    try {
      writeback.get(60, TimeUnit.SECONDS);
      fsync.get(60, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      Ext4Machine dead = m;
      m = null;
      dead.abandon();
      fail("fsync and writeback deadlock: fs lock then folio lock, folio lock then fs lock");
    }
    m.mem.allocator().putPage(pfn);
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
  }

  private static boolean waiting(Thread t) {
    Thread.State s = t.getState();
    return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
  }
}
