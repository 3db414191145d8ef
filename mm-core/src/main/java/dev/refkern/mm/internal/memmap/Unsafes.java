package dev.refkern.mm.internal.memmap;

import java.lang.reflect.Field;
import sun.misc.Unsafe;

/** Access to {@code sun.misc.Unsafe}: atomic operations on the off-heap memmap. */
final class Unsafes {
  static final Unsafe UNSAFE = load();

  private Unsafes() {}

  private static Unsafe load() {
    try {
      Field f = Unsafe.class.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      return (Unsafe) f.get(null);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
