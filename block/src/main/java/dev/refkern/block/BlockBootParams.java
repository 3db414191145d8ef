package dev.refkern.block;

import dev.refkern.mm.spi.BootParamSpec;
import java.util.List;
import java.util.Map;

/** The {@code block.} kernel parameters: {@code block.bio_pin_tracking=}. */
public final class BlockBootParams implements BootParamSpec {
  /** The key choosing the {@link BioPinTracking} design. */
  public static final String BIO_PIN_TRACKING = "block.bio_pin_tracking";

  @Override
  public Map<String, List<String>> params() {
    return Map.of(BIO_PIN_TRACKING, BioPinTracking.NAMES);
  }
}
