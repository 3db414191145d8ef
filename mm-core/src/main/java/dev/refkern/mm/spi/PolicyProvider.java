package dev.refkern.mm.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.List;
import org.apiguardian.api.API;

/**
 * A layer's policy classes (the kernel's {@code module_param()} choices), found by {@link
 * dev.refkern.mm.PolicyRegistry} with {@link java.util.ServiceLoader}: a module or a user's jar
 * {@code provides} one in its {@code module-info} to add policies. Each class carries a {@link
 * dev.refkern.mm.PolicySpec} and a public constructor taking its parameter's context object.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface PolicyProvider {
  /** The policy classes this layer provides. */
  List<Class<?>> policies();
}
