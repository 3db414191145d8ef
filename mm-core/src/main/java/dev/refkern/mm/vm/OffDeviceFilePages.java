package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code hmm.file_pages=off}: mainline {@code migrate_vma_pages()} refuses page-cache folios ("For
 * now only support anonymous memory", {@code mm/migrate_device.c}); they stay in system memory and
 * are counted in {@code file_pages_skipped}.
 */
@PolicySpec(
    param = DeviceFilePagePolicy.PARAM,
    name = "off",
    mainline = true,
    proposal =
        "004_46a5be7e6bb085c8.txt, Jérôme Glisse / Dave Chinner, 2016-12 (not merged); mainline")
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class OffDeviceFilePages extends DeviceFilePagePolicy {
  /** Binds the policy to a booted kernel. */
  public OffDeviceFilePages(DeviceFilePageContext context) {
    super(context);
  }

  @Override
  public boolean allowsFilePages() {
    return false;
  }

  @Override
  public boolean bouncesWriteback() {
    return false;
  }
}
