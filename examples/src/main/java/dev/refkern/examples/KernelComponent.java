package dev.refkern.examples;

import dagger.BindsInstance;
import dagger.Component;
import dev.refkern.block.BlockModule;
import dev.refkern.block.DirectIo;
import dev.refkern.mm.BootConfig;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyModule;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.MmModule;
import dev.refkern.mm.vm.VirtualMemory;
import jakarta.inject.Singleton;

/** The standard kernel: every layer's Dagger module, booted from one {@link BootConfig}. */
@Singleton
@Component(modules = {MmModule.class, BlockModule.class, PolicyModule.class})
public interface KernelComponent {
  PhysicalMemory physicalMemory();

  /**
   * Every policy the modules on the path provide ({@link java.util.ServiceLoader} bridged into a
   * Dagger multibinding by {@link PolicyModule}).
   */
  PolicyRegistry policies();

  /** Virtual memory on {@link #physicalMemory()}, its reclaim wired in. */
  VirtualMemory virtualMemory();

  /** {@code mm/gup.c}. */
  Gup gup();

  /** {@code O_DIRECT} between tasks' memory and devices. */
  DirectIo directIo();

  /** The injected scheduler ({@code sched=threads} or {@code sched=sim:SEED}). */
  Scheduler scheduler();

  /** Builds a kernel from a command line and a state directory. */
  @Component.Factory
  interface Factory {
    KernelComponent create(@BindsInstance BootConfig config);
  }

  /** Boots the standard kernel. */
  static KernelComponent boot(BootConfig config) {
    return DaggerKernelComponent.factory().create(config);
  }
}
