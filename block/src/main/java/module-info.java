/** refkern block: bios, block devices, direct I/O, integrity and power cuts ({@code block/}). */
module dev.refkern.block {
  requires transitive dev.refkern.mm;
  requires static transitive org.apiguardian.api; // @API stability marks, as in notifier
  // Dagger only for the composition root (BlockModule); Kernel.boot needs none of it
  requires static dagger;
  requires static jakarta.inject;
  requires static java.compiler; // @Generated on Dagger's factories
  requires jdk.jfr;

  exports dev.refkern.block;

  provides dev.refkern.mm.spi.PolicyProvider with
      dev.refkern.block.BlockPolicies;
}
