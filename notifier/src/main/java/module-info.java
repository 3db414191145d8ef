/**
 * The mmu notifier layer, {@code mm/mmu_notifier.c}: how secondary MMUs (devices, hypervisors)
 * learn that the CPU page tables of an address space are about to change.
 *
 * <p>It knows an address space only as an opaque owner object, so the layers above can depend on it
 * without it depending on them.
 */
module dev.refkern.notifier {
  requires com.google.common;
  // @API stability marks: needed to compile against the API, not to run it (as in JUnit 5)
  requires static transitive org.apiguardian.api;
  requires jdk.jfr;

  exports dev.refkern.notifier;
  exports dev.refkern.notifier.spi;
}
