package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dagger.Module;
import dagger.Provides;
import dev.refkern.mm.BootConfig;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.KernelHealth;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.PageReclaim;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmStat;
import dev.refkern.mm.sched.Scheduler;
import jakarta.inject.Singleton;
import org.apiguardian.api.API;

/**
 * The Dagger module of mm-core ({@code start_kernel()}'s {@code mm_core_init()}): boots physical
 * and virtual memory from the component's {@link BootConfig}, fully wired, and exposes their parts.
 * An application's {@code @Component} installs it.
 *
 * <p>Physical memory's reclaim ({@link PageReclaim}) is the virtual memory built on it:
 * page_alloc.c and vmscan.c call each other. The cycle is broken as in {@link VirtualMemory#boot}:
 * physical memory gets a {@link LateReclaim}, bound when the VM is built (a Dagger {@code Provider}
 * would build the VM inside the first allocation that reclaims, in a graph asked only for physical
 * memory). It lives in {@code dev.refkern.mm.vm}, beside {@link VirtualMemory}, so that {@code
 * dev.refkern.mm} does not depend on the package above it.
 */
@Module
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class MmModule {
  private MmModule() {}

  /** The binding of physical memory's reclaim to the VM, made when the VM is built. */
  @Provides
  @Singleton
  public static LateReclaim lateReclaim() {
    return new LateReclaim();
  }

  /**
   * The machine, booted with {@code late} as its reclaim: a graph that only asks for physical
   * memory (as {@code refkern boot} does) builds no VM and has no reclaim, like {@link
   * PhysicalMemory#boot(BootParams, java.nio.file.Path, boolean)}.
   */
  @Provides
  @Singleton
  public static PhysicalMemory physicalMemory(
      BootConfig config, Scheduler scheduler, LateReclaim late) {
    return PhysicalMemory.boot(
        config.params(), config.stateDir(), config.reset(), scheduler, config.progress(), late);
  }

  /**
   * Virtual memory on the machine, which then reclaims through it: the same code as the plain boot.
   */
  @Provides
  @Singleton
  public static VirtualMemory virtualMemory(PhysicalMemory mem, LateReclaim late) {
    return VirtualMemory.create(mem, late);
  }

  /** {@code mm/vmscan.c}'s entries for the page allocator: this graph's direct reclaim, kswapd. */
  @Provides
  @Singleton
  public static PageReclaim pageReclaim(VirtualMemory vm) {
    return vm.pageReclaim();
  }

  /**
   * The one source of asynchrony, chosen by {@code sched=}: {@code threads} (default) or {@code
   * sim:SEED} for the deterministic simulation.
   */
  @Provides
  @Singleton
  public static Scheduler scheduler(BootConfig config) {
    return PhysicalMemory.schedulerFor(config.params());
  }

  @Provides
  public static BootParams bootParams(BootConfig config) {
    return config.params();
  }

  @Provides
  public static Gup gup(VirtualMemory vm) {
    return vm.gup();
  }

  @Provides
  public static Vmscan vmscan(VirtualMemory vm) {
    return vm.vmscan();
  }

  @Provides
  public static LruVec lru(PhysicalMemory mem) {
    return mem.lru();
  }

  @Provides
  public static Memmap memmap(PhysicalMemory mem) {
    return mem.memmap();
  }

  @Provides
  public static PageAllocator pageAllocator(PhysicalMemory mem) {
    return mem.allocator();
  }

  @Provides
  public static PageMemory pageMemory(PhysicalMemory mem) {
    return mem.ram();
  }

  @Provides
  public static VmStat vmstat(PhysicalMemory mem) {
    return mem.vmstat();
  }

  @Provides
  public static KernelHealth health(PhysicalMemory mem) {
    return mem.health();
  }
}
