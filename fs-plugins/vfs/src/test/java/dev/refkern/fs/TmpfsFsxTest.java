package dev.refkern.fs;

import java.util.List;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;

/** {@link FsxHarness} on tmpfs: 200 random sequences of up to 60 steps. */
class TmpfsFsxTest extends FsxHarness {
  @Override
  protected String fsType() {
    return "tmpfs";
  }

  @Provide
  Arbitrary<List<Op>> sequences() {
    return sequences(60);
  }

  @Property(tries = 200, shrinking = ShrinkingMode.BOUNDED)
  void tmpfsMatchesTheModel(@ForAll("sequences") List<Op> ops) {
    run(ops);
  }
}
