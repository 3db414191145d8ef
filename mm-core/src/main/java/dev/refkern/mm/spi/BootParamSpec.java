package dev.refkern.mm.spi;

import java.util.List;
import java.util.Map;

/**
 * A layer's dotted kernel command-line parameters, as its {@code module_param()} declarations are
 * in the kernel ({@code gup.pin_tracking=}, {@code block.bio_pin_tracking=}). Each layer provides
 * one through {@code provides} in its {@code module-info}; {@link dev.refkern.mm.BootParams} finds
 * them with {@link java.util.ServiceLoader} and rejects a dotted key none of them declares, or a
 * value a key does not accept, with {@code -EINVAL}, so a typo never silently runs the default.
 */
public interface BootParamSpec {
  /**
   * Each dotted key this layer reads, mapped to the values it accepts (the names of its policies,
   * taken from the policy classes); an empty list accepts any value.
   */
  Map<String, List<String>> params();
}
