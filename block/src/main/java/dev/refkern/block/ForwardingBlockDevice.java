package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * A stacked block device that passes everything to the device below, as a device-mapper target with
 * a linear table does ({@code drivers/md/dm-linear.c}): subclasses override {@link #submitBio} to
 * watch or delay bios (a recorder, a fault injector, a device that DMAs while a write is in flight)
 * and keep the name, capacity and features of the device below.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class ForwardingBlockDevice implements BlockDevice {
  private final BlockDevice below;

  /** A device stacked on {@code below}. */
  protected ForwardingBlockDevice(BlockDevice below) {
    this.below = below;
  }

  /** The device below. */
  protected BlockDevice below() {
    return below;
  }

  @Override
  public String name() {
    return below.name();
  }

  @Override
  public long capacitySectors() {
    return below.capacitySectors();
  }

  @Override
  public int features() {
    return below.features();
  }

  @Override
  public void submitBio(Bio bio) {
    below.submitBio(bio);
  }
}
