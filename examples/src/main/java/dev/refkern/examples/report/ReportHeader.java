package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.net.InetAddress;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import org.apiguardian.api.API;

/**
 * Where and when the report's numbers were measured.
 *
 * @param machine host, OS, architecture and CPUs
 * @param jdk the Java runtime
 * @param date when the report was made (UTC)
 * @param seeds the seeds measured ({@code 1..3})
 * @param version refkern's version
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record ReportHeader(String machine, String jdk, String date, String seeds, String version) {

  /** This machine and JVM, now. */
  public static ReportHeader here(String seeds, String version) {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      host = "unknown host"; // no resolver: the rest still says what machine it was
    }
    String machine =
        host
            + ", "
            + System.getProperty("os.name")
            + " "
            + System.getProperty("os.version")
            + " "
            + System.getProperty("os.arch")
            + ", "
            + Runtime.getRuntime().availableProcessors()
            + " CPUs, "
            + Runtime.getRuntime().maxMemory() / (1 << 20)
            + " MiB max heap";
    String jdk =
        System.getProperty("java.vm.name")
            + " "
            + System.getProperty("java.runtime.version")
            + " ("
            + System.getProperty("java.vendor")
            + ")";
    String date =
        ZonedDateTime.now(ZoneOffset.UTC)
            .withNano(0)
            .format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
    return new ReportHeader(machine, jdk, date, seeds, version);
  }
}
