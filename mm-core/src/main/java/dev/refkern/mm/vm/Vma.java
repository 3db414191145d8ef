package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.AddressSpace;
import org.apiguardian.api.API;

/**
 * A virtual memory area ({@code struct vm_area_struct}): {@code [start, end)} of one address space
 * with its flags and, for a file mapping, the file's {@code address_space} and page offset. Fields
 * change only under the mm's {@code mmap_lock} held for writing.
 */
@API(status = STABLE, since = "0.1.0")
public final class Vma {
  final MmStruct mm;
  volatile long start;
  volatile long end;
  volatile long flags;
  final AddressSpace file;
  volatile long pgoff;
  volatile AnonVma anonVma;

  Vma(MmStruct mm, long start, long end, long flags, AddressSpace file, long pgoff) {
    this.mm = mm;
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.file = file;
    this.pgoff = pgoff;
  }

  public MmStruct mm() {
    return mm;
  }

  public long start() {
    return start;
  }

  public long end() {
    return end;
  }

  public long flags() {
    return flags;
  }

  /**
   * The mapped file's {@code address_space}; null for anonymous memory ({@code
   * vma_is_anonymous()}).
   */
  public AddressSpace file() {
    return file;
  }

  /** {@code vm_pgoff}: the file page (or anon index) mapped at {@code start}. */
  public long pgoff() {
    return pgoff;
  }

  public boolean isAnonymous() {
    return file == null;
  }

  /** {@code linear_page_index()}. */
  public long linearPageIndex(long addr) {
    return pgoff + ((addr - start) >>> PAGE_SHIFT);
  }

  /** {@code vma_address()}: where page {@code index} would be mapped, or -1 outside the VMA. */
  long addressOf(long index) {
    long addr = start + ((index - pgoff) << PAGE_SHIFT);
    return addr >= start && addr < end ? addr : -1;
  }

  @Override
  public String toString() {
    return String.format(
        "%012x-%012x flags %x%s", start, end, flags, file == null ? "" : " file " + file.id());
  }
}
