package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.spi.PolicyProvider;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The policies of {@code mm/gup.c}: the {@code gup.pin_tracking=} and {@code gup.longterm_file=}
 * designs.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class GupPolicies implements PolicyProvider {
  /** Created by {@link java.util.ServiceLoader}. */
  public GupPolicies() {}

  @Override
  public List<Class<?>> policies() {
    return List.of(
        BiasPinTracking.class,
        PageFlagPinTracking.class,
        LruIsolatePinTracking.class,
        FakeVmaPinTracking.class,
        RefuseLongtermFilePins.class,
        AllowLongtermFilePins.class);
  }
}
