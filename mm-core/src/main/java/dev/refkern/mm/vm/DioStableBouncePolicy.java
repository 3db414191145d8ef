package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.spi.Policy;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * A {@code dio.stable_bounce=} policy: whether direct I/O to a file of a stable-writes mapping
 * ({@code mapping_stable_writes()}) bounces its data ({@code IOMAP_DIO_BOUNCE} in {@code
 * fs/iomap/direct-io.c}), so user changes after submission do not reach the device. One class per
 * value, carrying {@link dev.refkern.mm.PolicySpec} with {@code param = "dio.stable_bounce"} and a
 * public constructor taking the {@link PhysicalMemory}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class DioStableBouncePolicy implements Policy {
  /** The kernel parameter choosing the policy. */
  public static final String PARAM = "dio.stable_bounce";

  private final AtomicLong bounced = new AtomicLong();
  private final AtomicLong direct = new AtomicLong();

  /** Binds the policy to a booted machine. */
  protected DioStableBouncePolicy(PhysicalMemory mem) {}

  /**
   * Whether a direct I/O to {@code mapping}'s file copies its data through a bounce buffer instead
   * of pinning the user's pages; asked once per I/O. Must not allocate.
   */
  public final boolean bounce(AddressSpace mapping) {
    boolean b = decide(mapping);
    (b ? bounced : direct).incrementAndGet();
    return b;
  }

  /** The policy's answer; must not allocate. */
  protected abstract boolean decide(AddressSpace mapping);

  /** {@code bounced} and {@code direct} (zero-copy) I/Os. */
  @Override
  public final PolicyStats stats() {
    Map<String, Long> c = new LinkedHashMap<>();
    c.put("bounced", bounced.get());
    c.put("direct", direct.get());
    return new PolicyStats(PARAM, name(), c);
  }
}
