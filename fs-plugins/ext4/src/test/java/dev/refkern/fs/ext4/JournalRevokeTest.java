package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.fs.ext4.Ext4Machine.pattern;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.Bio;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.ext4.internal.Journal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * jbd2 revoke records ({@code fs/jbd2/revoke.c}, {@code recovery.c} {@code PASS_REVOKE}): a freed
 * metadata block's logged copy never replays over the block's next owner, a block logged again
 * after its revoke replays, and a torn revoke block ends the scan. Clean kernel and fsck after
 * each.
 */
class JournalRevokeTest {
  private static final long SECTORS = (4 << 20) / 512; // 1024 blocks: a 64-block journal
  private static final int BLOCK = 4096;

  @TempDir Path dir;
  private final List<Ext4Machine> machines = new ArrayList<>();

  private Ext4Machine boot(boolean create) {
    Ext4Machine m =
        new Ext4Machine(dir.resolve("k" + machines.size()), image(), create ? SECTORS : 0);
    machines.add(m);
    return m;
  }

  private Path image() {
    return dir.resolve("ext4.img");
  }

  private static Map<String, Long> journalStats(Ext4Machine m) {
    return m.ext4().journalStats(m.mount().sb());
  }

  @AfterEach
  void cleanKernels() {
    for (Ext4Machine m : machines) {
      m.shutdown();
    }
  }

  /**
   * A directory's block is logged, the directory is removed (its block freed), the block becomes
   * the next block of a file (the allocator's goal follows the file), the file is fsync'd, the
   * power goes before any checkpoint: replay must not write the directory's old copy over the
   * file's data, as it would without the revoke record.
   */
  @Test
  void aFreedDirectoryBlockReusedAsFileDataIsNotOverwrittenAtReplay() {
    Ext4Machine a = boot(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.vfs.mkdir("/mnt/d", 0755);
    byte[] first = pattern(BLOCK, 1);
    a.put("/mnt/f", first); // f's block is allocated first, then d's block right after it
    a.vfs.rmdir("/mnt/d");
    a.put("/mnt/s", pattern(10, 2)); // this commit frees (and revokes) d's block
    byte[] second = pattern(BLOCK, 3);
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR, 0);
    a.write(fd, second, BLOCK); // f's next block: the goal after its last one, d's old block
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    assertTrue(journalStats(a).get("revoke_records") >= 1, journalStats(a).toString());
    a.disk.powerCut(); // every checkpoint write was still in the drive's cache
    a.shutdown();

    Ext4Machine b = boot(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertEquals(3, journalStats(b).get("transactions_replayed"), journalStats(b).toString());
    byte[] want = new byte[2 * BLOCK];
    System.arraycopy(first, 0, want, 0, BLOCK);
    System.arraycopy(second, 0, want, BLOCK, BLOCK);
    assertArrayEquals(want, b.read("/mnt/f"), "f's second block is not d's directory block");
    assertEquals(1, journalStats(b).get("revoke_hits"), "d's logged copy was skipped");
    assertEquals(List.of("f", "s"), b.vfs.readdir("/mnt"));
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), new Ext4().check(image().toString()));
  }

  private Journal journal(MetaIo io, int len) {
    return Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.ORDERED);
  }

  /**
   * {@code jbd2_journal_test_revoke()}: a copy is skipped if its transaction is not newer than the
   * revoke; a block revoked, then logged again (later, or in the same transaction: {@code
   * jbd2_journal_cancel_revoke()}) replays its new copy.
   */
  @Test
  void aBlockLoggedAgainAfterItsRevokeReplaysItsNewCopy() {
    Ext4Machine a = boot(true);
    MetaIo io = new MetaIo(a.mem, a.disk, BLOCK, "ext4");
    Journal.format(io, 100, 64);
    io.flush(); // as mkfs
    Journal j = journal(io, 64);
    j.dirtyMetadata(300, pattern(BLOCK, 1));
    j.dirtyMetadata(301, pattern(BLOCK, 2));
    j.dirtyMetadata(302, pattern(BLOCK, 3));
    j.commit(); // T1
    j.revoke(300);
    j.revoke(301);
    j.revoke(302);
    j.joinRevokes();
    j.dirtyMetadata(302, pattern(BLOCK, 4)); // the revoke of 302 is cancelled
    j.commit(); // T2: revokes 300 and 301
    j.dirtyMetadata(301, pattern(BLOCK, 5));
    j.commit(); // T3: 301 again
    assertEquals(2, j.stats().get("revoke_records"));
    io.write(300, pattern(BLOCK, 6), Bio.REQ_FUA); // 300's next owner: file data, durable
    a.disk.powerCut(); // the checkpoint writes are lost
    a.disk.reopen();

    Journal r = journal(io, 64);
    assertEquals(3, r.stats().get("transactions_replayed"));
    assertArrayEquals(pattern(BLOCK, 6), io.read(300), "not T1's revoked copy");
    assertArrayEquals(pattern(BLOCK, 5), io.read(301), "T3's copy, newer than the revoke");
    assertArrayEquals(pattern(BLOCK, 4), io.read(302), "T2's copy: its revoke was cancelled");
    assertEquals(2, r.stats().get("revoke_hits"), "T1's 300 and 301");
  }

  /** A revoke block torn by the cut fails its tail checksum: its transaction is not replayed. */
  @Test
  void aTornRevokeBlockEndsTheScan() {
    Ext4Machine a = boot(true);
    MetaIo io = new MetaIo(a.mem, a.disk, BLOCK, "ext4");
    Journal.format(io, 100, 64);
    io.flush();
    Journal j = journal(io, 64);
    j.dirtyMetadata(300, pattern(BLOCK, 1));
    j.commit(); // T1: log blocks 1 (descriptor), 2 (copy), 3 (commit)
    j.revoke(300);
    j.joinRevokes();
    j.dirtyMetadata(301, pattern(BLOCK, 2));
    j.commit(); // T2: log block 4 is its revoke block
    byte[] revoke = io.read(100 + 4);
    assertEquals(5, java.nio.ByteBuffer.wrap(revoke).getInt(4), "JBD2_REVOKE_BLOCK");
    System.arraycopy(pattern(512, 9), 0, revoke, 7 * 512, 512); // its last sector is garbage
    io.write(100 + 4, revoke, Bio.REQ_FUA);
    a.disk.powerCut();
    a.disk.reopen();

    Journal r = journal(io, 64);
    assertEquals(1, r.stats().get("transactions_replayed"), "T1 only");
    assertEquals(0, r.stats().get("revoke_hits"));
    assertArrayEquals(pattern(BLOCK, 1), io.read(300));
    assertArrayEquals(new byte[BLOCK], io.read(301), "T2 is not replayed");
  }
}
