package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.zip.CRC32C;
import org.apiguardian.api.API;

/**
 * The protection information of one write ({@code struct bio_integrity_payload}), modelled on T10
 * PI Type 1 with the NVMe 32-bit guard: per 512-byte sector a guard tag, the CRC32C of the sector's
 * data, and a reference tag, the low 32 bits of the sector number.
 *
 * <p>As in the kernel ({@code bio_integrity_prep()} from {@code blk_mq_submit_bio()}, then {@code
 * blk_integrity_generate()}), the tags are generated from the pages when the bio is
 * <em>submitted</em>; the device (the HBA or the drive) checks them when it <em>consumes</em> the
 * data. If the pages changed in between, the guard does not match and a PI-capable device fails the
 * write ({@code BLK_STS_PROTECTION}, reported by refkern as {@code -EIO}). This is why a device
 * with integrity sets {@code BLK_FEAT_STABLE_WRITES}: its pages must not change while in flight.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Integrity {
  /** Bytes protected by one tuple ({@code bi->interval_exp} = 9). */
  public static final int INTERVAL = Bio.SECTOR_SIZE;

  private final long sector;
  private final int[] guard;
  private final int[] ref;

  private Integrity(long sector, int[] guard, int[] ref) {
    this.sector = sector;
    this.guard = guard;
    this.ref = ref;
  }

  /** The guard tag of the 512 bytes at {@code off} in {@code buf}: their CRC32C. */
  public static int guard(byte[] buf, int off) {
    CRC32C crc = new CRC32C();
    crc.update(buf, off, INTERVAL);
    return (int) crc.getValue();
  }

  /**
   * {@code blk_integrity_generate()}: the tuples for {@code data} (a multiple of 512 bytes) about
   * to be written at {@code sector}.
   */
  public static Integrity generate(long sector, byte[] data) {
    return fromGuards(sector, guards(data));
  }

  /**
   * The tuples for a write at {@code sector} whose sectors have the guard tags {@code guards} (the
   * block layer computes them from the bio's pages).
   */
  public static Integrity fromGuards(long sector, int[] guards) {
    int n = guards.length;
    int[] r = new int[n];
    for (int i = 0; i < n; i++) {
      r[i] = (int) (sector + i);
    }
    return new Integrity(sector, guards.clone(), r);
  }

  /**
   * {@code blk_integrity_verify()}, as the device checks the data it consumes for {@code sector}.
   *
   * @return the index of the first sector whose guard or reference tag does not match, or -1
   */
  public int firstMismatch(long sector, byte[] data) {
    return firstMismatch(sector, guards(data));
  }

  /**
   * {@link #firstMismatch(long, byte[])} for data whose per-sector guard tags are {@code guards}.
   */
  public int firstMismatch(long sector, int[] guards) {
    if (guards.length != guard.length) {
      return 0;
    }
    for (int i = 0; i < guards.length; i++) {
      if (ref[i] != (int) (sector + i) || guard[i] != guards[i]) {
        return i;
      }
    }
    return -1;
  }

  private static int[] guards(byte[] data) {
    if (data.length % INTERVAL != 0) {
      throw new IllegalArgumentException("data of " + data.length + " bytes is not whole sectors");
    }
    int[] g = new int[data.length / INTERVAL];
    for (int i = 0; i < g.length; i++) {
      g[i] = guard(data, i * INTERVAL);
    }
    return g;
  }

  /** How many sectors (tuples) this payload protects. */
  public int sectors() {
    return guard.length;
  }

  /** The first sector, as generated. */
  public long sector() {
    return sector;
  }

  /** The guard tag of sector {@code i}. */
  public int guardTag(int i) {
    return guard[i];
  }

  /** The reference tag of sector {@code i}. */
  public int refTag(int i) {
    return ref[i];
  }
}
