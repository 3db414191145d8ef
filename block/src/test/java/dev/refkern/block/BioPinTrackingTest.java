package dev.refkern.block;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The contract of every registered {@code block.bio_pin_tracking=} design, and the claims of seed
 * 000's: one bio mixing pinned user pages with a referenced kernel page.
 */
class BioPinTrackingTest {
  static List<String> designs() {
    return PolicyRegistry.global().names(BioPinTracking.PARAM);
  }

  @TempDir Path dir;
  private PhysicalMemory mem;
  private VirtualMemory vm;

  private void boot(String policy) {
    vm =
        VirtualMemory.boot(
            BootParams.parse("mem=64M block.bio_pin_tracking=" + policy), dir, false);
    mem = vm.physicalMemory();
  }

  @AfterEach
  void check() {
    vm.lru().lruAddDrainAll();
    List<String> p = mem.debugVm().checkNoPinsHeld();
    mem.close();
    assertTrue(p.isEmpty(), "CONFIG_DEBUG_VM: " + p);
  }

  /** Builds bios for two pinned user pages and one referenced page, splitting when refused. */
  private List<Bio> mixed(BioPinTracking policy, long[] pinned, long referenced) {
    List<Bio> bios = new ArrayList<>();
    Bio bio = new Bio(BioOp.WRITE, 0, 0);
    bios.add(bio);
    long[] pfns = {pinned[0], referenced, pinned[1]};
    boolean[] isPinned = {true, false, true};
    for (int i = 0; i < 3; i++) {
      if (!policy.addPage(bio, pfns[i], 0, 4096, isPinned[i])) {
        bio = new Bio(BioOp.WRITE, 0, 0);
        bios.add(bio);
        assertTrue(policy.addPage(bio, pfns[i], 0, 4096, isPinned[i]));
      }
    }
    return bios;
  }

  @ParameterizedTest
  @MethodSource("designs")
  void everyDesignReleasesExactlyWhatItTook(String name) {
    boot(name);
    Task t = vm.createTask("t");
    long buf = t.mmapAnon(2 * 4096);
    t.storeLong(buf, 1);
    t.storeLong(buf + 4096, 2);
    vm.lru().lruAddDrain();
    long[] pinned = new long[2];
    assertEquals(2, vm.gup().pinUserPagesFast(t, buf, 2, Foll.FOLL_WRITE, pinned));
    long kernelPage = mem.allocator().allocPages(Gfp.KERNEL, 0);
    mem.allocator().getPage(kernelPage); // the bio's reference, as writeback takes one
    BioPinTracking policy =
        PolicyRegistry.global().create(BioPinTracking.class, BioPinTracking.PARAM, name, vm.gup());
    assertEquals(name, policy.stats().name());
    List<Bio> bios = mixed(policy, pinned, kernelPage);
    switch (name) {
      case "bio_flag" -> assertEquals(2, policy.splits(), "one flag per bio: the mix splits it");
      case "bias_all" -> {
        assertEquals(1, bios.size());
        assertEquals(1, policy.extraPins(), "the referenced page had to be pinned");
        assertTrue(vm.gup().folioMaybeDmaPinned(kernelPage), "and now looks DMA-pinned");
      }
      case "bvec_pfn_flag", "page_ptr_bit" ->
          assertEquals(1, bios.size(), "a per-vector flag mixes freely");
      default -> {} // a design of its own: only the contract below
    }
    for (Bio b : bios) {
      policy.releasePages(b);
    }
    if (name.equals("page_ptr_bit")) {
      assertEquals(3, policy.stats().get("mask_ops"), "every pointer use masks the flag off");
    }
    assertEquals(1, mem.memmap().refcount(pinned[0]));
    assertEquals(1, mem.memmap().refcount(kernelPage), "the bio's reference, and only it, is gone");
    assertEquals(
        mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED),
        mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED));
    mem.allocator().putPage(kernelPage);
    t.exit();
  }

  @Test
  void unknownDesignIsEinval() {
    boot("bio_flag");
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class,
                () ->
                    PolicyRegistry.global()
                        .create(BioPinTracking.class, BioPinTracking.PARAM, "magic", vm.gup()))
            .errno());
    KernelException e =
        assertThrows(
            KernelException.class, () -> BootParams.parse("mem=64M block.bio_pin_tracking=magic"));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(
        e.getMessage().contains("[bio_flag, bvec_pfn_flag, page_ptr_bit, bias_all]"),
        e.getMessage());
  }
}
