package dev.refkern.mm.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.PolicyStats;
import org.apiguardian.api.API;

/**
 * A chosen {@code module_param()} policy at run time: every policy base class implements it, so any
 * policy reports its counters the same way.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface Policy {
  /** This policy's {@link PolicySpec}. */
  default PolicySpec spec() {
    PolicySpec s = getClass().getAnnotation(PolicySpec.class);
    if (s == null) {
      throw new dev.refkern.mm.KernelException(
          dev.refkern.mm.Errno.EINVAL, getClass().getName() + " carries no @PolicySpec");
    }
    return s;
  }

  /** The name it is chosen by. */
  default String name() {
    return spec().name();
  }

  /** Its counters now. */
  PolicyStats stats();
}
