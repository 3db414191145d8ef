package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.MemmapTesting;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.internal.pageops.MemmapOps;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongConsumer;
import org.junit.jupiter.api.Test;

/** A pfn from outside the memmap is {@code EINVAL} at every public accessor, never an AIOOBE. */
class BadPfnTest extends VmTestBase {
  @Test
  void everyPublicPfnAccessorRefusesABadPfnWithEinval() {
    boot();
    MemmapOps m = MemmapTesting.ops(mem);
    PageAllocator alloc = mem.allocator();
    FolioOps folios = new FolioOps(mem);
    AddressSpace file = AddressSpace.create(mem, new RamBackedAops());
    long max = m.nrPfns();
    long good = vm.zeroPfn();
    Map<String, LongConsumer> calls = new LinkedHashMap<>();
    calls.put("memmap.refcount", m::refcount);
    calls.put("memmap.flags", m::flags);
    calls.put("memmap.testFlag", p -> m.testFlag(p, PageFlags.PG_DIRTY));
    calls.put("memmap.setFlag", p -> m.setFlag(p, PageFlags.PG_DIRTY));
    calls.put("memmap.refAdd", p -> m.refAdd(p, 1));
    calls.put("memmap.refTryAdd", p -> m.refTryAdd(p, 1));
    calls.put("memmap.mapcount", m::mapcount);
    calls.put("memmap.pincount", m::pincount);
    calls.put("memmap.mapping", m::mapping);
    calls.put("memmap.compoundHead", m::compoundHead);
    calls.put("memmap.folioOrder", m::folioOrder);
    calls.put("memmap.zone", m::zone);
    calls.put("memmap.lruNext", m::lruNext);
    calls.put("memmap.entireMapcount", m::entireMapcount);
    calls.put("memmap.clearDescriptor", m::clearDescriptor);
    calls.put("allocator.getPage", alloc::getPage);
    calls.put("allocator.tryGetPage", alloc::tryGetPage);
    calls.put("allocator.putPage", alloc::putPage);
    calls.put("allocator.freePages", p -> alloc.freePages(p, 0));
    calls.put("folio.lock", folios::folioLock);
    calls.put("folio.trylock", folios::folioTrylock);
    calls.put("folio.unlock", folios::folioUnlock);
    calls.put("folio.testDirty", folios::folioTestDirty);
    calls.put("folio.markDirty", folios::folioMarkDirty);
    calls.put("folio.startWriteback", folios::folioStartWriteback);
    calls.put("folio.mapping", folios::folioMapping);
    calls.put("folio.mapped", folios::folioMapped);
    calls.put("folio.expectedRefcount", folios::expectedRefcount);
    calls.put("gup.folioMaybeDmaPinned", gup::folioMaybeDmaPinned);
    calls.put("policy.maybeDmaPinned", gup.pinTracking()::maybeDmaPinned);
    calls.put("gup.unpinUserPage", gup::unpinUserPage);
    calls.put("gup.unpinUserPages", p -> gup.unpinUserPages(new long[] {p}, 1));
    calls.put(
        "gup.unpinUserPagesDirtyLock", p -> gup.unpinUserPagesDirtyLock(new long[] {p}, 1, true));
    calls.put("gup.unpinUserPageRangeDirtyLock", p -> gup.unpinUserPageRangeDirtyLock(p, 1, true));
    calls.put("gup.pinReferencedPage", gup::pinReferencedPage);
    calls.put("gup.putPage", gup::putPage);
    calls.put("rmap.folioMapcount", vm.rmap()::folioMapcount);
    calls.put("rmap.rmapWalk", p -> vm.rmap().rmapWalk(p, (v, a) -> true));
    calls.put("rmap.folioMkclean", vm.rmap()::folioMkclean);
    calls.put("vm.unmapMappingFolio", vm::unmapMappingFolio);
    calls.put("vm.migrateFolio", p -> vm.migrateFolio(p, true));
    calls.put("lru.onLru", vm.lru()::onLru);
    calls.put("lru.listOf", vm.lru()::listOf);
    calls.put("lru.folioAddLru", vm.lru()::folioAddLru);
    calls.put("mem.folioAddLru", mem::folioAddLru);
    calls.put("mem.zoneDevicePageInit", mem::zoneDevicePageInit);
    calls.put("file.folioSize", file::folioSize);
    calls.put("filemap.filemapRemoveFolio", p -> vm.filemap().filemapRemoveFolio(file, p));
    calls.put("folio.filemapDirtyFolio", p -> folios.filemapDirtyFolio(file, p));
    calls.put("filemap.filemapPageMkwrite", p -> vm.filemap().filemapPageMkwrite(file, p));
    calls.put("writeback.folioClearDirtyForIo", vm.pageWriteback()::folioClearDirtyForIo);
    calls.put("writeback.folioWaitStable", vm.pageWriteback()::folioWaitStable);
    calls.put(
        "migrate.filemapMigrateFolio(dst)",
        p -> Migrate.filemapMigrateFolio(folios, file, p, good));
    calls.put(
        "migrate.filemapMigrateFolio(src)",
        p -> Migrate.filemapMigrateFolio(folios, file, good, p));
    for (long bad : new long[] {-1, max, Long.MAX_VALUE, Long.MIN_VALUE}) {
      for (Map.Entry<String, LongConsumer> c : calls.entrySet()) {
        if (bad == PageAllocator.NO_PFN && c.getKey().startsWith("gup.unpinUserPages")) {
          continue; // NO_PFN in a pages array is NULL, skipped as the kernel skips it
        }
        String what = c.getKey() + "(" + bad + ")";
        KernelException e =
            assertThrows(KernelException.class, () -> c.getValue().accept(bad), what);
        assertEquals(Errno.EINVAL, e.errno(), what);
        assertTrue(
            e.getMessage().contains("pfn " + bad + " outside the valid range [0, " + max + ")"),
            what + ": " + e.getMessage());
      }
    }
    assertEquals(0, mem.health().warnCount());
    assertFalse(mem.health().isDead());
  }
}
