package dev.refkern.mm.sched;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.util.Locale;

/**
 * The JDK's one-shot delimited continuations ({@code jdk.internal.vm.Continuation}, JDK 21+),
 * reached through method handles so this code compiles for Java 17: a simulated task's stack is
 * frozen at a scheduling point and thawed when the seeded pick chooses it again, on the
 * simulation's own carrier thread, in about a tenth of the time a hand-off between two parked Java
 * threads takes.
 *
 * <p>Chosen over virtual threads with a custom scheduler, which also work: a virtual thread's
 * hand-off goes through {@code LockSupport.park}, the scheduler's executor and a queue, and
 * measured four times slower than a plain {@code yield}/{@code run} here. What virtual threads give
 * for free, their own thread-locals, is done here by swapping {@code Thread.threadLocals} at each
 * switch, so {@code ThreadLocal}s stay per simulated task as with parked threads.
 *
 * <p>Needs {@code --add-exports java.base/jdk.internal.vm=dev.refkern.mm} and {@code --add-opens
 * java.base/java.lang=dev.refkern.mm} (in the project's JVM flags); without them, or before JDK 21,
 * {@link #AVAILABLE} is false and {@link #WHY_NOT} says why.
 */
final class SimContinuations {
  /** The system property that forces an implementation: {@code parked} or {@code continuation}. */
  static final String PROPERTY = "refkern.sim.threads";

  static final boolean AVAILABLE;
  static final String WHY_NOT;
  private static final Object SCOPE;
  private static final MethodHandle NEW;
  private static final MethodHandle RUN;
  private static final MethodHandle YIELD;
  private static final MethodHandle IS_DONE;
  private static final VarHandle THREAD_LOCALS;

  static {
    Object scope = null;
    MethodHandle newCont = null;
    MethodHandle run = null;
    MethodHandle yield = null;
    MethodHandle isDone = null;
    VarHandle locals = null;
    String why = null;
    Module me = SimContinuations.class.getModule();
    Module base = Object.class.getModule();
    if (Runtime.version().feature() < 21) {
      why = "JDK " + Runtime.version().feature() + " has no continuations (JDK 21+ has)";
    } else if (!base.isExported("jdk.internal.vm", me)) {
      why = "java.base does not export jdk.internal.vm to " + name(me) + " (add the JVM flag";
      why += " --add-exports=java.base/jdk.internal.vm=" + name(me) + ")";
    } else if (!base.isOpen("java.lang", me)) {
      why = "java.base does not open java.lang to " + name(me) + " (add the JVM flag";
      why += " --add-opens=java.base/java.lang=" + name(me) + ")";
    } else {
      try {
        MethodHandles.Lookup lookup = MethodHandles.lookup();
        Class<?> scopeClass = Class.forName("jdk.internal.vm.ContinuationScope");
        Class<?> contClass = Class.forName("jdk.internal.vm.Continuation");
        scope =
            lookup
                .findConstructor(scopeClass, MethodType.methodType(void.class, String.class))
                .invoke("refkern-sim");
        newCont =
            lookup
                .findConstructor(
                    contClass, MethodType.methodType(void.class, scopeClass, Runnable.class))
                .asType(MethodType.methodType(Object.class, Object.class, Runnable.class));
        run =
            lookup
                .findVirtual(contClass, "run", MethodType.methodType(void.class))
                .asType(MethodType.methodType(void.class, Object.class));
        isDone =
            lookup
                .findVirtual(contClass, "isDone", MethodType.methodType(boolean.class))
                .asType(MethodType.methodType(boolean.class, Object.class));
        yield =
            lookup
                .findStatic(contClass, "yield", MethodType.methodType(boolean.class, scopeClass))
                .asType(MethodType.methodType(boolean.class, Object.class));
        Class<?> mapClass = Class.forName("java.lang.ThreadLocal$ThreadLocalMap");
        locals =
            MethodHandles.privateLookupIn(Thread.class, lookup)
                .findVarHandle(Thread.class, "threadLocals", mapClass);
      } catch (Throwable e) {
        why = "jdk.internal.vm.Continuation is not usable: " + e;
      }
    }
    AVAILABLE = why == null;
    WHY_NOT = why;
    SCOPE = scope;
    NEW = newCont;
    RUN = run;
    YIELD = yield;
    IS_DONE = isDone;
    THREAD_LOCALS = locals;
  }

  private SimContinuations() {}

  private static String name(Module m) {
    return m.isNamed() ? m.getName() : "ALL-UNNAMED";
  }

  /**
   * Whether a new simulation runs its tasks as continuations: {@code -Drefkern.sim.threads} forces
   * one, otherwise continuations when {@link #AVAILABLE}.
   *
   * @throws IllegalStateException if continuations are forced but not available
   */
  static boolean chooseContinuations() {
    String forced = System.getProperty(PROPERTY, "").trim().toLowerCase(Locale.ROOT);
    switch (forced) {
      case "":
      case "auto":
        if (!AVAILABLE) {
          FallbackNotice.once();
        }
        return AVAILABLE;
      case "parked":
        return false;
      case "continuation":
        if (!AVAILABLE) {
          throw new IllegalStateException(
              "-D" + PROPERTY + "=continuation, but continuations are not available: " + WHY_NOT);
        }
        return true;
      default:
        throw new IllegalArgumentException(
            "-D" + PROPERTY + "=" + forced + ": expected parked, continuation or auto");
    }
  }

  static Object create(Runnable body) {
    try {
      return NEW.invokeExact(SCOPE, body);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }

  /** Runs {@code cont} until it yields or ends, with {@code locals} as its thread-locals. */
  static Object run(Object cont, Object locals) {
    Thread carrier = Thread.currentThread();
    Object own = THREAD_LOCALS.get(carrier);
    THREAD_LOCALS.set(carrier, locals);
    try {
      RUN.invokeExact(cont);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    } finally {
      locals = THREAD_LOCALS.get(carrier);
      THREAD_LOCALS.set(carrier, own);
    }
    return locals;
  }

  static boolean isDone(Object cont) {
    try {
      return (boolean) IS_DONE.invokeExact(cont);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Freezes the running task and returns to its carrier's loop.
   *
   * @throws IllegalStateException if the continuation is pinned (JDK 21-23: a Java monitor held)
   */
  static void yieldNow() {
    boolean yielded;
    try {
      yielded = (boolean) YIELD.invokeExact(SCOPE);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
    if (!yielded) {
      throw new IllegalStateException("continuation pinned at a scheduling point");
    }
  }

  // Logged once per JVM: which implementation runs when the flags for continuations are missing.
  private static final class FallbackNotice {
    static {
      if (Runtime.version().feature() >= 21) {
        System.getLogger("dev.refkern.mm.sched")
            .log(
                System.Logger.Level.INFO,
                "simulated CPU: parked Java threads (continuations unavailable: " + WHY_NOT + ")");
      }
    }

    static void once() {
      // class initialization logs once
    }
  }
}
