package dev.refkern.mm.internal.memmap;

import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import sun.misc.Unsafe;

/**
 * Raw-address atomics for the memmap on JDKs where {@code sun.misc.Unsafe} memory access is still
 * silent (17 to 23). Byte-buffer {@code VarHandle}s check bounds, alignment and read-only on every
 * access, which cost gup-test about 40% per page on JDK 17; from JDK 24 on Unsafe memory access
 * warns (JEP 498) and will be removed, so there {@link #UNSAFE} is null and the memmap uses the
 * {@code VarHandle}s.
 */
final class RawMemory {
  /** Null where the memmap must use {@code VarHandle}s (JDK 24 and later). */
  static final Unsafe UNSAFE = load();

  private static final long ADDRESS = addressOffset();

  private RawMemory() {}

  /** The address of a direct buffer's first byte. */
  static long address(ByteBuffer direct) {
    if (!direct.isDirect()) {
      throw new IllegalArgumentException("not a direct buffer");
    }
    return UNSAFE.getLong(direct, ADDRESS);
  }

  private static Unsafe load() {
    if (Runtime.version().feature() >= 24 || Boolean.getBoolean("refkern.memmap.varhandles")) {
      return null;
    }
    try {
      Field f = Unsafe.class.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      return (Unsafe) f.get(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null; // a JDK without it: the VarHandles work everywhere
    }
  }

  private static long addressOffset() {
    if (UNSAFE == null) {
      return -1;
    }
    try {
      return UNSAFE.objectFieldOffset(Buffer.class.getDeclaredField("address"));
    } catch (NoSuchFieldException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
