package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.spi.Policy;
import dev.refkern.mm.vm.Gup;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import org.apiguardian.api.API;

/**
 * How a bio remembers that its pages were pinned, so that completion ({@code bio_release_pages()})
 * unpins exactly those: the designs of seed 000 (2019), chosen with {@code block.bio_pin_tracking=}
 * through {@link dev.refkern.mm.PolicyRegistry}.
 *
 * <p>A design is one class carrying {@link dev.refkern.mm.PolicySpec} with {@code param =
 * "block.bio_pin_tracking"} and a public constructor taking the {@link Gup} it pins and unpins
 * through; {@link BioFlagPinTracking} is the template.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class BioPinTracking implements Policy {
  /** The kernel parameter choosing the design. */
  public static final String PARAM = "block.bio_pin_tracking";

  /** Where pins and references are dropped. */
  protected final Gup gup;

  /** Bios split because one bio could not hold pinned and referenced pages. */
  protected final LongAdder splits = new LongAdder();

  /** Pointer-masking operations paid. */
  protected final LongAdder maskOps = new LongAdder();

  /** Pins taken on pages that were only referenced. */
  protected final LongAdder extraPins = new LongAdder();

  /** Binds the design to a booted kernel's GUP. */
  protected BioPinTracking(Gup gup) {
    this.gup = gup;
  }

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

  /** {@code splits}, {@code mask_ops} and {@code extra_pins}, the same for every design. */
  @Override
  public PolicyStats stats() {
    Map<String, Long> c = new LinkedHashMap<>();
    c.put("splits", splits());
    c.put("mask_ops", maskOps());
    c.put("extra_pins", extraPins());
    return new PolicyStats(PARAM, name(), c);
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
}
