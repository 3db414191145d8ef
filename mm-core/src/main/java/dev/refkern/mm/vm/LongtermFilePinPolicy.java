package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.spi.Policy;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * A {@code gup.longterm_file=} policy: what {@code writable_file_mapping_allowed()} ({@code
 * mm/gup.c}) answers for a writable {@code FOLL_LONGTERM} pin of a shared file mapping that needs
 * dirty tracking ({@code vma_needs_dirty_tracking()}; shmem does not). One class per value,
 * carrying {@link dev.refkern.mm.PolicySpec} with {@code param = "gup.longterm_file"} and a public
 * constructor taking the {@link PhysicalMemory}. GUP asks it only for such pins.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class LongtermFilePinPolicy implements Policy {
  /** The kernel parameter choosing the policy. */
  public static final String PARAM = "gup.longterm_file";

  private final AtomicLong refused = new AtomicLong();
  private final AtomicLong allowed = new AtomicLong();

  /** Binds the policy to a booted machine. */
  protected LongtermFilePinPolicy(PhysicalMemory mem) {}

  /**
   * Whether GUP may take the writable long-term pin of a dirty-tracked file page of {@code vma};
   * false makes it {@code -EFAULT}. Must not allocate.
   */
  public final boolean writableFileMappingAllowed(Vma vma) {
    boolean ok = decide(vma);
    (ok ? allowed : refused).incrementAndGet();
    return ok;
  }

  /** The policy's answer; must not allocate. */
  protected abstract boolean decide(Vma vma);

  /** {@code refused} and {@code allowed} pins (one per GUP call that asked). */
  @Override
  public final PolicyStats stats() {
    Map<String, Long> c = new LinkedHashMap<>();
    c.put("refused", refused.get());
    c.put("allowed", allowed.get());
    return new PolicyStats(PARAM, name(), c);
  }
}
