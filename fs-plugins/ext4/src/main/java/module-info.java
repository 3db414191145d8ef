/** refkern ext4: an ext4-like filesystem of block groups on a block device, over buffer heads. */
module dev.refkern.fs.ext4 {
  requires transitive dev.refkern.fs;
  requires static transitive org.apiguardian.api;

  exports dev.refkern.fs.ext4;

  provides dev.refkern.fs.spi.FileSystemType with
      dev.refkern.fs.ext4.Ext4;
}
