package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import org.apiguardian.api.API;

/**
 * A booted kernel ({@code start_kernel()}), wired with one plain call and no Dagger: physical
 * memory, virtual memory with GUP and reclaim ({@code VirtualMemory.boot}), and the block layer's
 * devices and direct I/O on top. With Dagger, a component installing {@code MmModule} and {@link
 * BlockModule} builds the same graph.
 *
 * <p>Stable API. Closing it closes the devices it created, then the memmap.
 *
 * <pre>{@code
 * try (Kernel k = Kernel.boot("mem=1G", Path.of("state"))) {
 *   Task t = k.vm().createTask("app");
 *   RamDisk disk = k.ramDisk(2048);
 *   ...
 * }
 * }</pre>
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Kernel implements AutoCloseable {
  private final PhysicalMemory mem;
  private final VirtualMemory vm;
  private final Deque<Runnable> devices = new ArrayDeque<>();
  private DirectIo directIo;

  private Kernel(VirtualMemory vm) {
    this.mem = vm.physicalMemory();
    this.vm = vm;
  }

  /**
   * Boots a kernel from {@code cmdline} on {@code stateDir}, refusing a directory that holds a
   * previous kernel's memmap.
   *
   * @throws KernelException {@code EINVAL} for a bad command line, {@code EBUSY} if another kernel
   *     runs on {@code stateDir}, {@code EEXIST} if it holds a previous memmap, {@code EPERM} if
   *     the JVM lacks Chronicle's flags
   */
  public static Kernel boot(String cmdline, Path stateDir) {
    return boot(cmdline, stateDir, false);
  }

  /**
   * Boots a kernel; {@code reset} discards a previous kernel's memmap in {@code stateDir}.
   *
   * @throws KernelException as {@link #boot(String, Path)}, but not {@code EEXIST} when {@code
   *     reset}
   */
  public static Kernel boot(String cmdline, Path stateDir, boolean reset) {
    // mm first, fully wired (physical memory's reclaim is this VM's); the block layer on top
    return new Kernel(VirtualMemory.boot(BootParams.parse(cmdline), stateDir, reset));
  }

  /** The physical machine: memmap, zones, buddy allocator, vmstat. */
  public PhysicalMemory physicalMemory() {
    return mem;
  }

  /** Virtual memory: tasks, faults, rmap, reclaim, migration. */
  public VirtualMemory vm() {
    return vm;
  }

  /** {@code mm/gup.c}: {@code get_user_pages*}, {@code pin_user_pages*}, unpinning. */
  public Gup gup() {
    return vm.gup();
  }

  /** {@code brd}: a RAM disk of {@code capacitySectors} 512-byte sectors. */
  public synchronized RamDisk ramDisk(long capacitySectors) {
    RamDisk d = new RamDisk(mem, capacitySectors);
    devices.push(d::close);
    return d;
  }

  /** {@code brd} with options (integrity, bounce, write cache). */
  public synchronized RamDisk ramDisk(long capacitySectors, DiskOptions opts) {
    RamDisk d = new RamDisk(mem, capacitySectors, opts);
    devices.push(d::close);
    return d;
  }

  /** A disk backed by a new image {@code file} of {@code capacitySectors} zeroed sectors. */
  public synchronized FileDisk fileDisk(Path file, long capacitySectors, DiskOptions opts) {
    FileDisk d = FileDisk.create(mem, file, capacitySectors, opts);
    devices.push(d::close);
    return d;
  }

  /** {@code null_blk}: completes every bio and moves no data. */
  public NullBlk nullBlk(long capacitySectors) {
    return new NullBlk(mem, capacitySectors);
  }

  /** {@code O_DIRECT} reads and writes between a task's memory and a device. */
  public synchronized DirectIo directIo() {
    if (directIo == null) {
      directIo = new DirectIo(vm); // one, as the kernel has one bio-dirty workqueue
    }
    return directIo;
  }

  /** Closes the devices this kernel created (newest first), then physical memory. */
  @Override
  public synchronized void close() {
    while (!devices.isEmpty()) {
      try {
        devices.pop().run();
      } catch (RuntimeException e) {
        mem.health().warn(true, "closing a device: " + e);
      }
    }
    mem.close();
  }
}
