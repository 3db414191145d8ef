/**
 * refkern VFS: superblocks, inodes, the namespace, files and tmpfs ({@code fs/}, {@code
 * mm/shmem.c}).
 */
module dev.refkern.fs {
  requires transitive dev.refkern.mm;
  requires transitive dev.refkern.block;
  requires transitive dev.refkern.notifier;
  requires static transitive org.apiguardian.api; // @API stability marks, as in block

  exports dev.refkern.fs;
  exports dev.refkern.fs.spi;
  exports dev.refkern.fs.iomap;
  exports dev.refkern.fs.buffer;
  exports dev.refkern.fs.crash;

  uses dev.refkern.fs.spi.FileSystemType;
}
