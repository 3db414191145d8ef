package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The writeback sysctls, {@code vm_dirty_ratio}, {@code dirty_background_ratio}, {@code
 * dirty_expire_interval} and {@code dirty_writeback_interval} ({@code mm/page-writeback.c}), from
 * the kernel command line ({@code vm.dirty_ratio=20}); defaults as the kernel's.
 *
 * @param dirtyRatio {@code vm.dirty_ratio}: percent of dirtyable memory at which a writer is
 *     throttled ({@code balance_dirty_pages()}), 0..100
 * @param dirtyBackgroundRatio {@code vm.dirty_background_ratio}: percent at which the flusher
 *     starts background writeback, 0..100
 * @param dirtyExpireCentisecs {@code vm.dirty_expire_centisecs}: age at which dirty data is written
 *     by the periodic writeback
 * @param dirtyWritebackCentisecs {@code vm.dirty_writeback_centisecs}: period of the flusher's
 *     wake-ups; 0 disables them
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record DirtySysctls(
    int dirtyRatio,
    int dirtyBackgroundRatio,
    int dirtyExpireCentisecs,
    int dirtyWritebackCentisecs) {
  /** The kernel's defaults: 20, 10, 3000, 500. */
  public static final DirtySysctls DEFAULTS = new DirtySysctls(20, 10, 3000, 500);

  /** The command-line keys, in record order. */
  public static final List<String> KEYS =
      List.of(
          "vm.dirty_ratio",
          "vm.dirty_background_ratio",
          "vm.dirty_expire_centisecs",
          "vm.dirty_writeback_centisecs");

  /**
   * Reads the {@link #KEYS} from command-line {@code values}, defaulting the absent ones.
   *
   * @throws KernelException {@code EINVAL} for a value that is not a decimal integer in range
   */
  public static DirtySysctls parse(Map<String, String> values) {
    return new DirtySysctls(
        get(values, KEYS.get(0), DEFAULTS.dirtyRatio, 100),
        get(values, KEYS.get(1), DEFAULTS.dirtyBackgroundRatio, 100),
        get(values, KEYS.get(2), DEFAULTS.dirtyExpireCentisecs, Integer.MAX_VALUE),
        get(values, KEYS.get(3), DEFAULTS.dirtyWritebackCentisecs, Integer.MAX_VALUE));
  }

  private static int get(Map<String, String> values, String key, int dflt, int max) {
    String v = values.get(key);
    if (v == null) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v);
      if (n < 0 || n > max) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new KernelException(
          Errno.EINVAL, "bad kernel command line: " + key + "=" + v + " must be 0.." + max);
    }
  }
}
