/** refkern mm-core: the memmap, physical memory, and (later) virtual memory, GUP and reclaim. */
module dev.refkern.mm {
  requires transitive dev.refkern.notifier;
  requires static transitive org.apiguardian.api; // @API stability marks, as in notifier
  // Dagger is for the composition root only (MmModule): a library user needs it neither to
  // compile nor to run; its annotations are simply absent at run time then.
  requires static dagger;
  requires static jakarta.inject;
  requires static java.compiler;
  requires chronicle.map;
  requires chronicle.bytes;
  // Chronicle's jars are automatic modules, which cannot say that they need SLF4J: requiring it
  // here resolves it on the module path, and with it (through its 'uses') the binding.
  requires org.slf4j;
  requires jdk.unsupported; // Chronicle needs it resolved; refkern itself uses no Unsafe
  requires jdk.jfr;

  exports dev.refkern.mm;
  exports dev.refkern.mm.spi;
  exports dev.refkern.mm.sched;
  exports dev.refkern.mm.vm;

  uses dev.refkern.mm.spi.PolicyProvider;

  provides dev.refkern.mm.spi.PolicyProvider with
      dev.refkern.mm.vm.GupPolicies,
      dev.refkern.mm.vm.PageCachePolicies;
}
