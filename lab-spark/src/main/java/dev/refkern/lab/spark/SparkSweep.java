package dev.refkern.lab.spark;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.apiguardian.api.API;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction2;
import scala.runtime.BoxedUnit;

/**
 * {@code refkern sweep}: every cell (seed × policy × filesystem) of the named comparisons as an
 * Apache Spark task, each finished row stored under {@code OUT/cells/} as it arrives, then {@code
 * rows.csv}, {@code rows.parquet} and the report rebuilt from all stored cells. A rerun with the
 * same output directory runs only the cells that have no row yet.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class SparkSweep {
  private static final Pattern MASTER =
      Pattern.compile("local(\\[(\\*|[1-9][0-9]*)(,[0-9]+)?])?|spark://[^\\s/]+|k8s://\\S+");

  /** Above this many cells a task runs several, so the scheduler is not swamped. */
  private static final int MAX_PARTITIONS = 20_000;

  /** Set by the Ctrl-C/SIGTERM hook: the JVM is exiting, so nobody may call System.exit. */
  private static volatile boolean exiting;

  private final ComparisonSource source;
  private final SweepReport report;

  /**
   * A sweep over {@code source}'s comparisons, rendering with {@code report}.
   *
   * @param source the comparisons, on the driver and every executor
   * @param report the HTML report renderer
   */
  public SparkSweep(ComparisonSource source, SweepReport report) {
    this.source = source;
    this.report = report;
  }

  /**
   * How a sweep runs.
   *
   * @param master the Spark master URL, or null for {@code local[executors]} ({@code local[*]})
   * @param executors task slots for the embedded master, or cores at most on a cluster; 0 for all
   * @param out the output directory
   * @param conf more Spark settings ({@code --conf k=v}), applied last
   * @param jars more jars to ship to a cluster's executors
   * @param limit run at most this many of the pending cells now (the rest on a later run); -1 for
   *     all
   * @param progress whether to draw a progress bar
   * @param command the command line that reproduces the sweep, for the report
   */
  public record Settings(
      String master,
      int executors,
      Path out,
      Map<String, String> conf,
      List<Path> jars,
      int limit,
      boolean progress,
      String command) {}

  /**
   * What a sweep did.
   *
   * @param cells the cells it covers
   * @param resumed cells that already had a row
   * @param ran cells run now
   * @param rows every stored row (all cells under the output directory), in key order
   * @param jobNanos wall-clock time of the Spark job
   * @param seedsPerMinute seeds finished per minute of the job (cells run / cells per seed)
   * @param report the report file, or null
   */
  public record Result(
      int cells,
      int resumed,
      int ran,
      List<LabRow> rows,
      long jobNanos,
      double seedsPerMinute,
      Path report) {}

  /**
   * The cells of {@code comparisons} on {@code filesystems} for every seed, seed-major.
   *
   * @throws KernelException EINVAL for an unknown comparison or filesystem
   */
  public List<LabCell> cells(List<String> comparisons, List<String> filesystems, SeedRange seeds) {
    List<Comparison> chosen = new ArrayList<>();
    Set<String> knownFs = new LinkedHashSet<>();
    List<String> names = source.all().stream().map(Comparison::name).toList();
    for (String name : comparisons.isEmpty() ? names : comparisons) {
      Comparison c =
          source.all().stream()
              .filter(x -> x.name().equals(name))
              .findFirst()
              .orElseThrow(
                  () ->
                      new KernelException(
                          Errno.EINVAL,
                          "unknown comparison '"
                              + name
                              + "'; known: "
                              + (names.isEmpty()
                                  ? "(none in this build)"
                                  : String.join(", ", names))));
      chosen.add(c);
      knownFs.addAll(c.filesystems());
    }
    if (chosen.isEmpty()) {
      throw new KernelException(Errno.EINVAL, "no comparison to sweep in this build");
    }
    for (String fs : filesystems) {
      if (!knownFs.contains(fs)) {
        throw new KernelException(
            Errno.EINVAL,
            "unknown filesystem '"
                + fs
                + "'; the comparisons run on: "
                + String.join(", ", knownFs));
      }
    }
    List<LabCell> out = new ArrayList<>();
    for (long s = seeds.first(); s <= seeds.last(); s++) {
      for (Comparison c : chosen) {
        for (LabCell cell : c.cells(s)) {
          if (filesystems.isEmpty() || filesystems.contains(cell.fs())) {
            out.add(cell);
          }
        }
      }
    }
    return out;
  }

  /**
   * Checks a master URL before Spark starts.
   *
   * @throws KernelException EINVAL for anything but local, local[N], local[*], spark://host:port or
   *     k8s://...
   */
  public static void checkMaster(String master) {
    if (master == null) {
      return;
    }
    if (!MASTER.matcher(master).matches()) {
      throw new KernelException(
          Errno.EINVAL,
          "bad master '"
              + master
              + "'; use local[N], local[*], spark://host:port or k8s://https://host:port");
    }
    if (master.startsWith("k8s://")
        && !onClassPath("org.apache.spark.scheduler.cluster.k8s.KubernetesClusterManager")) {
      throw new KernelException(
          Errno.EINVAL,
          "k8s:// needs spark-kubernetes_2.13 in lab-spark/target/lib (not bundled: it is large)");
    }
  }

  /**
   * Checks that this JVM can run Spark 4.0.
   *
   * @throws KernelException EOPNOTSUPP on Java 24 and later, where the Hadoop client inside Spark
   *     4.0 fails ({@code Subject.getSubject} is gone with the security manager)
   */
  public static void checkJava() {
    int feature = Runtime.version().feature();
    if (feature >= 24) {
      throw new KernelException(
          Errno.EOPNOTSUPP,
          "Spark 4.0 runs on Java 17 to 23, not "
              + feature
              + " (its Hadoop client calls Subject.getSubject); run the sweep with JDK 17 or 21");
    }
  }

  /** Runs the sweep's pending cells on Spark, then rebuilds the tables and the report. */
  public Result run(List<LabCell> cells, Settings s) {
    checkMaster(s.master());
    checkJava();
    CellStore store = new CellStore(s.out());
    List<LabCell> pending = new ArrayList<>();
    for (LabCell c : cells) {
      if (!store.done(c)) {
        pending.add(c);
      }
    }
    int resumed = cells.size() - pending.size();
    if (s.limit() >= 0 && pending.size() > s.limit()) {
      pending = pending.subList(0, s.limit());
    }
    try {
      Files.createDirectories(store.dir());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + store.dir(), e);
    }
    AtomicLong ran = new AtomicLong();
    long jobNanos = 0;
    if (!pending.isEmpty()) {
      long t0 = System.nanoTime();
      runOnSpark(pending, s, store, ran);
      jobNanos = System.nanoTime() - t0;
    }
    List<LabRow> rows = store.all();
    SweepOutputs.writeCsv(s.out(), rows);
    SweepOutputs.writeParquet(s.out(), rows);
    List<String> swept = cells.stream().map(LabCell::comparison).distinct().toList();
    List<Comparison> comparisons =
        source.all().stream().filter(c -> swept.contains(c.name())).toList();
    Path html = report.write(s.out(), comparisons, rows, s.command());
    long seeds = cells.stream().map(LabCell::seed).distinct().count();
    double cellsPerSeed = seeds == 0 ? 1 : (double) cells.size() / seeds;
    double perMinute = jobNanos == 0 ? 0 : ran.get() / cellsPerSeed / (jobNanos / 60e9);
    return new Result(cells.size(), resumed, (int) ran.get(), rows, jobNanos, perMinute, html);
  }

  private void runOnSpark(List<LabCell> pending, Settings s, CellStore store, AtomicLong ran) {
    SparkConf conf = conf(s);
    SparkSession spark = SparkSession.builder().config(conf).getOrCreate();
    AtomicBoolean interrupted = new AtomicBoolean();
    Thread main = Thread.currentThread();
    Thread hook =
        new Thread(
            () -> {
              // Ctrl-C: cancel the tasks, let the driver finish storing what arrived, then exit
              interrupted.set(true);
              exiting = true;
              spark.sparkContext().cancelAllJobs();
              try {
                main.join(30_000);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "refkern-sweep-interrupt");
    Runtime.getRuntime().addShutdownHook(hook);
    try (ConsoleProgress bar = ConsoleProgress.open(s.progress(), "sweep", pending.size())) {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      List<String> encoded = pending.stream().map(RowCodec::encodeCell).toList();
      int slices = Math.min(encoded.size(), MAX_PARTITIONS);
      JavaRDD<String> rdd = jsc.parallelize(encoded, slices);
      SparkContext sc = spark.sparkContext();
      AbstractFunction2<Object, String[], BoxedUnit> onResult = new StoreResult(store, ran, bar);
      sc.runJob(rdd.rdd(), new CellTask(source), onResult, ClassTag$.MODULE$.apply(String[].class));
    } catch (Exception e) {
      // SparkException is checked in Java's terms but thrown undeclared by Scala
      if (interrupted.get()) {
        throw new KernelException(
            Errno.EINTR,
            "sweep interrupted after "
                + ran.get()
                + " of "
                + pending.size()
                + " cells; rerun the same command to resume");
      }
      throw failure(e);
    } finally {
      if (!interrupted.get()) {
        try {
          Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
          // already shutting down
        }
        spark.stop();
      }
    }
  }

  /** The driver's side of a finished task: store its rows (runs on Spark's scheduler thread). */
  private static final class StoreResult extends AbstractFunction2<Object, String[], BoxedUnit>
      implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final transient CellStore store;
    private final transient AtomicLong ran;
    private final transient ConsoleProgress bar;

    StoreResult(CellStore store, AtomicLong ran, ConsoleProgress bar) {
      this.store = store;
      this.ran = ran;
      this.bar = bar;
    }

    @Override
    public BoxedUnit apply(Object partition, String[] rows) {
      for (String r : rows) {
        store.put(RowCodec.decode(r));
      }
      ran.addAndGet(rows.length);
      bar.stepBy(rows.length);
      return BoxedUnit.UNIT;
    }
  }

  private static final Pattern CELL_FAILED =
      Pattern.compile(Pattern.quote(CellTask.FAILED) + "(\\S+) failed: ([^\\n]*)");

  /** A failed job as one line: the cell and its error, not Spark's stack. */
  private static KernelException failure(Exception e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = String.valueOf(t.getMessage());
      Matcher x = CELL_FAILED.matcher(m);
      if (x.find()) {
        return new KernelException(
            Errno.EIO,
            "cell " + x.group(1) + " failed: " + x.group(2) + " (finished cells are kept)");
      }
    }
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return new KernelException(
        Errno.EIO, "spark: " + (nl < 0 ? m : m.substring(0, nl)) + " (finished cells are kept)");
  }

  /** Whether a signal is shutting the JVM down (System.exit would then block for ever). */
  static boolean exiting() {
    return exiting;
  }

  SparkConf conf(Settings s) {
    String master = s.master() != null ? s.master() : local(s.executors());
    SparkConf conf =
        new SparkConf()
            .setMaster(master)
            .setAppName("refkern sweep")
            .set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false")
            .set("spark.sql.shuffle.partitions", "4");
    if (master.startsWith("local") || loopback(master)) {
      conf.set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1");
    }
    if (!master.startsWith("local")) {
      // executors are other JVMs, maybe other machines: ship refkern and its JVM flags
      List<String> jars = new ArrayList<>();
      shippedJars().forEach(p -> jars.add(p.toUri().toString()));
      s.jars().forEach(p -> jars.add(p.toAbsolutePath().toUri().toString()));
      String flags = jvmArgs();
      conf.set("spark.jars", String.join(",", jars))
          .set("spark.executor.extraJavaOptions", flags)
          .set("spark.driver.extraJavaOptions", flags);
      if (s.executors() > 0) {
        conf.set("spark.cores.max", Integer.toString(s.executors()));
      }
    }
    s.conf().forEach(conf::set);
    return conf;
  }

  private static String local(int executors) {
    return executors > 0 ? "local[" + executors + "]" : "local[*]";
  }

  private static boolean loopback(String master) {
    return master.startsWith("spark://127.") || master.startsWith("spark://localhost");
  }

  /** The JVM flags every executor needs: Spark's for Java 17+, and Chronicle's. */
  static String jvmArgs() {
    try (InputStream in = SparkSweep.class.getResourceAsStream("jvm.args")) {
      if (in == null) {
        throw new KernelException(Errno.ENOENT, "jvm.args missing from the lab-spark jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** refkern's jars for executors: this module's jar and its {@code lib/} beside it. */
  static List<Path> shippedJars() {
    Path self;
    try {
      self = Path.of(SparkSweep.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    if (!Files.isRegularFile(self)) {
      throw new KernelException(
          Errno.ENOENT,
          "a cluster needs the packaged lab-spark jar and its lib/ (mvn package), not " + self);
    }
    List<Path> out = new ArrayList<>();
    out.add(self);
    Path lib = self.getParent().resolve("lib");
    try (Stream<Path> s = Files.list(lib)) {
      s.filter(p -> p.toString().endsWith(".jar")).sorted().forEach(out::add);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + lib, e);
    }
    return out;
  }

  private static boolean onClassPath(String cls) {
    try {
      Class.forName(cls, false, SparkSweep.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  /** {@code k=v} settings as a map, for {@code --conf}. */
  static Map<String, String> parseConf(List<String> kvs) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String kv : kvs) {
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw new KernelException(Errno.EINVAL, "bad --conf '" + kv + "'; use key=value");
      }
      m.put(kv.substring(0, eq), kv.substring(eq + 1));
    }
    return m;
  }
}
