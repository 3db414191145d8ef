package dev.refkern.lab.spark;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.Comparisons;
import java.io.Serializable;
import java.util.List;
import org.apiguardian.api.API;

/**
 * Where a sweep finds its comparisons, on the driver and again on every executor (so it is
 * serializable: a task carries it, not the comparison). The default is the lab's registry; tests
 * and users with their own comparisons pass another.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
@FunctionalInterface
public interface ComparisonSource extends Serializable {
  /** The lab's registry, {@link Comparisons}. */
  ComparisonSource REGISTRY = Comparisons::all;

  /** Every comparison this source knows, in report order. */
  List<Comparison> all();
}
