package dev.refkern.mm.spi;

import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.PolicyStats;

/**
 * A chosen {@code module_param()} policy at run time: every policy base class implements it, so any
 * policy reports its counters the same way.
 */
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
