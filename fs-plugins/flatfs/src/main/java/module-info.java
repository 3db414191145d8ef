/** refkern flatfs: a flat filesystem of contiguous files on a block device, over iomap. */
module dev.refkern.fs.flat {
  requires transitive dev.refkern.fs;
  requires static transitive org.apiguardian.api;

  exports dev.refkern.fs.flat;

  provides dev.refkern.fs.spi.FileSystemType with
      dev.refkern.fs.flat.FlatFs;
}
