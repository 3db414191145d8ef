package dev.refkern.mm.vm;

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
import jakarta.inject.Provider;
import jakarta.inject.Singleton;

/**
 * The Dagger module of mm-core ({@code start_kernel()}'s {@code mm_core_init()}): boots physical
 * and virtual memory from the component's {@link BootConfig}, fully wired, and exposes their parts.
 * An application's {@code @Component} installs it.
 *
 * <p>Physical memory's reclaim ({@link PageReclaim}) is the virtual memory built on it:
 * page_alloc.c and vmscan.c call each other. Dagger resolves the cycle with a {@link Provider},
 * asked only once the graph is built. It lives in {@code dev.refkern.mm.vm}, beside {@link
 * VirtualMemory}, so that {@code dev.refkern.mm} does not depend on the package above it.
 */
@Module
public final class MmModule {
  private MmModule() {}

  /** The kernel's memory management, booted through the same code as {@link VirtualMemory#boot}. */
  @Provides
  @Singleton
  public static VirtualMemory virtualMemory(
      BootConfig config, Scheduler scheduler, Provider<PageReclaim> reclaim) {
    return VirtualMemory.boot(
        config.params(),
        config.stateDir(),
        config.reset(),
        scheduler,
        config.progress(),
        reclaim::get);
  }

  /** {@code mm/vmscan.c}'s entries for the page allocator: this graph's direct reclaim, kswapd. */
  @Provides
  @Singleton
  public static PageReclaim pageReclaim(VirtualMemory vm) {
    return vm.pageReclaim();
  }

  @Provides
  public static PhysicalMemory physicalMemory(VirtualMemory vm) {
    return vm.physicalMemory();
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
