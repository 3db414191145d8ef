/** refkern examples: the composition root, the {@code refkern} command line and example apps. */
module dev.refkern.examples {
  requires dev.refkern.mm;
  requires dev.refkern.block;
  requires dev.refkern.fs;
  requires dev.refkern.fs.flat;
  requires dev.refkern.fs.ext4;
  requires dev.refkern.fs.xfs;
  requires dev.refkern.hmm;
  requires dagger;
  requires jakarta.inject;
  requires static java.compiler;
  requires info.picocli;
  requires jdk.jfr; // tests read JFR recordings of the commands
  requires jmh.core;
  requires me.tongfei.progressbar;
  requires HdrHistogram;
  requires org.knowm.xchart;
  requires java.desktop;

  opens dev.refkern.examples.cli to
      info.picocli;

  exports dev.refkern.examples;
  exports dev.refkern.examples.bench;
  exports dev.refkern.examples.fs;
  exports dev.refkern.examples.lab;
  exports dev.refkern.examples.report;
  exports dev.refkern.examples.bench.jmh_generated;
}
