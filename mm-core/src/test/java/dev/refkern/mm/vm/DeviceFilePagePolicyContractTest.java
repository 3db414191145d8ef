package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.RamBackedAops;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What every {@code hmm.file_pages=} policy must do, run over every registered one: boot by name,
 * cite its proposal, report its stats under its own name, and leave file pages that never went to a
 * device alone (writeback and truncate as without it, nothing counted).
 */
class DeviceFilePagePolicyContractTest extends VmTestBase {
  static List<String> policies() {
    return PolicyRegistry.global().names(DeviceFilePagePolicy.PARAM);
  }

  @Test
  void theDefaultIsMainlinesOff() {
    assertTrue(
        policies().containsAll(List.of("off", "migrate_back", "bounce")), policies()::toString);
    boot("mem=128M");
    assertEquals("off", vm.deviceFilePages().name());
    assertTrue(vm.deviceFilePages().spec().mainline());
  }

  @Test
  void anUnknownNameIsEinval() {
    KernelException e =
        assertThrows(KernelException.class, () -> boot("mem=128M hmm.file_pages=sometimes"));
    assertEquals(Errno.EINVAL, e.errno());
  }

  @ParameterizedTest
  @MethodSource("policies")
  void eachPolicyBootsReportsAndLeavesSystemFilePagesAlone(String policy) {
    boot("mem=128M " + DeviceFilePagePolicy.PARAM + "=" + policy);
    DeviceFilePagePolicy p = vm.deviceFilePages();
    assertEquals(policy, p.name());
    assertEquals(DeviceFilePagePolicy.PARAM, p.spec().param());
    assertEquals(policy, p.spec().name());
    assertEquals(policy.equals("off"), p.spec().mainline(), policy + ": only off is mainline");
    assertFalse(p.spec().proposal().isBlank(), policy + " cites its proposal");

    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = AddressSpace.create(mem, disk);
    file.setSize(2 * 4096);
    Task task = vm.createTask("t");
    long addr = task.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(addr, 1);
    task.storeLong(addr + 4096, 2);
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertEquals(2, disk.writes(), policy + ": both pages written as without the policy");
    vm.truncate().truncateInodePages(file, 1);
    assertEquals(1, task.loadLong(addr), policy + ": the page before the cut stays");

    PolicyStats st = p.stats();
    assertEquals(DeviceFilePagePolicy.PARAM, st.param());
    assertEquals(policy, st.name());
    for (var c : st.counters().entrySet()) {
      assertEquals(0L, c.getValue(), policy + ": " + c.getKey() + " without a device");
    }
    task.exit();
  }
}
