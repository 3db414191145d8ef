package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/** The lab's comparisons, by name, in the order the report shows them. */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Comparisons {
  private Comparisons() {}

  /** Every comparison. */
  public static List<Comparison> all() {
    List<Comparison> out = new ArrayList<>();
    // each comparison adds itself here, in report order
    out.add(new WritebackComparison());
    out.add(new TruncateComparison());
    out.add(new LongtermComparison());
    out.add(new DeviceFileComparison());
    return List.copyOf(out);
  }

  /** Their names. */
  public static List<String> names() {
    return all().stream().map(Comparison::name).toList();
  }

  /**
   * The comparison called {@code name}.
   *
   * @throws KernelException EINVAL naming the known comparisons
   */
  public static Comparison byName(String name) {
    for (Comparison c : all()) {
      if (c.name().equals(name)) {
        return c;
      }
    }
    throw new KernelException(
        Errno.EINVAL, "unknown comparison '" + name + "'; known: " + String.join(", ", names()));
  }
}
