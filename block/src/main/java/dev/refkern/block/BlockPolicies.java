package dev.refkern.block;

import dev.refkern.mm.spi.PolicyProvider;
import java.util.List;

/** The policies of the block layer: the {@code block.bio_pin_tracking=} designs. */
public final class BlockPolicies implements PolicyProvider {
  /** Created by {@link java.util.ServiceLoader}. */
  public BlockPolicies() {}

  @Override
  public List<Class<?>> policies() {
    return List.of(
        BioFlagPinTracking.class,
        BvecPfnFlagPinTracking.class,
        PagePtrBitPinTracking.class,
        BiasAllPinTracking.class);
  }
}
