package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.spi.Inode;
import java.nio.ByteBuffer;
import org.apiguardian.api.API;

/**
 * {@code __ext4_iget()}'s checks of an on-disk {@code struct ext4_inode} ({@code fs/ext4/inode.c},
 * read at v6.1): a file type this filesystem has, an {@code i_size} its block map can hold, block
 * references inside the data area ({@code ext4_check_inode_blockref()}) for a file without an
 * extent tree.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Ext4Validate {
  private Ext4Validate() {}

  /** What is wrong with inode {@code ino} in its table block {@code table}, or null. */
  public static String inode(Geometry geo, byte[] table, long ino) {
    ByteBuffer b = le(table);
    int off = Geometry.inodeOffset(ino);
    int mode = b.getShort(off + I_MODE) & 0xffff;
    int type = mode & Inode.S_IFMT;
    if (type != Inode.S_IFREG && type != Inode.S_IFDIR) {
      return "iget: bogus i_mode (" + Integer.toOctalString(mode) + ")";
    }
    long size =
        (b.getInt(off + I_SIZE_LO) & 0xffffffffL) | ((long) b.getInt(off + I_SIZE_HIGH) << 32);
    boolean extents = (b.getInt(off + ExtentTree.I_FLAGS) & ExtentTree.EXTENTS_FL) != 0;
    long max =
        type == Inode.S_IFDIR ? (long) NDIR * BLOCK : extents ? 0xFFFFFFFFL * BLOCK : MAX_BYTES;
    if (size < 0 || size > max) {
      return "iget: bad i_size value: " + size;
    }
    if (extents) {
      return null; // i_block is an extent header: the tree's own checks run when it is read
    }
    for (int i = 0; i <= NDIR; i++) {
      long blk = b.getInt(off + I_BLOCK + 4 * i) & 0xffffffffL;
      if (blk != 0 && !geo.isData(blk)) {
        return "iget: invalid block reference " + blk;
      }
    }
    return null;
  }
}
