package dev.refkern.notifier;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Records every callback as a line in a shared log; start and young answers are configurable. */
class RecordingOps implements MmuNotifierOps {
  final String name;
  final List<String> log;
  final List<MmuNotifierRange> starts = new CopyOnWriteArrayList<>();
  final List<MmuNotifierRange> ends = new CopyOnWriteArrayList<>();
  volatile int startResult;
  volatile boolean young;
  volatile int releases;
  volatile int frees;

  RecordingOps(String name, List<String> log) {
    this.name = name;
    this.log = log;
  }

  @Override
  public void release(MmuNotifier subscription, Object mm) {
    releases++;
    log.add(name + ".release(" + mm + ")");
  }

  @Override
  public int invalidateRangeStart(MmuNotifier subscription, MmuNotifierRange range) {
    starts.add(range);
    log.add(name + ".start");
    return startResult;
  }

  @Override
  public void invalidateRangeEnd(MmuNotifier subscription, MmuNotifierRange range) {
    ends.add(range);
    log.add(name + ".end");
  }

  @Override
  public void archInvalidateSecondaryTlbs(
      MmuNotifier subscription, Object mm, long start, long end) {
    log.add(name + ".tlb(" + mm + "," + start + "," + end + ")");
  }

  @Override
  public boolean clearFlushYoung(MmuNotifier subscription, Object mm, long start, long end) {
    log.add(name + ".clearFlushYoung(" + mm + "," + start + "," + end + ")");
    return young;
  }

  @Override
  public boolean clearYoung(MmuNotifier subscription, Object mm, long start, long end) {
    log.add(name + ".clearYoung(" + mm + "," + start + "," + end + ")");
    return young;
  }

  @Override
  public boolean testYoung(MmuNotifier subscription, Object mm, long address) {
    log.add(name + ".testYoung(" + mm + "," + address + ")");
    return young;
  }

  @Override
  public void freeNotifier(MmuNotifier subscription) {
    frees++;
    log.add(name + ".free");
  }

  @Override
  public String toString() {
    return name;
  }
}
