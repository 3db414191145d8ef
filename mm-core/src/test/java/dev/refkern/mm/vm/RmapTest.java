package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code rmap_walk()} honours {@code struct rmap_walk_control}: rmap_one, invalid_vma, done. */
class RmapTest extends VmTestBase {
  private Task p;
  private Task c1;
  private Task c2;
  private long pfn;

  @BeforeEach
  void setUp() {
    boot();
    p = vm.createTask("p");
    long a = p.mmapAnon(4096);
    p.storeLong(a, 1);
    pfn = Pte.pfn(p.mm().pte(a));
    c1 = p.fork("c1");
    c2 = p.fork("c2"); // three mappings of one page, in one anon_vma
  }

  private List<MmStruct> walk(RmapWalkControl rwc) {
    List<MmStruct> seen = new ArrayList<>();
    vm.rmap()
        .rmapWalk(
            pfn,
            new RmapWalkControl() {
              @Override
              public boolean rmapOne(Vma vma, long address) {
                seen.add(vma.mm());
                return rwc.rmapOne(vma, address);
              }

              @Override
              public boolean invalidVma(Vma vma) {
                return rwc.invalidVma(vma);
              }

              @Override
              public boolean done(long p) {
                return rwc.done(p);
              }
            });
    return seen;
  }

  @Test
  void visitsEveryMappingUnlessStopped() {
    assertEquals(3, walk((v, a) -> true).size());
    assertEquals(1, walk((v, a) -> false).size(), "rmap_one false ends the walk");
  }

  @Test
  void invalidVmaSkipsAndDoneEnds() {
    MmStruct parent = p.mm();
    List<MmStruct> skipped =
        walk(
            new RmapWalkControl() {
              @Override
              public boolean rmapOne(Vma vma, long address) {
                return true;
              }

              @Override
              public boolean invalidVma(Vma vma) {
                return vma.mm() == parent;
              }
            });
    assertEquals(2, skipped.size());
    assertFalse(skipped.contains(parent), "invalid_vma skipped the parent's VMA");
    List<MmStruct> once =
        walk(
            new RmapWalkControl() {
              @Override
              public boolean rmapOne(Vma vma, long address) {
                return true;
              }

              @Override
              public boolean done(long p) {
                return p == pfn;
              }
            });
    assertEquals(1, once.size(), "done ends the walk after the first rmap_one");
  }

  @Test
  void folioMkcleanSkipsPrivateMappings() {
    // invalid_mkclean_vma(): private (COW) mappings are never cleaned or write-protected
    long a = p.mmapAnon(4096);
    p.storeLong(a, 5);
    long q = Pte.pfn(p.mm().pte(a));
    assertFalse(vm.rmap().folioMkclean(q));
    assertTrue(Pte.write(p.mm().pte(a)), "the private pte kept its write bit");
    c2.exit();
    c1.exit();
    p.exit();
  }
}
