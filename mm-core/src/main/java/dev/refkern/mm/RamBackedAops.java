package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.spi.AddressSpaceOperations;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apiguardian.api.API;

/**
 * The {@code address_space_operations} of a file whose backing store is a map of 4 KiB blocks in
 * the Java heap, a stand-in "disk" ({@code ramfs} with a backing store) until the filesystem
 * plugins exist. Reads after truncation or eviction come back from the store; a block never written
 * reads as zeros (a hole). {@link #failNextRead} and {@link #failNextWrite} inject I/O errors.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class RamBackedAops implements AddressSpaceOperations {
  private static final int PAGE = Page.PAGE_SIZE;

  private final Map<Long, byte[]> disk = new ConcurrentHashMap<>();
  private final AtomicLong reads = new AtomicLong();
  private final AtomicLong writes = new AtomicLong();
  private final AtomicReference<Errno> failRead = new AtomicReference<>();
  private final AtomicReference<Errno> failWrite = new AtomicReference<>();

  @Override
  public int readFolio(AddressSpace mapping, long pfn) {
    Memmap memmap = mapping.physicalMemory().memmap();
    PageMemory ram = mapping.physicalMemory().ram();
    long head = memmap.compoundHead(pfn);
    reads.incrementAndGet();
    Errno fail = failRead.getAndSet(null);
    if (fail != null) {
      mapping.folios().folioUnlock(head); // folio_end_read(folio, false)
      return -fail.number();
    }
    int nr = 1 << memmap.folioOrder(head);
    long index = memmap.index(head);
    for (int i = 0; i < nr; i++) {
      byte[] block = disk.get(index + i);
      if (block == null) {
        ram.zeroPage(head + i);
      } else {
        ram.write(head + i, 0, block, 0, PAGE);
      }
    }
    mapping.folios().folioMarkUptodate(head);
    mapping.folios().folioUnlock(head); // folio_end_read(folio, true)
    return 0;
  }

  @Override
  public int writeFolio(AddressSpace mapping, long pfn) {
    return writeFolioFrom(mapping, pfn, mapping.physicalMemory().memmap().compoundHead(pfn));
  }

  /** Stores the pages of {@code dataPfn} (a bounce copy, or the folio itself) as {@code pfn}'s. */
  @Override
  public int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
    Memmap memmap = mapping.physicalMemory().memmap();
    PageMemory ram = mapping.physicalMemory().ram();
    long head = memmap.compoundHead(pfn);
    writes.incrementAndGet();
    Errno fail = failWrite.getAndSet(null);
    if (fail != null) {
      return -fail.number();
    }
    int nr = 1 << memmap.folioOrder(head);
    long index = memmap.index(head);
    for (int i = 0; i < nr; i++) {
      byte[] block = new byte[PAGE];
      ram.read(dataPfn + i, 0, block, 0, PAGE);
      disk.put(index + i, block);
    }
    return 0;
  }

  /** Number of {@code ->read_folio} calls, failed ones included. */
  public long reads() {
    return reads.get();
  }

  /** Number of folio writes, failed ones included. */
  public long writes() {
    return writes.get();
  }

  /**
   * Makes the next {@code ->read_folio} fail with {@code errno} (leaving the folio not uptodate).
   */
  public void failNextRead(Errno errno) {
    failRead.set(errno);
  }

  /** Makes the next folio write fail with {@code errno}; the block keeps its old contents. */
  public void failNextWrite(Errno errno) {
    failWrite.set(errno);
  }

  /** A copy of the stored block at page {@code index}; zeros for a hole. */
  public byte[] readBlock(long index) {
    byte[] b = disk.get(index);
    return b == null ? new byte[PAGE] : b.clone();
  }

  /** Stores {@code data} (at most 4 KiB, zero-padded) as the block at page {@code index}. */
  public void writeBlock(long index, byte[] data) {
    if (index < 0 || data.length > PAGE) {
      throw new KernelException(Errno.EINVAL, "block " + index + " of " + data.length + " bytes");
    }
    disk.put(index, Arrays.copyOf(data, PAGE));
  }

  /** Whether the store holds a block at page {@code index} (not a hole). */
  public boolean hasBlock(long index) {
    return disk.containsKey(index);
  }

  /** Punches out every block at or after page {@code fromIndex} (the on-disk half of truncate). */
  public void truncateBlocks(long fromIndex) {
    disk.keySet().removeIf(i -> i >= fromIndex);
  }
}
