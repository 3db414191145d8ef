package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.RamBackedAops;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What every {@code dio.stable_bounce=} policy must do, run over every registered one: boot by
 * name, cite its proposal, never bounce for a mapping without stable writes, and count each answer.
 * {@code on} (7.0) bounces for a stable-writes mapping, {@code off} never does.
 */
class DioStableBouncePolicyTest extends VmTestBase {
  static List<String> policies() {
    return PolicyRegistry.global().names(DioStableBouncePolicy.PARAM);
  }

  @ParameterizedTest
  @MethodSource("policies")
  void answersPerMappingAndCountsIt(String policy) {
    assertEquals("on", PolicyRegistry.global().mainline(DioStableBouncePolicy.PARAM));
    boot("mem=64M " + DioStableBouncePolicy.PARAM + "=" + policy);
    DioStableBouncePolicy p = vm.dioStableBounce();
    assertEquals(policy, p.name());
    PolicySpec s = p.spec();
    assertEquals(DioStableBouncePolicy.PARAM, s.param());
    assertFalse(s.proposal().isBlank());
    assertEquals(DioStableBouncePolicy.PARAM, p.stats().param());

    AddressSpace plain = AddressSpace.create(mem, new RamBackedAops());
    AddressSpace stable = AddressSpace.create(mem, new RamBackedAops());
    stable.setStableWrites(true);
    assertFalse(p.bounce(plain), policy + ": no stable writes, zero-copy");
    assertEquals(policy.equals("on"), p.bounce(stable), policy + " on a stable-writes mapping");
    assertEquals(policy.equals("on") ? 1 : 0, p.stats().get("bounced"));
    assertEquals(policy.equals("on") ? 1 : 2, p.stats().get("direct"));
  }
}
