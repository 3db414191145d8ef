package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.sched.Completion;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.Workqueue;
import dev.refkern.mm.spi.Policy;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * An {@code hmm.file_pages=} policy: whether {@code migrate_vma_pages()} ({@code
 * mm/migrate_device.c}) may move a page-cache folio into {@code MEMORY_DEVICE_PRIVATE} memory, and
 * what writeback does with such a folio (seed 004, Jérôme Glisse and Dave Chinner, Dec 2016).
 * Mainline refuses file pages ("For now only support anonymous memory"): {@link
 * OffDeviceFilePages}.
 *
 * <p>Beyond mainline, a device folio takes the page-cache slot of the folio it replaces (mapping,
 * index, dirty state, as {@code folio_migrate_mapping()} moves them). {@code read()}, {@code
 * write()}, a CPU fault through the page cache and truncate that meet one migrate it back first, on
 * a workqueue the caller waits for (the seed's first plan); reclaim never meets one, since device
 * pages are not on the LRU. Writeback migrates it back too, unless {@link #bouncesWriteback()}.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public abstract class DeviceFilePagePolicy implements Policy {
  /** The kernel parameter choosing the policy. */
  public static final String PARAM = "hmm.file_pages";

  /** The kernel services the policy may use. */
  protected final DeviceFilePageContext context;

  private final AtomicLong skipped = new AtomicLong();
  private final AtomicLong toDevice = new AtomicLong();
  private final AtomicLong back = new AtomicLong();
  private final AtomicLong backFailed = new AtomicLong();
  private final AtomicLong stallNs = new AtomicLong();
  private final AtomicLong foliosBounced = new AtomicLong();
  private final AtomicLong bytesBounced = new AtomicLong();
  private Workqueue wq;

  /** Binds the policy to a booted kernel. */
  protected DeviceFilePagePolicy(DeviceFilePageContext context) {
    this.context = context;
  }

  /** Whether {@code migrate_vma_pages()} may move a page-cache folio to device memory. */
  public abstract boolean allowsFilePages();

  /**
   * Whether writeback writes a device folio through a bounce page copied by the driver (the folio
   * stays on the device) rather than migrating it back first.
   */
  public abstract boolean bouncesWriteback();

  /**
   * A page-cache folio {@code migrate_vma_pages()} refused because the policy does not allow it.
   */
  final void skipped() {
    skipped.incrementAndGet();
  }

  /** A page-cache folio moved into device memory. */
  final void migratedToDevice() {
    toDevice.incrementAndGet();
  }

  /** Writeback wrote {@code bytes} of a device folio through a bounce page. */
  final void bounced(int bytes) {
    foliosBounced.incrementAndGet();
    bytesBounced.addAndGet(bytes);
  }

  /**
   * Migrates the device folio {@code pfn} of a page cache back to system memory on the policy's
   * workqueue and waits for it (the seed's "have read/write wait on the workqueue to be done
   * migrating the page back"), so the caller's filesystem locks never nest the migration's mm
   * locks. The caller holds no folio lock. Returns false if the folio could not be taken (busy or
   * freed meanwhile): the caller looks the index up again.
   */
  public final boolean migrateBack(long pfn) {
    Scheduler sched = context.mem().scheduler();
    Completion done = sched.newCompletion();
    boolean[] ok = new boolean[1];
    long t0 = sched.clock().nanos();
    workqueue()
        .queueWork(
            () -> {
              try {
                ok[0] = context.migrateHome().test(pfn);
              } finally {
                done.complete();
              }
            });
    done.waitForCompletion();
    stallNs.addAndGet(sched.clock().nanos() - t0);
    (ok[0] ? back : backFailed).incrementAndGet();
    return ok[0];
  }

  private synchronized Workqueue workqueue() {
    if (wq == null) {
      wq = context.mem().scheduler().allocWorkqueue("hmm_file_migrate");
    }
    return wq;
  }

  /**
   * {@code file_pages_skipped} (refused by {@code migrate_vma_pages()}), {@code
   * file_pages_to_device}, {@code migrations_back} (and {@code migrations_back_failed}, retried),
   * {@code stall_ns} (callers waiting for a migration back, scheduler clock), {@code
   * folios_bounced}, {@code bytes_bounced}.
   */
  @Override
  public final PolicyStats stats() {
    Map<String, Long> c = new LinkedHashMap<>();
    c.put("file_pages_skipped", skipped.get());
    c.put("file_pages_to_device", toDevice.get());
    c.put("migrations_back", back.get());
    c.put("migrations_back_failed", backFailed.get());
    c.put("stall_ns", stallNs.get());
    c.put("folios_bounced", foliosBounced.get());
    c.put("bytes_bounced", bytesBounced.get());
    return new PolicyStats(PARAM, name(), c);
  }
}
