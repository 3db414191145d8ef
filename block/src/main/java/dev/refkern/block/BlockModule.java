package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dagger.Module;
import dagger.Provides;
import dev.refkern.mm.vm.VirtualMemory;
import jakarta.inject.Singleton;
import org.apiguardian.api.API;

/**
 * The Dagger module of the block layer ({@code block/}'s init): direct I/O over the virtual memory
 * that {@code MmModule} provides. An application's {@code @Component} installs both; devices are
 * made per use ({@link RamDisk}, {@link FileDisk}, {@link NullBlk}), as a driver probes them.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
@Module
public final class BlockModule {
  private BlockModule() {}

  /** {@code O_DIRECT} reads and writes; one per kernel, with its redirty workqueue. */
  @Provides
  @Singleton
  public static DirectIo directIo(VirtualMemory vm) {
    return new DirectIo(vm);
  }
}
