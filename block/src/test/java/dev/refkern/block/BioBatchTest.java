package dev.refkern.block;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.Schedulers;
import dev.refkern.mm.sched.SimScheduler;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code submit_bio_wait()} and the bio batch: first error kept, the wait covers every bio. */
class BioBatchTest {
  /** A device that queues its bios; the test ends them. */
  private static class QueueDevice implements BlockDevice {
    final ConcurrentLinkedQueue<Bio> queue = new ConcurrentLinkedQueue<>();

    @Override
    public String name() {
      return "queue";
    }

    @Override
    public long capacitySectors() {
      return 1 << 20;
    }

    @Override
    public int features() {
      return 0;
    }

    @Override
    public void submitBio(Bio bio) {
      queue.add(bio);
    }
  }

  private static Bio bio(int i) {
    return new Bio(BioOp.WRITE, i, 0);
  }

  @Test
  void completionsFromAnotherThreadKeepTheFirstErrorAndWaitForAll() throws Exception {
    int n = 8;
    try (Scheduler sched = Schedulers.threads()) {
      QueueDevice dev = new QueueDevice();
      AtomicInteger ended = new AtomicInteger();
      BioBatch batch = new BioBatch(sched);
      for (int i = 0; i < n; i++) {
        batch.add(bio(i), b -> ended.incrementAndGet());
      }
      batch.submit(dev);
      List<Bio> bios = new ArrayList<>(dev.queue);
      assertEquals(n, bios.size());
      Thread irq =
          new Thread(
              () -> {
                for (int i = n - 1; i >= 0; i--) { // the device completes out of order
                  Bio b = bios.get(i);
                  b.setStatus(i == 5 ? -Errno.EIO.number() : i == 2 ? -Errno.ENOSPC.number() : 0);
                  sched.runInCompletionContext(b::endio);
                }
              });
      irq.start();
      int status = batch.await();
      assertEquals(n, ended.get(), "await() returned before every bio completed");
      assertEquals(-Errno.EIO.number(), status, "the first error in completion order is kept");
      irq.join(30_000);
      assertFalse(irq.isAlive());
    }
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 42, 1234})
  void underTheSimSchedulerTheWaiterWakesOnlyAfterTheLastBio(long seed) {
    int n = 6;
    SimScheduler sched = new SimScheduler(seed);
    try {
      QueueDevice dev = new QueueDevice();
      AtomicInteger ended = new AtomicInteger();
      boolean[] returned = {false};
      int[] status = {1};
      List<String> early = new ArrayList<>();
      sched.kthreadRun(
          "irq",
          () -> {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int done = 0; done < n; ) {
              Bio b = dev.queue.poll();
              if (b == null) {
                sched.condResched();
                continue;
              }
              if (returned[0]) {
                early.add("await() returned with bio " + b.sector() + " in flight");
              }
              b.setStatus(rnd.nextInt(3) == 0 ? -Errno.EIO.number() : 0);
              sched.runInCompletionContext(b::endio);
              done++;
              sched.condResched();
            }
          });
      sched.run(
          () -> {
            BioBatch batch = new BioBatch(sched);
            for (int i = 0; i < n; i++) {
              batch.add(bio(i), b -> ended.incrementAndGet());
            }
            batch.submit(dev);
            status[0] = batch.await();
            returned[0] = true;
          });
      String tag = SimScheduler.seedTag(seed);
      assertTrue(returned[0], tag + " the waiter never woke");
      assertEquals(List.of(), early, tag);
      assertEquals(n, ended.get(), tag);
      assertTrue(status[0] == 0 || status[0] == -Errno.EIO.number(), tag + " status " + status[0]);
    } finally {
      sched.shutdown();
    }
  }

  @Test
  void aDriverThatThrowsEndsThatBioAndEveryLaterOneWithItsErrno() {
    try (Scheduler sched = Schedulers.threads()) {
      AtomicInteger submitted = new AtomicInteger();
      BlockDevice dev =
          new QueueDevice() {
            @Override
            public void submitBio(Bio bio) {
              if (submitted.incrementAndGet() == 2) {
                bio.setStatus(-Errno.EIO.number());
                bio.endio(); // ended, and then it throws too: still counted once
                throw new KernelException(Errno.ENOSPC, "no room");
              }
              bio.endio();
            }
          };
      int[] endedPerBio = new int[4];
      BioBatch batch = new BioBatch(sched);
      for (int i = 0; i < 4; i++) {
        int k = i;
        batch.add(bio(i), b -> endedPerBio[k]++);
      }
      batch.submit(dev);
      assertEquals(-Errno.EIO.number(), batch.await());
      assertArrayEquals(new int[] {1, 1, 1, 1}, endedPerBio);
      assertEquals(2, submitted.get(), "no bio is submitted after the driver failed one");
      KernelException e = assertThrows(KernelException.class, () -> batch.awaitOrThrow("io"));
      assertEquals(Errno.EIO, e.errno());
    }
  }

  @Test
  void submitBioWaitReturnsTheBiosStatus() {
    try (Scheduler sched = Schedulers.threads()) {
      BlockDevice ok =
          new QueueDevice() {
            @Override
            public void submitBio(Bio bio) {
              new Thread(bio::endio).start();
            }
          };
      assertEquals(0, BioBatch.submitBioWait(sched, ok, new Bio(BioOp.FLUSH, 0, 0)));
      BlockDevice failing =
          new QueueDevice() {
            @Override
            public void submitBio(Bio bio) {
              bio.setStatus(-Errno.EIO.number());
              bio.endio();
            }
          };
      assertEquals(
          -Errno.EIO.number(), BioBatch.submitBioWait(sched, failing, new Bio(BioOp.FLUSH, 0, 0)));
    }
  }
}
