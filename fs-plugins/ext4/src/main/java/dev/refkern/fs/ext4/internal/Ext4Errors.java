package dev.refkern.fs.ext4.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.block.Bio;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.KernelHealth;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * ext4's run-time error handling, {@code ext4_error()}, {@code ext4_handle_error()} and {@code
 * ext4_warning()} ({@code fs/ext4/super.c}, read at v6.1): an inconsistency found after mount is
 * logged, recorded in the superblock ({@code s_state |= EXT4_ERROR_FS}) and then handled as the
 * {@code errors=} mount option says. Also the {@code /sys/fs/ext4/<dev>/} counters.
 *
 * <p>{@code errors=remount-ro} makes the filesystem read-only (the kernel sets {@code SB_RDONLY}
 * before v6.6, a shutdown flag since): writes fail with {@code EROFS} and no metadata reaches the
 * disk any more, so the damage is not spread. {@code errors=panic} is {@code BUG()}.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Ext4Errors {
  /** {@code EXT4_VALID_FS}, {@code EXT4_ERROR_FS}: bits of {@code s_state}. */
  public static final int VALID_FS = 0x1;

  public static final int ERROR_FS = 0x2;

  /** The {@code errors=} mount option ({@code EXT4_MOUNT_ERRORS_*}). */
  public enum Mode {
    CONTINUE,
    REMOUNT_RO,
    PANIC;

    /** The option value, as {@code mount} takes it. */
    public String option() {
      return name().toLowerCase().replace('_', '-');
    }

    /** Parses an {@code errors=} value. @throws KernelException {@code EINVAL} */
    public static Mode parse(String v) {
      for (Mode m : values()) {
        if (m.option().equals(v)) {
          return m;
        }
      }
      throw new KernelException(Errno.EINVAL, "ext4: bad value for errors: '" + v + "'");
    }
  }

  /**
   * The {@code nobuffers=} mount option: what writeback does with a dirty folio without buffers.
   * {@code warn} is mainline since cc5095747edf (5.18), {@code bug} the kernels before it.
   */
  public enum NoBuffers {
    WARN,
    BUG;

    /** Parses a {@code nobuffers=} value. @throws KernelException {@code EINVAL} */
    public static NoBuffers parse(String v) {
      return switch (v) {
        case "warn" -> WARN;
        case "bug" -> BUG;
        default -> throw new KernelException(Errno.EINVAL, "ext4: bad value for nobuffers: " + v);
      };
    }
  }

  private static final System.Logger LOG = System.getLogger("dev.refkern.fs.ext4");
  private static final int KEEP = 50;

  private final MetaIo io;
  private final String dev;
  private final KernelHealth health;
  private final Mode mode;
  private final NoBuffers nobuffers;
  private final List<String> messages = new ArrayList<>();
  private boolean errorFs;
  private boolean readOnly;
  private Runnable onReadOnly = () -> {}; // sets SB_RDONLY on the VFS superblock
  private long errorsCount;
  private String firstError;
  private long foliosWithoutBuffers;
  private long bytesLost;

  /** Error handling of the filesystem on {@code dev}, whose superblock {@code io} rewrites. */
  public Ext4Errors(
      MetaIo io, String dev, KernelHealth health, Mode mode, NoBuffers nobuffers, int sState) {
    this.io = io;
    this.dev = dev;
    this.health = health;
    this.mode = mode;
    this.nobuffers = nobuffers;
    this.errorFs = (sState & ERROR_FS) != 0; // stays until fsck clears it
  }

  /** {@code s_state} of the superblock block {@code block0}. */
  public static int state(byte[] block0) {
    return Disk.le(block0).getShort(Disk.S_STATE) & 0xffff;
  }

  /** The {@code errors=} option in force. */
  public Mode mode() {
    return mode;
  }

  /** The {@code nobuffers=} option in force. */
  public NoBuffers nobuffers() {
    return nobuffers;
  }

  /**
   * {@code __ext4_error()}: logs "EXT4-fs error (device X): function: message", saves the error in
   * the superblock and handles it per {@code errors=}.
   *
   * @return {@code EUCLEAN} (the kernel's {@code EFSCORRUPTED}) for the caller to fail with
   * @throws dev.refkern.mm.KernelBugException with {@code errors=panic}
   */
  public KernelException error(String function, String message) {
    String line = "EXT4-fs error (device " + dev + "): " + function + ": " + message;
    synchronized (this) {
      log(line);
      errorsCount++;
      if (firstError == null) {
        firstError = line;
      }
      if (!errorFs) {
        errorFs = true;
        commitErrorState(); // ext4_commit_super() right away: it must survive a crash
      }
    }
    switch (mode) {
      case PANIC -> throw health.bug("EXT4-fs (device " + dev + "): panic forced after error");
      case REMOUNT_RO -> {
        synchronized (this) {
          if (!readOnly) {
            readOnly = true;
            log("EXT4-fs (" + dev + "): Remounting filesystem read-only");
            onReadOnly.run();
          }
        }
      }
      case CONTINUE -> {}
    }
    return new KernelException(Errno.EUCLEAN, line);
  }

  /**
   * {@code ext4_writepages()} met a dirty folio without buffers. {@code nobuffers=bug}: the {@code
   * BUG_ON(!PagePrivate(page))} in {@code page_buffers()} before 5.18; {@code warn}: the {@code
   * ext4_warning_inode()} of mainline, the caller cleans the folio without writing it.
   *
   * @param bytes the bytes of file data the folio held (lost)
   */
  public void noBuffers(long ino, long index, long bytes) {
    if (nobuffers == NoBuffers.BUG) {
      throw health.bug(
          "kernel BUG at include/linux/buffer_head.h: page_buffers(): page "
              + index
              + " of inode #"
              + ino
              + " on "
              + dev
              + " has no buffers");
    }
    String line =
        "EXT4-fs warning (device "
            + dev
            + "): mpage_prepare_extent_to_map: inode #"
            + ino
            + ": page "
            + index
            + " does not have buffers attached";
    synchronized (this) {
      foliosWithoutBuffers++;
      bytesLost += bytes;
    }
    health.warn(true, line);
  }

  /**
   * Runs {@code r} when an error remounts read-only ({@code ext4_handle_error()} setting {@code
   * SB_RDONLY}), so the VFS's {@code mnt_want_write()} refuses changes too; at once if it already
   * did.
   */
  public void onReadOnly(Runnable r) {
    boolean now;
    synchronized (this) {
      onReadOnly = r;
      now = readOnly;
    }
    if (now) {
      r.run();
    }
  }

  /** {@code sb_rdonly()} after an error: whether writes are refused. */
  public synchronized boolean readOnly() {
    return readOnly;
  }

  /** {@code mnt_want_write()} of this filesystem. @throws KernelException {@code EROFS} */
  public void checkWritable(String what) {
    if (readOnly()) {
      throw new KernelException(
          Errno.EROFS, what + ": ext4 " + dev + " is read-only after an error");
    }
  }

  /** Block 0 as {@code ext4_commit_super()} writes it: {@code EXT4_ERROR_FS} kept once set. */
  public synchronized byte[] stamp(byte[] superBlock) {
    if (errorFs) {
      ByteBuffer b = Disk.le(superBlock);
      b.putShort(Disk.S_STATE, (short) (b.getShort(Disk.S_STATE) | ERROR_FS));
      b.putInt(Disk.S_CHECKSUM, Disk.crc(superBlock, Disk.S_CHECKSUM));
    }
    return superBlock;
  }

  private void commitErrorState() {
    try {
      io.write(0, stamp(io.read(0)), Bio.REQ_FUA);
    } catch (KernelException e) {
      log("EXT4-fs (" + dev + "): error count not saved: " + e.getMessage()); // a read-only bdev
    }
  }

  private void log(String line) {
    LOG.log(System.Logger.Level.ERROR, line);
    if (messages.size() < KEEP) {
      messages.add(line);
    }
  }

  /** The {@code /sys/fs/ext4/<dev>/} counters now. */
  public synchronized Counters counters() {
    return new Counters(
        errorsCount,
        firstError,
        readOnly,
        errorFs,
        foliosWithoutBuffers,
        bytesLost,
        List.copyOf(messages));
  }

  /** What {@link #counters()} returns. */
  public record Counters(
      long errorsCount,
      String firstError,
      boolean readOnly,
      boolean errorFs,
      long foliosWithoutBuffers,
      long bytesLost,
      List<String> messages) {}
}
