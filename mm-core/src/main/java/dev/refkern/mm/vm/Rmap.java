package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.vm.Pte.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.notifier.MmuNotifierEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.LongSupplier;
import org.apiguardian.api.API;

/**
 * The reverse map ({@code mm/rmap.c}): the anon_vma and file-VMA registries, one {@code
 * rmap_walk()} over them, and what is built on it: {@code folio_mkclean()}, {@code
 * folio_referenced()}, {@code try_to_unmap()} and {@code folio_mapcount()}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Rmap {
  private final MemmapOps memmap;
  private final FolioOps folios;
  private final LongSupplier ids;
  private final Map<Long, AnonVma> anonVmas = new ConcurrentHashMap<>();
  private final Map<Long, List<Vma>> fileVmas = new ConcurrentHashMap<>();

  Rmap(MemmapOps memmap, FolioOps folios, LongSupplier ids) {
    this.memmap = memmap;
    this.folios = folios;
    this.ids = ids;
  }

  // ---------------------------------------------------------------- registries

  /** {@code anon_vma_prepare()}: the VMA's anon_vma, created on first use. */
  AnonVma anonVmaPrepare(Vma vma) {
    if (vma.anonVma == null) {
      AnonVma av = new AnonVma(ids.getAsLong());
      anonVmas.put(av.id, av);
      av.vmas.add(vma);
      vma.anonVma = av;
    }
    return vma.anonVma;
  }

  /** {@code anon_vma_clone()} / {@code vma_interval_tree_insert()}: the VMA becomes walkable. */
  void linkVma(Vma vma) {
    if (vma.anonVma != null && !vma.anonVma.vmas.contains(vma)) {
      vma.anonVma.vmas.add(vma);
    }
    if (vma.file != null) {
      fileVmas.computeIfAbsent(vma.file.id(), k -> new CopyOnWriteArrayList<>()).add(vma);
    }
  }

  /** {@code unlink_anon_vmas()} / {@code unlink_file_vma()}. */
  void unlinkVma(Vma vma) {
    if (vma.anonVma != null) {
      vma.anonVma.vmas.remove(vma);
    }
    if (vma.file != null) {
      List<Vma> l = fileVmas.get(vma.file.id());
      if (l != null) {
        l.remove(vma);
      }
    }
  }

  /** {@code mapping_mapped()}: some VMA, in any address space, maps {@code mapping}. */
  public boolean mappingMapped(AddressSpace mapping) {
    List<Vma> l = fileVmas.get(mapping.id());
    return l != null && !l.isEmpty();
  }

  /**
   * {@code folio_add_new_anon_rmap()}: a new exclusive anon folio at {@code index} of {@code av}.
   */
  void newAnonRmap(long head, AnonVma av, long index) {
    memmap.setFlag(head, PG_ANON);
    memmap.setFlag(head, PG_SWAPBACKED);
    memmap.setFlag(head, PG_ANON_EXCLUSIVE);
    memmap.setFlag(head, PG_UPTODATE);
    memmap.setMapping(head, av.id);
    memmap.setIndex(head, index);
  }

  // ---------------------------------------------------------------- the walk

  /**
   * {@code rmap_walk()}: calls {@code rwc} for every place the folio containing {@code pfn} is
   * mapped, found through its anon_vma or its file's VMAs; a pte is visited if it is present and
   * maps that page (a huge PMD counts for each subpage), or is a device-private or device-exclusive
   * entry naming it, as {@code page_vma_mapped_walk()} matches them.
   */
  public void rmapWalk(long pfn, RmapWalkControl rwc) {
    walk(pfn, -1, rwc);
  }

  /**
   * {@code remove_migration_ptes()}' walk ({@code PVMW_MIGRATION}): visits the migration entries
   * naming {@code src} where the folio containing {@code pfn} (which has src's mapping and index)
   * would be mapped.
   */
  void rmapWalkMigration(long pfn, long src, RmapWalkControl rwc) {
    walk(pfn, src, rwc);
  }

  private void walk(long pfn, long migrationSrc, RmapWalkControl rwc) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    long mapping = memmap.mapping(head);
    if (mapping == 0) {
      return;
    }
    List<Vma> candidates;
    if (memmap.testFlag(head, PG_ANON)) {
      AnonVma av = anonVmas.get(mapping);
      candidates = av == null ? List.of() : av.vmas;
    } else {
      candidates = fileVmas.getOrDefault(mapping, List.of());
    }
    long index = memmap.index(head);
    int nr = 1 << memmap.folioOrder(head);
    for (Vma vma : candidates) {
      if (rwc.invalidVma(vma)) {
        continue;
      }
      for (int i = 0; i < nr; i++) {
        long addr = vma.addressOf(index + i);
        if (addr < 0) {
          continue;
        }
        long pte = vma.mm.pgtable.pte(addr);
        if (migrationSrc >= 0) {
          if (Migrate.isMigrationEntry(pte)
              && entryPfn(pte) == migrationSrc
              && (!rwc.rmapOne(vma, addr) || rwc.done(pfn))) {
            return;
          }
        } else if (isDevicePrivate(pte) || isDeviceExclusive(pte)) {
          if (entryPfn(pte) == head + i && (!rwc.rmapOne(vma, addr) || rwc.done(pfn))) {
            return;
          }
        } else if (present(pte) && !special(pte)) {
          long mapped =
              huge(pte)
                  ? Pte.pfn(pte) + ((addr >>> PAGE_SHIFT) & (HugeMemory.HPAGE_PMD_NR - 1))
                  : Pte.pfn(pte);
          if (mapped == head + i && (!rwc.rmapOne(vma, addr) || rwc.done(pfn))) {
            return;
          }
        }
      }
    }
  }

  /** {@code folio_mapcount()}: page-table mappings of the folio containing {@code pfn}. */
  public int folioMapcount(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    int order = memmap.folioOrder(head);
    if (order == 0) {
      return memmap.mapcount(head);
    }
    int n = memmap.entireMapcount(head);
    for (int i = 0; i < (1 << order); i++) {
      n += memmap.mapcount(head + i);
    }
    return n;
  }

  // ---------------------------------------------------------------- folio_mkclean

  /**
   * {@code folio_mkclean()}: write-protects and cleans every shared pte mapping the folio, so the
   * next write faults and dirties it again; returns whether a pte was dirty. Writeback calls it.
   */
  public boolean folioMkclean(long pfn) {
    memmap.checkPfn(pfn);
    Mkclean mk = new Mkclean();
    rmapWalk(pfn, mk);
    return mk.dirty;
  }

  /** {@code page_mkclean_one()} with {@code invalid_mkclean_vma()}. */
  private static final class Mkclean implements RmapWalkControl, PageWalk.PteUpdate {
    boolean dirty;

    @Override
    public boolean invalidVma(Vma vma) {
      return (vma.flags & VmFlags.VM_SHARED) == 0;
    }

    @Override
    public boolean rmapOne(Vma vma, long addr) {
      PageWalk.updatePte(vma.mm, addr, MmuNotifierEvent.PROTECTION_PAGE, this);
      return true;
    }

    @Override
    public long update(MmStruct mm, long addr, long e) {
      if (isDevicePrivate(e)) {
        // a device-private page-cache folio (hmm.file_pages=): the device writes again only
        // after ->page_mkwrite; its dirty state is in the folio already
        return devicePrivateEntry(entryPfn(e), false);
      }
      dirty |= Pte.dirty(e);
      return e & ~(WRITE | DIRTY);
    }
  }

  // ---------------------------------------------------------------- folio_referenced

  /** {@code folio_referenced()}: young ptes found (and cleared) through the rmap. */
  int folioReferenced(long pfn) {
    Referenced r = new Referenced();
    rmapWalk(pfn, r);
    if (memmap.testAndClearFlag(pfn, PG_REFERENCED)) {
      r.young++;
    }
    return r.young;
  }

  /** {@code folio_referenced_one()}. */
  private static final class Referenced implements RmapWalkControl, PageWalk.PteUpdate {
    int young;

    @Override
    public boolean rmapOne(Vma vma, long addr) {
      MmStruct mm = vma.mm;
      PageWalk.updatePte(mm, addr, null, this);
      if (mm.notifiers.clearFlushYoung(addr, addr + PAGE_SIZE)) {
        young++; // a secondary MMU (a device) used it too
      }
      return true;
    }

    @Override
    public long update(MmStruct mm, long addr, long e) {
      if (!Pte.young(e)) {
        return e;
      }
      young++;
      return e & ~YOUNG;
    }
  }

  // ---------------------------------------------------------------- try_to_unmap

  /** A pte replaced by {@link #tryToUnmap}, to put back if the folio cannot go. */
  record Unmapped(MmStruct mm, long addr, long pte) {}

  /**
   * {@code try_to_unmap()}: replaces every pte of {@code pfn} with {@code replacement} ({@code
   * CLEAR} notifiers): a swap entry naming {@code slot} of {@code sw}, or none (0) for a file
   * folio, whose ptes' dirty bits move to the folio. Stops once the folio is unmapped ({@code
   * folio_not_mapped()}).
   */
  List<Unmapped> tryToUnmap(long pfn, long replacement, SwapSpace sw, long slot) {
    Unmap u = new Unmap(pfn, replacement, sw, slot);
    rmapWalk(pfn, u);
    return u.done;
  }

  /** {@code try_to_unmap_one()}. */
  private final class Unmap implements RmapWalkControl, PageWalk.PteUpdate {
    final long pfn;
    final long replacement;
    final SwapSpace sw;
    final long slot;
    final List<Unmapped> done = new ArrayList<>();

    Unmap(long pfn, long replacement, SwapSpace sw, long slot) {
      this.pfn = pfn;
      this.replacement = replacement;
      this.sw = sw;
      this.slot = slot;
    }

    @Override
    public boolean rmapOne(Vma vma, long addr) {
      PageWalk.updatePte(vma.mm, addr, MmuNotifierEvent.CLEAR, this);
      return true;
    }

    @Override
    public boolean done(long pfn) {
      return folioMapcount(pfn) == 0; // folio_not_mapped()
    }

    @Override
    public long update(MmStruct mm, long addr, long e) {
      if (!present(e) || Pte.pfn(e) != pfn) {
        return e;
      }
      if (sw != null) {
        sw.dup(slot);
      } else if (dirty(e)) {
        folios.folioMarkDirty(pfn); // the pte's dirty bit moves to the folio
      }
      memmap.mapcountAdd(pfn, -1);
      memmap.refAdd(pfn, -1);
      (memmap.testFlag(pfn, PG_ANON) ? mm.anonPages : mm.filePages).decrementAndGet();
      done.add(new Unmapped(mm, addr, e));
      return replacement;
    }
  }
}
