package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.spi.PolicyProvider;
import java.util.List;
import org.apiguardian.api.API;

/** The policies of the block layer: the {@code block.bio_pin_tracking=} designs. */
@API(status = EXPERIMENTAL, since = "0.1.0")
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
