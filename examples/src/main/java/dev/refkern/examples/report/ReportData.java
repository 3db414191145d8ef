package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.examples.lab.PowerCutRow;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * Everything a report shows: the lab's rows (any number of seeds: the report shows mean ± 95% CI),
 * the power-cut matrix, other measured sections, and the commands that reproduce each.
 *
 * @param header machine, JDK, date, seeds, version
 * @param seeds the seed threads the report answers (usually {@link SeedThreads#ALL})
 * @param comparisons the comparisons whose rows these are (usually {@code Comparisons.all()}); one
 *     without rows is listed as not measured
 * @param labRows the lab's rows, any comparison, any number of seeds
 * @param powerCut the power-cut matrix's rows, any number of seeds; empty for none
 * @param extras other measured sections ({@code compare pin-tracking}, bio pin tracking)
 * @param commands the command that reproduces each comparison (by its name) and the power-cut
 *     matrix (key {@value #POWER_CUT})
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record ReportData(
    ReportHeader header,
    List<SeedThread> seeds,
    List<Comparison> comparisons,
    List<LabRow> labRows,
    List<PowerCutRow> powerCut,
    List<ReportSection> extras,
    Map<String, String> commands) {
  /** The key of the power-cut matrix's command in {@link #commands}. */
  public static final String POWER_CUT = "power-cut";

  public ReportData {
    seeds = List.copyOf(seeds);
    comparisons = List.copyOf(comparisons);
    labRows = List.copyOf(labRows);
    powerCut = List.copyOf(powerCut);
    extras = List.copyOf(extras);
    commands = Map.copyOf(commands);
  }

  /** The command reproducing {@code key}'s numbers, or a note that none was given. */
  public String command(String key) {
    return commands.getOrDefault(key, "(no command recorded)");
  }
}
