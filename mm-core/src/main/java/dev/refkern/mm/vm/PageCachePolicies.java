package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.spi.PolicyProvider;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The policies of {@code mm/page-writeback.c} and {@code mm/truncate.c} for pinned folios: the
 * {@code writeback.pinned=} and {@code truncate.pinned=} designs, and {@code dio.stable_bounce=}
 * (direct I/O to a stable-writes mapping, {@code fs/iomap/direct-io.c}), and {@code
 * hmm.file_pages=} (page-cache folios in device memory, seed 004).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PageCachePolicies implements PolicyProvider {
  /** Created by {@link java.util.ServiceLoader}. */
  public PageCachePolicies() {}

  @Override
  public List<Class<?>> policies() {
    return List.of(
        IgnorePinnedWriteback.class,
        SkipPinnedWriteback.class,
        WaitPinnedWriteback.class,
        BouncePinnedWriteback.class,
        OrphanPinnedTruncate.class,
        RevokePinnedTruncate.class,
        WaitPinnedTruncate.class,
        DioStableBounceOn.class,
        DioStableBounceOff.class,
        OffDeviceFilePages.class,
        MigrateBackDeviceFilePages.class,
        BounceDeviceFilePages.class);
  }
}
