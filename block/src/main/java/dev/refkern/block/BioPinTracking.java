package dev.refkern.block;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.vm.Gup;
import java.util.concurrent.atomic.LongAdder;

/**
 * How a bio remembers that its pages were pinned, so that completion unpins exactly those ({@code
 * block.bio_pin_tracking=}): the designs of seed 000 (2019).
 *
 * <ul>
 *   <li>{@code bio_flag}: mainline's {@code BIO_PAGE_PINNED}, one flag per bio. A bio cannot mix
 *       pinned pages with pages it merely references, so mixing costs a split.
 *   <li>{@code bvec_pfn_flag}: {@code bio_vec} holds a pfn with a per-vector pinned flag.
 *   <li>{@code page_ptr_bit}: the flag lives in the low bit of each vector's page pointer; every
 *       use of the pointer must mask it off.
 *   <li>{@code bias_all}: every page of every bio holds a pin-style reference, so completion is
 *       uniform, at the price of pinning pages on paths that never pinned (writeback), which then
 *       look DMA-pinned while under I/O (withdrawn in the thread).
 * </ul>
 */
public abstract sealed class BioPinTracking
    permits BioPinTracking.BioFlag, BioPinTracking.PerVectorFlag, BioPinTracking.BiasAll {
  /** The {@code block.bio_pin_tracking=} names, mainline's first. */
  public static final java.util.List<String> NAMES =
      java.util.List.of("bio_flag", "bvec_pfn_flag", "page_ptr_bit", "bias_all");

  final Gup gup;
  final LongAdder splits = new LongAdder();
  final LongAdder maskOps = new LongAdder();
  final LongAdder extraPins = new LongAdder();

  BioPinTracking(Gup gup) {
    this.gup = gup;
  }

  /** Chooses the design named {@code name}; {@code -EINVAL} for an unknown one. */
  public static BioPinTracking of(String name, Gup gup) {
    return switch (name) {
      case "bio_flag" -> new BioFlag(gup);
      case "bvec_pfn_flag" -> new BvecPfnFlag(gup);
      case "page_ptr_bit" -> new PagePtrBit(gup);
      case "bias_all" -> new BiasAll(gup);
      default ->
          throw new KernelException(
              Errno.EINVAL, "block.bio_pin_tracking=" + name + ": choose one of " + NAMES);
    };
  }

  public abstract String name();

  /** Bios that had to be split because one bio could not hold pinned and referenced pages. */
  public long splits() {
    return splits.sum();
  }

  /** Pointer-masking operations paid ({@code page_ptr_bit}). */
  public long maskOps() {
    return maskOps.sum();
  }

  /** Pins taken on pages that were only referenced ({@code bias_all}). */
  public long extraPins() {
    return extraPins.sum();
  }

  /**
   * {@code bio_add_page()} for a page the caller pinned ({@code pinned}) or holds an ordinary
   * reference on. Returns false if this bio cannot take it (the caller starts a new bio).
   */
  public abstract boolean addPage(Bio bio, long pfn, int offset, int len, boolean pinned);

  /**
   * {@code bio_release_pages()}: drops every page's pin or reference, whichever the bio recorded.
   */
  public abstract void releasePages(Bio bio);

  /** Mainline: {@code BIO_PAGE_PINNED} on the bio. */
  static final class BioFlag extends BioPinTracking {
    BioFlag(Gup gup) {
      super(gup);
    }

    @Override
    public String name() {
      return "bio_flag";
    }

    @Override
    public boolean addPage(Bio bio, long pfn, int offset, int len, boolean pinned) {
      if (bio.vecCount() > 0 && bio.flagged(Bio.BIO_PAGE_PINNED) != pinned) {
        splits.increment();
        return false; // one flag cannot describe both kinds
      }
      if (pinned) {
        bio.setFlag(Bio.BIO_PAGE_PINNED);
      }
      bio.addPage(pfn, offset, len);
      return true;
    }

    @Override
    public void releasePages(Bio bio) {
      boolean pinned = bio.flagged(Bio.BIO_PAGE_PINNED);
      for (int i = 0; i < bio.vecCount(); i++) {
        if (pinned) {
          gup.unpinUserPage(bio.vecPfn(i));
        } else {
          gup.putPage(bio.vecPfn(i));
        }
      }
    }
  }

  /** Seed 000: a pinned flag per vector, wherever the design keeps it. */
  abstract static sealed class PerVectorFlag extends BioPinTracking
      permits BvecPfnFlag, PagePtrBit {
    PerVectorFlag(Gup gup) {
      super(gup);
    }

    /** Whether each use of a vector's page must first mask the flag off the pointer. */
    abstract boolean flagInPointer();

    @Override
    public boolean addPage(Bio bio, long pfn, int offset, int len, boolean pinned) {
      if (pinned) {
        bio.markVec(bio.vecCount());
      }
      bio.addPage(pfn, offset, len);
      return true;
    }

    @Override
    public void releasePages(Bio bio) {
      for (int i = 0; i < bio.vecCount(); i++) {
        if (flagInPointer()) {
          maskOps.increment(); // bv_page & ~1 before the page can be used
        }
        long pfn = bio.vecPfn(i);
        if (bio.vecMarked(i)) {
          gup.unpinUserPage(pfn);
        } else {
          gup.putPage(pfn);
        }
      }
    }
  }

  /** Seed 000: the flag kept with the pfn in {@code bv_pfn}. */
  static final class BvecPfnFlag extends PerVectorFlag {
    BvecPfnFlag(Gup gup) {
      super(gup);
    }

    @Override
    public String name() {
      return "bvec_pfn_flag";
    }

    @Override
    boolean flagInPointer() {
      return false;
    }
  }

  /** Seed 000: the flag in the low bit of the page pointer; each use masks it off. */
  static final class PagePtrBit extends PerVectorFlag {
    PagePtrBit(Gup gup) {
      super(gup);
    }

    @Override
    public String name() {
      return "page_ptr_bit";
    }

    @Override
    boolean flagInPointer() {
      return true;
    }
  }

  /** Seed 000, withdrawn: every bio page holds a pin-style reference. */
  static final class BiasAll extends BioPinTracking {
    BiasAll(Gup gup) {
      super(gup);
    }

    @Override
    public String name() {
      return "bias_all";
    }

    @Override
    public boolean addPage(Bio bio, long pfn, int offset, int len, boolean pinned) {
      if (!pinned) {
        // a path that never pinned must pin now; its reference becomes a pin
        gup.pinReferencedPage(pfn);
        extraPins.increment();
      }
      bio.setFlag(Bio.BIO_PAGE_PINNED);
      bio.addPage(pfn, offset, len);
      return true;
    }

    @Override
    public void releasePages(Bio bio) {
      for (int i = 0; i < bio.vecCount(); i++) {
        gup.unpinUserPage(bio.vecPfn(i));
      }
    }
  }
}
