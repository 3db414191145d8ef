/** refkern mm-core: the memmap, physical memory, and (later) virtual memory, GUP and reclaim. */
module dev.refkern.mm {
  requires transitive dev.refkern.notifier;
  requires com.google.common;
  requires dagger;
  requires jakarta.inject;
  requires static java.compiler;
  requires chronicle.map;
  requires chronicle.bytes;
  requires chronicle.core;
  requires jdk.unsupported; // Chronicle needs it resolved; refkern itself uses no Unsafe
  requires jdk.jfr;

  exports dev.refkern.mm;
  exports dev.refkern.mm.spi;
  exports dev.refkern.mm.sched;
  exports dev.refkern.mm.vm;
}
