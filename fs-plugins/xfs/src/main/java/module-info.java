/**
 * refkern xfs: an XFS-like filesystem of allocation groups and extent maps on iomap, with a log.
 */
module dev.refkern.fs.xfs {
  requires transitive dev.refkern.fs;
  requires static transitive org.apiguardian.api;

  exports dev.refkern.fs.xfs;

  provides dev.refkern.fs.spi.FileSystemType with
      dev.refkern.fs.xfs.Xfs;
}
