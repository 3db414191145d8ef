package dev.refkern.hmm.dma;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The data a DMA write puts in memory, word by word: the payload of a device's {@code
 * dma_async_tx_descriptor}, computed instead of copied so a workload can check it later.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
@FunctionalInterface
public interface DmaPattern {
  /**
   * The engine's own stamp: {@link DmaEngine#header}, the page index, then {@link DmaEngine#word}.
   */
  DmaPattern STAMP =
      (seq, page, i) ->
          i == 0 ? DmaEngine.header(seq) : i == 1 ? page : DmaEngine.word(seq, page, i);

  /**
   * Word {@code i} (0 to {@code PAGE_SIZE / 8 - 1}) of device page {@code page} for the write with
   * sequence number {@code seq}. Called for every word written: it must not allocate.
   */
  long word(long seq, int page, int i);

  /**
   * The first word of each page the pattern writes: the words before it belong to the host (an
   * application's header in the buffer) and the device leaves them alone, as an RDMA write at an
   * offset into the page would. Default 0, the whole page.
   */
  default int firstWord() {
    return 0;
  }
}
