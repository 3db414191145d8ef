package dev.refkern.mm.vm;

import dev.refkern.mm.spi.PolicyProvider;
import java.util.List;

/** The policies of {@code mm/gup.c}: the {@code gup.pin_tracking=} designs. */
public final class GupPolicies implements PolicyProvider {
  /** Created by {@link java.util.ServiceLoader}. */
  public GupPolicies() {}

  @Override
  public List<Class<?>> policies() {
    return List.of(
        BiasPinTracking.class,
        PageFlagPinTracking.class,
        LruIsolatePinTracking.class,
        FakeVmaPinTracking.class);
  }
}
