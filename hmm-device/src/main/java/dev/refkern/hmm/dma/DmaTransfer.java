package dev.refkern.hmm.dma;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import java.nio.ByteBuffer;
import org.apiguardian.api.API;

/**
 * One DMA descriptor queued on a {@link DmaEngine}, {@code struct dma_async_tx_descriptor}: a run
 * of a device's pages written (from the device) or read (to the device), like a work request posted
 * to an RDMA send queue.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class DmaTransfer {
  /** Where a transfer is. */
  public enum State {
    /** Queued or partly done. */
    QUEUED,
    /** Every byte moved. */
    DONE,
    /** Stopped: the device could not map a page, or the engine was stopped. */
    ABORTED
  }

  final DmaTarget target;
  final int first;
  final int pages;
  final boolean write;
  final long seq;
  final DmaPattern pattern; // null for a read
  final ByteBuffer buf;
  volatile long done; // written only by the engine's single stepper
  volatile boolean redirected;
  private volatile State state = State.QUEUED;
  private volatile Errno error;

  DmaTransfer(
      DmaTarget target, int first, int pages, long seq, DmaPattern pattern, ByteBuffer buf) {
    this.target = target;
    this.first = first;
    this.pages = pages;
    this.write = pattern != null;
    this.seq = seq;
    this.pattern = pattern;
    this.buf = buf;
  }

  /** Its state now. */
  public State state() {
    return state;
  }

  /** Why it was aborted, or null. */
  public Errno error() {
    return error;
  }

  /** Bytes moved so far. */
  public long bytesDone() {
    return done;
  }

  /** Whether some of its bytes went to a dummy page. */
  public boolean redirected() {
    return redirected;
  }

  /** The sequence number a write stamps. */
  public long seq() {
    return seq;
  }

  long length() {
    return (long) pages * DmaEngine.PAGE_SIZE;
  }

  void finish(State s, Errno e) {
    error = e;
    state = s;
  }
}
