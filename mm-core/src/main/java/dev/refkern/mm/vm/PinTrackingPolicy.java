package dev.refkern.mm.vm;

import static dev.refkern.mm.PageFlags.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Memmap;
import java.util.HashMap;
import java.util.Map;

/**
 * How a page remembers that {@code pin_user_pages()} handed it to DMA: the design the seeds argue
 * about, chosen at boot with {@code gup.pin_tracking=}. GUP asks the policy to take and drop a pin,
 * and fork and migration ask it whether a folio may be pinned.
 *
 * <p>Implementations: {@code bias} (mainline, default), {@code page_flag} (seed 002, June 2018) and
 * {@code fake_vma} (seed 001, December 2018). {@code lru_isolate} (seed 002) needs the LRU lists
 * and comes with them.
 */
public abstract sealed class PinTrackingPolicy
    permits PinTrackingPolicy.Bias,
        PinTrackingPolicy.PageFlag,
        PinTrackingPolicy.LruIsolate,
        PinTrackingPolicy.FakeVma {
  final Memmap memmap;

  PinTrackingPolicy(Memmap memmap) {
    this.memmap = memmap;
  }

  /** The {@code gup.pin_tracking=} name. */
  public abstract String name();

  /**
   * Whether {@code gup_fast} may pin under this policy (it takes no locks and allocates nothing).
   */
  public abstract boolean fastPathAvailable();

  /**
   * {@code folio_maybe_dma_pinned()} as this policy can answer it.
   *
   * @throws dev.refkern.mm.KernelException {@code EINVAL} for a pfn outside the memmap
   */
  public final boolean maybeDmaPinned(long pfn) {
    memmap.checkPfn(pfn);
    return dmaPinned(pfn);
  }

  /** {@link #maybeDmaPinned} without the pfn check, for pfns from page tables. */
  abstract boolean dmaPinned(long pfn);

  /** Bytes this policy holds for the pins outstanding now (beyond the memmap). */
  public long overheadBytes() {
    return 0;
  }

  /**
   * Takes {@code refs} pins on the folio whose head is {@code head}, speculatively if {@code
   * speculative} (gup_fast: a free folio is refused). Returns false, changing nothing, for a free
   * folio or a refcount that would overflow.
   */
  abstract boolean grab(long head, int refs, boolean speculative);

  /**
   * Drops one pin; returns how many references the caller must still put, or -1 if the folio shows
   * no pin (a {@code BUG} for the caller).
   */
  abstract int release(long head, int refs);

  /** The {@code gup.pin_tracking=} names, mainline's first. */
  public static final java.util.List<String> NAMES =
      java.util.List.of("bias", "page_flag", "lru_isolate", "fake_vma");

  /** Chooses the policy named by {@code gup.pin_tracking=}; {@code -EINVAL} for an unknown name. */
  static PinTrackingPolicy of(String name, Memmap memmap, LruVec lru) {
    return switch (name) {
      case "bias" -> new Bias(memmap);
      case "page_flag" -> new PageFlag(memmap);
      case "lru_isolate" -> new LruIsolate(memmap, lru);
      case "fake_vma" -> new FakeVma(memmap);
      default ->
          throw new KernelException(
              Errno.EINVAL, "gup.pin_tracking=" + name + ": choose one of " + NAMES);
    };
  }

  /**
   * {@code lru_isolate}: a pinned folio is taken off the LRU and kept off it, its pin count kept in
   * the list links it no longer uses (seed 002: Matthew Wilcox's idea, John Hubbard's analysis of
   * the {@code SetPageLRU()} call sites, June 2018). Reclaim and compaction never see it. Every
   * path that puts a folio on the LRU must check for it; a first pin of a folio still in a per-CPU
   * batch needs {@code lru_add_drain_all()}, so {@code gup_fast} falls back for it.
   */
  static final class LruIsolate extends PinTrackingPolicy {
    private final LruVec lru;

    LruIsolate(Memmap memmap, LruVec lru) {
      super(memmap);
      this.lru = lru;
    }

    @Override
    public String name() {
      return "lru_isolate";
    }

    @Override
    public boolean fastPathAvailable() {
      return true;
    }

    @Override
    boolean dmaPinned(long pfn) {
      return lru.pinIsolated(memmap.compoundHead(pfn));
    }

    @Override
    boolean grab(long head, int refs, boolean speculative) {
      if (!memmap.refTryAdd(head, refs)) {
        return false;
      }
      if (!lru.pinIsolate(head, refs, speculative)) {
        memmap.refAdd(head, -refs); // cannot be the last: the caller's mapping holds one
        return false;
      }
      return true;
    }

    @Override
    int release(long head, int refs) {
      return lru.pinRelease(head, refs) ? refs : -1;
    }
  }

  /**
   * {@code bias}: mainline's {@code GUP_PIN_COUNTING_BIAS}. A pin adds 1024 to a small folio's
   * refcount, or 1 to the refcount and 1 to the exact {@code _pincount} of a large one. False
   * positives (1024 plain references), never false negatives.
   */
  static final class Bias extends PinTrackingPolicy {
    Bias(Memmap memmap) {
      super(memmap);
    }

    @Override
    public String name() {
      return "bias";
    }

    @Override
    public boolean fastPathAvailable() {
      return true;
    }

    @Override
    boolean dmaPinned(long pfn) {
      long head = memmap.compoundHead(pfn);
      if (memmap.folioOrder(head) > 0) {
        return memmap.pincount(head) > 0;
      }
      return memmap.refcount(head) >= Foll.GUP_PIN_COUNTING_BIAS;
    }

    @Override
    boolean grab(long head, int refs, boolean speculative) {
      boolean large = memmap.folioOrder(head) > 0;
      if (!memmap.refTryAdd(head, large ? refs : refs * Foll.GUP_PIN_COUNTING_BIAS)) {
        return false;
      }
      if (large) {
        memmap.pincountAdd(head, refs);
      }
      return true;
    }

    @Override
    int release(long head, int refs) {
      if (memmap.folioOrder(head) > 0) {
        if (memmap.pincount(head) < refs) {
          return -1;
        }
        memmap.pincountAdd(head, -refs);
        return refs;
      }
      return memmap.refcount(head) < Foll.GUP_PIN_COUNTING_BIAS * refs
          ? -1
          : refs * Foll.GUP_PIN_COUNTING_BIAS;
    }
  }

  /**
   * {@code page_flag}: {@code PG_dma_pinned} set on pin and cleared on unpin, with an ordinary
   * reference for each pin (seed 002, John Hubbard, June 2018). One bit cannot count: when one of
   * two pins is released the flag goes, and the page looks unpinned while DMA still runs into it.
   */
  static final class PageFlag extends PinTrackingPolicy {
    PageFlag(Memmap memmap) {
      super(memmap);
    }

    @Override
    public String name() {
      return "page_flag";
    }

    @Override
    public boolean fastPathAvailable() {
      return true;
    }

    @Override
    boolean dmaPinned(long pfn) {
      return memmap.testFlag(memmap.compoundHead(pfn), PG_DMA_PINNED);
    }

    @Override
    boolean grab(long head, int refs, boolean speculative) {
      if (!memmap.refTryAdd(head, refs)) {
        return false;
      }
      memmap.setFlag(head, PG_DMA_PINNED);
      return true;
    }

    @Override
    int release(long head, int refs) {
      // the flag says nothing about how many pins remain: clearing it loses the others
      memmap.clearFlag(head, PG_DMA_PINNED);
      return refs;
    }
  }

  /**
   * {@code fake_vma}: a pin is a mapping (seed 001, Jérôme Glisse, December 2018): each pin call
   * allocates a fake VMA under a lock and inserts it in the reverse map, so a pinned page shows a
   * mapping that no page table explains. It needs that lock and an allocation per call, so it
   * cannot run in the lockless fast path: {@code pin_user_pages_fast()} always takes the slow path.
   */
  static final class FakeVma extends PinTrackingPolicy {
    /** A fake vm_area_struct: what a pin costs in memory (the kernel's is ~200 bytes). */
    static final int FAKE_VMA_BYTES = 200;

    private final Map<Long, int[]> fakeMappings = new HashMap<>();
    private long allocations;

    FakeVma(Memmap memmap) {
      super(memmap);
    }

    @Override
    public String name() {
      return "fake_vma";
    }

    @Override
    public boolean fastPathAvailable() {
      return false;
    }

    @Override
    synchronized boolean dmaPinned(long pfn) {
      return fakeMappings.containsKey(memmap.compoundHead(pfn));
    }

    @Override
    public synchronized long overheadBytes() {
      long n = 0;
      for (int[] c : fakeMappings.values()) {
        n += c[0];
      }
      return n * FAKE_VMA_BYTES;
    }

    /** Fake VMAs allocated so far: one per pinned page per call. */
    public synchronized long allocations() {
      return allocations;
    }

    @Override
    synchronized boolean grab(long head, int refs, boolean speculative) {
      if (speculative || !memmap.refTryAdd(head, refs)) {
        return false;
      }
      memmap.mapcountAdd(head, refs); // the fake mapping
      fakeMappings.computeIfAbsent(head, k -> new int[1])[0] += refs;
      allocations += refs;
      return true;
    }

    @Override
    synchronized int release(long head, int refs) {
      int[] c = fakeMappings.get(head);
      if (c == null || c[0] < refs) {
        return -1;
      }
      c[0] -= refs;
      if (c[0] == 0) {
        fakeMappings.remove(head);
      }
      memmap.mapcountAdd(head, -refs);
      return refs;
    }
  }
}
