package dev.refkern.mm;

import dagger.Module;
import dagger.Provides;
import dev.refkern.mm.sched.Scheduler;
import jakarta.inject.Singleton;

/**
 * The Dagger module of mm-core: boots {@link PhysicalMemory} from the component's {@link
 * BootConfig} and exposes its parts. An application's {@code @Component} installs it.
 */
@Module
public final class MmModule {
  private MmModule() {}

  @Provides
  @Singleton
  static PhysicalMemory physicalMemory(BootConfig config, Scheduler scheduler) {
    return PhysicalMemory.boot(
        config.params(), config.stateDir(), config.reset(), scheduler, config.progress());
  }

  /**
   * The one source of asynchrony, chosen by {@code sched=}: {@code threads} (default) or {@code
   * sim:SEED} for the deterministic simulation.
   */
  @Provides
  @Singleton
  static Scheduler scheduler(BootConfig config) {
    return PhysicalMemory.schedulerFor(config.params());
  }

  @Provides
  static BootParams bootParams(BootConfig config) {
    return config.params();
  }

  @Provides
  static Memmap memmap(PhysicalMemory mem) {
    return mem.memmap();
  }

  @Provides
  static PageAllocator pageAllocator(PhysicalMemory mem) {
    return mem.allocator();
  }

  @Provides
  static PageMemory pageMemory(PhysicalMemory mem) {
    return mem.ram();
  }

  @Provides
  static VmStat vmstat(PhysicalMemory mem) {
    return mem.vmstat();
  }

  @Provides
  static KernelHealth health(PhysicalMemory mem) {
    return mem.health();
  }
}
