package dev.refkern.hmm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * {@code struct hmm_dmirror_cmd} and the ioctl numbers and {@code HMM_DMIRROR_PROT_*} values of
 * {@code lib/test_hmm_uapi.h}: one command to a {@link Dmirror}. {@code ptr} is the user buffer the
 * driver copies to or from, here a Java array of {@code npages} pages (one byte per page for {@link
 * #SNAPSHOT}).
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class HmmDmirrorCmd {
  /** {@code HMM_DMIRROR_READ}: the device reads {@code npages} at {@code addr} into ptr. */
  public static final int READ = 0x00;

  /** {@code HMM_DMIRROR_WRITE}: the device writes ptr to {@code npages} at {@code addr}. */
  public static final int WRITE = 0x01;

  /** {@code HMM_DMIRROR_MIGRATE_TO_DEV}. */
  public static final int MIGRATE_TO_DEV = 0x02;

  /** {@code HMM_DMIRROR_MIGRATE_TO_SYS}. */
  public static final int MIGRATE_TO_SYS = 0x03;

  /** {@code HMM_DMIRROR_SNAPSHOT}: one {@code HMM_DMIRROR_PROT_*} byte per page into ptr. */
  public static final int SNAPSHOT = 0x04;

  /** {@code HMM_DMIRROR_EXCLUSIVE}: {@code make_device_exclusive()} each page. */
  public static final int EXCLUSIVE = 0x05;

  /** {@code HMM_DMIRROR_CHECK_EXCLUSIVE}: {@code EPERM} if the device still holds one. */
  public static final int CHECK_EXCLUSIVE = 0x06;

  /** {@code HMM_DMIRROR_RELEASE}: remove the device memory, evicting every page home. */
  public static final int RELEASE = 0x07;

  /** {@code HMM_DMIRROR_FLAGS}: set the mirror's flags to {@code npages}. */
  public static final int FLAGS = 0x08;

  /** {@code HMM_DMIRROR_FLAG_FAIL_ALLOC}: the next device page allocation of a migration fails. */
  public static final long FLAG_FAIL_ALLOC = 1L;

  /** {@code HMM_DMIRROR_PROT_ERROR}. */
  public static final int PROT_ERROR = 0xFF;

  public static final int PROT_NONE = 0x00;
  public static final int PROT_READ = 0x01;
  public static final int PROT_WRITE = 0x02;
  public static final int PROT_PMD = 0x04;
  public static final int PROT_PUD = 0x08;
  public static final int PROT_ZERO = 0x10;
  public static final int PROT_DEV_PRIVATE_LOCAL = 0x20;
  public static final int PROT_DEV_PRIVATE_REMOTE = 0x30;
  public static final int PROT_DEV_COHERENT_LOCAL = 0x40;
  public static final int PROT_DEV_COHERENT_REMOTE = 0x50;

  /** Page-aligned user address. */
  public long addr;

  /** The user buffer: {@code npages * 4096} bytes (READ, WRITE, MIGRATE) or npages (SNAPSHOT). */
  public byte[] ptr;

  /** Pages. */
  public long npages;

  /** Out: pages the command handled. */
  public long cpages;

  /** Out: how many times the device faulted ({@code hmm_range_fault} rounds). */
  public long faults;

  public HmmDmirrorCmd() {}

  public HmmDmirrorCmd(long addr, byte[] ptr, long npages) {
    this.addr = addr;
    this.ptr = ptr;
    this.npages = npages;
  }
}
