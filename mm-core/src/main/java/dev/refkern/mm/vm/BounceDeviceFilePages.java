package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code hmm.file_pages=bounce}: page-cache folios may move to device-private memory; writeback has
 * the driver copy a device folio into a bounce page ({@code DevPagemapOps.copyToRam}, a device DMA)
 * and writes that ({@code ->writeFolioFrom}) while the folio stays on the device (Jérôme Glisse's
 * second plan, seed 004, Dec 2016: "use a bounce page during I/O so that there is no need for
 * migration"). {@code read()}, {@code write()} and truncate still migrate the folio back, as {@link
 * MigrateBackDeviceFilePages} does. Costs {@code folios_bounced} and {@code bytes_bounced}.
 */
@PolicySpec(
    param = DeviceFilePagePolicy.PARAM,
    name = "bounce",
    mainline = false,
    proposal =
        "004_46a5be7e6bb085c8.txt, Jérôme Glisse / Dave Chinner, 2016-12 (second plan: bounce page)")
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class BounceDeviceFilePages extends DeviceFilePagePolicy {
  /** Binds the policy to a booted kernel. */
  public BounceDeviceFilePages(DeviceFilePageContext context) {
    super(context);
  }

  @Override
  public boolean allowsFilePages() {
    return true;
  }

  @Override
  public boolean bouncesWriteback() {
    return true;
  }
}
