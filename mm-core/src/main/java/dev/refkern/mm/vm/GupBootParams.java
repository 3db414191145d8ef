package dev.refkern.mm.vm;

import dev.refkern.mm.spi.BootParamSpec;
import java.util.List;
import java.util.Map;

/** The {@code gup.} kernel parameters of {@code mm/gup.c}: {@code gup.pin_tracking=}. */
public final class GupBootParams implements BootParamSpec {
  /** The key choosing the {@link PinTrackingPolicy}. */
  public static final String PIN_TRACKING = "gup.pin_tracking";

  @Override
  public Map<String, List<String>> params() {
    return Map.of(PIN_TRACKING, PinTrackingPolicy.NAMES);
  }
}
