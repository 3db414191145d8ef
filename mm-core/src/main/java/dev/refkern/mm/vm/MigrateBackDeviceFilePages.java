package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code hmm.file_pages=migrate_back}: page-cache folios may move to device-private memory;
 * writeback, {@code read()}, {@code write()} and truncate that meet one first migrate it back to
 * system memory on a workqueue they wait for (Jérôme Glisse's first plan, seed 004, Dec 2016: "use
 * workqueue and have read/write wait on the workqueue to be done migrating the page back"). Costs
 * {@code migrations_back} and {@code stall_ns}; the device loses the page each time.
 */
@PolicySpec(
    param = DeviceFilePagePolicy.PARAM,
    name = "migrate_back",
    mainline = false,
    proposal =
        "004_46a5be7e6bb085c8.txt, Jérôme Glisse / Dave Chinner, 2016-12 (first plan: migrate back)")
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class MigrateBackDeviceFilePages extends DeviceFilePagePolicy {
  /** Binds the policy to a booted kernel. */
  public MigrateBackDeviceFilePages(DeviceFilePageContext context) {
    super(context);
  }

  @Override
  public boolean allowsFilePages() {
    return true;
  }

  @Override
  public boolean bouncesWriteback() {
    return false;
  }
}
