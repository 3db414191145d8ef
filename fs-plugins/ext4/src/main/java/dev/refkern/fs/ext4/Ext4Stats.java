package dev.refkern.fs.ext4;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.ext4.internal.Ext4Errors;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The {@code /sys/fs/ext4/<dev>/} attributes of a mounted ext4 ({@code fs/ext4/sysfs.c}): {@code
 * errors_count}, {@code first_error_*}, whether it went read-only, plus what writeback dropped.
 *
 * @param errorsCount {@code ext4_error()}s since mount ({@code errors_count})
 * @param firstError the first error's log line, or null
 * @param readOnly whether {@code errors=remount-ro} made it read-only
 * @param errorFs whether the superblock carries {@code EXT4_ERROR_FS} (fsck clears it)
 * @param foliosWithoutBuffers dirty folios writeback found without buffers (seed 001's O2)
 * @param bytesLostWithoutBuffers file bytes those folios held, cleaned and never written
 * @param messages the first log lines of errors and warnings, as {@code dmesg} shows them
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record Ext4Stats(
    long errorsCount,
    String firstError,
    boolean readOnly,
    boolean errorFs,
    long foliosWithoutBuffers,
    long bytesLostWithoutBuffers,
    List<String> messages) {
  static Ext4Stats of(Ext4Errors.Counters c) {
    return new Ext4Stats(
        c.errorsCount(),
        c.firstError(),
        c.readOnly(),
        c.errorFs(),
        c.foliosWithoutBuffers(),
        c.bytesLost(),
        c.messages());
  }
}
