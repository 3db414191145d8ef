package dev.refkern.mm.vm;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The reverse map of anonymous memory ({@code struct anon_vma}): the VMAs that may map a page whose
 * {@code mapping} names this anon_vma.
 *
 * <p>Deviation: the kernel gives each forked child its own anon_vma chained to the parent's; here a
 * parent and its children share one, so an rmap walk visits the whole family and checks each pte
 * (the pre-2.6.34 scheme). The answer is the same, the walk longer.
 */
final class AnonVma {
  final long id;
  final List<Vma> vmas = new CopyOnWriteArrayList<>();

  AnonVma(long id) {
    this.id = id;
  }
}
